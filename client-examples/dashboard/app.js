// The Fleetvisor admin dashboard: the process table, kept live over graphql-ws, with
// start / stop / restart for operators and a log tail; a view per supervisord, where admins
// add the programs it runs that the registry does not know. No page reload, ever.
import { createClient } from "/vendor/graphql-ws/client.js";
import { lang, localize, setLang, t } from "./i18n.js";
import { renderDesired, setupRollouts } from "./rollouts.js";
import { setupHealing } from "./healing.js";
import { setupLogFollow } from "./log-follow.js";
import { setupIncidents } from "./incidents.js";

const TOKEN_KEY = "fleetvisor.token";
const NONE = "—";
const CONTROL_ROLES = new Set(["OPERATOR", "ADMIN"]);
/** Roles that may read Query.supervisors (agents may not). */
const SUPERVISOR_VIEW_ROLES = new Set(["VIEWER", "OPERATOR", "ADMIN"]);
/** A change to the registry changes which programs the supervisord view calls unregistered. */
const REGISTRY_KINDS = new Set(["CREATED", "UPDATED", "DELETED"]);
const SUPERVISORS_RELOAD_MS = 1000;
const UNAUTHORIZED_CLOSE = 4401;
const LOG_POLL_MS = 2000;
/** The log view keeps only the end of what it has read, so a chatty program cannot bloat the tab. */
const LOG_MAX_CHARS = 200_000;
const LOG_READ_BYTES = 16_384;
/** Further behind than this, the log view skips to the end of the log instead of catching up. */
const LOG_SKIP_BYTES = 4 * LOG_READ_BYTES;
const RETRY_MAX_MS = 5_000;
const AGE_UNITS = [
  ["ageDays", 86_400],
  ["ageHours", 3_600],
  ["ageMinutes", 60],
];

const PROCESS_FIELDS = `name port pid status lastHeartbeat program supervisorHost supervisorPort
  supervisor { state pid uptimeSeconds description spawnError } health healthReasons desiredState drift quarantined`;
const ME_QUERY = "query { me { name role processPattern } settings { pollIntervalSeconds } }";
/**
 * The list comes a page at a time, served from what the poller observed (maxAgeSeconds of
 * twice its interval: supervisord is asked only where the poller fell behind), so that
 * 10,000 rows paint as soon as the first page is in and no supervisord is asked per viewer.
 */
const LIST_PAGE_SIZE = 500;
/** The first page is what fills a screen: it comes back and paints soonest. */
const FIRST_PAGE_SIZE = 100;
// The page size is a variable: the query cost limit counts a literal `first` as that many rows.
const LIST_QUERY = `query($first: Int!, $after: String, $maxAge: Int!) {
  processPage(first: $first, after: $after, maxAgeSeconds: $maxAge) {
    nodes { ${PROCESS_FIELDS} } endCursor hasNextPage totalCount eventCursor } }`;
/** Longer lists than this render only the rows in view (plus a margin), whatever their number. */
const VIRTUAL_FROM_ROWS = 200;
const VIRTUAL_MARGIN_ROWS = 20;
const LOG_QUERY = `query($n: String!, $s: LogStream!, $o: Int!) {
  process(name: $n) { log(stream: $s, bytes: ${LOG_READ_BYTES}, offset: $o) { text offset remainingBytes overflow } } }`;
const CHANGES_SUBSCRIPTION = `subscription($after: ID) { processChanged(after: $after) {
  id kind processName at actor message status process { ${PROCESS_FIELDS} } } }`;
const SUPERVISORS_QUERY = `query { supervisors { host port reachable state version latencyMs processCount
  registeredProcessCount error programs { program state pid description processNames } unregisteredPrograms } }`;
const CREATE_PROCESS = `mutation($input: CreateProcessInput!) { createProcess(input: $input) { ${PROCESS_FIELDS} } }`;
const HEARTBEAT_SUBSCRIPTION = "subscription { processChanged(kinds: [HEARTBEAT]) { processName at } }";
/** Each row action and the mutation that performs it. */
const ACTIONS = { start: "startProcess", stop: "stopProcess", restart: "restartProcess" };

const session = {
  token: null,
  me: null,
  loaded: false,
  listRequests: 0, // list loads started: each answer knows which request it belongs to
  listLoading: false, // whether a read of the list is under way
  listAgain: false, // whether another read should follow it
  touched: new Map(), // name → listRequests when a live change last touched the row
  processes: new Map(), // name → the process as the API last described it
  rows: new Map(), // name → the row's elements, built when first shown so focus survives updates
  sorted: null, // every name in table order; null when a name came or went since
  filtered: [], // the names the filters show, in table order
  rowHeight: 0, // the measured height of a row, for the space of those not rendered
  maxAgeSeconds: 0, // how old an observation of a supervisord the list accepts (0: ask now)
  firstRowsMarked: false, // whether the first rows' paint was marked (performance.mark)
  busy: new Set(), // names with a control action under way
  message: null, // { kind, render }: rendered again on a language switch
  signInProblem: null, // () => text, why the sign-in screen is showing
};
const live = {
  client: null,
  changes: null, // disposes the subscription to recorded changes
  heartbeats: null, // disposes the heartbeat subscription
  cursor: null, // the greatest event id seen: where to resume after a reconnect
  everConnected: false,
};
const logView = { name: null, stream: "STDOUT", offset: 0, timer: 0, generation: 0 };
const supervisorsView = {
  shown: false,
  list: null, // Query.supervisors as last read
  error: null, // why the last read failed
  requests: 0, // reads started: only the newest one's answer is shown
  loading: false,
  reloadTimer: 0,
};
/** The program the "add to registry" form is about: `{ host, port, program }`. */
let registering = null;
/** The rollout panel (rollouts.js). */
let rollouts = null;
/** The quarantined badge (healing.js) and the log view's follow switch (log-follow.js). */
let healing = null;
let logFollow = null;
/** The open incidents and silences (incidents.js). */
let incidents = null;

