/**
 * AddOffsetsToTxn v0-4: adds the group's `__consumer_offsets` partition to the producer's
 * transaction, before TxnOffsetCommit writes the consumed offsets there (sendOffsetsToTransaction).
 * Versions before 2 get INVALID_PRODUCER_EPOCH for PRODUCER_FENCED, as in Kafka.
 */
import { AddOffsetsToTxnApi, type AddOffsetsToTxnResponse, type Encodable, ErrorCode } from "@samsa/protocol";
import { errorCodeForVersion } from "../coordinator/txn/transaction-coordinator.js";
import { errorCodeOf } from "./errors.js";
import { defineHandler } from "./handler.js";

export const addOffsetsToTxnHandler = defineHandler({
  api: AddOffsetsToTxnApi,
  minVersion: 0,
  maxVersion: 4,
  async handle(ctx, request): Promise<Encodable<AddOffsetsToTxnResponse>> {
    const coordinator = ctx.broker.transactionCoordinator;
    if (coordinator === undefined) return { throttleTimeMs: 0, errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE };
    let errorCode: number;
    try {
      // The group's partition is counted over the topic's partitions: create it as FindCoordinator would.
      await ctx.broker.groupCoordinator.ensureOffsetsTopic();
      errorCode = await coordinator.addOffsetsToTxn(
        request.transactionalId,
        request.producerId,
        request.producerEpoch,
        request.groupId,
      );
    } catch (e) {
      errorCode = errorCodeOf(e, ctx.broker.log);
    }
    return { throttleTimeMs: 0, errorCode: errorCodeForVersion(errorCode, "AddOffsetsToTxn", ctx.header.apiVersion) };
  },
});
