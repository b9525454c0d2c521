/**
 * FindCoordinator v0-6: one broker coordinates every group and transaction, so the answer is
 * always this broker (batched keys from v4). As in Kafka, the first lookup of a group creates
 * `__consumer_offsets`, of a transactional id `__transaction_state`; an unknown key type is
 * INVALID_REQUEST.
 */
import { type Encodable, ErrorCode, FindCoordinatorApi, type FindCoordinatorResponse } from "@samsa/protocol";
import { defineHandler } from "./handler.js";

/** FindCoordinatorRequest.CoordinatorType: GROUP (0), TRANSACTION (1). */
const GROUP_KEY_TYPE = 0;
const TRANSACTION_KEY_TYPE = 1;

export const findCoordinatorHandler = defineHandler({
  api: FindCoordinatorApi,
  minVersion: 0,
  maxVersion: 6,
  async handle(ctx, request): Promise<Encodable<FindCoordinatorResponse>> {
    const { nodeId, advertisedHost: host, advertisedPort: port } = ctx.broker;
    const keyType = ctx.header.apiVersion >= 1 ? request.keyType : GROUP_KEY_TYPE;
    if (keyType !== GROUP_KEY_TYPE && keyType !== TRANSACTION_KEY_TYPE) {
      const errorMessage = `Unknown coordinator key type ${keyType}.`;
      if (ctx.header.apiVersion < 4) {
        return {
          throttleTimeMs: 0,
          errorCode: ErrorCode.INVALID_REQUEST,
          errorMessage,
          nodeId: -1,
          host: "",
          port: -1,
        };
      }
      return {
        throttleTimeMs: 0,
        coordinators: request.coordinatorKeys.map((key) => ({
          key,
          nodeId: -1,
          host: "",
          port: -1,
          errorCode: ErrorCode.INVALID_REQUEST,
          errorMessage,
        })),
      };
    }
    if (keyType === GROUP_KEY_TYPE) await ctx.broker.groupCoordinator.ensureOffsetsTopic();
    else await ctx.broker.transactionCoordinator?.ensureStateTopic();
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
