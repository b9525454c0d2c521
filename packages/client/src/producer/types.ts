import type { ClientOptions } from "../cluster/client-options.js";

/** Codecs of Kafka's `compression.type`. */
export type CompressionName = "none" | "gzip" | "snappy" | "lz4" | "zstd";

/** Producer settings; the names follow Kafka's producer configs (`linger.ms` → `lingerMs` ...). */
export interface ProducerOptions extends ClientOptions {
  /** 0: no response; 1: the leader wrote it; -1 (all): every in-sync replica has it. Default -1. */
  acks?: 0 | 1 | -1;
  /** Default true (as Kafka's clients since 3.0); requires acks -1. */
  idempotent?: boolean;
  /** How long a partition's batch waits for more records; default 5 (Kafka 4's linger.ms). */
  lingerMs?: number;
  /** Bytes per partition batch before it is sent without waiting; default 16384 (batch.size). */
  batchBytes?: number;
  compression?: CompressionName;
  /** Default 5, the most Kafka allows with idempotence. */
  maxInFlightPerPartition?: number;
  transactionalId?: string;
  /** Default 60000 (transaction.timeout.ms). */
  transactionTimeoutMs?: number;
  /** Replaces the default (murmur2 for keys, sticky for null keys). */
  partitioner?: (topic: string, key: Buffer | null, partitionCount: number) => number;
  /**
   * Upper bound on the time from `send` until the record is acknowledged or failed, retries
   * included (delivery.timeout.ms); default 120000. Retriable failures are retried until then
   * (Kafka's retries=MAX_INT) unless `retry.retries` is given explicitly.
   */
  deliveryTimeoutMs?: number;
}

export interface ProducerRecord {
  key?: Buffer | string | null;
  value: Buffer | string | null;
  headers?: Record<string, Buffer | string> | { key: string; value: Buffer | string | null }[];
  /** Chosen by the partitioner when absent. */
  partition?: number;
  /** CreateTime; default Date.now(). */
  timestampMs?: number;
}

export interface RecordMetadata {
  topic: string;
  partition: number;
  /** -1 with acks 0 (no response), as Kafka's producer reports. */
  offset: bigint;
  timestampMs: number;
}
