/**
 * Record batch v2 (magic 2, Kafka's DefaultRecordBatch): the header (see batch-header.ts), then
 * `recordCount` records, compressed together when the batch has a codec. Each record:
 *
 *   length varint | attributes int8 (unused) | timestampDelta varlong | offsetDelta varint |
 *   keyLength varint | key | valueLength varint | value | headerCount varint |
 *   [headerKeyLength varint | headerKey (UTF-8) | headerValueLength varint | headerValue] ...
 *
 * All varints are zigzag-encoded; a length of -1 means null. Decoded keys, values and header
 * values are views of the input (or of the decompressed buffer): zero-copy, so they live as
 * long as any of them is referenced.
 */
import { crc32c } from "@node-rs/crc32";
import { DecodeError, EncodeError, Reader, Writer } from "../primitives/index.js";
import {
  ATTRIBUTES_OFFSET,
  BATCH_HEADER_SIZE,
  CompressionType,
  CRC_OFFSET,
  compressionTypeOf,
  LOG_OVERHEAD,
  MAGIC_OFFSET,
  MAGIC_V0,
  MAGIC_V1,
  MAGIC_V2,
  MIN_BATCH_LENGTH,
  makeAttributes,
  NO_PARTITION_LEADER_EPOCH,
  NO_PRODUCER_EPOCH,
  NO_PRODUCER_ID,
  NO_SEQUENCE,
  NO_TIMESTAMP,
  RECORDS_COUNT_OFFSET,
  RECORDS_OFFSET,
  type RecordBatchHeader,
  readBatchHeader,
  TimestampType,
  timestampTypeOf,
} from "./batch-header.js";
import { compress, compressAsync, type DecompressOptions, decompress, decompressAsync } from "./compression.js";

export interface RecordHeader {
  key: string;
  value: Buffer | null;
}

/** A decoded record. Offsets and timestamps are absolute (base + delta), as clients see them. */
export interface Record {
  offset: bigint;
  /** CreateTime from the producer, or the batch's maxTimestamp when the batch is LogAppendTime. */
  timestamp: bigint;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
}

export interface RecordInput {
  key?: Buffer | null;
  value: Buffer | null;
  headers?: RecordHeader[];
  /** Defaults to the batch's baseTimestamp. */
  timestamp?: bigint;
  /**
   * Defaults to baseOffset + index. Give it to keep the gaps of a compacted batch; offsets must
   * increase within the batch, as Kafka's MemoryRecordsBuilder requires.
   */
  offset?: bigint;
}

export interface EncodeRecordBatchOptions {
  records: RecordInput[];
  /** Default 0: producers send 0 and the leader assigns the real offset in place. */
  baseOffset?: bigint;
  /** Default: the first record's timestamp, else NO_TIMESTAMP (-1). */
  baseTimestamp?: bigint;
  compression?: CompressionType;
  timestampType?: TimestampType;
  producerId?: bigint;
  producerEpoch?: number;
  baseSequence?: number;
  isTransactional?: boolean;
  isControl?: boolean;
  partitionLeaderEpoch?: number;
  /** Default: the last record's offset delta. The log cleaner keeps it when it drops the last record. */
  lastOffsetDelta?: number;
}

export interface DecodedRecordBatch {
  header: RecordBatchHeader;
  records: Record[];
}

export interface DecodeRecordBatchOptions {
  /** Cap on the decompressed records (DEFAULT_MAX_DECOMPRESSED_BYTES by default). */
  maxDecompressedBytes?: number;
  /** Default true. Turn off only for bytes already verified (e.g. just read back from our own log). */
  verifyCrc?: boolean;
}

/**
 * Smallest encoded record: length, attributes, timestampDelta, offsetDelta, keyLength,
 * valueLength and headerCount of one byte each. Bounds `recordCount` before anything is allocated.
 */
const MIN_RECORD_BYTES = 7;
/** Smallest header: keyLength and valueLength of one byte each. */
const MIN_HEADER_BYTES = 2;
const INT32_MAX = 0x7fffffff;

// --- decode ----------------------------------------------------------------------------------

