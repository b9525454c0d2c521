import { DecodeError } from "./decode-error.js";
import { uuidFromBytes } from "./uuid.js";

/** A tagged field the decoder did not know; kept so that re-encoding reproduces it (as Kafka does). */
export interface RawTaggedField {
  tag: number;
  data: Buffer;
}

/**
 * Bounds-checked cursor over a Buffer. Every read checks the remaining bytes first, so
 * hostile input produces a DecodeError; nothing is allocated from an untrusted length
 * before that length has been checked against what is left.
 *
 * Byte and record fields are returned as views (subarray) of the input: zero-copy.
 */
export class Reader {
  readonly buf: Buffer;
  offset: number;
  readonly end: number;

  /** Fixed-width reads go through a DataView: V8 inlines them, unlike Buffer's BigInt readers. */
  private readonly view: DataView;

  constructor(buf: Buffer, offset = 0, end = buf.length) {
    this.buf = buf;
    this.offset = offset;
    this.end = end;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.length);
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  fail(field: string, problem: string): never {
    throw new DecodeError(field, this.offset, problem);
  }

  private need(n: number, field: string): void {
    if (this.end - this.offset < n) {
      this.fail(field, `needs ${n} bytes, ${this.end - this.offset} left`);
    }
  }

  readBool(field: string): boolean {
    this.need(1, field);
    return this.buf[this.offset++] !== 0;
  }

  readInt8(field: string): number {
    this.need(1, field);
    const v = this.buf[this.offset++];
    return (v << 24) >> 24;
  }

  readInt16(field: string): number {
    this.need(2, field);
    const v = this.view.getInt16(this.offset);
    this.offset += 2;
    return v;
  }

  readUInt16(field: string): number {
    this.need(2, field);
    const v = this.view.getUint16(this.offset);
    this.offset += 2;
    return v;
  }

  readInt32(field: string): number {
    this.need(4, field);
    const v = this.view.getInt32(this.offset);
    this.offset += 4;
    return v;
  }

  readUInt32(field: string): number {
    this.need(4, field);
    const v = this.view.getUint32(this.offset);
    this.offset += 4;
    return v;
  }

  readInt64(field: string): bigint {
    this.need(8, field);
    const v = this.view.getBigInt64(this.offset);
    this.offset += 8;
    return v;
  }

  readFloat64(field: string): number {
    this.need(8, field);
    const v = this.view.getFloat64(this.offset);
    this.offset += 8;
    return v;
  }

