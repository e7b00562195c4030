import { printSchema, type GraphQLSchema } from "graphql";
import { buildSchema } from "type-graphql";
import { authChecker } from "./auth-checker.js";
import { AgentResolver } from "./resolvers/agent.resolver.js";
import { ControlResolver } from "./resolvers/control.resolver.js";
import { HealingResolver } from "./resolvers/healing.resolver.js";
import { IncidentResolver } from "./resolvers/incident.resolver.js";
import { ProcessEventResolver } from "./resolvers/process-event.resolver.js";
import { ProcessLogResolver } from "./resolvers/process-log.resolver.js";
import { ProcessResolver } from "./resolvers/process.resolver.js";
import { RegistryAdminResolver } from "./resolvers/registry-admin.resolver.js";
import { RolloutResolver } from "./resolvers/rollout.resolver.js";
import { SettingsResolver } from "./resolvers/settings.resolver.js";
import { TokenResolver } from "./resolvers/token.resolver.js";
import { WatchResolver } from "./resolvers/watch.resolver.js";

export const RESOLVERS = [
  ProcessResolver,
  AgentResolver,
  RegistryAdminResolver,
  TokenResolver,
  ControlResolver,
  WatchResolver,
  ProcessEventResolver,
  RolloutResolver,
  HealingResolver,
  ProcessLogResolver,
  IncidentResolver,
  SettingsResolver,
] as const;

/**
 * type-graphql insists on a pub/sub for `@Subscription`, even though Fleetvisor's only
 * subscription brings its own `subscribe` (the resumable event stream). This adapter
 * satisfies it and refuses to be used.
 */
const unusedPubSub = {
  publish(): void {
    throw new Error("subscriptions publish through the EventBus");
  },
  subscribe(): AsyncIterable<unknown> {
    throw new Error("subscriptions subscribe through EventLogService.stream");
  },
};

/** Builds the GraphQL schema from the resolvers. Pure: no services are needed. */
export async function buildFleetvisorSchema(): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers: [...RESOLVERS],
    authChecker,
    authMode: "error",
    pubSub: unusedPubSub,
    validate: false,
    emitSchemaFile: false,
  });
}

/** The SDL of the schema, as committed in schema/schema.graphql (a test compares them). */
export async function printFleetvisorSchema(): Promise<string> {
  const header = "# Generated from src/graphql by `npm run schema`. Do not edit by hand.\n\n";
  return `${header}${printSchema(await buildFleetvisorSchema())}\n`;
}
