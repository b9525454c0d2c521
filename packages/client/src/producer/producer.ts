/**
 * The producer: `send` picks a partition (partitioner.ts), appends to the accumulator
 * (accumulator.ts), and the sender (sender.ts) ships batches; idempotence and transactions live in
 * transaction-manager.ts. Defaults follow Kafka's Java producer since 3.0: acks all, idempotent,
 * at most 5 batches in flight per partition, retries until deliveryTimeoutMs.
 */
import { ErrorCode, isRetriable, KafkaError, type RecordHeader, type RecordInput } from "@samsa/protocol";
import { backoffMs, Cluster, isRetriableError, METADATA_MAX_AGE_MS } from "../cluster/cluster.js";
import { RecordAccumulator } from "./accumulator.js";
import { defaultPartition, StickyPartitioner } from "./partitioner.js";
import { Sender } from "./sender.js";
import { TransactionManager } from "./transaction-manager.js";
import type { ProducerOptions, ProducerRecord, RecordMetadata } from "./types.js";

export type { CompressionName, ProducerOptions, ProducerRecord, RecordMetadata } from "./types.js";

export const DEFAULT_LINGER_MS = 5; // linger.ms (Kafka 4 default)
export const DEFAULT_BATCH_BYTES = 16_384; // batch.size
export const DEFAULT_DELIVERY_TIMEOUT_MS = 120_000; // delivery.timeout.ms
export const DEFAULT_TRANSACTION_TIMEOUT_MS = 60_000; // transaction.timeout.ms
/** Kafka refuses more with idempotence: the broker keeps the last 5 batches' sequences per producer. */
export const MAX_IN_FLIGHT_WITH_IDEMPOTENCE = 5;

/**
 * A Kafka producer.
 *
 * @example
 * const producer = new Producer({ brokers: ["localhost:9092"], compression: "zstd" });
 * await producer.connect();
 * const { partition, offset } = await producer.send("orders", { key: "user-1", value: "{...}" });
 * await producer.close();
 */
export class Producer {
  private readonly cluster: Cluster;
  private readonly accumulator: RecordAccumulator;
  private readonly sender: Sender;
  private readonly txn: TransactionManager;
  private readonly sticky: StickyPartitioner;
  /** Partition count per topic and when it was learnt; reloaded after METADATA_MAX_AGE_MS (new partitions). */
  private readonly partitionCounts = new Map<string, { count: number; atMs: number }>();
  /** Every record not yet settled: flush waits for these. */
  private readonly pending = new Set<Promise<RecordMetadata>>();
  private readonly options: ProducerOptions;
  private readonly deliveryTimeoutMs: number;
  private readonly idempotent: boolean;
  private connected: Promise<void> | null = null;
  private closed = false;

  constructor(options: ProducerOptions = {}) {
    this.options = options;
    this.cluster = new Cluster(options);
    const acks = options.acks ?? -1;
    if (acks !== 0 && acks !== 1 && acks !== -1) throw new RangeError(`acks must be 0, 1 or -1, got ${String(acks)}`);
    const transactionalId = options.transactionalId ?? null;
    // As Kafka 3.2+: idempotence is on by default but quietly off when acks says otherwise, unless asked for.
    if (options.idempotent === true && acks !== -1) throw new RangeError("idempotent: true needs acks -1 (all)");
    this.idempotent = options.idempotent ?? acks === -1;
    if (transactionalId !== null && !this.idempotent)
      throw new RangeError("a transactionalId needs idempotence (acks -1)");
    const maxInFlight = options.maxInFlightPerPartition ?? MAX_IN_FLIGHT_WITH_IDEMPOTENCE;
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new RangeError(`maxInFlightPerPartition must be >= 1`);
    if (this.idempotent && maxInFlight > MAX_IN_FLIGHT_WITH_IDEMPOTENCE) {
      throw new RangeError(`maxInFlightPerPartition must be <= ${MAX_IN_FLIGHT_WITH_IDEMPOTENCE} with idempotence`);
    }
    const batchBytes = options.batchBytes ?? DEFAULT_BATCH_BYTES;
    this.deliveryTimeoutMs = options.deliveryTimeoutMs ?? DEFAULT_DELIVERY_TIMEOUT_MS;
    const retry = this.cluster.options.retry;
    const backoff = (attempt: number) => backoffMs(attempt - 1, retry.initialBackoffMs, retry.maxBackoffMs);
    this.accumulator = new RecordAccumulator({
      batchBytes,
      lingerMs: options.lingerMs ?? DEFAULT_LINGER_MS,
      maxInFlightPerPartition: maxInFlight,
      idempotent: this.idempotent,
    });
    this.txn = new TransactionManager(this.cluster, {
      transactionalId,
      transactionTimeoutMs: options.transactionTimeoutMs ?? DEFAULT_TRANSACTION_TIMEOUT_MS,
      requestDeadlineMs: this.deliveryTimeoutMs,
      backoffMs: backoff,
    });
    this.sender = new Sender(this.cluster, this.accumulator, this.txn, {
      acks,
      idempotent: this.idempotent,
      transactionalId,
      compression: options.compression ?? "none",
      requestTimeoutMs: this.cluster.options.requestTimeoutMs,
      deliveryTimeoutMs: this.deliveryTimeoutMs,
      // Kafka's producer retries until delivery.timeout.ms; an explicit retry.retries caps it.
      maxAttempts: options.retry?.retries !== undefined ? options.retry.retries + 1 : Number.POSITIVE_INFINITY,
      backoffMs: backoff,
      clock: Date.now,
    });
    this.sticky = new StickyPartitioner(batchBytes);
  }

