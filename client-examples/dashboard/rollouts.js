// Rollouts in the dashboard: a rolling restart (start, stop, or a reconcile of drifted
// processes) of the rows the filters show, planned first (a dry run, shown step by step),
// then started, followed live over graphql-ws (rolloutChanged) and cancellable. Also the
// desired state and drift of each row. Kept apart from app.js, which hands it what it needs.
import { addMessages, t } from "./i18n.js";

addMessages({
  ko: {
    colDesired: "원하는 상태",
    driftNone: "일치",
    rolloutOpen: "롤아웃…",
    rolloutTitle: "롤아웃",
    rolloutHint: "지금 필터에 보이는 프로세스 {n}개에 대해 계획을 먼저 보여 준 뒤 시작합니다.",
    rolloutAction: "작업",
    rolloutMaxUnavailable: "동시에",
    rolloutWaitForHealthy: "하트비트까지 기다림",
    rolloutHealthTimeout: "헬스 대기 (초)",
    rolloutPause: "배치 간 대기 (초)",
    rolloutPlan: "계획 보기",
    rolloutStart: "롤아웃 시작",
    rolloutCancel: "롤아웃 취소",
    rolloutClose: "닫기",
    rolloutPlanned: "계획: {n}단계, {batches}개 배치. 아직 아무것도 하지 않았습니다.",
    rolloutHeader: "롤아웃 {id} · {action}",
    rolloutPlanHeader: "계획 · {action}",
    rolloutCancelling: "취소 요청됨 ({by}): 진행 중인 단계가 끝나면 멈춥니다.",
    rolloutFinished: "롤아웃 {id}: {state}",
    rolloutFailed: "롤아웃을 진행할 수 없습니다: {error}",
    rolloutNoRows: "필터에 보이는 프로세스가 없습니다.",
    colStep: "#",
    colRolloutSupervisor: "supervisord",
    colBatch: "배치",
    colOutcome: "결과",
    colError: "오류",
  },
  en: {
    colDesired: "Desired",
    driftNone: "as desired",
    rolloutOpen: "Rollout…",
    rolloutTitle: "Rollout",
    rolloutHint: "The {n} processes the filters show now: the plan first, then the rollout.",
    rolloutAction: "Action",
    rolloutMaxUnavailable: "At once",
    rolloutWaitForHealthy: "Wait for heartbeats",
    rolloutHealthTimeout: "Health timeout (s)",
    rolloutPause: "Pause between batches (s)",
    rolloutPlan: "Show the plan",
    rolloutStart: "Start the rollout",
    rolloutCancel: "Cancel the rollout",
    rolloutClose: "Close",
    rolloutPlanned: "Plan: {n} steps in {batches} batches. Nothing has been done yet.",
    rolloutHeader: "Rollout {id} · {action}",
    rolloutPlanHeader: "Plan · {action}",
    rolloutCancelling: "Cancel asked for ({by}): it stops once the steps under way finish.",
    rolloutFinished: "Rollout {id}: {state}",
    rolloutFailed: "Cannot go on with the rollout: {error}",
    rolloutNoRows: "The filters show no process.",
    colStep: "#",
    colRolloutSupervisor: "supervisord",
    colBatch: "Batch",
    colOutcome: "Outcome",
    colError: "Error",
  },
});

const ROLLOUT_FIELDS = `id action state maxUnavailable cancelRequestedAt cancelledBy
  steps { position batch processName supervisorHost supervisorPort action outcome error { code message } }`;
const START_ROLLOUT = `mutation($input: RolloutInput!) { startRollout(input: $input) { ${ROLLOUT_FIELDS} } }`;
const RECONCILE = `mutation($names: [String!], $max: Int!, $wait: Boolean!, $timeout: Int!, $dry: Boolean!) {
  reconcile(filter: { names: $names }, maxUnavailable: $max, waitForHealthy: $wait, healthTimeoutSeconds: $timeout,
    dryRun: $dry) { ${ROLLOUT_FIELDS} } }`;
