/**
 * The producer: `send` picks a partition (partitioner.ts), appends to the accumulator
 * (accumulator.ts), and the sender (sender.ts) ships batches; idempotence and transactions live in
 * transaction-manager.ts. Defaults follow Kafka's Java producer since 3.0: acks all, idempotent,
 * at most 5 batches in flight per partition, retries until deliveryTimeoutMs.
 */
import { ErrorCode, isRetriable, KafkaError, type RecordHeader, type RecordInput } from "@samsa/protocol";
import { backoffMs, Cluster, isRetriableError, METADATA_MAX_AGE_MS } from "../cluster/cluster.js";
import { type ProducerBatch, RecordAccumulator, type RecordSink, recordMetadata } from "./accumulator.js";
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

/** A send call whose records are not in the accumulator yet: its topic's metadata is loading. */
interface WaitingSend {
  readonly records: ProducerRecord[];
  readonly inputs: RecordInput[];
  readonly call: SendCall;
}

/**
 * One send call's records, waited for as a whole: batches report runs of its records, and the
 * call's single promise resolves once every record is acknowledged, or rejects on the first failure
 * (as Promise.all over per-record promises did). `finished` (for flush) waits until every record
 * of the call is acknowledged or failed, even after such a rejection.
 */
class SendCall implements RecordSink {
  readonly promise: Promise<RecordMetadata[]>;
  private readonly results: RecordMetadata[];
  /** Records neither acknowledged nor failed yet. */
  private unsettled: number;
  private rejected = false;
  private resolve!: (mds: RecordMetadata[]) => void;
  private reject!: (err: Error) => void;
  private finishedPromise: Promise<void> | null = null;
  private onFinished: (() => void) | null = null;

  constructor(
    count: number,
    private readonly whenFinished: (call: SendCall) => void,
  ) {
    this.promise = new Promise<RecordMetadata[]>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.results = new Array<RecordMetadata>(count);
    this.unsettled = count;
    if (count === 0) this.resolve(this.results);
  }

  get isFinished(): boolean {
    return this.unsettled === 0;
  }

  /** Resolves once every record of the call is acknowledged or failed. */
  finished(): Promise<void> {
    if (this.unsettled === 0) return Promise.resolve();
    this.finishedPromise ??= new Promise<void>((resolve) => {
      this.onFinished = resolve;
    });
    return this.finishedPromise;
  }

  done(
    batch: ProducerBatch,
    batchIndex: number,
    from: number,
    count: number,
    baseOffset: bigint,
    logAppendTimeMs: bigint,
  ): void {
    if (!this.rejected) {
      for (let k = 0; k < count; k++)
        this.results[from + k] = recordMetadata(batch, batchIndex + k, baseOffset, logAppendTimeMs);
    }
    this.settle(count);
    if (this.unsettled === 0 && !this.rejected) this.resolve(this.results);
  }

  fail(err: Error, count: number): void {
    if (!this.rejected) {
      this.rejected = true;
      this.reject(err);
    }
    this.settle(count);
  }

