/**
 * One segment of a partition log (Kafka's LogSegment): a `.log` file of record batches plus its
 * sparse `.index` and `.timeindex`, all named by the segment's base offset, which is <= every
 * offset in it. Only the last segment of a log (the active one) is appended to.
 *
 * The byte layouts are documented where they are written: FileRecords (`.log`), OffsetIndex
 * (`.index`) and TimeIndex (`.timeindex`). Index entries are added once more than
 * `index.interval.bytes` were appended since the previous entry, by the same rule in append and
 * in recovery, so a rebuilt index is identical to the one built while appending.
 *
 * The transaction index (`.txnindex`, TransactionIndex: the aborted transactions whose ABORT
 * marker is in the segment) sits next to the two indexes and is truncated, renamed and deleted
 * with them; the log appends to it when a marker completes a transaction, and the loader rebuilds
 * it from the batches when it recovers the segment. The cleaner replaces a segment by writing a
 * new one under `.cleaned`, renaming it `.swap`, and swapping it in (LogSegments.replace).
 */
import fsp from "node:fs/promises";
import type { Logger } from "pino";
import type { Clock } from "./config.js";
import { CorruptIndexError } from "./errors.js";
import {
  DELETED_FILE_SUFFIX,
  logFileName,
  offsetIndexFileName,
  timeIndexFileName,
  txnIndexFileName,
} from "./file-names.js";
import { FileRecords } from "./file-records.js";
import type { FileSystem } from "./file-system.js";
import type { LeaderEpochFileCache } from "./leader-epoch-cache.js";
import { OffsetIndex } from "./offset-index.js";
import {
  BATCH_HEADER_SIZE,
  decodeRecordBatch,
  LOG_OVERHEAD,
  readBatchHeader,
  verifyBatchCrc,
  wholeBatchesPrefix,
} from "./records.js";
import { SegmentTail } from "./segment-tail.js";
import { NO_TIMESTAMP, TimeIndex, type TimestampOffset } from "./time-index.js";
import { TransactionIndex } from "./transaction-index.js";

/** Recovery reads the segment this much at a time (a batch larger than this is read whole). */
const RECOVERY_CHUNK_BYTES = 4 * 1024 * 1024;
const TIMESTAMP_TYPE_LOG_APPEND_TIME = 0x08;

export interface SegmentContext {
  dir: string;
  fs: FileSystem;
  time: Clock;
  logger: Logger;
  indexIntervalBytes: number;
  segmentIndexBytes: number;
}

/** What recovery found: where the valid bytes end, and why it stopped if it stopped early. */
export interface SegmentRecoveryResult {
  validBytes: number;
  truncatedBytes: number;
  /** Offset after the last valid batch (the segment's base offset when it holds none). */
  nextOffset: bigint;
  batches: number;
  /** Why the scan stopped before the end of the file; null when every byte was a valid batch. */
  stopReason: string | null;
}

/** One batch of an append, already validated and with its offset assigned. */
export interface AppendedBatch {
  /** Position of the batch within the appended buffer. */
  position: number;
  sizeInBytes: number;
  lastOffset: bigint;
  maxTimestamp: bigint;
  /** The batch's base offset when the caller has it (saves reading it back); else read from the bytes. */
  baseOffset?: bigint;
}

export interface SegmentReadResult {
  /** Whole batches, as stored. */
  records: Buffer;
  /** File position of records[0]. */
  position: number;
  /** Base offset of the first batch returned (<= the fetch offset when it falls inside a batch). */
  firstBatchBaseOffset: bigint;
  /** Size of the batch holding the fetch offset, even when it was not returned for lack of room. */
  firstBatchSize: number;
}

export class LogSegment {
  private bytesSinceLastIndexEntry = 0;
  private maxTimestampAndOffset: TimestampOffset | null = null;
  /** Max timestamp of the first batch: segment.ms counts from it (Kafka's rollingBasedTimestamp). */
  private rollingBasedTimestamp: bigint | null = null;
  private created: number;
  private active: boolean;
  private indexesChecked: Promise<void> | null = null;
  /** The last batches appended, served to fetches at the log end without file I/O. */
  private readonly tail = new SegmentTail();
  /** "" while the segment is part of its log; ".deleted" once its files were renamed for deletion. */
  private fileSuffix = "";

