/**
 * File and directory names of a Kafka log directory (Kafka's LogFileUtils):
 *
 *   <log.dir>/meta.properties
 *   <log.dir>/recovery-point-offset-checkpoint
 *   <log.dir>/log-start-offset-checkpoint
 *   <log.dir>/.kafka_cleanshutdown
 *   <log.dir>/<topic>-<partition>/00000000000000000000.log | .index | .timeindex | .txnindex | .snapshot
 *   <log.dir>/<topic>-<partition>/leader-epoch-checkpoint
 *
 * A segment's files are named by its base offset, zero-padded to 20 digits so that a plain
 * directory listing sorts them in offset order.
 */
import path from "node:path";

export const LOG_FILE_SUFFIX = ".log";
export const INDEX_FILE_SUFFIX = ".index";
export const TIME_INDEX_FILE_SUFFIX = ".timeindex";
/** The transaction index, producer state snapshots and the cleaner's swap files. */
export const TXN_INDEX_FILE_SUFFIX = ".txnindex";
export const PRODUCER_SNAPSHOT_FILE_SUFFIX = ".snapshot";
export const CLEANED_FILE_SUFFIX = ".cleaned";
export const SWAP_FILE_SUFFIX = ".swap";
export const DELETED_FILE_SUFFIX = ".deleted";
/** Suffix of a file being written before its atomic rename (checkpoints). */
export const TMP_FILE_SUFFIX = ".tmp";

export const META_PROPERTIES_FILE = "meta.properties";
export const RECOVERY_POINT_CHECKPOINT_FILE = "recovery-point-offset-checkpoint";
export const LOG_START_OFFSET_CHECKPOINT_FILE = "log-start-offset-checkpoint";
export const LEADER_EPOCH_CHECKPOINT_FILE = "leader-epoch-checkpoint";
export const CLEAN_SHUTDOWN_FILE = ".kafka_cleanshutdown";

/** 20 decimal digits, the width of Long.MAX_VALUE. */
export function filenamePrefixFromOffset(offset: bigint): string {
  if (offset < 0n) throw new RangeError(`negative base offset ${offset}`);
  return offset.toString().padStart(20, "0");
}

export function logFileName(dir: string, baseOffset: bigint): string {
  return path.join(dir, filenamePrefixFromOffset(baseOffset) + LOG_FILE_SUFFIX);
}
export function offsetIndexFileName(dir: string, baseOffset: bigint): string {
  return path.join(dir, filenamePrefixFromOffset(baseOffset) + INDEX_FILE_SUFFIX);
}
export function timeIndexFileName(dir: string, baseOffset: bigint): string {
  return path.join(dir, filenamePrefixFromOffset(baseOffset) + TIME_INDEX_FILE_SUFFIX);
}
export function txnIndexFileName(dir: string, baseOffset: bigint): string {
  return path.join(dir, filenamePrefixFromOffset(baseOffset) + TXN_INDEX_FILE_SUFFIX);
}

/** The base offset of `00000000000000000123.log`, or null when the name is not a segment file. */
export function offsetFromFileName(fileName: string, suffix: string): bigint | null {
  if (!fileName.endsWith(suffix)) return null;
  const stem = fileName.slice(0, -suffix.length);
  if (!/^\d{20}$/.test(stem)) return null;
  return BigInt(stem);
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

export function topicPartitionKey(tp: TopicPartition): string {
  return `${tp.topic}-${tp.partition}`;
}

export function partitionDirName(tp: TopicPartition): string {
  return topicPartitionKey(tp);
}

/**
 * Parses `<topic>-<partition>`. The topic may itself contain '-', so the partition is what follows
 * the last one. Directories Kafka marks for deletion (`.<uuid>-delete`), future replicas (`-future`)
 * and strays (`-stray`) are not partitions of this log dir and return null.
 */
export function parseTopicPartitionDir(name: string): TopicPartition | null {
  if (/-(delete|future|stray)$/.test(name)) return null;
  const dash = name.lastIndexOf("-");
  if (dash <= 0) return null;
  const topic = name.slice(0, dash);
  const part = name.slice(dash + 1);
  if (!/^\d+$/.test(part)) return null;
  const partition = Number(part);
  if (!Number.isSafeInteger(partition) || partition > 2 ** 31 - 1) return null;
  return { topic, partition };
}
