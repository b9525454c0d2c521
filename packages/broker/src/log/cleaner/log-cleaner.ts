/**
 * The log cleaner (Kafka's LogCleaner + LogCleanerManager): compacts the logs whose cleanup.policy
 * includes `compact`, off the request path. `log.cleaner.threads` loops each pick the filthiest
 * log not already being cleaned, hand the pass to their worker thread (cleaner-thread.ts, which
 * runs clean-log.ts), and swap the result in under the log's append lock (Log.replaceSegments;
 * files and crash recovery: segment-swap.ts). A loop that found nothing to clean waits
 * `log.cleaner.backoff.ms`.
 *
 * Which part of a log is cleanable (cleanableOffsets): from the first dirty offset (this file's
 * checkpoint, or the log start offset) to the first uncleanable offset: the active segment's base
 * offset, or the first segment whose largest timestamp is within min.compaction.lag.ms of now.
 * A log is cleaned when its dirty ratio (cleanable bytes / (clean + cleanable bytes)) exceeds
 * min.cleanable.dirty.ratio, or when a dirty segment's first batch is older than
 * max.compaction.lag.ms (and there is something cleanable). The filthiest (highest ratio) goes first.
 *
 * `cleaner-offset-checkpoint` (in the log dir, Kafka's checkpoint format: `topic partition offset`
 * lines, see checkpoint-file.ts) holds each log's first dirty offset, written after every swap, so
 * a restart resumes where the last pass ended. A crash between the swap and the checkpoint only
 * makes the next pass clean that range again.
 */
import fsp from "node:fs/promises";
import path from "node:path";
import pino, { type Logger } from "pino";
import { OffsetCheckpointFile } from "../checkpoint-file.js";
import { type Clock, SYSTEM_CLOCK } from "../config.js";
import { CorruptCheckpointError } from "../errors.js";
import { CLEANED_FILE_SUFFIX, topicPartitionKey } from "../file-names.js";
import type { Log } from "../log.js";
import type { LogSegment } from "../log-segment.js";
import type { CleanResult, CleanStats } from "./clean-log.js";
import { CleanerAbortedError, CleanerThread } from "./cleaner-thread.js";
import { OFFSET_MAP_ENTRY_BYTES } from "./offset-map.js";
import { IoThrottle, UNTHROTTLED } from "./throttler.js";

export const CLEANER_OFFSET_CHECKPOINT_FILE = "cleaner-offset-checkpoint";
/** Kafka's defaults for log.cleaner.*. */
export const DEFAULT_CLEANER_THREADS = 1;
export const DEFAULT_CLEANER_BACKOFF_MS = 15_000;
export const DEFAULT_DEDUPE_BUFFER_SIZE = 128 * 1024 * 1024;
export const DEFAULT_IO_BUFFER_SIZE = 512 * 1024;
export const DEFAULT_IO_BUFFER_LOAD_FACTOR = 0.9;
/** Reads and writes of less than this cost more in system calls than they save in memory. */
const MIN_IO_CHUNK_BYTES = 1024 * 1024;

export interface LogCleanerOptions {
  logDir: string;
  /** The logs of the directory (the LogManager's, read at every pass). */
  logs: () => readonly Log[];
  time?: Clock;
  logger?: Logger;
  threads?: number;
  backoffMs?: number;
  dedupeBufferSize?: number;
  ioBufferSize?: number;
  ioBufferLoadFactor?: number;
  /** log.cleaner.io.max.bytes.per.second: all threads' reads and writes together (default: unthrottled). */
  ioMaxBytesPerSecond?: number;
  /** How often the throttle compares the rate with the limit: THROTTLE_CHECK_INTERVAL_MS (1 ms; Kafka's is 300 ms) unless a test changes it. */
  ioThrottleCheckIntervalMs?: number;
  /** Test hooks for the crash test: kill inside the worker after N writes, or count swap steps. */
  killAfterWorkerWrites?: number;
  onSwapStep?: () => void;
}

/** Kafka's LogToClean: one log's cleanable range and how dirty it is. */
export interface LogToClean {
  log: Log;
  firstDirtyOffset: bigint;
  firstUncleanableOffset: bigint;
  cleanBytes: number;
  cleanableBytes: number;
  cleanableRatio: number;
  needCompactionNow: boolean;
}

export interface CleanPassResult {
  topicPartition: string;
  firstDirtyOffset: bigint;
  endOffset: bigint;
  swapped: boolean;
  stats: CleanStats;
}

