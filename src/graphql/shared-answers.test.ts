import { getOperationAST, parse } from "graphql";
import { describe, expect, it } from "vitest";
import { SharedAnswers, sharableMaxAge } from "./shared-answers.js";

function maxAgeOf(query: string, variables: Record<string, unknown> = {}): number | null {
  const document = parse(query);
  return sharableMaxAge(getOperationAST(document) ?? undefined, document, variables);
}

describe("which operations may share an answer", () => {
  it("an observed processes or processPage read, with maxAgeSeconds as a literal, a variable or its default", () => {
    expect(maxAgeOf(`{ processes(maxAgeSeconds: 30) { name } }`)).toBe(30);
    expect(
      maxAgeOf(`query($age: Int!) { processPage(first: 10, maxAgeSeconds: $age) { nodes { name } } }`, { age: 7 }),
    ).toBe(7);
    expect(maxAgeOf(`query($age: Int = 12) { p: processPage(maxAgeSeconds: $age) { totalCount } }`)).toBe(12);
  });

  it("several sharable root fields: the smallest age", () => {
    expect(
      maxAgeOf(`{ a: processes(maxAgeSeconds: 30) { name } b: processPage(maxAgeSeconds: 4) { totalCount } }`),
    ).toBe(4);
  });

  it("not a live read (no age, or 0), nor any other root field beside it", () => {
    expect(maxAgeOf(`{ processes { name } }`)).toBeNull();
    expect(maxAgeOf(`query($age: Int!) { processes(maxAgeSeconds: $age) { name } }`, { age: 0 })).toBeNull();
    expect(maxAgeOf(`{ processes(maxAgeSeconds: 30) { name } settings { heartbeatStaleSeconds } }`)).toBeNull();
    expect(maxAgeOf(`{ process(name: "a", maxAgeSeconds: 30) { name } }`)).toBeNull();
    expect(maxAgeOf(`{ ...F } fragment F on Query { processes(maxAgeSeconds: 30) { name } }`)).toBeNull();
  });

  it("not an answer that reads a log, directly or through a fragment", () => {
    expect(maxAgeOf(`{ processes(maxAgeSeconds: 30) { name log { text } } }`)).toBeNull();
    expect(
      maxAgeOf(
        `{ processPage(maxAgeSeconds: 30) { nodes { ...L } } } fragment L on Process { log(bytes: 10) { text } }`,
      ),
    ).toBeNull();
  });

  it("not a mutation, nor a value that is not a positive whole number", () => {
    expect(maxAgeOf(`mutation { processes(maxAgeSeconds: 30) { name } }`)).toBeNull();
    expect(maxAgeOf(`query($age: Int) { processes(maxAgeSeconds: $age) { name } }`, { age: "30" })).toBeNull();
    expect(maxAgeOf(`query($age: Int) { processes(maxAgeSeconds: $age) { name } }`)).toBeNull();
  });
});

/** One request through the plugin's hooks, as Apollo calls them; `execute` stands for graphql-js. */
async function ask(
  shared: SharedAnswers,
  options: {
    readonly query?: string;
    readonly role?: string;
    readonly pattern?: string | null;
    readonly oldestObservation?: Date | null;
    readonly execute?: () => Promise<{ data?: Record<string, unknown>; errors?: unknown[] }>;
  } = {},
): Promise<{ data: unknown; executed: boolean }> {
  const query = options.query ?? `{ processPage(maxAgeSeconds: 10) { totalCount } }`;
  const document = parse(query);
  const listener = await shared.plugin().requestDidStart!({} as never);
  const context = {
    principal: { role: options.role ?? "ADMIN", processPattern: options.pattern ?? null },
    loaders: { oldestObservation: { at: options.oldestObservation ?? null } },
  };
  const request = {
    operation: getOperationAST(document),
    document,
    request: { variables: {} },
    queryHash: query,
    contextValue: context,
  };
  const early = await listener!.responseForOperation!(request as never);
  if (early && early.body.kind === "single") return { data: early.body.singleResult.data, executed: false };
  const result = await (options.execute ?? (async () => ({ data: { n: Math.random() } })))();
  const response = { http: { status: undefined }, body: { kind: "single", singleResult: result } };
  await listener!.willSendResponse!({ response, contextValue: context } as never);
  return { data: result.data, executed: true };
}