const CANCEL_ROLLOUT = `mutation($id: ID!) { cancelRollout(id: $id) { ${ROLLOUT_FIELDS} } }`;
const LATEST_ROLLOUT = `query { rollouts(first: 1) { nodes { ${ROLLOUT_FIELDS} } } }`;
const ROLLOUT_CHANGED = `subscription($id: ID!) { rolloutChanged(id: $id) { ${ROLLOUT_FIELDS} } }`;
const ACTIONS = ["RESTART", "START", "STOP", "RECONCILE"];
const NONE = "—";

/** Creates an element; children are appended as text nodes, so data is never parsed as HTML. */
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/** The desired-state cell of a process row: what it is meant to do, and how supervisord differs. */
export function renderDesired(cell, process) {
  const drift = process.drift ?? "NONE";
  cell.replaceChildren(
    el("span", { class: `badge desired-${process.desiredState ?? "NONE"}` }, process.desiredState ?? NONE),
  );
  if (process.desiredState) {
    cell.append(
      " ",
      el(
        "span",
        { class: `badge drift-${drift}`, "data-testid": "cell-drift" },
        drift === "NONE" ? t("driftNone") : drift,
      ),
    );
  }
}

/**
 * The rollout panel. `host` gives what app.js owns: `request(query, variables)` (HTTP),
 * `subscribe(query, variables, { next, error })` (graphql-ws; returns a dispose),
 * `filteredNames()` (the rows shown, in order), `canControl()`, `describeError(error)`
 * and `report(kind, text)` (the message bar).
 */
