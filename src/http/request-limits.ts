import { ApolloArmor } from "@escape.tech/graphql-armor";

/** Requests with larger bodies (and WebSocket messages larger than this) are refused. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** Longer documents are refused before they are parsed in full. */
export const MAX_TOKENS = 2_000;

/** graphql-armor's protection: validation rules for both transports, plugins for Apollo. */
export type ArmorProtection = ReturnType<ApolloArmor["protect"]>;

/** The same depth, alias and cost limits for GraphQL over HTTP and over WebSocket. */
export function protectWithArmor(): ArmorProtection {
  return new ApolloArmor({
    maxDepth: { n: 10 },
    maxAliases: { n: 30 },
    costLimit: { maxCost: 10_000 },
    // armor's token limit re-parses in a plugin hook, which turns a syntax error into a 500;
    // graphql-js's own `maxTokens` parse option (MAX_TOKENS) does the same job with a proper 400.
    maxTokens: { enabled: false },
  }).protect();
}
