/**
 * Walks the records of an uncompressed (or already decompressed) magic-2 records section without
 * building record objects: the cleaner reads every record of the dirty log twice (offset map,
 * then filter) and the compacted-topic key check reads every record of a produce, so both need
 * the key and offset of a record, not a decoded copy of it.
 *
 * Record layout (Kafka's DefaultRecord), zigzag varints:
 *   length varint | attributes int8 | timestampDelta varlong | offsetDelta varint |
 *   keyLength varint | key | valueLength varint | value | headerCount varint | headers ...
 */

/** Where one record sits in `buf`, and the fields the cleaner decides by. */
export interface RecordView {
  /** First byte of the record (its length varint) and one past its last byte. */
  start: number;
  end: number;
  offsetDelta: number;
  /** Exact while |delta| < 2^53, which any real timestamp delta is. */
  timestampDelta: number;
  /** -1 when the key is null. */
  keyStart: number;
  keyLength: number;
  /** -1 when the value is null (a tombstone). */
  valueLength: number;
}

const EMPTY = new Uint8Array(0);

/**
 * A cursor over the records of one records section: `reset`, then `next()` until it returns false;
 * the fields describe the current record. One cursor serves every batch of a pass, so walking
 * records allocates nothing.
 */
export class RecordCursor implements RecordView {
  start = 0;
  end = 0;
  offsetDelta = 0;
  timestampDelta = 0;
  keyStart = -1;
  keyLength = -1;
  valueLength = -1;
  /** Position of the current record in its batch (0 for the first). */
  index = -1;
  private buf: Uint8Array = EMPTY;
  private pos = 0;
  private limit = 0;
  private count = 0;
  /** Where the last varint read ended. */
  private varintEnd = 0;

  /** Starts a walk over the `count` records in buf[start, end). */
  reset(buf: Uint8Array, start: number, end: number, count: number): void {
    this.buf = buf;
    this.pos = start;
    this.limit = end;
    this.count = count;
    this.index = -1;
  }

  /**
   * Moves to the next record; false after the last. Throws RangeError on a record that does not
   * fit, or bytes left after the last record (the caller has verified the batch CRC, so that
   * means a bug or a bad codec).
   */
  next(): boolean {
    const i = this.index + 1;
    const end = this.limit;
    if (i >= this.count) {
      if (this.pos !== end)
        throw new RangeError(`${end - this.pos} bytes left after the ${this.count} records of the batch`);
      return false;
    }
    const recordStart = this.pos;
    const length = this.readVarlong(recordStart);
    const bodyStart = this.varintEnd;
    const recordEnd = bodyStart + length;
    if (length < 0 || recordEnd > end) throw new RangeError(`record ${i} of length ${length} overruns the batch`);
    this.timestampDelta = this.readVarlong(bodyStart + 1); // after the attributes byte
    this.offsetDelta = this.readVarlong(this.varintEnd);
    const keyLength = this.readVarlong(this.varintEnd);
    let at = this.varintEnd;
    if (keyLength < 0) {
      this.keyStart = -1;
      this.keyLength = -1;
    } else {
      this.keyStart = at;
      this.keyLength = keyLength;
      at += keyLength;
    }
    this.valueLength = this.readVarlong(at);
    if (this.varintEnd + Math.max(0, this.valueLength) > recordEnd)
      throw new RangeError(`record ${i}: key and value overrun the record`);
    this.start = recordStart;
    this.end = recordEnd;
    this.index = i;
    this.pos = recordEnd;
    return true;
  }

  /** Reads a zigzag varint (at most 5 bytes) or varlong (at most 10) at `pos` as a JS number. */
  private readVarlong(pos: number): number {
    const buf = this.buf;
    // Up to 4 bytes (28 bits) in int32 arithmetic, so that the common case makes no heap number.
    let n = 0;
    for (let i = pos, shift = 0; shift < 28 && i < buf.length; shift += 7) {
      const b = buf[i++]!;
      n |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.varintEnd = i;
        return (n >>> 1) ^ -(n & 1);
      }
    }
    // Longer (large timestamp deltas): in float arithmetic, exact below 2^53.
    let result = 0;
    let shift = 1;
    let b: number;
    let i = pos;
    do {
      if (i >= buf.length) throw new RangeError(`varint runs past the end of the records at byte ${pos}`);
      b = buf[i++]!;
      result += (b & 0x7f) * shift;
      shift *= 128;
      if (i - pos > 10) throw new RangeError(`varint longer than 10 bytes at byte ${pos}`);
    } while (b & 0x80);
    this.varintEnd = i;
    // zigzag: (n >>> 1) ^ -(n & 1), on numbers beyond 32 bits
    return result % 2 === 0 ? result / 2 : -(result + 1) / 2;
  }
}

/** Calls `visit` for each of the `count` records in buf[start, end), with RecordCursor's checks. */
export function walkRecords(
  buf: Buffer,
  start: number,
  end: number,
  count: number,
  visit: (r: RecordView) => void,
): void {
  const cursor = new RecordCursor();
  cursor.reset(buf, start, end, count);
  while (cursor.next()) visit(cursor);
}
