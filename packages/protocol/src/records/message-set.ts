/**
 * Legacy message sets, magic 0 and 1 (Kafka's LegacyRecord), for clients that predate record
 * batches (Produce v0-2, Fetch v0-3). Each message:
 *
 *   offset int64 | messageSize int32 | crc uint32 | magic int8 | attributes int8 |
 *   [timestamp int64, magic 1 only] | keyLength int32 | key | valueLength int32 | value
 *
 * The CRC is CRC32 (not CRC32C) over magic .. end. attributes: codec in bits 0-2 (no zstd),
 * timestamp type in bit 3 (magic 1). A compressed message is a "wrapper": its value is a whole
 * message set, compressed; the inner messages are uncompressed and have the wrapper's magic.
 * With magic 1 the inner offsets are relative (0, 1, ...) and the wrapper carries the absolute
 * offset of the last inner message; with magic 0 inner offsets are absolute.
 *
 * Decoding presents each top-level message as a batch (like Kafka's AbstractLegacyRecordBatch):
 * a RecordBatchHeader synthesized from the message, and its records (one, or the wrapper's inner
 * messages), so callers handle every magic with the same types.
 */
import { crc32 } from "@node-rs/crc32";
import { DecodeError, EncodeError } from "../primitives/index.js";
import {
  CompressionType,
  compressionTypeOf,
  LOG_OVERHEAD,
  MAGIC_V0,
  MAGIC_V1,
  NO_PARTITION_LEADER_EPOCH,
  NO_PRODUCER_EPOCH,
  NO_PRODUCER_ID,
  NO_SEQUENCE,
  NO_TIMESTAMP,
  type RecordBatchHeader,
  TimestampType,
  timestampTypeOf,
} from "./batch-header.js";
import { compress, decompress } from "./compression.js";
import {
  type DecodedRecordBatch,
  type DecodeRecordBatchOptions,
  LEGACY_RECORD_OVERHEAD_V0,
  LEGACY_RECORD_OVERHEAD_V1,
  type Record,
  type RecordInput,
} from "./record-batch.js";

export type LegacyMagic = typeof MAGIC_V0 | typeof MAGIC_V1;

/** One message exactly as on the wire (for a wrapper, `value` is still compressed). */
export interface LegacyMessage {
  offset: bigint;
  /** 12 + messageSize. */
  sizeInBytes: number;
  crc: number;
  magic: LegacyMagic;
  attributes: number;
  /** NO_TIMESTAMP (-1) for magic 0. */
  timestamp: bigint;
  key: Buffer | null;
  value: Buffer | null;
}

const CRC_OFFSET = 12;
const MAGIC_OFFSET = 16;
const ATTRIBUTES_OFFSET = 17;
const TIMESTAMP_OFFSET = 18;
/** Kafka has no zstd before magic 2 (KIP-110). */
const MAX_LEGACY_COMPRESSION = CompressionType.Lz4;

function overheadOf(magic: LegacyMagic): number {
  return magic === MAGIC_V0 ? LEGACY_RECORD_OVERHEAD_V0 : LEGACY_RECORD_OVERHEAD_V1;
}

/**
 * Reads one message at `offset` without decompressing its value. Verifies the CRC32 unless
 * `verifyCrc` is false. Throws DecodeError naming the field for anything malformed.
 */
