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
import type { CompiledQuery } from "graphql-jit";

/**
 * A document is compiled once an answer to it held a list of at least this many items (at
 * the top or one level down, as `processPage`'s `nodes`): what graphql-jit saves is
 * per-field work, which only long lists have much of. A compile costs a few milliseconds
 * and each document's compiled form is kept; small answers are served by graphql-js as
 * fast, so the documents of small answers (one process, `me`, a page of ten) never pay.
 */
const LONG_LIST = 100;

/**
 * Queries executed by graphql-jit: a document whose answers are long lists is compiled
 * into a function that completes the selection without graphql-js's generic per-field
 * work. A list of a thousand processes is some ten thousand field resolutions; compiled,
 * completing them costs a fraction of what it did (bench/observed-query).
 *
 * Handed to Apollo as its executor (the `gateway` seam is the only one it offers): Apollo
 * still parses, validates (graphql-armor's rules, introspection off in production),
 * formats errors and runs the plugins. Only queries are compiled; mutations, and any
 * document graphql-jit will not compile, run in graphql-js as before. Variables are coerced
 * by graphql-js first, so that a bad one is answered exactly as before (400,
 * `BAD_USER_INPUT`, naming the variable).
 */
export function compiledQueries(
  schema: GraphQLSchema,
  options: {
    /** Told of each document compiled (whether graphql-jit took it), and of its operation. */
    readonly onCompile?: (operationName: string | null, took: boolean) => void;
  } = {},
): GatewayInterface {
  /**
   * By parsed document (Apollo keeps one per query text), then by operation name: its
   * compiled form once it is worth compiling (null while it compiles, or when graphql-jit
   * declined it).
   */
  const compiled = new WeakMap<DocumentNode, Map<string, CompiledQuery | null>>();

  const compiledFor = (document: DocumentNode, operationName: string | null): CompiledQuery | null | undefined =>
    compiled.get(document)?.get(operationName ?? "");

  /** Compiles in the background; the document's next asking runs compiled if it is ready. */
  const compile = (document: DocumentNode, operationName: string | null): void => {
    let byName = compiled.get(document);
    if (!byName) {
      byName = new Map();
      compiled.set(document, byName);
    }
    const key = operationName ?? "";
    if (byName.has(key)) return;
    byName.set(key, null);
    void jit()
      .then(({ compileQuery, isCompiledQuery }) => {
        const result = compileQuery(schema, document, operationName ?? undefined);
        return isCompiledQuery(result) ? result : null;
      })
      // A document graphql-jit cannot compile (or cannot load for) stays with graphql-js.
      .catch(() => null)
      .then((query) => {
        byName.set(key, query);
        options.onCompile?.(operationName, query !== null);
      });
  };

  const executor: GatewayExecutor = async ({ document, operation, operationName, request, context }) => {
    const variableValues = request.variables ?? {};
    const inGraphqlJs = () =>
      execute({ schema, document, operationName, variableValues, contextValue: context }) as Promise<ExecutionResult>;
    // No operation: several in the document and none named; graphql-js's error says which.
    if (operation?.operation !== OperationTypeNode.QUERY) return inGraphqlJs();
    const query = compiledFor(document, operationName);
    if (!query) {
      const result = await inGraphqlJs();
      if (query === undefined && holdsLongList(result.data)) compile(document, operationName);
      return result;
    }
    const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], variableValues);
    if (coerced.errors) return { errors: coerced.errors };
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
 * graphql-jit, loaded when a first document is worth compiling: it brings a JSON schema
 * compiler along, a tenth of a second of a start that most replicas' queries never need.
 */
let jitModule: Promise<typeof import("graphql-jit")> | undefined;
const jit = (): Promise<typeof import("graphql-jit")> => (jitModule ??= import("graphql-jit"));

/** Whether an answer holds a list of at least LONG_LIST items at its top or one level down. */
function holdsLongList(data: unknown): boolean {
  if (typeof data !== "object" || data === null) return false;
  return Object.values(data).some(
    (value) =>
      (Array.isArray(value) && value.length >= LONG_LIST) ||
      (typeof value === "object" &&
        value !== null &&
        Object.values(value).some((inner) => Array.isArray(inner) && inner.length >= LONG_LIST)),
  );
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
