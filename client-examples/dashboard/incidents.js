// Incidents in the dashboard: the open ones, kept live over graphql-ws (incidentChanged),
// with acknowledge and silence for operators and admins; the active silences, which they
// may expire. Kept apart from app.js, which hands it what it needs.
import { addMessages, t } from "./i18n.js";

addMessages({
  ko: {
    incidentsTitle: "열린 인시던트",
    incidentsNone: "열린 인시던트가 없습니다.",
    incidentsCount: "{n}개",
    colIncidentKind: "종류",
    colIncidentSubject: "대상",
    colIncidentOccurrences: "횟수",
    colIncidentOpened: "시작",
    colIncidentLastSeen: "최근",
    colIncidentAck: "확인",
    colIncidentActions: "작업",
    incidentSilenced: "무음",
    incidentNote: "메모",
    incidentNotePlaceholder: "메모 (선택)",
    incidentAcknowledge: "확인",
    incidentSilence: "1시간 무음",
    incidentAckBy: "{by} · {at}",
    incidentSilenceComment: "대시보드에서 {by}가 무음 처리",
    incidentAcknowledged: "인시던트 {id}를 확인했습니다.",
    incidentSilencedDone: "{pattern}의 {kind}를 {until}까지 무음 처리했습니다.",
    incidentFailed: "인시던트 작업 실패: {error}",
    silencesTitle: "무음 설정",
    silenceExpire: "해제",
    silenceLine: "{pattern} · {kinds} · {until}까지 · {by}: {comment}",
    silenceAllKinds: "모든 종류",
    silenceExpired: "무음 {id}를 해제했습니다.",
  },
  en: {
    incidentsTitle: "Open incidents",
    incidentsNone: "No open incident.",
    incidentsCount: "{n}",
    colIncidentKind: "Kind",
    colIncidentSubject: "Subject",
    colIncidentOccurrences: "Times",
    colIncidentOpened: "Opened",
    colIncidentLastSeen: "Last seen",
    colIncidentAck: "Acknowledged",
    colIncidentActions: "Actions",
    incidentSilenced: "silenced",
    incidentNote: "Note",
    incidentNotePlaceholder: "Note (optional)",
    incidentAcknowledge: "Acknowledge",
    incidentSilence: "Silence 1 h",
    incidentAckBy: "{by} · {at}",
    incidentSilenceComment: "silenced from the dashboard by {by}",
    incidentAcknowledged: "Incident {id} acknowledged.",
    incidentSilencedDone: "{kind} on {pattern} silenced until {until}.",
    incidentFailed: "The incident action failed: {error}",
    silencesTitle: "Silences",
    silenceExpire: "Expire",
    silenceLine: "{pattern} · {kinds} · until {until} · {by}: {comment}",
    silenceAllKinds: "every kind",
    silenceExpired: "Silence {id} expired.",
  },
});

const INCIDENT_FIELDS = `id kind processName supervisorHost supervisorPort state occurrences openedAt lastSeenAt
  acknowledgedBy acknowledgedAt note silenced reason`;
const SILENCE_FIELDS = "id namePattern kinds until comment createdBy active";
const OPEN_INCIDENTS = `query { incidents(state: OPEN) { ${INCIDENT_FIELDS} } silences { ${SILENCE_FIELDS} } }`;
const SILENCES = `query { silences { ${SILENCE_FIELDS} } }`;
const INCIDENT_CHANGED = `subscription { incidentChanged { ${INCIDENT_FIELDS} } }`;
const ACKNOWLEDGE = `mutation($id: ID!, $note: String) { acknowledgeIncident(id: $id, note: $note) { ${INCIDENT_FIELDS} } }`;
const CREATE_SILENCE = `mutation($input: SilenceInput!) { createSilence(input: $input) { ${SILENCE_FIELDS} } }`;
const EXPIRE_SILENCE = `mutation($id: ID!) { expireSilence(id: $id) { ${SILENCE_FIELDS} } }`;
const SILENCE_MS = 3_600_000;
const COLUMNS = [
  "colIncidentKind",
  "colIncidentSubject",
  "colIncidentOccurrences",
  "colIncidentOpened",
  "colIncidentLastSeen",
  "colIncidentAck",
  "colIncidentActions",
];

/** Creates an element; children are appended as text nodes, so data is never parsed as HTML. */
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

const time = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
const subjectOf = (incident) => incident.processName ?? `${incident.supervisorHost}:${incident.supervisorPort}`;
/** The silence pattern for an incident's subject: the process, or the supervisord's `host:port`. */
const patternOf = (incident) => incident.processName ?? `${incident.supervisorHost}:${incident.supervisorPort}`;
/** The first and the longest pause before subscribing again after the subscription failed. */
const RETRY_MS = 1_000;
const MAX_RETRY_MS = 30_000;