/** Reader whose errors name the record being read and say where the offsets point. */
class RecordsReader extends Reader {
  index = 0;
  private readonly where: string;

  constructor(buf: Buffer, offset: number, end: number, decompressed: boolean) {
    super(buf, offset, end);
    this.where = decompressed ? " (offset within the decompressed records)" : "";
  }

  override fail(field: string, problem: string): never {
    throw new DecodeError(`RecordBatch.records[${this.index}].${field}`, this.offset, problem + this.where);
  }

  /** readVarlong as a number: no BigInt for the deltas that fit in 28 bits (almost all). */
  readVarlongNumber(field: string): number {
    const buf = this.buf;
    const pos = this.offset;
    if (pos < this.end && buf[pos] < 0x80) {
      this.offset = pos + 1;
      const b = buf[pos];
      return (b >>> 1) ^ -(b & 1);
    }
    if (pos + 1 < this.end && buf[pos + 1] < 0x80) {
      this.offset = pos + 2;
      const u = (buf[pos] & 0x7f) | (buf[pos + 1] << 7);
      return (u >>> 1) ^ -(u & 1);
    }
    return Number(this.readVarlong(field));
  }
}

function checkCrc(buf: Buffer, offset: number, header: RecordBatchHeader): void {
  const end = offset + LOG_OVERHEAD + header.batchLength;
  const computed = crc32c(buf.subarray(offset + ATTRIBUTES_OFFSET, end));
  if (computed !== header.crc) {
    throw new DecodeError(
      "RecordBatch.crc",
      offset + CRC_OFFSET,
      `CRC32C mismatch: stored 0x${hex32(header.crc)}, computed 0x${hex32(computed)} over attributes..end: the batch is corrupt`,
    );
  }
}

function hex32(n: number): string {
  return n.toString(16).padStart(8, "0");
}

function checkRecordCount(header: RecordBatchHeader, offset: number, payloadBytes: number): void {
  if (header.recordCount < 0) {
    throw new DecodeError(
      "RecordBatch.recordCount",
      offset + RECORDS_COUNT_OFFSET,
      `negative count ${header.recordCount}`,
    );
  }
  if (header.recordCount > Math.floor(payloadBytes / MIN_RECORD_BYTES)) {
    throw new DecodeError(
      "RecordBatch.recordCount",
      offset + RECORDS_COUNT_OFFSET,
      `${header.recordCount} records cannot fit in ${payloadBytes} bytes of records`,
    );
  }
}

/** Header, CRC and the raw (possibly compressed) records section; shared by the sync and async decoders. */
function openBatch(
  buf: Buffer,
  offset: number,
  options: DecodeRecordBatchOptions | undefined,
): { header: RecordBatchHeader; codec: CompressionType; payload: Buffer; decompressOptions: DecompressOptions } {
  const header = readBatchHeader(buf, offset);
  if (options?.verifyCrc !== false) checkCrc(buf, offset, header);
  const codec = compressionTypeOf(header.attributes);
  const payload = buf.subarray(offset + RECORDS_OFFSET, offset + LOG_OVERHEAD + header.batchLength);
  if (codec === CompressionType.None) checkRecordCount(header, offset, payload.length);
  else if (header.recordCount < 0) checkRecordCount(header, offset, 0);
  return {
    header,
    codec,
    payload,
    decompressOptions: {
      maxDecompressedBytes: options?.maxDecompressedBytes,
      magic: MAGIC_V2,
      field: "RecordBatch.records",
      position: offset + RECORDS_OFFSET,
    },
  };
}

/**
 * Parses `header.recordCount` records from `buf[start, end)`, which must hold exactly that many.
 * `decompressed` says whether offsets in errors refer to a decompressed buffer.
 */