export class LogCleaner {
  private readonly time: Clock;
  private readonly logger: Logger;
  private readonly checkpointFile: OffsetCheckpointFile;
  private checkpoints = new Map<string, bigint>();
  private checkpointsLoaded: Promise<void> | null = null;
  private checkpointWrite: Promise<void> = Promise.resolve();
  private readonly inProgress = new Set<string>();
  private readonly threads: CleanerThread[];
  private loops: Promise<void>[] = [];
  private stopped = true;
  private wakeUps = new Set<() => void>();
  /** First-batch timestamps per segment (they never change once a segment is inactive). */
  private readonly firstBatchTimestamps = new WeakMap<LogSegment, bigint>();
  /** Kafka's LogCleaner.throttler: shared by every cleaner thread, its rate changeable while they run. */
  private readonly ioThrottle: IoThrottle;

  constructor(private readonly opts: LogCleanerOptions) {
    this.time = opts.time ?? SYSTEM_CLOCK;
    this.logger = (opts.logger ?? pino({ level: "silent" })).child({ component: "log-cleaner" });
    this.checkpointFile = new OffsetCheckpointFile(path.join(opts.logDir, CLEANER_OFFSET_CHECKPOINT_FILE));
    this.threads = Array.from(
      { length: Math.max(1, opts.threads ?? DEFAULT_CLEANER_THREADS) },
      () => new CleanerThread(this.logger),
    );
    this.ioThrottle = new IoThrottle(opts.ioMaxBytesPerSecond ?? UNTHROTTLED, {
      checkIntervalMs: opts.ioThrottleCheckIntervalMs,
    });
  }

  get ioMaxBytesPerSecond(): number {
    return this.ioThrottle.desiredBytesPerSecond;
  }

  /** True while a cleaner thread is held by the io throttle (sleeping, most likely). */
  get ioThrottled(): boolean {
    return this.ioThrottle.held;
  }

  /**
   * A dynamic change of log.cleaner.io.max.bytes.per.second (Kafka's LogCleaner.reconfigure ->
   * throttler.updateDesiredRatePerSec): applies from the next read or write of the running passes.
   */
  updateIoMaxBytesPerSecond(bytesPerSecond: number): void {
    if (bytesPerSecond === this.ioThrottle.desiredBytesPerSecond) return;
    this.logger.info({ ioMaxBytesPerSecond: bytesPerSecond }, "updating log.cleaner.io.max.bytes.per.second");
    this.ioThrottle.setDesiredBytesPerSecond(bytesPerSecond);
  }

