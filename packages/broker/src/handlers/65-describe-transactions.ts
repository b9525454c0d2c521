/**
 * DescribeTransactions v0: the state, producer, timeout, start time and partitions of each
 * transactional id (kafka-transactions.sh describe). An unknown id is TRANSACTIONAL_ID_NOT_FOUND.
 */
import { DescribeTransactionsApi, type DescribeTransactionsResponse, type Encodable, ErrorCode } from "@samsa/protocol";
import { defineHandler } from "./handler.js";

export const describeTransactionsHandler = defineHandler({
  api: DescribeTransactionsApi,
  minVersion: 0,
  maxVersion: 0,
  async handle(ctx, request): Promise<Encodable<DescribeTransactionsResponse>> {
    const coordinator = ctx.broker.transactionCoordinator;
    const transactionStates = await Promise.all(
      request.transactionalIds.map(async (transactionalId) => {
        if (coordinator === undefined) {
          return {
            errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE,
            transactionalId,
            transactionState: "",
            transactionTimeoutMs: 0,
            transactionStartTimeMs: -1n,
            producerId: -1n,
            producerEpoch: -1,
            topics: [],
          };
        }
        const d = await coordinator.describeTransaction(transactionalId);
        return {
          errorCode: d.errorCode,
          transactionalId: d.transactionalId,
          transactionState: d.transactionState,
          transactionTimeoutMs: d.transactionTimeoutMs,
          transactionStartTimeMs: BigInt(d.transactionStartTimeMs),
          producerId: d.producerId,
          producerEpoch: d.producerEpoch,
          topics: d.topics,
        };
      }),
    );
    return { throttleTimeMs: 0, transactionStates };
  },
});
