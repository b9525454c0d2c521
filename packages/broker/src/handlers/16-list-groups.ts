/**
 * ListGroups v0-5: every group this broker coordinates; v4+ filtered by state, v5 by type (all
 * groups here are "classic"), both case-insensitive as in Kafka.
 */
import { type Encodable, ErrorCode, ListGroupsApi, type ListGroupsResponse } from "@samsa/protocol";
import { defineHandler } from "./handler.js";

export const listGroupsHandler = defineHandler({
  api: ListGroupsApi,
  minVersion: 0,
  maxVersion: 5,
  async handle(ctx, request): Promise<Encodable<ListGroupsResponse>> {
    const version = ctx.header.apiVersion;
    const service = ctx.broker.groupCoordinator;
    const listed = service.groups.listGroups(
      version >= 4 ? request.statesFilter : [],
      version >= 5 ? request.typesFilter : [],
    );
    return {
      throttleTimeMs: 0,
      errorCode: ErrorCode.NONE,
      groups: listed.map((g) => ({
        groupId: g.groupId,
        protocolType: g.protocolType,
        ...(version >= 4 ? { groupState: g.state } : {}),
        ...(version >= 5 ? { groupType: g.groupType } : {}),
      })),
    };
  },
});
