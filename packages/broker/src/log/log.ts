/**
 * The log of one partition (Kafka's UnifiedLog over LocalLog): a directory `<topic>-<partition>/`
 * of segments, the leader-epoch cache, and the offsets that describe them (log start offset, log
 * end offset, recovery point).
 *
 * Appends: validated outside the lock, then one at a time through a queue (the partition's
 * append lock): assign offsets by patching base offset and leader epoch in place, roll if needed,
 * one positional write, update the indexes, move the log end offset. An append resolves when
 * write() has returned: the bytes are in the OS page cache and survive a process crash. Whether
 * they also survive power loss is `flush.messages` / `flush.ms` (docs/operations.md):
 * when an append must be fsynced before it is acknowledged, it waits for a flush covering its
 * offsets, and all appends written while one fsync runs share the next one (group commit), while
 * the queue keeps writing.
 *
 * Failures: a write that fails (ENOSPC, EDQUOT, EFBIG) is cut back off the file and the append
 * fails with KAFKA_STORAGE_ERROR; nothing acknowledged is touched and the partition stays online.
 * A failed fsync, a failed cut, or an I/O error anywhere else takes the partition offline: from
 * then on every operation answers KAFKA_STORAGE_ERROR (after a failed fsync the page cache can no
 * longer be trusted to match the disk), and only this partition is affected.
 *
 * Retention (deleteOldSegments, Kafka's): segments wholly below the log start offset, past
 * `retention.bytes` or older than `retention.ms` leave the segment map under the append lock, the
 * log start offset moves to the first remaining segment, their files are renamed `.deleted` and
 * removed `file.delete.delay.ms` later (a crash in between leaves `.deleted` files the loader
 * removes). DeleteRecords moves the log start offset with maybeIncrementLogStartOffset; the next
 * retention pass deletes the segments below it. Reads that raced a deletion either get the bytes
 * (handles stay open until the files go) or read again, and then get OFFSET_OUT_OF_RANGE.
 *
 * Producer state (producer-state.ts; Kafka's UnifiedLog.analyzeAndValidateProducerState): under
 * the append lock, after offsets are assigned and before the write, the batches carrying a
 * producer id are checked (a client's sequence and epoch; the coordinator's markers). A typed
 * error fails the append; a retry of one of a producer's last 5 batches is answered with the
 * offsets it was first written at, and nothing is written. After the write the state is updated,
 * each completed transaction gets its last stable offset, an aborted one an entry in the segment's
 * `.txnindex`. A client never writes a control batch (INVALID_RECORD, as Kafka's LogValidator).
 * Snapshots (`<offset>.snapshot`) are taken when a segment rolls (fsynced by the background flush
 * of the rolled segment) and on clean close; they are deleted with the segments they belong to
 * (retention, the cleaner's swap) and below the log start offset; a truncation reloads the state
 * from the newest snapshot at or below the new end and replays the rest. The last stable offset
 * is min(high watermark, first unstable offset); on one node the high watermark is the log end.
 */
import fsp from "node:fs/promises";
import { isControlBatch } from "@samsa/protocol";
import pino, { type Logger } from "pino";
import { renameCleanedToSwap, renameSwapToFinal } from "./cleaner/segment-swap.js";
import { type Clock, type LogConfig, logConfig, SYSTEM_CLOCK } from "./config.js";
import { InvalidRecordError, KafkaStorageError, OffsetOutOfRangeError } from "./errors.js";
import { CLEANED_FILE_SUFFIX, type TopicPartition, topicPartitionKey, txnIndexFileName } from "./file-names.js";
import { errnoCode, type FileSystem, nodeFileSystem, syncDir, writeFully } from "./file-system.js";
import type { LeaderEpochFileCache } from "./leader-epoch-cache.js";
import { loadLog } from "./log-loader.js";
import { type AppendedBatch, LogSegment, type SegmentContext } from "./log-segment.js";
import { LogSegments } from "./log-segments.js";
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
import {
  batchFirstOffset,
  type ProducerAppendAnalysis,
  type ProducerBatch,
  type ProducerStateEntry,
  ProducerStateManager,
  producerBatchAt,
} from "./producer-state.js";
import { completeTransactions, hasProducerId, rebuildProducerState } from "./producer-state-log.js";
import type { ProducerSnapshots } from "./producer-state-snapshot.js";
import { setBaseOffset, setPartitionLeaderEpoch } from "./records.js";
import { NO_TIMESTAMP, type TimestampOffset } from "./time-index.js";
import {
  ABORTED_TXN_SIZE,
  type AbortedTxn,
  collectAbortedTransactions,
  encodeAbortedTxn,
  type TransactionIndex,
} from "./transaction-index.js";

/** Where the attributes sit in a batch header. */
const ATTRIBUTES_OFFSET = 21;
/** Where the base sequence sits in a batch header. */
const BASE_SEQUENCE_OFFSET = 53;

/** fsyncs a file written without one (a snapshot taken on roll); gone already is fine (retention). */
/** The append chain only orders work: how each step ended is its caller's business. */
function settledIgnored(): undefined {
  return undefined;
}

