import {
  Arg,
  Args,
  Authorized,
  Ctx,
  Mutation,
  Query,
  Resolver,
  Root,
  Subscription,
  type SubscribeResolverData,
} from "type-graphql";
import { Role } from "../../domain/role.js";
import type { Incident as IncidentRecord } from "../../incident/incident.js";
import type { Silence as SilenceRecord } from "../../incident/silence.service.js";
import type { RequestContext } from "../context.js";
import {
  AcknowledgeIncidentArgs,
  IncidentsArgs,
  SilenceIdArgs,
  SilenceInput,
  SilencesArgs,
} from "../types/incident.inputs.js";
import { Incident, Silence } from "../types/incident.types.js";

type SubscribeData = SubscribeResolverData<unknown, Record<string, never>, RequestContext>;

@Resolver(() => Incident)
export class IncidentResolver {
  @Authorized(Role.VIEWER)
  @Query(() => [Incident], {
    description: "Incidents, newest first (OPEN by default). A token bound to a pattern sees only its processes'.",
  })
  incidents(
    @Ctx() { services, principal }: RequestContext,
    @Args(() => IncidentsArgs) { state, first, after }: IncidentsArgs,
  ): Promise<IncidentRecord[]> {
    return services.incidents.list({ state, first, after: after ?? null }, principal);
  }

  @Authorized(Role.OPERATOR)
  @Mutation(() => Incident, { description: "Records who acknowledged the incident, when, and the note." })
  acknowledgeIncident(
    @Ctx() { services, principal }: RequestContext,
    @Args(() => AcknowledgeIncidentArgs) { id, note }: AcknowledgeIncidentArgs,
  ): Promise<IncidentRecord> {
    return services.incidents.acknowledge(id, note, principal);
  }

  @Authorized(Role.VIEWER)
  @Query(() => [Silence], { description: "Silences, newest first; the active ones unless includeExpired." })
  silences(
    @Ctx() { services }: RequestContext,
    @Args(() => SilencesArgs) { includeExpired }: SilencesArgs,
  ): Promise<SilenceRecord[]> {
    return services.silences.list(includeExpired);
  }

  @Authorized(Role.OPERATOR)
  @Mutation(() => Silence, {
    description: "Silences matching incidents until `until`: they are still recorded, shown silenced, never POSTed.",
  })
  createSilence(
    @Ctx() { services, principal }: RequestContext,
    @Arg("input", () => SilenceInput) input: SilenceInput,
  ): Promise<SilenceRecord> {
    return services.silences.create(input, principal);
  }

  @Authorized(Role.OPERATOR)
  @Mutation(() => Silence, { description: "Ends a silence now." })
  expireSilence(
    @Ctx() { services, principal }: RequestContext,
    @Args(() => SilenceIdArgs) { id }: SilenceIdArgs,
  ): Promise<SilenceRecord> {
    return services.silences.expire(id, principal);
  }

  @Authorized(Role.VIEWER)
  @Subscription(() => Incident, {
    description:
      "Each incident after each change (opened, seen again, resolved, acknowledged, silenced); from any replica.",
    subscribe: (data) => {
      const { context } = data as SubscribeData;
      return context.services.incidentWatch.watch(context.principal);
    },
  })
  incidentChanged(@Root() incident: IncidentRecord): IncidentRecord {
    return incident;
  }
}