/** Thrown when the token is refused (HTTP 401) or the session changed while a request ran. */
class SessionEnded extends Error {}

const byId = (id) => document.getElementById(id);
const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
// Numeric collation puts domaeka-test-2 before domaeka-test-10.
const compareNames = new Intl.Collator(undefined, { numeric: true }).compare;

/** Creates an element; children are appended as text nodes, so data is never parsed as HTML. */
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

// ---------------------------------------------------------------- GraphQL over HTTP

/** POSTs one operation; resolves to `{ data, errors }` so callers can use partial results. */
async function request(query, variables = {}) {
  const token = session.token;
  const response = await fetch("/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  if (session.token !== token) throw new SessionEnded();
  if (response.status === 401) {
    if (session.me) endSession();
    throw new SessionEnded();
  }
  const body = await response.json().catch(() => null);
  if (!body) throw new Error(t("httpError", { status: response.status }));
  return body;
}

/** One line for a GraphQL error, an Error, a WebSocket close event, or a list of errors. */
function describeError(error) {
  if (Array.isArray(error)) return error.map(describeError).join("; ");
  if (error && typeof error.code === "number" && "reason" in error) {
    return `WebSocket ${error.code} ${error.reason}`.trim();
  }
  const { code, faultName } = error?.extensions ?? {};
  const prefix = [code, faultName].filter(Boolean).join(" / ");
  const text = error?.message ?? String(error);
  return prefix ? `${prefix}: ${text}` : text;
}

/**
 * Why `supervisor` is null at `path` (e.g. ["processes", 3]): `{ code, message }` of the
 * error there (SUPERVISOR_UNAVAILABLE, SUPERVISOR_FAULT, NOT_FOUND for an unknown program),
 * or null when there is none.
 */
function supervisorProblemAt(errors, path) {
  const error = errors?.find(
    (e) =>
      e.path?.length === path.length + 1 && e.path.at(-1) === "supervisor" && path.every((p, i) => e.path[i] === p),
  );
  return error ? { code: error.extensions?.code ?? null, message: error.message, text: describeError(error) } : null;
}

// ---------------------------------------------------------------- messages

function showMessage(kind, render) {
  session.message = { kind, render };
  renderMessage();
}

/** Shows `error` in the message area, unless it only says the session is over. */
function reportError(error, render) {
  if (error instanceof SessionEnded) return;
  const detail = describeError(error);
  showMessage("error", () => render(detail));
}

function renderMessage() {
  const { message } = session;
  byId("message-bar").hidden = !message;
  byId("message").dataset.kind = message?.kind ?? "info";
  byId("message").textContent = message ? message.render() : "";
}

// ---------------------------------------------------------------- sign-in and sign-out

/** A `#token=…` fragment, removed from the address bar so it is not bookmarked or shared. */
function tokenFromFragment() {
  const match = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (!match) return null;
  history.replaceState(null, "", location.pathname + location.search);
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return match[1];
  }
}