function readRecords(
  buf: Buffer,
  start: number,
  end: number,
  header: RecordBatchHeader,
  batchOffset: number,
  decompressed: boolean,
): Record[] {
  if (decompressed) checkRecordCount(header, batchOffset, end - start);
  const r = new RecordsReader(buf, start, end, decompressed);
  const count = header.recordCount;
  const records: Record[] = new Array(count);
  const logAppendTime =
    timestampTypeOf(header.attributes) === TimestampType.LogAppendTime ? header.maxTimestamp : undefined;
  for (let i = 0; i < count; i++) {
    r.index = i;
    const length = r.readVarint("length");
    if (length < 0 || length > r.remaining) {
      r.fail("length", `record length ${length} does not fit in the ${r.remaining} bytes left`);
    }
    const recordStart = r.offset;
    r.readInt8("attributes");
    const timestampDelta = r.readVarlong("timestampDelta");
    const offsetDelta = r.readVarint("offsetDelta");
    const keyLength = r.readVarint("keyLength");
    // Kafka reads any negative length as null; so do we.
    const key = keyLength < 0 ? null : r.readRaw(keyLength, "key");
    const valueLength = r.readVarint("valueLength");
    const value = valueLength < 0 ? null : r.readRaw(valueLength, "value");
    const headerCount = r.readVarint("headerCount");
    if (headerCount < 0) r.fail("headerCount", `negative header count ${headerCount}`);
    if (headerCount > Math.floor((recordStart + length - r.offset) / MIN_HEADER_BYTES)) {
      r.fail("headerCount", `${headerCount} headers cannot fit in the record's remaining bytes`);
    }
    const headers: RecordHeader[] = new Array(headerCount);
    for (let h = 0; h < headerCount; h++) {
      const headerKeyLength = r.readVarint("headers.keyLength");
      if (headerKeyLength < 0) r.fail("headers.keyLength", "null header key");
      const headerKey = r.readRaw(headerKeyLength, "headers.key").toString("utf8");
      const headerValueLength = r.readVarint("headers.valueLength");
      const headerValue = headerValueLength < 0 ? null : r.readRaw(headerValueLength, "headers.value");
      headers[h] = { key: headerKey, value: headerValue };
    }
    if (r.offset - recordStart !== length) {
      r.fail("length", `record declared ${length} bytes but its fields used ${r.offset - recordStart}`);
    }
    records[i] = {
      offset: header.baseOffset + BigInt(offsetDelta),
      timestamp: logAppendTime ?? header.baseTimestamp + timestampDelta,
      key,
      value,
      headers,
    };
  }
  if (r.offset !== end) {
    r.index = count;
    r.fail("length", `${end - r.offset} bytes left after the ${count} records the batch declares`);
  }
  return records;
}

/**
 * What decodeRecordBatchInto makes of one record: `offset` absolute, `timestampMs` CreateTime (or
 * the batch's LogAppendTime) as a number, as consumers hand them out.
 */
export type RecordFactory<T> = (
  offset: bigint,
  timestampMs: number,
  key: Buffer | null,
  value: Buffer | null,
  headers: RecordHeader[],
) => T;

/** Base offsets up to this add a record's offset delta (< 2^31) without leaving the safe integers. */
const MAX_NUMBER_BASE_OFFSET = Number.MAX_SAFE_INTEGER - INT32_MAX;

/**
 * decodeRecordBatch for consumers: the same checks (CRC unless verifyCrc is false, lengths,
 * capped decompression), but each record at or after `minOffset` goes straight to `make` and is
 * pushed on `out`, with no intermediate Record and one BigInt per record instead of four; records
 * before `minOffset` (a fetch may start inside a batch) are parsed and skipped. Returns the header.
 *
 * @example
 * const out: MyRecord[] = [];
 * decodeRecordBatchInto(buf, 0, 42n, out, (offset, timestampMs, key, value, headers) => ({ offset, value }));
 */
export function decodeRecordBatchInto<T>(
  buf: Buffer,
  offset: number,
  minOffset: bigint,
  out: T[],
  make: RecordFactory<T>,
  options?: DecodeRecordBatchOptions,
): RecordBatchHeader {
  const { header, codec, payload, decompressOptions } = openBatch(buf, offset, options);
  if (codec === CompressionType.None) {
    const start = offset + RECORDS_OFFSET;
    readRecordsInto(buf, start, start + payload.length, header, offset, false, minOffset, out, make);
  } else {
    const records = decompress(codec, payload, decompressOptions);
    readRecordsInto(records, 0, records.length, header, offset, true, minOffset, out, make);
  }
  return header;
}

