/**
 * DeleteRecords v0-2 (KIP-107): moves each partition's log start offset up to the requested
 * offset (-1 = the high watermark) and answers with the new low watermark; the segments wholly
 * below it go at the next retention pass. The new start is in log-start-offset-checkpoint before
 * the answer. Errors as Kafka's ReplicaManager: UNKNOWN_TOPIC_OR_PARTITION, INVALID_TOPIC_EXCEPTION
 * for internal topics, POLICY_VIOLATION when cleanup.policy lacks delete, OFFSET_OUT_OF_RANGE for
 * a negative offset or one past the high watermark; a failed partition has low watermark -1.
 * On one node the low watermark is the log start offset and no replica needs waiting for, so
 * `timeoutMs` is not used.
 */
import {
  DeleteRecordsApi,
  type DeleteRecordsResponse,
  type DeleteRecordsResponseDeleteRecordsPartitionResult,
  type Encodable,
  ErrorCode,
} from "@samsa/protocol";
import { errorCodeOf } from "./errors.js";
import { type BrokerContext, defineHandler } from "./handler.js";

/** DeleteRecordsRequest.HIGH_WATERMARK: delete everything below the high watermark. */
const HIGH_WATERMARK = -1n;
/** DeleteRecordsResponse.INVALID_LOW_WATERMARK. */
const INVALID_LOW_WATERMARK = -1n;

async function deleteRecords(
  broker: BrokerContext,
  topic: string,
  partitionIndex: number,
  requestedOffset: bigint,
): Promise<Encodable<DeleteRecordsResponseDeleteRecordsPartitionResult>> {
  const failed = (errorCode: number) => ({ partitionIndex, lowWatermark: INVALID_LOW_WATERMARK, errorCode });
  const partition = broker.topics.partition(topic, partitionIndex);
  if (partition === undefined) return failed(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  if (broker.topics.get(topic)?.isInternal) return failed(ErrorCode.INVALID_TOPIC_EXCEPTION);
  const log = partition.log;
  if (!log.config.cleanupPolicy.includes("delete")) return failed(ErrorCode.POLICY_VIOLATION);
  const offset = requestedOffset === HIGH_WATERMARK ? partition.highWatermark : requestedOffset;
  if (offset < 0n || offset > partition.highWatermark) return failed(ErrorCode.OFFSET_OUT_OF_RANGE);
  try {
    await log.maybeIncrementLogStartOffset(offset);
    return { partitionIndex, lowWatermark: log.logStartOffset, errorCode: ErrorCode.NONE };
  } catch (e) {
    return failed(errorCodeOf(e, broker.log));
  }
}

export const deleteRecordsHandler = defineHandler({
  api: DeleteRecordsApi,
  minVersion: 0,
  maxVersion: 2,
  async handle(ctx, request): Promise<Encodable<DeleteRecordsResponse>> {
    // Kafka answers per topic-partition: a topic named twice is answered once, its last offset wins.
    const wanted = new Map<string, Map<number, bigint>>();
    for (const t of request.topics) {
      let partitions = wanted.get(t.name);
      if (partitions === undefined) wanted.set(t.name, (partitions = new Map()));
      for (const p of t.partitions) partitions.set(p.partitionIndex, p.offset);
    }
    const topics = await Promise.all(
      [...wanted].map(async ([name, partitions]) => ({
        name,
        partitions: await Promise.all(
          [...partitions].map(([index, offset]) => deleteRecords(ctx.broker, name, index, offset)),
        ),
      })),
    );
    return { throttleTimeMs: 0, topics };
  },
});
