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

/** Reads a zigzag varint (at most 5 bytes) or varlong (at most 10) as a JS number. */
function readVarlong(buf: Buffer, pos: number, out: { pos: number }): number {
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
  out.pos = i;
  // zigzag: (n >>> 1) ^ -(n & 1), on numbers beyond 32 bits
  return result % 2 === 0 ? result / 2 : -(result + 1) / 2;
}

/**
 * Calls `visit` for each of the `count` records in buf[start, end). Throws RangeError on a record
 * that does not fit (the caller has verified the batch CRC, so that means a bug or a bad codec).
 */
export function walkRecords(
  buf: Buffer,
  start: number,
  end: number,
  count: number,
  visit: (r: RecordView) => void,
): void {
  const cursor = { pos: start };
  const view: RecordView = {
    start: 0,
    end: 0,
    offsetDelta: 0,
    timestampDelta: 0,
    keyStart: -1,
    keyLength: -1,
    valueLength: -1,
  };
  let pos = start;
  for (let i = 0; i < count; i++) {
    const recordStart = pos;
    const length = readVarlong(buf, pos, cursor);
    const bodyStart = cursor.pos;
    const recordEnd = bodyStart + length;
    if (length < 0 || recordEnd > end) throw new RangeError(`record ${i} of length ${length} overruns the batch`);
    pos = bodyStart + 1; // attributes
    view.timestampDelta = readVarlong(buf, pos, cursor);
    view.offsetDelta = readVarlong(buf, cursor.pos, cursor);
    const keyLength = readVarlong(buf, cursor.pos, cursor);
    if (keyLength < 0) {
      view.keyStart = -1;
      view.keyLength = -1;
    } else {
      view.keyStart = cursor.pos;
      view.keyLength = keyLength;
      cursor.pos += keyLength;
    }
    view.valueLength = readVarlong(buf, cursor.pos, cursor);
    if (cursor.pos + Math.max(0, view.valueLength) > recordEnd)
      throw new RangeError(`record ${i}: key and value overrun the record`);
    view.start = recordStart;
    view.end = recordEnd;
    visit(view);
    pos = recordEnd;
  }
  if (pos !== end) throw new RangeError(`${end - pos} bytes left after the ${count} records of the batch`);
}
