import { readFileSync } from "node:fs";
import type { GraphQLEnumType, GraphQLField, GraphQLObjectType } from "graphql";
import { describe, expect, it } from "vitest";
import { buildFleetvisorSchema, printFleetvisorSchema } from "./schema.js";

describe("schema/schema.graphql", () => {
  it("is what the resolvers build (run `npm run schema` after changing them)", async () => {
    const committed = readFileSync(new URL("../../schema/schema.graphql", import.meta.url), "utf8");
    expect(await printFleetvisorSchema()).toBe(committed);
  });

  it("has the contract's operations, arguments in the contract's order", async () => {
    const schema = await buildFleetvisorSchema();
    const signature = (type: GraphQLObjectType | null | undefined, name: string): string => {
      const field = type?.getFields()[name] as GraphQLField<unknown, unknown> | undefined;
      if (!field) return `${name}: missing`;
      const args = field.args.map((a) => `${a.name}: ${a.type.toString()}`).join(", ");
      return `${name}(${args}): ${field.type.toString()}`;
    };
    const query = schema.getQueryType();
    const mutation = schema.getMutationType();
    expect([signature(query, "processes"), signature(query, "process"), signature(query, "processPage")]).toEqual([
      "processes(filter: ProcessFilter, maxAgeSeconds: Int!): [Process!]!",
      "process(name: String!, maxAgeSeconds: Int!): Process",
      "processPage(filter: ProcessFilter, first: Int!, after: String, maxAgeSeconds: Int!): ProcessPage!",
    ]);
    expect(
      [
        "registerProcess",
        "heartbeat",
        "deregisterProcess",
        "createProcess",
        "updateProcess",
        "deleteProcess",
        "createApiToken",
        "revokeApiToken",
      ].map((name) => signature(mutation, name)),
    ).toEqual([
      "registerProcess(name: String!, pid: Int!): Registration!",
      "heartbeat(name: String!, pid: Int!): HeartbeatAck!",
      "deregisterProcess(name: String!): Process!",
      "createProcess(input: CreateProcessInput!): Process!",
      "updateProcess(name: String!, input: UpdateProcessInput!): Process!",
      "deleteProcess(name: String!): Process!",
      "createApiToken(input: CreateApiTokenInput!): NewApiToken!",
      "revokeApiToken(id: ID!): ApiToken!",
    ]);
    expect(signature(query, "events")).toBe(
      "events(after: ID, before: ID, processName: String, kinds: [ProcessEventKind!], actor: String, first: Int, " +
        "actorTokenId: ID): [ProcessEvent!]!",
    );
    expect(signature(schema.getSubscriptionType(), "processChanged")).toBe(
      "processChanged(names: [String!], kinds: [ProcessEventKind!], after: ID): ProcessEvent!",
    );
    const registration = schema.getType("Registration") as GraphQLObjectType;
    expect(Object.keys(registration.getFields())).toEqual(["process", "port", "heartbeatIntervalSeconds"]);
    const ack = schema.getType("HeartbeatAck") as GraphQLObjectType;
    expect(Object.keys(ack.getFields())).toEqual(
      expect.arrayContaining(["ok", "serverTime", "nextHeartbeatInSeconds"]),
    );
    const event = schema.getType("ProcessEvent") as GraphQLObjectType;
    expect(Object.keys(event.getFields())).toEqual(
      expect.arrayContaining(["id", "kind", "processName", "at", "actor", "message", "process"]),
    );
  });

  it("has the rollouts' operations and the shape the rollouts issue lists", async () => {
    const schema = await buildFleetvisorSchema();
    const field = (type: GraphQLObjectType | null | undefined, name: string) => {
      const found = type?.getFields()[name];
      return found ? `${name}(${found.args.map((a) => `${a.name}: ${a.type}`).join(", ")}): ${found.type}` : name;
    };
    expect([
      field(schema.getMutationType(), "startRollout"),
      field(schema.getMutationType(), "cancelRollout"),
      field(schema.getQueryType(), "rollout"),
      field(schema.getQueryType(), "rollouts"),
      field(schema.getSubscriptionType(), "rolloutChanged"),
    ]).toEqual([
      "startRollout(input: RolloutInput!): Rollout!",
      "cancelRollout(id: ID!): Rollout!",
      "rollout(id: ID!): Rollout!",
      "rollouts(first: Int!, after: ID): RolloutPage!",
      "rolloutChanged(id: ID!): Rollout!",
    ]);
    expect(field(schema.getMutationType(), "reconcile")).toMatch(/^reconcile\(filter: ProcessFilter, .*\): Rollout!$/);
    const fields = (name: string) => Object.keys((schema.getType(name) as GraphQLObjectType).getFields());
    expect(fields("Rollout")).toEqual(
      expect.arrayContaining([
        "id",
        "action",
        "state",
        "maxUnavailable",
        "createdBy",
        "createdAt",
        "finishedAt",
        "steps",
      ]),
    );
    expect(fields("RolloutStep")).toEqual(
      expect.arrayContaining([
        "processName",
        "supervisorHost",
        "supervisorPort",
        "outcome",
        "startedAt",
        "finishedAt",
        "error",
      ]),
    );
    expect(fields("Process")).toEqual(expect.arrayContaining(["desiredState", "drift"]));
  });

  it("has the healing and live-log operations the issue names", async () => {
    const schema = await buildFleetvisorSchema();
    const field = (type: GraphQLObjectType | null | undefined, name: string) => {
      const found = type?.getFields()[name];
      return found ? `${name}(${found.args.map((a) => `${a.name}: ${a.type}`).join(", ")}): ${found.type}` : name;
    };
    expect([
      field(schema.getMutationType(), "setHealingPolicy"),
      field(schema.getMutationType(), "clearQuarantine"),
      field(schema.getQueryType(), "healingPolicies"),
      field(schema.getSubscriptionType(), "processLog"),
    ]).toEqual([
      "setHealingPolicy(input: HealingPolicyInput!): HealingPolicy!",
      "clearQuarantine(name: String!): Process!",
      "healingPolicies(): [HealingPolicy!]!",
      "processLog(name: String!, stream: LogStream!, fromOffset: Int): LogChunk!",
    ]);
    const fields = (name: string) => Object.keys((schema.getType(name) as GraphQLObjectType).getFields());
    expect(fields("HealingPolicy")).toEqual(
      expect.arrayContaining([
        "namePattern",
        "restartWhenUnresponsiveAfterSeconds",
        "graceAfterStartSeconds",
        "maxRestarts",
        "perSeconds",
      ]),
    );
    expect(fields("LogChunk")).toEqual(expect.arrayContaining(["text", "offset", "overflow", "rotated", "message"]));
    expect(fields("Process")).toContain("quarantined");
    const kinds = (schema.getType("ProcessEventKind") as GraphQLEnumType).getValues().map((v) => v.name);
    expect(kinds).toEqual(expect.arrayContaining(["QUARANTINED", "QUARANTINE_CLEARED"]));
  });

  it("has the incidents' operations and the shape the incidents issue lists", async () => {
    const schema = await buildFleetvisorSchema();
    const field = (type: GraphQLObjectType | null | undefined, name: string) => {
      const found = type?.getFields()[name];
      return found ? `${name}(${found.args.map((a) => `${a.name}: ${a.type}`).join(", ")}): ${found.type}` : name;
    };
    expect([
      field(schema.getQueryType(), "incidents"),
      field(schema.getMutationType(), "acknowledgeIncident"),
      field(schema.getMutationType(), "createSilence"),
      field(schema.getMutationType(), "expireSilence"),
      field(schema.getQueryType(), "silences"),
      field(schema.getSubscriptionType(), "incidentChanged"),
    ]).toEqual([
      "incidents(state: IncidentStateFilter!, first: Int!, after: ID): [Incident!]!",
      "acknowledgeIncident(id: ID!, note: String): Incident!",
      "createSilence(input: SilenceInput!): Silence!",
      "expireSilence(id: ID!): Silence!",
      "silences(includeExpired: Boolean!): [Silence!]!",
      "incidentChanged(): Incident!",
    ]);
    const fields = (name: string) => Object.keys((schema.getType(name) as GraphQLObjectType).getFields());
    expect(fields("Incident")).toEqual(
      expect.arrayContaining([
        "id",
        "kind",
        "processName",
        "supervisorHost",
        "supervisorPort",
        "state",
        "occurrences",
        "openedAt",
        "lastSeenAt",
        "resolvedAt",
        "acknowledgedBy",
        "acknowledgedAt",
        "note",
        "silenced",
      ]),
    );
    const values = (name: string) => (schema.getType(name) as GraphQLEnumType).getValues().map((v) => v.name);
    expect(values("IncidentKind")).toEqual([
      "HEARTBEAT_LOST",
      "PROCESS_CRASHED",
      "SUPERVISOR_UNREACHABLE",
      "DRIFT",
      "FLAPPING",
      "QUARANTINED",
    ]);
    expect(values("IncidentState")).toEqual(["OPEN", "RESOLVED"]);
    expect(values("ProcessEventKind")).toEqual(
      expect.arrayContaining(["QUARANTINED", "QUARANTINE_CLEARED", "INCIDENT_CHANGED"]),
    );
  });
});