async function signIn(token) {
  const button = byId("sign-in");
  button.disabled = true;
  button.textContent = t("signingIn");
  session.token = token;
  try {
    const { data, errors } = await request(ME_QUERY);
    if (!data?.me) throw errors?.[0] ?? new Error(t("noData"));
    session.me = data.me;
    // Twice the poll interval: a poll that is a little late still serves the list.
    session.maxAgeSeconds = 2 * (data.settings?.pollIntervalSeconds ?? 0);
  } catch (error) {
    session.token = null;
    const detail = describeError(error);
    // A refused token is forgotten; after a network error, reloading the page may still work.
    if (error instanceof SessionEnded) sessionStorage.removeItem(TOKEN_KEY);
    showSignIn(error instanceof SessionEnded ? () => t("badToken") : () => t("signInFailed", { error: detail }));
    return;
  } finally {
    button.disabled = false;
    button.textContent = t("signIn");
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  showDashboard();
  // The rows come over HTTP at once, whatever the WebSocket does. The changes are
  // subscribed to from the event cursor of the list's first page (see readProcessList), so
  // that nothing falls between the read and the subscription.
  startLive();
  incidents.show();
  await loadProcesses();
}

/** Forgets the token and everything shown with it; `problem` says why, when it was not asked for. */
function signOut(problem = null) {
  stopLive();
  closeLog();
  if (byId("confirm-dialog").open) byId("confirm-dialog").close("no");
  if (byId("register-dialog").open) byId("register-dialog").close();
  clearTimeout(supervisorsView.reloadTimer);
  Object.assign(supervisorsView, { list: null, error: null, loading: false });
  supervisorsView.requests += 1; // answers still on their way belong to no one
  byId("supervisor-list").replaceChildren();
  sessionStorage.removeItem(TOKEN_KEY);
  rollouts.reset();
  incidents.reset();
  Object.assign(session, { token: null, me: null, loaded: false, message: null });
  session.processes.clear();
  session.touched.clear();
  session.rows.clear();
  session.sorted = null;
  session.filtered = [];
  session.busy.clear();
  byId("process-rows").replaceChildren();
  renderMessage();
  showSignIn(problem);
}

/** The server no longer accepts the token (HTTP 401 or WebSocket close 4401). */
function endSession() {
  signOut(() => t("sessionEnded"));
}

function showSignIn(problem) {
  session.signInProblem = problem;
  byId("dashboard").hidden = true;
  byId("topbar-session").hidden = true;
  byId("sign-in-screen").hidden = false;
  renderSignInProblem();
  byId("token-input").focus();
}

function renderSignInProblem() {
  const problem = session.signInProblem;
  byId("sign-in-error").hidden = !problem;
  byId("sign-in-error").textContent = problem ? problem() : "";
}

function showDashboard() {
  byId("sign-in-screen").hidden = true;
  byId("token-input").value = "";
  byId("dashboard").hidden = false;
  byId("topbar-session").hidden = false;
  renderWhoami();
  byId("views").hidden = !canSeeSupervisors();
  showView("processes");
  applyFilters();
  rollouts.show();
}

function renderWhoami() {
  const { me } = session;
  if (!me) return;
  byId("whoami").textContent = t("whoami", { name: me.name, role: me.role });
  byId("whoami").title = me.processPattern ?? "";
}

const canControl = () => CONTROL_ROLES.has(session.me?.role);
const canSeeSupervisors = () => SUPERVISOR_VIEW_ROLES.has(session.me?.role);
const canRegister = () => session.me?.role === "ADMIN";

// ---------------------------------------------------------------- the table

/**
 * Reads the whole list, a page at a time; the rows show as each page comes. One read at a
 * time: asked for while one is under way, another follows it (a read started before the
 * subscription may have missed a change). A row that a live change touched after the read
 * began keeps what that change said: the list may have been read before it.
 */
async function loadProcesses() {
  if (session.listLoading) {
    session.listAgain = true;
    return;
  }
  session.listLoading = true;
  renderListLoading();
  try {
    do {
      session.listAgain = false;
      await readProcessList();
    } while (session.listAgain && session.token);
  } finally {
    session.listLoading = false;
    renderListLoading();
  }
  // The list gave no cursor (its read failed): changes from now on rather than none, until
  // a read gives one.
  if (session.token && live.client && !live.changes) subscribeChanges();
}

/** Whether pages of the list are still coming (the count says so, and tests wait on it). */
function renderListLoading() {
  byId("process-count").dataset.loading = String(session.listLoading);
}

async function readProcessList() {
  const token = session.token;
  const generation = ++session.listRequests;
  const names = new Set();
  let after = null;
  let complete = false;
  try {
    for (;;) {
      const { data, errors } = await request(LIST_QUERY, {
        first: after === null ? FIRST_PAGE_SIZE : LIST_PAGE_SIZE,
        after,
        maxAge: session.maxAgeSeconds,
      });
      const page = data?.processPage;
      if (!page) throw errors?.[0] ?? new Error(t("noData"));
      if (session.token !== token) return;
      page.nodes.forEach((process, index) => {
        names.add(process.name);
        if ((session.touched.get(process.name) ?? 0) < generation) {
          storeProcess(process, supervisorProblemAt(errors, ["processPage", "nodes", index]));
        }
      });
      // Every change after the cursor (read before this page) is replayed, then live.
      if (after === null && live.client && live.cursor === null) {
        live.cursor = page.eventCursor;
        subscribeChanges();
      }
      session.loaded = true;
      applyFilters();
      if (!page.hasNextPage) break;
      after = page.endCursor;
    }
    complete = true;
  } catch (error) {
    reportError(error, (detail) => t("loadFailed", { error: detail }));
  }
  if (session.token !== token) return; // signed out meanwhile: this answer belongs to no one
  if (complete) {
    // Only a whole list says which rows are gone.
    for (const name of [...session.processes.keys()]) {
      if (!names.has(name) && (session.touched.get(name) ?? 0) < generation) removeProcess(name);
    }
  }
  session.loaded = true;
  applyFilters();
}

/**
 * Inserts or replaces one process and renders its row; `supervisorProblem` says why its
 * `supervisor` is null. Callers run applyFilters() once afterwards to place the rows.
 */
function storeProcess(process, supervisorProblem = null) {
  if (!session.processes.has(process.name)) session.sorted = null;
  session.processes.set(process.name, { ...process, supervisorProblem });
  // Rows not built yet are built, with what is stored then, when they come into view.
  renderRow(process.name);
}

function removeProcess(name) {
  session.rows.get(name)?.tr.remove();
  session.rows.delete(name);
  session.processes.delete(name);
  session.sorted = null;
  if (logView.name === name) closeLog();
}

/** The row of `name`, built (and filled) the first time it is shown. */
function rowOf(name) {
  let row = session.rows.get(name);
  if (!row) {
    row = createRow(name);
    session.rows.set(name, row);
    renderRow(name);
  }
  return row;
}

function createRow(name) {
  const cell = (testid, className) => el("td", { "data-testid": testid, class: className });
  const row = {
    tr: el("tr", { "data-testid": "process-row", "data-name": name }),
    name: cell("cell-name", "name"),
    port: cell("cell-port", "num"),
    pid: cell("cell-pid", "num"),
    status: cell("cell-status", "badge-cell"),
    state: cell("cell-supervisor-state", "badge-cell"),
    desired: cell("cell-desired", "badge-cell"),
    health: el("span", { "data-testid": "cell-health" }),
    reasons: el("div", { class: "reasons", "data-testid": "cell-health-reasons" }),
    heartbeat: cell("cell-heartbeat-age", "num"),
    busyNote: el("span", { class: "busy-note", "aria-live": "polite" }),
    buttons: {},
  };
  const controls = el("td", { class: "controls" });
  // Viewers and agents get no control buttons at all, not disabled ones.
  const actions = canControl() ? Object.keys(ACTIONS) : [];
  for (const action of [...actions, "logs"]) {
    const button = el("button", {
      type: "button",
      class: `btn btn-small btn-${action}`,
      "data-testid": `action-${action}`,
    });
    button.addEventListener("click", () => (action === "logs" ? openLog(name) : runAction(name, action)));
    row.buttons[action] = button;
    controls.append(button);
  }
  controls.append(row.busyNote);
  const healthCell = el("td", {}, row.health, row.reasons);
  row.tr.append(row.name, row.port, row.pid, row.status, row.state, row.desired, healthCell, row.heartbeat, controls);
  return row;
}

function setBadge(node, className, text) {
  node.className = `badge ${className}`;
  node.textContent = text;
}

function renderRow(name) {
  const row = session.rows.get(name);
  const process = session.processes.get(name);
  if (!row || !process) return;
  const { supervisor } = process;
  row.name.textContent = process.name;
  row.name.title = process.supervisorHost
    ? `${process.program} @ ${process.supervisorHost}:${process.supervisorPort}`
    : process.program;
  row.port.textContent = process.port;
  row.pid.textContent = process.pid ?? NONE;
  row.status.replaceChildren(el("span", { class: `badge status-${process.status}` }, process.status));
  row.state.replaceChildren(
    el("span", { class: `badge state-${supervisor?.state ?? "NONE"}` }, supervisor?.state ?? NONE),
  );
  row.state.title = supervisor
    ? [supervisor.description, supervisor.spawnError].filter(Boolean).join(" — ")
    : (process.supervisorProblem?.text ?? t("supervisorUnknown"));
  renderDesired(row.desired, process);
  healing.renderQuarantine(row, process);
  setBadge(row.health, `health-${process.health}`, process.health);
  row.reasons.textContent = process.healthReasons.join("; ");
  renderHeartbeat(row, process);
  renderControls(row, process);
}

/**
 * Why `action` cannot run on `process` now, as a function that gives the text in the
 * current language; null when it can. Start / stop / restart need a supervisord that is
 * set, answers and runs the program, and a state where the action changes something.
 */
function blockedBecause(process, action) {
  if (action === "logs") return null;
  if (session.busy.has(process.name)) return () => t("busy");
  if (!process.supervisorHost) return () => t("reasonNoSupervisor");
  const address = `${process.supervisorHost}:${process.supervisorPort}`;
  const { supervisor, supervisorProblem: problem } = process;
  if (!supervisor) {
    const error = problem?.message ?? process.healthReasons[0] ?? "";
    if (problem?.code === "NOT_FOUND") return () => t("reasonUnknownProgram", { address, program: process.program });
    if (problem?.code === "SUPERVISOR_UNAVAILABLE" || process.health === "UNREACHABLE") {
      return () => t("reasonUnreachable", { address, error });
    }
    return () => t("reasonSupervisorUnusable", { address, error });
  }
  const { state } = supervisor;
  if (action === "start" && (state === "RUNNING" || state === "STARTING")) return () => t("reasonRunning", { state });
  if (action === "stop" && ["STOPPED", "EXITED", "FATAL"].includes(state)) {
    return () => t("reasonNotRunning", { state });
  }
  return null;
}

/** Enables only what can run now; a disabled button says why in its tooltip. */
function renderControls(row, process) {
  const busy = session.busy.has(process.name);
  for (const [action, button] of Object.entries(row.buttons)) {
    const reason = blockedBecause(process, action);
    button.textContent = t(action);
    button.disabled = reason !== null;
    button.title = reason ? reason() : "";
  }
  row.tr.classList.toggle("busy", busy);
  row.tr.setAttribute("aria-busy", String(busy));
  row.busyNote.textContent = busy ? t("busy") : "";
}

function formatAge(iso) {
  if (!iso) return NONE;
  const seconds = Math.max(0, Math.floor((Date.now() - Date.parse(iso)) / 1000));
  for (const [key, size] of AGE_UNITS) if (seconds >= size) return t(key, { n: Math.floor(seconds / size) });
  return t("ageSeconds", { n: seconds });
}

function renderHeartbeat(row, process) {
  row.heartbeat.textContent = formatAge(process.lastHeartbeat);
  row.heartbeat.title = process.lastHeartbeat ? new Date(process.lastHeartbeat).toLocaleString(lang()) : "";
}

function tickHeartbeats() {
  for (const [name, row] of session.rows) renderHeartbeat(row, session.processes.get(name));
}

function currentFilters() {
  return {
    needle: byId("filter-name").value.trim().toLowerCase(),
    status: byId("filter-status").value,
    health: byId("filter-health").value,
  };
}

function matchesFilters(process, { needle, status, health }) {
  return (
    process.name.toLowerCase().includes(needle) &&
    (!status || process.status === status) &&
    (!health || process.health === health)
  );
}

/** Decides which rows the filters show, then renders them (see renderRows). */
function applyFilters() {
  session.sorted ??= [...session.processes.keys()].sort(compareNames);
  const filters = currentFilters();
  session.filtered = session.sorted.filter((name) => matchesFilters(session.processes.get(name), filters));
  renderRows();
  const shown = session.filtered.length;
  const total = session.processes.size;
  byId("process-count").textContent = t("count", { shown, total });
  const empty = !session.loaded ? "loading" : total === 0 ? "noProcesses" : "noMatch";
  byId("empty-state").hidden = shown > 0;
  byId("empty-state").textContent = shown > 0 ? "" : t(empty);
  rollouts?.refresh();
}

/**
 * Puts the rows shown in the table in name order and takes the others out (not just hides
 * them). A long list renders only the rows in view and a margin around them, between two
 * spacers as tall as the rows left out, so that 10,000 rows cost what 60 do. Only rows out
 * of place are moved: moving a row would blur a focused button.
 */
function renderRows() {
  const tbody = byId("process-rows");
  const names = session.filtered;
  const virtual = names.length > VIRTUAL_FROM_ROWS;
  tbody.closest("table").classList.toggle("virtual", virtual);
  let [from, to] = [0, names.length];
  if (virtual) {
    const height = session.rowHeight || 44;
    const top = tbody.getBoundingClientRect().top;
    from = Math.max(0, Math.floor(-top / height) - VIRTUAL_MARGIN_ROWS);
    to = Math.min(names.length, Math.ceil((window.innerHeight - top) / height) + VIRTUAL_MARGIN_ROWS);
    from = Math.min(from, Math.max(0, to - 1));
  }
  const wanted = names.slice(from, to);
  const keep = new Set(wanted);
  for (const [name, row] of session.rows) {
    if (keep.has(name)) continue;
    row.tr.remove();
    // Rows far out of view are let go, except one holding the focus.
    if (virtual && !row.tr.contains(document.activeElement)) session.rows.delete(name);
  }
  const [before, after] = spacers(tbody);
  let previous = before;
  for (const name of wanted) {
    const { tr } = rowOf(name);
    const expected = previous.nextSibling;
    if (expected !== tr) tbody.insertBefore(tr, expected);
    previous = tr;
  }
  if (previous.nextSibling !== after) tbody.insertBefore(after, previous.nextSibling);
  const height = session.rowHeight || 44;
  before.hidden = from === 0;
  after.hidden = to === names.length;
  before.firstChild.style.height = `${from * height}px`;
  after.firstChild.style.height = `${(names.length - to) * height}px`;
  if (virtual && wanted.length > 0) {
    // What the rows really take, for the spacers of the next render.
    const rendered = wanted.map((name) => session.rows.get(name).tr.getBoundingClientRect().height);
    const measured = rendered.reduce((sum, h) => sum + h, 0) / rendered.length;
    if (measured > 0) session.rowHeight = measured;
  }
  if (!session.firstRowsMarked && wanted.length > 0) {
    session.firstRowsMarked = true;
    // When the first rows are on screen: the dashboard's first paint, which its test reads.
    requestAnimationFrame(() => performance.mark("fleetvisor:first-rows"));
  }
}

/** The two spacer rows that stand for the rows above and below those rendered. */
function spacers(tbody) {
  let before = tbody.querySelector(":scope > tr.spacer-before");
  let after = tbody.querySelector(":scope > tr.spacer-after");
  if (!before) {
    before = el("tr", { class: "spacer spacer-before", "aria-hidden": "true" }, el("td", { colspan: "9" }));
    after = el("tr", { class: "spacer spacer-after", "aria-hidden": "true" }, el("td", { colspan: "9" }));
    tbody.prepend(before);
    tbody.append(after);
  }
  return [before, after];
}

let renderRowsFrame = 0;

/** Scrolling a long list brings other rows into view: rendered once per frame. */
function renderRowsSoon() {
  if (renderRowsFrame || session.filtered.length <= VIRTUAL_FROM_ROWS) return;
  renderRowsFrame = requestAnimationFrame(() => {
    renderRowsFrame = 0;
    renderRows();
  });
}

/** The names of the processes the filters show, in the table's order (what a rollout would take). */
function filteredNames() {
  return [...session.filtered];
}

// ---------------------------------------------------------------- control

/** Asks in the modal dialog; resolves true only when the user confirms. */
function confirmAction(name, action) {
  const dialog = byId("confirm-dialog");
  byId("confirm-text").textContent = t("confirmText", { name, action: t(action) });
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
  });
}

