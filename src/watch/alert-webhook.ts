import { setTimeout as sleep } from "node:timers/promises";
import { webhookBody, type AlertWebhookFormat, type IncidentNotice } from "../incident/incident-payload.js";
import type { Logger } from "../logger.js";

/** One POST waiting: its body, and what the logs name it by. */
interface QueuedAlert {
  readonly body: object;
  readonly kind: string;
  readonly process: string;
}

export interface AlertWebhookOptions {
  readonly url: string;
  /** Per attempt. */
  readonly timeoutMs: number;
  /** Attempts after the first one fails. @default 3 */
  readonly retries?: number;
  /** Before the first retry; doubles each time. @default 1000 */
  readonly backoffMs?: number;
  /** Alerts waiting beyond this are dropped, oldest first (and logged). @default 1000 */
  readonly maxQueued?: number;
  /** The body's shape. @default json */
  readonly format?: AlertWebhookFormat;
}

/** POSTs at most this many alerts at the same time. */
const CONCURRENCY = 2;

/**
 * POSTs incidents to ALERT_WEBHOOK_URL: `firing` when one opens, `resolved` when it closes,
 * with a timeout per attempt and bounded retries. It is fed only the incidents whose opening
 * or resolution this replica wrote, so each is sent by one replica. Nothing waits on it:
 * `notify` only queues, and a failing webhook delays nothing else.
 */
export class AlertWebhook {
  private readonly queue: QueuedAlert[] = [];
  private active = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private stopping = false;

  constructor(
    private readonly options: AlertWebhookOptions,
    private readonly logger: Logger,
  ) {}

  notify(notice: IncidentNotice): void {
    if (this.stopping) return;
    if (this.queue.length >= (this.options.maxQueued ?? 1000)) {
      const dropped = this.queue.shift()!;
      this.logger.warn({ kind: dropped.kind, process: dropped.process }, "alert queue full: dropped the oldest alert");
    }
    const { incident } = notice;
    this.queue.push({
      body: webhookBody(notice, this.options.format ?? "json"),
      kind: `${incident.kind} ${notice.status}`,
      process: incident.processName ?? `${incident.supervisorHost}:${incident.supervisorPort}`,
    });
    this.drain();
  }

  /** Stops taking alerts and waits (bounded) for those being sent. */
  async stop(withinMs = 5_000): Promise<void> {
    this.stopping = true;
    await Promise.race([Promise.allSettled([...this.inFlight]), sleep(withinMs, undefined, { ref: false })]);
  }

  private drain(): void {
    while (this.active < CONCURRENCY && this.queue.length > 0) {
      const alert = this.queue.shift()!;
      this.active++;
      const sending = this.send(alert).finally(() => {
        this.active--;
        this.inFlight.delete(sending);
        this.drain();
      });
      this.inFlight.add(sending);
    }
  }

  private async send(alert: QueuedAlert): Promise<void> {
    const retries = this.options.retries ?? 3;
    let delayMs = this.options.backoffMs ?? 1_000;
    for (let attempt = 0; ; attempt++) {
      let problem: string;
      try {
        const response = await fetch(this.options.url, {
          method: "POST",
          headers: { "content-type": "application/json", "user-agent": "fleetvisor" },
          body: JSON.stringify(alert.body),
          signal: AbortSignal.timeout(this.options.timeoutMs),
        });
        await response.body?.cancel();
        if (response.ok) return;
        problem = `HTTP ${response.status}`;
        // The receiver refuses this alert for good: retrying will not help.
        if (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429) {
          this.logger.error({ kind: alert.kind, process: alert.process, problem }, "alert webhook refused an alert");
          return;
        }
      } catch (error) {
        // Only the kind of failure: a fetch error's message can quote the URL, and the URL
        // may carry the receiver's token.
        const cause = (error as { cause?: { code?: string } }).cause?.code;
        problem =
          (error as Error).name === "TimeoutError"
            ? `no answer within ${this.options.timeoutMs} ms`
            : `request failed${cause ? ` (${cause})` : ""}`;
      }
      if (attempt >= retries || this.stopping) {
        this.logger.error(
          { kind: alert.kind, process: alert.process, problem, attempts: attempt + 1 },
          "alert webhook failed",
        );
        return;
      }
      await sleep(delayMs, undefined, { ref: false });
      delayMs *= 2;
    }
  }
}
