/** The coordinators' internal topics (`__consumer_offsets`, `__transaction_state`). */
import { type DecodedRecordBatch, decodeRecordBatch, iterateBatches, MAGIC_V2, readBatchHeader } from "@samsa/protocol";
import type { Partition } from "../topics/partition.js";
import type { Topic, TopicManager } from "../topics/topic-manager.js";

/** Bytes read per step while replaying a partition (Kafka's offsets.load.buffer.size). */
const LOAD_BUFFER_BYTES = 5 * 1024 * 1024;

/**
 * Replays one partition of an internal topic from its log start to its end, handing each record
 * batch (control batches included) to `onBatch` in offset order. Only the broker writes these
 * topics, so batches are v2 and their CRCs were checked when the log recovered.
 */
export async function replayPartition(
  partition: Partition,
  onBatch: (batch: DecodedRecordBatch) => void,
): Promise<void> {
  const log = partition.log;
  const end = log.logEndOffset;
  let offset = log.logStartOffset;
  while (offset < end) {
    const info = await log.read(offset, { maxBytes: LOAD_BUFFER_BYTES, maxOffset: end });
    if (info.records.length === 0) break;
    let next = offset;
    for (const { position, sizeInBytes, magic } of iterateBatches(info.records)) {
      if (magic !== MAGIC_V2) continue;
      const bytes = info.records.subarray(position, position + sizeInBytes);
      const header = readBatchHeader(bytes);
      next = header.baseOffset + BigInt(header.lastOffsetDelta) + 1n;
      onBatch(decodeRecordBatch(bytes, 0, { verifyCrc: false }));
    }
    if (next <= offset) break;
    offset = next;
  }
}

/**
 * Returns the internal topic, creating it when missing — compacted, as Kafka creates it, so the
 * cleaner keeps each key's latest record — also when another request created it meanwhile.
 */
export async function getOrCreateInternalTopic(
  topics: TopicManager,
  name: string,
  partitions: number,
  segmentBytes: number,
): Promise<Topic> {
  const existing = topics.get(name);
  if (existing !== undefined) return existing;
  const configs = new Map([
    ["cleanup.policy", "compact"],
    ["segment.bytes", String(segmentBytes)],
  ]);
  try {
    return await topics.create(name, partitions, configs);
  } catch (e) {
    const raced = topics.get(name);
    if (raced !== undefined) return raced;
    throw e;
  }
}