/**
 * Buffer's own view class (Node's FastBuffer, which `Buffer.prototype.subarray` ends up calling
 * through the TypedArray species lookup). Constructing it directly makes the same Buffer — same
 * prototype, same memory — in well under half the time, which counts at one value per record.
 */
const BufferView = (
  Buffer as unknown as { [Symbol.species]: new (ab: ArrayBufferLike, byteOffset: number, length: number) => Buffer }
)[Symbol.species];

/**
 * The headers of every record that has none: shared, so a header-less record allocates no array;
 * frozen, so no consumer can add to every record's headers at once.
 */
const NO_HEADERS: RecordHeader[] = Object.freeze([]) as unknown as RecordHeader[];

/**
 * readRecords for decodeRecordBatchInto: the same parsing and checks, a different product. The
 * fields of a record are read inline with one-byte varints (every field of a small record) and
 * two-byte ones taken on the spot; anything longer, and every error, goes through the Reader so
 * the checks and messages are exactly decodeRecordBatch's.
 */
function readRecordsInto<T>(
  buf: Buffer,
  start: number,
  end: number,
  header: RecordBatchHeader,
  batchOffset: number,
  decompressed: boolean,
  minOffset: bigint,
  out: T[],
  make: RecordFactory<T>,
): void {
  if (decompressed) checkRecordCount(header, batchOffset, end - start);
  const r = new RecordsReader(buf, start, end, decompressed);
  const count = header.recordCount;
  const baseOffset = header.baseOffset;
  const numericBase = baseOffset >= 0n && baseOffset <= BigInt(MAX_NUMBER_BASE_OFFSET) ? Number(baseOffset) : -1;
  // Offset deltas below this are before minOffset (deltas are int32, so clamp to that range).
  const firstDelta =
    minOffset <= baseOffset
      ? 0
      : minOffset - baseOffset > BigInt(INT32_MAX)
        ? Infinity
        : Number(minOffset - baseOffset);
  const logAppendTime = timestampTypeOf(header.attributes) === TimestampType.LogAppendTime;
  const baseTimestamp = Number(logAppendTime ? header.maxTimestamp : header.baseTimestamp);
  const arrayBuffer = buf.buffer;
  const byteOffset = buf.byteOffset;
  let pos = start;
  let b = 0;
  for (let i = 0; i < count; i++) {
    r.index = i;
    // length
    let length: number;
    if (pos < end && (b = buf[pos]) < 0x80) {
      length = (b >>> 1) ^ -(b & 1);
      pos++;
    } else if (pos + 1 < end && buf[pos + 1] < 0x80) {
      const u = (b & 0x7f) | (buf[pos + 1] << 7);
      length = (u >>> 1) ^ -(u & 1);
      pos += 2;
    } else {
      r.offset = pos;
      length = r.readVarint("length");
      pos = r.offset;
    }
    if (length < 0 || length > end - pos) {
      r.offset = pos;
      r.fail("length", `record length ${length} does not fit in the ${r.remaining} bytes left`);
    }
    const recordStart = pos;
    const recordEnd = pos + length;
    // attributes (unused), then timestampDelta and offsetDelta. The record's declared length is
    // within the batch, so reads below recordEnd need no bounds check against `end`.
    let timestampDelta: number;
    let offsetDelta: number;
    if (length >= 3 && (b = buf[pos + 1]) < 0x80 && buf[pos + 2] < 0x80) {
      timestampDelta = (b >>> 1) ^ -(b & 1);
      b = buf[pos + 2];
      offsetDelta = (b >>> 1) ^ -(b & 1);
      pos += 3;
    } else if (length >= 4 && b < 0x80 && buf[pos + 2] >= 0x80 && buf[pos + 3] < 0x80) {
      timestampDelta = (b >>> 1) ^ -(b & 1);
      const u = (buf[pos + 2] & 0x7f) | (buf[pos + 3] << 7);
      offsetDelta = (u >>> 1) ^ -(u & 1);
      pos += 4;
    } else {
      r.offset = pos;
      r.readInt8("attributes");
      timestampDelta = r.readVarlongNumber("timestampDelta");
      offsetDelta = r.readVarint("offsetDelta");
      pos = r.offset;
    }
    // key: almost always null (one byte, 0x01) or short.
    let key: Buffer | null = null;
    let keyLength: number;
    if (pos < recordEnd && (b = buf[pos]) < 0x80) {
      keyLength = (b >>> 1) ^ -(b & 1);
      pos++;
    } else {
      r.offset = pos;
      keyLength = r.readVarint("keyLength");
      pos = r.offset;
    }
    // Kafka reads any negative length as null; so do we.
    if (keyLength >= 0) {
      if (keyLength > end - pos) {
        r.offset = pos;
        r.readRaw(keyLength, "key"); // throws the Reader's error
      }
      key = new BufferView(arrayBuffer, byteOffset + pos, keyLength);
      pos += keyLength;
    }
    let value: Buffer | null = null;
    let valueLength: number;
    if (pos < recordEnd && (b = buf[pos]) < 0x80) {
      valueLength = (b >>> 1) ^ -(b & 1);
      pos++;
    } else if (pos + 1 < recordEnd && buf[pos + 1] < 0x80) {
      const u = (b & 0x7f) | (buf[pos + 1] << 7);
      valueLength = (u >>> 1) ^ -(u & 1);
      pos += 2;
    } else {
      r.offset = pos;
      valueLength = r.readVarint("valueLength");
      pos = r.offset;
    }
    if (valueLength >= 0) {
      if (valueLength > end - pos) {
        r.offset = pos;
        r.readRaw(valueLength, "value"); // throws the Reader's error
      }
      value = new BufferView(arrayBuffer, byteOffset + pos, valueLength);
      pos += valueLength;
    }
    let headers = NO_HEADERS;
    if (pos < recordEnd && buf[pos] === 0) {
      pos++;
    } else {
      r.offset = pos;
      const headerCount = r.readVarint("headerCount");
      if (headerCount < 0) r.fail("headerCount", `negative header count ${headerCount}`);
      if (headerCount > Math.floor((recordEnd - r.offset) / MIN_HEADER_BYTES)) {
        r.fail("headerCount", `${headerCount} headers cannot fit in the record's remaining bytes`);
      }
      if (headerCount > 0) {
        headers = new Array(headerCount);
        for (let h = 0; h < headerCount; h++) {
          const headerKeyLength = r.readVarint("headers.keyLength");
          if (headerKeyLength < 0) r.fail("headers.keyLength", "null header key");
          const headerKey = r.readRaw(headerKeyLength, "headers.key").toString("utf8");
          const headerValueLength = r.readVarint("headers.valueLength");
          const headerValue = headerValueLength < 0 ? null : r.readRaw(headerValueLength, "headers.value");
          headers[h] = { key: headerKey, value: headerValue };
        }
      }
      pos = r.offset;
    }
    if (pos !== recordEnd) {
      r.offset = pos;
      r.fail("length", `record declared ${length} bytes but its fields used ${pos - recordStart}`);
    }
    if (offsetDelta < firstDelta) continue;
    out.push(
      make(
        numericBase >= 0 ? BigInt(numericBase + offsetDelta) : baseOffset + BigInt(offsetDelta),
        logAppendTime ? baseTimestamp : baseTimestamp + timestampDelta,
        key,
        value,
        headers,
      ),
    );
  }
  if (pos !== end) {
    r.index = count;
    r.offset = pos;
    r.fail("length", `${end - pos} bytes left after the ${count} records the batch declares`);
  }
}