  private constructor(
    private readonly ctx: SegmentContext,
    readonly baseOffset: bigint,
    readonly log: FileRecords,
    readonly offsetIndex: OffsetIndex,
    readonly timeIndex: TimeIndex,
    readonly txnIndex: TransactionIndex,
    active: boolean,
    readonly rollJitterMs: number,
  ) {
    this.created = ctx.time.nowMs();
    this.active = active;
  }

  /** The segment's .log file (created and emptied when `create`) and its two index objects. */
  private static async openFiles(ctx: SegmentContext, baseOffset: bigint, create: boolean) {
    const log = await FileRecords.open(ctx.fs, logFileName(ctx.dir, baseOffset), create);
    const offsetIndex = new OffsetIndex(
      ctx.fs,
      offsetIndexFileName(ctx.dir, baseOffset),
      baseOffset,
      ctx.segmentIndexBytes,
    );
    const timeIndex = new TimeIndex(ctx.fs, timeIndexFileName(ctx.dir, baseOffset), baseOffset, ctx.segmentIndexBytes);
    let txnIndex: TransactionIndex;
    try {
      txnIndex = await TransactionIndex.open(ctx.fs, txnIndexFileName(ctx.dir, baseOffset), baseOffset);
    } catch (e) {
      await log.close();
      throw e;
    }
    return { log, offsetIndex, timeIndex, txnIndex };
  }

  /** A new, empty, active segment; any leftover files with this base offset are emptied. */
  static async create(ctx: SegmentContext, baseOffset: bigint, rollJitterMs = 0): Promise<LogSegment> {
    const { log, offsetIndex, timeIndex, txnIndex } = await LogSegment.openFiles(ctx, baseOffset, true);
    try {
      await offsetIndex.createEmpty();
      await timeIndex.createEmpty();
      await txnIndex.reset();
    } catch (e) {
      await Promise.allSettled([log.close(), offsetIndex.closeHandle(), timeIndex.closeHandle(), txnIndex.close()]);
      throw e;
    }
    const segment = new LogSegment(ctx, baseOffset, log, offsetIndex, timeIndex, txnIndex, true, rollJitterMs);
    segment.indexesChecked = Promise.resolve();
    return segment;
  }

  /** An existing segment; its indexes are read on first use (or rebuilt by recover()). */
  static async open(ctx: SegmentContext, baseOffset: bigint): Promise<LogSegment> {
    const { log, offsetIndex, timeIndex, txnIndex } = await LogSegment.openFiles(ctx, baseOffset, false);
    offsetIndex.markLazy();
    timeIndex.markLazy();
    return new LogSegment(ctx, baseOffset, log, offsetIndex, timeIndex, txnIndex, false, 0);
  }

  get size(): number {
    return this.log.size;
  }

  get isActive(): boolean {
    return this.active;
  }

  /**
   * Loads both indexes, checking them against the segment; a missing or inconsistent index is
   * rebuilt by scanning the segment (never truncating it: its bytes are below the recovery point).
   */
  ensureIndexes(): Promise<void> {
    this.indexesChecked ??= this.loadOrRebuildIndexes();
    return this.indexesChecked;
  }

  private async loadOrRebuildIndexes(): Promise<void> {
    try {
      await this.offsetIndex.ensureLoaded();
      await this.timeIndex.ensureLoaded();
      const last = this.offsetIndex.entries > 0 ? this.offsetIndex.entry(this.offsetIndex.entries - 1) : null;
      if (last && last.position >= this.log.size)
        throw new CorruptIndexError(`index ${this.offsetIndex.file} points at ${last.position}, past the segment end`);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (!(e instanceof CorruptIndexError) && code !== "ENOENT") {
        this.indexesChecked = null;
        throw e;
      }
      this.ctx.logger.warn(
        { segment: this.log.file, reason: (e as Error).message },
        "rebuilding the indexes of a segment: missing or inconsistent index",
      );
      await this.recover({ minOffset: this.baseOffset, truncate: false });
      if (!this.active) {
        await this.offsetIndex.trimToValidSize();
        await this.timeIndex.trimToValidSize();
        await this.offsetIndex.sync();
        await this.timeIndex.sync();
        await this.offsetIndex.closeHandle();
        await this.timeIndex.closeHandle();
      }
    }
  }

