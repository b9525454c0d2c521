/**
 * The record accumulator (Kafka's RecordAccumulator): records wait in one queue of batches per
 * partition until a batch is full (`batchBytes`) or has waited `lingerMs`, then the sender drains
 * it. With idempotence each partition keeps its sequence bookkeeping here:
 *
 * - a batch gets its base sequence when first drained, `nextSequence` advances by its record count
 *   (wrapping at Int32.MAX as Kafka's DefaultRecordBatch.incrementSequence does);
 * - at most `maxInFlight` batches of a partition are outstanding at once;
 * - a batch that failed with a retriable error goes to the partition's retry queue, kept in
 *   creation (hence sequence) order; retries start only when nothing of the partition is in flight any more, and
 *   then go out in order with the sequences they already had, so the log keeps the send order
 *   (the broker answers a retry of a batch it already wrote with the offset it wrote it at).
 *
 * No clocks or sockets here: every method takes `nowMs`, so tests drive it with a fake clock.
 */
import type { RecordInput } from "@samsa/protocol";
import type { RecordMetadata } from "./types.js";

export const INT32_MAX = 0x7fffffff;

/** Kafka's DefaultRecordBatch.incrementSequence: sequences wrap from Int32.MAX to 0. */
export function incrementSequence(sequence: number, increment: number): number {
  if (sequence > INT32_MAX - increment) return increment - (INT32_MAX - sequence) - 1;
  return sequence + increment;
}

/** Rough bytes a record adds to a batch: its fields plus the varints around them (Kafka estimates the same way). */
export function estimateRecordBytes(record: RecordInput): number {
  let bytes = 21 + (record.key?.length ?? 0) + (record.value?.length ?? 0);
  if (record.headers !== undefined)
    for (const h of record.headers) bytes += 10 + Buffer.byteLength(h.key) + (h.value?.length ?? 0);
  return bytes;
}

/** Empty batch header plus the records' count (Kafka's RECORD_BATCH_OVERHEAD). */
const BATCH_OVERHEAD_BYTES = 61;

export interface RecordCallbacks {
  resolve(metadata: RecordMetadata): void;
  reject(err: Error): void;
}

/**
 * Who waits for a run of records: the producer's send call (one per call, not per record), or a
 * single record's callbacks. `done` gets records [from, from + count) of the sink, which sit at
 * `batchIndex`.. in `batch`; `fail` fails `count` of its records, and may be called more than once
 * (once per batch of the sink).
 */
export interface RecordSink {
  done(
    batch: ProducerBatch,
    batchIndex: number,
    from: number,
    count: number,
    baseOffset: bigint,
    logAppendTimeMs: bigint,
  ): void;
  fail(err: Error, count: number): void;
}

/** A contiguous run of a batch's records that belongs to one sink. */
interface Segment {
  readonly sink: RecordSink;
  /** Index of the run's first record in the sink's own numbering. */
  readonly from: number;
  /** Index of the run's first record in the batch. */
  readonly batchIndex: number;
  count: number;
}

/** One record's metadata, as Kafka reports it: -1 offset without an answer, CreateTime unless LogAppendTime. */
export function recordMetadata(
  batch: ProducerBatch,
  i: number,
  baseOffset: bigint,
  logAppendTimeMs: bigint,
): RecordMetadata {
  const ts = logAppendTimeMs >= 0n ? Number(logAppendTimeMs) : Number(batch.records[i]!.timestamp ?? -1n);
  return {
    topic: batch.topic,
    partition: batch.partition,
    offset: baseOffset < 0n ? -1n : baseOffset + BigInt(i),
    timestampMs: ts,
  };
}

/** Wraps one record's callbacks as a sink (tests and single appends). */
class SingleRecordSink implements RecordSink {
  constructor(private readonly callbacks: RecordCallbacks) {}
  done(
    batch: ProducerBatch,
    batchIndex: number,
    _from: number,
    _count: number,
    baseOffset: bigint,
    logAppendTimeMs: bigint,
  ): void {
    this.callbacks.resolve(recordMetadata(batch, batchIndex, baseOffset, logAppendTimeMs));
  }
  fail(err: Error): void {
    this.callbacks.reject(err);
  }
}

