import { DateTimeISOResolver } from "graphql-scalars";
import { Field, InputType } from "type-graphql";
import { Role } from "./enums.js";

@InputType()
export class CreateApiTokenInput {
  @Field(() => String, { description: "Recorded as the actor of what the token does." })
  name!: string;

  @Field(() => Role)
  role!: Role;

  @Field(() => String, {
    nullable: true,
    description:
      "A process name or prefix-* (e.g. domaeka-*) the token is bound to: it sees and acts on those processes " +
      "only. Required for AGENT, optional for VIEWER and OPERATOR, not allowed for ADMIN.",
  })
  processPattern?: string | null;

  @Field(() => DateTimeISOResolver, {
    nullable: true,
    description:
      "When the token stops being accepted (UNAUTHENTICATED; an open WebSocket is closed within 10 s). Null: never.",
  })
  expiresAt?: Date | null;
}