  /** The largest timestamp in the segment and the last offset of the batch holding it. */
  async maxTimestampSoFar(): Promise<TimestampOffset> {
    if (this.maxTimestampAndOffset === null) {
      await this.ensureIndexes();
      this.maxTimestampAndOffset ??= this.timeIndex.lastEntry();
    }
    return { ...this.maxTimestampAndOffset };
  }

  /** Kafka's shouldRoll. The caller holds the append lock; the active segment's indexes are loaded. */
  shouldRoll(p: {
    nowMs: number;
    segmentBytes: number;
    segmentMs: number;
    messagesSize: number;
    maxTimestampInMessages: bigint;
    maxOffsetInMessages: bigint;
  }): string | null {
    if (this.size > p.segmentBytes - p.messagesSize) return "segment.bytes";
    if (this.size > 0 && this.timeWaitedForRollMs(p.nowMs, p.maxTimestampInMessages) > p.segmentMs - this.rollJitterMs)
      return "segment.ms";
    if (this.offsetIndex.isFull() || this.timeIndex.isFull()) return "index full";
    if (!this.offsetIndex.canAppendOffset(p.maxOffsetInMessages)) return "offset overflow";
    return null;
  }

  private timeWaitedForRollMs(nowMs: number, messageTimestamp: bigint): number {
    if (this.rollingBasedTimestamp !== null && this.rollingBasedTimestamp >= 0n)
      return Number(messageTimestamp - this.rollingBasedTimestamp);
    return nowMs - this.created;
  }

  /** Reads the first batch's max timestamp after a restart, for segment.ms (Kafka's loadFirstBatchTimestamp). */
  async loadFirstBatchTimestamp(): Promise<void> {
    if (this.rollingBasedTimestamp !== null || this.size === 0) return;
    for await (const batch of this.log.batchesFrom(0)) {
      this.rollingBasedTimestamp = batch.maxTimestamp;
      break;
    }
  }

  /**
   * Writes `records` (whole batches with offsets assigned) at the end and indexes them. On a write
   * failure the file may hold a partial batch; the caller truncates it back to `size`.
   */
  async append(records: Buffer, batches: readonly AppendedBatch[]): Promise<void> {
    if (batches.length === 0) return;
    const lastOffset = batches[batches.length - 1]!.lastOffset;
    if (!this.offsetIndex.canAppendOffset(lastOffset))
      throw new Error(`offset ${lastOffset} does not fit segment ${this.baseOffset}: roll first`);
    const startPosition = this.log.size;
    await this.log.append(records);
    this.tail.append(startPosition, records, batches);
    if (startPosition === 0) this.rollingBasedTimestamp = batches[0]!.maxTimestamp;
    // No await (and no copy) once the segment's maximum is known, i.e. on every append but the first.
    let maxTs = this.maxTimestampAndOffset ?? (await this.maxTimestampSoFar());
    for (const batch of batches) {
      if (batch.maxTimestamp > maxTs.timestamp) maxTs = { timestamp: batch.maxTimestamp, offset: batch.lastOffset };
      this.indexBatch(startPosition + batch.position, batch.sizeInBytes, batch.lastOffset, maxTs);
    }
    this.maxTimestampAndOffset = maxTs;
  }

  private indexBatch(position: number, sizeInBytes: number, lastOffset: bigint, maxTs: TimestampOffset): void {
    if (this.bytesSinceLastIndexEntry > this.ctx.indexIntervalBytes && !this.offsetIndex.isFull()) {
      this.offsetIndex.append(lastOffset, position);
      if (!this.timeIndex.isFull()) this.timeIndex.maybeAppend(maxTs.timestamp, maxTs.offset);
      this.bytesSinceLastIndexEntry = 0;
    }
    this.bytesSinceLastIndexEntry += sizeInBytes;
  }

