/**
 * The consumer's public value types (the shared contract, issue 9). Kept apart from consumer.ts so
 * the assignors and the record decoder can use them without importing the Consumer class.
 */
import type { ClientOptions } from "../cluster/client-options.js";

/** A partition of a topic. */
export interface TopicPartition {
  topic: string;
  partition: number;
}

/** The assignors a consumer can offer, by their protocol names (Kafka's partition.assignment.strategy). */
export type AssignorName = "range" | "roundrobin" | "cooperative-sticky";

export interface ConsumerOptions extends ClientOptions {
  /** The consumer group; without one the consumer is in assign-only mode (no commits, no rebalances). */
  groupId?: string;
  /** Static membership (KIP-345): a stable id that survives restarts without a rebalance. */
  groupInstanceId?: string;
  /** session.timeout.ms; default 45000. */
  sessionTimeoutMs?: number;
  /** max.poll.interval.ms, sent as the JoinGroup rebalance timeout; default 300000. */
  rebalanceTimeoutMs?: number;
  /** heartbeat.interval.ms; default 3000. */
  heartbeatIntervalMs?: number;
  /** Assignors in order of preference; default ["range", "cooperative-sticky"] (Kafka 3's default). */
  assignors?: AssignorName[];
  /** enable.auto.commit; default true. */
  autoCommit?: boolean;
  /** auto.commit.interval.ms; default 5000. */
  autoCommitIntervalMs?: number;
  /** auto.offset.reset; default "latest". "none" makes a partition without a committed offset an error. */
  autoOffsetReset?: "earliest" | "latest" | "none";
  /** isolation.level; default "read_uncommitted". */
  isolationLevel?: "read_uncommitted" | "read_committed";
  /** fetch.max.wait.ms; default 500. */
  maxWaitMs?: number;
  /** fetch.min.bytes; default 1. */
  minBytes?: number;
  /** fetch.max.bytes; default 52428800. */
  maxBytes?: number;
  /** max.partition.fetch.bytes; default 1048576. */
  maxPartitionBytes?: number;
}

/** One record as the application sees it. */
export interface ConsumerRecord {
  topic: string;
  partition: number;
  offset: bigint;
  /** CreateTime, or LogAppendTime when the topic uses it. */
  timestampMs: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: { key: string; value: Buffer | null }[];
}

/** The records of one partition from one fetch, in offset order. */
export interface ConsumerBatch {
  topic: string;
  partition: number;
  records: ConsumerRecord[];
  highWatermark: bigint;
}

/**
 * Called around rebalances, as Kafka's ConsumerRebalanceListener: revoked before partitions are
 * given up (commit there), assigned after new ones arrive, lost when membership was lost and the
 * partitions may already belong to someone else (do not commit there).
 */
export interface RebalanceListener {
  onPartitionsRevoked?(partitions: TopicPartition[]): Promise<void> | void;
  onPartitionsAssigned?(partitions: TopicPartition[]): Promise<void> | void;
  onPartitionsLost?(partitions: TopicPartition[]): Promise<void> | void;
}

/** What a transactional producer passes to sendOffsets to fence zombies (KIP-447). */
export interface ConsumerGroupMetadata {
  groupId: string;
  generationId: number;
  memberId: string;
  groupInstanceId: string | null;
}

/** "topic-partition", the key of per-partition maps. */
export function tpKey(tp: TopicPartition): string {
  return `${tp.topic}\u0000${tp.partition}`;
}

/** Orders by topic, then partition (Kafka's usual partition order). */
export function compareTopicPartitions(a: TopicPartition, b: TopicPartition): number {
  if (a.topic !== b.topic) return a.topic < b.topic ? -1 : 1;
  return a.partition - b.partition;
}
