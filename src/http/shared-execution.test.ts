import { GraphQLObjectType, GraphQLSchema, GraphQLString, parse, type ExecutionResult } from "graphql";
import { describe, expect, it } from "vitest";
import { Role } from "../domain/role.js";
import { SubscriberTooSlowError } from "../events/async-queue.js";
import type { LiveTap } from "../events/event-stream.js";
import { sharedSubscribe, type DirectTarget } from "./shared-execution.js";

interface Event {
  readonly name: string;
}

/** A schema whose `changed` subscription yields what `push` hands it, counting each resolution. */
function fixture() {
  const listeners = new Set<(event: Event) => void>();
  let resolutions = 0;
  const Change = new GraphQLObjectType({
    name: "Change",
    fields: {
      name: { type: GraphQLString },
      greeting: {
        type: GraphQLString,
        args: { prefix: { type: GraphQLString } },
        resolve: (event: Event, args: { prefix?: string }) => {
          resolutions++;
          return `${args.prefix ?? "hello"} ${event.name}`;
        },
      },
    },
  });
  const schema = new GraphQLSchema({
    query: new GraphQLObjectType({ name: "Query", fields: { ok: { type: GraphQLString } } }),
    subscription: new GraphQLObjectType({
      name: "Subscription",
      fields: {
        changed: {
          type: Change,
          resolve: (event: Event) => event,
          // An iterator whose return() ends it at once, as the event streams' do.
          subscribe: (): AsyncIterableIterator<Event> => {
            const queue: Event[] = [];
            let waiting: ((step: IteratorResult<Event>) => void) | undefined;
            const listener = (event: Event) => {
              if (waiting) {
                waiting({ value: event, done: false });
                waiting = undefined;
              } else queue.push(event);
            };
            listeners.add(listener);
            const iterator: AsyncIterableIterator<Event> = {
              next: () =>
                queue.length > 0
                  ? Promise.resolve({ value: queue.shift()!, done: false })
                  : new Promise((resolve) => (waiting = resolve)),
              return: () => {
                listeners.delete(listener);
                waiting?.({ value: undefined, done: true });
                return Promise.resolve({ value: undefined, done: true });
              },
              [Symbol.asyncIterator]: () => iterator,
            };
            return iterator;
          },
        },
      },
    }),
  });
  return {
    schema,
    push: (event: Event) => listeners.forEach((listener) => listener(event)),
    listeners: () => listeners.size,
    resolutions: () => resolutions,
  };
}

const principal = (role: Role, processPattern: string | null = null) => ({
  principal: { tokenId: 1, name: "t", role, processPattern },
});

