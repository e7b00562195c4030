import type { GatewayExecutor, GatewayGraphQLRequestContext } from "@apollo/server-gateway-interface";
import {
  GraphQLError,
  GraphQLInt,
  GraphQLList,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLSchema,
  GraphQLString,
  getOperationAST,
  parse,
  type ExecutionResult,
} from "graphql";
import { describe, expect, it } from "vitest";
import { compiledQueries } from "./compiled-queries.js";

/** Long enough a list to be worth compiling. */
const MANY = Array.from({ length: 150 }, (_, i) => `n${i}`);

class Refused extends Error {
  readonly extensions = { code: "FORBIDDEN" };
}

const Item = new GraphQLObjectType({
  name: "Item",
  fields: {
    name: { type: new GraphQLNonNull(GraphQLString) },
    size: { type: GraphQLInt, resolve: (item: { name: string }) => item.name.length },
    secret: {
      type: GraphQLString,
      resolve: (item: { name: string }) => {
        throw new Refused(`no secret for ${item.name}`);
      },
    },
  },
});

let counter = 0;
const schema = new GraphQLSchema({
  query: new GraphQLObjectType({
    name: "Query",
    fields: {
      items: {
        type: new GraphQLList(Item),
        args: { prefix: { type: new GraphQLNonNull(GraphQLString) } },
        resolve: (_root, { prefix }: { prefix: string }, context: { names: string[] }) =>
          context.names.map((name) => ({ name: `${prefix}${name}` })),
      },
    },
  }),
  mutation: new GraphQLObjectType({
    name: "Mutation",
    fields: { bump: { type: GraphQLInt, resolve: () => ++counter } },
  }),
});

/** Operation names of the documents compiled by the executor last made. */
let compiles: (string | null)[] = [];

async function executorOf(): Promise<GatewayExecutor> {
  compiles = [];
  const gateway = compiledQueries(schema, {
    onCompile: (name, took) => {
      expect(took).toBe(true);
      compiles.push(name);
    },
  });
  let seen: GraphQLSchema | undefined;
  gateway.onSchemaLoadOrUpdate(({ apiSchema }) => (seen = apiSchema));
  expect(seen).toBe(schema);
  const { executor } = await gateway.load({ apollo: {} });
  return executor!;
}

/** Waits (bounded) until the executor last made has compiled `count` documents. */
async function compiled(count: number): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (compiles.length < count) {
    if (Date.now() > deadline) throw new Error(`${compiles.length} documents compiled within 5 s, not ${count}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** What Apollo hands its executor, for one document parsed once (as Apollo keeps it). */
function requestFor(
  query: string,
  variables: Record<string, unknown>,
  { operationName = null, names = MANY }: { operationName?: string | null; names?: string[] } = {},
) {
  const document = parse(query);
  return {
    document,
    operation: getOperationAST(document, operationName ?? undefined),
    operationName,
    request: { query, variables },
    context: { names },
  } as unknown as GatewayGraphQLRequestContext;
}

const plain = (result: ExecutionResult) => JSON.parse(JSON.stringify(result)) as unknown;

describe("compiled queries", () => {
  it("answer a long list, compiled from its second asking on, exactly as graphql-js answered it the first time", async () => {
    const executor = await executorOf();
    const request = requestFor(`query($p: String!) { items(prefix: $p) { name size } }`, { p: "x-" });
    const first = await executor(request);
    await compiled(1);
    const items = (first.data as { items: { name: string; size: number }[] }).items;
    expect(items).toHaveLength(MANY.length);
    expect(items.slice(0, 2)).toEqual([
      { name: "x-n0", size: 4 },
      { name: "x-n1", size: 4 },
    ]);
    for (let i = 0; i < 3; i++) expect(plain(await executor(request))).toEqual(plain(first));
    expect(compiles).toEqual([null]);
  });

  it("leave documents whose answers are short to graphql-js", async () => {
    const executor = await executorOf();
    const request = requestFor(`{ items(prefix: "") { name } }`, {}, { names: ["a", "b"] });
    for (let i = 0; i < 3; i++)
      expect(plain(await executor(request))).toEqual({ data: { items: [{ name: "a" }, { name: "b" }] } });
    expect(compiles).toEqual([]);
  });

  it("give a resolver's error as graphql-js's GraphQLError, its path and the error underneath, compiled or not", async () => {
    const executor = await executorOf();
    const request = requestFor(`{ items(prefix: "") { name secret } }`, {});
    const answers = [await executor(request)];
    await compiled(1);
    answers.push(await executor(request), await executor(request));
    expect(compiles).toEqual([null]);
    for (const answer of answers) {
      const error = answer.errors![0]!;
      expect(Object.getPrototypeOf(error)).toBe(GraphQLError.prototype);
      expect(error.originalError).toBeInstanceOf(Refused);
      expect(error.toJSON()).toEqual({
        message: "no secret for n0",
        locations: [{ line: 1, column: 28 }],
        path: ["items", 0, "secret"],
        extensions: { code: "FORBIDDEN" },
      });
      expect(answer.errors).toHaveLength(MANY.length);
      expect(answer.data).toEqual(answers[0]!.data);
    }
  });

  it("refuse a bad variable as graphql-js does, naming it, with the node Apollo needs for a 400, compiled or not", async () => {
    const executor = await executorOf();
    const query = `query($p: String!) { items(prefix: $p) { name } }`;
    const bad = requestFor(query, { p: 7 });
    // The same parsed document with another variable, as Apollo hands it over.
    const good = { ...bad, request: { query, variables: { p: "y" } } } as GatewayGraphQLRequestContext;
    for (let i = 0; i < 3; i++) {
      const answer = await executor(bad);
      expect(answer.data).toBeUndefined();
      expect(answer.errors![0]!.message).toMatch(/^Variable "\$p" got invalid value 7/);
      expect(answer.errors![0]!.nodes?.[0]?.kind).toBe("VariableDefinition");
      // A good one between: from then on, the document runs compiled.
      expect((await executor(good)).errors).toBeUndefined();
      await compiled(1);
    }
    expect(compiles).toEqual([null]);
  });

  it("run mutations, and documents with several unnamed operations, in graphql-js", async () => {
    const executor = await executorOf();
    const before = counter;
    const bump = requestFor(`mutation { bump }`, {});
    for (let i = 1; i <= 3; i++) expect((await executor(bump)).data).toEqual({ bump: before + i });
    const ambiguous = requestFor(`query A { items(prefix: "") { name } } query B { items(prefix: "") { size } }`, {});
    expect(compiles).toEqual([]);
    expect((await executor(ambiguous)).errors?.[0]?.message).toBe(
      "Must provide operation name if query contains multiple operations.",
    );
  });
});