export function setupRollouts(host) {
  const panel = document.getElementById("rollout-panel");
  const state = { rollout: null, planNames: null, dispose: null, open: false, generation: 0 };
  const inputs = {
    action: el("select", { id: "rollout-action", "data-testid": "rollout-action" }),
    max: el("input", { id: "rollout-max", "data-testid": "rollout-max", type: "number", min: "1", max: "100" }),
    wait: el("input", { id: "rollout-wait", "data-testid": "rollout-wait", type: "checkbox" }),
    timeout: el("input", { id: "rollout-timeout", "data-testid": "rollout-timeout", type: "number", min: "1" }),
    pause: el("input", { id: "rollout-pause", "data-testid": "rollout-pause", type: "number", min: "0" }),
  };
  inputs.action.append(...ACTIONS.map((action) => el("option", { value: action }, action)));
  Object.assign(inputs.max, { value: "1" });
  Object.assign(inputs.wait, { checked: true });
  Object.assign(inputs.timeout, { value: "60" });
  Object.assign(inputs.pause, { value: "0" });
  const buttons = {
    open: el("button", { type: "button", class: "btn", "data-testid": "rollout-open" }),
    plan: el("button", { type: "button", class: "btn", "data-testid": "rollout-plan" }),
    start: el("button", { type: "button", class: "btn btn-primary", "data-testid": "rollout-start" }),
    cancel: el("button", { type: "button", class: "btn btn-stop", "data-testid": "rollout-cancel" }),
    close: el("button", { type: "button", class: "btn btn-quiet", "data-testid": "rollout-close" }),
  };
  const hint = el("p", { class: "hint" });
  const header = el("h2", { "data-testid": "rollout-header" });
  const summary = el("p", { class: "rollout-summary", "data-testid": "rollout-summary" });
  const steps = el("tbody", {});
  const labels = {};
  const field = (key, input) => {
    labels[key] = el("label", { for: input.id });
    return el("div", { class: key === "rolloutWaitForHealthy" ? "field field-check" : "field" }, labels[key], input);
  };
  const form = el(
    "div",
    { class: "filters rollout-form" },
    field("rolloutAction", inputs.action),
    field("rolloutMaxUnavailable", inputs.max),
    field("rolloutWaitForHealthy", inputs.wait),
    field("rolloutHealthTimeout", inputs.timeout),
    field("rolloutPause", inputs.pause),
    buttons.plan,
  );
  const heads = ["colStep", "colBatch", "colName", "colRolloutSupervisor", "rolloutAction", "colOutcome", "colError"];
  const headRow = el("tr", {}, ...heads.map((key) => el("th", { scope: "col", "data-key": key })));
  const table = el("table", { class: "processes rollout-steps" }, el("thead", {}, headRow), steps);
  const view = el(
    "div",
    { class: "rollout-view", "data-testid": "rollout-view" },
    el("div", { class: "rollout-view-header" }, header, buttons.start, buttons.cancel, buttons.close),
    summary,
    el("div", { class: "table-wrap" }, table),
  );
  const body = el("div", { class: "rollout-body" }, hint, form, view);
  // The form and the steps' table join the page once opened: until then it holds one button.
  panel.replaceChildren(el("div", { class: "rollout-bar" }, buttons.open));

  buttons.open.addEventListener("click", () => {
    state.open = !state.open;
    render();
  });
  buttons.plan.addEventListener("click", () => plan());
  buttons.start.addEventListener("click", () => start());
  buttons.cancel.addEventListener("click", () => cancel());
  buttons.close.addEventListener("click", () => {
    forget();
    render();
  });

  function options() {
    return {
      maxUnavailable: Number(inputs.max.value),
      waitForHealthy: inputs.wait.checked,
      healthTimeoutSeconds: Number(inputs.timeout.value),
      pauseSeconds: Number(inputs.pause.value),
    };
  }

  /** startRollout or reconcile for `names`, as a dry run or for real. */
  async function ask(names, dryRun) {
    const action = inputs.action.value;
    const { maxUnavailable, waitForHealthy, healthTimeoutSeconds, pauseSeconds } = options();
    const { data, errors } =
      action === "RECONCILE"
        ? await host.request(RECONCILE, {
            names,
            max: maxUnavailable,
            wait: waitForHealthy,
            timeout: healthTimeoutSeconds,
            dry: dryRun,
          })
        : await host.request(START_ROLLOUT, {
            input: { action, names, maxUnavailable, waitForHealthy, healthTimeoutSeconds, pauseSeconds, dryRun },
          });
    const rollout = data?.reconcile ?? data?.startRollout;
    if (!rollout) throw errors?.[0] ?? new Error(t("noData"));
    return rollout;
  }

  async function plan() {
    const names = host.filteredNames();
    if (names.length === 0) return host.report("error", t("rolloutNoRows"));
    forget();
    const generation = state.generation;
    try {
      const planned = await ask(names, true);
      if (generation !== state.generation) return;
      state.rollout = planned;
      state.planNames = names;
    } catch (error) {
      host.report("error", t("rolloutFailed", { error: host.describeError(error) }));
    }
    render();
  }

  async function start() {
    if (!state.planNames) return;
    buttons.start.disabled = true;
    try {
      watch(await ask(state.planNames, false));
    } catch (error) {
      host.report("error", t("rolloutFailed", { error: host.describeError(error) }));
      render();
    }
  }

  async function cancel() {
    const id = state.rollout?.id;
    if (!id) return;
    buttons.cancel.disabled = true;
    try {
      const { data, errors } = await host.request(CANCEL_ROLLOUT, { id });
      if (!data?.cancelRollout) throw errors?.[0] ?? new Error(t("noData"));
      if (state.rollout?.id === id) state.rollout = data.cancelRollout;
    } catch (error) {
      host.report("error", t("rolloutFailed", { error: host.describeError(error) }));
    }
    render();
  }

  /** Shows `rollout` and follows it live until it has finished (from whichever replica runs it). */
  function watch(rollout) {
    forget();
    state.rollout = rollout;
    state.open = true;
    const generation = state.generation;
    state.dispose = host.subscribe(
      ROLLOUT_CHANGED,
      { id: rollout.id },
      {
        next: (changed) => {
          if (generation !== state.generation) return;
          state.rollout = changed;
          if (changed.state !== "RUNNING") {
            host.report(changed.state === "SUCCEEDED" ? "info" : "error", finishedText(changed));
          }
          render();
        },
        error: (error) => host.report("error", t("rolloutFailed", { error: host.describeError(error) })),
      },
    );
    render();
  }

  function forget() {
    state.generation += 1;
    state.dispose?.();
    Object.assign(state, { rollout: null, planNames: null, dispose: null });
  }

  function finishedText(rollout) {
    return t("rolloutFinished", { id: rollout.id, state: rollout.state });
  }

  function render() {
    const allowed = host.canControl();
    panel.hidden = !allowed;
    if (state.open && allowed && !body.isConnected) panel.append(body);
    if (!state.open) body.remove();
    buttons.open.setAttribute("aria-expanded", String(state.open));
    const { rollout } = state;
    view.hidden = !rollout;
    renderHint();
    if (!rollout) return;
    const planned = rollout.state === "PLANNED";
    const running = rollout.state === "RUNNING";
    view.dataset.state = rollout.state;
    header.replaceChildren(
      planned
        ? t("rolloutPlanHeader", { action: rollout.action })
        : t("rolloutHeader", { id: rollout.id, action: rollout.action }),
    );
    if (!planned) {
      header.append(
        " ",
        el("span", { class: `badge rollout-${rollout.state}`, "data-testid": "rollout-state" }, rollout.state),
      );
    }
    buttons.start.hidden = !planned;
    buttons.start.disabled = false;
    buttons.cancel.hidden = !running;
    buttons.cancel.disabled = Boolean(rollout.cancelRequestedAt);
    const batches = new Set(rollout.steps.map((step) => step.batch)).size;
    summary.textContent = planned
      ? t("rolloutPlanned", { n: rollout.steps.length, batches })
      : rollout.cancelRequestedAt && running
        ? t("rolloutCancelling", { by: rollout.cancelledBy ?? "" })
        : "";
    steps.replaceChildren(...rollout.steps.map(stepRow));
  }

  function renderHint() {
    if (state.open) hint.textContent = t("rolloutHint", { n: host.filteredNames().length });
  }

  function stepRow(step) {
    return el(
      "tr",
      { "data-testid": "rollout-step", "data-name": step.processName, "data-outcome": step.outcome },
      el("td", { class: "num" }, String(step.position + 1)),
      el("td", { class: "num" }, String(step.batch + 1)),
      el("td", { class: "name" }, step.processName),
      el("td", {}, step.supervisorHost ? `${step.supervisorHost}:${step.supervisorPort}` : NONE),
      el("td", {}, step.action),
      el(
        "td",
        { class: "badge-cell" },
        el("span", { class: `badge outcome-${step.outcome}`, "data-testid": "rollout-step-outcome" }, step.outcome),
      ),
      el("td", { class: "reasons" }, step.error ? `${step.error.code}: ${step.error.message}` : ""),
    );
  }

  function localize() {
    buttons.open.textContent = t("rolloutOpen");
    buttons.plan.textContent = t("rolloutPlan");
    buttons.start.textContent = t("rolloutStart");
    buttons.cancel.textContent = t("rolloutCancel");
    buttons.close.textContent = t("rolloutClose");
    for (const [key, label] of Object.entries(labels)) label.textContent = t(key);
    for (const th of headRow.children) th.textContent = t(th.dataset.key);
    render();
  }

  return {
    /** After sign-in: the panel for those who may control; a rollout still running is shown. */
    async show() {
      localize();
      if (!host.canControl()) return;
      try {
        const { data } = await host.request(LATEST_ROLLOUT);
        const latest = data?.rollouts?.nodes?.[0];
        if (latest?.state === "RUNNING" && !state.rollout) watch(latest);
      } catch {
        // The panel works without it.
      }
    },
    /** Signed out: nothing shown, nothing followed. */
    reset() {
      forget();
      state.open = false;
      panel.hidden = true;
    },
    localize,
    /** The rows shown changed: the hint counts them. */
    refresh: renderHint,
  };
}