  /** Unsigned LEB128 varint of at most 5 bytes (fits in 32 bits), as Kafka's ByteUtils.readUnsignedVarint. */
  readUVarint(field: string): number {
    const buf = this.buf;
    let value = 0;
    let shift = 0;
    let pos = this.offset;
    for (;;) {
      if (pos >= this.end) this.fail(field, "truncated varint");
      const b = buf[pos++];
      if (shift === 28) {
        if (b > 0x0f) this.fail(field, "varint longer than 32 bits");
        value += b * 0x10000000;
        break;
      }
      value |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) break;
      shift += 7;
    }
    this.offset = pos;
    return value >>> 0;
  }

  /** Zigzag-encoded signed 32-bit varint (record fields). */
  readVarint(field: string): number {
    const u = this.readUVarint(field);
    return (u >>> 1) ^ -(u & 1);
  }

  /** Zigzag-encoded signed 64-bit varint (record timestamp deltas); at most 10 bytes. */
  readVarlong(field: string): bigint {
    const buf = this.buf;
    let pos = this.offset;
    // Fast path: values that fit in 28 bits (almost all deltas) avoid BigInt arithmetic.
    let small = 0;
    let shift = 0;
    while (shift < 28) {
      if (pos >= this.end) this.fail(field, "truncated varlong");
      const b = buf[pos++];
      small |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) {
        this.offset = pos;
        return BigInt((small >>> 1) ^ -(small & 1));
      }
      shift += 7;
    }
    let value = BigInt(small >>> 0);
    let bigShift = 28n;
    for (;;) {
      if (pos >= this.end) this.fail(field, "truncated varlong");
      const b = buf[pos++];
      if (bigShift === 63n && b > 1) this.fail(field, "varlong longer than 64 bits");
      value |= BigInt(b & 0x7f) << bigShift;
      if ((b & 0x80) === 0) break;
      bigShift += 7n;
    }
    this.offset = pos;
    value = BigInt.asUintN(64, value);
    return (value >> 1n) ^ -(value & 1n);
  }

  /** Returns `n` raw bytes as a view of the input. */
  readRaw(n: number, field: string): Buffer {
    this.need(n, field);
    const v = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return v;
  }

  private readUtf8(n: number, field: string): string {
    this.need(n, field);
    const s = this.buf.toString("utf8", this.offset, this.offset + n);
    this.offset += n;
    return s;
  }

  /** int16 length + UTF-8; the length must not be negative. */
  readString(field: string): string {
    const n = this.readInt16(field);
    if (n < 0) this.fail(field, `negative string length ${n} in a non-nullable field`);
    return this.readUtf8(n, field);
  }

  readNullableString(field: string): string | null {
    const n = this.readInt16(field);
    if (n < 0) {
      if (n !== -1) this.fail(field, `invalid string length ${n}`);
      return null;
    }
    return this.readUtf8(n, field);
  }

  /** Unsigned varint (length + 1) + UTF-8. */
  readCompactString(field: string): string {
    const n = this.readUVarint(field);
    if (n === 0) this.fail(field, "null in a non-nullable compact string");
    return this.readUtf8(n - 1, field);
  }

  readCompactNullableString(field: string): string | null {
    const n = this.readUVarint(field);
    if (n === 0) return null;
    return this.readUtf8(n - 1, field);
  }

  readBytes(field: string): Buffer {
    const n = this.readInt32(field);
    if (n < 0) this.fail(field, `negative bytes length ${n} in a non-nullable field`);
    return this.readRaw(n, field);
  }

  readNullableBytes(field: string): Buffer | null {
    const n = this.readInt32(field);
    if (n < 0) {
      if (n !== -1) this.fail(field, `invalid bytes length ${n}`);
      return null;
    }
    return this.readRaw(n, field);
  }

  readCompactBytes(field: string): Buffer {
    const n = this.readUVarint(field);
    if (n === 0) this.fail(field, "null in non-nullable compact bytes");
    return this.readRaw(n - 1, field);
  }

  readCompactNullableBytes(field: string): Buffer | null {
    const n = this.readUVarint(field);
    if (n === 0) return null;
    return this.readRaw(n - 1, field);
  }

  readUuid(field: string): string {
    this.need(16, field);
    const s = uuidFromBytes(this.buf, this.offset);
    this.offset += 16;
    return s;
  }

  /**
   * int32 element count; -1 means null. A count larger than the bytes left is a lie
   * (every element takes at least one byte), rejected before anything is allocated.
   */
  readArrayLength(field: string, nullable: boolean): number {
    const n = this.readInt32(field);
    return this.checkCount(n, field, nullable);
  }

  /** Unsigned varint (count + 1); 0 means null. */
  readCompactArrayLength(field: string, nullable: boolean): number {
    const n = this.readUVarint(field) - 1;
    return this.checkCount(n, field, nullable);
  }

  private checkCount(n: number, field: string, nullable: boolean): number {
    if (n < 0) {
      if (n !== -1 || !nullable) this.fail(field, `invalid array length ${n}`);
      return -1;
    }
    if (n > this.end - this.offset) {
      this.fail(field, `array length ${n} exceeds the ${this.end - this.offset} bytes left`);
    }
    return n;
  }

  /** Number of tagged fields that follow; each takes at least two bytes. */
  readTaggedCount(field: string): number {
    const n = this.readUVarint(field);
    if (n > this.end - this.offset) this.fail(field, `tagged field count ${n} exceeds the bytes left`);
    return n;
  }

  /** Reads a tagged field's size and returns the offset where its value ends, checked against the input. */
  readTaggedSize(field: string): number {
    const size = this.readUVarint(field);
    this.need(size, field);
    return this.offset + size;
  }

  /** A known tagged field must consume exactly the bytes its size declared. */
  expectEnd(end: number, field: string): void {
    if (this.offset !== end)
      this.fail(field, `tagged field used ${this.offset - end} bytes more than its declared size`);
  }

  /** Keeps an unknown tagged field's bytes for re-encoding (the spec says unknown tags are skipped, not rejected). */
  keepUnknownTag(kept: RawTaggedField[] | undefined, tag: number, end: number): RawTaggedField[] {
    const list = kept ?? [];
    list.push({ tag, data: this.buf.subarray(this.offset, end) });
    this.offset = end;
    return list;
  }
}
