import { DateTimeISOResolver } from "graphql-scalars";
import { Field, ID, ObjectType } from "type-graphql";
import { Role } from "./enums.js";

@ObjectType({
  simpleResolvers: true,
  description: "An API token; the token itself is never shown again after creation.",
})
export class ApiToken {
  @Field(() => ID)
  id!: number;

  @Field(() => String, { description: "Recorded as the actor of what the token does." })
  name!: string;

  @Field(() => Role)
  role!: Role;

  @Field(() => String, {
    nullable: true,
    description: "The process name or prefix-* it is bound to (always for agents); null when unbound.",
  })
  processPattern!: string | null;

  @Field(() => String, { description: "The first characters of the token, to recognise it." })
  tokenPrefix!: string;

  @Field(() => String)
  createdBy!: string;

  @Field(() => DateTimeISOResolver)
  createdAt!: Date;

  @Field(() => DateTimeISOResolver, { nullable: true })
  revokedAt!: Date | null;

  @Field(() => DateTimeISOResolver, { nullable: true, description: "When it stops being accepted; null: never." })
  expiresAt!: Date | null;

  @Field(() => DateTimeISOResolver, {
    nullable: true,
    description: "When it was last accepted, to the minute (it is recorded at most once a minute); null: never.",
  })
  lastUsedAt!: Date | null;
}

@ObjectType({
  simpleResolvers: true,
  description: "A new API token. `token` is shown this once; only its hash is stored.",
})
export class NewApiToken extends ApiToken {
  @Field(() => String)
  token!: string;
}
