export {
  type CleanResult,
  type CleanStats,
  type CleanTask,
  cleanLog,
  groupSegmentsBySize,
} from "./clean-log.js";
export { CleanerAbortedError, CleanerThread } from "./cleaner-thread.js";
export {
  CLEANER_OFFSET_CHECKPOINT_FILE,
  type CleanPassResult,
  DEFAULT_CLEANER_BACKOFF_MS,
  LogCleaner,
  type LogCleanerOptions,
  type LogToClean,
} from "./log-cleaner.js";
export { completeInterruptedSwaps } from "./segment-swap.js";
export { IoThrottle, Throttler, UNTHROTTLED } from "./throttler.js";