async function runAction(name, action) {
  if (session.busy.has(name) || !(await confirmAction(name, action))) return;
  session.busy.add(name);
  renderRow(name);
  const field = ACTIONS[action];
  try {
    const { data, errors } = await request(`mutation($n: String!) { ${field}(name: $n) { ${PROCESS_FIELDS} } }`, {
      n: name,
    });
    const process = data?.[field];
    if (!process) throw errors?.[0] ?? new Error(t("noData"));
    storeProcess(process, supervisorProblemAt(errors, [field]));
    applyFilters();
    showMessage("info", () => t("actionDone", { name, action: t(action), status: process.status }));
  } catch (error) {
    reportError(error, (detail) => t("actionFailed", { name, action: t(action), error: detail }));
  } finally {
    session.busy.delete(name);
    renderRow(name);
  }
}

// ---------------------------------------------------------------- logs

function openLog(name) {
  logFollow.localize();
  logView.name = name;
  byId("log-panel").hidden = false;
  renderLogTitle();
  showStream("STDOUT");
  byId("log-panel").scrollIntoView({ block: "nearest" });
}

function closeLog() {
  stopLogPolling();
  logFollow.stop();
  logView.name = null;
  byId("log-panel").hidden = true;
  byId("log-text").textContent = "";
}

function renderLogTitle() {
  if (logView.name) byId("log-title").textContent = t("logTitle", { name: logView.name });
}

