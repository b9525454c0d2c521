/**
 * The one place the log imports record batch code from `@samsa/protocol`, plus the one thing it
 * needs that the protocol's API does not offer: peeking at the first fields of a batch header in a
 * buffer that holds only the start of the batch (readBatchHeader insists on the whole batch being
 * present, which is right for validation but would force the read path to read whole batches just
 * to skip over them).
 */
import { BATCH_HEADER_SIZE, LOG_OVERHEAD } from "@samsa/protocol";

export {
  BATCH_HEADER_SIZE,
  decodeRecordBatch,
  LOG_OVERHEAD,
  type RecordBatchHeader,
  readBatchHeader,
  setBaseOffset,
  setPartitionLeaderEpoch,
  verifyBatchCrc,
} from "@samsa/protocol";

/** Bytes of a magic-2 header up to and including maxTimestamp (offsets 0..42). */
export const BATCH_PEEK_SIZE = 43;
const BATCH_LENGTH_OFFSET = 8;
const PARTITION_LEADER_EPOCH_OFFSET = 12;
const MAGIC_OFFSET = 16;
const LAST_OFFSET_DELTA_OFFSET = 23;
const MAX_TIMESTAMP_OFFSET = 35;
/** batchLength of a batch with no records: the header after LOG_OVERHEAD. */
export const MIN_BATCH_LENGTH = BATCH_HEADER_SIZE - LOG_OVERHEAD;

/** Where a batch sits and what offsets it covers, from its first 43 bytes. */
export interface BatchBounds {
  baseOffset: bigint;
  lastOffset: bigint;
  /** LOG_OVERHEAD + batchLength. */
  sizeInBytes: number;
  magic: number;
  partitionLeaderEpoch: number;
  maxTimestamp: bigint;
}

/**
 * Reads the bounds of the batch at `offset` from a buffer holding at least BATCH_PEEK_SIZE bytes
 * of it; null when fewer bytes are available or the length is impossible (a torn or zeroed tail).
 * Not a validator: CRC and magic are checked by readBatchHeader / verifyBatchCrc where it matters.
 */
export function peekBatchBounds(buf: Buffer, offset: number): BatchBounds | null {
  if (buf.length - offset < BATCH_PEEK_SIZE) return null;
  const batchLength = buf.readInt32BE(offset + BATCH_LENGTH_OFFSET);
  if (batchLength < MIN_BATCH_LENGTH) return null;
  const baseOffset = buf.readBigInt64BE(offset);
  return {
    baseOffset,
    lastOffset: baseOffset + BigInt(buf.readInt32BE(offset + LAST_OFFSET_DELTA_OFFSET)),
    sizeInBytes: LOG_OVERHEAD + batchLength,
    magic: buf.readInt8(offset + MAGIC_OFFSET),
    partitionLeaderEpoch: buf.readInt32BE(offset + PARTITION_LEADER_EPOCH_OFFSET),
    maxTimestamp: buf.readBigInt64BE(offset + MAX_TIMESTAMP_OFFSET),
  };
}

/**
 * Length of the whole batches at the start of `buf` (walking the batchLength fields only), stopping
 * before the first batch that is incomplete or starts at or after `maxOffset`.
 */
export function wholeBatchesPrefix(buf: Buffer, maxOffset?: bigint): number {
  let pos = 0;
  while (buf.length - pos >= LOG_OVERHEAD) {
    const size = LOG_OVERHEAD + buf.readInt32BE(pos + BATCH_LENGTH_OFFSET);
    if (size < BATCH_HEADER_SIZE || pos + size > buf.length) break;
    if (maxOffset !== undefined && buf.readBigInt64BE(pos) >= maxOffset) break;
    pos += size;
  }
  return pos;
}