let nextBatchId = 0;

/** One batch of one partition, from the first append until the broker answers for it. */
export class ProducerBatch {
  /** Creation order; retries are re-queued by it (wrap-safe, unlike comparing sequences). */
  readonly id = nextBatchId++;
  readonly records: RecordInput[] = [];
  /** Who waits for which records, in record order. */
  private readonly segments: Segment[] = [];
  sizeBytes = BATCH_OVERHEAD_BYTES;
  /** Set once the batch may take no more records (drained, or a record did not fit). */
  closed = false;
  attempts = 0;
  /** Earliest time a retry may go out. */
  retryAtMs = 0;
  /** -1 until drained with idempotence on. */
  baseSequence = -1;
  producerId = -1n;
  producerEpoch = -1;
  /** The encoded batch for the current (producerId, epoch, sequence), reused by retries. */
  encoded: Buffer | null = null;
  done = false;

  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly createdMs: number,
  ) {}

  get recordCount(): number {
    return this.records.length;
  }

  /** Notes that the batch's last record (just pushed) is record `from` of `sink`. */
  addRecordOf(sink: RecordSink, from: number): void {
    const last = this.segments[this.segments.length - 1];
    if (last !== undefined && last.sink === sink && last.from + last.count === from) last.count++;
    else this.segments.push({ sink, from, batchIndex: this.records.length - 1, count: 1 });
  }

  /** Resolves every record of the batch with its offset (base offset + index). */
  complete(baseOffset: bigint, logAppendTimeMs: bigint): void {
    if (this.done) return;
    this.done = true;
    for (const seg of this.segments)
      seg.sink.done(this, seg.batchIndex, seg.from, seg.count, baseOffset, logAppendTimeMs);
  }

  fail(err: Error): void {
    if (this.done) return;
    this.done = true;
    for (const seg of this.segments) seg.sink.fail(err, seg.count);
  }
}

/** Per-partition state: queued batches, retries, in-flight count, sequences. */
export class PartitionState {
  readonly queue: ProducerBatch[] = [];
  /** Batches to send again, sorted by base sequence (or by creation without idempotence). */
  readonly retries: ProducerBatch[] = [];
  readonly inFlight = new Set<ProducerBatch>();
  nextSequence = 0;
  /** Last sequence the broker acknowledged under the current epoch; -1 when none. */
  lastAckedSequence = -1;

  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {}

  get isEmpty(): boolean {
    return this.queue.length === 0 && this.retries.length === 0 && this.inFlight.size === 0;
  }
}

export interface AccumulatorOptions {
  batchBytes: number;
  lingerMs: number;
  maxInFlightPerPartition: number;
  /** Whether batches get sequences when drained. */
  idempotent: boolean;
}

export interface DrainOptions {
  producerId: bigint;
  producerEpoch: number;
  /** Only partitions for which this returns true are drained (e.g. leader known, added to the transaction). */
  canDrain?: (state: PartitionState) => boolean;
}

export class RecordAccumulator {
  private readonly partitions = new Map<string, PartitionState>();
  /** While > 0 every batch is ready regardless of lingerMs (flush, close). */
  private flushes = 0;

  constructor(private readonly options: AccumulatorOptions) {}

  static key(topic: string, partition: number): string {
    return `${topic}\u0000${partition}`;
  }

  state(topic: string, partition: number): PartitionState {
    const key = RecordAccumulator.key(topic, partition);
    let state = this.partitions.get(key);
    if (state === undefined) {
      state = new PartitionState(topic, partition);
      this.partitions.set(key, state);
    }
    return state;
  }

  allStates(): IterableIterator<PartitionState> {
    return this.partitions.values();
  }

  /**
   * Adds a record to the partition's open batch, or a new one if it would overflow `batchBytes`.
   * Returns whether a batch became full (the sender should wake up now rather than at linger expiry).
   */
  append(topic: string, partition: number, record: RecordInput, callbacks: RecordCallbacks, nowMs: number): boolean {
    return this.appendRun(topic, partition, [record], 0, 1, new SingleRecordSink(callbacks), 0, nowMs);
  }