/** Ends the log view's polling: a read under way is dropped when it answers. */
function stopLogPolling() {
  logView.generation += 1;
  clearTimeout(logView.timer);
}

/** Starts reading `stream` afresh: offset 0 returns the end of the log. */
function showStream(stream) {
  stopLogPolling();
  logFollow.stop();
  Object.assign(logView, { stream, offset: 0 });
  byId("log-text").textContent = "";
  byId("log-status").textContent = "";
  for (const button of document.querySelectorAll("[data-stream]")) {
    button.setAttribute("aria-pressed", String(button.dataset.stream === stream));
  }
  pollLog(logView.generation);
}

/** Reads what was written since the last offset, then polls again; a stale generation stops. */
async function pollLog(generation) {
  let delay = LOG_POLL_MS;
  try {
    const { data, errors } = await request(LOG_QUERY, { n: logView.name, s: logView.stream, o: logView.offset });
    if (generation !== logView.generation) return;
    const chunk = data?.process?.log;
    if (!chunk && errors?.length) throw errors[0];
    if (!chunk) {
      byId("log-status").textContent = t("logUnavailable");
      return;
    }
    appendLog(chunk);
    // Offset 0 reads the end of the log: far behind, the view skips there (marked as a gap).
    logView.offset = chunk.remainingBytes > LOG_SKIP_BYTES ? 0 : chunk.offset;
    byId("log-status").textContent = "";
    // Followed live from here on (log-follow.js) rather than polled.
    if (logFollow.wanted()) return logFollow.follow();
    // More is waiting: read it now rather than at the next tick.
    delay = chunk.remainingBytes > 0 ? 0 : LOG_POLL_MS;
  } catch (error) {
    if (generation !== logView.generation || error instanceof SessionEnded) return;
    byId("log-status").textContent = t("logError", { error: describeError(error) });
  }
  logView.timer = setTimeout(() => pollLog(generation), delay);
}

