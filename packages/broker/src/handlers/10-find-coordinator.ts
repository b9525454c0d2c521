/**
 * FindCoordinator v0-6: one broker coordinates every group and transaction, so the answer is
 * always this broker (batched keys from v4). librdkafka enables features by this API's presence,
 * so it exists even before the group coordinator behind it does.
 */
import { type Encodable, ErrorCode, FindCoordinatorApi, type FindCoordinatorResponse } from "@samsa/protocol";
import { defineHandler } from "./handler.js";

export const findCoordinatorHandler = defineHandler({
  api: FindCoordinatorApi,
  minVersion: 0,
  maxVersion: 6,
  handle(ctx, request): Encodable<FindCoordinatorResponse> {
    const { nodeId, advertisedHost: host, advertisedPort: port } = ctx.broker;
    // v0-3 answer one key in top-level fields, v4+ a list of coordinators; each shape's fields
    // are absent from the other's versions, where the codec accepts only their defaults.
    if (ctx.header.apiVersion < 4) {
      return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, errorMessage: null, nodeId, host, port };
    }
    return {
      throttleTimeMs: 0,
      coordinators: request.coordinatorKeys.map((key) => ({
        key,
        nodeId,
        host,
        port,
        errorCode: ErrorCode.NONE,
        errorMessage: null,
      })),
    };
  },
});
