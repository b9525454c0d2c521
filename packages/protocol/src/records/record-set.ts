/**
 * A record set is what the `records` field of Produce and Fetch holds: batches concatenated,
 * of any magic (a log written before 0.11 still serves magic 0/1 messages next to v2 batches).
 * Here: decoding all of it, and converting between magics as the broker must for old clients:
 * up on Produce v0-2 (the log holds only magic 2), down on Fetch v0-3.
 */
import { EncodeError } from "../primitives/index.js";
import {
  CompressionType,
  compressionTypeOf,
  isControlBatch,
  MAGIC_V2,
  type RecordBatchHeader,
  TimestampType,
  timestampTypeOf,
} from "./batch-header.js";
import { decodeLegacyBatch, encodeMessageSet, type LegacyMagic } from "./message-set.js";
import {
  type DecodedRecordBatch,
  type DecodeRecordBatchOptions,
  decodeRecordBatch,
  encodeRecordBatch,
  iterateBatches,
} from "./record-batch.js";

/**
 * Decodes every complete batch in `buf[offset, end)`, magic 2 and legacy alike (legacy messages
 * as batches with a synthesized header). A partial trailing batch, which Fetch responses may end
 * with, is left out; iterateBatches tells where the complete batches end.
 */
export function decodeRecordSet(
  buf: Buffer,
  offset = 0,
  end = buf.length,
  options?: DecodeRecordBatchOptions,
): DecodedRecordBatch[] {
  const bounded = end === buf.length ? buf : buf.subarray(0, end);
  const batches: DecodedRecordBatch[] = [];
  for (const { position, magic } of iterateBatches(bounded, offset)) {
    batches.push(
      magic === MAGIC_V2
        ? decodeRecordBatch(bounded, position, options)
        : decodeLegacyBatch(bounded, position, options),
    );
  }
  return batches;
}

export interface UpConvertOptions {
  /** Codec of the new batch; default the source's (Kafka's compression.type=producer). */
  compression?: CompressionType;
  /** First offset to assign; the leader overwrites it on append anyway. Default 0. */
  baseOffset?: bigint;
  maxDecompressedBytes?: number;
}

/**
 * Produce v0-2 → the log: every legacy message of `buf` into ONE magic-2 batch, as Kafka's
 * LogValidator does when it converts on append. Offsets are assigned consecutively (the
 * client's are meaningless), magic-0 messages get NO_TIMESTAMP, magic-1 LogAppendTime is kept.
 * Returns an empty buffer when there is no complete message. A magic-2 batch in the input is an
 * EncodeError: converting it would drop its producer state.
 */
export function upConvertToRecordBatch(buf: Buffer, options?: UpConvertOptions): Buffer {
  const batches = decodeRecordSet(buf, 0, buf.length, { maxDecompressedBytes: options?.maxDecompressedBytes });
  let sourceCodec = CompressionType.None;
  let timestampType = TimestampType.CreateTime;
  for (const { header } of batches) {
    if (header.magic === MAGIC_V2) {
      throw new EncodeError("records", "a magic 2 batch cannot be up-converted; append it as it is");
    }
    if (sourceCodec === CompressionType.None) sourceCodec = compressionTypeOf(header.attributes);
    if (timestampTypeOf(header.attributes) === TimestampType.LogAppendTime) timestampType = TimestampType.LogAppendTime;
  }
  const records = batches.flatMap((b) => b.records);
  if (records.length === 0) return Buffer.alloc(0);
  return encodeRecordBatch({
    records: records.map((r) => ({ key: r.key, value: r.value, timestamp: r.timestamp })),
    baseOffset: options?.baseOffset ?? 0n,
    compression: options?.compression ?? sourceCodec,
    timestampType,
  });
}

export interface DownConvertOptions {
  /** Records below this offset are left out (the fetch offset may fall inside the first batch). */
  firstOffset?: bigint;
  maxDecompressedBytes?: number;
}

function downConvertBatch(
  header: RecordBatchHeader,
  batch: DecodedRecordBatch,
  toMagic: LegacyMagic,
  firstOffset: bigint,
): Buffer | null {
  if (isControlBatch(header.attributes)) return null; // old clients know nothing of transactions
  const records = batch.records.filter((r) => r.offset >= firstOffset);
  if (records.length === 0) return null;
  const codec = compressionTypeOf(header.attributes);
  if (codec === CompressionType.Zstd) {
    // Kafka answers such a fetch with UNSUPPORTED_COMPRESSION_TYPE; the caller maps this error to it.
    throw new EncodeError(
      "compression",
      `zstd batch at offset ${header.baseOffset} cannot be down-converted to magic ${toMagic}`,
    );
  }
  const timestampType = timestampTypeOf(header.attributes);
  return encodeMessageSet({
    magic: toMagic,
    compression: codec,
    timestampType,
    logAppendTime: timestampType === TimestampType.LogAppendTime ? header.maxTimestamp : undefined,
    // Headers do not exist before magic 2; Kafka drops them silently too.
    records: records.map((r) => ({ key: r.key, value: r.value, timestamp: r.timestamp, offset: r.offset })),
  });
}

/**
 * Fetch v0-3 ← the log: rewrites every batch newer than `toMagic` as legacy messages, keeping
 * offsets, codec (one wrapper per compressed batch) and, for magic 1, timestamps and their type,
 * as Kafka's RecordsUtil.downConvert does. Batches already at or below `toMagic` are copied as
 * they are; control batches and record headers are dropped; a partial trailing batch is left out.
 * A zstd batch is an EncodeError (old clients cannot read zstd).
 */
export function downConvertRecordSet(buf: Buffer, toMagic: LegacyMagic, options?: DownConvertOptions): Buffer {
  const firstOffset = options?.firstOffset ?? -(2n ** 63n);
  const decodeOptions = { maxDecompressedBytes: options?.maxDecompressedBytes };
  const out: Buffer[] = [];
  for (const { position, sizeInBytes, magic } of iterateBatches(buf)) {
    if (magic <= toMagic) {
      out.push(buf.subarray(position, position + sizeInBytes));
      continue;
    }
    const batch =
      magic === MAGIC_V2
        ? decodeRecordBatch(buf, position, decodeOptions)
        : decodeLegacyBatch(buf, position, decodeOptions);
    const converted = downConvertBatch(batch.header, batch, toMagic, firstOffset);
    if (converted !== null) out.push(converted);
  }
  return Buffer.concat(out);
}
