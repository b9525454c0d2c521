/** DeleteGroups v0-2: an empty group and its committed offsets go (tombstones in __consumer_offsets). */
import { DeleteGroupsApi, type DeleteGroupsResponse, type Encodable, ErrorCode } from "@samsa/protocol";
import { errorCodeOf } from "./errors.js";
import { isValidGroupId } from "./group-support.js";
import { defineHandler } from "./handler.js";

export const deleteGroupsHandler = defineHandler({
  api: DeleteGroupsApi,
  minVersion: 0,
  maxVersion: 2,
  async handle(ctx, request): Promise<Encodable<DeleteGroupsResponse>> {
    const service = ctx.broker.groupCoordinator;
    const results = await Promise.all(
      request.groupsNames.map(async (groupId) => {
        if (!isValidGroupId(groupId, true)) return { groupId, errorCode: ErrorCode.INVALID_GROUP_ID };
        try {
          return { groupId, errorCode: await service.deleteGroup(groupId) };
        } catch (e) {
          return { groupId, errorCode: errorCodeOf(e, ctx.broker.log) };
        }
      }),
    );
    return { throttleTimeMs: 0, results };
  },
});
