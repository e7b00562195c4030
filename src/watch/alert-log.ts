import { ProcessEventKind } from "../domain/event-kind.js";
import { ProcessStatus } from "../domain/process-status.js";
import { UnreachableCaseError } from "../errors.js";
import type { EventFeed } from "../events/event-feed.js";
import type { EventLogService } from "../events/event-log.service.js";
import type { ProcessEventRecord } from "../events/process-event.js";
import type { Logger } from "../logger.js";
import { observedStateIn } from "../registry/observations.js";
import { SupervisorState } from "../supervisor/supervisor-state.js";

type AlertKind =
  ProcessEventKind.HEARTBEAT_LOST | ProcessEventKind.PROCESS_CRASHED | ProcessEventKind.SUPERVISOR_UNREACHABLE;

const ALERTS: readonly AlertKind[] = [
  ProcessEventKind.HEARTBEAT_LOST,
  ProcessEventKind.PROCESS_CRASHED,
  ProcessEventKind.SUPERVISOR_UNREACHABLE,
];

/** The kinds of event that can end an alert (see {@link endsAlert}). */
export const ENDING_KINDS: readonly ProcessEventKind[] = [
  ProcessEventKind.REGISTERED,
  ProcessEventKind.HEARTBEAT_RESTORED,
  ProcessEventKind.DEREGISTERED,
  ProcessEventKind.STATUS_CHANGED,
  ProcessEventKind.SUPERVISOR_STATE_CHANGED,
  ProcessEventKind.DELETED,
];

/** Open alerts this replica remembers; beyond, the oldest is forgotten (its end goes unlogged). */
const MAX_OPEN_ALERTS = 10_000;

function isAlert(kind: ProcessEventKind): kind is AlertKind {
  return (ALERTS as readonly ProcessEventKind[]).includes(kind);
}

/**
 * Whether `event`, recorded after an alert of `alert` on the same process, ends it:
 *
 * - HEARTBEAT_LOST: the process beats or registers again (the registry says `running`), or
 *   it is `stopped`.
 * - PROCESS_CRASHED: the process runs again (supervisord says RUNNING, or it registered),
 *   or it is `stopped`.
 * - SUPERVISOR_UNREACHABLE: its supervisord answers again; the next state supervisord is
 *   seen in, whatever it is, is a change from UNREACHABLE.
 *
 * Deleting the process ends every alert of it.
 */
export function endsAlert(alert: AlertKind, event: ProcessEventRecord): boolean {
  if (event.kind === ProcessEventKind.DELETED) return true;
  const runsOrStopped = event.status === ProcessStatus.RUNNING || event.status === ProcessStatus.STOPPED;
  switch (alert) {
    case ProcessEventKind.HEARTBEAT_LOST:
      return runsOrStopped;
    case ProcessEventKind.PROCESS_CRASHED:
      return (
        runsOrStopped ||
        (event.kind === ProcessEventKind.SUPERVISOR_STATE_CHANGED &&
          observedStateIn(event.message) === SupervisorState.RUNNING)
      );
    case ProcessEventKind.SUPERVISOR_UNREACHABLE:
      return event.kind === ProcessEventKind.SUPERVISOR_STATE_CHANGED;
    default:
      throw new UnreachableCaseError(alert);
  }
}

interface OpenAlert {
  readonly since: Date;
  /** The latest event of this alert: only a later event can end it. */
  lastId: bigint;
  /** Alerts of the same kind recorded while it was open (a crash loop's each BACKOFF). */
  repeats: number;
}

/**
 * Every alert in the log: at warn, once when it begins and once when it ends, whichever
 * replica records what ends it. The replica that records an alert logs its beginning
 * ({@link recorded}, fed by the event log's `onRecorded`) and remembers it; it logs the end
 * when any replica's event that ends it arrives ({@link seen}, fed by the replica's event
 * feed, which delivers every event of the log once).
 * An alert of a kind already open on a process (a crash loop) is counted, not logged again.
 *
 * Event ids decide what is later: the events that make an alert are recorded in the same
 * transaction as the state change that comes before it.
 */
export class AlertLog {
  private readonly open = new Map<string, OpenAlert>();

  constructor(
    private readonly logger: Logger,
    private readonly maxOpen = MAX_OPEN_ALERTS,
  ) {}

  /** An event this replica recorded. */
  recorded(event: ProcessEventRecord): void {
    if (!isAlert(event.kind) || event.id === null) return;
    const key = keyOf(event.kind, event.processName);
    const id = BigInt(event.id);
    const open = this.open.get(key);
    if (open) {
      if (id > open.lastId) open.lastId = id;
      open.repeats += 1;
      return;
    }
    if (this.open.size >= this.maxOpen) this.open.delete(this.open.keys().next().value!);
    this.open.set(key, { since: event.at, lastId: id, repeats: 0 });
    this.logger.warn(
      { alert: event.kind, process: event.processName, eventId: event.id },
      `alert began: ${event.kind} for ${event.processName}${event.message ? `: ${event.message}` : ""}`,
    );
  }

  /** Alerts open now, whose ends are still to be logged. */
  get openCount(): number {
    return this.open.size;
  }

  /** An event any replica recorded. */
  seen(event: ProcessEventRecord): void {
    if (event.id === null || !ENDING_KINDS.includes(event.kind)) return;
    const id = BigInt(event.id);
    for (const alert of ALERTS) {
      const key = keyOf(alert, event.processName);
      const open = this.open.get(key);
      if (!open || id <= open.lastId || !endsAlert(alert, event)) continue;
      this.open.delete(key);
      const seconds = Math.max(0, Math.round((event.at.getTime() - open.since.getTime()) / 1000));
      this.logger.warn(
        { alert, process: event.processName, eventId: event.id, endedBy: event.kind, seconds, repeats: open.repeats },
        `alert ended: ${alert} for ${event.processName} after ${seconds}s` +
          `${open.repeats > 0 ? ` and ${open.repeats} more like it` : ""}: ${event.kind}` +
          `${event.message ? ` (${event.message})` : ""}`,
      );
    }
  }
}

function keyOf(alert: AlertKind, processName: string): string {
  return `${alert} ${processName}`;
}

/**
 * Logs the alerts `events` records, and their ends as any replica records them. Follows the
 * replica's event feed only while an alert it logged is open: without one, nothing can end,
 * and the feed need not read the log for it. Returns what stops following.
 */
export function logAlerts(events: EventLogService, feed: EventFeed, logger: Logger): () => Promise<void> {
  const alerts = new AlertLog(logger);
  let unsubscribe: (() => void) | undefined;
  const stopFollowing = (): void => {
    unsubscribe?.();
    unsubscribe = undefined;
  };
  const seen = (event: ProcessEventRecord): void => {
    alerts.seen(event);
    // After the feed's delivery: a listener that leaves during it would idle the feed mid-read.
    if (alerts.openCount === 0) queueMicrotask(() => alerts.openCount === 0 && stopFollowing());
  };
  events.onRecorded((event) => {
    alerts.recorded(event);
    if (alerts.openCount > 0 && !unsubscribe && event.id !== null) unsubscribe = feed.subscribe(seen, BigInt(event.id));
  });
  return async () => stopFollowing();
}
