/**
 * DescribeGroups v0-6: state, protocol and members of each group. As in Kafka, member metadata
 * and assignments are shown only while the group is Stable, and an unknown group is described as
 * Dead with no error, except from v6 (KIP-1043) which answers GROUP_ID_NOT_FOUND.
 */
import {
  DescribeGroupsApi,
  type DescribeGroupsResponse,
  type DescribeGroupsResponseDescribedGroup,
  type Encodable,
  ErrorCode,
} from "@samsa/protocol";
import { ALL_GROUP_OPERATIONS, AUTHORIZED_OPERATIONS_OMITTED, isValidGroupId } from "./group-support.js";
import { defineHandler } from "./handler.js";

const EMPTY = Buffer.alloc(0);

export const describeGroupsHandler = defineHandler({
  api: DescribeGroupsApi,
  minVersion: 0,
  maxVersion: 6,
  async handle(ctx, request): Promise<Encodable<DescribeGroupsResponse>> {
    const version = ctx.header.apiVersion;
    const service = ctx.broker.groupCoordinator;
    const authorizedOperations =
      version >= 3 && request.includeAuthorizedOperations ? ALL_GROUP_OPERATIONS : AUTHORIZED_OPERATIONS_OMITTED;
    const groups = request.groups.map((groupId): Encodable<DescribeGroupsResponseDescribedGroup> => {
      const dead = (errorCode: number, errorMessage: string | null) => ({
        errorCode,
        ...(version >= 6 ? { errorMessage } : {}),
        groupId,
        groupState: "Dead",
        protocolType: "",
        protocolData: "",
        members: [],
        authorizedOperations,
      });
      if (!isValidGroupId(groupId, true)) return dead(ErrorCode.INVALID_GROUP_ID, null);
      const group = service.groups.describeGroup(groupId);
      if (group === undefined || group.state === "Dead") {
        return version >= 6
          ? dead(ErrorCode.GROUP_ID_NOT_FOUND, `Group ${groupId} not found.`)
          : dead(ErrorCode.NONE, null);
      }
      const stable = group.state === "Stable";
      return {
        errorCode: ErrorCode.NONE,
        ...(version >= 6 ? { errorMessage: null } : {}),
        groupId,
        groupState: group.state,
        protocolType: group.protocolType ?? "",
        protocolData: stable ? (group.protocolName ?? "") : "",
        members: group.members.map((m) => {
          const metadata = stable ? m.protocols.find((p) => p.name === group.protocolName)?.metadata : undefined;
          return {
            memberId: m.memberId,
            ...(version >= 4 ? { groupInstanceId: m.groupInstanceId } : {}),
            clientId: m.clientId,
            clientHost: m.clientHost,
            memberMetadata: metadata === undefined ? EMPTY : Buffer.from(metadata),
            memberAssignment: stable ? Buffer.from(m.assignment) : EMPTY,
          };
        }),
        authorizedOperations,
      };
    });
    return { throttleTimeMs: 0, groups };
  },
});
