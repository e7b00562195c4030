import { createHash } from "node:crypto";
import { HeaderMap, type ApolloServerPlugin, type GraphQLRequestListener, type GraphQLResponse } from "@apollo/server";
import {
  BREAK,
  Kind,
  OperationTypeNode,
  valueFromASTUntyped,
  visit,
  type DocumentNode,
  type OperationDefinitionNode,
} from "graphql";
import type { Principal } from "../auth/principal.js";
import { LruMap } from "../lru-map.js";
import type { RequestContext } from "./context.js";

/** Root fields whose observed answers (`maxAgeSeconds` > 0) callers may share. */
const SHARABLE_ROOT_FIELDS: ReadonlySet<string> = new Set(["processes", "processPage"]);
/** Fields that ask supervisord live whatever `maxAgeSeconds` says: an answer selecting one is never shared. */
const ALWAYS_LIVE_FIELDS: ReadonlySet<string> = new Set(["log"]);

/** The longest a shared answer serves. */
export const SHARE_MS = 1_000;
/** Answers kept at once (a 1,000-row `processes` answer is about half a megabyte). */
const CAPACITY = 32;

interface Shared {
  readonly data: Record<string, unknown>;
  readonly expiresAt: number;
}

export interface SharedAnswersOptions {
  /** Epoch milliseconds now. */
  readonly now?: () => number;
  /** Told of every lookup: a shared answer served, or none there. */
  readonly onLookup?: (outcome: "hit" | "miss") => void;
  /**
   * How long a caller waits for another's execution of the same operation before it runs
   * its own. @default 5_000
   */
  readonly waitMs?: number;
}

/**
 * Observed reads, shared: callers who accept what was observed (`processes` or
 * `processPage` with `maxAgeSeconds` > 0) and ask the same operation with the same
 * variables and the same token scope get one execution's answer for up to {@link SHARE_MS}.
 * Twenty dashboards on one page cost one read. {@link changed} (any process event this
 * replica records or receives, any live answer it stores) ends every shared answer at
 * once, so a change made through Fleetvisor, or one the poller sees, shows in the next
 * read; a shared answer also ends when the oldest supervisord observation in it reaches
 * `maxAgeSeconds`. What is not news (heartbeat times, uptimes a poll refreshes) may lag by
 * up to {@link SHARE_MS}. Answers with errors are never shared.
 */
export class SharedAnswers {
  private generation = 0;
  private readonly answers = new LruMap<string, Shared>(CAPACITY);
  /** Executions under way, by key: callers asking the same meanwhile wait for their answer. */
  private readonly underWay = new Map<string, Promise<Shared | null>>();
  private readonly now: () => number;