export function readLegacyMessage(buf: Buffer, offset = 0, options?: { verifyCrc?: boolean }): LegacyMessage {
  const left = buf.length - offset;
  if (offset < 0 || left < LOG_OVERHEAD + LEGACY_RECORD_OVERHEAD_V0) {
    throw new DecodeError("Message", offset, `truncated message: ${left} bytes left`);
  }
  const messageSize = buf.readInt32BE(offset + 8);
  const magic = buf.readInt8(offset + MAGIC_OFFSET);
  if (magic !== MAGIC_V0 && magic !== MAGIC_V1) {
    throw new DecodeError("Message.magic", offset + MAGIC_OFFSET, `expected magic 0 or 1, found ${magic}`);
  }
  if (messageSize < overheadOf(magic)) {
    throw new DecodeError(
      "Message.messageSize",
      offset + 8,
      `${messageSize} is below the minimum ${overheadOf(magic)} for magic ${magic}`,
    );
  }
  if (messageSize > left - LOG_OVERHEAD) {
    throw new DecodeError(
      "Message.messageSize",
      offset + 8,
      `${messageSize} runs past the end of the buffer (${left - LOG_OVERHEAD} bytes left)`,
    );
  }
  const end = offset + LOG_OVERHEAD + messageSize;
  const crc = buf.readUInt32BE(offset + CRC_OFFSET);
  if (options?.verifyCrc !== false) {
    const computed = crc32(buf.subarray(offset + MAGIC_OFFSET, end));
    if (computed !== crc) {
      throw new DecodeError(
        "Message.crc",
        offset + CRC_OFFSET,
        `CRC32 mismatch: stored 0x${hex32(crc)}, computed 0x${hex32(computed)} over magic..end: the message is corrupt`,
      );
    }
  }
  const attributes = buf.readInt8(offset + ATTRIBUTES_OFFSET);
  const codec = compressionTypeOf(attributes);
  if (codec > MAX_LEGACY_COMPRESSION) {
    throw new DecodeError(
      "Message.attributes",
      offset + ATTRIBUTES_OFFSET,
      codec === CompressionType.Zstd ? `zstd is not allowed in magic ${magic}` : `unknown compression type ${codec}`,
    );
  }
  let pos = offset + ATTRIBUTES_OFFSET + 1;
  let timestamp = NO_TIMESTAMP;
  if (magic === MAGIC_V1) {
    timestamp = buf.readBigInt64BE(offset + TIMESTAMP_OFFSET);
    pos += 8;
  }
  const key = readNullableBytes(buf, pos, end, "Message.key");
  pos += 4 + (key?.length ?? 0);
  const value = readNullableBytes(buf, pos, end, "Message.value");
  pos += 4 + (value?.length ?? 0);
  if (pos !== end) {
    throw new DecodeError("Message.messageSize", offset + 8, `${end - pos} bytes left after the value`);
  }
  return {
    offset: buf.readBigInt64BE(offset),
    sizeInBytes: LOG_OVERHEAD + messageSize,
    crc,
    magic,
    attributes,
    timestamp,
    key,
    value,
  };
}

function readNullableBytes(buf: Buffer, pos: number, end: number, field: string): Buffer | null {
  if (end - pos < 4) throw new DecodeError(field, pos, `truncated length: ${end - pos} bytes left in the message`);
  const n = buf.readInt32BE(pos);
  if (n === -1) return null;
  if (n < 0) throw new DecodeError(field, pos, `invalid length ${n}`);
  if (n > end - pos - 4)
    throw new DecodeError(field, pos, `length ${n} runs past the message (${end - pos - 4} bytes left)`);
  return buf.subarray(pos + 4, pos + 4 + n);
}

function hex32(n: number): string {
  return n.toString(16).padStart(8, "0");
}

/** The header Kafka's legacy batch view reports: no producer state, no leader epoch. */
function synthesizeHeader(outer: LegacyMessage, records: Record[]): RecordBatchHeader {
  const first = records[0];
  const last = records[records.length - 1];
  return {
    baseOffset: first.offset,
    batchLength: outer.sizeInBytes - LOG_OVERHEAD,
    partitionLeaderEpoch: NO_PARTITION_LEADER_EPOCH,
    magic: outer.magic,
    crc: outer.crc,
    attributes: outer.attributes & 0xff,
    lastOffsetDelta: Number(last.offset - first.offset),
    baseTimestamp: first.timestamp,
    maxTimestamp: outer.timestamp,
    producerId: NO_PRODUCER_ID,
    producerEpoch: NO_PRODUCER_EPOCH,
    baseSequence: NO_SEQUENCE,
    recordCount: records.length,
  };
}

/**
 * Decodes the top-level message at `offset` as a batch: a plain message gives one record, a
 * compressed wrapper gives its inner messages with absolute offsets (and the wrapper's
 * timestamp when it is LogAppendTime), checked as Kafka's DeepRecordsIterator checks them.
 */
