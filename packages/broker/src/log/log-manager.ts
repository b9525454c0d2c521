/**
 * The logs of one log directory (Kafka's LogManager, for one entry of `log.dirs`): opens every
 * partition directory at startup, recovering in parallel up to a limit, and owns the files that
 * describe the whole directory:
 *
 *   meta.properties                      which cluster and node the directory belongs to
 *   recovery-point-offset-checkpoint     per partition, the offset below which all is fsynced
 *   log-start-offset-checkpoint          per partition, the first readable offset (rewritten
 *                                        after DeleteRecords and after a retention pass moves it)
 *   .kafka_cleanshutdown                 present only between a clean shutdown and the next start
 *
 * (Layouts: meta-properties.ts and checkpoint-file.ts. The marker holds Kafka's JSON
 * `{"version":0,"brokerEpoch":<n>}`; only its presence matters here.)
 *
 * A partition that cannot be loaded is kept as an offline Log: its reads and writes answer
 * KAFKA_STORAGE_ERROR and every other partition keeps working. A checkpoint file that cannot be
 * parsed is ignored with a warning: recovery points then default to 0 (full scan, safe) and log
 * start offsets to the first segment; both files are rewritten from the loaded logs.
 */
import fsp from "node:fs/promises";
import path from "node:path";
import pino, { type Logger } from "pino";
import { OffsetCheckpointFile } from "./checkpoint-file.js";
import { LogCleaner, type LogCleanerOptions } from "./cleaner/log-cleaner.js";
import { type Clock, type LogConfig, SYSTEM_CLOCK } from "./config.js";
import { CorruptCheckpointError } from "./errors.js";
import {
  CLEAN_SHUTDOWN_FILE,
  LOG_START_OFFSET_CHECKPOINT_FILE,
  parseTopicPartitionDir,
  partitionDirName,
  RECOVERY_POINT_CHECKPOINT_FILE,
  type TopicPartition,
  topicPartitionKey,
} from "./file-names.js";
import { type FileSystem, nodeFileSystem, syncDir, writeFileAtomically } from "./file-system.js";
import { Log } from "./log.js";
import { ensureMetaProperties, type MetaProperties } from "./meta-properties.js";

/** Kafka's num.recovery.threads.per.data.dir is 2 threads; async I/O makes more concurrent loads cheap. */
export const DEFAULT_RECOVERY_CONCURRENCY = 8;
/** Kafka's log.flush.offset.checkpoint.interval.ms. */
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 60_000;
/** How often flush.ms is checked (Kafka's log.flush.scheduler.interval.ms defaults to never; 1 s when flush.ms is set). */
export const DEFAULT_FLUSH_CHECK_INTERVAL_MS = 1000;
/** Kafka's log.retention.check.interval.ms: how often retention runs over every log. */
export const DEFAULT_RETENTION_CHECK_INTERVAL_MS = 300_000;
/** Kafka's producer.id.expiration.check.interval.ms. */
export const DEFAULT_PRODUCER_ID_EXPIRATION_CHECK_INTERVAL_MS = 600_000;

export interface LogManagerOptions {
  logDir: string;
  /** When given, meta.properties is created or checked against them. */
  clusterId?: string;
  nodeId?: number;
  /** Defaults for every log; `topicConfig` overrides per topic. */
  config?: Partial<LogConfig>;
  topicConfig?: (topic: string) => Partial<LogConfig> | undefined;
  time?: Clock;
  logger?: Logger;
  fs?: FileSystem;
  recoveryConcurrency?: number;
  /** Written into the clean shutdown marker (KIP-966); -1 when unknown. */
  brokerEpoch?: number;
  /** producer.id.expiration.ms for every log. */
  producerIdExpirationMs?: number;
}

export class LogManager {
  readonly logDir: string;
  private readonly logs = new Map<string, Log>();
  private readonly creating = new Map<string, Promise<Log>>();
  private readonly logger: Logger;
  private readonly time: Clock;
  private readonly recoveryPoints: OffsetCheckpointFile;
  private readonly logStartOffsets: OffsetCheckpointFile;
  private timers: NodeJS.Timeout[] = [];
  private cleaner: LogCleaner | null = null;
  private checkpointing: Promise<void> = Promise.resolve();
  /** Whether the previous run ended with a clean shutdown (the marker was present at startup). */
  hadCleanShutdown = false;
  meta: MetaProperties | null = null;

