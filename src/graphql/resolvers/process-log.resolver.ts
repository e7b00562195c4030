import { Args, Authorized, Resolver, Root, Subscription, type SubscribeResolverData } from "type-graphql";
import { Role } from "../../domain/role.js";
import type { FollowedChunk } from "../../logs/log-cursor.js";
import type { RequestContext } from "../context.js";
import { ProcessLogArgs } from "../types/process-log.args.js";
import { LogChunk } from "../types/supervisor.types.js";

type SubscribeData = SubscribeResolverData<unknown, ProcessLogArgs, RequestContext>;

@Resolver()
export class ProcessLogResolver {
  @Authorized(Role.VIEWER)
  @Subscription(() => LogChunk, {
    description:
      "A program's stdout or stderr as supervisord's log grows: each chunk is what was written since the last (one " +
      "poll of supervisord per process and stream on this replica, every 500 ms, shared by its subscribers). " +
      "Resubscribe with fromOffset = the last chunk's offset to go on without a gap or a repeat. A rotated log " +
      "(`rotated`), and anything left out (`overflow`), is said in the chunk's `message`.",
    subscribe: (data) => {
      const { args, context } = data as SubscribeData;
      return context.services.logs.follow(args.name, args.stream, args.fromOffset ?? null, context.principal);
    },
  })
  processLog(@Root() chunk: FollowedChunk, @Args(() => ProcessLogArgs) _args: ProcessLogArgs): LogChunk {
    return {
      text: chunk.text,
      startOffset: chunk.start,
      offset: chunk.end,
      remainingBytes: Math.max(0, chunk.size - chunk.end),
      overflow: chunk.overflow,
      rotated: chunk.rotated,
      message: chunk.message,
    };
  }
}
