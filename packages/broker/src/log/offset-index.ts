/**
 * The offset index of one segment (`<base offset>.index`, Kafka's OffsetIndex): a sparse map from
 * offset to the byte position of a batch in the `.log` file.
 *
 * Layout: a sequence of 8-byte entries, big-endian, no header:
 *
 *   relativeOffset int32   offset - segment base offset (the last offset of the indexed append)
 *   position       int32   byte position in the .log file of the batch holding that offset
 *
 * Entries are ascending in both fields. An entry is added when more than `index.interval.bytes`
 * of batches were appended since the previous one, so a lookup lands at most that many bytes
 * (plus one batch) before the target and the reader scans forward from there. The file is
 * preallocated while the segment is active and trimmed to its entries when the segment is rolled
 * or closed. No checksum: a bad index is rebuilt from the segment (see AbstractIndex).
 */
import { AbstractIndex } from "./abstract-index.js";
import { CorruptIndexError } from "./errors.js";
import type { FileSystem } from "./file-system.js";

export const OFFSET_INDEX_ENTRY_SIZE = 8;
const INT32_MAX = 2 ** 31 - 1;

export interface OffsetPosition {
  offset: bigint;
  position: number;
}

export class OffsetIndex extends AbstractIndex {
  private lastOffsetValue: bigint;

  constructor(fs: FileSystem, file: string, baseOffset: bigint, maxIndexSize: number) {
    super(fs, file, baseOffset, maxIndexSize);
    this.lastOffsetValue = baseOffset;
  }

  protected get entrySize(): number {
    return OFFSET_INDEX_ENTRY_SIZE;
  }

  private relativeOffset(slot: number): number {
    return this.buf.readInt32BE(slot * OFFSET_INDEX_ENTRY_SIZE);
  }

  private physical(slot: number): number {
    return this.buf.readInt32BE(slot * OFFSET_INDEX_ENTRY_SIZE + 4);
  }

  entry(slot: number): OffsetPosition {
    if (slot < 0 || slot >= this.entryCount) throw new RangeError(`no entry ${slot} in ${this.file}`);
    return { offset: this.baseOffset + BigInt(this.relativeOffset(slot)), position: this.physical(slot) };
  }

  /** The offset of the last entry, or the base offset when empty. */
  get lastOffset(): bigint {
    return this.lastOffsetValue;
  }

  protected afterEntriesChanged(): void {
    this.lastOffsetValue =
      this.entryCount === 0 ? this.baseOffset : this.baseOffset + BigInt(this.relativeOffset(this.entryCount - 1));
  }

  protected sanityCheckEntries(): void {
    let prevOffset = -1;
    let prevPosition = -1;
    for (let i = 0; i < this.entryCount; i++) {
      const rel = this.relativeOffset(i);
      const pos = this.physical(i);
      if (rel < 0 || pos < 0 || rel <= prevOffset || pos <= prevPosition)
        throw new CorruptIndexError(
          `index ${this.file}: entry ${i} (${rel} -> ${pos}) does not follow (${prevOffset} -> ${prevPosition})`,
        );
      prevOffset = rel;
      prevPosition = pos;
    }
  }

  /** Whether `offset` can be stored relative to the base offset (Kafka's canAppendOffset). */
  canAppendOffset(offset: bigint): boolean {
    const rel = offset - this.baseOffset;
    return rel >= 0n && rel <= BigInt(INT32_MAX);
  }

  /**
   * The entry with the largest offset <= target: where a scan for `target` may start. When there
   * is none, (base offset, 0): the start of the segment.
   */
  lookup(targetOffset: bigint): OffsetPosition {
    const rel = targetOffset - this.baseOffset;
    if (rel < 0n || this.entryCount === 0) return { offset: this.baseOffset, position: 0 };
    const target = rel > BigInt(INT32_MAX) ? INT32_MAX : Number(rel);
    const slot = this.largestLowerBoundSlot((s) => this.relativeOffset(s) - target);
    return slot < 0 ? { offset: this.baseOffset, position: 0 } : this.entry(slot);
  }

  /** The entry with the largest position <= target (used to scan only part of a segment). */
  lookupByPosition(position: number): OffsetPosition {
    const slot = this.largestLowerBoundSlot((s) => this.physical(s) - position);
    return slot < 0 ? { offset: this.baseOffset, position: 0 } : this.entry(slot);
  }

  append(offset: bigint, position: number): void {
    if (this.entryCount > 0 && offset <= this.lastOffsetValue)
      throw new Error(
        `index ${this.file}: offset ${offset} is not above the last indexed offset ${this.lastOffsetValue}`,
      );
    if (!this.canAppendOffset(offset))
      throw new Error(`index ${this.file}: offset ${offset} overflows a relative offset`);
    const at = this.slotForAppend();
    this.buf.writeInt32BE(Number(offset - this.baseOffset), at);
    this.buf.writeInt32BE(position, at + 4);
    this.entryAppended();
  }

  /** Removes entries for offsets >= `offset` (Kafka's truncateTo). */
  truncateTo(offset: bigint): void {
    const rel = offset - this.baseOffset;
    if (rel <= 0n) {
      this.truncateToEntries(0);
      return;
    }
    const target = rel > BigInt(INT32_MAX) ? INT32_MAX : Number(rel);
    const slot = this.largestLowerBoundSlot((s) => this.relativeOffset(s) - target);
    if (slot < 0) this.truncateToEntries(0);
    else if (this.relativeOffset(slot) === target) this.truncateToEntries(slot);
    else this.truncateToEntries(slot + 1);
  }
}
