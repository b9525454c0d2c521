/**
 * LeaveGroup v0-5: v0-2 one member by id, answered with one error; v3+ a batch of members (by id,
 * or static members by instance id), each with its own error.
 */
import { type Encodable, ErrorCode, LeaveGroupApi, type LeaveGroupResponse } from "@samsa/protocol";
import { isValidGroupId } from "./group-support.js";
import { defineHandler } from "./handler.js";

export const leaveGroupHandler = defineHandler({
  api: LeaveGroupApi,
  minVersion: 0,
  maxVersion: 5,
  handle(ctx, request): Encodable<LeaveGroupResponse> {
    const version = ctx.header.apiVersion;
    if (!isValidGroupId(request.groupId, false)) {
      return { throttleTimeMs: 0, errorCode: ErrorCode.INVALID_GROUP_ID, members: [] };
    }
    const members =
      version >= 3
        ? request.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId }))
        : [{ memberId: request.memberId, groupInstanceId: null }];
    const result = ctx.broker.groupCoordinator.leaveGroup({ groupId: request.groupId, members });
    if (version >= 3) return { throttleTimeMs: 0, errorCode: result.errorCode, members: result.members };
    // One member: its error is the response's error, as Kafka answers v0-2.
    const memberError = result.members[0]?.errorCode ?? ErrorCode.NONE;
    return { throttleTimeMs: 0, errorCode: result.errorCode !== ErrorCode.NONE ? result.errorCode : memberError };
  },
});
