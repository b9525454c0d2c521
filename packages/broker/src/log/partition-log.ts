/**
 * The contract every partition log implements: the file-backed `Log` and the in-memory
 * `MemoryLog` used by simulation tests. One test suite (log-contract.test.ts) runs against both.
 */
import type { TopicPartition } from "./file-names.js";
import type { TimestampOffset } from "./time-index.js";

export interface AppendOptions {
  /**
   * The leader epoch to stamp into every batch (the leader's current epoch); the epoch cache
   * learns where it starts. When absent, batches keep the epoch they carry.
   */
  leaderEpoch?: number;
  /**
   * Who appends (Kafka's AppendOrigin): a client's batches get every producer check and may not
   * be control batches; the coordinator's (transaction markers, group metadata) only the epoch
   * and coordinator-epoch checks. Default "client".
   */
  origin?: "client" | "coordinator";
}

/** What an append did (Kafka's LogAppendInfo). */
export interface LogAppendInfo {
  firstOffset: bigint;
  lastOffset: bigint;
  /** Largest batch max timestamp of the append, -1 when none had one. */
  maxTimestamp: bigint;
  offsetOfMaxTimestamp: bigint;
  recordCount: number;
  validBytes: number;
  logStartOffset: bigint;
  /**
   * A retry of a batch the producer state remembers: nothing was written, the offsets are those
   * it was first written at (Kafka answers the produce with them).
   */
  duplicate?: boolean;
}

export interface ReadOptions {
  /** Byte limit for the returned batches. */
  maxBytes: number;
  /** Exclusive upper bound: no batch starting at or after it (the high watermark, later). */
  maxOffset?: bigint;
  /** Return the first batch even when it exceeds maxBytes (Kafka's minOneMessage). Default true. */
  minOneBatch?: boolean;
  /**
   * Read into a buffer leased from `fetchReadBuffers` (util/read-buffer-pool.ts), for bytes that go
   * straight into a response: whoever sends them releases the lease once the socket has them.
   */
  pooled?: boolean;
}

/** The result of a read (Kafka's FetchDataInfo): raw bytes plus where they came from. */
export interface FetchDataInfo {
  fetchOffset: bigint;
  /** Whole record batches exactly as stored; empty at the log end or when nothing fit. */
  records: Buffer;
  /** Base offset of the segment the bytes were read from, and their position in its .log file. */
  segmentBaseOffset: bigint;
  position: number;
  /** True when the batch holding the fetch offset was not returned because it exceeds maxBytes. */
  firstBatchIncomplete: boolean;
}

/** ListOffsets' special timestamps (Kafka's ListOffsetsRequest constants). */
export const LATEST_TIMESTAMP = -1n;
export const EARLIEST_TIMESTAMP = -2n;
export const MAX_TIMESTAMP = -3n;

export interface PartitionLog {
  readonly topicPartition: TopicPartition;
  /** First offset a consumer can read. */
  readonly logStartOffset: bigint;
  /** Offset the next appended record gets. */
  readonly logEndOffset: bigint;
  /** Everything below it is known to be on stable storage (fsynced). */
  readonly recoveryPoint: bigint;

  /**
   * Appends record batches (one or more magic-2 batches, validated) and assigns offsets from the
   * log end offset by patching the base offsets in place. Resolves once the bytes are written to
   * the file (and fsynced when `flush.messages` says so). Appends are applied in call order.
   */
  append(records: Buffer, opts?: AppendOptions): Promise<LogAppendInfo>;

  /** Whole batches from the one holding `fetchOffset`; OffsetOutOfRangeError outside [logStartOffset, logEndOffset]. */
  read(fetchOffset: bigint, opts: ReadOptions): Promise<FetchDataInfo>;

  /**
   * The first record with a timestamp >= `timestamp` (or a special timestamp: LATEST, EARLIEST,
   * MAX_TIMESTAMP); null when no record is that late.
   */
  offsetForTimestamp(timestamp: bigint): Promise<TimestampOffset | null>;

  /** Starts a new segment at the log end offset (no-op when the active segment is empty). */
  roll(): Promise<void>;

  /** fsyncs everything appended so far and moves the recovery point to the log end offset. */
  flush(): Promise<void>;

  /** Base offsets of the segments, oldest first. */
  segmentBaseOffsets(): bigint[];

  close(): Promise<void>;
}
