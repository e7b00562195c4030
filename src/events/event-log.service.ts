import type { EntityManager } from "typeorm";
import { systemClock, type Clock } from "../clock.js";
import { ProcessEventEntity } from "../db/process-event.entity.js";
import type { ProcessEntity } from "../db/process.entity.js";
import { ProcessEventKind } from "../domain/event-kind.js";
import type { ProcessStatus } from "../domain/process-status.js";
import type { Logger } from "../logger.js";
import type { EventBus } from "./event-bus.js";
import { toWire, type ProcessEventRecord } from "./process-event.js";

/** What a transition (or a token's creation or revocation) records; id and time are the log's. */
export interface EventDraft {
  readonly kind: Exclude<ProcessEventKind, ProcessEventKind.HEARTBEAT>;
  /** Empty for token events. */
  readonly processName: string;
  readonly actor: string;
  /** The id of the actor's token; `null` for Fleetvisor itself, the bootstrap token and the CLI. */
  readonly actorTokenId: number | null;
  readonly message?: string | null;
  readonly status: ProcessStatus | null;
}

const MESSAGE_LIMIT = 1000;

/**
 * Work that runs in the transaction of every event recorded (after its row is inserted),
 * so that what it writes commits with the event or not at all. It may record follow-up
 * events there (`recordFollowUp`); they are published right after the event.
 */
export type RecordingHook = (
  manager: EntityManager,
  event: ProcessEventRecord,
  recordFollowUp: (draft: EventDraft) => Promise<ProcessEventRecord>,
) => Promise<void>;

/**
 * The event log (`fleetvisor_process_events`): recording, publishing, reading.
 *
 * A transition is recorded inside the transaction that makes it, so a transition and its
 * event commit together or not at all; it is published only after the commit. The log is
 * the truth (EventLogReads reads it); what is published is the fast path (see EventFeed).
 */
export class EventLogService {
  private pendingHeartbeats: ReturnType<typeof toWire>[] = [];
  private readonly recordedListeners: ((event: ProcessEventRecord) => void)[] = [];
  private readonly recordingHooks: RecordingHook[] = [];
  /** Events recorded by hooks in the transaction of another, published with it. */
  private readonly followUps = new WeakMap<ProcessEventRecord, ProcessEventRecord[]>();

  constructor(
    private readonly bus: EventBus,
    private readonly logger: Logger,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Records one event inside the caller's transaction. Publish it after the commit. */
  async record(manager: EntityManager, draft: EventDraft, process: ProcessEntity | null): Promise<ProcessEventRecord> {
    const event = await this.insert(manager, draft, process);
    if (this.recordingHooks.length === 0) return event;
    const followUps: ProcessEventRecord[] = [];
    const recordFollowUp = async (followUp: EventDraft): Promise<ProcessEventRecord> => {
      const recorded = await this.insert(manager, followUp, process);
      followUps.push(recorded);
      return recorded;
    };
    for (const hook of this.recordingHooks) await hook(manager, event, recordFollowUp);
    if (followUps.length > 0) this.followUps.set(event, followUps);
    return event;
  }

  /** `hook` runs in the transaction of every event recorded on this replica (see {@link RecordingHook}). */
  onRecording(hook: RecordingHook): void {
    this.recordingHooks.push(hook);
  }

  private async insert(
    manager: EntityManager,
    draft: EventDraft,
    process: ProcessEntity | null,
  ): Promise<ProcessEventRecord> {
    const at = this.clock.now();
    const message = draft.message ? draft.message.slice(0, MESSAGE_LIMIT) : null;
    const result = await manager.insert(ProcessEventEntity, {
      processName: draft.processName,
      kind: draft.kind,
      actor: draft.actor.slice(0, 100),
      actorTokenId: draft.actorTokenId,
      message,
      status: draft.status,
      at,
    });
    const id = result.identifiers[0]?.id as string | number | undefined;
    if (id === undefined) throw new Error("the event log returned no id");
    const actorTokenId = draft.actorTokenId === null ? null : String(draft.actorTokenId);
    return { ...draft, id: String(id), actorTokenId, message, at, process };
  }

  /**
   * Sends recorded events to every subscriber of every replica, and tells this replica's
   * own listeners (alerts) of the events it recorded.
   */
  async publish(recorded: readonly ProcessEventRecord[]): Promise<void> {
    const events = recorded.flatMap((event) => [event, ...(this.followUps.get(event) ?? [])]);
    for (const event of events) {
      for (const listener of this.recordedListeners) {
        // The event is committed: a listener that fails must not fail the change that caused it.
        try {
          listener(event);
        } catch (error) {
          this.logger.error({ err: error, eventId: event.id }, "a recorded-event listener failed");
        }
      }
      await this.bus.publish("process-events", toWire(event));
    }
  }

  /** `listener` sees every event this replica records (once, on this replica only). */
  onRecorded(listener: (event: ProcessEventRecord) => void): void {
    this.recordedListeners.push(listener);
  }

  /**
   * Heartbeats are not recorded; they go only to subscribers that ask for them. Those
   * published in the same tick (a batch written together) travel as one message.
   */
  publishHeartbeat(processName: string, actor: string, at: Date, status: ProcessStatus | null): void {
    if (!this.bus.delivers("heartbeats")) return;
    const event: ProcessEventRecord = {
      id: null,
      kind: ProcessEventKind.HEARTBEAT,
      processName,
      at,
      actor,
      message: null,
      status,
    };
    this.pendingHeartbeats.push(toWire(event));
    if (this.pendingHeartbeats.length === 1) {
      queueMicrotask(() => {
        const batch = this.pendingHeartbeats;
        this.pendingHeartbeats = [];
        void this.bus.publish("heartbeats", batch);
      });
    }
  }
}