/**
 * Fully decodes the magic-2 batch at `offset`: header, CRC32C (unless verifyCrc is false),
 * decompression (capped) and every record. Throws only DecodeError.
 */
export function decodeRecordBatch(buf: Buffer, offset = 0, options?: DecodeRecordBatchOptions): DecodedRecordBatch {
  const { header, codec, payload, decompressOptions } = openBatch(buf, offset, options);
  if (codec === CompressionType.None) {
    const start = offset + RECORDS_OFFSET;
    return { header, records: readRecords(buf, start, start + payload.length, header, offset, false) };
  }
  const records = decompress(codec, payload, decompressOptions);
  return { header, records: readRecords(records, 0, records.length, header, offset, true) };
}

/** decodeRecordBatch with decompression off the event loop where the codec allows it. */
export async function decodeRecordBatchAsync(
  buf: Buffer,
  offset = 0,
  options?: DecodeRecordBatchOptions,
): Promise<DecodedRecordBatch> {
  const { header, codec, payload, decompressOptions } = openBatch(buf, offset, options);
  if (codec === CompressionType.None) {
    const start = offset + RECORDS_OFFSET;
    return { header, records: readRecords(buf, start, start + payload.length, header, offset, false) };
  }
  const records = await decompressAsync(codec, payload, decompressOptions);
  return { header, records: readRecords(records, 0, records.length, header, offset, true) };
}

