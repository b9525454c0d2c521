/**
 * SyncGroup v0-5: the leader hands in the assignment, every member gets its own back once the
 * group is Stable. v3+ static members; v5 protocol type and name, checked against the group's.
 */
import { type Encodable, ErrorCode, SyncGroupApi, type SyncGroupResponse } from "@samsa/protocol";
import { isValidGroupId } from "./group-support.js";
import { defineHandler } from "./handler.js";

export const syncGroupHandler = defineHandler({
  api: SyncGroupApi,
  minVersion: 0,
  maxVersion: 5,
  async handle(ctx, request): Promise<Encodable<SyncGroupResponse>> {
    const version = ctx.header.apiVersion;
    const result = isValidGroupId(request.groupId, false)
      ? await ctx.broker.groupCoordinator.syncGroup({
          groupId: request.groupId,
          generationId: request.generationId,
          memberId: request.memberId,
          groupInstanceId: version >= 3 ? request.groupInstanceId : null,
          protocolType: version >= 5 ? request.protocolType : null,
          protocolName: version >= 5 ? request.protocolName : null,
          assignments: request.assignments.map((a) => ({ memberId: a.memberId, assignment: a.assignment })),
        })
      : {
          errorCode: ErrorCode.INVALID_GROUP_ID,
          protocolType: null,
          protocolName: null,
          assignment: new Uint8Array(0),
        };
    const a = result.assignment;
    return {
      throttleTimeMs: 0,
      errorCode: result.errorCode,
      ...(version >= 5 ? { protocolType: result.protocolType, protocolName: result.protocolName } : {}),
      assignment: Buffer.from(a.buffer, a.byteOffset, a.byteLength),
    };
  },
});
