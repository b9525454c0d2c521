/**
 * Opening a partition directory (Kafka's LogLoader): find the segments, drop leftovers of
 * interrupted operations, and after an unclean stop recover every segment from the one holding
 * the recovery point to the end.
 *
 * Recovery trusts what is below the recovery point (it was fsynced before the point moved past
 * it) and scans everything after it batch by batch: length, magic 2, CRC, offsets ascending. At
 * the first bad batch the segment is truncated there, the segments after it are deleted, and
 * what was dropped is logged. The indexes of every scanned segment are rebuilt on the way. After
 * a clean shutdown nothing is scanned: the log end offset comes from the last index entry of the
 * active segment plus a short scan.
 *
 * Producer state (Kafka's LogLoader + rebuildProducerState): recovery first brings the state to
 * the base offset of the first segment it scans (newest snapshot at or below it, then replay),
 * then applies every valid batch it scans, rebuilding those segments' `.txnindex` files; a
 * `.txnindex` failing its sanity check makes its segment the first one scanned. Finally the
 * state is brought to the log end offset (after a clean shutdown: the snapshot written there) and,
 * if anything had to be replayed, a snapshot is taken at the log end.
 */
import fsp from "node:fs/promises";
import type { Logger } from "pino";
import { LeaderEpochCheckpointFile } from "./checkpoint-file.js";
import { completeInterruptedSwaps } from "./cleaner/segment-swap.js";
import type { Clock, LogConfig } from "./config.js";
import { CorruptCheckpointError, CorruptIndexError } from "./errors.js";
import {
  CLEANED_FILE_SUFFIX,
  DELETED_FILE_SUFFIX,
  INDEX_FILE_SUFFIX,
  LEADER_EPOCH_CHECKPOINT_FILE,
  LOG_FILE_SUFFIX,
  offsetFromFileName,
  TIME_INDEX_FILE_SUFFIX,
  TMP_FILE_SUFFIX,
  TXN_INDEX_FILE_SUFFIX,
} from "./file-names.js";
import type { FileSystem } from "./file-system.js";
import { LeaderEpochFileCache } from "./leader-epoch-cache.js";
import { LogSegment, type SegmentContext } from "./log-segment.js";
import { LogSegments } from "./log-segments.js";
import { type ProducerBatch, ProducerStateManager, producerBatchAt } from "./producer-state.js";
import { rebuildProducerState, replayBatchIntoIndex } from "./producer-state-log.js";
import { ProducerSnapshots } from "./producer-state-snapshot.js";

export interface LoadLogParams {
  dir: string;
  config: LogConfig;
  fs: FileSystem;
  time: Clock;
  logger: Logger;
  /** From recovery-point-offset-checkpoint; 0 (scan everything) when unknown. */
  recoveryPoint: bigint;
  /** From log-start-offset-checkpoint; the first segment's base offset when unknown. */
  logStartOffset: bigint | undefined;
  hadCleanShutdown: boolean;
  /** producer.id.expiration.ms (broker config). */
  producerIdExpirationMs?: number;
  /** `topic-partition`, for messages. */
  partition?: string;
}

export interface LoadedLog {
  segments: LogSegments;
  segmentContext: SegmentContext;
  nextOffset: bigint;
  recoveryPoint: bigint;
  logStartOffset: bigint;
  leaderEpochCache: LeaderEpochFileCache;
  producerState: ProducerStateManager;
  producerSnapshots: ProducerSnapshots;
  /** Bytes recovery removed (torn tail and deleted segments), for the log line and tests. */
  truncatedBytes: number;
  recoveredSegments: number;
}