  constructor(private readonly options: SharedAnswersOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  /** A process changed: nothing shared before answers again, and nobody waits for an answer begun before. */
  changed(): void {
    this.generation++;
    this.answers.clear();
    this.underWay.clear();
  }

  /** Answers shared now. */
  get size(): number {
    return this.answers.size;
  }

  plugin(): ApolloServerPlugin<RequestContext> {
    return { requestDidStart: async () => this.listener() };
  }

  private listener(): GraphQLRequestListener<RequestContext> {
    let key: string | undefined;
    let maxAgeMs = 0;
    let generation = -1;
    let finish: ((shared: Shared | null) => void) | undefined;
    const hit = (shared: Shared): GraphQLResponse => {
      this.options.onLookup?.("hit");
      return {
        http: { status: undefined, headers: new HeaderMap() },
        body: { kind: "single", singleResult: { data: shared.data } },
      };
    };
    return {
      responseForOperation: async ({ operation, document, request, queryHash, contextValue }) => {
        const maxAgeSeconds = sharableMaxAge(operation, document, request.variables ?? {});
        if (maxAgeSeconds === null) return null;
        key = keyOf(queryHash, request.operationName, request.variables, contextValue.principal);
        const shared = this.answers.get(key);
        if (shared && shared.expiresAt > this.now()) return hit(shared);
        // Nothing changed since that execution began: its answer is as new as one begun now.
        const underWay = this.underWay.get(key);
        if (underWay) {
          const answer = await within(underWay, this.options.waitMs ?? WAIT_MS);
          if (answer) return hit(answer);
          // Never finished (or not sharable): the next caller executes instead of waiting too.
          if (this.underWay.get(key) === underWay) this.underWay.delete(key);
        }
        this.options.onLookup?.("miss");
        maxAgeMs = maxAgeSeconds * 1000;
        generation = this.generation;
        if (!underWay) {
          const execution = new Promise<Shared | null>((resolve) => (finish = resolve));
          this.underWay.set(key, execution);
          void execution.then(() => {
            if (this.underWay.get(key!) === execution) this.underWay.delete(key!);
          });
        }
        return null;
      },
      willSendResponse: async ({ response, contextValue }) => {
        if (!finish) return;
        const shared = sharable(response, contextValue, maxAgeMs, this.now());
        // A change since the execution began may not be in its answer: it is not kept.
        if (shared && generation === this.generation) {
          // What expired goes now, not when newer answers push it out: a list can be large.
          const now = this.now();
          this.answers.deleteWhere((answer) => answer.expiresAt <= now);
          this.answers.set(key!, shared);
        }
        finish(shared);
      },
    };
  }
}

const WAIT_MS = 5_000;

/** What `promise` resolves to, or `null` after `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<null>((resolve) => (timer = setTimeout(resolve, ms, null)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** A response as a shared answer: data without errors, until it is too old to serve. */
function sharable(response: GraphQLResponse, context: RequestContext, maxAgeMs: number, now: number): Shared | null {
  if (response.body.kind !== "single") return null;
  const { data, errors } = response.body.singleResult;
  if (!data || (errors && errors.length > 0)) return null;
  if (response.http.status !== undefined && response.http.status !== 200) return null;
  const oldest = context.loaders.oldestObservation.at;
  const expiresAt = Math.min(now + SHARE_MS, oldest === null ? Infinity : oldest.getTime() + maxAgeMs);
  return expiresAt > now ? { data, expiresAt } : null;
}

/**
 * The smallest `maxAgeSeconds` the operation passes when every root field it selects is a
 * sharable observed read with `maxAgeSeconds` > 0 and nothing under them is always live;
 * `null` otherwise.
 */
export function sharableMaxAge(
  operation: OperationDefinitionNode | undefined,
  document: DocumentNode | undefined,
  variables: Readonly<Record<string, unknown>>,
): number | null {
  if (!operation || !document || operation.operation !== OperationTypeNode.QUERY) return null;
  const defaults = new Map(
    (operation.variableDefinitions ?? []).map((d) => [
      d.variable.name.value,
      d.defaultValue ? valueFromASTUntyped(d.defaultValue) : undefined,
    ]),
  );
  let smallest: number | null = null;
  for (const selection of operation.selectionSet.selections) {
    if (selection.kind !== Kind.FIELD || !SHARABLE_ROOT_FIELDS.has(selection.name.value)) return null;
    const argument = selection.arguments?.find((a) => a.name.value === "maxAgeSeconds");
    if (!argument) return null;
    const value =
      argument.value.kind === Kind.VARIABLE
        ? (variables[argument.value.name.value] ?? defaults.get(argument.value.name.value))
        : valueFromASTUntyped(argument.value);
    if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) return null;
    smallest = smallest === null ? value : Math.min(smallest, value);
  }
  if (smallest === null) return null;
  // Fragments anywhere in the document may be spread under the root fields.
  let alwaysLive = false;
  visit(document, {
    Field(node) {
      if (ALWAYS_LIVE_FIELDS.has(node.name.value)) {
        alwaysLive = true;
        return BREAK;
      }
      return undefined;
    },
  });
  return alwaysLive ? null : smallest;
}

/** Who may share an answer: the same operation and variables, read with the same role and process pattern. */
function keyOf(
  queryHash: string | undefined,
  operationName: string | undefined,
  variables: Readonly<Record<string, unknown>> | undefined,
  principal: Principal,
): string {
  return createHash("sha256")
    .update(
      JSON.stringify([
        queryHash ?? null,
        operationName ?? null,
        variables ?? null,
        principal.role,
        principal.processPattern,
      ]),
    )
    .digest("base64url");
}