  /**
   * Reads whole batches starting with the one holding `startOffset`: at most `maxSize` bytes, but
   * with `minOneBatch` always the first batch whatever its size; nothing past `maxPosition` or
   * from a batch starting at or after `maxOffset`. Null when no batch here reaches `startOffset`.
   */
  async read(
    startOffset: bigint,
    maxSize: number,
    opts: { maxPosition?: number; minOneBatch?: boolean; maxOffset?: bigint; pooled?: boolean } = {},
  ): Promise<SegmentReadResult | null> {
    const size = this.log.size;
    const maxPosition = Math.min(opts.maxPosition ?? size, size);
    const cached = this.tail.read(startOffset, maxSize, size, maxPosition, opts.minOneBatch ?? false, opts.maxOffset);
    if (cached !== undefined) return cached;
    await this.ensureIndexes();
    const start = this.offsetIndex.lookup(startOffset);
    const first = await this.log.searchForOffset(startOffset, start.position, maxPosition);
    if (first === null) return null;
    const empty = {
      records: Buffer.alloc(0),
      position: first.position,
      firstBatchBaseOffset: first.baseOffset,
      firstBatchSize: first.sizeInBytes,
    };
    if (opts.maxOffset !== undefined && first.baseOffset >= opts.maxOffset) return empty;
    const wanted = opts.minOneBatch ? Math.max(maxSize, first.sizeInBytes) : maxSize;
    const length = Math.min(wanted, maxPosition - first.position);
    if (length < first.sizeInBytes) return empty;
    const bytes = await this.log.read(first.position, length, opts.pooled);
    const whole = wholeBatchesPrefix(bytes, opts.maxOffset);
    return { ...empty, records: whole === bytes.length ? bytes : bytes.subarray(0, whole) };
  }

  /**
   * The first record with timestamp >= `timestamp` and offset >= `startingOffset` (Kafka's
   * findOffsetByTimestamp). Decodes only the one batch that holds it.
   */
  async findOffsetByTimestamp(timestamp: bigint, startingOffset: bigint): Promise<TimestampOffset | null> {
    await this.ensureIndexes();
    const fromTime = this.timeIndex.lookup(timestamp);
    const from = fromTime.offset > startingOffset ? fromTime.offset : startingOffset;
    const position = this.offsetIndex.lookup(from).position;
    for await (const batch of this.log.batchesFrom(position)) {
      if (batch.maxTimestamp < timestamp || batch.lastOffset < startingOffset) continue;
      const bytes = await this.log.read(batch.position, batch.sizeInBytes);
      const decoded = decodeRecordBatch(bytes, 0);
      const logAppendTime = (decoded.header.attributes & TIMESTAMP_TYPE_LOG_APPEND_TIME) !== 0;
      for (const record of decoded.records) {
        const ts = logAppendTime ? decoded.header.maxTimestamp : record.timestamp;
        if (ts >= timestamp && record.offset >= startingOffset) return { timestamp: ts, offset: record.offset };
      }
    }
    return null;
  }