export function decodeLegacyBatch(buf: Buffer, offset = 0, options?: DecodeRecordBatchOptions): DecodedRecordBatch {
  const outer = readLegacyMessage(buf, offset, options);
  const codec = compressionTypeOf(outer.attributes);
  if (codec === CompressionType.None) {
    const record: Record = {
      offset: outer.offset,
      timestamp: outer.timestamp,
      key: outer.key,
      value: outer.value,
      headers: [],
    };
    return { header: synthesizeHeader(outer, [record]), records: [record] };
  }
  const valueAt = offset + outer.sizeInBytes - (outer.value?.length ?? 0);
  if (outer.value === null) {
    throw new DecodeError("Message.value", valueAt - 4, "compressed wrapper message has a null value");
  }
  const inner = decompress(codec, outer.value, {
    maxDecompressedBytes: options?.maxDecompressedBytes,
    magic: outer.magic,
    field: "Message.value",
    position: valueAt,
  });
  const messages: LegacyMessage[] = [];
  let pos = 0;
  try {
    while (pos < inner.length) {
      const m = readLegacyMessage(inner, pos, options);
      if (m.magic !== outer.magic) {
        throw new DecodeError(
          "Message.magic",
          pos + MAGIC_OFFSET,
          `inner magic ${m.magic} differs from the wrapper's ${outer.magic}`,
        );
      }
      if (compressionTypeOf(m.attributes) !== CompressionType.None) {
        throw new DecodeError(
          "Message.attributes",
          pos + ATTRIBUTES_OFFSET,
          "nested compression inside a wrapper message",
        );
      }
      messages.push(m);
      pos += m.sizeInBytes;
    }
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
    throw new DecodeError(
      `Message.value(inner).${e.field}`,
      e.offset,
      `${problemOf(e)} (offset within the decompressed message set)`,
    );
  }
  if (messages.length === 0) {
    throw new DecodeError("Message.value", valueAt, "compressed wrapper message contains no messages");
  }
  // Magic 1 wrappers carry the absolute offset of the last inner message (KIP-31).
  const absoluteBase = outer.magic === MAGIC_V1 ? outer.offset - messages[messages.length - 1].offset : 0n;
  const logAppendTime =
    outer.magic === MAGIC_V1 && timestampTypeOf(outer.attributes) === TimestampType.LogAppendTime
      ? outer.timestamp
      : undefined;
  const records: Record[] = messages.map((m) => ({
    offset: absoluteBase + m.offset,
    timestamp: logAppendTime ?? m.timestamp,
    key: m.key,
    value: m.value,
    headers: [],
  }));
  return { header: synthesizeHeader(outer, records), records };
}

function problemOf(e: DecodeError): string {
  const prefix = `${e.field}: `;
  const suffix = ` (at byte ${e.offset})`;
  let text = e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message;
  if (text.endsWith(suffix)) text = text.slice(0, -suffix.length);
  return text;
}

// --- encode ----------------------------------------------------------------------------------

export interface EncodeMessageSetOptions {
  magic: LegacyMagic;
  /** Legacy records have no headers: a record with headers is an EncodeError (down-conversion drops them first). */
  records: RecordInput[];
  /** None, Gzip, Snappy or Lz4. With a codec, all records go into one wrapper message. */
  compression?: CompressionType;
  /** Offset of the first record unless records carry their own; default 0. */
  baseOffset?: bigint;
  /** Magic 1 only. */
  timestampType?: TimestampType;
  /** Magic 1 LogAppendTime: the wrapper's (and so every record's) timestamp; default the max record timestamp. */
  logAppendTime?: bigint;
}

function writeMessage(
  magic: LegacyMagic,
  offset: bigint,
  attributes: number,
  timestamp: bigint,
  key: Buffer | null,
  value: Buffer | null,
): Buffer {
  const messageSize = overheadOf(magic) + (key?.length ?? 0) + (value?.length ?? 0);
  const out = Buffer.allocUnsafe(LOG_OVERHEAD + messageSize);
  out.writeBigInt64BE(offset, 0);
  out.writeInt32BE(messageSize, 8);
  out.writeInt8(magic, MAGIC_OFFSET);
  out.writeInt8(attributes, ATTRIBUTES_OFFSET);
  let pos = ATTRIBUTES_OFFSET + 1;
  if (magic === MAGIC_V1) {
    out.writeBigInt64BE(timestamp, TIMESTAMP_OFFSET);
    pos += 8;
  }
  for (const bytes of [key, value]) {
    out.writeInt32BE(bytes === null ? -1 : bytes.length, pos);
    pos += 4;
    if (bytes !== null) {
      bytes.copy(out, pos);
      pos += bytes.length;
    }
  }
  out.writeUInt32BE(crc32(out.subarray(MAGIC_OFFSET)), CRC_OFFSET);
  return out;
}