  /** Defaults for every log (the broker's log.* configs); dynamic broker configs replace them. */
  private defaults: Partial<LogConfig>;

  private constructor(private readonly opts: LogManagerOptions) {
    this.logDir = opts.logDir;
    this.defaults = opts.config ?? {};
    this.logger = opts.logger ?? pino({ level: "silent" });
    this.time = opts.time ?? SYSTEM_CLOCK;
    this.recoveryPoints = new OffsetCheckpointFile(path.join(opts.logDir, RECOVERY_POINT_CHECKPOINT_FILE));
    this.logStartOffsets = new OffsetCheckpointFile(path.join(opts.logDir, LOG_START_OFFSET_CHECKPOINT_FILE));
  }

  static async open(opts: LogManagerOptions): Promise<LogManager> {
    const manager = new LogManager(opts);
    await manager.loadLogs();
    return manager;
  }

  private logOptions(tp: TopicPartition) {
    return {
      dir: path.join(this.logDir, partitionDirName(tp)),
      topicPartition: tp,
      config: this.configFor(tp.topic),
      time: this.time,
      logger: this.logger,
      fs: this.opts.fs ?? nodeFileSystem,
      onOffline: (log: Log, error: Error) =>
        this.logger.error({ partition: topicPartitionKey(log.topicPartition), err: error }, "partition offline"),
      checkpointLogStartOffset: () => this.checkpointLogStartOffsets(),
      producerIdExpirationMs: this.opts.producerIdExpirationMs,
    };
  }

  private configFor(topic: string): Partial<LogConfig> {
    return { ...this.defaults, ...this.opts.topicConfig?.(topic) };
  }

  /** New broker-level defaults (a dynamic broker config changed): every open log takes them at once. */
  setDefaultConfig(defaults: Partial<LogConfig>): void {
    this.defaults = defaults;
    this.reconfigure();
  }

  /** Re-reads the topic configs of `topic`'s logs (or of every log) and applies them live. */
  reconfigure(topic?: string): void {
    for (const log of this.logs.values()) {
      if (topic === undefined || log.topicPartition.topic === topic)
        log.updateConfig(this.configFor(log.topicPartition.topic));
    }
  }

  private async readCheckpoint(file: OffsetCheckpointFile, what: string): Promise<Map<string, bigint>> {
    try {
      return (await file.read()) ?? new Map();
    } catch (e) {
      if (!(e instanceof CorruptCheckpointError)) throw e;
      this.logger.warn(
        { file: file.file, reason: e.message },
        `corrupt ${what} checkpoint: rebuilding it from the logs`,
      );
      return new Map();
    }
  }

  private async loadLogs(): Promise<void> {
    await fsp.mkdir(this.logDir, { recursive: true });
    if (this.opts.clusterId !== undefined && this.opts.nodeId !== undefined)
      this.meta = await ensureMetaProperties(this.logDir, { clusterId: this.opts.clusterId, nodeId: this.opts.nodeId });
    const marker = path.join(this.logDir, CLEAN_SHUTDOWN_FILE);
    this.hadCleanShutdown = await fsp.stat(marker).then(
      () => true,
      () => false,
    );
    const recoveryPoints = await this.readCheckpoint(this.recoveryPoints, "recovery point");
    const logStartOffsets = await this.readCheckpoint(this.logStartOffsets, "log start offset");

    const entries = await fsp.readdir(this.logDir, { withFileTypes: true });
    const partitions = entries
      .filter((e) => e.isDirectory())
      .map((e) => parseTopicPartitionDir(e.name))
      .filter((tp): tp is TopicPartition => tp !== null);
    const started = Date.now();
    await forEachWithLimit(partitions, this.opts.recoveryConcurrency ?? DEFAULT_RECOVERY_CONCURRENCY, async (tp) => {
      const key = topicPartitionKey(tp);
      const options = {
        ...this.logOptions(tp),
        recoveryPoint: recoveryPoints.get(key) ?? 0n,
        logStartOffset: logStartOffsets.get(key),
        hadCleanShutdown: this.hadCleanShutdown,
      };
      try {
        this.logs.set(key, await Log.open(options));
      } catch (e) {
        const err = e instanceof Error ? e : new Error(String(e));
        this.logger.error({ partition: key, err }, "cannot load partition: marking it offline");
        this.logs.set(key, Log.offline(options, err));
      }
    });
    this.logger.info(
      {
        logDir: this.logDir,
        partitions: partitions.length,
        offline: this.offlinePartitions().length,
        hadCleanShutdown: this.hadCleanShutdown,
        ms: Date.now() - started,
      },
      "logs loaded",
    );
    // From now on a crash must cause recovery: remove the marker, and persist that removal.
    if (this.hadCleanShutdown) {
      await fsp.rm(marker, { force: true });
      await syncDir(this.logDir);
    }
    await this.checkpointAll();
  }

