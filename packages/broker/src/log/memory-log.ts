/**
 * An in-memory PartitionLog for simulation tests: the same offsets, validation, segment rolling
 * (segment.bytes, segment.ms) and read limits as the file-backed Log, with batches kept as
 * Buffers. It has no indexes, no files and no durability; the contract suite keeps the two
 * observably the same.
 */
import type { Clock, LogConfig } from "./config.js";
import { logConfig, SYSTEM_CLOCK } from "./config.js";
import { OffsetOutOfRangeError } from "./errors.js";
import type { TopicPartition } from "./file-names.js";
import { validateRecords } from "./log-validator.js";
import {
  type AppendOptions,
  EARLIEST_TIMESTAMP,
  type FetchDataInfo,
  LATEST_TIMESTAMP,
  type LogAppendInfo,
  MAX_TIMESTAMP,
  type PartitionLog,
  type ReadOptions,
} from "./partition-log.js";
import { decodeRecordBatch, setBaseOffset, setPartitionLeaderEpoch } from "./records.js";
import { NO_TIMESTAMP, type TimestampOffset } from "./time-index.js";

interface StoredBatch {
  baseOffset: bigint;
  lastOffset: bigint;
  maxTimestamp: bigint;
  bytes: Buffer;
  /** Position within its segment, as the file-backed log would report it. */
  position: number;
}

interface MemorySegment {
  baseOffset: bigint;
  batches: StoredBatch[];
  size: number;
  createdMs: number;
  firstBatchTimestamp: bigint | null;
}

export class MemoryLog implements PartitionLog {
  readonly config: LogConfig;
  private readonly time: Clock;
  private segments: MemorySegment[];
  private nextOffset = 0n;
  private appendChain: Promise<unknown> = Promise.resolve();

  constructor(
    readonly topicPartition: TopicPartition,
    config: Partial<LogConfig> = {},
    time: Clock = SYSTEM_CLOCK,
  ) {
    this.config = logConfig(config);
    this.time = time;
    this.segments = [this.newSegment(0n)];
  }

  private newSegment(baseOffset: bigint): MemorySegment {
    return { baseOffset, batches: [], size: 0, createdMs: this.time.nowMs(), firstBatchTimestamp: null };
  }

  get logStartOffset(): bigint {
    return this.segments[0]!.baseOffset;
  }

  get logEndOffset(): bigint {
    return this.nextOffset;
  }

  /** Nothing is ever on disk; by the contract's definition everything appended is "flushed". */
  get recoveryPoint(): bigint {
    return this.nextOffset;
  }

  segmentBaseOffsets(): bigint[] {
    return this.segments.map((s) => s.baseOffset);
  }

  async append(records: Buffer, opts: AppendOptions = {}): Promise<LogAppendInfo> {
    const validated = validateRecords(records, this.config, true);
    const run = this.appendChain.then(() => {
      const bytes = Buffer.from(records);
      const firstOffset = this.nextOffset;
      let offset = firstOffset;
      let maxTimestamp = NO_TIMESTAMP;
      let offsetOfMaxTimestamp = firstOffset;
      const stored: StoredBatch[] = [];
      for (const b of validated.batches) {
        setBaseOffset(bytes, b.position, offset);
        if (opts.leaderEpoch !== undefined) setPartitionLeaderEpoch(bytes, b.position, opts.leaderEpoch);
        setBaseOffset(records, b.position, offset);
        if (opts.leaderEpoch !== undefined) setPartitionLeaderEpoch(records, b.position, opts.leaderEpoch);
        const lastOffset = offset + BigInt(b.lastOffsetDelta);
        stored.push({
          baseOffset: offset,
          lastOffset,
          maxTimestamp: b.maxTimestamp,
          bytes: bytes.subarray(b.position, b.position + b.sizeInBytes),
          position: b.position,
        });
        if (b.maxTimestamp > maxTimestamp) {
          maxTimestamp = b.maxTimestamp;
          offsetOfMaxTimestamp = lastOffset;
        }
        offset = lastOffset + 1n;
      }
      let active = this.segments[this.segments.length - 1]!;
      if (this.shouldRoll(active, records.length, maxTimestamp)) {
        active = this.newSegment(firstOffset);
        this.segments.push(active);
      }
      if (active.size === 0) active.firstBatchTimestamp = stored[0]!.maxTimestamp;
      for (const b of stored) {
        b.position += active.size;
        active.batches.push(b);
      }
      active.size += records.length;
      this.nextOffset = offset;
      return {
        firstOffset,
        lastOffset: offset - 1n,
        maxTimestamp,
        offsetOfMaxTimestamp,
        recordCount: validated.recordCount,
        validBytes: records.length,
        logStartOffset: this.logStartOffset,
      };
    });
    this.appendChain = run.catch(() => undefined);
    return run;
  }