function checkInt64(field: string, v: bigint): void {
  if (BigInt.asIntN(64, v) !== v) throw new EncodeError(field, `${v} does not fit in an int64`);
}

/**
 * Writes a legacy message set: one message per record, or with a codec a single wrapper
 * holding them all (as Kafka's MemoryRecordsBuilder does for magic 0/1). Magic-0 lz4 gets the
 * broken header checksum old clients expect (KAFKA-3160).
 */
export function encodeMessageSet(opts: EncodeMessageSetOptions): Buffer {
  const { magic, records } = opts;
  if (magic !== MAGIC_V0 && magic !== MAGIC_V1) throw new EncodeError("magic", `${magic} is not a legacy magic`);
  const codec = opts.compression ?? CompressionType.None;
  if (!Number.isInteger(codec) || codec < CompressionType.None || codec > MAX_LEGACY_COMPRESSION) {
    throw new EncodeError(
      "compression",
      codec === CompressionType.Zstd
        ? `zstd needs magic 2; cannot write it in magic ${magic}`
        : `unknown type ${codec}`,
    );
  }
  const timestampType =
    magic === MAGIC_V1 ? (opts.timestampType ?? TimestampType.CreateTime) : TimestampType.CreateTime;
  const timestampBit = timestampType === TimestampType.LogAppendTime ? 0x08 : 0;
  const baseOffset = opts.baseOffset ?? 0n;
  checkInt64("baseOffset", baseOffset);
  const offsets: bigint[] = [];
  let maxTimestamp = NO_TIMESTAMP;
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    if (r.headers !== undefined && r.headers.length > 0) {
      throw new EncodeError(`records[${i}].headers`, `magic ${magic} messages cannot carry headers`);
    }
    const offset = r.offset ?? (i === 0 ? baseOffset : offsets[i - 1] + 1n);
    checkInt64(`records[${i}].offset`, offset);
    if (i > 0 && offset <= offsets[i - 1]) {
      throw new EncodeError(`records[${i}].offset`, `offset ${offset} does not follow ${offsets[i - 1]}`);
    }
    offsets.push(offset);
    const ts = r.timestamp ?? NO_TIMESTAMP;
    checkInt64(`records[${i}].timestamp`, ts);
    if (ts > maxTimestamp) maxTimestamp = ts;
  }
  // With LogAppendTime every message carries the append time, as Kafka's builder writes them.
  const logAppendTime =
    timestampType === TimestampType.LogAppendTime ? (opts.logAppendTime ?? maxTimestamp) : undefined;
  const timestampOf = (r: RecordInput) =>
    magic === MAGIC_V0 ? NO_TIMESTAMP : (logAppendTime ?? r.timestamp ?? NO_TIMESTAMP);

  if (codec === CompressionType.None) {
    return Buffer.concat(
      records.map((r, i) => writeMessage(magic, offsets[i], timestampBit, timestampOf(r), r.key ?? null, r.value)),
    );
  }
  if (records.length === 0) return Buffer.alloc(0);
  // Magic 1: inner offsets relative to the first, wrapper at the last absolute offset (KIP-31).
  const innerBase = magic === MAGIC_V1 ? offsets[0] : 0n;
  const inner = Buffer.concat(
    records.map((r, i) =>
      writeMessage(magic, offsets[i] - innerBase, timestampBit, timestampOf(r), r.key ?? null, r.value),
    ),
  );
  const wrapperTimestamp = magic === MAGIC_V0 ? NO_TIMESTAMP : (logAppendTime ?? maxTimestamp);
  return writeMessage(
    magic,
    offsets[offsets.length - 1],
    codec | timestampBit,
    wrapperTimestamp,
    null,
    compress(codec, inner, { magic }),
  );
}

/** True for the magics this file handles; a v2 batch goes to decodeRecordBatch. */
export function isLegacyMagic(magic: number): magic is LegacyMagic {
  return magic === MAGIC_V0 || magic === MAGIC_V1;
}
