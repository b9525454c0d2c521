/**
 * The 61-byte header of a magic-2 record batch (Kafka's DefaultRecordBatch), read without
 * touching the records. This is the broker's hot path: Produce validates and patches it in
 * place, the log indexes by it, recovery walks it. Nothing here decompresses or allocates
 * beyond the returned header object.
 *
 * Layout (big-endian), offsets from the start of the batch:
 *
 *   0  baseOffset            int64  \ LOG_OVERHEAD: not covered by the batch's own length
 *   8  batchLength           int32  /   (batchLength counts the bytes after this field)
 *  12  partitionLeaderEpoch  int32    outside the CRC: the broker rewrites it on append
 *  16  magic                 int8     = 2 (at the same position as in legacy messages)
 *  17  crc                   uint32   CRC32C of attributes .. end of batch
 *  21  attributes            int16    codec 0-2, timestampType 3, transactional 4, control 5,
 *                                     hasDeleteHorizonMs 6 (KIP-534)
 *  23  lastOffsetDelta       int32
 *  27  baseTimestamp         int64    (the delete horizon when hasDeleteHorizonMs is set)
 *  35  maxTimestamp          int64
 *  43  producerId            int64
 *  51  producerEpoch         int16
 *  53  baseSequence          int32
 *  57  recordCount           int32
 *  61  records ...
 *
 * baseOffset and partitionLeaderEpoch sit before the CRC's range on purpose: the broker assigns
 * both on append without recomputing the CRC. Their corruption cannot be detected here.
 */
import { crc32c } from "@node-rs/crc32";
import { DecodeError } from "../primitives/index.js";

/** baseOffset int64 + batchLength int32 (Kafka's Records.LOG_OVERHEAD). */
export const LOG_OVERHEAD = 12;
/** baseOffset .. recordCount of a magic-2 batch (Kafka's DefaultRecordBatch.RECORD_BATCH_OVERHEAD). */
export const BATCH_HEADER_SIZE = 61;
/** The smallest legal batchLength: a batch with no records. */
export const MIN_BATCH_LENGTH = BATCH_HEADER_SIZE - LOG_OVERHEAD;

export const BASE_OFFSET_OFFSET = 0;
export const BATCH_LENGTH_OFFSET = 8;
export const PARTITION_LEADER_EPOCH_OFFSET = 12;
export const MAGIC_OFFSET = 16;
export const CRC_OFFSET = 17;
export const ATTRIBUTES_OFFSET = 21;
export const LAST_OFFSET_DELTA_OFFSET = 23;
export const BASE_TIMESTAMP_OFFSET = 27;
export const MAX_TIMESTAMP_OFFSET = 35;
export const PRODUCER_ID_OFFSET = 43;
export const PRODUCER_EPOCH_OFFSET = 51;
export const BASE_SEQUENCE_OFFSET = 53;
export const RECORDS_COUNT_OFFSET = 57;
export const RECORDS_OFFSET = 61;

export const MAGIC_V0 = 0;
export const MAGIC_V1 = 1;
export const MAGIC_V2 = 2;

/** RecordBatch.NO_TIMESTAMP: magic 0 messages and batches without records. */
export const NO_TIMESTAMP = -1n;
/** RecordBatch.NO_PRODUCER_ID / NO_PRODUCER_EPOCH / NO_SEQUENCE: a non-idempotent producer. */
export const NO_PRODUCER_ID = -1n;
export const NO_PRODUCER_EPOCH = -1;
export const NO_SEQUENCE = -1;
/** RecordBatch.NO_PARTITION_LEADER_EPOCH: what clients send; the leader fills it in. */
export const NO_PARTITION_LEADER_EPOCH = -1;

export enum CompressionType {
  None = 0,
  Gzip = 1,
  Snappy = 2,
  Lz4 = 3,
  Zstd = 4,
}

export enum TimestampType {
  CreateTime = 0,
  LogAppendTime = 1,
}

const COMPRESSION_CODEC_MASK = 0x07;
const TIMESTAMP_TYPE_MASK = 0x08;
const TRANSACTIONAL_FLAG_MASK = 0x10;
const CONTROL_FLAG_MASK = 0x20;
const DELETE_HORIZON_FLAG_MASK = 0x40;
/** Zstd (KIP-110) is the highest codec id Kafka knows. */
const MAX_COMPRESSION_TYPE = CompressionType.Zstd;

export function compressionTypeOf(attributes: number): CompressionType {
  return attributes & COMPRESSION_CODEC_MASK;
}

export function timestampTypeOf(attributes: number): TimestampType {
  return (attributes & TIMESTAMP_TYPE_MASK) === 0 ? TimestampType.CreateTime : TimestampType.LogAppendTime;
}

