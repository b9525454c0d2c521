/**
 * The segments of one log, ordered by base offset (Kafka's LogSegments). Appends only ever add a
 * segment at the end, so a sorted array with binary search serves every lookup; retention removes
 * from the front, and the cleaner replaces runs of segments in the middle (replace).
 */
import type { LogSegment } from "./log-segment.js";

export class LogSegments {
  private segments: LogSegment[] = [];

  get size(): number {
    return this.segments.length;
  }

  isEmpty(): boolean {
    return this.segments.length === 0;
  }

  all(): readonly LogSegment[] {
    return this.segments;
  }

  baseOffsets(): bigint[] {
    return this.segments.map((s) => s.baseOffset);
  }

  first(): LogSegment | undefined {
    return this.segments[0];
  }

  /** The active segment. */
  last(): LogSegment | undefined {
    return this.segments[this.segments.length - 1];
  }

  add(segment: LogSegment): void {
    const last = this.last();
    if (last && segment.baseOffset <= last.baseOffset)
      throw new Error(`segment ${segment.baseOffset} does not follow ${last.baseOffset}`);
    this.segments.push(segment);
  }

  /** Index of the segment with the largest base offset <= offset, or -1. */
  private floorIndex(offset: bigint): number {
    let lo = 0;
    let hi = this.segments.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.segments[mid]!.baseOffset <= offset) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /** The segment that may hold `offset`. */
  floorSegment(offset: bigint): LogSegment | undefined {
    const i = this.floorIndex(offset);
    return i < 0 ? undefined : this.segments[i];
  }

  higherSegment(baseOffset: bigint): LogSegment | undefined {
    const i = this.floorIndex(baseOffset);
    return this.segments[i + 1];
  }

  /** Segments that may hold offsets in [from, to): the floor segment of `from` and all after it below `to`. */
  range(from: bigint, to?: bigint): LogSegment[] {
    const start = Math.max(0, this.floorIndex(from));
    return this.segments.slice(start).filter((s) => to === undefined || s.baseOffset < to);
  }

  // Removals build a new array instead of splicing: a reader iterating an earlier `all()` (a
  // timestamp lookup, a flush) keeps a stable list while retention or truncation removes segments.

  /** Removes the segments at and after `baseOffset` from the list (the caller deletes their files). */
  removeFrom(baseOffset: bigint): LogSegment[] {
    const i = this.segments.findIndex((s) => s.baseOffset >= baseOffset);
    if (i < 0) return [];
    const removed = this.segments.slice(i);
    this.segments = this.segments.slice(0, i);
    return removed;
  }

  /** Removes one segment (retention's deleteOldSegments). */
  remove(baseOffset: bigint): LogSegment | undefined {
    const i = this.segments.findIndex((s) => s.baseOffset === baseOffset);
    if (i < 0) return undefined;
    const removed = this.segments[i];
    this.segments = [...this.segments.slice(0, i), ...this.segments.slice(i + 1)];
    return removed;
  }

  /**
   * Replaces `old` by `replacements` (the cleaner's swap; Kafka's replaceSegments), building a new
   * array so that a reader iterating an earlier `all()` keeps its list.
   */
  replace(replacements: readonly LogSegment[], old: readonly LogSegment[]): void {
    const gone = new Set(old);
    const next = [...this.segments.filter((s) => !gone.has(s)), ...replacements];
    next.sort((a, b) => (a.baseOffset < b.baseOffset ? -1 : a.baseOffset > b.baseOffset ? 1 : 0));
    for (let i = 1; i < next.length; i++)
      if (next[i - 1]!.baseOffset === next[i]!.baseOffset)
        throw new Error(`two segments with base offset ${next[i]!.baseOffset} after a replacement`);
    this.segments = next;
  }

  /** Whether `segment` is (still) one of the log's segments, not removed by retention or truncation. */
  contains(segment: LogSegment): boolean {
    return this.segments[this.floorIndex(segment.baseOffset)] === segment;
  }
}
