/**
 * The time index of one segment (`<base offset>.timeindex`, Kafka's TimeIndex): a sparse map from
 * timestamp to offset, used by ListOffsets to find the first record at or after a time.
 *
 * Layout: a sequence of 12-byte entries, big-endian, no header:
 *
 *   timestamp      int64   the largest batch max timestamp seen in this segment so far (ms)
 *   relativeOffset int32   offset - segment base offset: the last offset of the batch that had it
 *
 * An entry (T, O) promises that every record with a timestamp greater than T comes after O.
 * Timestamps are strictly ascending (an entry is only added when the max timestamp grew), offsets
 * ascending. Entries are added together with offset index entries, plus one final entry for the
 * segment's max timestamp when it is rolled or closed. Preallocated while active, trimmed on roll,
 * rebuilt from the segment when bad, like the offset index.
 */
import { AbstractIndex } from "./abstract-index.js";
import { CorruptIndexError } from "./errors.js";
import type { FileSystem } from "./file-system.js";

export const TIME_INDEX_ENTRY_SIZE = 12;
/** Kafka's RecordBatch.NO_TIMESTAMP. */
export const NO_TIMESTAMP = -1n;

export interface TimestampOffset {
  timestamp: bigint;
  offset: bigint;
}

export class TimeIndex extends AbstractIndex {
  private last: TimestampOffset;

  constructor(fs: FileSystem, file: string, baseOffset: bigint, maxIndexSize: number) {
    super(fs, file, baseOffset, maxIndexSize);
    this.last = { timestamp: NO_TIMESTAMP, offset: baseOffset };
  }

  protected get entrySize(): number {
    return TIME_INDEX_ENTRY_SIZE;
  }

  private timestampAt(slot: number): bigint {
    return this.buf.readBigInt64BE(slot * TIME_INDEX_ENTRY_SIZE);
  }

  private relativeOffset(slot: number): number {
    return this.buf.readInt32BE(slot * TIME_INDEX_ENTRY_SIZE + 8);
  }

  entry(slot: number): TimestampOffset {
    if (slot < 0 || slot >= this.entryCount) throw new RangeError(`no entry ${slot} in ${this.file}`);
    return { timestamp: this.timestampAt(slot), offset: this.baseOffset + BigInt(this.relativeOffset(slot)) };
  }

  /** The last entry, or (NO_TIMESTAMP, base offset) when empty. */
  lastEntry(): TimestampOffset {
    return { ...this.last };
  }

  protected afterEntriesChanged(): void {
    this.last =
      this.entryCount === 0 ? { timestamp: NO_TIMESTAMP, offset: this.baseOffset } : this.entry(this.entryCount - 1);
  }

  protected sanityCheckEntries(): void {
    let prevTs: bigint | null = null;
    let prevRel = -1;
    for (let i = 0; i < this.entryCount; i++) {
      const ts = this.timestampAt(i);
      const rel = this.relativeOffset(i);
      if (rel < 0 || rel < prevRel || (prevTs !== null && ts <= prevTs))
        throw new CorruptIndexError(`time index ${this.file}: entry ${i} (${ts} -> ${rel}) is out of order`);
      prevTs = ts;
      prevRel = rel;
    }
  }

  /**
   * Adds (timestamp, offset) if the timestamp is above the last entry's. `skipFullCheck` is for
   * the final entry written when the segment is rolled or closed, which may use the last slot.
   */
  maybeAppend(timestamp: bigint, offset: bigint, skipFullCheck = false): void {
    if (!skipFullCheck && this.isFull()) throw new Error(`attempt to append to a full time index ${this.file}`);
    if (this.entryCount > 0 && offset < this.last.offset)
      throw new Error(`time index ${this.file}: offset ${offset} is below the last entry's ${this.last.offset}`);
    if (this.entryCount > 0 && timestamp < this.last.timestamp) return; // max timestamp never goes down
    if (timestamp <= this.last.timestamp) return;
    if (this.isFull()) return; // only with skipFullCheck: the segment is closing and the last slot is taken
    const at = this.slotForAppend();
    this.buf.writeBigInt64BE(timestamp, at);
    this.buf.writeInt32BE(Number(offset - this.baseOffset), at + 8);
    this.entryAppended();
  }

  /**
   * The entry with the largest timestamp <= target, or (NO_TIMESTAMP, base offset): records with a
   * timestamp >= target are at or after its offset.
   */
  lookup(targetTimestamp: bigint): TimestampOffset {
    const slot = this.largestLowerBoundSlot((s) => {
      const ts = this.timestampAt(s);
      return ts < targetTimestamp ? -1 : ts > targetTimestamp ? 1 : 0;
    });
    return slot < 0 ? { timestamp: NO_TIMESTAMP, offset: this.baseOffset } : this.entry(slot);
  }

  /** Removes entries for offsets >= `offset`. */
  truncateTo(offset: bigint): void {
    const rel = offset - this.baseOffset;
    if (rel <= 0n) {
      this.truncateToEntries(0);
      return;
    }
    let keep = this.entryCount;
    while (keep > 0 && BigInt(this.relativeOffset(keep - 1)) >= rel) keep--;
    this.truncateToEntries(keep);
  }
}
