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

async function executorOf(): Promise<GatewayExecutor> {
  const gateway = compiledQueries(schema);
  let seen: GraphQLSchema | undefined;
  gateway.onSchemaLoadOrUpdate(({ apiSchema }) => (seen = apiSchema));
  expect(seen).toBe(schema);
  const { executor } = await gateway.load({ apollo: {} });
  return executor!;
}

/** What Apollo hands its executor, for one document parsed once (as Apollo keeps it). */
function requestFor(query: string, variables: Record<string, unknown>, operationName: string | null = null) {
  const document = parse(query);
  return {
    document,
    operation: getOperationAST(document, operationName ?? undefined),
    operationName,
    request: { query, variables },
    context: { names: ["a", "bb", "ccc"] },
  } as unknown as GatewayGraphQLRequestContext;
}

const plain = (result: ExecutionResult) => JSON.parse(JSON.stringify(result)) as unknown;

describe("compiled queries", () => {
  it("answer a query asked again and again exactly as graphql-js answered it the first time", async () => {
    const executor = await executorOf();
    const request = requestFor(`query($p: String!) { items(prefix: $p) { name size } }`, { p: "x-" });
    const first = await executor(request);
    expect(plain(first)).toEqual({
      data: {
        items: [
          { name: "x-a", size: 3 },
          { name: "x-bb", size: 4 },
          { name: "x-ccc", size: 5 },
        ],
      },
    });
    for (let i = 0; i < 3; i++) expect(plain(await executor(request))).toEqual(plain(first));
  });

  it("give a resolver's error as graphql-js's GraphQLError, its path and the error underneath, compiled or not", async () => {
    const executor = await executorOf();
    const request = requestFor(`{ items(prefix: "") { name secret } }`, {});
    const answers = [await executor(request), await executor(request), await executor(request)];
    for (const answer of answers) {
      const error = answer.errors![0]!;
      expect(Object.getPrototypeOf(error)).toBe(GraphQLError.prototype);
      expect(error.originalError).toBeInstanceOf(Refused);
      expect(error.toJSON()).toEqual({
        message: "no secret for a",
        locations: [{ line: 1, column: 28 }],
        path: ["items", 0, "secret"],
        extensions: { code: "FORBIDDEN" },
      });
      expect(answer.errors).toHaveLength(3);
      expect(answer.data).toEqual(answers[0]!.data);
    }
  });

  it("refuse a bad variable as graphql-js does, naming it, with the node Apollo needs for a 400", async () => {
    const executor = await executorOf();
    const request = requestFor(`query($p: String!) { items(prefix: $p) { name } }`, { p: 7 });
    for (let i = 0; i < 3; i++) {
      const answer = await executor(request);
      expect(answer.data).toBeUndefined();
      expect(answer.errors![0]!.message).toMatch(/^Variable "\$p" got invalid value 7/);
      expect(answer.errors![0]!.nodes?.[0]?.kind).toBe("VariableDefinition");
    }
  });

  it("run mutations, and documents with several unnamed operations, in graphql-js", async () => {
    const executor = await executorOf();
    const before = counter;
    const bump = requestFor(`mutation { bump }`, {});
    for (let i = 1; i <= 3; i++) expect((await executor(bump)).data).toEqual({ bump: before + i });
    const ambiguous = requestFor(`query A { items(prefix: "") { name } } query B { items(prefix: "") { size } }`, {});
    expect((await executor(ambiguous)).errors?.[0]?.message).toBe(
      "Must provide operation name if query contains multiple operations.",
    );
  });
});
