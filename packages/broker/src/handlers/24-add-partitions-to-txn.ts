/**
 * AddPartitionsToTxn v0-5: adds partitions to a producer's open transaction before it writes to
 * them (the first one starts the transaction). v0-3 carry one transaction and answer per topic;
 * v4+ (KIP-890, sent by partition leaders) carry a batch of transactions, each either added or,
 * with VerifyOnly, only checked: NONE for a partition already in the transaction,
 * TRANSACTION_ABORTABLE for one that is not (the leader then refuses the produce). As in Kafka, an
 * unknown partition fails the whole transaction (the others answer OPERATION_NOT_ATTEMPTED), and
 * versions before 2 get INVALID_PRODUCER_EPOCH for PRODUCER_FENCED.
 */
import {
  AddPartitionsToTxnApi,
  type AddPartitionsToTxnResponse,
  type AddPartitionsToTxnResponseAddPartitionsToTxnTopicResult,
  type Encodable,
  ErrorCode,
} from "@samsa/protocol";
import type { TopicPartition } from "../coordinator/txn/transaction-coordinator.js";
import { errorCodeForVersion } from "../coordinator/txn/transaction-coordinator.js";
import { type BrokerContext, defineHandler } from "./handler.js";

interface Transaction {
  transactionalId: string;
  producerId: bigint;
  producerEpoch: number;
  verifyOnly: boolean;
  topics: { name: string; partitions: number[] }[];
}

export const addPartitionsToTxnHandler = defineHandler({
  api: AddPartitionsToTxnApi,
  minVersion: 0,
  maxVersion: 5,
  async handle(ctx, request): Promise<Encodable<AddPartitionsToTxnResponse>> {
    const version = ctx.header.apiVersion;
    if (version < 4) {
      const results = await addToTransaction(ctx.broker, version, {
        transactionalId: request.v3AndBelowTransactionalId,
        producerId: request.v3AndBelowProducerId,
        producerEpoch: request.v3AndBelowProducerEpoch,
        verifyOnly: false,
        topics: request.v3AndBelowTopics,
      });
      return { throttleTimeMs: 0, resultsByTopicV3AndBelow: results };
    }
    const resultsByTransaction = await Promise.all(
      request.transactions.map(async (t) => ({
        transactionalId: t.transactionalId,
        topicResults: await addToTransaction(ctx.broker, version, t),
      })),
    );
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, resultsByTransaction };
  },
});

async function addToTransaction(
  broker: BrokerContext,
  version: number,
  txn: Transaction,
): Promise<AddPartitionsToTxnResponseAddPartitionsToTxnTopicResult[]> {
  const requested: TopicPartition[] = [];
  const seen = new Set<string>();
  for (const t of txn.topics) {
    for (const partition of t.partitions) {
      const key = `${t.name}\u0000${partition}`;
      if (seen.has(key)) continue;
      seen.add(key);
      requested.push({ topic: t.name, partition });
    }
  }
  const unknown = requested.filter((tp) => {
    const topic = broker.topics.get(tp.topic);
    return topic === undefined || tp.partition < 0 || tp.partition >= topic.partitions.length;
  });
  const coordinator = broker.transactionCoordinator;
  let results: { topic: string; partition: number; errorCode: number }[];
  if (unknown.length > 0) {
    const unknownKeys = new Set(unknown.map((tp) => `${tp.topic}\u0000${tp.partition}`));
    results = requested.map((tp) => ({
      ...tp,
      errorCode: unknownKeys.has(`${tp.topic}\u0000${tp.partition}`)
        ? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        : ErrorCode.OPERATION_NOT_ATTEMPTED,
    }));
  } else if (coordinator === undefined) {
    results = requested.map((tp) => ({ ...tp, errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE }));
  } else if (txn.verifyOnly) {
    results = await coordinator.verifyPartitionsInTxn(
      txn.transactionalId,
      txn.producerId,
      txn.producerEpoch,
      requested,
    );
  } else {
    const errorCode = errorCodeForVersion(
      await coordinator.addPartitionsToTxn(txn.transactionalId, txn.producerId, txn.producerEpoch, requested),
      "AddPartitionsToTxn",
      version,
    );
    results = requested.map((tp) => ({ ...tp, errorCode }));
  }
  const byTopic = new Map<string, AddPartitionsToTxnResponseAddPartitionsToTxnTopicResult>();
  for (const r of results) {
    let topic = byTopic.get(r.topic);
    if (topic === undefined) byTopic.set(r.topic, (topic = { name: r.topic, resultsByPartition: [] }));
    topic.resultsByPartition.push({ partitionIndex: r.partition, partitionErrorCode: r.errorCode });
  }
  return [...byTopic.values()];
}
