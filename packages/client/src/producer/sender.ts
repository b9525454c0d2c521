/**
 * The sender (Kafka's Sender): drains ready batches from the accumulator, groups them by leader
 * and sends one Produce request per broker carrying every ready partition batch for it, then
 * settles each batch from its partition's answer:
 *
 * - NONE (or DUPLICATE_SEQUENCE_NUMBER: the broker already had it) → the records' offsets;
 * - retriable codes and broken connections → the batch is retried with the same sequence after a
 *   backoff, once everything of its partition in flight has been answered (ordering kept);
 *   NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION and friends also refresh the topic's metadata;
 * - OUT_OF_ORDER_SEQUENCE_NUMBER for a batch that is not the next one the broker expects is the
 *   echo of an earlier failure: retried like a retriable code. For the batch the broker should
 *   have expected (it lost our state: unclean restart, truncation) and for UNKNOWN_PRODUCER_ID,
 *   an idempotent producer bumps its epoch and resends every unacknowledged batch in order with
 *   sequences from 0. Kafka fails the head batch with OutOfOrderSequenceException instead; we
 *   resend it, since the broker refused it (no duplicate) and failing it would lose it.
 *   In a transaction these codes fail the batch and the transaction must be aborted, as in Kafka;
 * - anything else fails the batch's records with a KafkaError.
 */
import {
  CompressionType,
  ErrorCode,
  encodeRecordBatchAsync,
  isRetriable,
  KafkaError,
  ProduceApi,
  type ProduceResponse,
} from "@samsa/protocol";
import { type Cluster, isRetriableError } from "../cluster/cluster.js";
import { ConnectionError, TimeoutError } from "../errors.js";
import type { PartitionState, ProducerBatch, RecordAccumulator } from "./accumulator.js";
import type { TransactionManager } from "./transaction-manager.js";
import type { CompressionName } from "./types.js";

/** Produce v13 addresses topics by id; we send names (v3-v12 carry record batches v2 by name). */
const MAX_PRODUCE_VERSION = 12;
const MIN_PRODUCE_VERSION = 3;

/** Codes after which the topic's leaders are looked up again (Kafka's Sender does the same). */
const REFRESH_METADATA_CODES: ReadonlySet<number> = new Set([
  ErrorCode.NOT_LEADER_OR_FOLLOWER,
  ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
  ErrorCode.LEADER_NOT_AVAILABLE,
  ErrorCode.KAFKA_STORAGE_ERROR,
  ErrorCode.FENCED_LEADER_EPOCH,
  ErrorCode.UNKNOWN_LEADER_EPOCH,
]);

const CODECS: Record<CompressionName, CompressionType> = {
  none: CompressionType.None,
  gzip: CompressionType.Gzip,
  snappy: CompressionType.Snappy,
  lz4: CompressionType.Lz4,
  zstd: CompressionType.Zstd,
};

export interface SenderOptions {
  acks: 0 | 1 | -1;
  idempotent: boolean;
  transactionalId: string | null;
  compression: CompressionName;
  requestTimeoutMs: number;
  deliveryTimeoutMs: number;
  /** Attempts allowed per batch; Infinity = until deliveryTimeoutMs. */
  maxAttempts: number;
  backoffMs: (attempt: number) => number;
  clock: () => number;
}

export class Sender {
  /** topic → leader node id per partition (index); absent or stale topics are looked up before draining. */
  private readonly leaders = new Map<string, number[]>();
  private readonly staleTopics = new Set<string>();
  private running = false;
  private rerun = false;
  private timer: NodeJS.Timeout | null = null;
  private timerDueMs = Number.POSITIVE_INFINITY;
  private closed = false;
  /** Fatal failure of the producer (fenced, unsupported broker ...); every later send fails with it. */
  fatalError: Error | null = null;

  constructor(
    private readonly cluster: Cluster,
    private readonly accumulator: RecordAccumulator,
    private readonly txn: TransactionManager,
    private readonly options: SenderOptions,
  ) {}

  /** Records what a metadata response says about a topic's leaders. */
  setLeaders(topic: string, leaders: number[]): void {
    this.leaders.set(topic, leaders);
    this.staleTopics.delete(topic);
  }

  /** Runs the send loop now (a batch filled, a response freed an in-flight slot, flush). */
  wake(): void {
    this.schedule(0);
  }