// --- iterate ---------------------------------------------------------------------------------

/** Where one batch (or legacy message) sits in a buffer of concatenated batches. */
export interface BatchPosition {
  /** Offset of the batch's first byte (its baseOffset / offset field). */
  position: number;
  /** LOG_OVERHEAD + batchLength: the batch's full size. */
  sizeInBytes: number;
  /** 2 for a record batch, 0 or 1 for a legacy message (possibly a compressed wrapper). */
  magic: number;
}

/** Bytes needed to see the magic byte: offset, length, partitionLeaderEpoch/crc (Kafka's HEADER_SIZE_UP_TO_MAGIC). */
const HEADER_SIZE_UP_TO_MAGIC = MAGIC_OFFSET + 1;
/** crc, magic, attributes, key length, value length (Kafka's LegacyRecord.RECORD_OVERHEAD_V0). */
export const LEGACY_RECORD_OVERHEAD_V0 = 14;
/** ... plus the int64 timestamp (LegacyRecord.RECORD_OVERHEAD_V1). */
export const LEGACY_RECORD_OVERHEAD_V1 = 22;

/**
 * Walks concatenated batches of any magic (the `records` of a Produce or Fetch, a log segment)
 * by their size fields only: no CRC check, no decoding. Stops cleanly before a partial trailing
 * batch, which Fetch responses legitimately end with (the size limit cuts a batch); the last
 * yielded position + sizeInBytes is where the complete batches end. Throws DecodeError for a size
 * that no batch can have or an unknown magic, as Kafka's ByteBufferLogInputStream does.
 */
export function* iterateBatches(buf: Buffer, offset = 0, end = buf.length): Generator<BatchPosition> {
  let position = offset;
  while (end - position >= LOG_OVERHEAD) {
    const batchLength = buf.readInt32BE(position + 8);
    if (batchLength < LEGACY_RECORD_OVERHEAD_V0) {
      throw new DecodeError(
        "RecordBatch.batchLength",
        position + 8,
        `${batchLength} is below the minimum size of any batch (${LEGACY_RECORD_OVERHEAD_V0})`,
      );
    }
    if (end - position < HEADER_SIZE_UP_TO_MAGIC) return;
    const magic = buf.readInt8(position + MAGIC_OFFSET);
    if (magic !== MAGIC_V0 && magic !== MAGIC_V1 && magic !== MAGIC_V2) {
      throw new DecodeError("RecordBatch.magic", position + MAGIC_OFFSET, `unknown magic ${magic}`);
    }
    const minLength =
      magic === MAGIC_V2
        ? MIN_BATCH_LENGTH
        : magic === MAGIC_V1
          ? LEGACY_RECORD_OVERHEAD_V1
          : LEGACY_RECORD_OVERHEAD_V0;
    if (batchLength < minLength) {
      throw new DecodeError(
        "RecordBatch.batchLength",
        position + 8,
        `${batchLength} is below the minimum ${minLength} for magic ${magic}`,
      );
    }
    const sizeInBytes = LOG_OVERHEAD + batchLength;
    if (end - position < sizeInBytes) return;
    yield { position, sizeInBytes, magic };
    position += sizeInBytes;
  }
}

