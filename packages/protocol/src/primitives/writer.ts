import { EncodeError } from "./decode-error.js";
import type { RawTaggedField } from "./reader.js";
import { uuidToBytes } from "./uuid.js";

/** Byte fields at least this large are referenced, not copied, so record data goes to the socket as is. */
const SPLICE_THRESHOLD_BYTES = 4096;
const INITIAL_CAPACITY_BYTES = 512;

/**
 * Growable big-endian writer. Small values go into one scratch buffer; large byte fields
 * (record batches read from a segment) are kept as separate chunks, so a Fetch response is
 * a list of buffers for `socket.cork/write` or `writev` with no copy of the records.
 */
export class Writer {
  private buf: Buffer;
  /** A view of `buf` for int64/float64 writes, which Buffer does with slow BigInt arithmetic. */
  private view: DataView;
  private pos = 0;
  /** Finished chunks before `buf`; empty until a large byte field is spliced in. */
  private readonly chunks: Buffer[] = [];
  private chunkBytes = 0;

  constructor(initialCapacity = INITIAL_CAPACITY_BYTES) {
    this.buf = Buffer.allocUnsafe(initialCapacity);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  }

  /** Total bytes written so far. */
  get length(): number {
    return this.chunkBytes + this.pos;
  }

  /** Makes room for n bytes: a full scratch buffer becomes a chunk and a larger one follows (no copy). */
  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Math.max(this.buf.length * 2, n, INITIAL_CAPACITY_BYTES);
    this.flushScratch();
    this.setScratch(Buffer.allocUnsafe(next));
  }

  private setScratch(buf: Buffer): void {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.length);
    this.pos = 0;
  }

  writeBool(v: boolean): void {
    this.ensure(1);
    this.buf[this.pos++] = v ? 1 : 0;
  }

  writeInt8(v: number): void {
    this.ensure(1);
    this.buf.writeInt8(v, this.pos);
    this.pos += 1;
  }

  writeInt16(v: number): void {
    this.ensure(2);
    this.buf.writeInt16BE(v, this.pos);
    this.pos += 2;
  }

  writeUInt16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
  }

  writeInt32(v: number): void {
    this.ensure(4);
    this.buf.writeInt32BE(v, this.pos);
    this.pos += 4;
  }

  writeUInt32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
  }

  writeInt64(v: bigint): void {
    this.ensure(8);
    this.view.setBigInt64(this.pos, v);
    this.pos += 8;
  }

  writeFloat64(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, v);
    this.pos += 8;
  }

  writeUVarint(v: number): void {
    this.ensure(5);
    const buf = this.buf;
    let u = v >>> 0;
    while (u >= 0x80) {
      buf[this.pos++] = (u & 0x7f) | 0x80;
      u >>>= 7;
    }
    buf[this.pos++] = u;
  }

  writeVarint(v: number): void {
    this.writeUVarint(((v << 1) ^ (v >> 31)) >>> 0);
  }

  writeVarlong(v: bigint): void {
    if (v >= -0x8000000n && v < 0x8000000n) {
      this.writeVarint(Number(v));
      return;
    }
    this.ensure(10);
    let u = BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
    while (u >= 0x80n) {
      this.buf[this.pos++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    this.buf[this.pos++] = Number(u);
  }

  /** Appends raw bytes; large ones are referenced as a chunk instead of copied. */
  writeRaw(b: Uint8Array): void {
    if (b.length >= SPLICE_THRESHOLD_BYTES) {
      this.flushScratch();
      const chunk = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length);
      this.chunks.push(chunk);
      this.chunkBytes += chunk.length;
      return;
    }
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** Moves the written part of the scratch buffer to the chunk list; the rest stays usable. */
  private flushScratch(): void {
    if (this.pos === 0) return;
    const done = this.buf.subarray(0, this.pos);
    this.chunks.push(done);
    this.chunkBytes += done.length;
    const rest = this.buf.subarray(this.pos);
    this.setScratch(rest.length >= INITIAL_CAPACITY_BYTES ? rest : Buffer.allocUnsafe(INITIAL_CAPACITY_BYTES));
  }

  private writeUtf8(s: string, n: number): void {
    this.ensure(n);
    this.buf.write(s, this.pos, n, "utf8");
    this.pos += n;
  }

  writeString(s: string, field: string): void {
    const n = Buffer.byteLength(s, "utf8");
    if (n > 0x7fff) throw new EncodeError(field, `string of ${n} bytes exceeds 32767`);
    this.writeInt16(n);
    this.writeUtf8(s, n);
  }

  writeNullableString(s: string | null, field: string): void {
    if (s === null) this.writeInt16(-1);
    else this.writeString(s, field);
  }

  writeCompactString(s: string): void {
    const n = Buffer.byteLength(s, "utf8");
    this.writeUVarint(n + 1);
    this.writeUtf8(s, n);
  }

  writeCompactNullableString(s: string | null): void {
    if (s === null) this.writeUVarint(0);
    else this.writeCompactString(s);
  }

  writeBytes(b: Uint8Array): void {
    this.writeInt32(b.length);
    this.writeRaw(b);
  }

  writeNullableBytes(b: Uint8Array | null): void {
    if (b === null) this.writeInt32(-1);
    else this.writeBytes(b);
  }

  writeCompactBytes(b: Uint8Array): void {
    this.writeUVarint(b.length + 1);
    this.writeRaw(b);
  }

  writeCompactNullableBytes(b: Uint8Array | null): void {
    if (b === null) this.writeUVarint(0);
    else this.writeCompactBytes(b);
  }

  writeUuid(u: string, field: string): void {
    this.ensure(16);
    this.buf.set(uuidToBytes(u, field), this.pos);
    this.pos += 16;
  }

  writeArrayLength(n: number): void {
    this.writeInt32(n);
  }

  writeCompactArrayLength(n: number): void {
    this.writeUVarint(n + 1);
  }

  /**
   * Writes a tagged-field section: `known` are already-serialized (tag, bytes) pairs, merged
   * with unknown fields kept from decoding, in ascending tag order as the spec requires.
   */
  writeTaggedFields(known: RawTaggedField[] | null, unknown: readonly RawTaggedField[] | undefined): void {
    let fields = known ?? [];
    if (unknown !== undefined && unknown.length > 0) {
      fields = fields.concat(unknown).sort((a, b) => a.tag - b.tag);
    }
    this.writeUVarint(fields.length);
    for (const f of fields) {
      this.writeUVarint(f.tag);
      this.writeUVarint(f.data.length);
      this.writeRaw(f.data);
    }
  }

  /** The written bytes as chunks, in order; large byte fields are views of the caller's buffers. */
  toChunks(): Buffer[] {
    if (this.pos === 0) return this.chunks.slice();
    return [...this.chunks, this.buf.subarray(0, this.pos)];
  }

  /** The written bytes as one Buffer (copies only when large fields were spliced in). */
  toBuffer(): Buffer {
    if (this.chunks.length === 0) return this.buf.subarray(0, this.pos);
    return Buffer.concat(this.toChunks(), this.length);
  }
}