  /** Makes sure the loop runs within `delayMs`. */
  schedule(delayMs: number): void {
    if (this.closed) return;
    const due = this.options.clock() + delayMs;
    if (this.timer !== null && this.timerDueMs <= due) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerDueMs = due;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.timerDueMs = Number.POSITIVE_INFINITY;
        void this.run();
      },
      Math.max(0, delayMs),
    );
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private async run(): Promise<void> {
    if (this.running) {
      this.rerun = true;
      return;
    }
    this.running = true;
    let drained = 0;
    try {
      do {
        this.rerun = false;
        drained = await this.runOnce();
      } while (this.rerun && !this.closed);
    } catch (err) {
      // Setup that kept failing until its deadline (no producer id: the cluster was unreachable)
      // fails what is queued; anything else is a bug or fatal: the producer stops sending.
      this.accumulator.abortUnsent(err as Error);
      if (!isRetriableError(err)) this.fatalError = err as Error;
    } finally {
      this.running = false;
    }
    if (!this.closed && this.fatalError === null) {
      const delay = this.accumulator.nextReadyDelayMs(this.options.clock());
      // Ready but nothing went out: blocked on in-flight limits (a response wakes us), on a leader
      // or on a new epoch; look again after a backoff rather than spin.
      if (Number.isFinite(delay))
        this.schedule(delay === 0 && drained === 0 ? this.options.backoffMs(1) : Math.max(1, delay));
    }
  }

  /** One pass; returns how many batches went out. */
  private async runOnce(): Promise<number> {
    const now = this.options.clock();
    const expired = this.accumulator.expire(
      now,
      this.options.deliveryTimeoutMs,
      (b) =>
        new TimeoutError(
          `${b.recordCount} record(s) for ${b.topic}-${b.partition} expired: not acknowledged within deliveryTimeoutMs ${this.options.deliveryTimeoutMs}`,
        ),
    );
    if (expired.length > 0) this.onSequencedBatchLost();
    if (!this.accumulator.hasPending) return 0;

    if (this.options.idempotent && !this.txn.hasProducerId) {
      if (this.txn.isTransactional) throw new Error("call initTransactions() before sending with a transactionalId");
      await this.txn.initIdempotent();
    }
    if (this.txn.bumpRequested) {
      // Everything in flight under the old epoch must be answered before sequences restart at 0.
      if (this.accumulator.inFlightCount > 0) return 0;
      await this.txn.bumpEpoch();
      this.accumulator.resetSequences();
    }

    const queued = this.accumulator.partitionsWithQueuedRecords();
    await this.refreshLeaders(queued);
    if (this.txn.isTransactional) {
      const toAdd = queued.filter((s) => !this.txn.partitionsInTransaction.has(key(s)));
      if (toAdd.length > 0 && (this.txn.state === "inTransaction" || this.txn.state === "committing")) {
        try {
          await this.txn.addPartitions(toAdd.map((s) => ({ topic: s.topic, partition: s.partition })));
        } catch (err) {
          this.txn.setAbortableError(err as Error);
          for (const s of toAdd) for (const b of s.queue.splice(0)) b.fail(err as Error);
        }
      }
    }

    const batches = this.accumulator.drain(this.options.clock(), {
      producerId: this.txn.producerId,
      producerEpoch: this.txn.producerEpoch,
      canDrain: (s) =>
        this.leaderOf(s) >= 0 && (!this.txn.isTransactional || this.txn.partitionsInTransaction.has(key(s))),
    });
    const byLeader = new Map<number, ProducerBatch[]>();
    for (const b of batches) {
      const leader = this.leaderOf(this.accumulator.state(b.topic, b.partition));
      let list = byLeader.get(leader);
      if (list === undefined) byLeader.set(leader, (list = []));
      list.push(b);
    }
    for (const [nodeId, list] of byLeader) await this.sendProduce(nodeId, list);
    return batches.length;
  }

  private leaderOf(state: PartitionState): number {
    return this.leaders.get(state.topic)?.[state.partition] ?? -1;
  }

  private async refreshLeaders(states: PartitionState[]): Promise<void> {
    const topics = new Set<string>();
    for (const s of states) if (this.staleTopics.has(s.topic) || this.leaderOf(s) < 0) topics.add(s.topic);
    if (topics.size === 0) return;
    try {
      const md = await this.cluster.refreshMetadata([...topics]);
      for (const t of topics) {
        const info = md.topics.get(t);
        if (info === undefined || info.errorCode !== ErrorCode.NONE) continue;
        const leaders: number[] = [];
        for (const p of info.partitions) leaders[p.partition] = p.errorCode === ErrorCode.NONE ? p.leader : -1;
        this.setLeaders(t, leaders);
      }
    } catch {
      // No broker reachable right now: the batches wait; the loop runs again after a backoff.
      this.schedule(this.options.backoffMs(1));
    }
  }

  private async encode(batch: ProducerBatch): Promise<Buffer> {
    if (batch.encoded === null) {
      batch.encoded = await encodeRecordBatchAsync({
        records: batch.records,
        compression: CODECS[this.options.compression],
        producerId: batch.producerId,
        producerEpoch: batch.producerEpoch,
        baseSequence: batch.baseSequence,
        isTransactional: this.txn.isTransactional,
      });
    }
    return batch.encoded;
  }

  private async sendProduce(nodeId: number, batches: ProducerBatch[]): Promise<void> {
    let request: {
      acks: number;
      timeoutMs: number;
      transactionalId: string | null;
      topicData: { name: string; partitionData: { index: number; records: Buffer }[] }[];
    };
    let conn: Awaited<ReturnType<Cluster["connectionTo"]>>;
    let version: number;
    try {
      const topicData = new Map<string, { index: number; records: Buffer }[]>();
      for (const b of batches) {
        const records = await this.encode(b);
        let list = topicData.get(b.topic);
        if (list === undefined) topicData.set(b.topic, (list = []));
        list.push({ index: b.partition, records });
      }
      request = {
        acks: this.options.acks,
        timeoutMs: this.options.requestTimeoutMs,
        transactionalId: this.options.transactionalId,
        topicData: [...topicData].map(([name, partitionData]) => ({ name, partitionData })),
      };
      conn = await this.cluster.connectionTo(nodeId);
      version = conn.versionFor(ProduceApi as never, MAX_PRODUCE_VERSION);
      if (version < MIN_PRODUCE_VERSION) {
        throw new KafkaError(
          ErrorCode.UNSUPPORTED_VERSION,
          `broker ${nodeId} supports Produce only below v3 (no record batches v2)`,
        );
      }
    } catch (err) {
      this.requestFailed(batches, err as Error);
      return;
    }
    if (this.options.acks === 0) {
      conn.sendNoResponse(ProduceApi, request, { version }).then(
        () => {
          for (const b of batches) {
            this.accumulator.acknowledged(b);
            b.complete(-1n, -1n);
          }
          this.wake();
        },
        (err: Error) => this.requestFailed(batches, err),
      );
      return;
    }
    // Not awaited: up to maxInFlightPerPartition requests are pipelined on the connection.
    conn
      .send(ProduceApi, request, { version, timeoutMs: this.options.requestTimeoutMs + 5_000 })
      .then(
        (res) => this.handleResponse(batches, res),
        (err: Error) => this.requestFailed(batches, err),
      )
      .finally(() => this.wake());
  }

  private handleResponse(batches: ProducerBatch[], res: ProduceResponse): void {
    const answers = new Map<string, ProduceResponse["responses"][number]["partitionResponses"][number]>();
    for (const t of res.responses) for (const p of t.partitionResponses) answers.set(`${t.name}\u0000${p.index}`, p);
    for (const b of batches) {
      const p = answers.get(`${b.topic}\u0000${b.partition}`);
      if (p === undefined) {
        this.retryOrFail(
          b,
          new KafkaError(ErrorCode.UNKNOWN_SERVER_ERROR, "the Produce response left the partition out"),
        );
        continue;
      }
      this.settle(b, p.errorCode, p.baseOffset, p.logAppendTimeMs, p.errorMessage);
    }
  }

  private settle(
    b: ProducerBatch,
    code: number,
    baseOffset: bigint,
    logAppendTimeMs: bigint,
    message: string | null,
  ): void {
    if (code === ErrorCode.NONE || code === ErrorCode.DUPLICATE_SEQUENCE_NUMBER) {
      this.accumulator.acknowledged(b);
      b.complete(code === ErrorCode.NONE ? baseOffset : -1n, logAppendTimeMs);
      return;
    }
    const err = new KafkaError(code, message ?? undefined);
    if (REFRESH_METADATA_CODES.has(code)) this.staleTopics.add(b.topic);
    const lostState = code === ErrorCode.UNKNOWN_PRODUCER_ID || code === ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER;
    if (lostState && this.options.idempotent) {
      if (code === ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER && !this.accumulator.isNextExpected(b)) {
        this.retryOrFail(b, err); // an earlier batch of the partition failed: this one follows it
        return;
      }
      if (!this.txn.isTransactional) {
        this.txn.bumpRequested = true;
        this.retryOrFail(b, err);
        return;
      }
    }
    if (isRetriable(code)) {
      this.retryOrFail(b, err);
      return;
    }
    this.accumulator.dropInFlight(b);
    this.failBatch(b, err);
  }

  /** A whole request failed (connection, timeout, encoding): each batch is retried or failed. */
  private requestFailed(batches: ProducerBatch[], err: Error): void {
    const retriable =
      err instanceof ConnectionError || err instanceof TimeoutError || (err instanceof KafkaError && err.retriable);
    for (const b of batches) {
      if (retriable) {
        this.staleTopics.add(b.topic);
        this.retryOrFail(b, err);
      } else {
        this.accumulator.dropInFlight(b);
        this.failBatch(b, err);
      }
    }
  }

  private retryOrFail(b: ProducerBatch, err: Error): void {
    const now = this.options.clock();
    if (this.closed || b.attempts >= this.options.maxAttempts || now - b.createdMs >= this.options.deliveryTimeoutMs) {
      this.accumulator.dropInFlight(b);
      this.failBatch(b, err);
      return;
    }
    this.accumulator.reenqueue(b, now + this.options.backoffMs(b.attempts));
    this.schedule(this.options.backoffMs(b.attempts));
  }

  private failBatch(b: ProducerBatch, err: Error): void {
    b.fail(err);
    if (this.txn.isTransactional) this.txn.setAbortableError(err);
    else if (b.baseSequence >= 0) this.onSequencedBatchLost();
  }

  /** A batch with a sequence will never be acknowledged: its gap must be closed by a new epoch. */
  private onSequencedBatchLost(): void {
    if (this.options.idempotent && !this.txn.isTransactional) this.txn.bumpRequested = true;
  }
}

function key(s: PartitionState): string {
  return `${s.topic}\u0000${s.partition}`;
}
