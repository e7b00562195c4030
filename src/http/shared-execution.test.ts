import { GraphQLObjectType, GraphQLSchema, GraphQLString, parse, type ExecutionResult } from "graphql";
import { describe, expect, it } from "vitest";
import { Role } from "../domain/role.js";
import { sharedSubscribe } from "./shared-execution.js";

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
});
