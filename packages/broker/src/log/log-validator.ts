/**
 * The checks an append makes before anything is written (the shallow part of Kafka's
 * LogValidator): every batch is a whole magic-2 batch with a valid CRC, no batch is larger than
 * `max.message.bytes`, the append fits in a segment. A bad batch must never reach the file:
 * recovery would stop at it and drop everything acknowledged after it.
 *
 * Per-record validation (compressed payloads, timestamps against message.timestamp.*, producer
 * sequences) belongs to the produce handler and the producer state, later.
 */
import {
  ATTRIBUTES_OFFSET,
  BASE_OFFSET_OFFSET,
  BATCH_HEADER_SIZE,
  BATCH_LENGTH_OFFSET,
  CompressionType,
  compressionTypeOf,
  decompress,
  isControlBatch,
  LAST_OFFSET_DELTA_OFFSET,
  MAGIC_OFFSET,
  MAGIC_V2,
  MAX_TIMESTAMP_OFFSET,
  MIN_BATCH_LENGTH,
  PARTITION_LEADER_EPOCH_OFFSET,
  RECORDS_COUNT_OFFSET,
  RECORDS_OFFSET,
} from "@samsa/protocol";
import { walkRecords } from "./cleaner/record-walk.js";
import type { LogConfig } from "./config.js";
import { CorruptRecordError, InvalidRecordError, MessageTooLargeError, RecordBatchTooLargeError } from "./errors.js";
import { LOG_OVERHEAD, readBatchHeader, verifyBatchCrc } from "./records.js";

export interface ValidatedBatch {
  position: number;
  sizeInBytes: number;
  baseOffset: bigint;
  lastOffsetDelta: number;
  recordCount: number;
  maxTimestamp: bigint;
  partitionLeaderEpoch: number;
}

export interface ValidatedRecords {
  batches: ValidatedBatch[];
  recordCount: number;
}

/**
 * `assignOffsets` (a leader append): the log will set the offsets, so each batch must describe
 * exactly recordCount consecutive offsets. Without it (a follower append) the offsets are kept
 * and the caller checks they follow the log end offset.
 */
export function validateRecords(
  records: Buffer,
  config: Pick<LogConfig, "maxMessageBytes" | "segmentBytes"> & Partial<Pick<LogConfig, "cleanupPolicy">>,
  assignOffsets: boolean,
  topicPartition = "",
): ValidatedRecords {
  const compacted = config.cleanupPolicy?.includes("compact") ?? false;
  if (records.length === 0) throw new InvalidRecordError("an append needs at least one record batch");
  if (records.length > config.segmentBytes)
    throw new RecordBatchTooLargeError(
      `an append of ${records.length} bytes does not fit in a segment (segment.bytes = ${config.segmentBytes})`,
    );
  const batches: ValidatedBatch[] = [];
  let recordCount = 0;
  let pos = 0;
  while (pos < records.length) {
    if (records.length - pos < LOG_OVERHEAD)
      throw new CorruptRecordError(`${records.length - pos} trailing bytes are not a record batch`);
    const sizeInBytes = LOG_OVERHEAD + records.readInt32BE(pos + 8);
    if (sizeInBytes > config.maxMessageBytes)
      throw new MessageTooLargeError(
        `a record batch of ${sizeInBytes} bytes exceeds max.message.bytes = ${config.maxMessageBytes}`,
      );
    // readBatchHeader's checks, made here on the fields themselves: readBatchHeader caches a
    // DataView per ArrayBuffer in a WeakMap, and with a new ArrayBuffer per socket read those
    // views and entries outlive a scavenge and are promoted, i.e. cost mark-compacts. It runs
    // only to name what is wrong with a bad header.
    if (!plausibleBatchHeader(records, pos)) {
      try {
        readBatchHeader(records, pos);
      } catch (e) {
        throw new CorruptRecordError(`invalid record batch at byte ${pos}: ${(e as Error).message}`, { cause: e });
      }
      throw new Error(`readBatchHeader accepted the batch at byte ${pos} that validateRecords refused`);
    }
    const header = {
      attributes: records.readInt16BE(pos + ATTRIBUTES_OFFSET),
      lastOffsetDelta: records.readInt32BE(pos + LAST_OFFSET_DELTA_OFFSET),
      recordCount: records.readInt32BE(pos + RECORDS_COUNT_OFFSET),
    };
    if (!verifyBatchCrc(records, pos)) throw new CorruptRecordError(`record batch at byte ${pos} fails its CRC`);
    if (header.lastOffsetDelta < 0) throw new InvalidRecordError(`negative lastOffsetDelta at byte ${pos}`);
    if (assignOffsets && (header.recordCount < 1 || header.lastOffsetDelta !== header.recordCount - 1))
      throw new InvalidRecordError(
        `record batch at byte ${pos} has ${header.recordCount} records but lastOffsetDelta ${header.lastOffsetDelta}`,
      );
    if (compacted && !isControlBatch(header.attributes)) checkKeys(records, pos, sizeInBytes, header, topicPartition);
    batches.push({
      position: pos,
      sizeInBytes,
      baseOffset: records.readBigInt64BE(pos + BASE_OFFSET_OFFSET),
      lastOffsetDelta: header.lastOffsetDelta,
      recordCount: header.recordCount,
      maxTimestamp: records.readBigInt64BE(pos + MAX_TIMESTAMP_OFFSET),
      partitionLeaderEpoch: records.readInt32BE(pos + PARTITION_LEADER_EPOCH_OFFSET),
    });
    recordCount += header.recordCount;
    pos += sizeInBytes;
  }
  return { batches, recordCount };
}

