import type { ProcessEntity } from "../db/process.entity.js";
import type { ProcessStatus } from "../domain/process-status.js";
import type { ProcessEventKind } from "../domain/event-kind.js";

/** One thing that happened to a process, as subscribers receive it. */
export interface ProcessEventRecord {
  /** The event log id (the resume cursor); `null` for heartbeats, which are not recorded. */
  readonly id: string | null;
  readonly kind: ProcessEventKind;
  /** Empty for token events (TOKEN_CREATED, TOKEN_REVOKED). */
  readonly processName: string;
  readonly at: Date;
  /** The token name that caused the event, or `fleetvisor` for the service itself. */
  readonly actor: string;
  /** The id of the token that caused it; `null` or absent when no token row did. */
  readonly actorTokenId?: string | null;
  readonly message: string | null;
  /** The registry status right after the event; `null` once the process is deleted. */
  readonly status: ProcessStatus | null;
  /**
   * The registry row right after the event when the publisher had it at hand; `null` when
   * the process no longer exists; `undefined` when it has to be loaded (replayed events).
   */
  readonly process?: ProcessEntity | null;
}

/** The JSON form an event takes between replicas. */
interface WireEvent extends Omit<ProcessEventRecord, "at" | "process"> {
  readonly at: string;
  readonly process?: WireProcess | null;
}

type WireProcess = Omit<ProcessEntity, "lastHeartbeat" | "createdAt" | "updatedAt"> & {
  readonly lastHeartbeat: string | null;
  readonly createdAt: string | null;
  readonly updatedAt: string | null;
};

const date = (value: string | null): Date | null => (value === null ? null : new Date(value));

export function toWire(event: ProcessEventRecord): WireEvent {
  return {
    ...event,
    at: event.at.toISOString(),
    process:
      event.process === undefined || event.process === null
        ? event.process
        : {
            ...event.process,
            lastHeartbeat: event.process.lastHeartbeat?.toISOString() ?? null,
            createdAt: event.process.createdAt?.toISOString() ?? null,
            updatedAt: event.process.updatedAt?.toISOString() ?? null,
          },
  };
}

export function fromWire(payload: unknown): ProcessEventRecord {
  const wire = payload as WireEvent;
  const process = wire.process;
  return {
    ...wire,
    at: new Date(wire.at),
    process:
      process === undefined || process === null
        ? process
        : {
            ...process,
            lastHeartbeat: date(process.lastHeartbeat),
            createdAt: date(process.createdAt),
            updatedAt: date(process.updatedAt),
          },
  };
}
