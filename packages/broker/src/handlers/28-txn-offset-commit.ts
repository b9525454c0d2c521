/**
 * TxnOffsetCommit v0-4: the consumed offsets of a consume-transform-produce loop, committed as
 * part of the producer's transaction (sendOffsetsToTransaction). The records go to the group's
 * `__consumer_offsets` partition in a transactional batch carrying the producer id and epoch; they
 * stay pending (invisible to OffsetFetch; UNSTABLE_OFFSET_COMMIT with RequireStable) until the
 * transaction's marker commits or aborts them. v3+ carry the member id, generation and group
 * instance id, validated against the group without enforcing its state (Kafka's transactional
 * offset commit).
 *
 * As Kafka's coordinator does before a transactional write (KIP-890 verification), the group's
 * partition must already be in the transaction (AddOffsetsToTxn): if not, TRANSACTION_ABORTABLE
 * (v4+) or INVALID_TXN_STATE; a fenced producer gets INVALID_PRODUCER_EPOCH. Versions before 2
 * get COORDINATOR_NOT_AVAILABLE for COORDINATOR_LOAD_IN_PROGRESS (clients before KAFKA-7296).
 * v5 belongs to transactions v2 (KIP-890 part 2: the partition is added implicitly), which Samsa
 * does not implement, so it is not advertised.
 */
import { type Encodable, ErrorCode, TxnOffsetCommitApi, type TxnOffsetCommitResponse } from "@samsa/protocol";
import { consumerOffsetsPartitionFor } from "../coordinator/group/consumer-offsets-records.js";
import { CONSUMER_OFFSETS_TOPIC, type OffsetCommitEntry } from "../coordinator/group/group-coordinator-service.js";
import { errorCodeOf } from "./errors.js";
import { isValidGroupId } from "./group-support.js";
import { type BrokerContext, defineHandler } from "./handler.js";

/** TxnOffsetCommit v4 is the first whose clients understand TRANSACTION_ABORTABLE (Kafka's genericError). */
const FIRST_VERSION_WITH_TRANSACTION_ABORTABLE = 4;

export const txnOffsetCommitHandler = defineHandler({
  api: TxnOffsetCommitApi,
  minVersion: 0,
  maxVersion: 4,
  async handle(ctx, request): Promise<Encodable<TxnOffsetCommitResponse>> {
    const { broker } = ctx;
    const version = ctx.header.apiVersion;
    const maxMetadataBytes = broker.config.int("offset.metadata.max.bytes");
    const answers = request.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: ErrorCode.NONE as number })),
    }));
    const entries: OffsetCommitEntry[] = [];
    const pending: { errorCode: number }[] = [];
    request.topics.forEach((t, ti) => {
      const topic = broker.topics.get(t.name);
      t.partitions.forEach((p, pi) => {
        const answer = answers[ti]!.partitions[pi]!;
        const metadata = p.committedMetadata ?? "";
        if (topic === undefined || p.partitionIndex < 0 || p.partitionIndex >= topic.partitions.length) {
          answer.errorCode = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
        } else if (Buffer.byteLength(metadata) > maxMetadataBytes) {
          answer.errorCode = ErrorCode.OFFSET_METADATA_TOO_LARGE;
        } else {
          entries.push({
            topic: t.name,
            partition: p.partitionIndex,
            offset: p.committedOffset,
            leaderEpoch: version >= 2 ? p.committedLeaderEpoch : -1,
            metadata,
            commitTimestampMs: null,
            expireTimestampMs: null,
          });
          pending.push(answer);
        }
      });
    });
    if (entries.length > 0) {
      let errorCode = await commit(broker, version, request, entries);
      if (version < 2 && errorCode === ErrorCode.COORDINATOR_LOAD_IN_PROGRESS) {
        errorCode = ErrorCode.COORDINATOR_NOT_AVAILABLE;
      }
      for (const answer of pending) answer.errorCode = errorCode;
    }
    return { throttleTimeMs: 0, topics: answers };
  },
});

async function commit(
  broker: BrokerContext,
  version: number,
  request: {
    transactionalId: string;
    groupId: string;
    producerId: bigint;
    producerEpoch: number;
    generationId: number;
    memberId: string;
    groupInstanceId: string | null;
  },
  entries: OffsetCommitEntry[],
): Promise<number> {
  if (!isValidGroupId(request.groupId, false)) return ErrorCode.INVALID_GROUP_ID;
  const coordinator = broker.transactionCoordinator;
  if (coordinator === undefined) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
  try {
    const groups = broker.groupCoordinator;
    const offsetsTopic = await groups.ensureOffsetsTopic();
    const partition = consumerOffsetsPartitionFor(request.groupId, offsetsTopic.partitions.length);
    const [verified] = await coordinator.verifyPartitionsInTxn(
      request.transactionalId,
      request.producerId,
      request.producerEpoch,
      [{ topic: CONSUMER_OFFSETS_TOPIC, partition }],
    );
    const verification = verificationError(verified?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR, version);
    if (verification !== ErrorCode.NONE) return verification;
    return await groups.commitTransactionalOffsets(
      request.groupId,
      {
        generationId: version >= 3 ? request.generationId : -1,
        memberId: version >= 3 ? request.memberId : "",
        groupInstanceId: version >= 3 ? request.groupInstanceId : null,
        producerId: request.producerId,
        producerEpoch: request.producerEpoch,
      },
      entries,
    );
  } catch (e) {
    return errorCodeOf(e, broker.log);
  }
}

/** Kafka's mapping of a verification answer to what the transactional write reports (AddPartitionsToTxnManager). */
function verificationError(errorCode: number, version: number): number {
  switch (errorCode) {
    case ErrorCode.PRODUCER_FENCED:
      return ErrorCode.INVALID_PRODUCER_EPOCH;
    case ErrorCode.TRANSACTION_ABORTABLE:
      return version >= FIRST_VERSION_WITH_TRANSACTION_ABORTABLE
        ? ErrorCode.TRANSACTION_ABORTABLE
        : ErrorCode.INVALID_TXN_STATE;
    case ErrorCode.NOT_COORDINATOR:
    case ErrorCode.COORDINATOR_LOAD_IN_PROGRESS:
      // The transaction coordinator's, not the group's: the client should retry, not look the group up again.
      return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    default:
      return errorCode;
  }
}
