/** supervisord's process states (supervisor/states.py, ProcessStates). */
export enum SupervisorState {
  STOPPED = "STOPPED",
  STARTING = "STARTING",
  RUNNING = "RUNNING",
  BACKOFF = "BACKOFF",
  STOPPING = "STOPPING",
  EXITED = "EXITED",
  FATAL = "FATAL",
  UNKNOWN = "UNKNOWN",
}

const BY_CODE: Readonly<Record<number, SupervisorState>> = {
  0: SupervisorState.STOPPED,
  10: SupervisorState.STARTING,
  20: SupervisorState.RUNNING,
  30: SupervisorState.BACKOFF,
  40: SupervisorState.STOPPING,
  100: SupervisorState.EXITED,
  200: SupervisorState.FATAL,
  1000: SupervisorState.UNKNOWN,
};

export function stateFromCode(code: number): SupervisorState {
  return BY_CODE[code] ?? SupervisorState.UNKNOWN;
}

/** What supervisord's `getProcessInfo` / `getAllProcessInfo` say of one program. */
export interface SupervisorProcessInfo {
  /** `group:name`, or `name` when the group has the program's name. */
  readonly program: string;
  readonly name: string;
  readonly group: string;
  readonly state: SupervisorState;
  /** supervisord's own name for the state (`statename`). */
  readonly stateName: string;
  /** 0 when not running. */
  readonly pid: number;
  readonly startedAt: Date | null;
  readonly stoppedAt: Date | null;
  /** supervisord's clock when it answered. */
  readonly now: Date;
  readonly exitStatus: number;
  readonly spawnError: string;
  readonly description: string;
}

/** What its supervisord said, or why there is nothing. */
export type SupervisorView =
  | { readonly kind: "info"; readonly info: SupervisorProcessInfo }
  /** The registry names no supervisord for this process. */
  | { readonly kind: "none" }
  | { readonly kind: "unreachable"; readonly reason: string }
  /** supervisord answered, but not about this program (misconfigured, unknown program). */
  | { readonly kind: "unknown"; readonly reason: string };

/** The raw struct supervisord sends. */
export interface RawProcessInfo {
  readonly name: string;
  readonly group: string;
  readonly start: number;
  readonly stop: number;
  readonly now: number;
  readonly state: number;
  readonly statename: string;
  readonly spawnerr: string;
  readonly exitstatus: number;
  readonly pid: number;
  readonly description: string;
}

const STRING_FIELDS = ["name", "group", "statename", "spawnerr", "description"] as const;
const NUMBER_FIELDS = ["start", "stop", "now", "state", "exitstatus", "pid"] as const;

/** Whether `value` is the struct supervisord sends for a program. */
export function isRawProcessInfo(value: unknown): value is RawProcessInfo {
  if (typeof value !== "object" || value === null) return false;
  const struct = value as Record<string, unknown>;
  return (
    STRING_FIELDS.every((field) => typeof struct[field] === "string") &&
    NUMBER_FIELDS.every((field) => typeof struct[field] === "number")
  );
}

const epoch = (seconds: number): Date | null => (seconds > 0 ? new Date(seconds * 1000) : null);

export function parseProcessInfo(raw: RawProcessInfo): SupervisorProcessInfo {
  return {
    program: raw.group === raw.name ? raw.name : `${raw.group}:${raw.name}`,
    name: raw.name,
    group: raw.group,
    state: stateFromCode(raw.state),
    stateName: raw.statename,
    pid: raw.pid,
    startedAt: epoch(raw.start),
    stoppedAt: epoch(raw.stop),
    now: new Date(raw.now * 1000),
    exitStatus: raw.exitstatus,
    spawnError: raw.spawnerr,
    description: raw.description,
  };
}
