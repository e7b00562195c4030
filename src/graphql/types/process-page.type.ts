import { Field, ID, Int, ObjectType } from "type-graphql";
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

  @Field(() => ID, {
    description:
      "The newest event id when the page was read: pass it as processChanged(after:) to receive every change the page may not show.",
  })
  eventCursor!: string;
}