  getLog(tp: TopicPartition): Log | undefined {
    return this.logs.get(topicPartitionKey(tp));
  }

  allLogs(): Log[] {
    return [...this.logs.values()];
  }

  offlinePartitions(): TopicPartition[] {
    return this.allLogs()
      .filter((l) => l.isOffline)
      .map((l) => l.topicPartition);
  }

  /** The log of `tp`, created (empty, at offset 0) if it does not exist. */
  async getOrCreateLog(tp: TopicPartition): Promise<Log> {
    const key = topicPartitionKey(tp);
    const existing = this.logs.get(key);
    if (existing) return existing;
    // Concurrent callers for the same partition share one creation: two opens of one directory would race.
    let creating = this.creating.get(key);
    if (!creating) {
      creating = (async () => {
        const log = await Log.open({ ...this.logOptions(tp), hadCleanShutdown: false });
        this.logs.set(key, log);
        await syncDir(this.logDir);
        return log;
      })().finally(() => this.creating.delete(key));
      this.creating.set(key, creating);
    }
    return creating;
  }

  /**
   * Deletes a partition's log (DeleteTopics): forgets it first so no checkpoint names it again,
   * then removes its directory.
   */
  async deleteLog(tp: TopicPartition): Promise<void> {
    const key = topicPartitionKey(tp);
    const log = this.logs.get(key);
    if (log === undefined) return;
    this.logs.delete(key);
    await log.delete();
    await syncDir(this.logDir);
  }

  /** Writes recovery-point-offset-checkpoint (online logs only; an offline log keeps its last entry). */
  async checkpointRecoveryPoints(): Promise<void> {
    await this.writeCheckpoint(this.recoveryPoints, (l) => l.recoveryPoint);
  }

  async checkpointLogStartOffsets(): Promise<void> {
    await this.writeCheckpoint(this.logStartOffsets, (l) => l.logStartOffset);
  }

  async checkpointAll(): Promise<void> {
    await this.checkpointRecoveryPoints();
    await this.checkpointLogStartOffsets();
  }

  private writeCheckpoint(file: OffsetCheckpointFile, value: (l: Log) => bigint): Promise<void> {
    const run = this.checkpointing.then(async () => {
      const previous = await file.read().catch(() => null);
      const entries = this.allLogs().map((l) => {
        const key = topicPartitionKey(l.topicPartition);
        const offset = l.isOffline ? previous?.get(key) : value(l);
        return offset === undefined ? null : { tp: l.topicPartition, offset };
      });
      await file.write(entries.filter((e) => e !== null));
    });
    this.checkpointing = run.catch(() => undefined);
    return run;
  }

  /**
   * The retention task (Kafka's cleanupLogs): one deleteOldSegments pass over every online log,
   * one log at a time; a log that fails is logged and the pass goes on. When log start offsets
   * moved, log-start-offset-checkpoint is rewritten at once. Returns the segments deleted.
   */
  async cleanupLogs(): Promise<number> {
    const startedMs = this.time.nowMs();
    let total = 0;
    for (const log of this.allLogs()) {
      if (log.isOffline) continue;
      try {
        total += await log.deleteOldSegments();
      } catch (err) {
        this.logger.error({ partition: topicPartitionKey(log.topicPartition), err }, "retention failed for a log");
      }
    }
    if (total > 0) await this.checkpointLogStartOffsets();
    this.logger.debug({ segments: total, ms: this.time.nowMs() - startedMs }, "log retention pass done");
    return total;
  }

