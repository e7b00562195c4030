// Every visible string of the dashboard, in Korean and English. Enum codes (RUNNING,
// HEALTHY, …) are not translated: operators search logs and docs for them as they are.

const STORAGE_KEY = "fleetvisor.lang";

const messages = {
  ko: {
    pageTitle: "Fleetvisor 프로세스 관리",
    otherLanguage: "English",
    signInTitle: "로그인",
    signInHint: "Fleetvisor API 토큰으로 로그인하세요.",
    tokenLabel: "API 토큰",
    signIn: "로그인",
    signingIn: "확인 중…",
    signOut: "로그아웃",
    whoami: "{name} · {role}",
    tokenRequired: "토큰을 입력하세요.",
    badToken: "토큰이 올바르지 않거나 폐기되었습니다.",
    sessionEnded: "토큰이 더 이상 유효하지 않습니다. 다시 로그인하세요.",
    signInFailed: "로그인할 수 없습니다: {error}",
    httpError: "HTTP {status} 응답",
    noData: "응답에 데이터가 없습니다",
    connected: "실시간 연결됨",
    reconnecting: "재연결 중…",
    offline: "연결 안 됨",
    filterName: "프로세스명",
    filterNamePlaceholder: "이름으로 검색",
    filterStatus: "상태",
    filterHealth: "헬스",
    filterAll: "전체",
    refresh: "새로고침",
    count: "{shown} / {total}개",
    tableCaption: "프로세스 목록",
    colName: "프로세스명",
    colPort: "포트",
    colPid: "PID",
    colStatus: "상태",
    colSupervisor: "supervisord 상태",
    colHealth: "헬스",
    colHeartbeat: "마지막 하트비트",
    colControls: "제어",
    loading: "불러오는 중…",
    noProcesses: "등록된 프로세스가 없습니다.",
    noMatch: "조건에 맞는 프로세스가 없습니다.",
    supervisorUnknown: "supervisord에서 상태를 확인할 수 없습니다.",
    ageSeconds: "{n}초 전",
    ageMinutes: "{n}분 전",
    ageHours: "{n}시간 전",
    ageDays: "{n}일 전",
    start: "시작",
    stop: "중지",
    restart: "재시작",
    logs: "로그",
    busy: "처리 중…",
    reasonNoSupervisor: "레지스트리에 이 프로세스의 supervisord가 지정되어 있지 않습니다.",
    reasonUnreachable: "supervisord {address}에 연결할 수 없습니다: {error}",
    reasonUnknownProgram: 'supervisord {address}에 "{program}" 프로그램이 없습니다.',
    reasonSupervisorUnusable: "supervisord {address}의 응답을 사용할 수 없습니다: {error}",
    reasonRunning: "이미 {state} 상태입니다.",
    reasonNotRunning: "실행 중이 아닙니다 ({state}).",
    confirmTitle: "확인",
    confirmText: "{name} 프로세스를 {action} 하시겠습니까?",
    confirmYes: "확인",
    confirmNo: "취소",
    actionDone: "{name} 프로세스 {action} 완료 (상태: {status})",
    actionFailed: "{name} 프로세스 {action} 실패: {error}",
    loadFailed: "프로세스 목록을 불러오지 못했습니다: {error}",
    liveFailed: "실시간 업데이트 오류: {error}",
    dismiss: "닫기",
    logTitle: "{name} 로그",
    logStreams: "로그 스트림",
    stdout: "stdout",
    stderr: "stderr",
    logClose: "닫기",
    logUnavailable: "이 프로세스에는 supervisord가 지정되지 않아 로그가 없습니다.",
    logTruncated: "… (이전 내용 생략) …",
    logError: "로그를 읽지 못했습니다: {error}",
    views: "보기",
    viewProcesses: "프로세스",
    viewSupervisors: "supervisord",
    supervisorsHint:
      "레지스트리에 지정된 supervisord마다 지금 물어본 결과입니다. 실행 중인 프로그램과, 그중 레지스트리에 없는 프로그램을 보여 줍니다.",
    supervisorsCount: "supervisord {n}개",
    supervisorsFailed: "supervisord 목록을 불러오지 못했습니다: {error}",
    noSupervisors: "레지스트리에 supervisord가 지정된 프로세스가 없습니다.",
    reachable: "연결됨",
    unreachable: "연결 불가",
    unusable: "응답 오류",
    supervisorState: "상태",
    supervisorVersion: "버전",
    supervisorLatency: "응답 시간",
    milliseconds: "{n} ms",
    supervisorPrograms: "프로그램",
    supervisorRegistered: "레지스트리의 프로세스",
    supervisorCannotSay: "supervisord가 실행 중인 프로그램을 알려 주지 않았습니다.",
    notRunHere: "레지스트리에는 있지만 이 supervisord가 실행하지 않는 프로그램: {names}",
    colProgram: "프로그램",
    colState: "상태",
    colRegistry: "레지스트리",
    notInRegistry: "레지스트리에 없음",
    addToRegistry: "레지스트리에 추가",
    registerTitle: "레지스트리에 추가",
    registerHint:
      'supervisord 프로그램 "{program}"을(를) 프로세스로 등록합니다. 이름과 서버가 사용할 포트를 입력하세요.',
    registerName: "프로세스명",
    registerPort: "서버 포트",
    registerProgram: "supervisord 프로그램",
    registerSupervisor: "supervisord",
    registerSubmit: "추가",
    registerNameRequired: "프로세스명을 입력하세요.",
    registerPortInvalid: "포트는 1부터 65535 사이의 숫자여야 합니다.",
    registerFailed: "추가하지 못했습니다: {error}",
    registered: "{name} 프로세스를 레지스트리에 추가했습니다 (프로그램 {program}).",
  },
  en: {
    pageTitle: "Fleetvisor processes",
    otherLanguage: "한국어",
    signInTitle: "Sign in",
    signInHint: "Sign in with a Fleetvisor API token.",
    tokenLabel: "API token",
    signIn: "Sign in",
    signingIn: "Checking…",
    signOut: "Sign out",
    whoami: "{name} · {role}",
    tokenRequired: "Enter a token.",
    badToken: "The token is unknown or revoked.",
    sessionEnded: "The token is no longer accepted. Sign in again.",
    signInFailed: "Cannot sign in: {error}",
    httpError: "HTTP status {status}",
    noData: "the answer carries no data",
    connected: "Live",
    reconnecting: "Reconnecting…",
    offline: "Offline",
    filterName: "Process name",
    filterNamePlaceholder: "Search by name",
    filterStatus: "Status",
    filterHealth: "Health",
    filterAll: "All",
    refresh: "Refresh",
    count: "{shown} of {total}",
    tableCaption: "Processes",
    colName: "Process",
    colPort: "Port",
    colPid: "PID",
    colStatus: "Status",
    colSupervisor: "supervisord state",
    colHealth: "Health",
    colHeartbeat: "Last heartbeat",
    colControls: "Controls",
    loading: "Loading…",
    noProcesses: "No processes in the registry.",
    noMatch: "No process matches the filters.",
    supervisorUnknown: "supervisord could not tell its state.",
    ageSeconds: "{n}s ago",
    ageMinutes: "{n}m ago",
    ageHours: "{n}h ago",
    ageDays: "{n}d ago",
    start: "Start",
    stop: "Stop",
    restart: "Restart",
    logs: "Logs",
    busy: "Working…",
    reasonNoSupervisor: "No supervisord is set for this process in the registry.",
    reasonUnreachable: "supervisord {address} cannot be reached: {error}",
    reasonUnknownProgram: 'supervisord {address} runs no program called "{program}".',
    reasonSupervisorUnusable: "supervisord {address} cannot be used: {error}",
    reasonRunning: "Already {state}.",
    reasonNotRunning: "Not running ({state}).",
    confirmTitle: "Confirm",
    confirmText: "{action} {name}?",
    confirmYes: "Confirm",
    confirmNo: "Cancel",
    actionDone: "{action} {name}: done (status {status})",
    actionFailed: "{action} {name} failed: {error}",
    loadFailed: "Could not load the processes: {error}",
    liveFailed: "Live updates failed: {error}",
    dismiss: "Dismiss",
    logTitle: "Log of {name}",
    logStreams: "Log stream",
    stdout: "stdout",
    stderr: "stderr",
    logClose: "Close",
    logUnavailable: "No supervisord is named for this process, so it has no log.",
    logTruncated: "… (older output left out) …",
    logError: "Could not read the log: {error}",
    views: "Views",
    viewProcesses: "Processes",
    viewSupervisors: "supervisords",
    supervisorsHint:
      "Each supervisord the registry names, asked now: what it runs, and which of its programs the registry does not know.",
    supervisorsCount: "{n} supervisord(s)",
    supervisorsFailed: "Could not load the supervisords: {error}",
    noSupervisors: "No process in the registry names a supervisord.",
    reachable: "Reachable",
    unreachable: "Unreachable",
    unusable: "Answers with a fault",
    supervisorState: "State",
    supervisorVersion: "Version",
    supervisorLatency: "Latency",
    milliseconds: "{n} ms",
    supervisorPrograms: "Programs",
    supervisorRegistered: "Registry processes",
    supervisorCannotSay: "supervisord did not say what it runs.",
    notRunHere: "In the registry, but not run by this supervisord: {names}",
    colProgram: "Program",
    colState: "State",
    colRegistry: "Registry",
    notInRegistry: "Not in the registry",
    addToRegistry: "Add to registry",
    registerTitle: "Add to the registry",
    registerHint:
      'Registers the supervisord program "{program}" as a process. Give it a name and the port its server listens on.',
    registerName: "Process name",
    registerPort: "Server port",
    registerProgram: "supervisord program",
    registerSupervisor: "supervisord",
    registerSubmit: "Add",
    registerNameRequired: "Enter a process name.",
    registerPortInvalid: "The port must be a number from 1 to 65535.",
    registerFailed: "Could not add it: {error}",
    registered: "Added {name} to the registry (program {program}).",
  },
};

