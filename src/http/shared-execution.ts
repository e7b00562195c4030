import { createSourceEventStream, execute, type ExecutionArgs, type ExecutionResult, print } from "graphql";
import type { RequestContext } from "../graphql/context.js";

type Result = ExecutionResult | Promise<ExecutionResult>;

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
 */
export function sharedSubscribe(): (
  args: ExecutionArgs,
) => Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
  const executions = new WeakMap<object, Map<string, Result>>();
  /** The printed documents, by document: every subscriber of a socket parses its own. */
  const printed = new WeakMap<object, string>();

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
    const results: AsyncIterableIterator<ExecutionResult> = {
      next: () =>
        events.next().then((step) => (step.done ? { value: undefined, done: true } : settle(run(step.value)))),
      // A subscriber that leaves ends the source, which may be waiting for its next event.
      return: async () => {
        await events.return?.();
        return { value: undefined, done: true };
      },
      throw: async (error?: unknown) => {
        await events.return?.();
        throw error;
      },
      [Symbol.asyncIterator]: () => results,
    };
    return results;
  };
}