  /**
   * Connects to the cluster (bootstrap and first metadata).
   *
   * @example
   * await producer.connect();
   */
  connect(): Promise<void> {
    this.connected ??= this.cluster.connect().catch((err: unknown) => {
      this.connected = null;
      throw err;
    });
    return this.connected;
  }

  /**
   * Sends one record; resolves once the broker acknowledged it (per `acks`) with its partition and offset.
   *
   * @example
   * const md = await producer.send("orders", { key: "user-1", value: JSON.stringify(order) });
   * console.log(md.partition, md.offset);
   */
  async send(topic: string, record: ProducerRecord): Promise<RecordMetadata> {
    const [md] = await this.sendBatch(topic, [record]);
    return md!;
  }

  /**
   * Sends records of one topic; they are batched with everything else in flight. Resolves in record order.
   *
   * @example
   * await producer.sendBatch("events", [{ value: "a" }, { value: "b" }]);
   */
  async sendBatch(topic: string, records: ProducerRecord[]): Promise<RecordMetadata[]> {
    if (this.closed) throw new Error("the producer is closed");
    if (this.sender.fatalError !== null) throw this.sender.fatalError;
    if (this.txn.isTransactional && this.txn.state !== "inTransaction") {
      throw new Error(`send with a transactionalId needs beginTransaction() first (state ${this.txn.state})`);
    }
    await this.connect();
    const now = Date.now();
    const known = this.partitionCounts.get(topic);
    const partitionCount =
      known !== undefined && now - known.atMs < METADATA_MAX_AGE_MS ? known.count : await this.loadTopic(topic);
    // Partitions first, so a bad record fails the call before anything of it is queued.
    const inputs = records.map((r) => toRecordInput(r, now));
    const partitions = records.map((r, i) => this.choosePartition(topic, r, inputs[i]!, partitionCount));
    let wake = false;
    const results: Promise<RecordMetadata>[] = [];
    for (let i = 0; i < records.length; i++) {
      const input = inputs[i]!;
      const partition = partitions[i]!;
      const promise = new Promise<RecordMetadata>((resolve, reject) => {
        if (this.accumulator.append(topic, partition, input, { resolve, reject }, now)) wake = true;
      });
      this.pending.add(promise);
      const forget = () => this.pending.delete(promise);
      promise.then(forget, forget);
      results.push(promise);
    }
    if (wake) this.sender.wake();
    else this.sender.schedule(this.options.lingerMs ?? DEFAULT_LINGER_MS);
    return Promise.all(results);
  }

  private choosePartition(topic: string, r: ProducerRecord, input: RecordInput, count: number): number {
    if (r.partition !== undefined) {
      if (!Number.isInteger(r.partition) || r.partition < 0 || r.partition >= count) {
        throw new KafkaError(
          ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
          `${topic} has no partition ${r.partition} (it has ${count})`,
        );
      }
      return r.partition;
    }
    const key = input.key ?? null;
    if (this.options.partitioner !== undefined) return this.options.partitioner(topic, key, count);
    if (key !== null) return defaultPartition(key, count);
    return this.sticky.partition(topic, count, (input.value?.length ?? 0) + 21);
  }