/** A saved choice wins; otherwise the browser's language decides. */
function initialLang() {
  const saved = localStorage.getItem(STORAGE_KEY);
  if (saved && saved in messages) return saved;
  return (navigator.language || "").toLowerCase().startsWith("ko") ? "ko" : "en";
}

let current = initialLang();

/** The language in use: "ko" or "en". */
export function lang() {
  return current;
}

/** Switches the language, remembers it, and sets `<html lang>`; call localize() after. */
export function setLang(next) {
  current = next in messages ? next : "en";
  localStorage.setItem(STORAGE_KEY, current);
  document.documentElement.lang = current;
}

/** Adds a feature's own messages, `{ ko: {…}, en: {…} }`, to both languages. */
export function addMessages(more) {
  for (const [language, entries] of Object.entries(more)) Object.assign(messages[language], entries);
}

/** The text of `key` with each `{param}` filled in. */
export function t(key, params = {}) {
  const template = messages[current][key] ?? messages.en[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (placeholder, name) => (name in params ? String(params[name]) : placeholder));
}

/**
 * Translates the static markup: `data-i18n` sets the text, `data-i18n-placeholder` and
 * `data-i18n-aria-label` the attributes of the same names.
 */
export function localize(root = document) {
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-i18n-placeholder]")) {
    node.placeholder = t(node.dataset.i18nPlaceholder);
  }
  for (const node of root.querySelectorAll("[data-i18n-aria-label]")) {
    node.setAttribute("aria-label", t(node.dataset.i18nAriaLabel));
  }
  document.title = t("pageTitle");
  document.documentElement.lang = current;
}
