/**
 * Records of the compacted internal topic `__transaction_state`, byte for byte as Kafka writes
 * them, so that kafka-dump-log's transaction-log decoder and a Kafka broker taking over the log
 * understand it.
 *
 *   key   = int16 key version (0) + TransactionLogKey   (transactional id: int16 length + UTF-8)
 *   value = int16 value version + TransactionLogValue, or null: a tombstone (an expired
 *           transactional id), which compaction removes
 *
 *   TransactionLogValue v0: producer id int64, producer epoch int16, timeout int32, state int8,
 *     partitions (nullable array: int32 count or -1; topic string, int32 count + int32 ids),
 *     last update timestamp int64, start timestamp int64
 *   TransactionLogValue v1 (flexible, KIP-890): the same fields with compact lengths, plus tagged
 *     fields 0 previous producer id, 1 next producer id, 2 client transaction version
 *
 * The structs are the generated codecs (scripts/codegen/internal-topics.ts). Kafka writes value
 * version 0 while the cluster's `transaction.version` feature is 0 and version 1 from level 1
 * (TransactionVersion.transactionLogValueVersion); the caller picks, 0 by default. An Empty
 * transaction is written with a null partition list and read back with none, as in Kafka.
 *
 * Reading follows Kafka's TransactionLog: an unknown key version is skipped (Kafka warns, "a left
 * over from an aborted upgrade"); an unknown value version or state id, or bytes that do not
 * parse, is corruption. Bytes after the struct are ignored, as Kafka's reader does.
 */
import { DecodeError, Reader, TransactionLogKey, TransactionLogValue, Writer } from "@samsa/protocol";
import { consumerOffsetsPartitionFor } from "../group/consumer-offsets-records.js";

export const TRANSACTION_STATE_TOPIC = "__transaction_state";
/** transaction.state.log.num.partitions default. */
export const DEFAULT_TRANSACTION_STATE_PARTITIONS = 50;

export const TRANSACTION_LOG_KEY_VERSION = 0;
/** The value version Kafka writes at transaction.version 0: the last non-flexible one. */
export const TRANSACTION_LOG_VALUE_VERSION = 0;

/** Kafka's transaction states and the ids stored in TransactionStatus (TransactionState.fromId). */
export const TRANSACTION_STATE_IDS = {
  Empty: 0,
  Ongoing: 1,
  PrepareCommit: 2,
  PrepareAbort: 3,
  CompleteCommit: 4,
  CompleteAbort: 5,
  Dead: 6,
  PrepareEpochFence: 7,
} as const;

/** The state names, as DescribeTransactions and ListTransactions show them. */
export type TransactionState = keyof typeof TRANSACTION_STATE_IDS;

const STATE_BY_ID: readonly TransactionState[] = Object.entries(TRANSACTION_STATE_IDS)
  .sort((a, b) => a[1] - b[1])
  .map(([name]) => name as TransactionState);

export function transactionStateId(state: TransactionState): number {
  return TRANSACTION_STATE_IDS[state];
}

/** The state with this id, or undefined for an id Kafka does not define. */
export function transactionStateFromId(id: number): TransactionState | undefined {
  return STATE_BY_ID[id];
}