async function syncFileIfExists(fs: FileSystem, file: string): Promise<void> {
  let fh: Awaited<ReturnType<FileSystem["open"]>>;
  try {
    fh = await fs.open(file, "r");
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return;
    throw e;
  }
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Write errors after which the file is cut back and the partition stays online: the disk is full, not broken. */
const RECOVERABLE_WRITE_ERRORS = new Set(["ENOSPC", "EDQUOT", "EFBIG"]);

export interface LogOptions {
  /** The partition directory, `<log.dir>/<topic>-<partition>`. */
  dir: string;
  topicPartition: TopicPartition;
  config?: Partial<LogConfig>;
  time?: Clock;
  logger?: Logger;
  fs?: FileSystem;
  /** From recovery-point-offset-checkpoint; unknown means 0: scan everything after an unclean stop. */
  recoveryPoint?: bigint;
  /** From log-start-offset-checkpoint. */
  logStartOffset?: bigint;
  /** The log dir's clean shutdown marker was present: skip recovery. */
  hadCleanShutdown?: boolean;
  /** Called once when the partition goes offline (the LogManager records it). */
  onOffline?: (log: Log, error: Error) => void;
  /** Random source for segment.jitter.ms (tests pass a seeded one). */
  random?: () => number;
  /**
   * Persists the log start offset (the LogManager writes log-start-offset-checkpoint). Awaited by
   * maybeIncrementLogStartOffset, so that DeleteRecords is answered only once the new start is
   * on disk; segment deletion needs no checkpoint (the loader starts the log at its first segment).
   */
  checkpointLogStartOffset?: (log: Log) => Promise<void>;
  /** producer.id.expiration.ms (a broker config): idle producers are forgotten after it. */
  producerIdExpirationMs?: number;
}

/** Segments removed from the log whose files (renamed `.deleted`) are deleted at `dueMs` on the log's clock. */
interface PendingFileDeletion {
  dueMs: number;
  segments: LogSegment[];
}

export class Log implements PartitionLog {
  readonly topicPartition: TopicPartition;
  readonly dir: string;
  private configValue: LogConfig;
  private readonly time: Clock;
  private readonly logger: Logger;
  private readonly random: () => number;
  private readonly onOffline: ((log: Log, error: Error) => void) | undefined;
  private readonly checkpointLogStartOffset: ((log: Log) => Promise<void>) | undefined;

  private segments: LogSegments;
  private segmentContext: SegmentContext | null;
  private leaderEpochCacheValue: LeaderEpochFileCache | null;
  private nextOffset: bigint;
  private logStartOffsetValue: bigint;
  private recoveryPointValue: bigint;
  private lastFlushMs: number;

  private appendChain: Promise<unknown> = Promise.resolve();
  private flushing: Promise<void> | null = null;
  /** Set while segments are being removed (truncation): no flush may start, it would touch closed files. */
  private flushBarrier: Promise<void> | null = null;
  /** A segment was created since the last flush: the directory entry needs an fsync too. */
  private dirNeedsSync = false;
  private offlineError: Error | null = null;
  private closed = false;
  private pendingFileDeletions: PendingFileDeletion[] = [];
  private fileDeletionTimer: NodeJS.Timeout | null = null;
  private readonly producerState: ProducerStateManager;
  private readonly producerSnapshots: ProducerSnapshots | null;
  /** Snapshots written on roll without an fsync; the flush of the rolled segment syncs them. */
  private unsyncedSnapshots: string[] = [];

  private constructor(
    opts: LogOptions,
    config: LogConfig,
    loaded: {
      segments: LogSegments;
      segmentContext: SegmentContext | null;
      leaderEpochCache: LeaderEpochFileCache | null;
      nextOffset: bigint;
      logStartOffset: bigint;
      recoveryPoint: bigint;
      producerState: ProducerStateManager;
      producerSnapshots: ProducerSnapshots | null;
    },
  ) {
    this.topicPartition = opts.topicPartition;
    this.dir = opts.dir;
    this.configValue = config;
    this.time = opts.time ?? SYSTEM_CLOCK;
    this.logger = (opts.logger ?? pino({ level: "silent" })).child({
      partition: topicPartitionKey(opts.topicPartition),
    });
    this.random = opts.random ?? Math.random;
    this.onOffline = opts.onOffline;
    this.checkpointLogStartOffset = opts.checkpointLogStartOffset;
    this.segments = loaded.segments;
    this.segmentContext = loaded.segmentContext;
    this.leaderEpochCacheValue = loaded.leaderEpochCache;
    this.nextOffset = loaded.nextOffset;
    this.logStartOffsetValue = loaded.logStartOffset;
    this.recoveryPointValue = loaded.recoveryPoint;
    this.producerState = loaded.producerState;
    this.producerSnapshots = loaded.producerSnapshots;
    this.lastFlushMs = this.time.nowMs();
  }

  /** Opens (creating if needed) the partition directory, recovering it after an unclean stop. */
  static async open(opts: LogOptions): Promise<Log> {
    const config = logConfig(opts.config);
    const logger = (opts.logger ?? pino({ level: "silent" })).child({
      partition: topicPartitionKey(opts.topicPartition),
    });
    const started = Date.now();
    const loaded = await loadLog({
      dir: opts.dir,
      config,
      fs: opts.fs ?? nodeFileSystem,
      time: opts.time ?? SYSTEM_CLOCK,
      logger,
      recoveryPoint: opts.recoveryPoint ?? 0n,
      logStartOffset: opts.logStartOffset,
      hadCleanShutdown: opts.hadCleanShutdown ?? false,
      producerIdExpirationMs: opts.producerIdExpirationMs,
      partition: topicPartitionKey(opts.topicPartition),
    });
    logger.debug(
      {
        segments: loaded.segments.size,
        logEndOffset: loaded.nextOffset.toString(),
        recoveredSegments: loaded.recoveredSegments,
        truncatedBytes: loaded.truncatedBytes,
        ms: Date.now() - started,
      },
      "log loaded",
    );
    return new Log(opts, config, loaded);
  }

  /** A partition whose directory could not be loaded: every operation answers KAFKA_STORAGE_ERROR. */
  static offline(opts: LogOptions, error: Error): Log {
    const log = new Log(opts, logConfig(opts.config), {
      segments: new LogSegments(),
      segmentContext: null,
      leaderEpochCache: null,
      nextOffset: 0n,
      logStartOffset: 0n,
      recoveryPoint: 0n,
      producerState: new ProducerStateManager({ clock: opts.time ?? SYSTEM_CLOCK }),
      producerSnapshots: null,
    });
    log.offlineError = error;
    return log;
  }

  get config(): LogConfig {
    return this.configValue;
  }

  /**
   * Applies a changed topic or broker config without a restart, as Kafka's UnifiedLog.updateConfig:
   * size, age, flush and max.message.bytes limits hold from the next append; the index settings
   * (segment.index.bytes, index.interval.bytes) hold from the next segment, because an open
   * segment's index files are already sized.
   */
  updateConfig(overrides: Partial<LogConfig>): void {
    const config = logConfig(overrides);
    this.configValue = config;
    if (this.segmentContext !== null) {
      // A new object, not a mutation: open segments keep the context they were created with.
      this.segmentContext = {
        ...this.segmentContext,
        indexIntervalBytes: config.indexIntervalBytes,
        segmentIndexBytes: config.segmentIndexBytes,
      };
    }
  }

  get logStartOffset(): bigint {
    return this.logStartOffsetValue;
  }

  get logEndOffset(): bigint {
    return this.nextOffset;
  }

  get recoveryPoint(): bigint {
    return this.recoveryPointValue;
  }

  get isOffline(): boolean {
    return this.offlineError !== null;
  }

  /** Why the partition is offline, or null. */
  get offlineReason(): Error | null {
    return this.offlineError;
  }

  get leaderEpochCache(): LeaderEpochFileCache {
    this.checkOnline();
    return this.leaderEpochCacheValue!;
  }

  segmentBaseOffsets(): bigint[] {
    return this.segments.baseOffsets();
  }

  // ---- producer state and transactions ----

  /**
   * The offset below which every transaction is decided (Kafka's lastStableOffset): a
   * read_committed consumer reads up to it. min(high watermark, first unstable offset); on one
   * node the high watermark is the log end offset.
   */
  get lastStableOffset(): bigint {
    const firstUnstable = this.producerState.firstUnstableOffset();
    return firstUnstable !== null && firstUnstable < this.nextOffset ? firstUnstable : this.nextOffset;
  }

  /**
   * The aborted transactions overlapping [fetchOffset, upperBoundOffset), from the `.txnindex`
   * of the segment holding `fetchOffset` on (Kafka's LocalLog.collectAbortedTransactions).
   */
  collectAbortedTransactions(fetchOffset: bigint, upperBoundOffset: bigint): AbortedTxn[] {
    const indexes: TransactionIndex[] = this.segments.range(fetchOffset).map((s) => s.txnIndex);
    return collectAbortedTransactions(indexes, fetchOffset, upperBoundOffset);
  }

  /** What the partition knows of a producer (tests and tools). */
  producerStateOf(producerId: bigint): ProducerStateEntry | undefined {
    return this.producerState.lastEntry(producerId);
  }

  get producerIdCount(): number {
    return this.producerState.producerIdCount;
  }

  /** Offsets of the `.snapshot` files, ascending (tests and tools). */
  producerSnapshotOffsets(): bigint[] {
    return this.producerSnapshots?.offsets() ?? [];
  }

  /**
   * Forgets producers idle for producer.id.expiration.ms (never one with an open transaction);
   * the broker's producer.id.expiration.check.interval.ms task calls it. Returns how many went.
   */
  removeExpiredProducers(nowMs: number = this.time.nowMs()): Promise<number> {
    if (this.offlineError || this.closed) return Promise.resolve(0);
    return this.enqueue(async () => this.producerState.removeExpiredProducers(nowMs).length);
  }

  /** The segments (read-only view, for tools and tests). */
  logSegments(): readonly LogSegment[] {
    return this.segments.all();
  }

  /** Total bytes of all segments. */
  get size(): number {
    return this.segments.all().reduce((n, s) => n + s.size, 0);
  }

  private checkOnline(): void {
    if (this.offlineError)
      throw new KafkaStorageError(
        `partition ${topicPartitionKey(this.topicPartition)} is offline: ${this.offlineError.message}`,
        { cause: this.offlineError },
      );
    if (this.closed) throw new KafkaStorageError(`partition ${topicPartitionKey(this.topicPartition)} is closed`);
  }

  /** Takes the partition offline after an I/O error; returns the error to throw. */
  private fail(what: string, error: unknown): KafkaStorageError {
    const err = error instanceof Error ? error : new Error(String(error));
    if (!this.offlineError) {
      this.offlineError = err;
      this.logger.error({ err, what, dir: this.dir }, "partition taken offline after an I/O error");
      this.onOffline?.(this, err);
    }
    return new KafkaStorageError(`${what} failed on ${topicPartitionKey(this.topicPartition)}: ${err.message}`, {
      cause: err,
    });
  }

  /** Runs `fn` after every earlier append/roll/truncate has finished: the partition's append lock. */
  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.appendChain.then(fn);
    this.appendChain = run.then(settledIgnored, settledIgnored);
    return run;
  }

  // ---- append ----

  append(records: Buffer, opts: AppendOptions = {}): Promise<LogAppendInfo> {
    // Not an async function: each one on the produce path is a frame of garbage per request.
    let validated: ReturnType<typeof validateRecords>;
    try {
      this.checkOnline();
      validated = validateRecords(records, this.config, true, topicPartitionKey(this.topicPartition));
      if ((opts.origin ?? "client") === "client") this.validateClientBatches(records, validated.batches);
    } catch (e) {
      return Promise.reject(e);
    }
    const appended = this.enqueue(() => this.appendLocked(records, validated.batches, validated.recordCount, opts));
    return appended.then((info) =>
      this.flushDueAfterAppend(info.lastOffset + 1n) ? this.flushUpTo(info.lastOffset + 1n).then(() => info) : info,
    );
  }

  /** Kafka's LogValidator checks for a client's batches: no control batch, a sequence with every producer id. */
  private validateClientBatches(records: Buffer, batches: ReturnType<typeof validateRecords>["batches"]): void {
    for (const b of batches) {
      if (isControlBatch(records.readInt16BE(b.position + ATTRIBUTES_OFFSET)))
        throw new InvalidRecordError(
          `Clients are not allowed to write control records in topic partition ${topicPartitionKey(this.topicPartition)}`,
        );
      if (hasProducerId(records, b.position)) {
        const baseSequence = records.readInt32BE(b.position + BASE_SEQUENCE_OFFSET);
        if (baseSequence < 0)
          throw new InvalidRecordError(
            `Invalid sequence number ${baseSequence} in record batch with producerId ` +
              `${records.readBigInt64BE(b.position + 43)} in topic partition ${topicPartitionKey(this.topicPartition)}`,
          );
      }
    }
  }

  /**
   * Assigns offsets and checks the producer state (synchronous), then writes (writeAppend). Split
   * so that the async function, whose frame is garbage on every append, stays small.
   */
  private appendLocked(
    records: Buffer,
    validated: ReturnType<typeof validateRecords>["batches"],
    recordCount: number,
    opts: AppendOptions,
  ): Promise<LogAppendInfo> {
    this.checkOnline();
    const firstOffset = this.nextOffset;
    let offset = firstOffset;
    let maxTimestamp = NO_TIMESTAMP;
    let offsetOfMaxTimestamp = firstOffset;
    const batches: AppendedBatch[] = [];
    const epochs: { epoch: number; startOffset: bigint }[] = [];
    let producerBatches: ProducerBatch[] | null = null;
    for (const b of validated) {
      setBaseOffset(records, b.position, offset);
      if (hasProducerId(records, b.position)) (producerBatches ??= []).push(producerBatchAt(records, b.position)!);
      const epoch = opts.leaderEpoch ?? b.partitionLeaderEpoch;
      if (opts.leaderEpoch !== undefined) setPartitionLeaderEpoch(records, b.position, opts.leaderEpoch);
      if (epoch >= 0) epochs.push({ epoch, startOffset: offset });
      const lastOffset = offset + BigInt(b.lastOffsetDelta);
      batches.push({
        position: b.position,
        sizeInBytes: b.sizeInBytes,
        lastOffset,
        maxTimestamp: b.maxTimestamp,
        baseOffset: offset,
      });
      if (b.maxTimestamp > maxTimestamp) {
        maxTimestamp = b.maxTimestamp;
        offsetOfMaxTimestamp = lastOffset;
      }
      offset = lastOffset + 1n;
    }
    const lastOffset = offset - 1n;
    const origin = opts.origin ?? "client";
    const analysis = producerBatches === null ? null : this.producerState.analyzeAppend(producerBatches, origin);
    if (analysis !== null && analysis.duplicate !== null) {
      // A retry of a batch already written: answered with its offsets, nothing written (Kafka's duplicate path).
      const dup = analysis.duplicate;
      return Promise.resolve({
        firstOffset: batchFirstOffset(dup),
        lastOffset: dup.lastOffset,
        maxTimestamp: dup.timestamp,
        offsetOfMaxTimestamp: dup.lastOffset,
        recordCount: 0,
        validBytes: 0,
        logStartOffset: this.logStartOffsetValue,
        duplicate: true,
      });
    }
    const info: LogAppendInfo = {
      firstOffset,
      lastOffset,
      maxTimestamp,
      offsetOfMaxTimestamp,
      recordCount,
      validBytes: records.length,
      logStartOffset: -1n, // set once written
    };
    return this.writeAppend(records, batches, epochs, analysis, offset, info);
  }

  /** The append's write and what follows it; `endOffset` is the new log end offset. */
  private async writeAppend(
    records: Buffer,
    batches: AppendedBatch[],
    epochs: { epoch: number; startOffset: bigint }[],
    analysis: Extract<ProducerAppendAnalysis, { duplicate: null }> | null,
    endOffset: bigint,
    info: LogAppendInfo,
  ): Promise<LogAppendInfo> {
    const offset = endOffset;
    const segment = this.rollDue(records.length, info.maxTimestamp, info.lastOffset)
      ? await this.rollLocked()
      : this.activeSegment;
    const sizeBefore = segment.size;
    try {
      await segment.append(records, batches);
    } catch (writeError) {
      await this.failedWrite(segment, sizeBefore, writeError);
    }
    this.nextOffset = offset;
    if (analysis !== null) {
      this.producerState.applyAppend(analysis);
      if (analysis.completedTxns.length > 0) {
        try {
          await completeTransactions(this.producerState, analysis.completedTxns, (t) => segment.txnIndex.append(t));
        } catch (e) {
          throw this.fail("writing the transaction index", e);
        }
      }
    }
    this.producerState.updateMapEndOffset(offset);
    // One node: the high watermark is the log end offset, so a completed transaction is stable at once.
    this.producerState.onHighWatermarkUpdated(offset);
    const cache = this.leaderEpochCacheValue!;
    let epochsChanged = false;
    for (const e of epochs)
      if (e.epoch > cache.latestEpoch()) epochsChanged = cache.assign(e.epoch, e.startOffset) || epochsChanged;
    if (epochsChanged) {
      try {
        await cache.flush();
      } catch (e) {
        throw this.fail("writing leader-epoch-checkpoint", e);
      }
    }
    info.logStartOffset = this.logStartOffsetValue;
    return info;
  }

  /** After a failed write: the partial bytes are cut off so the file ends at the last acknowledged batch; always throws. */
  private async failedWrite(segment: LogSegment, sizeBefore: number, writeError: unknown): Promise<never> {
    try {
      await segment.log.truncateTo(sizeBefore);
    } catch (truncateError) {
      this.fail("cutting a failed write off the log", truncateError);
      throw this.fail("append", writeError);
    }
    if (!RECOVERABLE_WRITE_ERRORS.has(errnoCode(writeError) ?? "")) throw this.fail("append", writeError);
    this.logger.warn({ err: writeError, dir: this.dir }, "append failed, nothing written (disk full?)");
    throw new KafkaStorageError(
      `append to ${topicPartitionKey(this.topicPartition)} failed: ${(writeError as Error).message}`,
      { cause: writeError },
    );
  }

  /** `flush.messages`: whether the log must be flushed up to `endOffset` before the append is acknowledged. */
  private flushDueAfterAppend(endOffset: bigint): boolean {
    const flushMessages = this.config.flushMessages;
    return Number.isFinite(flushMessages) && endOffset - this.recoveryPointValue >= BigInt(flushMessages);
  }

  // ---- roll ----

  private get activeSegment(): LogSegment {
    return this.segments.last()!;
  }

  /** Whether the append needs a new segment first (checked without an await: no roll is the common case). */
  private rollDue(messagesSize: number, maxTimestamp: bigint, maxOffset: bigint): boolean {
    const active = this.activeSegment;
    const reason = active.shouldRoll({
      nowMs: this.time.nowMs(),
      segmentBytes: this.config.segmentBytes,
      segmentMs: this.config.segmentMs,
      messagesSize,
      maxTimestampInMessages: maxTimestamp,
      maxOffsetInMessages: maxOffset,
    });
    if (reason === null) return false;
    this.logger.debug({ reason, activeBaseOffset: active.baseOffset.toString(), size: active.size }, "rolling segment");
    return true;
  }

  /** Starts a new segment at the log end offset, the old one is flushed in the background (Kafka's roll). */
  roll(): Promise<void> {
    this.checkOnline();
    return this.enqueue(async () => {
      this.checkOnline();
      await this.rollLocked();
    });
  }

  private async rollLocked(): Promise<LogSegment> {
    const active = this.segments.last()!;
    const newOffset = this.nextOffset;
    if (active.baseOffset === newOffset && active.size === 0) return active;
    const jitterMs = this.config.segmentJitterMs > 0 ? Math.floor(this.random() * this.config.segmentJitterMs) : 0;
    let segment: LogSegment;
    try {
      segment = await LogSegment.create(this.segmentContext!, newOffset, Math.min(jitterMs, this.config.segmentMs));
    } catch (e) {
      if (RECOVERABLE_WRITE_ERRORS.has(errnoCode(e) ?? ""))
        throw new KafkaStorageError(`cannot create a new segment: ${(e as Error).message}`, { cause: e });
      throw this.fail("creating a segment", e);
    }
    try {
      await active.onBecomeInactiveSegment();
    } catch (e) {
      await segment.deleteFiles().catch(() => undefined);
      throw this.fail("closing the active segment", e);
    }
    this.segments.add(segment);
    this.dirNeedsSync = true;
    // A snapshot at the new segment's base offset, so recovery of the new segment starts from it.
    // Unsynced, as Kafka: the background flush below fsyncs it with the rolled segment.
    this.producerState.updateMapEndOffset(newOffset);
    try {
      const file = await this.producerSnapshots?.takeSnapshot(this.producerState, { sync: false });
      if (file) this.unsyncedSnapshots.push(file);
    } catch (err) {
      // Only an optimisation of recovery: the loader replays the log when a snapshot is missing.
      this.logger.warn({ err, offset: newOffset.toString() }, "cannot write a producer state snapshot");
    }
    // Like Kafka, the rolled segment is fsynced in the background and the recovery point moves past it.
    this.flushUpTo(newOffset).catch(() => undefined);
    return segment;
  }

  // ---- flush ----

  /** fsyncs everything appended so far; concurrent callers share fsyncs. */
  flush(): Promise<void> {
    return this.flushUpTo(this.nextOffset);
  }

  /** fsyncs at least up to `offset` (exclusive) and moves the recovery point there (group commit). */
  async flushUpTo(offset: bigint): Promise<void> {
    const target = offset < this.nextOffset ? offset : this.nextOffset;
    for (;;) {
      this.checkOnline();
      if (this.recoveryPointValue >= target) return;
      if (this.flushBarrier) {
        await this.flushBarrier;
        continue;
      }
      if (this.flushing) {
        await this.flushing.catch(() => undefined);
        continue;
      }
      this.flushing = this.doFlush().finally(() => {
        this.flushing = null;
      });
      await this.flushing;
      if (this.recoveryPointValue >= target) return;
    }
  }

  private async doFlush(): Promise<void> {
    const target = this.nextOffset;
    const segments = this.segments.range(this.recoveryPointValue, target);
    const snapshots = this.unsyncedSnapshots;
    this.unsyncedSnapshots = [];
    try {
      for (const s of segments) await s.flush();
      for (const file of snapshots) await syncFileIfExists(this.segmentContext?.fs ?? nodeFileSystem, file);
      if (this.dirNeedsSync) {
        this.dirNeedsSync = false;
        await syncDir(this.dir);
      }
    } catch (e) {
      throw this.fail("flush", e);
    }
    if (target > this.recoveryPointValue) this.recoveryPointValue = target;
    this.lastFlushMs = this.time.nowMs();
  }

  /** `flush.ms`: flushes when the last flush is older than that (called by the LogManager's scheduler). */
  async flushIfDue(): Promise<boolean> {
    if (this.offlineError || this.closed || !Number.isFinite(this.config.flushMs)) return false;
    if (this.time.nowMs() - this.lastFlushMs < this.config.flushMs) return false;
    if (this.nextOffset <= this.recoveryPointValue) {
      this.lastFlushMs = this.time.nowMs();
      return false;
    }
    await this.flush();
    return true;
  }

  // ---- read ----

  async read(fetchOffset: bigint, opts: ReadOptions): Promise<FetchDataInfo> {
    this.checkOnline();
    const end = this.nextOffset;
    if (fetchOffset < this.logStartOffsetValue || fetchOffset > end)
      throw new OffsetOutOfRangeError(
        `offset ${fetchOffset} is outside [${this.logStartOffsetValue}, ${end}] of ${topicPartitionKey(this.topicPartition)}`,
      );
    const maxOffset = opts.maxOffset !== undefined && opts.maxOffset < end ? opts.maxOffset : end;
    const minOneBatch = opts.minOneBatch ?? true;
    let segment = this.segments.floorSegment(fetchOffset);
    try {
      while (segment && fetchOffset < maxOffset) {
        const r = await segment.read(fetchOffset, opts.maxBytes, { minOneBatch, maxOffset, pooled: opts.pooled });
        if (r !== null)
          return {
            fetchOffset,
            records: r.records,
            segmentBaseOffset: segment.baseOffset,
            position: r.position,
            firstBatchIncomplete: r.records.length === 0 && r.firstBatchBaseOffset < maxOffset,
          };
        segment = this.segments.higherSegment(segment.baseOffset);
      }
    } catch (e) {
      if (this.closed || this.offlineError) this.checkOnline();
      // Retention deleted the segment under this read: read again, which answers OFFSET_OUT_OF_RANGE
      // if the offset is now below the log start offset. Each retry needs another deletion, so it ends.
      if (segment && !this.segments.contains(segment)) return this.read(fetchOffset, opts);
      throw this.fail("read", e);
    }
    const active = this.segments.last()!;
    return {
      fetchOffset,
      records: Buffer.alloc(0),
      segmentBaseOffset: active.baseOffset,
      position: active.size,
      firstBatchIncomplete: false,
    };
  }

  async offsetForTimestamp(timestamp: bigint): Promise<TimestampOffset | null> {
    this.checkOnline();
    if (timestamp === EARLIEST_TIMESTAMP) return { timestamp: NO_TIMESTAMP, offset: this.logStartOffsetValue };
    if (timestamp === LATEST_TIMESTAMP) return { timestamp: NO_TIMESTAMP, offset: this.nextOffset };
    // A snapshot: removals replace the list, so retention cannot shift it under this loop.
    const segments = this.segments.all();
    try {
      if (timestamp === MAX_TIMESTAMP) {
        let best: TimestampOffset | null = null;
        for (const s of segments) {
          const m = await s.maxTimestampSoFar();
          if (m.timestamp >= 0n && (best === null || m.timestamp > best.timestamp)) best = m;
        }
        return best;
      }
      for (const s of segments) {
        if ((await s.maxTimestampSoFar()).timestamp < timestamp) continue;
        const found = await s.findOffsetByTimestamp(timestamp, this.logStartOffsetValue);
        if (found) return found;
      }
      return null;
    } catch (e) {
      if (this.closed || this.offlineError) this.checkOnline();
      if (segments.some((s) => !this.segments.contains(s))) return this.offsetForTimestamp(timestamp);
      throw this.fail("timestamp lookup", e);
    }
  }

  // ---- offsets that move (hooks for replication and retention) ----

  /**
   * Removes every batch holding an offset >= `offset` (a follower truncating to the leader's epoch
   * end). Segments wholly above it are deleted; the epoch cache forgets epochs starting there.
   */
  truncateTo(offset: bigint): Promise<void> {
    this.checkOnline();
    return this.enqueue(async () => {
      this.checkOnline();
      if (offset >= this.nextOffset) return;
      if (offset < this.logStartOffsetValue) offset = this.logStartOffsetValue;
      let release = () => {};
      this.flushBarrier = new Promise<void>((resolve) => {
        release = resolve;
      });
      try {
        while (this.flushing) await this.flushing.catch(() => undefined);
        const doomed = this.segments.removeFrom(offset + 1n).filter((s) => s.baseOffset > offset);
        if (this.segments.isEmpty()) {
          for (const d of doomed) await d.deleteFiles();
          this.segments.add(await LogSegment.create(this.segmentContext!, offset));
        } else {
          for (const d of doomed) await d.deleteFiles();
          const active = this.segments.last()!;
          await active.truncateTo(offset);
          await active.makeActive();
        }
        // A batch holding `offset` goes whole, so the end may be below `offset`.
        this.nextOffset = await this.segments.last()!.readNextOffset();
        offset = this.nextOffset;
        if (this.recoveryPointValue > offset) this.recoveryPointValue = offset;
        this.leaderEpochCacheValue!.truncateFromEnd(offset);
        await this.leaderEpochCacheValue!.flush();
        // Kafka's truncateTo: reload from the newest snapshot at or below the new end, replay the rest.
        if (this.producerSnapshots !== null)
          await rebuildProducerState(this.producerState, this.producerSnapshots, this.segments, {
            logStartOffset: this.logStartOffsetValue,
            logEndOffset: offset,
            nowMs: this.time.nowMs(),
            logger: this.logger,
          });
        this.producerState.onHighWatermarkUpdated(offset);
      } catch (e) {
        throw this.fail("truncate", e);
      } finally {
        this.flushBarrier = null;
        release();
      }
    });
  }

  /**
   * Moves the log start offset forward (DeleteRecords; Kafka's maybeIncrementLogStartOffset) and
   * persists it through `checkpointLogStartOffset`. The segments wholly below it are deleted by
   * the next retention pass. Returns whether it moved; OffsetOutOfRangeError past the log end.
   */
  async maybeIncrementLogStartOffset(offset: bigint): Promise<boolean> {
    this.checkOnline();
    // Under the append lock: the epoch cache is written by appends too.
    const moved = await this.enqueue(async () => {
      this.checkOnline();
      if (offset > this.nextOffset)
        throw new OffsetOutOfRangeError(
          `cannot move the log start offset of ${topicPartitionKey(this.topicPartition)} to ${offset}, past the high watermark ${this.nextOffset}`,
        );
      return this.incrementLogStartOffsetLocked(offset, "client record deletion");
    });
    // Also when it did not move: a retry after a failed checkpoint write must persist it.
    await this.checkpointLogStartOffset?.(this);
    return moved;
  }

  private async incrementLogStartOffsetLocked(offset: bigint, reason: string): Promise<boolean> {
    if (offset <= this.logStartOffsetValue) return false;
    this.logStartOffsetValue = offset;
    this.logger.info({ logStartOffset: offset.toString(), reason }, "incremented log start offset");
    this.producerState.onLogStartOffsetIncremented(offset);
    this.producerSnapshots?.onLogStartOffsetIncremented(offset);
    this.leaderEpochCacheValue!.truncateFromStart(offset);
    try {
      await this.leaderEpochCacheValue!.flush();
    } catch (e) {
      throw this.fail("writing leader-epoch-checkpoint", e);
    }
    return true;
  }

  // ---- retention ----

  /**
   * One retention pass (Kafka's deleteOldSegments): segments wholly below the log start offset
   * always; with cleanup.policy=delete also the oldest segments while the log exceeds
   * retention.bytes by at least their size, and the oldest segments whose largest timestamp is
   * more than retention.ms old. Returns how many segments were deleted.
   */
  deleteOldSegments(): Promise<number> {
    if (this.offlineError || this.closed) return Promise.resolve(0);
    return this.enqueue(async () => {
      if (this.offlineError || this.closed) return 0;
      let deleted = await this.deleteLogStartOffsetBreachedSegments();
      if (this.config.cleanupPolicy.includes("delete"))
        deleted +=
          (await this.deleteRetentionSizeBreachedSegments()) + (await this.deleteRetentionMsBreachedSegments());
      return deleted;
    });
  }

  private deleteLogStartOffsetBreachedSegments(): Promise<number> {
    return this.deleteOldestSegmentsWhile("log start offset breach", (_segment, next) =>
      next !== undefined ? next.baseOffset <= this.logStartOffsetValue : false,
    );
  }

  private deleteRetentionSizeBreachedSegments(): Promise<number> {
    const retentionBytes = this.config.retentionBytes;
    const size = this.size;
    if (retentionBytes < 0 || size < retentionBytes) return Promise.resolve(0);
    let excess = size - retentionBytes;
    return this.deleteOldestSegmentsWhile("retention size breach", (segment) => {
      if (excess - segment.size < 0) return false;
      excess -= segment.size;
      return true;
    });
  }

  private deleteRetentionMsBreachedSegments(): Promise<number> {
    const retentionMs = this.config.retentionMs;
    if (retentionMs < 0) return Promise.resolve(0);
    const startMs = this.time.nowMs();
    return this.deleteOldestSegmentsWhile(
      "retention time breach",
      async (segment) => startMs - (await segment.largestTimestamp()) > retentionMs,
    );
  }

  /**
   * Deletes segments from the oldest while `predicate` holds (Kafka's deletableSegments): never a
   * segment holding offsets at or past the high watermark (on one node, the log end offset), never
   * an empty active segment. The append lock is held.
   */
  private async deleteOldestSegmentsWhile(
    reason: string,
    predicate: (segment: LogSegment, next: LogSegment | undefined) => boolean | Promise<boolean>,
  ): Promise<number> {
    const segments = this.segments.all();
    const highWatermark = this.nextOffset;
    const deletable: LogSegment[] = [];
    let deletableBytes = 0;
    try {
      for (let i = 0; i < segments.length; i++) {
        const segment = segments[i]!;
        const next = segments[i + 1];
        if (next === undefined && segment.size === 0) break;
        const upperBoundOffset = next?.baseOffset ?? this.nextOffset;
        if (highWatermark < upperBoundOffset || !(await predicate(segment, next))) break;
        deletable.push(segment);
        deletableBytes += segment.size;
      }
    } catch (e) {
      throw this.fail("checking retention", e);
    }
    if (deletable.length === 0) return 0;
    // A log always has a segment: when every one goes, the active one is rolled first (Kafka does
    // the same), so that expired data in the active segment is deleted too.
    if (deletable.length === this.segments.size && (await this.rollLocked()) === deletable[deletable.length - 1]) {
      deletable.pop(); // the active segment was empty after all: it stays
      if (deletable.length === 0) return 0;
    }
    const last = deletable[deletable.length - 1]!;
    const newLogStartOffset = this.segments.higherSegment(last.baseOffset)!.baseOffset;
    await this.incrementLogStartOffsetLocked(newLogStartOffset, reason);
    for (const segment of deletable) this.segments.remove(segment.baseOffset);
    try {
      for (const segment of deletable) await segment.renameToDeleted();
      // The snapshots of the deleted segments go with them (Kafka's deleteProducerSnapshots).
      await this.producerSnapshots?.deleteSnapshotsBefore(newLogStartOffset);
    } catch (e) {
      throw this.fail("renaming deleted segments", e);
    }
    this.logger.info(
      {
        reason,
        segments: deletable.map((s) => s.baseOffset.toString()),
        bytes: deletableBytes,
        logStartOffset: this.logStartOffsetValue.toString(),
      },
      "deleting segments",
    );
    this.pendingFileDeletions.push({ dueMs: this.time.nowMs() + this.config.fileDeleteDelayMs, segments: deletable });
    this.armFileDeletionTimer();
    return deletable.length;
  }

  /**
   * Deletes the `.deleted` files whose file.delete.delay.ms has passed on the log's clock (a timer
   * calls it; tests on an injected clock call it after advancing). Returns how many segments went.
   */
  async deleteExpiredFiles(): Promise<number> {
    const nowMs = this.time.nowMs();
    const due = this.pendingFileDeletions.filter((p) => p.dueMs <= nowMs);
    if (due.length === 0 || this.closed) return 0;
    this.pendingFileDeletions = this.pendingFileDeletions.filter((p) => p.dueMs > nowMs);
    // A flush that started before the deletion may still be fsyncing these segments' handles.
    await this.flushing?.catch(() => undefined);
    let deleted = 0;
    for (const p of due) {
      for (const segment of p.segments) {
        try {
          await segment.deleteFiles();
          deleted++;
        } catch (err) {
          // No longer part of the log: a file left behind is removed by the loader at the next start.
          this.logger.warn({ err, segment: segment.baseOffset.toString() }, "cannot delete a deleted segment's files");
        }
      }
    }
    this.armFileDeletionTimer();
    return deleted;
  }

  private armFileDeletionTimer(): void {
    if (this.fileDeletionTimer !== null || this.pendingFileDeletions.length === 0 || this.closed) return;
    const dueMs = Math.min(...this.pendingFileDeletions.map((p) => p.dueMs));
    this.fileDeletionTimer = setTimeout(
      () => {
        this.fileDeletionTimer = null;
        this.deleteExpiredFiles()
          .catch((err) => this.logger.warn({ err }, "deleting segment files failed"))
          .finally(() => this.armFileDeletionTimer());
      },
      Math.max(0, dueMs - this.time.nowMs()),
    );
    this.fileDeletionTimer.unref();
  }

  /**
   * Stops the file deletion timer and closes the handles of deleted segments; their `.deleted`
   * files stay for the loader to remove (Kafka drops pending delete tasks at shutdown too).
   */
  private async dropPendingFileDeletions(): Promise<void> {
    if (this.fileDeletionTimer !== null) clearTimeout(this.fileDeletionTimer);
    this.fileDeletionTimer = null;
    const pending = this.pendingFileDeletions.flatMap((p) => p.segments);
    this.pendingFileDeletions = [];
    await Promise.allSettled(pending.map((s) => s.closeHandlers()));
  }

  // ---- the cleaner's segment swap ----

  /**
   * Swaps cleaned segments in for the segments they replace (Kafka's replaceSegments; the file
   * scheme and its crash recovery: cleaner/segment-swap.ts). Each group's `.cleaned` files, named
   * by the base offset of the first segment it replaces, were written and fsynced by the cleaner.
   * Under the append lock: if any replaced segment left the log or became active meanwhile
   * (retention, truncation), nothing happens and false is returned (the caller deletes the
   * `.cleaned` files). Reads in flight on a replaced segment keep its open handles and in-memory
   * indexes until its `.deleted` files go, file.delete.delay.ms later.
   */
  replaceSegments(
    groups: readonly { baseOffset: bigint; replaces: readonly LogSegment[] }[],
    opts: { onStep?: () => void } = {},
  ): Promise<boolean> {
    this.checkOnline();
    return this.enqueue(async () => {
      this.checkOnline();
      const old = groups.flatMap((g) => g.replaces);
      if (old.some((s) => !this.segments.contains(s) || s.isActive || s.isDeleted)) return false;
      const bases = groups.map((g) => g.baseOffset);
      let replacements: LogSegment[];
      try {
        // Their lazily loaded indexes must be read now: the index files are about to be renamed.
        for (const s of old) await s.ensureIndexes();
        // The cleaner keeps markers and transactional batches as they are: the replaced segments'
        // aborted transactions stay true of the cleaned segment.
        for (const g of groups) await this.writeCleanedTxnIndex(g.baseOffset, g.replaces);
        await renameCleanedToSwap(this.dir, bases, opts.onStep);
        for (const s of old) {
          await s.renameToDeleted();
          opts.onStep?.();
        }
        await renameSwapToFinal(this.dir, bases, opts.onStep);
        replacements = [];
        for (const base of bases) replacements.push(await LogSegment.open(this.segmentContext!, base));
      } catch (e) {
        throw this.fail("swapping in cleaned segments", e);
      }
      this.segments.replace(replacements, old);
      // A replaced segment whose base offset no longer starts a segment takes its snapshot with it.
      for (const s of old)
        if (!bases.includes(s.baseOffset))
          await this.producerSnapshots?.removeAndDelete(s.baseOffset).catch((err) => {
            this.logger.warn({ err, offset: s.baseOffset.toString() }, "cannot delete a producer snapshot");
          });
      this.pendingFileDeletions.push({ dueMs: this.time.nowMs() + this.config.fileDeleteDelayMs, segments: old });
      this.armFileDeletionTimer();
      return true;
    });
  }

  /** `<base>.txnindex.cleaned`, fsynced, with the aborted transactions of the segments it replaces (none: no file). */
  private async writeCleanedTxnIndex(baseOffset: bigint, replaces: readonly LogSegment[]): Promise<void> {
    const entries = replaces.flatMap((s) => s.txnIndex.entries);
    const file = txnIndexFileName(this.dir, baseOffset) + CLEANED_FILE_SUFFIX;
    await fsp.rm(file, { force: true });
    if (entries.length === 0) return;
    const fs = this.segmentContext!.fs;
    const fh = await fs.open(file, "w+");
    try {
      const buf = Buffer.alloc(entries.length * ABORTED_TXN_SIZE);
      for (let i = 0; i < entries.length; i++) encodeAbortedTxn(entries[i]!, buf, i * ABORTED_TXN_SIZE);
      await writeFully(fh, buf, 0);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  // ---- close ----

  /**
   * Clean close: waits for queued appends, fsyncs everything, writes trimmed index files and the
   * epoch checkpoint. After it the recovery point equals the log end offset.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.appendChain;
    await this.flushing?.catch(() => undefined);
    await this.dropPendingFileDeletions();
    if (this.offlineError) {
      this.closed = true;
      await Promise.allSettled(this.segments.all().map((s) => s.closeHandlers()));
      return;
    }
    try {
      await this.flush();
      // Kafka's close: a snapshot at the log end, so the next start replays nothing.
      await this.producerSnapshots?.takeSnapshot(this.producerState);
      for (const s of this.segments.all()) await s.close();
      await this.leaderEpochCacheValue!.flush();
      if (this.dirNeedsSync) await syncDir(this.dir);
    } catch (e) {
      const err = this.fail("close", e);
      await Promise.allSettled(this.segments.all().map((s) => s.closeHandlers()));
      this.closed = true;
      throw err;
    } finally {
      this.closed = true;
    }
  }

  /** Deletes the partition directory (hook for topic deletion): closes without flushing, then removes it. */
  async delete(): Promise<void> {
    this.closed = true;
    await this.appendChain;
    await this.dropPendingFileDeletions();
    await Promise.allSettled(this.segments.all().map((s) => s.closeHandlers()));
    await fsp.rm(this.dir, { recursive: true, force: true });
  }
}
