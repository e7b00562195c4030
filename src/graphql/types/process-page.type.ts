import { Field, Int, ObjectType } from "type-graphql";
import type { ProcessEntity } from "../../db/process.entity.js";
import { Process } from "./process.type.js";

@ObjectType({ description: "One page of processes, in name order." })
export class ProcessPage {
  @Field(() => [Process])
  nodes!: ProcessEntity[];

  @Field(() => String, {
    nullable: true,
    description: "Pass as `after` for the next page; null when the page is empty.",
  })
  endCursor!: string | null;

  @Field(() => Boolean)
  hasNextPage!: boolean;

  @Field(() => Int, { description: "How many processes the filter selects in all." })
  totalCount!: number;
}