  /** Starts the cleaner loops (Kafka's LogCleaner.startup). */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loops = this.threads.map((thread) => this.loop(thread));
  }

  /** Stops the loops and aborts passes in progress; their `.cleaned` files are deleted. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    for (const wake of this.wakeUps) wake();
    await Promise.all(this.threads.map((t) => t.abort()));
    await Promise.allSettled(this.loops);
    this.loops = [];
    await this.checkpointWrite;
  }

  /** The first dirty offset of every log the cleaner has seen (the checkpoint's contents). */
  async allCleanerCheckpoints(): Promise<Map<string, bigint>> {
    await this.loadCheckpoints();
    return new Map(this.checkpoints);
  }

  private loadCheckpoints(): Promise<void> {
    this.checkpointsLoaded ??= (async () => {
      try {
        this.checkpoints = (await this.checkpointFile.read()) ?? new Map();
      } catch (e) {
        if (!(e instanceof CorruptCheckpointError)) throw e;
        this.logger.warn({ reason: e.message }, "corrupt cleaner-offset-checkpoint: cleaning every log from its start");
        this.checkpoints = new Map();
      }
    })();
    return this.checkpointsLoaded;
  }

  private writeCheckpoints(): Promise<void> {
    const run = this.checkpointWrite.then(async () => {
      const live = new Map(this.opts.logs().map((l) => [topicPartitionKey(l.topicPartition), l]));
      const entries = [...this.checkpoints]
        .filter(([key]) => live.has(key))
        .map(([key, offset]) => ({ tp: live.get(key)!.topicPartition, offset }));
      await this.checkpointFile.write(entries);
    });
    this.checkpointWrite = run.catch(() => undefined);
    return run;
  }

  private async loop(thread: CleanerThread): Promise<void> {
    while (!this.stopped) {
      let cleaned = false;
      try {
        cleaned = (await this.cleanFilthiestLog(thread)) !== null;
      } catch (err) {
        if (!(err instanceof CleanerAbortedError)) this.logger.error({ err }, "cleaning pass failed");
      }
      if (!cleaned && !this.stopped) await this.sleep(this.opts.backoffMs ?? DEFAULT_CLEANER_BACKOFF_MS);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.wakeUps.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      timer.unref();
      this.wakeUps.add(wake);
    });
  }

  /**
   * One pass: picks the filthiest cleanable log and cleans it (tests call this directly, on an
   * injected clock). Null when no log needs cleaning.
   */
  async cleanFilthiestLog(thread: CleanerThread = this.threads[0]!): Promise<CleanPassResult | null> {
    await this.loadCheckpoints();
    const ltc = await this.grabFilthiestCompactedLog();
    if (ltc === null) return null;
    const key = topicPartitionKey(ltc.log.topicPartition);
    try {
      return await this.cleanLog(ltc, thread);
    } finally {
      this.inProgress.delete(key);
    }
  }

  /** Kafka's grabFilthiestCompactedLog; marks the chosen log in progress. */
  async grabFilthiestCompactedLog(): Promise<LogToClean | null> {
    const now = this.time.nowMs();
    let filthiest: LogToClean | null = null;
    for (const log of this.opts.logs()) {
      if (!log.config.cleanupPolicy.includes("compact") || log.isOffline) continue;
      if (this.inProgress.has(topicPartitionKey(log.topicPartition))) continue;
      let ltc: LogToClean;
      try {
        ltc = await this.logToClean(log, now);
      } catch (err) {
        if (!log.isOffline)
          this.logger.warn({ err, partition: topicPartitionKey(log.topicPartition) }, "cannot size a log for cleaning");
        continue;
      }
      if (ltc.cleanBytes + ltc.cleanableBytes === 0) continue;
      const cleanable =
        (ltc.needCompactionNow && ltc.cleanableBytes > 0) || ltc.cleanableRatio > log.config.minCleanableDirtyRatio;
      if (cleanable && (filthiest === null || ltc.cleanableRatio > filthiest.cleanableRatio)) filthiest = ltc;
    }
    if (filthiest !== null) this.inProgress.add(topicPartitionKey(filthiest.log.topicPartition));
    return filthiest;
  }

  /** Kafka's cleanableOffsets + LogToClean sizes + maxCompactionDelay for one log at `now`. */
  async logToClean(log: Log, now: number): Promise<LogToClean> {
    await this.loadCheckpoints();
    const key = topicPartitionKey(log.topicPartition);
    const segments = log.logSegments();
    const active = segments[segments.length - 1]!;
    const logStart = log.logStartOffset;
    let firstDirty = this.checkpoints.get(key) ?? logStart;
    if (firstDirty < logStart || firstDirty > log.logEndOffset) firstDirty = logStart;

    const floorIndex = (offset: bigint) => {
      let i = 0;
      while (i + 1 < segments.length && segments[i + 1]!.baseOffset <= offset) i++;
      return i;
    };
    const dirtyNonActive = segments.slice(floorIndex(firstDirty), segments.length - 1);
    let firstUncleanable = active.baseOffset;
    const minLagMs = log.config.minCompactionLagMs;
    if (minLagMs > 0) {
      for (const s of dirtyNonActive) {
        if ((await s.largestTimestamp()) > now - minLagMs) {
          firstUncleanable = s.baseOffset;
          break;
        }
      }
    }
    if (firstUncleanable < firstDirty) firstUncleanable = segments[floorIndex(firstDirty)]!.baseOffset;
    // Kafka's logSegments(from, to): the segment holding `from` and every one after it below `to`.
    const sizeOf = (from: bigint, to: bigint) =>
      segments.slice(floorIndex(from)).reduce((n, s) => (s.baseOffset < to ? n + s.size : n), 0);
    const cleanBytes = segments.reduce((n, s) => (s.baseOffset < firstDirty ? n + s.size : n), 0);
    const cleanableBytes =
      firstDirty < firstUncleanable
        ? sizeOf(firstDirty < firstUncleanable ? firstDirty : firstUncleanable, firstUncleanable)
        : 0;
    const total = cleanBytes + cleanableBytes;

    let needCompactionNow = false;
    const maxLagMs = log.config.maxCompactionLagMs;
    if (Number.isFinite(maxLagMs)) {
      let earliest: bigint | null = null;
      for (const s of dirtyNonActive) {
        const ts = await this.firstBatchTimestamp(s);
        if (ts > 0n && (earliest === null || ts < earliest)) earliest = ts;
      }
      needCompactionNow = earliest !== null && Number(earliest) < now - maxLagMs;
    }
    return {
      log,
      firstDirtyOffset: firstDirty,
      firstUncleanableOffset: firstUncleanable,
      cleanBytes,
      cleanableBytes,
      cleanableRatio: total === 0 ? 0 : cleanableBytes / total,
      needCompactionNow,
    };
  }

  private async firstBatchTimestamp(segment: LogSegment): Promise<bigint> {
    const known = this.firstBatchTimestamps.get(segment);
    if (known !== undefined) return known;
    let ts = -1n;
    for await (const batch of segment.log.batchesFrom(0)) {
      ts = batch.maxTimestamp;
      break;
    }
    this.firstBatchTimestamps.set(segment, ts);
    return ts;
  }

  private async cleanLog(ltc: LogToClean, thread: CleanerThread): Promise<CleanPassResult> {
    const { log } = ltc;
    const key = topicPartitionKey(log.topicPartition);
    const config = log.config;
    const threads = this.threads.length;
    const dedupe = (this.opts.dedupeBufferSize ?? DEFAULT_DEDUPE_BUFFER_SIZE) / threads;
    const loadFactor = this.opts.ioBufferLoadFactor ?? DEFAULT_IO_BUFFER_LOAD_FACTOR;
    const segments = log.logSegments().filter((s) => s.baseOffset < ltc.firstUncleanableOffset);
    const started = Date.now();
    let result: CleanResult;
    try {
      result = await thread.clean(
        {
          dir: log.dir,
          segments: segments.map((s) => ({ baseOffset: s.baseOffset, size: s.size })),
          firstDirtyOffset: ltc.firstDirtyOffset,
          firstUncleanableOffset: ltc.firstUncleanableOffset,
          nowMs: this.time.nowMs(),
          deleteRetentionMs: config.deleteRetentionMs,
          segmentBytes: config.segmentBytes,
          segmentIndexBytes: config.segmentIndexBytes,
          indexIntervalBytes: config.indexIntervalBytes,
          maxMapEntries: Math.max(1, Math.floor((dedupe / OFFSET_MAP_ENTRY_BYTES) * loadFactor)),
          ioBufferBytes: Math.max(MIN_IO_CHUNK_BYTES, (this.opts.ioBufferSize ?? DEFAULT_IO_BUFFER_SIZE) / threads),
          ioThrottle: this.ioThrottle.buffer,
        },
        { killAfterWrites: this.opts.killAfterWorkerWrites },
      );
    } catch (e) {
      await removeCleanedFiles(log.dir);
      throw e;
    }
    const byBase = new Map(segments.map((s) => [s.baseOffset, s]));
    const groups = result.groups.map((g) => ({
      baseOffset: g.baseOffset,
      replaces: g.replaces.map((b) => byBase.get(b)!),
    }));
    let swapped = groups.length === 0;
    if (groups.length > 0) {
      try {
        swapped = await log.replaceSegments(groups, { onStep: this.opts.onSwapStep });
      } finally {
        if (!swapped) await removeCleanedFiles(log.dir);
      }
    }
    if (swapped) {
      this.checkpoints.set(key, result.endOffset);
      await this.writeCheckpoints();
    }
    const s = result.stats;
    this.logger.info(
      {
        partition: key,
        firstDirtyOffset: ltc.firstDirtyOffset.toString(),
        endOffset: result.endOffset.toString(),
        swapped,
        segments: segments.length,
        cleanedSegments: groups.length,
        mbRead: +(s.bytesRead / 1048576).toFixed(2),
        mbWritten: +(s.bytesWritten / 1048576).toFixed(2),
        recordsRead: s.recordsRead,
        recordsRetained: s.recordsRetained,
        mapEntries: s.mapEntries,
        throttledMs: s.throttledMs,
        ...(s.starvedAfterMs === undefined ? {} : { starvedAfterMs: s.starvedAfterMs }),
        ms: Date.now() - started,
      },
      swapped ? "log cleaned" : "cleaning pass dropped: the log changed under it",
    );
    return {
      topicPartition: key,
      firstDirtyOffset: ltc.firstDirtyOffset,
      endOffset: result.endOffset,
      swapped,
      stats: s,
    };
  }
}

/** Deletes the `.cleaned` files of a partition directory (an aborted or dropped pass). */
export async function removeCleanedFiles(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return;
  }
  for (const name of names) if (name.endsWith(CLEANED_FILE_SUFFIX)) await fsp.rm(path.join(dir, name), { force: true });
}
