/** Heartbeat v0-4: keeps a member's session alive; the error tells it to rejoin (v3+ static members). */
import { type Encodable, ErrorCode, HeartbeatApi, type HeartbeatResponse } from "@samsa/protocol";
import { isValidGroupId } from "./group-support.js";
import { defineHandler } from "./handler.js";

export const heartbeatHandler = defineHandler({
  api: HeartbeatApi,
  minVersion: 0,
  maxVersion: 4,
  handle(ctx, request): Encodable<HeartbeatResponse> {
    if (!isValidGroupId(request.groupId, false)) return { throttleTimeMs: 0, errorCode: ErrorCode.INVALID_GROUP_ID };
    const errorCode = ctx.broker.groupCoordinator.heartbeat({
      groupId: request.groupId,
      generationId: request.generationId,
      memberId: request.memberId,
      groupInstanceId: ctx.header.apiVersion >= 3 ? request.groupInstanceId : null,
    });
    return { throttleTimeMs: 0, errorCode };
  },
});