describe("shared answers", () => {
  it("the same read within a second is answered once; after a change, or after a second, it runs again", async () => {
    let now = 1_000_000;
    const shared = new SharedAnswers({ now: () => now });
    const first = await ask(shared);
    const second = await ask(shared);
    expect(first.executed).toBe(true);
    expect(second).toEqual({ data: first.data, executed: false });
    shared.changed();
    const afterChange = await ask(shared);
    expect(afterChange.executed).toBe(true);
    now += 999;
    expect((await ask(shared)).executed).toBe(false);
    now += 2;
    expect((await ask(shared)).executed).toBe(true);
  });

  it("callers asking while one executes wait for its answer instead of executing too", async () => {
    const shared = new SharedAnswers();
    let release!: () => void;
    const slow = ask(shared, {
      execute: () => new Promise((resolve) => (release = () => resolve({ data: { n: "the one" } }))),
    });
    await new Promise((resolve) => setImmediate(resolve));
    const waiting = Array.from({ length: 5 }, () => ask(shared));
    release();
    const answers = await Promise.all([slow, ...waiting]);
    expect(answers.map((a) => a.data)).toEqual(Array(6).fill({ n: "the one" }));
    expect(answers.filter((a) => a.executed)).toHaveLength(1);
  });

  it("an execution that never finishes holds a waiting caller back no longer than the wait, and the next one not at all", async () => {
    const shared = new SharedAnswers({ waitMs: 50 });
    void ask(shared, { execute: () => new Promise(() => undefined) });
    await new Promise((resolve) => setImmediate(resolve));
    const waited = await ask(shared, { execute: async () => ({ data: { n: "own" } }) });
    expect(waited).toEqual({ data: { n: "own" }, executed: true });
    // The next caller leads again: its answer is the one kept for the callers after it.
    const next = await ask(shared, { execute: async () => ({ data: { n: "next" } }) });
    expect(next).toEqual({ data: { n: "next" }, executed: true });
    expect(await ask(shared)).toEqual({ data: { n: "next" }, executed: false });
  });

  it("an answer begun before a change is not kept for later callers", async () => {
    const shared = new SharedAnswers();
    let release!: () => void;
    const slow = ask(shared, {
      execute: () => new Promise((resolve) => (release = () => resolve({ data: { n: "before" } }))),
    });
    await new Promise((resolve) => setImmediate(resolve));
    shared.changed();
    release();
    await slow;
    expect(shared.size).toBe(0);
    const later = await ask(shared, { execute: async () => ({ data: { n: "after" } }) });
    expect(later).toEqual({ data: { n: "after" }, executed: true });
  });

  it("is not shared across token scopes, nor when it has errors", async () => {
    const shared = new SharedAnswers();
    await ask(shared, { execute: async () => ({ data: { n: "admin" } }) });
    const bound = await ask(shared, {
      role: "VIEWER",
      pattern: "web-*",
      execute: async () => ({ data: { n: "web" } }),
    });
    expect(bound).toEqual({ data: { n: "web" }, executed: true });
    const query = `{ processes(maxAgeSeconds: 5) { name } }`;
    await ask(shared, { query, execute: async () => ({ data: { n: 1 }, errors: [{ message: "down" }] }) });
    expect((await ask(shared, { query })).executed).toBe(true);
  });

  it("keeps no expired answer once another is kept", async () => {
    let now = 1_000_000;
    const shared = new SharedAnswers({ now: () => now });
    await ask(shared);
    now += 1_500;
    await ask(shared, { query: `{ processes(maxAgeSeconds: 5) { name } }` });
    expect(shared.size).toBe(1);
  });

  it("ends when the oldest observation in it reaches maxAgeSeconds, even within the second", async () => {
    let now = 1_000_000;
    const shared = new SharedAnswers({ now: () => now });
    // maxAgeSeconds 10; the oldest observation is 9.7 s old: 300 ms left.
    await ask(shared, { oldestObservation: new Date(now - 9_700) });
    now += 299;
    expect((await ask(shared)).executed).toBe(false);
    now += 2;
    expect((await ask(shared)).executed).toBe(true);
  });
});