/** The state with this name (case-sensitive, as Kafka's TransactionState.fromName), or undefined. */
export function transactionStateFromName(name: string): TransactionState | undefined {
  return Object.hasOwn(TRANSACTION_STATE_IDS, name) ? (name as TransactionState) : undefined;
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

/** One TransactionLogValue, field for field. */
export interface TransactionLogRecordValue {
  producerId: bigint;
  /** -1n unless written as v1 (tagged field 0). */
  previousProducerId: bigint;
  /** -1n unless written as v1 (tagged field 1); set only by transactions v2 epoch overflow. */
  nextProducerId: bigint;
  producerEpoch: number;
  transactionTimeoutMs: number;
  state: TransactionState;
  /** Sorted by topic, then partition, when written; always empty for Empty. */
  partitions: TopicPartition[];
  lastUpdateTimestampMs: bigint;
  /** -1n when no transaction has started. */
  startTimestampMs: bigint;
  /** 0 unless written as v1 (tagged field 2). */
  clientTransactionVersion: number;
}

export type TransactionLogRecord =
  | { type: "transaction"; transactionalId: string; value: TransactionLogRecordValue | null }
  | { type: "unknown"; keyVersion: number };

/** The key of a transactional id's record. */
export function transactionLogKey(transactionalId: string): Buffer {
  const k = new Writer(2 + 2 + transactionalId.length * 3);
  k.writeInt16(TRANSACTION_LOG_KEY_VERSION);
  TransactionLogKey.encode(k, { transactionalId }, TRANSACTION_LOG_KEY_VERSION);
  return k.toBuffer();
}

/**
 * The key and value of a transactional id's record; a null value makes a tombstone. Version 0
 * cannot carry the tagged fields: they must then be at their defaults (-1, -1, 0), else the
 * codec throws, like Kafka's writer.
 */
export function transactionLogRecord(
  transactionalId: string,
  value: TransactionLogRecordValue | null,
  valueVersion: number = TRANSACTION_LOG_VALUE_VERSION,
): { key: Buffer; value: Buffer | null } {
  const key = transactionLogKey(transactionalId);
  if (value === null) return { key, value: null };
  if (value.state === "Empty" && value.partitions.length > 0) {
    throw new Error(`${transactionalId}: an Empty transaction has no partitions`);
  }
  const v = new Writer(128);
  v.writeInt16(valueVersion);
  TransactionLogValue.encode(
    v,
    {
      producerId: value.producerId,
      previousProducerId: value.previousProducerId,
      nextProducerId: value.nextProducerId,
      producerEpoch: value.producerEpoch,
      transactionTimeoutMs: value.transactionTimeoutMs,
      transactionStatus: transactionStateId(value.state),
      transactionPartitions: value.state === "Empty" ? null : groupByTopic(value.partitions),
      transactionLastUpdateTimestampMs: value.lastUpdateTimestampMs,
      transactionStartTimestampMs: value.startTimestampMs,
      clientTransactionVersion: value.clientTransactionVersion,
    },
    valueVersion,
  );
  return { key, value: v.toBuffer() };
}

function groupByTopic(partitions: TopicPartition[]): { topic: string; partitionIds: number[] }[] {
  const byTopic = new Map<string, number[]>();
  for (const tp of partitions) {
    const ids = byTopic.get(tp.topic);
    if (ids === undefined) byTopic.set(tp.topic, [tp.partition]);
    else ids.push(tp.partition);
  }
  return [...byTopic.keys()]
    .sort()
    .map((topic) => ({ topic, partitionIds: [...new Set(byTopic.get(topic))].sort((a, b) => a - b) }));
}

/**
 * Parses one record of `__transaction_state`. Throws DecodeError on a missing key, bytes that do
 * not parse, an unknown value version or an unknown state id.
 */
export function decodeTransactionLogRecord(key: Buffer | null, value: Buffer | null): TransactionLogRecord {
  if (key === null) throw new DecodeError("__transaction_state key", 0, "a record without a key");
  const r = new Reader(key);
  const keyVersion = r.readInt16("__transaction_state key version");
  if (keyVersion < TransactionLogKey.minVersion || keyVersion > TransactionLogKey.maxVersion) {
    return { type: "unknown", keyVersion };
  }
  const k = TransactionLogKey.decode(r, keyVersion);
  return {
    type: "transaction",
    transactionalId: k.transactionalId,
    value: value === null ? null : decodeTransactionLogValue(value),
  };
}

function decodeTransactionLogValue(bytes: Buffer): TransactionLogRecordValue {
  const r: Reader = new Reader(bytes);
  const field = "TransactionLogValue version";
  const version = r.readInt16(field);
  if (version < TransactionLogValue.minVersion || version > TransactionLogValue.maxVersion) {
    r.fail(field, `unknown version ${version} (this broker reads 0-${TransactionLogValue.maxVersion})`);
  }
  const v = TransactionLogValue.decode(r, version);
  const state = transactionStateFromId(v.transactionStatus);
  if (state === undefined) r.fail("TransactionLogValue.TransactionStatus", `unknown state id ${v.transactionStatus}`);
  const partitions: TopicPartition[] = [];
  // Kafka ignores the partitions of an Empty transaction.
  if (state !== "Empty" && v.transactionPartitions !== null) {
    for (const t of v.transactionPartitions)
      for (const p of t.partitionIds) partitions.push({ topic: t.topic, partition: p });
  }
  return {
    producerId: v.producerId,
    previousProducerId: v.previousProducerId,
    nextProducerId: v.nextProducerId,
    producerEpoch: v.producerEpoch,
    transactionTimeoutMs: v.transactionTimeoutMs,
    state,
    partitions,
    lastUpdateTimestampMs: v.transactionLastUpdateTimestampMs,
    startTimestampMs: v.transactionStartTimestampMs,
    clientTransactionVersion: v.clientTransactionVersion,
  };
}

/**
 * The `__transaction_state` partition that holds a transactional id: Kafka's
 * `Utils.abs(transactionalId.hashCode) % transaction.state.log.num.partitions`, the same hash as
 * groups use for `__consumer_offsets`.
 */
export function transactionStatePartitionFor(transactionalId: string, numPartitions: number): number {
  return consumerOffsetsPartitionFor(transactionalId, numPartitions);
}