export function isTransactional(attributes: number): boolean {
  return (attributes & TRANSACTIONAL_FLAG_MASK) !== 0;
}

export function isControlBatch(attributes: number): boolean {
  return (attributes & CONTROL_FLAG_MASK) !== 0;
}

/** KIP-534: set by the log cleaner; baseTimestamp then holds the delete horizon of tombstones. */
export function hasDeleteHorizon(attributes: number): boolean {
  return (attributes & DELETE_HORIZON_FLAG_MASK) !== 0;
}

/** Builds the attributes int16 of a batch (or, using only codec and timestamp type, of a legacy message). */
export function makeAttributes(
  compression: CompressionType,
  timestampType: TimestampType,
  transactional: boolean,
  control: boolean,
  deleteHorizon = false,
): number {
  return (
    (compression & COMPRESSION_CODEC_MASK) |
    (timestampType === TimestampType.LogAppendTime ? TIMESTAMP_TYPE_MASK : 0) |
    (transactional ? TRANSACTIONAL_FLAG_MASK : 0) |
    (control ? CONTROL_FLAG_MASK : 0) |
    (deleteHorizon ? DELETE_HORIZON_FLAG_MASK : 0)
  );
}

export interface RecordBatchHeader {
  baseOffset: bigint;
  batchLength: number;
  partitionLeaderEpoch: number;
  magic: number;
  crc: number;
  attributes: number;
  lastOffsetDelta: number;
  baseTimestamp: bigint;
  maxTimestamp: bigint;
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
}

/**
 * One DataView per ArrayBuffer, weakly held. DataView.getBigInt64 is a V8 builtin and about three
 * times faster than Buffer.readBigInt64BE; creating the view per call would cost more than the
 * reads, and a strong "last buffer" cache would pin a possibly huge segment buffer in memory.
 */
const views = new WeakMap<ArrayBufferLike, DataView>();

function viewOf(buf: Buffer): DataView {
  let view = views.get(buf.buffer);
  if (view === undefined) {
    view = new DataView(buf.buffer);
    views.set(buf.buffer, view);
  }
  return view;
}

/**
 * Reads the batch header at `offset` without decompressing or verifying the CRC.
 * Throws DecodeError when fewer than 61 bytes remain, the magic is not 2, the codec id is
 * unknown, or batchLength is below 49 or runs past the end of `buf`.
 */
export function readBatchHeader(buf: Buffer, offset = 0): RecordBatchHeader {
  if (buf.length - offset < BATCH_HEADER_SIZE || offset < 0) failHeader(buf, offset);
  const view = viewOf(buf);
  const p = buf.byteOffset + offset;
  const batchLength = view.getInt32(p + BATCH_LENGTH_OFFSET);
  const magic = view.getInt8(p + MAGIC_OFFSET);
  const attributes = view.getInt16(p + ATTRIBUTES_OFFSET);
  if (
    magic !== MAGIC_V2 ||
    batchLength < MIN_BATCH_LENGTH ||
    batchLength > buf.length - offset - LOG_OVERHEAD ||
    (attributes & COMPRESSION_CODEC_MASK) > MAX_COMPRESSION_TYPE
  ) {
    failHeader(buf, offset);
  }
  return {
    baseOffset: view.getBigInt64(p),
    batchLength,
    partitionLeaderEpoch: view.getInt32(p + PARTITION_LEADER_EPOCH_OFFSET),
    magic,
    crc: view.getUint32(p + CRC_OFFSET),
    attributes,
    lastOffsetDelta: view.getInt32(p + LAST_OFFSET_DELTA_OFFSET),
    baseTimestamp: view.getBigInt64(p + BASE_TIMESTAMP_OFFSET),
    maxTimestamp: view.getBigInt64(p + MAX_TIMESTAMP_OFFSET),
    producerId: view.getBigInt64(p + PRODUCER_ID_OFFSET),
    producerEpoch: view.getInt16(p + PRODUCER_EPOCH_OFFSET),
    baseSequence: view.getInt32(p + BASE_SEQUENCE_OFFSET),
    recordCount: view.getInt32(p + RECORDS_COUNT_OFFSET),
  };
}

