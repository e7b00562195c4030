import { Redis } from "ioredis";
import type { Logger } from "../logger.js";

/** The channels Fleetvisor fans out on. */
export type Topic = "process-events" | "heartbeats";
const TOPICS: readonly Topic[] = ["process-events", "heartbeats"];

export type Listener = (payload: unknown) => void;

/** How long start-up waits for Redis before going on without it. */
const START_WAIT_MS = 5_000;

/**
 * Fan-out of events to every subscriber of every replica.
 *
 * Listeners are registered synchronously (`on` returns once the listener will see every
 * later publish), which is what lets a resuming subscriber attach to the live stream
 * *before* it reads the log, so that nothing falls between the two.
 */
export interface EventBus {
  /** Resolves once later publishes reach this replica's listeners. */
  start(): Promise<void>;
  /** Delivers `payload` to every listener of `topic` on every replica. Never throws. */
  publish(topic: Topic, payload: unknown): Promise<void>;
  on(topic: Topic, listener: Listener): () => void;
  /**
   * `listener` is told each time the bus comes back after losing its connection: what was
   * published meanwhile did not arrive (the log has it).
   */
  onReconnect(listener: () => void): () => void;
  /** Whether a publish on `topic` could reach anyone (lets hot paths skip building events). */
  delivers(topic: Topic): boolean;
  /** Whether publishes currently reach other replicas (always true in memory). */
  healthy(): boolean;
  close(): Promise<void>;
}

class Listeners {
  private readonly byTopic = new Map<Topic, Set<Listener>>(TOPICS.map((t) => [t, new Set()]));

  constructor(private readonly logger: Logger) {}

  add(topic: Topic, listener: Listener): () => void {
    const set = this.byTopic.get(topic)!;
    set.add(listener);
    return () => set.delete(listener);
  }

  has(topic: Topic): boolean {
    return (this.byTopic.get(topic)?.size ?? 0) > 0;
  }

  dispatch(topic: Topic, payload: unknown): void {
    for (const listener of this.byTopic.get(topic) ?? []) {
      try {
        listener(payload);
      } catch (error) {
        this.logger.error({ err: error, topic }, "event listener failed");
      }
    }
  }
}

/** One replica: events go straight to local listeners. */
export class MemoryEventBus implements EventBus {
  private readonly listeners: Listeners;

  constructor(logger: Logger) {
    this.listeners = new Listeners(logger);
  }

  async start(): Promise<void> {}

  async publish(topic: Topic, payload: unknown): Promise<void> {
    if (!this.listeners.has(topic)) return;
    // Copy through JSON so that memory and Redis deliver exactly the same shapes.
    this.listeners.dispatch(topic, JSON.parse(JSON.stringify(payload)));
  }

  on(topic: Topic, listener: Listener): () => void {
    return this.listeners.add(topic, listener);
  }

  /** Memory never disconnects. */
  onReconnect(_listener: () => void): () => void {
    return () => undefined;
  }

  delivers(topic: Topic): boolean {
    return this.listeners.has(topic);
  }

  healthy(): boolean {
    return true;
  }

  async close(): Promise<void> {}
}

export interface RedisEventBusOptions {
  readonly url: string;
  /**
   * Channel prefix, so that several Fleetvisor deployments can share one Redis: every
   * replica of one deployment must use the same (app.ts derives it from the deployment id
   * stored in the database).
   */
  readonly prefix: string;
  /** A publish that Redis does not confirm in time is dropped (and logged). @default 2000 */
  readonly commandTimeoutMs?: number;
}

/**
 * Several replicas: every publish goes through Redis, and each replica holds one Redis
 * subscription per topic for its whole life and fans out locally. A publish reaches the
 * local listeners through Redis too, so every replica sees the same order.
 *
 * While Redis is down, publishes fail fast (they are recorded in the event log first, so
 * a subscriber that resumes with `after` still gets them) and ioredis reconnects and
 * resubscribes on its own.
 */
export class RedisEventBus implements EventBus {
  private readonly listeners: Listeners;
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  private readonly prefix: string;
  private readonly reconnectListeners = new Set<() => void>();
  /** Whether the subscription was lost since it was last ready. */
  private lost = false;

  constructor(
    options: RedisEventBusOptions,
    private readonly logger: Logger,
  ) {
    this.listeners = new Listeners(logger);
    this.prefix = options.prefix;
    const common = {
      connectTimeout: 2_000,
      commandTimeout: options.commandTimeoutMs ?? 2_000,
      maxRetriesPerRequest: 1,
      // Fail a publish at once while disconnected instead of queueing it without bound.
      enableOfflineQueue: false,
      retryStrategy: (attempt: number) => Math.min(attempt * 200, 2_000),
    };
    this.publisher = new Redis(options.url, { ...common, connectionName: "fleetvisor-publish" });
    this.subscriber = new Redis(options.url, {
      ...common,
      connectionName: "fleetvisor-subscribe",
      commandTimeout: undefined,
      // SUBSCRIBE must be replayed after a reconnect, so it may wait for the connection.
      enableOfflineQueue: true,
      autoResubscribe: true,
    });
    for (const [role, client] of [
      ["publisher", this.publisher],
      ["subscriber", this.subscriber],
    ] as const) {
      client.on("error", (error: Error) => logger.warn({ role, reason: error.message }, "redis connection error"));
      client.on("ready", () => logger.info({ role }, "redis connected"));
    }
    this.subscriber.on("close", () => {
      this.lost = true;
    });
    this.subscriber.on("ready", () => {
      if (!this.lost) return;
      this.lost = false;
      for (const listener of this.reconnectListeners) listener();
    });
    this.subscriber.on("message", (channel: string, message: string) => {
      const topic = channel.slice(this.prefix.length) as Topic;
      let payload: unknown;
      try {
        payload = JSON.parse(message);
      } catch {
        logger.warn({ channel }, "ignored a malformed event from redis");
        return;
      }
      this.listeners.dispatch(topic, payload);
    });
  }

  /**
   * Waits (bounded) for the subscription. When Redis is down at start, the service starts
   * anyway: ioredis keeps reconnecting and subscribes as soon as Redis is back.
   */
  async start(): Promise<void> {
    const subscribed = this.subscriber.subscribe(...TOPICS.map((t) => this.prefix + t));
    const timeout = new Promise<"timeout">((resolve) => setTimeout(resolve, START_WAIT_MS, "timeout").unref());
    const outcome = await Promise.race([subscribed.then(() => "subscribed" as const), timeout]).catch(
      (error: Error) => error,
    );
    if (outcome !== "subscribed") {
      subscribed.catch(() => undefined);
      this.logger.error(
        { reason: outcome instanceof Error ? outcome.message : `no answer within ${START_WAIT_MS}ms` },
        "redis is unavailable; events reach other replicas once it is back",
      );
    }
  }

  async publish(topic: Topic, payload: unknown): Promise<void> {
    try {
      await this.publisher.publish(this.prefix + topic, JSON.stringify(payload));
    } catch (error) {
      this.logger.warn({ topic, reason: (error as Error).message }, "could not publish an event to redis");
    }
  }

  on(topic: Topic, listener: Listener): () => void {
    return this.listeners.add(topic, listener);
  }

  onReconnect(listener: () => void): () => void {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  /** Other replicas' listeners are unknown here: assume someone listens. */
  delivers(): boolean {
    return true;
  }

  healthy(): boolean {
    return this.publisher.status === "ready" && this.subscriber.status === "ready";
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.publisher.quit(), this.subscriber.quit()]);
    this.publisher.disconnect();
    this.subscriber.disconnect();
  }
}