  /** Partition count and leaders of a topic, waiting while it is being created (auto-creation) or has no leader yet. */
  private async loadTopic(topic: string): Promise<number> {
    const deadline = Date.now() + this.deliveryTimeoutMs;
    const retry = this.cluster.options.retry;
    for (let attempt = 0; ; attempt++) {
      let code: number;
      try {
        const md = await this.cluster.metadata([topic], { allowAutoTopicCreation: true, refresh: attempt > 0 });
        const info = md.topics.get(topic);
        code = info?.errorCode ?? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
        if (info !== undefined && code === ErrorCode.NONE && info.partitions.length > 0) {
          const leaders: number[] = [];
          for (const p of info.partitions) leaders[p.partition] = p.errorCode === ErrorCode.NONE ? p.leader : -1;
          this.sender.setLeaders(topic, leaders);
          this.partitionCounts.set(topic, { count: info.partitions.length, atMs: Date.now() });
          return info.partitions.length;
        }
        if (code === ErrorCode.NONE) code = ErrorCode.LEADER_NOT_AVAILABLE;
      } catch (err) {
        if (Date.now() >= deadline || !isRetriableError(err)) throw err;
        code = ErrorCode.LEADER_NOT_AVAILABLE;
      }
      if (!isRetriable(code) || Date.now() >= deadline)
        throw new KafkaError(code, `no usable metadata for topic ${topic}`);
      await new Promise((r) => setTimeout(r, backoffMs(attempt, retry.initialBackoffMs, retry.maxBackoffMs)));
    }
  }

  /**
   * Sends everything queued now, ignoring lingerMs, and waits until each of those records is
   * acknowledged or failed (failures are reported through their `send` promises).
   *
   * @example
   * for (const r of records) void producer.send("t", r);
   * await producer.flush();
   */
  async flush(): Promise<void> {
    const waiting = [...this.pending];
    if (waiting.length === 0) return;
    this.accumulator.beginFlush();
    try {
      this.sender.wake();
      await Promise.allSettled(waiting);
    } finally {
      this.accumulator.endFlush();
    }
  }

  /**
   * Flushes, then closes the connections. Sends after close fail.
   *
   * @example
   * await producer.close();
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flush();
    this.sender.close();
    this.accumulator.abortUnsent(new Error("the producer was closed"));
    await this.cluster.close();
  }

  /**
   * Gets the producer id for the transactionalId and fences any older producer using it.
   *
   * @example
   * const producer = new Producer({ transactionalId: "orders-tx" });
   * await producer.connect();
   * await producer.initTransactions();
   */
  async initTransactions(): Promise<void> {
    await this.connect();
    await this.txn.initTransactions();
  }

  /**
   * Starts a transaction; sends until commit or abort belong to it.
   *
   * @example
   * producer.beginTransaction();
   */
  beginTransaction(): void {
    this.txn.beginTransaction();
  }

  /**
   * Adds a consumer group's offsets to the transaction (consume-transform-produce).
   *
   * @example
   * await producer.sendOffsets("my-group", [{ topic: "in", partition: 0, offset: 42n }], consumer.groupMetadata() ?? undefined);
   */
  async sendOffsets(
    groupId: string,
    offsets: { topic: string; partition: number; offset: bigint }[],
    consumerGroupMetadata?: { generationId: number; memberId: string; groupInstanceId: string | null },
  ): Promise<void> {
    await this.txn.sendOffsets(groupId, offsets, consumerGroupMetadata);
  }

  /**
   * Flushes and commits the transaction. Throws if a send in it failed (then abort).
   *
   * @example
   * producer.beginTransaction();
   * await producer.send("out", { value: "x" });
   * await producer.commitTransaction();
   */
  async commitTransaction(): Promise<void> {
    await this.flush();
    await this.txn.endTransaction(true);
  }

  /**
   * Waits for what was sent, then aborts the transaction: read_committed consumers never see it.
   *
   * @example
   * await producer.abortTransaction();
   */
  async abortTransaction(): Promise<void> {
    await this.flush();
    await this.txn.endTransaction(false);
  }
}

function toBuffer(v: Buffer | string): Buffer {
  return typeof v === "string" ? Buffer.from(v, "utf8") : v;
}

function toRecordInput(r: ProducerRecord, nowMs: number): RecordInput {
  let headers: RecordHeader[] | undefined;
  if (r.headers !== undefined) {
    if (Array.isArray(r.headers)) {
      headers = r.headers.map((h) => ({ key: h.key, value: h.value === null ? null : toBuffer(h.value) }));
    } else {
      headers = Object.entries(r.headers).map(([k, v]) => ({ key: k, value: toBuffer(v) }));
    }
  }
  return {
    key: r.key === undefined || r.key === null ? null : toBuffer(r.key),
    value: r.value === null ? null : toBuffer(r.value),
    headers,
    timestamp: BigInt(r.timestampMs ?? nowMs),
  };
}