  /** The same rule as LogSegment.shouldRoll, minus the index and offset-overflow conditions. */
  private shouldRoll(active: MemorySegment, messagesSize: number, maxTimestamp: bigint): boolean {
    if (active.size > this.config.segmentBytes - messagesSize) return true;
    if (active.size === 0) return false;
    const waited =
      active.firstBatchTimestamp !== null && active.firstBatchTimestamp >= 0n
        ? Number(maxTimestamp - active.firstBatchTimestamp)
        : this.time.nowMs() - active.createdMs;
    return waited > this.config.segmentMs;
  }

  async read(fetchOffset: bigint, opts: ReadOptions): Promise<FetchDataInfo> {
    const end = this.nextOffset;
    if (fetchOffset < this.logStartOffset || fetchOffset > end)
      throw new OffsetOutOfRangeError(`offset ${fetchOffset} is outside [${this.logStartOffset}, ${end}]`);
    const maxOffset = opts.maxOffset !== undefined && opts.maxOffset < end ? opts.maxOffset : end;
    const minOneBatch = opts.minOneBatch ?? true;
    for (const segment of this.segments) {
      const i = segment.batches.findIndex((b) => b.lastOffset >= fetchOffset);
      if (i < 0) continue;
      const first = segment.batches[i]!;
      const base = { fetchOffset, segmentBaseOffset: segment.baseOffset, position: first.position };
      if (first.baseOffset >= maxOffset) return { ...base, records: Buffer.alloc(0), firstBatchIncomplete: false };
      const limit = minOneBatch ? Math.max(opts.maxBytes, first.bytes.length) : opts.maxBytes;
      const out: Buffer[] = [];
      let size = 0;
      for (let j = i; j < segment.batches.length; j++) {
        const b = segment.batches[j]!;
        if (b.baseOffset >= maxOffset || size + b.bytes.length > limit) break;
        out.push(b.bytes);
        size += b.bytes.length;
      }
      return { ...base, records: Buffer.concat(out), firstBatchIncomplete: out.length === 0 };
    }
    const active = this.segments[this.segments.length - 1]!;
    return {
      fetchOffset,
      records: Buffer.alloc(0),
      segmentBaseOffset: active.baseOffset,
      position: active.size,
      firstBatchIncomplete: false,
    };
  }

  async offsetForTimestamp(timestamp: bigint): Promise<TimestampOffset | null> {
    if (timestamp === EARLIEST_TIMESTAMP) return { timestamp: NO_TIMESTAMP, offset: this.logStartOffset };
    if (timestamp === LATEST_TIMESTAMP) return { timestamp: NO_TIMESTAMP, offset: this.nextOffset };
    const batches = this.segments.flatMap((s) => s.batches);
    if (timestamp === MAX_TIMESTAMP) {
      let best: TimestampOffset | null = null;
      for (const b of batches)
        if (b.maxTimestamp >= 0n && (best === null || b.maxTimestamp > best.timestamp))
          best = { timestamp: b.maxTimestamp, offset: b.lastOffset };
      return best;
    }
    for (const b of batches) {
      if (b.maxTimestamp < timestamp) continue;
      const decoded = decodeRecordBatch(b.bytes, 0);
      const logAppendTime = (decoded.header.attributes & 0x08) !== 0;
      for (const r of decoded.records) {
        const ts = logAppendTime ? decoded.header.maxTimestamp : r.timestamp;
        if (ts >= timestamp) return { timestamp: ts, offset: r.offset };
      }
    }
    return null;
  }

  async roll(): Promise<void> {
    await this.appendChain;
    const active = this.segments[this.segments.length - 1]!;
    if (active.size === 0 && active.baseOffset === this.nextOffset) return;
    this.segments.push(this.newSegment(this.nextOffset));
  }

  async flush(): Promise<void> {
    await this.appendChain;
  }

  async close(): Promise<void> {
    await this.appendChain;
  }
}
