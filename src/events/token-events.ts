import type { TokenAudit, TokenChange } from "../auth/token.service.js";
import { ProcessEventKind } from "../domain/event-kind.js";
import type { EventLogService } from "./event-log.service.js";

/** Token changes as events: TOKEN_CREATED / TOKEN_REVOKED, with no process. */
export function tokenEvents(log: EventLogService): TokenAudit {
  return {
    async record(manager, change) {
      const event = await log.record(
        manager,
        {
          kind: change.change === "created" ? ProcessEventKind.TOKEN_CREATED : ProcessEventKind.TOKEN_REVOKED,
          // Not a process's event: subscribers never receive it (see EventStreams), and
          // only admins see it in `events`.
          processName: "",
          actor: change.actor.name,
          actorTokenId: change.actor.tokenId,
          message: describeChange(change),
          status: null,
        },
        null,
      );
      return () => log.publish([event]);
    },
  };
}

/** `token "ops" (id 7, OPERATOR, bound to domaeka-*, expires …) created`. */
export function describeChange({ change, token }: TokenChange): string {
  const details = [
    `id ${token.id}`,
    token.role.toUpperCase(),
    ...(token.processPattern ? [`bound to ${token.processPattern}`] : []),
    ...(token.expiresAt ? [`expires ${token.expiresAt.toISOString()}`] : []),
  ];
  return `token ${JSON.stringify(token.name)} (${details.join(", ")}) ${change}`;
}
