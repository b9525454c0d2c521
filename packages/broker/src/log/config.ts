/**
 * Per-partition log configuration: Kafka's topic-level names (broker-level `log.*` defaults in
 * brackets), in camelCase with the unit last. Defaults are Kafka's.
 */
export interface LogConfig {
  /** `segment.bytes` [log.segment.bytes]: roll when the active segment would grow past this. */
  segmentBytes: number;
  /** `segment.ms` [log.roll.ms]: roll a non-empty segment this long after its first batch. */
  segmentMs: number;
  /** `segment.jitter.ms` [log.roll.jitter.ms]: the roll deadline is brought forward by a random amount up to this. */
  segmentJitterMs: number;
  /** `segment.index.bytes` [log.index.size.max.bytes]: capacity of each index file; a full index rolls the segment. */
  segmentIndexBytes: number;
  /** `index.interval.bytes` [log.index.interval.bytes]: bytes of batches between two offset index entries. */
  indexIntervalBytes: number;
  /** `flush.messages` [log.flush.interval.messages]: fsync once this many records are unflushed; 1 = fsync before every ack. */
  flushMessages: number;
  /** `flush.ms` [log.flush.interval.ms]: fsync when the last flush is older than this (checked by the flush scheduler). */
  flushMs: number;
  /** `max.message.bytes` [message.max.bytes]: the largest record batch (after the 12-byte log overhead) the log accepts. */
  maxMessageBytes: number;
  /** `cleanup.policy` [log.cleanup.policy]: "delete" (retention), "compact" (the log cleaner), or both. */
  cleanupPolicy: readonly CleanupPolicy[];
  /** `retention.ms` [log.retention.ms/minutes/hours]: delete segments whose largest timestamp is older; -1 keeps forever. */
  retentionMs: number;
  /** `retention.bytes` [log.retention.bytes]: delete the oldest segments while the log is larger; -1 no limit. */
  retentionBytes: number;
  /** `delete.retention.ms` [log.cleaner.delete.retention.ms]: how long the cleaner keeps a tombstone it has seen. */
  deleteRetentionMs: number;
  /** `min.cleanable.dirty.ratio` [log.cleaner.min.cleanable.ratio]: dirty/total bytes above which a log is cleaned. */
  minCleanableDirtyRatio: number;
  /** `min.compaction.lag.ms` [log.cleaner.min.compaction.lag.ms]: records younger than this stay uncompacted. */
  minCompactionLagMs: number;
  /** `max.compaction.lag.ms` [log.cleaner.max.compaction.lag.ms]: records older than this make the log cleanable whatever its ratio. */
  maxCompactionLagMs: number;
  /** `file.delete.delay.ms` [log.segment.delete.delay.ms]: a deleted segment's files are renamed `.deleted` and removed after this. */
  fileDeleteDelayMs: number;
}

export type CleanupPolicy = "delete" | "compact";

/** 1 GiB, Kafka's log.segment.bytes default. */
export const DEFAULT_SEGMENT_BYTES = 1024 * 1024 * 1024;
/** 7 days, Kafka's log.roll.hours = 168. */
export const DEFAULT_SEGMENT_MS = 7 * 24 * 60 * 60 * 1000;
/** 10 MiB, Kafka's log.index.size.max.bytes. */
export const DEFAULT_SEGMENT_INDEX_BYTES = 10 * 1024 * 1024;
/** 4 KiB, Kafka's log.index.interval.bytes. */
export const DEFAULT_INDEX_INTERVAL_BYTES = 4096;
/** 1 MiB + 12 bytes of log overhead, Kafka's message.max.bytes. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024 + 12;
/** Kafka's segment.bytes lower bound (LegacyRecord.RECORD_OVERHEAD_V0 + ...): below this nothing fits. */
export const MIN_SEGMENT_BYTES = 14;

/** "Never": Kafka uses Long.MAX_VALUE for flush.messages and flush.ms; the OS decides when bytes reach the disk. */
export const NEVER = Number.POSITIVE_INFINITY;

export const DEFAULT_LOG_CONFIG: Readonly<LogConfig> = Object.freeze({
  segmentBytes: DEFAULT_SEGMENT_BYTES,
  segmentMs: DEFAULT_SEGMENT_MS,
  segmentJitterMs: 0,
  segmentIndexBytes: DEFAULT_SEGMENT_INDEX_BYTES,
  indexIntervalBytes: DEFAULT_INDEX_INTERVAL_BYTES,
  flushMessages: NEVER,
  flushMs: NEVER,
  maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
  cleanupPolicy: Object.freeze(["delete"]) as readonly CleanupPolicy[],
  retentionMs: 7 * 24 * 60 * 60 * 1000,
  retentionBytes: -1,
  deleteRetentionMs: 24 * 60 * 60 * 1000,
  minCleanableDirtyRatio: 0.5,
  minCompactionLagMs: 0,
  maxCompactionLagMs: NEVER,
  fileDeleteDelayMs: 60_000,
});

/** Fills the defaults in and rejects values Kafka's validators would reject. */
export function logConfig(overrides: Partial<LogConfig> = {}): LogConfig {
  const config: LogConfig = { ...DEFAULT_LOG_CONFIG, ...overrides };
  const positive = (name: keyof LogConfig, min: number) => {
    const v = config[name];
    if (!(typeof v === "number" && v >= min && !Number.isNaN(v)))
      throw new RangeError(`${name} must be >= ${min}, got ${v}`);
  };
  positive("segmentBytes", MIN_SEGMENT_BYTES);
  positive("segmentMs", 1);
  positive("segmentJitterMs", 0);
  positive("segmentIndexBytes", 12); // at least one time index entry
  positive("indexIntervalBytes", 0);
  positive("flushMessages", 1);
  positive("flushMs", 0);
  positive("maxMessageBytes", 0);
  positive("retentionMs", -1);
  positive("retentionBytes", -1);
  positive("deleteRetentionMs", 0);
  positive("minCompactionLagMs", 0);
  positive("maxCompactionLagMs", 1);
  positive("fileDeleteDelayMs", 0);
  if (!(config.minCleanableDirtyRatio >= 0 && config.minCleanableDirtyRatio <= 1))
    throw new RangeError(`minCleanableDirtyRatio must be in [0, 1], got ${config.minCleanableDirtyRatio}`);
  if (config.cleanupPolicy.length === 0 || config.cleanupPolicy.some((p) => p !== "delete" && p !== "compact"))
    throw new RangeError(`cleanupPolicy must be delete and/or compact, got ${config.cleanupPolicy.join(",")}`);
  if (config.segmentBytes > 2 ** 31 - 1) throw new RangeError("segmentBytes must fit in an int32 file position");
  return config;
}

/** The injected clock: wall-clock milliseconds, as Kafka's Time.milliseconds(). */
export interface Clock {
  nowMs(): number;
}

export const SYSTEM_CLOCK: Clock = { nowMs: () => Date.now() };