  /** flush.ms: flushes every log whose last flush is older than its flush.ms. */
  async flushDirtyLogs(): Promise<void> {
    await Promise.all(this.allLogs().map((l) => l.flushIfDue().catch(() => false)));
  }

  /**
   * Starts the background tasks: the flush.ms check, the periodic checkpoints and retention
   * (timers are unref'd: they never keep the process alive; a task never overlaps itself).
   */
  startScheduler(
    opts: {
      flushCheckIntervalMs?: number;
      checkpointIntervalMs?: number;
      retentionCheckIntervalMs?: number;
      /** producer.id.expiration.check.interval.ms. */
      producerIdExpirationCheckIntervalMs?: number;
    } = {},
  ): void {
    const every = (ms: number, task: () => Promise<void>) => {
      let running = false;
      const t = setInterval(() => {
        if (running) return;
        running = true;
        task()
          .catch((err) => this.logger.error({ err }, "log manager background task failed"))
          .finally(() => {
            running = false;
          });
      }, ms);
      t.unref();
      this.timers.push(t);
    };
    every(opts.flushCheckIntervalMs ?? DEFAULT_FLUSH_CHECK_INTERVAL_MS, () => this.flushDirtyLogs());
    every(opts.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS, () => this.checkpointAll());
    every(opts.retentionCheckIntervalMs ?? DEFAULT_RETENTION_CHECK_INTERVAL_MS, async () => {
      await this.cleanupLogs();
    });
    every(opts.producerIdExpirationCheckIntervalMs ?? DEFAULT_PRODUCER_ID_EXPIRATION_CHECK_INTERVAL_MS, () =>
      this.removeExpiredProducers().then(() => undefined),
    );
  }

  /** The producer expiration task (Kafka's PeriodicProducerExpirationCheck) over every online log. */
  async removeExpiredProducers(): Promise<number> {
    let removed = 0;
    for (const log of this.allLogs()) {
      if (log.isOffline) continue;
      removed += await log.removeExpiredProducers().catch((err) => {
        this.logger.warn({ partition: topicPartitionKey(log.topicPartition), err }, "producer expiration failed");
        return 0;
      });
    }
    return removed;
  }

  /**
   * Starts the log cleaner (compaction of the logs whose cleanup.policy includes compact) with
   * the broker's log.cleaner.* settings; shutdown() stops it before the logs close.
   */
  startCleaner(opts: Omit<LogCleanerOptions, "logDir" | "logs" | "time" | "logger"> = {}): LogCleaner {
    this.cleaner ??= new LogCleaner({
      ...opts,
      logDir: this.logDir,
      logs: () => this.allLogs(),
      time: this.time,
      logger: this.logger,
    });
    this.cleaner.start();
    return this.cleaner;
  }

  stopScheduler(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  /**
   * Clean shutdown: close every log (fsync, trimmed indexes), write the checkpoints, then the
   * clean shutdown marker so the next start skips recovery. The marker is not written if any log
   * is offline or failed to close: those need recovery.
   */
  async shutdown(): Promise<void> {
    this.stopScheduler();
    // A pass in progress is aborted; its .cleaned files are deleted (or by the loader next time).
    await this.cleaner?.shutdown();
    let clean = true;
    await forEachWithLimit(this.allLogs(), this.opts.recoveryConcurrency ?? DEFAULT_RECOVERY_CONCURRENCY, async (l) => {
      try {
        await l.close();
      } catch (err) {
        clean = false;
        this.logger.error({ partition: topicPartitionKey(l.topicPartition), err }, "log did not close cleanly");
      }
    });
    await this.checkpointAll();
    if (clean && this.offlinePartitions().length === 0) {
      await writeFileAtomically(
        path.join(this.logDir, CLEAN_SHUTDOWN_FILE),
        JSON.stringify({ version: 0, brokerEpoch: this.opts.brokerEpoch ?? -1 }),
      );
    }
  }
}

/** Runs `task` over `items`, at most `limit` at a time. */
export async function forEachWithLimit<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await task(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}