// --- encode ----------------------------------------------------------------------------------

function varintSize(v: number): number {
  let u = ((v << 1) ^ (v >> 31)) >>> 0;
  let n = 1;
  while (u >= 0x80) {
    u >>>= 7;
    n++;
  }
  return n;
}

function varlongSize(v: bigint): number {
  if (v >= -0x40000000n && v < 0x40000000n) return varintSize(Number(v));
  let u = BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
  let n = 1;
  while (u >= 0x80n) {
    u >>= 7n;
    n++;
  }
  return n;
}

function checkInt(field: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max) throw new EncodeError(field, `${v} is outside [${min}, ${max}]`);
}

function checkInt64(field: string, v: bigint): void {
  if (BigInt.asIntN(64, v) !== v) throw new EncodeError(field, `${v} does not fit in an int64`);
}

interface PreparedBatch {
  header: Buffer;
  records: Writer;
  codec: CompressionType;
}

/** Everything but compression: validates, serializes the records and fills the header except length and CRC. */
function prepareBatch(opts: EncodeRecordBatchOptions): PreparedBatch {
  const records = opts.records;
  const baseOffset = opts.baseOffset ?? 0n;
  const codec = opts.compression ?? CompressionType.None;
  const producerId = opts.producerId ?? NO_PRODUCER_ID;
  const producerEpoch = opts.producerEpoch ?? NO_PRODUCER_EPOCH;
  const baseSequence = opts.baseSequence ?? NO_SEQUENCE;
  const partitionLeaderEpoch = opts.partitionLeaderEpoch ?? NO_PARTITION_LEADER_EPOCH;
  checkInt64("baseOffset", baseOffset);
  checkInt64("producerId", producerId);
  checkInt("producerEpoch", producerEpoch, -0x8000, 0x7fff);
  checkInt("baseSequence", baseSequence, -0x80000000, INT32_MAX);
  checkInt("partitionLeaderEpoch", partitionLeaderEpoch, -0x80000000, INT32_MAX);
  checkInt("compression", codec, CompressionType.None, CompressionType.Zstd);
  checkInt("records.length", records.length, 0, INT32_MAX);

  const baseTimestamp = opts.baseTimestamp ?? records[0]?.timestamp ?? NO_TIMESTAMP;
  checkInt64("baseTimestamp", baseTimestamp);
  let maxTimestamp = NO_TIMESTAMP;
  let lastOffsetDelta = -1;
  const w = new Writer(Math.max(512, records.length * 32));
  for (let i = 0; i < records.length; i++) {
    const rec = records[i];
    const timestamp = rec.timestamp ?? baseTimestamp;
    const timestampDelta = timestamp - baseTimestamp;
    checkInt64(`records[${i}].timestamp`, timestamp);
    checkInt64(`records[${i}].timestampDelta`, timestampDelta);
    if (i === 0 || timestamp > maxTimestamp) maxTimestamp = timestamp;
    let offsetDelta = i;
    if (rec.offset !== undefined) {
      const delta = rec.offset - baseOffset;
      if (delta <= BigInt(lastOffsetDelta) || delta > BigInt(INT32_MAX)) {
        throw new EncodeError(
          `records[${i}].offset`,
          `offset ${rec.offset} must exceed the previous record's and stay within 2^31-1 of baseOffset ${baseOffset}`,
        );
      }
      offsetDelta = Number(delta);
    } else if (offsetDelta <= lastOffsetDelta) {
      throw new EncodeError(`records[${i}].offset`, "records without an offset must not follow explicit offsets");
    }
    lastOffsetDelta = offsetDelta;
    const key = rec.key ?? null;
    const value = rec.value;
    const headers = rec.headers ?? [];
    const headerKeys = headers.map((h) => Buffer.from(h.key, "utf8"));
    let size =
      1 +
      varlongSize(timestampDelta) +
      varintSize(offsetDelta) +
      (key === null ? 1 : varintSize(key.length) + key.length) +
      (value === null ? 1 : varintSize(value.length) + value.length) +
      varintSize(headers.length);
    for (let h = 0; h < headers.length; h++) {
      const hv = headers[h].value;
      size +=
        varintSize(headerKeys[h].length) + headerKeys[h].length + (hv === null ? 1 : varintSize(hv.length) + hv.length);
    }
    w.writeVarint(size);
    w.writeInt8(0);
    w.writeVarlong(timestampDelta);
    w.writeVarint(offsetDelta);
    if (key === null) w.writeVarint(-1);
    else {
      w.writeVarint(key.length);
      w.writeRaw(key);
    }
    if (value === null) w.writeVarint(-1);
    else {
      w.writeVarint(value.length);
      w.writeRaw(value);
    }
    w.writeVarint(headers.length);
    for (let h = 0; h < headers.length; h++) {
      w.writeVarint(headerKeys[h].length);
      w.writeRaw(headerKeys[h]);
      const hv = headers[h].value;
      if (hv === null) w.writeVarint(-1);
      else {
        w.writeVarint(hv.length);
        w.writeRaw(hv);
      }
    }
  }
  if (opts.lastOffsetDelta !== undefined) {
    checkInt("lastOffsetDelta", opts.lastOffsetDelta, Math.max(lastOffsetDelta, 0), INT32_MAX);
    lastOffsetDelta = opts.lastOffsetDelta;
  }
  const attributes = makeAttributes(
    codec,
    opts.timestampType ?? TimestampType.CreateTime,
    opts.isTransactional ?? false,
    opts.isControl ?? false,
  );
  const header = Buffer.allocUnsafe(BATCH_HEADER_SIZE);
  header.writeBigInt64BE(baseOffset, 0);
  header.writeInt32BE(0, 8); // batchLength, filled in by finishBatch
  header.writeInt32BE(partitionLeaderEpoch, 12);
  header.writeInt8(MAGIC_V2, 16);
  header.writeUInt32BE(0, 17); // crc, filled in by finishBatch
  header.writeInt16BE(attributes, 21);
  header.writeInt32BE(Math.max(lastOffsetDelta, 0), 23);
  header.writeBigInt64BE(baseTimestamp, 27);
  header.writeBigInt64BE(maxTimestamp, 35);
  header.writeBigInt64BE(producerId, 43);
  header.writeInt16BE(producerEpoch, 51);
  header.writeInt32BE(baseSequence, 53);
  header.writeInt32BE(records.length, 57);
  return { header, records: w, codec };
}