function appendLog({ text, overflow }) {
  if (!text && !overflow) return;
  const pre = byId("log-text");
  const followTail = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 24;
  const gap = overflow ? `${t("logTruncated")}\n` : "";
  pre.textContent = (pre.textContent + gap + text).slice(-LOG_MAX_CHARS);
  if (followTail) pre.scrollTop = pre.scrollHeight;
}

// ---------------------------------------------------------------- the supervisord view

function showView(view) {
  const supervisors = view === "supervisors" && canSeeSupervisors();
  supervisorsView.shown = supervisors;
  byId("processes-view").hidden = supervisors;
  byId("supervisors-view").hidden = !supervisors;
  for (const tab of document.querySelectorAll("[data-view]")) {
    tab.setAttribute("aria-selected", String(tab.dataset.view === (supervisors ? "supervisors" : "processes")));
  }
  if (supervisors) loadSupervisors();
}

/** Reads every supervisord the registry names (each is asked now, in parallel, once). */
async function loadSupervisors() {
  const token = session.token;
  const generation = ++supervisorsView.requests;
  clearTimeout(supervisorsView.reloadTimer);
  supervisorsView.loading = true;
  renderSupervisorsStatus();
  try {
    const { data, errors } = await request(SUPERVISORS_QUERY);
    if (!data?.supervisors) throw errors?.[0] ?? new Error(t("noData"));
    if (session.token !== token || generation !== supervisorsView.requests) return;
    Object.assign(supervisorsView, { list: data.supervisors, error: null });
  } catch (error) {
    if (error instanceof SessionEnded || generation !== supervisorsView.requests) return;
    supervisorsView.error = describeError(error);
  }
  supervisorsView.loading = false;
  renderSupervisors();
}

/** Registry changes come in bursts (a rolling deploy): read the supervisords once after them. */
function scheduleSupervisorsReload() {
  clearTimeout(supervisorsView.reloadTimer);
  supervisorsView.reloadTimer = setTimeout(() => supervisorsView.shown && loadSupervisors(), SUPERVISORS_RELOAD_MS);
}

function renderSupervisorsStatus() {
  const { list, error, loading } = supervisorsView;
  const node = byId("supervisors-status");
  node.dataset.state = loading ? "loading" : error ? "error" : "ready";
  if (loading) node.textContent = t("loading");
  else if (error) node.textContent = t("supervisorsFailed", { error });
  else node.textContent = list ? t("supervisorsCount", { n: list.length }) : "";
}

function renderSupervisors() {
  renderSupervisorsStatus();
  const { list } = supervisorsView;
  const container = byId("supervisor-list");
  if (!list) return;
  if (list.length === 0) {
    container.replaceChildren(el("p", { class: "empty" }, t("noSupervisors")));
    return;
  }
  container.replaceChildren(...list.map(supervisorCard));
}

const addressOf = (host, port) => `${host.toLowerCase()}:${port}`;

function supervisorCard(supervisor) {
  const { host, port, reachable, error } = supervisor;
  const address = `${host}:${port}`;
  const card = el("section", { class: "card supervisor", "data-testid": "supervisor", "data-address": address });
  const [badgeClass, badgeText] = !reachable
    ? ["health-UNREACHABLE", t("unreachable")]
    : error
      ? ["state-UNKNOWN", t("unusable")]
      : ["state-RUNNING", t("reachable")];
  const header = el(
    "header",
    { class: "supervisor-header" },
    el("h2", {}, address),
    el("span", { class: `badge ${badgeClass}`, "data-testid": "supervisor-reachable" }, badgeText),
  );
  const fact = (label, value, testid) =>
    el(
      "div",
      { class: "fact" },
      el("dt", {}, t(label)),
      el("dd", { "data-testid": testid }, value === null || value === undefined ? NONE : String(value)),
    );
  const facts = el(
    "dl",
    { class: "facts" },
    fact("supervisorState", supervisor.state, "supervisor-state"),
    fact("supervisorVersion", supervisor.version, "supervisor-version"),
    fact(
      "supervisorLatency",
      supervisor.latencyMs === null ? null : t("milliseconds", { n: Math.round(supervisor.latencyMs) }),
      "supervisor-latency",
    ),
    fact("supervisorPrograms", supervisor.processCount, "supervisor-program-count"),
    fact("supervisorRegistered", supervisor.registeredProcessCount, "supervisor-registered-count"),
  );
  card.append(header, facts);
  if (error) card.append(el("p", { class: "supervisor-error", "data-testid": "supervisor-error" }, error));
  if (!supervisor.programs) {
    card.append(el("p", { class: "hint" }, t("supervisorCannotSay")));
    return card;
  }
  card.append(programsTable(supervisor));
  // Rows that name this supervisord and a program it does not run.
  const programs = new Set(supervisor.programs.map((p) => p.program));
  const missing = [...session.processes.values()]
    .filter(
      (p) =>
        p.supervisorHost &&
        addressOf(p.supervisorHost, p.supervisorPort) === addressOf(host, port) &&
        !programs.has(p.program),
    )
    .map((p) => `${p.name} (${p.program})`)
    .sort(compareNames);
  if (missing.length > 0) {
    card.append(
      el("p", { class: "hint", "data-testid": "supervisor-missing" }, t("notRunHere", { names: missing.join(", ") })),
    );
  }
  return card;
}

