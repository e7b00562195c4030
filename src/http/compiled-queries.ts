import type { GatewayExecutor, GatewayInterface } from "@apollo/server-gateway-interface";
import {
  execute,
  getVariableValues,
  GraphQLError,
  OperationTypeNode,
  type DocumentNode,
  type ExecutionResult,
  type GraphQLFormattedError,
  type GraphQLSchema,
} from "graphql";
import { compileQuery, isCompiledQuery, type CompiledQuery } from "graphql-jit";

/**
 * Compiling costs more than executing once (a few milliseconds): a document is compiled
 * the second time it is asked, so that one-off queries (an operator's console, hostile
 * input) never pay for it, and the queries of clients, asked again and again, do.
 */
const COMPILE_AT = 2;

/**
 * Queries executed by graphql-jit: a document asked again is compiled into a function that
 * completes the selection without graphql-js's generic per-field work. A list of a
 * thousand processes is some ten thousand field resolutions; compiled, completing them
 * costs a fraction of what it did (bench/observed-query).
 *
 * Handed to Apollo as its executor (the `gateway` seam is the only one it offers): Apollo
 * still parses, validates (graphql-armor's rules, introspection off in production),
 * formats errors and runs the plugins. Only queries are compiled; mutations, and any
 * document graphql-jit will not compile, run in graphql-js as before. Variables are coerced
 * by graphql-js first, so that a bad one is answered exactly as before (400,
 * `BAD_USER_INPUT`, naming the variable).
 */
export function compiledQueries(schema: GraphQLSchema): GatewayInterface {
  /**
   * By parsed document (Apollo keeps one per query text), then by operation name: how often
   * it ran in graphql-js, then its compiled form (null when graphql-jit declined it).
   */
  const compiled = new WeakMap<DocumentNode, Map<string, number | CompiledQuery | null>>();

  /** The compiled query, once the document is asked for the COMPILE_AT-th time. */
  const compiledFor = (document: DocumentNode, operationName: string | null): CompiledQuery | null => {
    let byName = compiled.get(document);
    if (!byName) {
      byName = new Map();
      compiled.set(document, byName);
    }
    const key = operationName ?? "";
    const known = byName.get(key) ?? 0;
    if (typeof known !== "number") return known;
    if (known + 1 < COMPILE_AT) {
      byName.set(key, known + 1);
      return null;
    }
    const result = compileQuery(schema, document, operationName ?? undefined);
    const query = isCompiledQuery(result) ? result : null;
    byName.set(key, query);
    return query;
  };

  const executor: GatewayExecutor = async ({ document, operation, operationName, request, context }) => {
    const variableValues = request.variables ?? {};
    const inGraphqlJs = () =>
      execute({ schema, document, operationName, variableValues, contextValue: context }) as Promise<ExecutionResult>;
    // No operation: several in the document and none named; graphql-js's error says which.
    if (operation?.operation !== OperationTypeNode.QUERY) return inGraphqlJs();
    const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], variableValues);
    if (coerced.errors) return { errors: coerced.errors };
    const query = compiledFor(document, operationName);
    if (!query) return inGraphqlJs();
    const result = await query.query(undefined, context, variableValues);
    return result.errors ? { ...result, errors: result.errors.map(asGraphQLError) } : result;
  };

  return {
    // The schema never changes while the server runs: Apollo is told it once.
    onSchemaLoadOrUpdate(callback) {
      callback({ apiSchema: schema, coreSupergraphSdl: "" });
      return () => undefined;
    },
    load: () => Promise.resolve({ executor }),
    stop: () => Promise.resolve(),
  };
}

/**
 * graphql-jit's errors pass `instanceof GraphQLError` but are not graphql-js's class (no
 * `toJSON`, no `extensions` object when the resolver's error had none): Apollo would then
 * answer INTERNAL_SERVER_ERROR, and the error formatter would not find the application
 * error (its code, its HTTP status) underneath. Rebuilt as graphql-js's, with the same
 * message, path, locations and resolver error.
 */
function asGraphQLError(error: GraphQLFormattedError & { originalError?: unknown }): GraphQLError {
  const original = error.originalError;
  if (original === undefined && error instanceof GraphQLError && typeof error.toJSON === "function") return error;
  const converted = new GraphQLError(error.message, {
    path: error.path,
    originalError: original instanceof Error ? original : undefined,
    extensions: error.extensions,
  });
  if (error.locations) Object.defineProperty(converted, "locations", { value: error.locations, enumerable: true });
  return converted;
}