export async function loadLog(p: LoadLogParams): Promise<LoadedLog> {
  const { dir, logger } = p;
  await fsp.mkdir(dir, { recursive: true });
  const ctx: SegmentContext = {
    dir,
    fs: p.fs,
    time: p.time,
    logger,
    indexIntervalBytes: p.config.indexIntervalBytes,
    segmentIndexBytes: p.config.segmentIndexBytes,
  };
  // A cleaner swap cut short by a crash is completed or discarded first (cleaner/segment-swap.ts).
  await completeInterruptedSwaps(dir, logger);
  const names = await fsp.readdir(dir);
  const logOffsets: bigint[] = [];
  const indexFiles = new Set<string>();
  for (const name of names) {
    if (name.endsWith(TMP_FILE_SUFFIX) || name.endsWith(CLEANED_FILE_SUFFIX) || name.endsWith(DELETED_FILE_SUFFIX)) {
      // Leftovers of an interrupted checkpoint write, cleaning or deletion: never live data.
      await fsp.rm(`${dir}/${name}`, { force: true });
      continue;
    }
    const logOffset = offsetFromFileName(name, LOG_FILE_SUFFIX);
    if (logOffset !== null) logOffsets.push(logOffset);
    else if (
      name.endsWith(INDEX_FILE_SUFFIX) ||
      name.endsWith(TIME_INDEX_FILE_SUFFIX) ||
      name.endsWith(TXN_INDEX_FILE_SUFFIX)
    )
      indexFiles.add(name);
  }
  logOffsets.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const logNames = new Set(logOffsets.map((o) => o.toString().padStart(20, "0")));
  for (const name of indexFiles) {
    // An index without its log is an orphan of a deletion or a crash mid-roll (Kafka deletes these too).
    if (!logNames.has(name.slice(0, 20))) await fsp.rm(`${dir}/${name}`, { force: true });
  }

  const segments = new LogSegments();
  const producerState = new ProducerStateManager({
    clock: p.time,
    producerIdExpirationMs: p.producerIdExpirationMs,
    partition: p.partition,
  });
  let loaded = false;
  try {
    for (const offset of logOffsets) segments.add(await LogSegment.open(ctx, offset));
    const producerSnapshots = await ProducerSnapshots.load(p.fs, dir);
    await producerSnapshots.removeStraySnapshots(segments.baseOffsets());
    let hadCleanShutdown = p.hadCleanShutdown;
    let recoveryPoint = p.recoveryPoint;
    // A transaction index that fails its check is rebuilt by recovering its segment (Kafka does the same).
    for (const segment of segments.all()) {
      try {
        segment.txnIndex.sanityCheck();
      } catch (e) {
        if (!(e instanceof CorruptIndexError)) throw e;
        logger.warn({ dir, reason: e.message }, "corrupt transaction index: recovering its segment");
        hadCleanShutdown = false;
        if (segment.baseOffset < recoveryPoint) recoveryPoint = segment.baseOffset;
        break;
      }
    }
    const firstBase = segments.first()?.baseOffset ?? 0n;
    const initialLogStartOffset =
      p.logStartOffset !== undefined && p.logStartOffset > firstBase ? p.logStartOffset : firstBase;
    const recovery: ProducerRecovery = {
      state: producerState,
      snapshots: producerSnapshots,
      logStartOffset: initialLogStartOffset,
      nowMs: p.time.nowMs(),
      logger,
    };
    const { cache: epochCache, corrupt } = await loadLeaderEpochCache(dir, logger);
    if (corrupt) {
      await rebuildLeaderEpochCache(segments, epochCache);
      epochCache.markDirty();
    }
    let truncatedBytes = 0;
    let recoveredSegments = 0;
    let nextOffset: bigint;

    if (segments.isEmpty()) {
      const base = p.logStartOffset ?? 0n;
      segments.add(await LogSegment.create(ctx, base));
      nextOffset = base;
      recoveryPoint = base;
    } else if (hadCleanShutdown) {
      const active = segments.last()!;
      try {
        nextOffset = await active.readNextOffset();
        recoveryPoint = nextOffset;
      } catch (e) {
        if (!(e instanceof CorruptIndexError)) throw e;
        logger.warn({ dir, reason: e.message }, "active segment inconsistent after a clean shutdown: recovering it");
        const r = await recoverFrom(ctx, segments, active.baseOffset, epochCache, logger, recovery);
        ({ nextOffset, truncatedBytes, recoveredSegments } = r);
        if (recoveryPoint > nextOffset) recoveryPoint = nextOffset;
      }
    } else {
      const r = await recoverFrom(ctx, segments, recoveryPoint, epochCache, logger, recovery);
      ({ nextOffset, truncatedBytes, recoveredSegments } = r);
      // Recovered bytes are valid but not known to be on disk: the recovery point stays where it was.
      if (recoveryPoint > nextOffset) recoveryPoint = nextOffset;
    }

    const active = segments.last()!;
    await active.makeActive();
    await active.loadFirstBatchTimestamp();
    const firstBaseOffset = segments.first()!.baseOffset;
    let logStartOffset = p.logStartOffset ?? firstBaseOffset;
    if (logStartOffset < firstBaseOffset) logStartOffset = firstBaseOffset;
    if (logStartOffset > nextOffset) logStartOffset = nextOffset;
    epochCache.truncateFromEnd(nextOffset);
    epochCache.truncateFromStart(logStartOffset);
    await epochCache.flush();
    const replayed = await rebuildProducerState(producerState, producerSnapshots, segments, {
      logStartOffset,
      logEndOffset: nextOffset,
      nowMs: recovery.nowMs,
      logger,
    });
    // Recovery (or a missing snapshot) replayed batches: the next start need not replay them again.
    if (replayed > 0 || recovery.replayedInRecovery) await producerSnapshots.takeSnapshot(producerState);
    producerState.onHighWatermarkUpdated(nextOffset);
    loaded = true;
    return {
      segments,
      segmentContext: ctx,
      nextOffset,
      recoveryPoint,
      logStartOffset,
      leaderEpochCache: epochCache,
      producerState,
      producerSnapshots,
      truncatedBytes,
      recoveredSegments,
    };
  } finally {
    if (!loaded) await Promise.allSettled(segments.all().map((s) => s.closeHandlers()));
  }
}