describe("sharedSubscribe", () => {
  it("executes an event once for subscribers asking the same as the same kind of caller", async () => {
    const { schema, push, resolutions, listeners } = fixture();
    const subscribe = sharedSubscribe();
    const open = async (query: string, context: object, variableValues?: Record<string, unknown>) =>
      (await subscribe({
        schema,
        document: parse(query),
        contextValue: context,
        variableValues,
      })) as AsyncIterableIterator<ExecutionResult>;
    const same = "subscription { changed { name greeting } }";
    const streams = [
      await open(same, principal(Role.VIEWER)),
      await open(same, principal(Role.VIEWER)),
      await open(same, principal(Role.VIEWER)),
      // Asked otherwise, or by another kind of caller: an execution of its own each.
      await open("subscription($p: String) { changed { name greeting(prefix: $p) } }", principal(Role.VIEWER), {
        p: "hi",
      }),
      await open(same, principal(Role.ADMIN)),
      await open(same, principal(Role.VIEWER, "web-*")),
    ];
    // Each stream is waiting on its source before the event comes.
    const nexts = streams.map((stream) => stream.next());
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(listeners()).toBe(6);
    push({ name: "web-1" });
    const results = await Promise.all(nexts);

    expect(results.map((r) => r.value)).toEqual([
      { data: { changed: { name: "web-1", greeting: "hello web-1" } } },
      { data: { changed: { name: "web-1", greeting: "hello web-1" } } },
      { data: { changed: { name: "web-1", greeting: "hello web-1" } } },
      { data: { changed: { name: "web-1", greeting: "hi web-1" } } },
      { data: { changed: { name: "web-1", greeting: "hello web-1" } } },
      { data: { changed: { name: "web-1", greeting: "hello web-1" } } },
    ]);
    expect(resolutions()).toBe(4);

    // A subscriber that leaves ends its source at once, without waiting for an event.
    await streams[0]!.return!();
    expect(listeners()).toBe(5);
    await Promise.all(streams.slice(1).map((stream) => stream.return!()));
    expect(listeners()).toBe(0);
  });

  it("hands back the source's errors as graphql does", async () => {
    const { schema } = fixture();
    const result = await sharedSubscribe()({
      schema,
      document: parse("subscription { nothing }"),
      contextValue: principal(Role.VIEWER),
    });
    expect(result).toMatchObject({ errors: [expect.objectContaining({ message: expect.any(String) })] });
  });

  describe("fed directly by a live tap", () => {
    interface Tick {
      readonly n: number;
      /** How long its `late` field takes (ms); none: it resolves at once. */
      readonly lateMs?: number;
    }

    /**
     * A stream like the event streams: `next()` hands queued events over until the stream
     * is tapped, then every event goes to the tap. `ended` counts its return() calls.
     */
    function tickStream() {
      const queue: Tick[] = [];
      let waiting: ((step: IteratorResult<Tick>) => void) | undefined;
      let tapped: ((tick: Tick) => void) | undefined;
      let ended = 0;
      const stream: AsyncIterableIterator<Tick> & LiveTap<Tick> = {
        next: () =>
          queue.length > 0
            ? Promise.resolve({ value: queue.shift()!, done: false })
            : new Promise((resolve) => (waiting = resolve)),
        tap: (listener) => {
          if (queue.length > 0) return false;
          tapped = listener;
          return true;
        },
        return: () => {
          ended++;
          tapped = undefined;
          waiting?.({ value: undefined, done: true });
          return Promise.resolve({ value: undefined, done: true });
        },
        [Symbol.asyncIterator]: () => stream,
      };
      const push = (tick: Tick) => {
        if (tapped) tapped(tick);
        else if (waiting) {
          const resolve = waiting;
          waiting = undefined;
          resolve({ value: tick, done: false });
        } else queue.push(tick);
      };
      return { stream, push, ended: () => ended, tapped: () => tapped !== undefined };
    }

    /** `streams` gives each subscription its stream; `executed` is told of each execution. */
    function tickSchema(streams: () => AsyncIterableIterator<Tick>, executed = () => {}) {
      const Ticked = new GraphQLObjectType({
        name: "Ticked",
        fields: {
          n: { type: GraphQLString, resolve: (tick: Tick) => String(tick.n) },
          late: {
            type: GraphQLString,
            resolve: (tick: Tick) => {
              executed();
              return tick.lateMs === undefined
                ? `now ${tick.n}`
                : new Promise((resolve) => setTimeout(resolve, tick.lateMs, `late ${tick.n}`));
            },
          },
        },
      });
      return new GraphQLSchema({
        query: new GraphQLObjectType({ name: "Query", fields: { ok: { type: GraphQLString } } }),
        subscription: new GraphQLObjectType({
          name: "Subscription",
          fields: { ticked: { type: Ticked, resolve: (tick: Tick) => tick, subscribe: streams } },
        }),
      });
    }

    /** A target that records what it was sent, refusing once `room` results were taken. */
    function recordingTarget(room = Infinity) {
      const sent: ExecutionResult[] = [];
      const target: DirectTarget = {
        limit: "3 events",
        send: (result) => {
          if (sent.length >= room) return false;
          sent.push(result);
          return true;
        },
      };
      return { target, sent };
    }

    const until = async (what: string, check: () => boolean) => {
      for (let i = 0; i < 200 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
      if (!check()) throw new Error(`timed out waiting for ${what}`);
    };

    it("once nothing is queued, sends each result to the target in order, late fields or not", async () => {
      const ticks = tickStream();
      const { target, sent } = recordingTarget();
      const subscription = (await sharedSubscribe(() => target)({
        schema: tickSchema(() => ticks.stream),
        document: parse("subscription { ticked { n late } }"),
        contextValue: principal(Role.VIEWER),
      })) as AsyncIterableIterator<ExecutionResult>;

      // What is queued (a replay, say) goes through next(), as the transport asks for it.
      ticks.push({ n: 1 });
      expect((await subscription.next()).value).toEqual({ data: { ticked: { n: "1", late: "now 1" } } });
      // Asked again with nothing queued, the subscription taps the stream and waits until it ends.
      let ended = false;
      const rest = subscription.next().then((step) => ((ended = true), step));
      expect(ticks.tapped()).toBe(true);

      // A slow field holds back the results after it: they are sent in the events' order.
      ticks.push({ n: 2, lateMs: 40 });
      ticks.push({ n: 3 });
      ticks.push({ n: 4, lateMs: 5 });
      ticks.push({ n: 5 });
      await until("four results sent", () => sent.length === 4);
      expect(sent).toEqual([
        { data: { ticked: { n: "2", late: "late 2" } } },
        { data: { ticked: { n: "3", late: "now 3" } } },
        { data: { ticked: { n: "4", late: "late 4" } } },
        { data: { ticked: { n: "5", late: "now 5" } } },
      ]);
      expect(ended).toBe(false);

      // A subscriber that leaves: the stream ends and the wait on next() with it.
      await subscription.return!();
      expect(await rest).toEqual({ value: undefined, done: true });
      expect(ticks.ended()).toBe(1);
    });

    it("sends a result that comes later to all who share it, once executed, each in its own order", async () => {
      const [a, b] = [tickStream(), tickStream()];
      const streams = [a.stream, b.stream];
      let executions = 0;
      const schema = tickSchema(
        () => streams.shift()!,
        () => executions++,
      );
      const [toA, toB] = [recordingTarget(), recordingTarget()];
      const targets = [toA.target, toB.target];
      const subscribe = sharedSubscribe(() => targets.shift());
      const open = async () =>
        (await subscribe({
          schema,
          document: parse("subscription { ticked { n late } }"),
          contextValue: principal(Role.VIEWER),
        })) as AsyncIterableIterator<ExecutionResult>;
      const [first, second] = [await open(), await open()];
      const waits = [first.next(), second.next()];
      expect([a.tapped(), b.tapped()]).toEqual([true, true]);

      const [one, two, three, four] = [{ n: 1, lateMs: 30 }, { n: 2 }, { n: 3, lateMs: 5 }, { n: 4 }];
      a.push(one);
      b.push(one);
      // The second subscriber does not want this one (it replayed it, say).
      a.push(two);
      a.push(three);
      b.push(three);
      a.push(four);
      b.push(four);
      await until("every result sent", () => toA.sent.length === 4 && toB.sent.length === 3);
      const ns = (sent: ExecutionResult[]) => sent.map((r) => (r.data as { ticked: { n: string } }).ticked.n);
      expect(ns(toA.sent)).toEqual(["1", "2", "3", "4"]);
      expect(ns(toB.sent)).toEqual(["1", "3", "4"]);
      // One execution per event, whoever shares it.
      expect(executions).toBe(4);
      expect(toB.sent[0]).toBe(toA.sent[0]);

      await Promise.all([first.return!(), second.return!()]);
      expect(await Promise.all(waits)).toEqual([
        { value: undefined, done: true },
        { value: undefined, done: true },
      ]);
    });

    it("ends the subscription with SUBSCRIBER_TOO_SLOW when the target takes no more", async () => {
      const ticks = tickStream();
      const { target, sent } = recordingTarget(2);
      const subscription = (await sharedSubscribe(() => target)({
        schema: tickSchema(() => ticks.stream),
        document: parse("subscription { ticked { n } }"),
        contextValue: principal(Role.VIEWER),
      })) as AsyncIterableIterator<ExecutionResult>;
      const rest = subscription.next();
      for (const n of [2, 3, 4, 5]) ticks.push({ n });

      await expect(rest).rejects.toThrow(new SubscriberTooSlowError("3 events"));
      expect(sent).toHaveLength(2);
      expect(ticks.ended()).toBe(1);
    });

    it("leaves a subscription without a target, or whose stream cannot be tapped, to next()", async () => {
      const ticks = tickStream();
      const subscription = (await sharedSubscribe(() => undefined)({
        schema: tickSchema(() => ticks.stream),
        document: parse("subscription { ticked { n } }"),
        contextValue: principal(Role.VIEWER),
      })) as AsyncIterableIterator<ExecutionResult>;
      for (const n of [1, 2]) {
        const next = subscription.next();
        ticks.push({ n });
        expect((await next).value).toEqual({ data: { ticked: { n: String(n) } } });
      }
      expect(ticks.tapped()).toBe(false);

      // A queued event: the tap is refused and next() hands it over.
      const { target, sent } = recordingTarget();
      const queued = tickStream();
      queued.push({ n: 7 });
      const other = (await sharedSubscribe(() => target)({
        schema: tickSchema(() => queued.stream),
        document: parse("subscription { ticked { n } }"),
        contextValue: principal(Role.VIEWER),
      })) as AsyncIterableIterator<ExecutionResult>;
      expect((await other.next()).value).toEqual({ data: { ticked: { n: "7" } } });
      expect(sent).toEqual([]);
      await Promise.all([subscription.return!(), other.return!()]);
    });
  });
});