  /**
   * Adds `records[start..end)` to the partition, in order, as records `from`.. of `sink` (one
   * partition lookup for the whole run). Returns whether a batch became full.
   */
  appendRun(
    topic: string,
    partition: number,
    records: readonly RecordInput[],
    start: number,
    end: number,
    sink: RecordSink,
    from: number,
    nowMs: number,
  ): boolean {
    const state = this.state(topic, partition);
    const batchBytes = this.options.batchBytes;
    let full = false;
    let batch = state.queue[state.queue.length - 1];
    for (let i = start; i < end; i++) {
      const record = records[i]!;
      const bytes = estimateRecordBytes(record);
      if (batch === undefined || batch.closed || batch.sizeBytes + bytes > batchBytes) {
        if (batch !== undefined && !batch.closed) {
          batch.closed = true;
          full = true;
        }
        batch = new ProducerBatch(topic, partition, nowMs);
        state.queue.push(batch);
      }
      batch.records.push(record);
      batch.addRecordOf(sink, from + (i - start));
      batch.sizeBytes += bytes;
      if (batch.sizeBytes >= batchBytes) {
        batch.closed = true;
        full = true;
      }
    }
    return full;
  }

  beginFlush(): void {
    this.flushes++;
  }

  endFlush(): void {
    this.flushes--;
  }

  private queueHeadReady(state: PartitionState, nowMs: number): boolean {
    const head = state.queue[0];
    if (head === undefined) return false;
    return this.flushes > 0 || head.closed || state.queue.length > 1 || nowMs - head.createdMs >= this.options.lingerMs;
  }

  /**
   * Milliseconds until something may become ready (linger expiry, retry backoff); 0 if something is
   * ready now, Infinity if nothing is queued. In-flight limits are not considered here.
   */
  nextReadyDelayMs(nowMs: number): number {
    let delay = Number.POSITIVE_INFINITY;
    for (const state of this.partitions.values()) {
      const retry = state.retries[0];
      if (retry !== undefined) {
        if (state.inFlight.size === 0) delay = Math.min(delay, Math.max(0, retry.retryAtMs - nowMs));
        continue;
      }
      const head = state.queue[0];
      if (head === undefined) continue;
      if (this.queueHeadReady(state, nowMs)) return 0;
      delay = Math.min(delay, head.createdMs + this.options.lingerMs - nowMs);
    }
    return delay;
  }

  /**
   * Takes the batches that may go out now, at most one per partition (Produce v3+ carries exactly
   * one batch per partition), respecting in-flight limits, retry order and backoff. Assigns
   * producer id, epoch and sequences to fresh batches when idempotent.
   */
  drain(nowMs: number, opts: DrainOptions): ProducerBatch[] {
    const out: ProducerBatch[] = [];
    for (const state of this.partitions.values()) {
      const batch = this.drainOne(state, nowMs, opts);
      if (batch !== null) out.push(batch);
    }
    return out;
  }

  private drainOne(state: PartitionState, nowMs: number, opts: DrainOptions): ProducerBatch | null {
    if (state.inFlight.size >= this.options.maxInFlightPerPartition) return null;
    // Ordering: nothing new goes out while earlier batches wait for a retry, and retries wait until
    // every earlier attempt of the partition has been answered.
    const retry = state.retries[0];
    if (retry !== undefined) {
      if (state.inFlight.size > 0 || retry.retryAtMs > nowMs) return null;
      if (opts.canDrain !== undefined && !opts.canDrain(state)) return null;
      state.retries.shift();
      this.stamp(state, retry, opts);
      state.inFlight.add(retry);
      retry.attempts++;
      return retry;
    }
    if (!this.queueHeadReady(state, nowMs)) return null;
    // After an epoch bump, batches of the old epoch must be answered before the new epoch starts at 0.
    for (const b of state.inFlight)
      if (b.producerEpoch !== opts.producerEpoch || b.producerId !== opts.producerId) return null;
    if (opts.canDrain !== undefined && !opts.canDrain(state)) return null;
    const batch = state.queue.shift()!;
    batch.closed = true;
    this.stamp(state, batch, opts);
    state.inFlight.add(batch);
    batch.attempts++;
    return batch;
  }

