export * from "./checkpoint-file.js";
export * from "./config.js";
export * from "./errors.js";
export * from "./file-names.js";
export { type FileSystem, type LogFileHandle, nodeFileSystem } from "./file-system.js";
export * from "./leader-epoch-cache.js";
export { Log, type LogOptions } from "./log.js";
export { DEFAULT_RECOVERY_CONCURRENCY, LogManager, type LogManagerOptions } from "./log-manager.js";
export { LogSegment, type SegmentReadResult, type SegmentRecoveryResult } from "./log-segment.js";
export { LogSegments } from "./log-segments.js";
export { MemoryLog } from "./memory-log.js";
export {
  ensureMetaProperties,
  InconsistentMetaPropertiesError,
  type MetaProperties,
  readMetaProperties,
  writeMetaProperties,
} from "./meta-properties.js";
export { OffsetIndex, type OffsetPosition } from "./offset-index.js";
export * from "./partition-log.js";
export { TimeIndex, type TimestampOffset } from "./time-index.js";