  /**
   * Scans the whole file, validating every batch (length, magic 2, CRC, offsets ascending from
   * `minOffset` and fitting a relative offset) and rebuilding both indexes and, if given, the
   * leader-epoch cache. With `truncate`, cuts the file after the last valid batch (Kafka's recover).
   */
  async recover(opts: {
    minOffset: bigint;
    truncate: boolean;
    leaderEpochCache?: LeaderEpochFileCache;
    /** Called with every valid batch, in order (the loader rebuilds producer state and the .txnindex from it). */
    onBatch?: (buf: Buffer, position: number, header: ReturnType<typeof readBatchHeader>) => void;
  }): Promise<SegmentRecoveryResult> {
    this.tail.clear();
    await this.offsetIndex.reset();
    await this.timeIndex.reset();
    this.bytesSinceLastIndexEntry = 0;
    const maxTs: TimestampOffset = { timestamp: NO_TIMESTAMP, offset: this.baseOffset };
    const fileSize = await this.log.fileSize();
    let pos = 0;
    let chunk: Buffer = Buffer.alloc(0);
    let chunkStart = 0;
    let nextOffset = opts.minOffset > this.baseOffset ? opts.minOffset : this.baseOffset;
    let lastValidNext = this.baseOffset;
    let batches = 0;
    let stopReason: string | null = null;
    let firstTimestamp: bigint | null = null;
    while (pos < fileSize) {
      if (pos + LOG_OVERHEAD > chunkStart + chunk.length) {
        if (pos + LOG_OVERHEAD > fileSize) {
          stopReason = `truncated batch header: ${fileSize - pos} bytes left`;
          break;
        }
        chunk = await this.log.readRaw(pos, Math.min(RECOVERY_CHUNK_BYTES, fileSize - pos));
        chunkStart = pos;
      }
      let rel = pos - chunkStart;
      const batchLength = chunk.readInt32BE(rel + 8);
      const size = LOG_OVERHEAD + batchLength;
      if (batchLength < BATCH_HEADER_SIZE - LOG_OVERHEAD) {
        stopReason = `impossible batch length ${batchLength}`;
        break;
      }
      if (pos + size > fileSize) {
        stopReason = `truncated batch: ${size} bytes long, ${fileSize - pos} left in the file`;
        break;
      }
      if (rel + size > chunk.length) {
        chunk = await this.log.readRaw(pos, Math.max(size, Math.min(RECOVERY_CHUNK_BYTES, fileSize - pos)));
        chunkStart = pos;
        rel = 0;
      }
      let header: ReturnType<typeof readBatchHeader>;
      try {
        header = readBatchHeader(chunk, rel);
      } catch (e) {
        stopReason = (e as Error).message;
        break;
      }
      if (!verifyBatchCrc(chunk, rel)) {
        stopReason = `CRC mismatch in the batch at offset ${header.baseOffset}`;
        break;
      }
      const lastOffset = header.baseOffset + BigInt(header.lastOffsetDelta);
      if (header.lastOffsetDelta < 0 || header.baseOffset < nextOffset) {
        stopReason = `offsets not ascending: batch ${header.baseOffset}..${lastOffset} after offset ${nextOffset - 1n}`;
        break;
      }
      if (!this.offsetIndex.canAppendOffset(lastOffset)) {
        stopReason = `offset ${lastOffset} overflows segment ${this.baseOffset}`;
        break;
      }
      if (header.maxTimestamp > maxTs.timestamp) {
        maxTs.timestamp = header.maxTimestamp;
        maxTs.offset = lastOffset;
      }
      firstTimestamp ??= header.maxTimestamp;
      this.indexBatch(pos, size, lastOffset, maxTs);
      const cache = opts.leaderEpochCache;
      if (cache && header.partitionLeaderEpoch >= 0 && header.partitionLeaderEpoch > cache.latestEpoch())
        cache.assign(header.partitionLeaderEpoch, header.baseOffset);
      opts.onBatch?.(chunk, rel, header);
      nextOffset = lastOffset + 1n;
      lastValidNext = nextOffset;
      batches++;
      pos += size;
    }
    this.maxTimestampAndOffset = maxTs;
    this.rollingBasedTimestamp = firstTimestamp;
    let truncatedBytes = 0;
    if (opts.truncate) truncatedBytes = await this.log.truncateTo(pos);
    else this.log.setValidSize(pos);
    this.indexesChecked = Promise.resolve();
    return { validBytes: pos, truncatedBytes, nextOffset: lastValidNext, batches, stopReason };
  }

  /** The offset after the last batch, found by scanning from the last index entry (after a clean shutdown). */
  async readNextOffset(): Promise<bigint> {
    await this.ensureIndexes();
    const start = this.offsetIndex.entries > 0 ? this.offsetIndex.entry(this.offsetIndex.entries - 1).position : 0;
    let next = this.baseOffset;
    let end = start;
    for await (const batch of this.log.batchesFrom(start)) {
      next = batch.lastOffset + 1n;
      end = batch.position + batch.sizeInBytes;
    }
    if (end !== this.log.size)
      throw new CorruptIndexError(`segment ${this.log.file} has ${this.log.size - end} bytes after its last batch`);
    return next;
  }

  /**
   * Removes every batch holding an offset >= `offset` (the batch containing it included) and the
   * index entries for them; the segment becomes the active one. Returns the bytes removed.
   */
  async truncateTo(offset: bigint): Promise<number> {
    await this.ensureIndexes();
    const start = this.offsetIndex.lookup(offset);
    const found = await this.log.searchForOffset(offset, start.position);
    if (found === null) return 0;
    this.tail.clear();
    this.offsetIndex.truncateTo(offset);
    this.timeIndex.truncateTo(offset);
    await this.txnIndex.truncateTo(offset);
    await this.makeActive();
    const removed = await this.log.truncateTo(found.position);
    this.maxTimestampAndOffset = this.timeIndex.lastEntry();
    this.bytesSinceLastIndexEntry = 0;
    if (this.log.size === 0) {
      this.created = this.ctx.time.nowMs();
      this.rollingBasedTimestamp = null;
    }
    return removed;
  }

