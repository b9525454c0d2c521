/**
 * EndTxn v0-4: commits or aborts the producer's transaction. Answered once PrepareCommit or
 * PrepareAbort is stored in `__transaction_state`; the markers are then written to every
 * partition of the transaction. Versions before 2 get INVALID_PRODUCER_EPOCH for PRODUCER_FENCED.
 * v5 (transactions v2, KIP-890 part 2: an epoch bump at every EndTxn) is not implemented, so not
 * advertised.
 */
import { type Encodable, EndTxnApi, type EndTxnResponse, ErrorCode } from "@samsa/protocol";
import { errorCodeForVersion } from "../coordinator/txn/transaction-coordinator.js";
import { defineHandler } from "./handler.js";

export const endTxnHandler = defineHandler({
  api: EndTxnApi,
  minVersion: 0,
  maxVersion: 4,
  async handle(ctx, request): Promise<Encodable<EndTxnResponse>> {
    const coordinator = ctx.broker.transactionCoordinator;
    if (coordinator === undefined) return { throttleTimeMs: 0, errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE };
    const result = await coordinator.endTxn(
      request.transactionalId,
      request.producerId,
      request.producerEpoch,
      request.committed,
    );
    return { throttleTimeMs: 0, errorCode: errorCodeForVersion(result.errorCode, "EndTxn", ctx.header.apiVersion) };
  },
});