/** The codec bits of the attributes, and the largest codec id there is (zstd). */
const COMPRESSION_CODEC_MASK = 0x07;
const MAX_COMPRESSION_CODEC = 4;

/** What readBatchHeader checks (length, magic, batch length, codec), without reading the header into an object. */
function plausibleBatchHeader(records: Buffer, pos: number): boolean {
  if (records.length - pos < BATCH_HEADER_SIZE) return false;
  const batchLength = records.readInt32BE(pos + BATCH_LENGTH_OFFSET);
  return (
    records[pos + MAGIC_OFFSET] === MAGIC_V2 &&
    batchLength >= MIN_BATCH_LENGTH &&
    batchLength <= records.length - pos - LOG_OVERHEAD &&
    (records.readInt16BE(pos + ATTRIBUTES_OFFSET) & COMPRESSION_CODEC_MASK) <= MAX_COMPRESSION_CODEC
  );
}

/**
 * Kafka's LogValidator rule for compacted topics: every record needs a key, or the cleaner could
 * not tell which record of a key is the latest. A compressed batch is decompressed for this check,
 * on compacted topics only. The error is INVALID_RECORD with Kafka's message.
 */
function checkKeys(
  records: Buffer,
  pos: number,
  sizeInBytes: number,
  header: { attributes: number; recordCount: number },
  topicPartition: string,
): void {
  const codec = compressionTypeOf(header.attributes);
  let buf = records;
  let start = pos + RECORDS_OFFSET;
  let end = pos + sizeInBytes;
  try {
    if (codec !== CompressionType.None) {
      buf = decompress(codec, records.subarray(start, end));
      start = 0;
      end = buf.length;
    }
    walkRecords(buf, start, end, header.recordCount, (r) => {
      if (r.keyStart < 0)
        throw new InvalidRecordError(
          `Compacted topic cannot accept message without key in topic partition ${topicPartition}.`,
        );
    });
  } catch (e) {
    if (e instanceof InvalidRecordError) throw e;
    throw new CorruptRecordError(`record batch at byte ${pos} has malformed records: ${(e as Error).message}`, {
      cause: e,
    });
  }
}
