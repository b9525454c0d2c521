/**
 * The segments of one log, ordered by base offset (Kafka's LogSegments). Appends only ever add a
 * segment at the end, so a sorted array with binary search serves every lookup; removal from the
 * front (retention) and replacement in the middle (the cleaner) are hooks for later work.
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

  /** Removes the segments at and after `baseOffset` from the list (the caller deletes their files). */
  removeFrom(baseOffset: bigint): LogSegment[] {
    const i = this.segments.findIndex((s) => s.baseOffset >= baseOffset);
    if (i < 0) return [];
    return this.segments.splice(i);
  }

  /** Removes one segment (hook for retention's deleteOldSegments). */
  remove(baseOffset: bigint): LogSegment | undefined {
    const i = this.segments.findIndex((s) => s.baseOffset === baseOffset);
    return i < 0 ? undefined : this.segments.splice(i, 1)[0];
  }
}
