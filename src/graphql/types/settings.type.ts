import { Field, Int, ObjectType } from "type-graphql";

@ObjectType({
  simpleResolvers: true,
  description: "What clients need to know of this deployment's configuration to ask well.",
})
export class Settings {
  @Field(() => Int, {
    description:
      "How often each supervisord is polled (SUPERVISOR_POLL_INTERVAL_SECONDS); 0 when polling is off. A list " +
      "that many people keep open asks with `maxAgeSeconds` of twice this, so that it is served from what was " +
      "observed and never asks supervisord itself while the poller keeps up.",
  })
  pollIntervalSeconds!: number;
}