  /** Gives the batch the current producer id/epoch and, if it has none for them, the next sequence. */
  private stamp(state: PartitionState, batch: ProducerBatch, opts: DrainOptions): void {
    if (!this.options.idempotent) return;
    if (batch.producerId === opts.producerId && batch.producerEpoch === opts.producerEpoch && batch.baseSequence >= 0) {
      return; // a retry keeps its sequence
    }
    batch.producerId = opts.producerId;
    batch.producerEpoch = opts.producerEpoch;
    batch.baseSequence = state.nextSequence;
    batch.encoded = null;
    state.nextSequence = incrementSequence(state.nextSequence, batch.recordCount);
  }

  /** The broker wrote the batch (or already had it). */
  acknowledged(batch: ProducerBatch): void {
    const state = this.state(batch.topic, batch.partition);
    state.inFlight.delete(batch);
    if (batch.baseSequence >= 0) {
      const last = incrementSequence(batch.baseSequence, batch.recordCount - 1);
      state.lastAckedSequence = last;
    }
  }

  /** The attempt failed retriably: back into the retry queue, in sequence order. */
  reenqueue(batch: ProducerBatch, retryAtMs: number): void {
    const state = this.state(batch.topic, batch.partition);
    state.inFlight.delete(batch);
    batch.retryAtMs = retryAtMs;
    const i = state.retries.findIndex((b) => before(batch, b));
    if (i < 0) state.retries.push(batch);
    else state.retries.splice(i, 0, batch);
  }

  /** The attempt failed for good; the batch leaves the accumulator. */
  dropInFlight(batch: ProducerBatch): void {
    this.state(batch.topic, batch.partition).inFlight.delete(batch);
  }

  /** Whether `batch` is the lowest unacknowledged sequence of its partition (Kafka's "first in flight"). */
  isNextExpected(batch: ProducerBatch): boolean {
    const state = this.state(batch.topic, batch.partition);
    return batch.baseSequence === incrementSequence(state.lastAckedSequence, 1);
  }

  /** After an epoch bump: sequences start again at 0 everywhere. */
  resetSequences(): void {
    for (const state of this.partitions.values()) {
      state.nextSequence = 0;
      state.lastAckedSequence = -1;
    }
  }

  /**
   * Fails and removes batches that have waited longer than `deliveryTimeoutMs` and are not in
   * flight. Returns the expired batches that already had a sequence (the caller bumps the epoch:
   * their sequences leave a gap the broker would refuse).
   */
  expire(nowMs: number, deliveryTimeoutMs: number, makeError: (b: ProducerBatch) => Error): ProducerBatch[] {
    const sequenced: ProducerBatch[] = [];
    for (const state of this.partitions.values()) {
      for (const list of [state.retries, state.queue]) {
        while (list.length > 0 && nowMs - list[0]!.createdMs >= deliveryTimeoutMs) {
          const b = list.shift()!;
          if (b.baseSequence >= 0) sequenced.push(b);
          b.fail(makeError(b));
        }
      }
    }
    return sequenced;
  }

  /** Fails everything not in flight (close without draining, fatal errors). */
  abortUnsent(err: Error): void {
    for (const state of this.partitions.values()) {
      for (const b of state.retries.splice(0)) b.fail(err);
      for (const b of state.queue.splice(0)) b.fail(err);
    }
  }

  /** Whether any record is queued, waiting for a retry or in flight. */
  get hasPending(): boolean {
    for (const state of this.partitions.values()) if (!state.isEmpty) return true;
    return false;
  }

  get inFlightCount(): number {
    let n = 0;
    for (const state of this.partitions.values()) n += state.inFlight.size;
    return n;
  }

  /** Partitions with records queued (not in flight): the transaction must include them before they are sent. */
  partitionsWithQueuedRecords(): PartitionState[] {
    return [...this.partitions.values()].filter((s) => s.queue.length > 0 || s.retries.length > 0);
  }
}

/** Retry order is creation order: batches of a partition are drained, and sequenced, in that order. */
function before(a: ProducerBatch, b: ProducerBatch): boolean {
  return a.id < b.id;
}