/** The slow path of readBatchHeader: works out which field is wrong, to name it. */
function failHeader(buf: Buffer, offset: number): never {
  const left = buf.length - offset;
  if (offset < 0 || offset > buf.length) {
    throw new DecodeError("RecordBatch", offset, `offset outside a buffer of ${buf.length} bytes`);
  }
  // Report a legacy magic before a short buffer: a 30-byte magic-0 message is not "truncated".
  if (left > MAGIC_OFFSET) {
    const magic = buf.readInt8(offset + MAGIC_OFFSET);
    if (magic !== MAGIC_V2) {
      throw new DecodeError("RecordBatch.magic", offset + MAGIC_OFFSET, `expected magic 2, found ${magic}`);
    }
  }
  if (left < BATCH_HEADER_SIZE) {
    throw new DecodeError("RecordBatch", offset, `truncated header: needs ${BATCH_HEADER_SIZE} bytes, ${left} left`);
  }
  const batchLength = buf.readInt32BE(offset + BATCH_LENGTH_OFFSET);
  if (batchLength < MIN_BATCH_LENGTH) {
    throw new DecodeError(
      "RecordBatch.batchLength",
      offset + BATCH_LENGTH_OFFSET,
      `${batchLength} is below the minimum ${MIN_BATCH_LENGTH}`,
    );
  }
  if (batchLength > left - LOG_OVERHEAD) {
    throw new DecodeError(
      "RecordBatch.batchLength",
      offset + BATCH_LENGTH_OFFSET,
      `${batchLength} runs past the end of the buffer (${left - LOG_OVERHEAD} bytes left)`,
    );
  }
  const codec = buf.readInt16BE(offset + ATTRIBUTES_OFFSET) & COMPRESSION_CODEC_MASK;
  throw new DecodeError("RecordBatch.attributes", offset + ATTRIBUTES_OFFSET, `unknown compression type ${codec}`);
}

/** CRC32C of attributes .. end of the batch at `offset`, as Kafka computes it. */
export function computeBatchCrc(buf: Buffer, offset = 0): number {
  const end = batchEnd(buf, offset);
  return crc32c(buf.subarray(offset + ATTRIBUTES_OFFSET, end));
}

/**
 * True when the stored CRC matches attributes .. end of batch. The bytes before the CRC field
 * (baseOffset, batchLength, partitionLeaderEpoch, magic) are not covered, by Kafka's design;
 * a corrupted batchLength usually surfaces anyway, as a CRC over the wrong range.
 * Throws DecodeError when the batch does not fit in `buf`.
 */
export function verifyBatchCrc(buf: Buffer, offset = 0): boolean {
  return computeBatchCrc(buf, offset) === buf.readUInt32BE(offset + CRC_OFFSET);
}

function batchEnd(buf: Buffer, offset: number): number {
  if (offset < 0 || buf.length - offset < BATCH_HEADER_SIZE) failHeader(buf, offset);
  const batchLength = buf.readInt32BE(offset + BATCH_LENGTH_OFFSET);
  if (batchLength < MIN_BATCH_LENGTH || batchLength > buf.length - offset - LOG_OVERHEAD) failHeader(buf, offset);
  return offset + LOG_OVERHEAD + batchLength;
}

/** Assigns the batch's base offset in place; outside the CRC, so nothing else changes. */
export function setBaseOffset(buf: Buffer, offset: number, baseOffset: bigint): void {
  buf.writeBigInt64BE(baseOffset, offset + BASE_OFFSET_OFFSET);
}

/** Stamps the leader epoch in place; outside the CRC, as in Kafka, so the CRC stays valid. */
export function setPartitionLeaderEpoch(buf: Buffer, offset: number, epoch: number): void {
  buf.writeInt32BE(epoch, offset + PARTITION_LEADER_EPOCH_OFFSET);
}

/**
 * For message.timestamp.type=LogAppendTime: marks the batch LogAppendTime, sets maxTimestamp
 * (which then stands for every record's timestamp) and recomputes the CRC, as Kafka's
 * DefaultRecordBatch.setMaxTimestamp does. Skips the CRC pass when nothing would change.
 */
export function setMaxTimestampLogAppendTime(buf: Buffer, offset: number, timestamp: bigint): void {
  const end = batchEnd(buf, offset);
  const attributes = buf.readInt16BE(offset + ATTRIBUTES_OFFSET);
  const updated = attributes | TIMESTAMP_TYPE_MASK;
  if (updated === attributes && buf.readBigInt64BE(offset + MAX_TIMESTAMP_OFFSET) === timestamp) return;
  buf.writeInt16BE(updated, offset + ATTRIBUTES_OFFSET);
  buf.writeBigInt64BE(timestamp, offset + MAX_TIMESTAMP_OFFSET);
  buf.writeUInt32BE(crc32c(buf.subarray(offset + ATTRIBUTES_OFFSET, end)), offset + CRC_OFFSET);
}

/** The offset of the last record the batch was created with (kept even after compaction removes it). */
export function lastOffsetOf(header: RecordBatchHeader): bigint {
  return header.baseOffset + BigInt(header.lastOffsetDelta);
}

/** Total bytes of the batch on the wire and on disk: LOG_OVERHEAD + batchLength. */
export function sizeInBytesOf(header: RecordBatchHeader): number {
  return LOG_OVERHEAD + header.batchLength;
}