async function loadLeaderEpochCache(
  dir: string,
  logger: Logger,
): Promise<{ cache: LeaderEpochFileCache; corrupt: boolean }> {
  const file = new LeaderEpochCheckpointFile(`${dir}/${LEADER_EPOCH_CHECKPOINT_FILE}`);
  try {
    return { cache: new LeaderEpochFileCache(file, (await file.read()) ?? []), corrupt: false };
  } catch (e) {
    if (!(e instanceof CorruptCheckpointError)) throw e;
    logger.warn({ dir, reason: e.message }, "corrupt leader-epoch-checkpoint: rebuilding it from the segments");
    return { cache: new LeaderEpochFileCache(file, []), corrupt: true };
  }
}

/**
 * Recovers the segment holding `recoveryPoint` and every one after it. Segments after the first
 * one that had to be truncated are deleted: their offsets no longer follow the log.
 */
async function recoverFrom(
  ctx: SegmentContext,
  segments: LogSegments,
  recoveryPoint: bigint,
  epochCache: LeaderEpochFileCache,
  logger: Logger,
  producers: ProducerRecovery,
): Promise<{ nextOffset: bigint; truncatedBytes: number; recoveredSegments: number }> {
  const toRecover = segments.range(recoveryPoint);
  const first = toRecover[0]!;
  // Epochs of the unflushed part are relearned from the batches; the checkpoint may be ahead of them.
  epochCache.truncateFromEnd(first.baseOffset);
  // The producer state as of the first scanned batch; the scan then carries it forward.
  await rebuildProducerState(producers.state, producers.snapshots, segments, {
    logStartOffset: producers.logStartOffset < first.baseOffset ? producers.logStartOffset : first.baseOffset,
    logEndOffset: first.baseOffset,
    nowMs: producers.nowMs,
    logger,
  });
  producers.replayedInRecovery = true;
  let truncatedBytes = 0;
  let recoveredSegments = 0;
  let nextOffset = first.baseOffset;
  for (const segment of toRecover) {
    await segment.txnIndex.reset();
    const scanned: ProducerBatch[] = [];
    const r = await segment.recover({
      minOffset: nextOffset,
      truncate: true,
      leaderEpochCache: epochCache,
      onBatch: (buf, position, header) => {
        if (header.producerId < 0n) return;
        try {
          const batch = producerBatchAt(buf, position);
          if (batch !== null) scanned.push(batch);
        } catch (err) {
          logger.warn({ segment: segment.log.file, err }, "skipping an unreadable control batch in recovery");
        }
      },
    });
    for (const batch of scanned) {
      try {
        await replayBatchIntoIndex(producers.state, batch, segment);
      } catch (err) {
        // A batch the leader would have refused cannot be in the log; never stop loading for one.
        logger.warn(
          { segment: segment.log.file, offset: batch.baseOffset.toString(), err },
          "producer state replay skipped a batch",
        );
      }
    }
    producers.state.updateMapEndOffset(r.nextOffset > segment.baseOffset ? r.nextOffset : segment.baseOffset);
    recoveredSegments++;
    nextOffset = r.nextOffset;
    if (segment !== segments.last()) {
      await segment.offsetIndex.trimToValidSize();
      await segment.timeIndex.trimToValidSize();
      await segment.offsetIndex.closeHandle();
      await segment.timeIndex.closeHandle();
    }
    if (r.truncatedBytes > 0 || r.stopReason !== null) {
      truncatedBytes += r.truncatedBytes;
      const dropped = segments.removeFrom(segment.baseOffset + 1n);
      for (const d of dropped) {
        truncatedBytes += d.size;
        await d.deleteFiles();
      }
      logger.warn(
        {
          segment: segment.log.file,
          validBytes: r.validBytes,
          truncatedBytes: r.truncatedBytes,
          nextOffset: nextOffset.toString(),
          reason: r.stopReason,
          deletedSegments: dropped.map((d) => d.baseOffset.toString()),
        },
        "recovery truncated the log at the first invalid batch",
      );
      break;
    }
  }
  // A segment emptied by recovery keeps its base offset: the log end offset cannot go below it.
  const active = segments.last()!;
  if (nextOffset < active.baseOffset) nextOffset = active.baseOffset;
  logger.info({ dir: ctx.dir, recoveredSegments, nextOffset: nextOffset.toString() }, "log recovered");
  return { nextOffset, truncatedBytes, recoveredSegments };
}

/** What recovery needs to rebuild producer state and the transaction indexes as it scans. */
interface ProducerRecovery {
  state: ProducerStateManager;
  snapshots: ProducerSnapshots;
  /** The log start offset as known before recovery (the checkpoint, at least the first segment). */
  logStartOffset: bigint;
  nowMs: number;
  logger: Logger;
  /** Set once recovery replayed batches into the state. */
  replayedInRecovery?: boolean;
}

/** Relearns epochs from the batch headers of every segment (after a corrupt checkpoint). */
async function rebuildLeaderEpochCache(segments: LogSegments, epochCache: LeaderEpochFileCache): Promise<void> {
  for (const segment of segments.all()) {
    for await (const batch of segment.log.batchesFrom(0)) {
      if (batch.partitionLeaderEpoch >= 0 && batch.partitionLeaderEpoch > epochCache.latestEpoch())
        epochCache.assign(batch.partitionLeaderEpoch, batch.baseOffset);
    }
  }
}