  /** The segment is the active one again (after recovery or truncation): preallocate its index files. */
  async makeActive(): Promise<void> {
    await this.ensureIndexes();
    this.active = true;
    await this.offsetIndex.resize(this.ctx.segmentIndexBytes);
    await this.timeIndex.resize(this.ctx.segmentIndexBytes);
  }

  /**
   * The segment stops being the active one (Kafka's onBecomeInactiveSegment): a last time index
   * entry for its max timestamp, then both index files written and trimmed to their entries. They
   * are fsynced by the next flush that covers the segment.
   */
  async onBecomeInactiveSegment(): Promise<void> {
    const maxTs = await this.maxTimestampSoFar();
    this.timeIndex.maybeAppend(maxTs.timestamp, maxTs.offset, true);
    await this.offsetIndex.trimToValidSize();
    await this.timeIndex.trimToValidSize();
    this.active = false;
    this.tail.clear();
  }

  /** fsyncs the log (and, once inactive, the index files, whose handles are then released). */
  async flush(): Promise<void> {
    await this.log.flush();
    await this.txnIndex.flush();
    if (!this.active) {
      await this.offsetIndex.sync();
      await this.timeIndex.sync();
      await this.offsetIndex.closeHandle();
      await this.timeIndex.closeHandle();
    }
  }

  /** Closes the files; after a clean shutdown the index files hold exactly the entries. */
  async close(): Promise<void> {
    this.tail.clear();
    try {
      if (this.active) await this.onBecomeInactiveSegment();
    } finally {
      await Promise.allSettled([this.offsetIndex.closeHandle(), this.timeIndex.closeHandle(), this.txnIndex.close()]);
      await this.log.close();
    }
  }

  /** Closes without writing anything (the partition is offline; its files are left as they are). */
  async closeHandlers(): Promise<void> {
    this.tail.clear();
    await Promise.allSettled([
      this.offsetIndex.closeHandle(),
      this.timeIndex.closeHandle(),
      this.txnIndex.close(),
      this.log.close(),
    ]);
  }

  /**
   * The timestamp retention.ms is judged by (Kafka's largestTimestamp): the largest record
   * timestamp, or the `.log` file's modification time when no batch carries one.
   */
  async largestTimestamp(): Promise<number> {
    const max = await this.maxTimestampSoFar();
    if (max.timestamp >= 0n) return Number(max.timestamp);
    return (await fsp.stat(this.log.file + this.fileSuffix)).mtimeMs;
  }

  /** Whether the files were renamed `.deleted` (the segment left the log; its files go later). */
  get isDeleted(): boolean {
    return this.fileSuffix === DELETED_FILE_SUFFIX;
  }

  /**
   * First step of an asynchronous delete (Kafka's changeFileSuffixes("", ".deleted")): the `.log`
   * first, so that one rename takes the segment out of the directory; an index left behind by a
   * crash is an orphan the loader removes. Open handles keep serving reads that raced the removal;
   * an index not yet read is not read any more (its file is about to go).
   */
  async renameToDeleted(): Promise<void> {
    if (this.isDeleted) return;
    this.fileSuffix = DELETED_FILE_SUFFIX;
    this.indexesChecked ??= Promise.reject(new Error(`segment ${this.log.file} was deleted`));
    this.indexesChecked.catch(() => undefined);
    for (const file of [this.log.file, this.offsetIndex.file, this.timeIndex.file]) {
      await fsp.rename(file, file + DELETED_FILE_SUFFIX).catch((e: NodeJS.ErrnoException) => {
        // An index that was never written (an empty segment's, or one to be rebuilt) has nothing to rename.
        if (e.code !== "ENOENT" || file === this.log.file) throw e;
      });
    }
    await this.txnIndex.renameTo(this.txnIndex.file + DELETED_FILE_SUFFIX);
  }

  /** Deletes the segment's files, under their `.deleted` names once renamed (retention, recovery, truncation). */
  async deleteFiles(): Promise<void> {
    await this.closeHandlers();
    for (const file of [this.log.file, this.offsetIndex.file, this.timeIndex.file])
      await fsp.rm(file + this.fileSuffix, { force: true });
    // Its name already carries the suffix after renameToDeleted.
    await this.txnIndex.deleteIfExists();
  }
}