  private settle(count: number): void {
    this.unsettled -= count;
    if (this.unsettled === 0) {
      this.whenFinished(this);
      this.onFinished?.();
    }
  }
}

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
  /** Partition count per topic and when it was learnt; reloaded in the background after METADATA_MAX_AGE_MS (new partitions). */
  private readonly partitionCounts = new Map<string, { count: number; atMs: number }>();
  /** Every send call with records not yet settled, appended or still waiting for metadata: flush waits for these. */
  private readonly pending = new Set<SendCall>();
  private readonly forgetCall = (call: SendCall): void => {
    this.pending.delete(call);
  };
  /**
   * Per topic, the send calls waiting for the topic's first metadata (or for the connection), in
   * call order. While a topic has an entry every new send of it queues behind; they are appended
   * together, in order, once the load is done, so records reach each partition in call order.
   */
  private readonly waiting = new Map<string, WaitingSend[]>();
  /** Topics whose stale partition count is being reloaded in the background. */
  private readonly reloading = new Set<string>();
  /** Set once connect() has resolved: sends may then append synchronously. */
  private ready = false;
  private readonly options: ProducerOptions;
  private readonly deliveryTimeoutMs: number;
  private readonly idempotent: boolean;
  private connected: Promise<void> | null = null;
  private closed = false;
  /** Set by close() once flushed: metadata loads still retrying (background reloads) give up. */
  private stopped = false;

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
    this.connected ??= this.cluster.connect().then(
      () => {
        this.ready = true;
      },
      (err: unknown) => {
        this.connected = null;
        throw err;
      },
    );
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
   * Records of calls made one after the other (awaited or not) reach each partition in call order.
   *
   * @example
   * await producer.sendBatch("events", [{ value: "a" }, { value: "b" }]);
   */
  async sendBatch(topic: string, records: ProducerRecord[]): Promise<RecordMetadata[]> {
    // No await before the append (or the queueing behind a metadata load): call order is append order.
    if (this.closed) throw new Error("the producer is closed");
    if (this.sender.fatalError !== null) throw this.sender.fatalError;
    if (this.txn.isTransactional && this.txn.state !== "inTransaction") {
      throw new Error(`send with a transactionalId needs beginTransaction() first (state ${this.txn.state})`);
    }
    const now = Date.now();
    const nowTs = BigInt(now);
    const inputs = new Array<RecordInput>(records.length);
    for (let i = 0; i < records.length; i++) inputs[i] = toRecordInput(records[i]!, nowTs);
    const call = new SendCall(records.length, this.forgetCall);
    if (!call.isFinished) this.pending.add(call);
    const send: WaitingSend = { records, inputs, call };
    const queue = this.waiting.get(topic);
    const count = this.ready && queue === undefined ? this.cachedPartitionCount(topic, now) : undefined;
    if (count !== undefined) this.append(topic, send, count);
    else if (queue !== undefined) queue.push(send);
    else {
      this.waiting.set(topic, [send]);
      void this.appendWhenLoaded(topic);
    }
    return call.promise;
  }

  /**
   * The topic's known partition count, even if older than METADATA_MAX_AGE_MS: then it is reloaded in
   * the background (new partitions) and sends go on meanwhile, as Kafka's producer does.
   */
  private cachedPartitionCount(topic: string, now: number): number | undefined {
    const known = this.partitionCounts.get(topic);
    if (known === undefined) return undefined;
    if (now - known.atMs >= METADATA_MAX_AGE_MS && !this.reloading.has(topic)) {
      this.reloading.add(topic);
      this.loadTopic(topic)
        .catch(() => undefined) // the old count stays; the sender refreshes leaders on its own
        .finally(() => this.reloading.delete(topic));
    }
    return known.count;
  }

  /**
   * Connects and loads the topic's metadata, then appends every send queued for it, in call order and
   * without yielding, so no later send can pass them. A failed load fails the sends waiting for it.
   */
  private async appendWhenLoaded(topic: string): Promise<void> {
    let count: number | undefined;
    let error: unknown;
    try {
      await this.connect();
      count = this.cachedPartitionCount(topic, Date.now()) ?? (await this.loadTopic(topic));
    } catch (err) {
      error = err;
    }
    const queue = this.waiting.get(topic) ?? [];
    this.waiting.delete(topic);
    for (const send of queue) {
      if (count === undefined) send.call.fail(error as Error, send.records.length);
      else this.append(topic, send, count);
    }
  }

  /** Puts one call's records into the accumulator, or fails them all if one cannot be placed. */
  private append(topic: string, send: WaitingSend, partitionCount: number): void {
    const { records, inputs, call } = send;
    const n = records.length;
    const partitions = new Array<number>(n);
    try {
      // Partitions first, so a bad record fails the call before anything of it is queued.
      if (this.sender.fatalError !== null) throw this.sender.fatalError;
      for (let i = 0; i < n; i++) partitions[i] = this.choosePartition(topic, records[i]!, inputs[i]!, partitionCount);
    } catch (err) {
      call.fail(err as Error, n);
      return;
    }
    const now = Date.now();
    let wake = false;
    // Runs of records bound for the same partition go in together: one partition lookup per run.
    for (let start = 0; start < n; ) {
      const partition = partitions[start]!;
      let end = start + 1;
      while (end < n && partitions[end] === partition) end++;
      if (this.accumulator.appendRun(topic, partition, inputs, start, end, call, start, now)) wake = true;
      start = end;
    }
    if (wake) this.sender.wake();
    else this.sender.schedule(this.options.lingerMs ?? DEFAULT_LINGER_MS);
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
        if (Date.now() >= deadline || !isRetriableError(err) || this.stopped) throw err;
        code = ErrorCode.LEADER_NOT_AVAILABLE;
      }
      if (!isRetriable(code) || Date.now() >= deadline || this.stopped)
        throw new KafkaError(code, `no usable metadata for topic ${topic}`);
      await new Promise((r) => setTimeout(r, backoffMs(attempt, retry.initialBackoffMs, retry.maxBackoffMs)));
    }
  }

  /**
   * Sends everything queued now, ignoring lingerMs, and waits until each of those records is
   * acknowledged or failed (failures are reported through their `send` promises). Records of sends
   * still waiting for their topic's metadata are included: they go out once it is loaded.
   *
   * @example
   * for (const r of records) void producer.send("t", r);
   * await producer.flush();
   */
  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const waiting = Array.from(this.pending, (call) => call.finished());
    this.accumulator.beginFlush();
    try {
      this.sender.wake();
      await Promise.all(waiting);
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
    // Sends still waiting for their topic's metadata are in `pending`: flush waits for them too.
    await this.flush();
    this.stopped = true;
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

function toRecordInput(r: ProducerRecord, nowTs: bigint): RecordInput {
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
    timestamp: r.timestampMs === undefined ? nowTs : BigInt(r.timestampMs),
  };
}
