/**
 * JoinGroup v0-9 (classic protocol). v0 has no rebalance timeout (the session timeout serves as
 * both, as in Kafka); v4+ new members first get MEMBER_ID_REQUIRED with their id; v5+ static
 * members; v7+ the protocol type in the response; v9 skipAssignment (KIP-814). The response waits
 * until the rebalance completes.
 */
import { type Encodable, ErrorCode, JoinGroupApi, type JoinGroupResponse } from "@samsa/protocol";
import { clientHostOf, isValidGroupId } from "./group-support.js";
import { defineHandler } from "./handler.js";

export const joinGroupHandler = defineHandler({
  api: JoinGroupApi,
  minVersion: 0,
  maxVersion: 9,
  async handle(ctx, request): Promise<Encodable<JoinGroupResponse>> {
    const version = ctx.header.apiVersion;
    if (!isValidGroupId(request.groupId, false)) {
      return response(version, { errorCode: ErrorCode.INVALID_GROUP_ID, memberId: request.memberId });
    }
    const result = await ctx.broker.groupCoordinator.joinGroup({
      groupId: request.groupId,
      memberId: request.memberId,
      groupInstanceId: version >= 5 ? request.groupInstanceId : null,
      clientId: ctx.header.clientId ?? "",
      clientHost: clientHostOf(ctx.connection),
      sessionTimeoutMs: request.sessionTimeoutMs,
      rebalanceTimeoutMs: version >= 1 ? request.rebalanceTimeoutMs : request.sessionTimeoutMs,
      protocolType: request.protocolType,
      protocols: request.protocols.map((p) => ({ name: p.name, metadata: p.metadata })),
      requireKnownMemberId: version >= 4,
      supportSkippingAssignment: version >= 9,
    });
    return response(version, {
      errorCode: result.errorCode,
      generationId: result.generationId,
      protocolType: result.protocolType,
      protocolName: result.protocolName,
      leader: result.leader,
      skipAssignment: result.skipAssignment,
      memberId: result.memberId,
      members: result.members.map((m) => ({
        memberId: m.memberId,
        groupInstanceId: version >= 5 ? m.groupInstanceId : null,
        metadata: Buffer.from(m.metadata.buffer, m.metadata.byteOffset, m.metadata.byteLength),
      })),
    });
  },
});

interface JoinOutcome {
  errorCode: number;
  memberId: string;
  generationId?: number;
  protocolType?: string | null;
  protocolName?: string | null;
  leader?: string;
  skipAssignment?: boolean;
  members?: Encodable<JoinGroupResponse>["members"];
}

/** Fields absent from a version are left out: before v7 a missing protocol name is "" (Kafka's JoinGroupResponse). */
function response(version: number, o: JoinOutcome): Encodable<JoinGroupResponse> {
  return {
    throttleTimeMs: 0,
    errorCode: o.errorCode,
    generationId: o.generationId ?? -1,
    ...(version >= 7 ? { protocolType: o.protocolType ?? null } : {}),
    protocolName: version >= 7 ? (o.protocolName ?? null) : (o.protocolName ?? ""),
    leader: o.leader ?? "",
    skipAssignment: version >= 9 ? (o.skipAssignment ?? false) : false,
    memberId: o.memberId,
    members: o.members ?? [],
  };
}