function programsTable(supervisor) {
  const head = el(
    "tr",
    {},
    ...["colProgram", "colState", "colPid", "colRegistry"].map((key) => el("th", { scope: "col" }, t(key))),
  );
  const rows = supervisor.programs.map((program) => {
    const registry = el("td", { "data-testid": "program-registry" });
    if (program.processNames.length > 0) {
      registry.append(program.processNames.join(", "));
    } else {
      registry.append(el("span", { class: "badge state-UNKNOWN" }, t("notInRegistry")));
      if (canRegister()) {
        const add = el("button", { type: "button", class: "btn btn-small", "data-testid": "add-to-registry" });
        add.textContent = t("addToRegistry");
        add.addEventListener("click", () => openRegister(supervisor, program.program));
        registry.append(" ", add);
      }
    }
    return el(
      "tr",
      { "data-testid": "supervisor-program", "data-program": program.program },
      el("td", { class: "name", title: program.description }, program.program),
      el(
        "td",
        { class: "badge-cell", "data-testid": "program-state" },
        el("span", { class: `badge state-${program.state}` }, program.state),
      ),
      el("td", { class: "num" }, program.pid ?? NONE),
      registry,
    );
  });
  const table = el("table", { class: "processes programs" }, el("thead", {}, head), el("tbody", {}, ...rows));
  return el("div", { class: "table-wrap" }, table);
}

/** A process name from a program name: only the characters process names allow. */
function suggestedName(program) {
  return program
    .replace(/[^A-Za-z0-9._-]+/g, "-")
    .replace(/^[^A-Za-z0-9]+/, "")
    .slice(0, 100);
}

/** The "add to registry" form, prefilled with the program and its supervisord; it asks for the name and port. */
function openRegister(supervisor, program) {
  registering = { host: supervisor.host, port: supervisor.port, program };
  byId("register-name").value = suggestedName(program);
  byId("register-port").value = "";
  byId("register-program").value = program;
  byId("register-supervisor").value = `${supervisor.host}:${supervisor.port}`;
  renderRegisterHint();
  showRegisterError(null);
  byId("register-dialog").showModal();
  byId("register-port").focus();
}

function renderRegisterHint() {
  if (registering) byId("register-hint").textContent = t("registerHint", { program: registering.program });
}

function showRegisterError(text) {
  byId("register-error").hidden = !text;
  byId("register-error").textContent = text ?? "";
}

async function submitRegister(event) {
  event.preventDefault();
  if (!registering) return;
  const name = byId("register-name").value.trim();
  const portText = byId("register-port").value.trim();
  const port = Number(portText);
  if (!name) return showRegisterError(t("registerNameRequired"));
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) return showRegisterError(t("registerPortInvalid"));
  const { host, port: supervisorPort, program } = registering;
  const submit = byId("register-submit");
  submit.disabled = true;
  try {
    const { data, errors } = await request(CREATE_PROCESS, {
      input: { name, port, supervisorHost: host, supervisorPort, program },
    });
    const process = data?.createProcess;
    if (!process) throw errors?.[0] ?? new Error(t("noData"));
    session.touched.set(process.name, session.listRequests);
    storeProcess(process, supervisorProblemAt(errors, ["createProcess"]));
    applyFilters();
    registering = null;
    byId("register-dialog").close();
    showMessage("info", () => t("registered", { name, program }));
    if (supervisorsView.shown) loadSupervisors();
  } catch (error) {
    if (!(error instanceof SessionEnded)) showRegisterError(t("registerFailed", { error: describeError(error) }));
  } finally {
    submit.disabled = false;
  }
}

// ---------------------------------------------------------------- live updates

function setConnection(state) {
  const node = byId("connection-status");
  node.dataset.state = state;
  node.textContent = t(state);
}

function startLive() {
  const client = createClient({
    url: `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`,
    connectionParams: { authorization: `Bearer ${session.token}` },
    retryAttempts: Infinity,
    shouldRetry: () => true,
    // The default backoff doubles without a limit; an admin page should come back quickly.
    retryWait: (retries) => delay(Math.min(1000 * 2 ** retries, RETRY_MAX_MS) + Math.random() * 500),
    on: {
      connecting: () => client === live.client && setConnection(live.everConnected ? "reconnecting" : "offline"),
      connected: () => client === live.client && onConnected(),
      closed: (event) => client === live.client && onClosed(event),
    },
  });
  live.client = client;
  live.everConnected = false;
  live.cursor = null;
  live.heartbeats = client.subscribe({ query: HEARTBEAT_SUBSCRIPTION }, sink(client, applyHeartbeat));
}

function stopLive() {
  const { client } = live;
  live.client = null;
  live.changes?.();
  live.heartbeats?.();
  Object.assign(live, { changes: null, heartbeats: null });
  // A connection that never opened has nothing to close: ignore dispose's rejection.
  client?.dispose().catch(() => {});
  setConnection("offline");
}

function onConnected() {
  const reconnected = live.everConnected;
  live.everConnected = true;
  setConnection("connected");
  // graphql-ws resubscribes with the variables of the first subscribe, which would lose
  // what happened while the connection was down: resume from the cursor instead.
  if (reconnected && live.changes) subscribeChanges();
  // No cursor yet (the list's read failed, and no change came since): read the list now,
  // and follow the changes from its cursor.
  if (live.cursor === null && !session.listLoading) loadProcesses();
}

