import { createSourceEventStream, execute, type ExecutionArgs, type ExecutionResult, print } from "graphql";
import { SubscriberTooSlowError } from "../events/async-queue.js";
import { canTap } from "../events/event-stream.js";
import type { RequestContext } from "../graphql/context.js";

type Result = ExecutionResult | Promise<ExecutionResult>;

/** A directly fed subscriber waiting for a result. */
interface Waiter {
  readonly deliver: (result: ExecutionResult) => void;
  readonly fail: (error: unknown) => void;
}

/** Where a subscription's results may be sent directly, past its transport's loop. */
export interface DirectTarget {
  /**
   * Sends one result straight to the subscriber, as the transport would have; `false` when
   * the subscriber is too far behind to take it (nothing was sent).
   */
  readonly send: (result: ExecutionResult) => boolean;
  /** How far behind the subscriber then is, for the error that ends its subscription (`8 MiB of events`). */
  readonly limit: string;
}

/**
 * graphql-ws's `subscribe`, with one execution per event for all the subscribers that
 * asked the same thing as the same kind of caller.
 *
 * graphql-js runs a subscription's selection once per subscriber per event: 2,000
 * dashboards on one event are 2,000 executions of the same fields over the same payload.
 * Subscribers share an execution when the event is the same object (the event bus hands
 * every subscriber of a replica the same one), and their document, operation, variables,
 * role and process pattern are the same: what a field may show depends on nothing else
 * (the supervisord answers behind `supervisor` and `health` are shared per event already).
 * The results are kept with the event only (a WeakMap): they go when it does.
 *
 * With `directTo`, a subscription whose stream is a live tap (`canTap`) and whose
 * transport can take results directly is, once its replay is delivered, fed by the stream
 * itself: each event's result is handed to the target as it comes, in order, and the
 * transport's own loop waits on `next()` until the subscription ends. The transport's
 * loop costs a few promises and rounds per event and subscriber; this costs a call.
 */
export function sharedSubscribe(
  directTo?: (args: ExecutionArgs) => DirectTarget | undefined,
): (args: ExecutionArgs) => Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
  const executions = new WeakMap<object, Map<string, Result>>();
  /** The printed documents, by document: every subscriber of a socket parses its own. */
  const printed = new WeakMap<object, string>();
  /**
   * Direct sends of results not ready when their event came (a field resolved later; the
   * auth middleware's is), per result: its subscribers, sent to together when it is.
   */
  const waiting = new WeakMap<object, Waiter[]>();
  /**
   * Per key, the sends of the latest result that was not ready: a later event's result
   * goes after it, so that each subscriber gets its events in order.
   */
  const sendsByKey = new Map<string, Promise<void>>();

  /** Sends `result` to `waiter` once it and the key's earlier results are sent. */
  const sendWhenReady = (key: string, result: Result, waiter: Waiter): void => {
    const joined = waiting.get(result);
    if (joined) {
      joined.push(waiter);
      return;
    }
    const waiters = [waiter];
    waiting.set(result, waiters);
    const earlier = sendsByKey.get(key);
    const sent: Promise<void> = (earlier ? earlier.then(() => result) : Promise.resolve(result))
      .then(
        (ready) => {
          waiting.delete(result);
          for (const { deliver, fail } of waiters) {
            try {
              deliver(ready);
            } catch (error) {
              fail(error);
            }
          }
        },
        (error: unknown) => {
          waiting.delete(result);
          for (const { fail } of waiters) fail(error);
        },
      )
      .finally(() => {
        if (sendsByKey.get(key) === sent) sendsByKey.delete(key);
      });
    sendsByKey.set(key, sent);
  };

  const keyOf = (args: ExecutionArgs): string => {
    let text = printed.get(args.document);
    if (text === undefined) {
      text = print(args.document);
      printed.set(args.document, text);
    }
    const { principal } = args.contextValue as RequestContext;
    return JSON.stringify([
      text,
      args.operationName ?? null,
      args.variableValues ?? null,
      principal.role,
      principal.processPattern,
    ]);
  };

  return async (args) => {
    const source = await createSourceEventStream(args);
    if (!(Symbol.asyncIterator in source)) return source;
    const key = keyOf(args);
    const events = source[Symbol.asyncIterator]();
    const run = (payload: unknown): Result => {
      if (typeof payload !== "object" || payload === null) return execute({ ...args, rootValue: payload });
      let byKey = executions.get(payload);
      if (!byKey) {
        byKey = new Map();
        executions.set(payload, byKey);
      }
      let result = byKey.get(key);
      if (!result) {
        result = execute({ ...args, rootValue: payload });
        byKey.set(key, result);
      }
      return result;
    };
    // By hand rather than as an async generator: each subscriber's result for an event is
    // then one more promise, not a generator's round of them.
    const settle = (result: Result): IteratorResult<ExecutionResult> | Promise<IteratorResult<ExecutionResult>> =>
      result instanceof Promise ? result.then((value) => ({ value, done: false })) : { value: result, done: false };

    const target = directTo?.(args);
    /** The transport's wait on `next()` while the stream feeds the target directly. */
    let parked:
      { resolve: (step: IteratorResult<ExecutionResult>) => void; reject: (error: unknown) => void } | undefined;
    const fail = (error: unknown): void => {
      if (!parked) return;
      const { reject } = parked;
      parked = undefined;
      void events.return?.();
      reject(error);
    };
    const deliver = (result: ExecutionResult): void => {
      if (parked && target && !target.send(result)) fail(new SubscriberTooSlowError(target.limit));
    };
    /** Ends the transport's wait: the subscription is over. */
    const release = (): void => {
      parked?.resolve({ value: undefined, done: true });
      parked = undefined;
    };
    const waiter: Waiter = { deliver, fail };
    const onLive = (payload: unknown): void => {
      if (!parked) return;
      const result = run(payload);
      if (!(result instanceof Promise) && !sendsByKey.has(key)) deliver(result);
      else sendWhenReady(key, result, waiter);
    };

    const results: AsyncIterableIterator<ExecutionResult> = {
      next: () => {
        if (target && !parked && canTap(events) && events.tap(onLive)) {
          return new Promise((resolve, reject) => (parked = { resolve, reject }));
        }
        return events.next().then((step) => (step.done ? { value: undefined, done: true } : settle(run(step.value))));
      },
      // A subscriber that leaves ends the source, which may be waiting for its next event.
      return: async () => {
        await events.return?.();
        release();
        return { value: undefined, done: true };
      },
      throw: async (error?: unknown) => {
        await events.return?.();
        release();
        throw error;
      },
      [Symbol.asyncIterator]: () => results,
    };
    return results;
  };
}
