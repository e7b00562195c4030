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
    description: "Required for AGENT, not allowed otherwise: a process name or prefix-* (e.g. domaeka-*).",
  })
  processPattern?: string | null;
}