function finishBatch(header: Buffer, payload: Buffer[]): Buffer {
  let total = BATCH_HEADER_SIZE;
  for (const p of payload) total += p.length;
  if (total - LOG_OVERHEAD > INT32_MAX) throw new EncodeError("batchLength", `batch of ${total} bytes is too large`);
  const batch = Buffer.concat([header, ...payload], total);
  batch.writeInt32BE(total - LOG_OVERHEAD, 8);
  batch.writeUInt32BE(crc32c(batch.subarray(ATTRIBUTES_OFFSET)), CRC_OFFSET);
  return batch;
}

/**
 * Builds a magic-2 batch: records serialized, compressed with `compression`, CRC32C computed.
 * Defaults are those of a non-idempotent producer (producerId -1 ...), CreateTime, baseOffset 0.
 * Throws EncodeError for values that do not fit their fields.
 */
export function encodeRecordBatch(opts: EncodeRecordBatchOptions): Buffer {
  const { header, records, codec } = prepareBatch(opts);
  if (codec === CompressionType.None) return finishBatch(header, records.toChunks());
  return finishBatch(header, [compress(codec, records.toBuffer())]);
}

/** encodeRecordBatch with compression off the event loop where the codec allows it. */
export async function encodeRecordBatchAsync(opts: EncodeRecordBatchOptions): Promise<Buffer> {
  const { header, records, codec } = prepareBatch(opts);
  if (codec === CompressionType.None) return finishBatch(header, records.toChunks());
  return finishBatch(header, [await compressAsync(codec, records.toBuffer())]);
}
