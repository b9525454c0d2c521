/**
 * The last batches appended to a segment, kept in memory so that a fetch at or near the log end is
 * answered without file I/O. Kafka gets this from the page cache for free; in Node every read is a
 * thread-pool round trip plus a fresh off-heap buffer, and the header scan that finds the batch
 * holding the fetch offset is another one.
 *
 * Invariant: the cached batches are whole, consecutive and end exactly at the segment's size, so a
 * read starting at or after the first cached batch finds everything the file would give it here.
 * An append extends the tail, eviction drops batches from the front, and anything that rewrites
 * the file (truncation, recovery, closing) clears it. A read checks the end against the segment
 * size and falls back to the file if they ever disagree.
 *
 * Appended bytes are copied (the caller's buffer may be a view of a larger socket chunk), and the
 * copies are never written again, so the views handed to readers stay valid after eviction.
 */
import type { AppendedBatch, SegmentReadResult } from "./log-segment.js";

/**
 * Bytes of batches kept per active segment: a consumer within 64 KiB of the log end reads from
 * memory. The bound applies to every partition being written (1,000 busy partitions: 64 MiB),
 * and 64 KiB measured the same latency as 256 KiB in bench/broker.
 */
export const SEGMENT_TAIL_BYTES = 64 * 1024;
/**
 * Larger appends are not cached (the tail is cleared instead): a bulk producer's ~1 MB requests
 * would only be copied to be evicted again, and a consumer that far behind reads files anyway.
 */
export const MAX_CACHED_APPEND_BYTES = 64 * 1024;
/** The array of batches is compacted once this many evicted slots lead it. */
const COMPACT_AFTER_SLOTS = 1024;

interface TailBatch {
  baseOffset: bigint;
  lastOffset: bigint;
  /** Position in the segment's .log file. */
  position: number;
  sizeInBytes: number;
  /** The copy of the append this batch came from, and where in it the batch starts. */
  chunk: Buffer;
  chunkOffset: number;
}

export class SegmentTail {
  private batches: TailBatch[] = [];
  /** Index of the first live batch; slots before it were evicted. */
  private head = 0;
  private cachedBytes = 0;
  /** File position after the last cached batch, -1 when empty. */
  private endPosition = -1;

  constructor(private readonly maxBytes = SEGMENT_TAIL_BYTES) {}

  /** Bytes of batches held (for tests and metrics). */
  get bytes(): number {
    return this.cachedBytes;
  }

  /** Offset of the first cached batch, or null when empty. */
  get firstOffset(): bigint | null {
    return this.head < this.batches.length ? this.batches[this.head]!.baseOffset : null;
  }

  /** Records the batches of `records` just written at file `position` (offsets already assigned). */
  append(position: number, records: Buffer, batches: readonly AppendedBatch[]): void {
    if (this.endPosition >= 0 && position !== this.endPosition) this.clear();
    if (records.length > MAX_CACHED_APPEND_BYTES || records.length > this.maxBytes) {
      this.clear();
      return;
    }
    const chunk = Buffer.allocUnsafe(records.length);
    records.copy(chunk, 0, 0, records.length);
    for (const b of batches) {
      this.batches.push({
        baseOffset: b.baseOffset ?? chunk.readBigInt64BE(b.position),
        lastOffset: b.lastOffset,
        position: position + b.position,
        sizeInBytes: b.sizeInBytes,
        chunk,
        chunkOffset: b.position,
      });
    }
    this.cachedBytes += records.length;
    this.endPosition = position + records.length;
    while (this.cachedBytes > this.maxBytes) {
      this.cachedBytes -= this.batches[this.head]!.sizeInBytes;
      // Dropped now, not at the next compaction: an evicted batch (and its copy) kept until then
      // lives long enough to be promoted to the old generation, i.e. to cost a mark-compact.
      this.batches[this.head++] = EVICTED;
    }
    if (this.head >= COMPACT_AFTER_SLOTS && this.head * 2 >= this.batches.length) {
      this.batches = this.batches.slice(this.head);
      this.head = 0;
    }
  }

  clear(): void {
    this.batches = [];
    this.head = 0;
    this.cachedBytes = 0;
    this.endPosition = -1;
  }

  /**
   * LogSegment.read answered from memory, with the same result the file would give; undefined when
   * the tail does not cover `startOffset` (the caller reads the file). `segmentSize` is the
   * segment's readable size, which the cached batches must end at.
   */
  read(
    startOffset: bigint,
    maxSize: number,
    segmentSize: number,
    maxPosition: number,
    minOneBatch: boolean,
    maxOffset: bigint | undefined,
  ): SegmentReadResult | null | undefined {
    const batches = this.batches;
    const end = batches.length;
    if (this.head >= end || this.endPosition !== segmentSize || startOffset < batches[this.head]!.baseOffset)
      return undefined;
    // The first batch whose last offset reaches startOffset (binary search; offsets ascend).
    let lo = this.head;
    let hi = end;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (batches[mid]!.lastOffset < startOffset) lo = mid + 1;
      else hi = mid;
    }
    if (lo === end) return null;
    const first = batches[lo]!;
    if (first.position + first.sizeInBytes > maxPosition) return null;
    const empty: SegmentReadResult = {
      records: EMPTY,
      position: first.position,
      firstBatchBaseOffset: first.baseOffset,
      firstBatchSize: first.sizeInBytes,
    };
    if (maxOffset !== undefined && first.baseOffset >= maxOffset) return empty;
    const wanted = minOneBatch ? Math.max(maxSize, first.sizeInBytes) : maxSize;
    const length = Math.min(wanted, maxPosition - first.position);
    if (length < first.sizeInBytes) return empty;
    // Whole batches while they fit in `length` and start below maxOffset (as wholeBatchesPrefix).
    let total = first.sizeInBytes;
    let last = lo;
    let oneChunk = true;
    for (let i = lo + 1; i < end; i++) {
      const b = batches[i]!;
      if (total + b.sizeInBytes > length || (maxOffset !== undefined && b.baseOffset >= maxOffset)) break;
      if (b.chunk !== first.chunk) oneChunk = false;
      total += b.sizeInBytes;
      last = i;
    }
    let records: Buffer;
    if (oneChunk) records = first.chunk.subarray(first.chunkOffset, first.chunkOffset + total);
    else {
      const parts: Buffer[] = [];
      for (let i = lo; i <= last; i++) {
        const b = batches[i]!;
        parts.push(b.chunk.subarray(b.chunkOffset, b.chunkOffset + b.sizeInBytes));
      }
      records = Buffer.concat(parts, total);
    }
    empty.records = records;
    return empty;
  }
}

const EMPTY = Buffer.alloc(0);
/** What an evicted slot holds until the array is compacted (slots before `head` are never read). */
const EVICTED: TailBatch = {
  baseOffset: -1n,
  lastOffset: -1n,
  position: -1,
  sizeInBytes: 0,
  chunk: EMPTY,
  chunkOffset: 0,
};
