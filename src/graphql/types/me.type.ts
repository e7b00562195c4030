import { DateTimeISOResolver } from "graphql-scalars";
import { Field, ObjectType } from "type-graphql";
import { Role } from "./enums.js";

@ObjectType({ simpleResolvers: true, description: "Who the token belongs to, and what it may do." })
export class Me {
  @Field(() => String, { description: "The token's name: the actor of what it does." })
  name!: string;

  @Field(() => Role)
  role!: Role;

  @Field(() => String, {
    nullable: true,
    description: "The process name or prefix-* the token is bound to (always for agents); null when unbound.",
  })
  processPattern!: string | null;

  @Field(() => DateTimeISOResolver, {
    nullable: true,
    description: "When the token stops being accepted; null: never.",
  })
  expiresAt!: Date | null;
}