/** Whether `a` is a later state of an incident than `b` (ids alike): counted, seen or acknowledged since. */
function laterThan(a, b) {
  if (a.occurrences !== b.occurrences) return a.occurrences > b.occurrences;
  if (a.lastSeenAt !== b.lastSeenAt) return Date.parse(a.lastSeenAt) > Date.parse(b.lastSeenAt);
  return Date.parse(a.acknowledgedAt ?? 0) >= Date.parse(b.acknowledgedAt ?? 0);
}

/**
 * The incident panel. `host` is what app.js gives the rollout panel too: `request`,
 * `subscribe`, `canControl`, `describeError` and `report`; `me()` names who is signed in.
 */
export function setupIncidents(host, me) {
  const panel = document.getElementById("incident-panel");
  // `arriving`: for each read of the list under way, the live changes that came meanwhile.
  const state = { incidents: new Map(), silences: [], dispose: null, retry: null, generation: 0, arriving: new Set() };
  const title = el("h2", { class: "incident-title" });
  const count = el("span", { class: "count", "data-testid": "incident-count" });
  // Its header row is in a tbody of its own: the page's one <thead> is the process table's.
  const headRow = el("tr", {}, ...COLUMNS.map((key) => el("th", { scope: "col", "data-key": key })));
  const rows = el("tbody", { "data-testid": "incident-rows" });
  const empty = el("p", { class: "hint", "data-testid": "incident-empty" });
  const silencesTitle = el("h3", { class: "incident-title" });
  const silenceList = el("ul", { class: "silence-list", "data-testid": "silence-list" });
  panel.replaceChildren(
    el("div", { class: "incident-bar" }, title, count),
    empty,
    el(
      "div",
      { class: "table-wrap" },
      el("table", { class: "processes incidents" }, el("tbody", { class: "incident-head" }, headRow), rows),
    ),
    silencesTitle,
    silenceList,
  );

  function forget() {
    state.generation += 1;
    state.dispose?.();
    state.dispose = null;
    clearTimeout(state.retry);
    state.retry = null;
    state.arriving.clear();
    state.incidents.clear();
    state.silences = [];
  }

  /**
   * Reads the open incidents. A change that arrived live while the read was under way may be
   * newer than what it read: the list is the read, with those changes applied on top.
   */
  async function load() {
    const generation = state.generation;
    const arrived = new Map();
    state.arriving.add(arrived);
    try {
      const { data } = await host.request(OPEN_INCIDENTS);
      if (generation !== state.generation || !data) return;
      const incidents = new Map(data.incidents.map((incident) => [incident.id, incident]));
      for (const incident of arrived.values()) {
        const read = incidents.get(incident.id);
        if (incident.state !== "OPEN") incidents.delete(incident.id);
        else if (!read || laterThan(incident, read)) incidents.set(incident.id, incident);
      }
      state.incidents = incidents;
      state.silences = data.silences;
      render();
    } catch {
      // The process table works without it; the next change reads again.
    } finally {
      state.arriving.delete(arrived);
    }
  }

  async function loadSilences() {
    const generation = state.generation;
    try {
      const { data } = await host.request(SILENCES);
      if (generation === state.generation && data) state.silences = data.silences;
      render();
    } catch {
      // Shown as last read.
    }
  }

  function changed(incident) {
    for (const arrived of state.arriving) arrived.set(incident.id, incident);
    if (incident.state === "OPEN") state.incidents.set(incident.id, incident);
    else state.incidents.delete(incident.id);
    render();
  }

  async function act(query, variables, done) {
    try {
      const { data, errors } = await host.request(query, variables);
      if (errors?.length) throw errors;
      done(Object.values(data)[0]);
    } catch (error) {
      host.report("error", t("incidentFailed", { error: host.describeError(error) }));
    }
  }

  function acknowledge(incident, note) {
    act(ACKNOWLEDGE, { id: incident.id, note: note || null }, (updated) => {
      changed(updated);
      host.report("info", t("incidentAcknowledged", { id: updated.id }));
    });
  }

  function silence(incident, note) {
    const until = new Date(Date.now() + SILENCE_MS).toISOString();
    const input = {
      namePattern: patternOf(incident),
      kinds: [incident.kind],
      until,
      comment: note || t("incidentSilenceComment", { by: me()?.name ?? "?" }),
    };
    act(CREATE_SILENCE, { input }, (created) => {
      host.report(
        "info",
        t("incidentSilencedDone", { kind: incident.kind, pattern: created.namePattern, until: time(created.until) }),
      );
      loadSilences();
    });
  }

  function expire(silenceId) {
    act(EXPIRE_SILENCE, { id: silenceId }, (expired) => {
      host.report("info", t("silenceExpired", { id: expired.id }));
      loadSilences();
    });
  }

  function renderRow(incident) {
    const kind = el("td", {}, el("span", { class: `badge incident-${incident.kind}` }, incident.kind));
    if (incident.silenced) {
      kind.append(
        " ",
        el("span", { class: "badge incident-silenced", "data-testid": "incident-silenced" }, t("incidentSilenced")),
      );
    }
    const ack = el("td", { "data-testid": "incident-ack" });
    if (incident.acknowledgedBy) {
      ack.append(t("incidentAckBy", { by: incident.acknowledgedBy, at: time(incident.acknowledgedAt) }));
      if (incident.note) ack.append(el("div", { class: "reasons" }, incident.note));
    }
    const actions = el("td", { class: "incident-actions" });
    if (host.canControl()) {
      const note = el("input", {
        type: "text",
        maxlength: "1000",
        "aria-label": t("incidentNote"),
        placeholder: t("incidentNotePlaceholder"),
        "data-testid": "incident-note",
      });
      const ackButton = el("button", { type: "button", class: "btn", "data-testid": "incident-acknowledge" });
      ackButton.textContent = t("incidentAcknowledge");
      ackButton.addEventListener("click", () => acknowledge(incident, note.value.trim()));
      const silenceButton = el("button", { type: "button", class: "btn", "data-testid": "incident-silence" });
      silenceButton.textContent = t("incidentSilence");
      silenceButton.disabled = incident.silenced;
      silenceButton.addEventListener("click", () => silence(incident, note.value.trim()));
      actions.append(note, ackButton, silenceButton);
    }
    return el(
      "tr",
      {
        "data-testid": "incident-row",
        "data-id": incident.id,
        "data-kind": incident.kind,
        "data-subject": subjectOf(incident),
      },
      kind,
      el("td", { class: "name", title: incident.reason ?? "" }, subjectOf(incident)),
      el("td", { "data-testid": "incident-occurrences" }, String(incident.occurrences)),
      el("td", {}, time(incident.openedAt)),
      el("td", {}, time(incident.lastSeenAt)),
      ack,
      actions,
    );
  }

  function renderSilence(silence) {
    const kinds = silence.kinds.length > 0 ? silence.kinds.join(", ") : t("silenceAllKinds");
    const item = el(
      "li",
      { "data-testid": "silence-item", "data-id": silence.id },
      t("silenceLine", {
        pattern: silence.namePattern,
        kinds,
        until: time(silence.until),
        by: silence.createdBy,
        comment: silence.comment,
      }),
    );
    if (host.canControl()) {
      const button = el("button", { type: "button", class: "btn", "data-testid": "silence-expire" });
      button.textContent = t("silenceExpire");
      button.addEventListener("click", () => expire(silence.id));
      item.append(" ", button);
    }
    return item;
  }

  function render() {
    const open = [...state.incidents.values()].sort((a, b) => Number(b.id) - Number(a.id));
    count.textContent = t("incidentsCount", { n: open.length });
    empty.textContent = t("incidentsNone");
    empty.hidden = open.length > 0;
    rows.replaceChildren(...open.map(renderRow));
    rows.closest(".table-wrap").hidden = open.length === 0;
    const active = state.silences.filter((s) => s.active);
    silencesTitle.hidden = active.length === 0;
    silenceList.replaceChildren(...active.map(renderSilence));
  }

  function localize() {
    title.textContent = t("incidentsTitle");
    silencesTitle.textContent = t("silencesTitle");
    for (const th of headRow.children) th.textContent = t(th.dataset.key);
    render();
  }

  /**
   * Subscribes to every change; when the subscription fails, subscribes again after a pause
   * (doubling, up to MAX_RETRY_MS) and reads the list again for what it missed meanwhile.
   */
  function follow(generation, retryMs) {
    state.dispose = host.subscribe(
      INCIDENT_CHANGED,
      {},
      {
        next: (incident) => {
          if (generation === state.generation) changed(incident);
        },
        error: () => {
          if (generation !== state.generation) return;
          // An error in a result leaves the subscription open: end it before the next one.
          state.dispose?.();
          state.dispose = null;
          state.retry = setTimeout(() => {
            if (generation !== state.generation) return;
            follow(generation, Math.min(retryMs * 2, MAX_RETRY_MS));
            load();
          }, retryMs);
        },
      },
    );
  }

  return {
    /** Once the live connection exists: the open incidents, then every change to them. */
    show() {
      forget();
      localize();
      panel.hidden = false;
      follow(state.generation, RETRY_MS);
      load();
    },
    /** Signed out: nothing shown, nothing followed. */
    reset() {
      forget();
      panel.hidden = true;
      rows.replaceChildren();
      silenceList.replaceChildren();
    },
    localize,
  };
}