function onClosed(event) {
  if (event?.code === UNAUTHORIZED_CLOSE) {
    endSession();
    return;
  }
  setConnection(live.everConnected ? "reconnecting" : "offline");
}

/** (Re)subscribes to recorded changes after the last event seen, disposing the old subscription. */
function subscribeChanges() {
  live.changes?.();
  const variables = { after: live.cursor };
  live.changes = live.client.subscribe({ query: CHANGES_SUBSCRIPTION, variables }, sink(live.client, applyChange));
}

/** A subscription sink that ignores whatever reaches it after its client was let go. */
function sink(client, apply) {
  return {
    next: ({ data, errors }) => {
      if (client !== live.client) return;
      if (data?.processChanged) apply(data.processChanged, errors);
      else if (errors) reportError(errors, (detail) => t("liveFailed", { error: detail }));
    },
    error: (error) => {
      // 4401 is handled where the socket closes: it ends the session.
      if (client !== live.client || error?.code === UNAUTHORIZED_CLOSE) return;
      reportError(error, (detail) => t("liveFailed", { error: detail }));
    },
    complete: () => {},
  };
}

function applyChange(event, errors) {
  // Ids are numeric strings; BigInt compares them without losing digits.
  if (event.id !== null && (live.cursor === null || BigInt(event.id) > BigInt(live.cursor))) live.cursor = event.id;
  session.touched.set(event.processName, session.listRequests);
  if (event.process) storeProcess(event.process, supervisorProblemAt(errors, ["processChanged", "process"]));
  else if (event.kind === "DELETED") removeProcess(event.processName);
  applyFilters();
  if (supervisorsView.shown && REGISTRY_KINDS.has(event.kind)) scheduleSupervisorsReload();
}

/** Heartbeats are not recorded changes: they only move the row's last heartbeat. */
function applyHeartbeat({ processName, at }) {
  const process = session.processes.get(processName);
  const row = session.rows.get(processName);
  if (!process || !row) return;
  process.lastHeartbeat = at;
  renderHeartbeat(row, process);
}

// ---------------------------------------------------------------- language and start-up

function switchLanguage() {
  setLang(lang() === "ko" ? "en" : "ko");
  localize();
  setConnection(byId("connection-status").dataset.state);
  renderWhoami();
  renderSignInProblem();
  renderMessage();
  renderLogTitle();
  for (const name of session.rows.keys()) renderRow(name);
  applyFilters();
  renderSupervisors();
  renderRegisterHint();
  rollouts.localize();
  logFollow.localize();
  incidents.localize();
}

function wireEvents() {
  byId("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = byId("token-input").value.trim();
    if (token) signIn(token);
    else showSignIn(() => t("tokenRequired"));
  });
  byId("sign-out").addEventListener("click", () => signOut());
  byId("lang-switch").addEventListener("click", switchLanguage);
  byId("message-dismiss").addEventListener("click", () => {
    session.message = null;
    renderMessage();
  });
  byId("refresh").addEventListener("click", loadProcesses);
  for (const id of ["filter-name", "filter-status", "filter-health"]) byId(id).addEventListener("input", applyFilters);
  window.addEventListener("scroll", renderRowsSoon, { passive: true });
  window.addEventListener("resize", renderRowsSoon);
  for (const button of document.querySelectorAll("[data-stream]")) {
    button.addEventListener("click", () => showStream(button.dataset.stream));
  }
  byId("log-close").addEventListener("click", closeLog);
  for (const tab of document.querySelectorAll("[data-view]")) {
    tab.addEventListener("click", () => showView(tab.dataset.view));
  }
  byId("supervisors-refresh").addEventListener("click", loadSupervisors);
  byId("register-form").addEventListener("submit", submitRegister);
  byId("register-form").addEventListener("input", () => showRegisterError(null));
  byId("register-cancel").addEventListener("click", () => {
    registering = null;
    byId("register-dialog").close();
  });
}

/** What the rollout panel needs of the page: requests, the live client, the rows shown, messages. */
function rolloutHost() {
  return {
    request,
    subscribe: (query, variables, { next, error }) => {
      if (!live.client) return () => {};
      return live.client.subscribe(
        { query, variables },
        {
          next: ({ data, errors }) => {
            const value = data && Object.values(data)[0];
            if (value) next(value);
            else if (errors) error(errors);
          },
          error: (cause) => cause?.code !== UNAUTHORIZED_CLOSE && error(cause),
          complete: () => {},
        },
      );
    },
    filteredNames,
    canControl,
    describeError,
    report: (kind, text) => showMessage(kind, () => text),
  };
}

function boot() {
  localize();
  setConnection("offline");
  rollouts = setupRollouts(rolloutHost());
  healing = setupHealing({
    request,
    confirm: confirmAction,
    canControl,
    update: (name, fields) => {
      const process = session.processes.get(name);
      if (process) storeProcess({ ...process, ...fields }, process.supervisorProblem);
    },
    describeError,
    report: (kind, text) => showMessage(kind, () => text),
  });
  logFollow = setupLogFollow({
    subscribe: rolloutHost().subscribe,
    view: logView,
    append: appendLog,
    status: (text) => (byId("log-status").textContent = text),
    stopPolling: stopLogPolling,
    resumePolling: () => {
      stopLogPolling();
      pollLog(logView.generation);
    },
    canFollow: () => session.me?.role !== "AGENT",
    describeError,
  });
  // The incident panel needs the same of the page as the rollout panel.
  incidents = setupIncidents(rolloutHost(), () => session.me);
  wireEvents();
  setInterval(tickHeartbeats, 1000);
  const token = tokenFromFragment() ?? sessionStorage.getItem(TOKEN_KEY);
  if (token) signIn(token);
  else showSignIn(null);
}

boot();
