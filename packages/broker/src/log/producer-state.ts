/**
 * Producer state of one partition (Kafka's ProducerStateManager, ProducerStateEntry,
 * ProducerAppendInfo, BatchMetadata, CompletedTxn, TxnMetadata): what the idempotent and
 * transactional producers wrote last, so that the leader can reject a zombie (older epoch), a gap
 * in the sequence numbers, and answer a retried batch with the offsets it was first written at.
 * Pure: no files, no timers; time comes from an injected clock or an explicit `nowMs`.
 *
 * Per producer id it keeps the epoch, the last NUM_BATCHES_TO_RETAIN (5, the producer's
 * max.in.flight.requests.per.connection limit for idempotence) batches' sequence and offset
 * ranges, the coordinator epoch of the last transaction marker, and the first offset of the
 * ongoing transaction. Across producers it keeps the ongoing transactions ordered by first offset
 * (the first undecided offset) and the completed transactions whose marker is not yet below the
 * high watermark (together: the first unstable offset, from which the last stable offset follows).
 *
 * How it will be wired (after the current log work lands):
 *
 * - Append (`Log.append`, inside the mutation queue, after offsets are assigned and before the
 *   write): `analyzeAppend(batches, origin)` validates every batch that carries a producer id. A
 *   typed error (OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH, INVALID_TXN_STATE,
 *   TRANSACTION_COORDINATOR_FENCED) fails the append; `{ duplicate }` skips the write and the
 *   produce response carries the duplicate's first/last offset. Otherwise, after the write:
 *   `applyAppend(analysis)`, then for each completed transaction `lastStableOffset(txn)`, append an
 *   aborted one to the segment's `.txnindex` (TransactionIndex), `completeTxn(txn)`; finally
 *   `updateMapEndOffset(lastOffset + 1)`. Nothing changes here when the write fails.
 * - High watermark / log start offset moves: `onHighWatermarkUpdated`, `onLogStartOffsetIncremented`.
 *   The last stable offset is min(high watermark, firstUnstableOffset()).
 * - Snapshots (producer-state-snapshot.ts): taken at the new segment's base offset when a segment
 *   rolls (unsynced, as Kafka) and at the log end offset on clean shutdown; deleted with the
 *   segments they belong to and below the log start offset.
 * - Recovery (`LogLoader`): `ProducerSnapshots.truncateAndReload` loads the newest snapshot at or
 *   below the recovered log end (a corrupt one is deleted and the next older tried), dropping
 *   producers that expired meanwhile; then `replayBatches` over the batches from `mapEndOffset` to
 *   the log end (origin "replication": no sequence checks), then a snapshot at the log end. A
 *   truncation (follower, unclean recovery) takes the same path.
 * - A periodic task (producer.id.expiration.check.interval.ms) calls `removeExpiredProducers`.
 *
 * Sequence numbers are int32 and wrap from Int32.MAX to 0 (Kafka's DefaultRecordBatch helpers).
 * Not reproduced yet: KIP-890's transaction verification guard (VerificationStateEntry); the
 * handler will add it with the transaction coordinator.
 */
import {
  ControlRecordType,
  decodeControlRecordKey,
  decodeEndTxnMarker,
  isControlBatch,
  isTransactional,
  NO_PRODUCER_EPOCH,
  NO_PRODUCER_ID,
  NO_SEQUENCE,
  NO_TIMESTAMP,
} from "@samsa/protocol";
import type { Clock } from "./config.js";
import {
  InvalidProducerEpochError,
  InvalidRecordError,
  InvalidTxnStateError,
  OutOfOrderSequenceError,
  TransactionCoordinatorFencedError,
} from "./errors.js";
import { decodeRecordBatch, readBatchHeader } from "./records.js";

/** Batches remembered per producer: the idempotent producer allows at most 5 in flight. */
export const NUM_BATCHES_TO_RETAIN = 5;
export const INT32_MAX = 2 ** 31 - 1;
/** producer.id.expiration.ms default: one day. */
export const DEFAULT_PRODUCER_ID_EXPIRATION_MS = 86_400_000;
/** transaction.max.timeout.ms default: 15 minutes. */
export const DEFAULT_MAX_TRANSACTION_TIMEOUT_MS = 900_000;
/** Slack past transaction.max.timeout.ms before an open transaction counts as hanging (Kafka's LATE_TRANSACTION_BUFFER_MS). */
export const LATE_TRANSACTION_BUFFER_MS = 5 * 60 * 1000;

// ---- sequences ----

/** `sequence + increment`, wrapping past Int32.MAX to 0 (DefaultRecordBatch.incrementSequence). */
export function incrementSequence(sequence: number, increment: number): number {
  if (sequence > INT32_MAX - increment) return increment - (INT32_MAX - sequence) - 1;
  return sequence + increment;
}

/** `sequence - decrement`, wrapping below 0 to Int32.MAX (DefaultRecordBatch.decrementSequence). */
export function decrementSequence(sequence: number, decrement: number): number {
  if (sequence < decrement) return INT32_MAX - (decrement - sequence) + 1;
  return sequence - decrement;
}

function inSequence(lastSeq: number, nextSeq: number): boolean {
  return nextSeq === lastSeq + 1 || (nextSeq === 0 && lastSeq === INT32_MAX);
}

// ---- value types ----

/**
 * Who is appending, which decides how much is checked (Kafka's AppendOrigin): a client gets every
 * check; the group/transaction coordinator only the epoch check (its batches carry no sequence);
 * replication and recovery none (the leader checked), an older epoch is then accepted as written.
 */
export type AppendOrigin = "client" | "coordinator" | "replication";

/** One remembered batch of a producer (Kafka's BatchMetadata). */
export interface BatchMetadata {
  readonly lastSeq: number;
  readonly lastOffset: bigint;
  /** lastOffset - firstOffset, which is also lastSeq - firstSeq. */
  readonly offsetDelta: number;
  /** The batch's max timestamp. */
  readonly timestamp: bigint;
}

export function batchFirstSeq(batch: BatchMetadata): number {
  return decrementSequence(batch.lastSeq, batch.offsetDelta);
}

export function batchFirstOffset(batch: BatchMetadata): bigint {
  return batch.lastOffset - BigInt(batch.offsetDelta);
}

/** A transaction whose COMMIT or ABORT marker was appended (Kafka's CompletedTxn). */
export interface CompletedTxn {
  producerId: bigint;
  /** First offset of the transaction's data, inclusive. */
  firstOffset: bigint;
  /** Offset of the marker, inclusive. */
  lastOffset: bigint;
  isAborted: boolean;
}

/** The record of a COMMIT/ABORT control batch (Kafka's EndTransactionMarker). */
export interface EndTxnMarker {
  isAbort: boolean;
  coordinatorEpoch: number;
  /** The marker record's timestamp. */
  timestamp: bigint;
}

/** What producer state needs from one record batch with a producer id, offsets already assigned. */
export interface ProducerBatch {
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  /** baseSequence + lastOffsetDelta, wrapped (DefaultRecordBatch.lastSequence). */
  lastSequence: number;
  baseOffset: bigint;
  lastOffset: bigint;
  maxTimestamp: bigint;
  isTransactional: boolean;
  /**
   * Absent for a data batch. For a control batch: its marker, or null when the cleaner emptied it
   * (the whole transaction was compacted away; nothing to complete).
   */
  control?: EndTxnMarker | null;
}

/**
 * The producer fields of the batch at `position` of `buf` (the whole batch must be there), or null
 * for a batch without a producer id. Control batches are decoded to read their marker; they are
 * tiny and never compressed.
 */
export function producerBatchAt(buf: Buffer, position = 0): ProducerBatch | null {
  const h = readBatchHeader(buf, position);
  if (h.producerId <= NO_PRODUCER_ID) return null;
  const batch: ProducerBatch = {
    producerId: h.producerId,
    producerEpoch: h.producerEpoch,
    baseSequence: h.baseSequence,
    lastSequence: h.baseSequence === NO_SEQUENCE ? NO_SEQUENCE : incrementSequence(h.baseSequence, h.lastOffsetDelta),
    baseOffset: h.baseOffset,
    lastOffset: h.baseOffset + BigInt(h.lastOffsetDelta),
    maxTimestamp: h.maxTimestamp,
    isTransactional: isTransactional(h.attributes),
  };
  if (isControlBatch(h.attributes)) {
    const record = decodeRecordBatch(buf, position, { verifyCrc: false }).records[0];
    if (record === undefined) {
      batch.control = null;
    } else {
      const type = decodeControlRecordKey(record.key).type;
      if (type !== ControlRecordType.Abort && type !== ControlRecordType.Commit)
        throw new InvalidRecordError(
          `control batch of producer ${h.producerId} has record type ${type}, not a transaction marker`,
        );
      batch.control = {
        isAbort: type === ControlRecordType.Abort,
        coordinatorEpoch: decodeEndTxnMarker(record.value).coordinatorEpoch,
        timestamp: record.timestamp,
      };
    }
  }
  return batch;
}

// ---- per producer ----

/** What the partition knows of one producer id (Kafka's ProducerStateEntry). */
export class ProducerStateEntry {
  private readonly batches: BatchMetadata[];

  constructor(
    readonly producerId: bigint,
    public producerEpoch: number,
    public coordinatorEpoch: number,
    public lastTimestamp: bigint,
    public currentTxnFirstOffset: bigint | null,
    batches: readonly BatchMetadata[] = [],
  ) {
    if (batches.length > NUM_BATCHES_TO_RETAIN) throw new RangeError(`at most ${NUM_BATCHES_TO_RETAIN} batches`);
    this.batches = [...batches];
  }

  static empty(producerId: bigint): ProducerStateEntry {
    return new ProducerStateEntry(producerId, NO_PRODUCER_EPOCH, -1, NO_TIMESTAMP, null);
  }

  /** Oldest first. */
  get batchMetadata(): readonly BatchMetadata[] {
    return this.batches;
  }

  get isEmpty(): boolean {
    return this.batches.length === 0;
  }

  get firstSeq(): number {
    return this.isEmpty ? NO_SEQUENCE : batchFirstSeq(this.batches[0]!);
  }

  get lastSeq(): number {
    return this.isEmpty ? NO_SEQUENCE : this.batches[this.batches.length - 1]!.lastSeq;
  }

  get firstDataOffset(): bigint {
    return this.isEmpty ? -1n : batchFirstOffset(this.batches[0]!);
  }

  get lastDataOffset(): bigint {
    return this.isEmpty ? -1n : this.batches[this.batches.length - 1]!.lastOffset;
  }

  get lastOffsetDelta(): number {
    return this.isEmpty ? 0 : this.batches[this.batches.length - 1]!.offsetDelta;
  }

  /** A remembered batch of the same epoch with exactly this sequence range (a retry), or null. */
  findDuplicateBatch(producerEpoch: number, firstSeq: number, lastSeq: number): BatchMetadata | null {
    if (producerEpoch !== this.producerEpoch) return null;
    // A plain loop: this runs for every idempotent batch, a closure per call is garbage.
    for (const b of this.batches) if (b.lastSeq === lastSeq && batchFirstSeq(b) === firstSeq) return b;
    return null;
  }

  /** The same producer state with no batches: where an append starts accumulating. */
  withoutBatches(): ProducerStateEntry {
    return new ProducerStateEntry(
      this.producerId,
      this.producerEpoch,
      this.coordinatorEpoch,
      this.lastTimestamp,
      this.currentTxnFirstOffset,
    );
  }

  addBatch(producerEpoch: number, lastSeq: number, lastOffset: bigint, offsetDelta: number, timestamp: bigint): void {
    this.maybeUpdateProducerEpoch(producerEpoch);
    this.addBatchMetadata({ lastSeq, lastOffset, offsetDelta, timestamp });
    this.lastTimestamp = timestamp;
  }

  /** A new epoch forgets the old epoch's batches. Returns whether the epoch changed. */
  maybeUpdateProducerEpoch(producerEpoch: number): boolean {
    if (this.producerEpoch === producerEpoch) return false;
    this.batches.length = 0;
    this.producerEpoch = producerEpoch;
    return true;
  }

  /** Takes over what an append accumulated in `next` (Kafka's update(ProducerStateEntry)). */
  updateFrom(next: ProducerStateEntry): void {
    this.maybeUpdateProducerEpoch(next.producerEpoch);
    for (const b of next.batches) this.addBatchMetadata(b);
    this.coordinatorEpoch = next.coordinatorEpoch;
    this.currentTxnFirstOffset = next.currentTxnFirstOffset;
    this.lastTimestamp = next.lastTimestamp;
  }

  /** A transaction marker: new epoch and coordinator epoch, no ongoing transaction. */
  updateOnMarker(producerEpoch: number, coordinatorEpoch: number, timestamp: bigint): void {
    this.maybeUpdateProducerEpoch(producerEpoch);
    this.coordinatorEpoch = coordinatorEpoch;
    this.currentTxnFirstOffset = null;
    this.lastTimestamp = timestamp;
  }

  private addBatchMetadata(batch: BatchMetadata): void {
    if (this.batches.length === NUM_BATCHES_TO_RETAIN) this.batches.shift();
    this.batches.push(batch);
  }
}

/**
 * The validation and accumulated changes of one producer's batches within one append (Kafka's
 * ProducerAppendInfo). Nothing touches the manager until `ProducerStateManager.update`.
 */
export class ProducerAppendInfo {
  private readonly updated: ProducerStateEntry;
  /** Allocated by the first transaction begun: most appends begin none. */
  private started: bigint[] | null = null;

  constructor(
    readonly producerId: bigint,
    private readonly current: ProducerStateEntry,
    readonly origin: AppendOrigin,
    private readonly partition = "",
  ) {
    this.updated = current.withoutBatches();
  }

  /** Validates and records one batch; a completed transaction when it is a non-empty COMMIT/ABORT. */
  append(batch: ProducerBatch): CompletedTxn | null {
    if (batch.control === undefined) {
      this.appendDataBatch(
        batch.producerEpoch,
        batch.baseSequence,
        batch.lastSequence,
        batch.maxTimestamp,
        batch.baseOffset,
        batch.lastOffset,
        batch.isTransactional,
      );
      return null;
    }
    if (batch.control === null) return null;
    return this.appendEndTxnMarker(batch.control, batch.producerEpoch, batch.baseOffset);
  }

  appendDataBatch(
    epoch: number,
    firstSeq: number,
    lastSeq: number,
    lastTimestamp: bigint,
    firstOffset: bigint,
    lastOffset: bigint,
    isTransactional: boolean,
  ): void {
    this.checkProducerEpoch(epoch, firstOffset);
    if (this.origin === "client") this.checkSequence(epoch, firstSeq, firstOffset);
    this.updated.addBatch(epoch, lastSeq, lastOffset, Number(lastOffset - firstOffset), lastTimestamp);
    const txnFirstOffset = this.updated.currentTxnFirstOffset;
    if (txnFirstOffset !== null && !isTransactional) {
      throw new InvalidTxnStateError(
        `expected a transactional write from producer ${this.producerId} at offset ${firstOffset}${this.where()}`,
      );
    }
    if (txnFirstOffset === null && isTransactional) {
      this.updated.currentTxnFirstOffset = firstOffset;
      (this.started ??= []).push(firstOffset);
    }
  }

  /** Only a marker closing a transaction with data completes one: an empty one moves no stable offset. */
  appendEndTxnMarker(marker: EndTxnMarker, producerEpoch: number, offset: bigint): CompletedTxn | null {
    this.checkProducerEpoch(producerEpoch, offset);
    if (this.updated.coordinatorEpoch > marker.coordinatorEpoch && this.origin !== "replication") {
      throw new TransactionCoordinatorFencedError(
        `coordinator epoch ${marker.coordinatorEpoch} of the marker for producer ${this.producerId} at offset ${offset}` +
          `${this.where()} is older than ${this.updated.coordinatorEpoch}`,
      );
    }
    const first = this.updated.currentTxnFirstOffset;
    const completed =
      first === null
        ? null
        : { producerId: this.producerId, firstOffset: first, lastOffset: offset, isAborted: marker.isAbort };
    this.updated.updateOnMarker(producerEpoch, marker.coordinatorEpoch, marker.timestamp);
    return completed;
  }

  /** The producer's state once this append is applied. */
  toEntry(): ProducerStateEntry {
    return this.updated;
  }

  /** First offsets of the transactions this append began. */
  get startedTransactions(): readonly bigint[] {
    return this.started ?? NONE;
  }

  private checkProducerEpoch(producerEpoch: number, offset: bigint): void {
    // Replicas take what the leader wrote, even from an epoch they consider old.
    if (producerEpoch < this.updated.producerEpoch && this.origin !== "replication") {
      throw new InvalidProducerEpochError(
        `epoch ${producerEpoch} of producer ${this.producerId} at offset ${offset}${this.where()} is older than ` +
          `the last seen epoch ${this.updated.producerEpoch}`,
      );
    }
  }

  private checkSequence(producerEpoch: number, firstSeq: number, offset: bigint): void {
    if (producerEpoch !== this.updated.producerEpoch) {
      // A bumped epoch restarts the sequence at 0. An unknown producer (no epoch yet: new, expired,
      // or its records deleted) may start anywhere: the current broker no longer answers
      // UNKNOWN_PRODUCER_ID on produce.
      if (firstSeq !== 0 && this.updated.producerEpoch !== NO_PRODUCER_EPOCH) {
        throw new OutOfOrderSequenceError(
          `sequence ${firstSeq} of the new epoch ${producerEpoch} of producer ${this.producerId} at offset ${offset}` +
            `${this.where()} is not 0 (current epoch ${this.updated.producerEpoch})`,
        );
      }
      return;
    }
    let lastSeq: number;
    if (!this.updated.isEmpty) lastSeq = this.updated.lastSeq;
    else if (producerEpoch === this.current.producerEpoch) lastSeq = this.current.lastSeq;
    else lastSeq = NO_SEQUENCE;
    if (this.current.producerEpoch !== NO_PRODUCER_EPOCH && !inSequence(lastSeq, firstSeq)) {
      throw new OutOfOrderSequenceError(
        `out of order sequence ${firstSeq} of producer ${this.producerId} at offset ${offset}${this.where()}: ` +
          `the last appended sequence is ${lastSeq}`,
      );
    }
  }

  private where(): string {
    return this.partition === "" ? "" : ` in ${this.partition}`;
  }
}

// ---- the partition ----

export interface ProducerStateManagerOptions {
  clock: Clock;
  /** producer.id.expiration.ms. */
  producerIdExpirationMs?: number;
  /** transaction.max.timeout.ms: after it (plus a buffer) an open transaction counts as hanging. */
  maxTransactionTimeoutMs?: number;
  /** `topic-partition`, for error messages. */
  partition?: string;
}

/** A transaction with data in the log; lastOffset is set once its marker is appended. */
interface TxnMetadata {
  producerId: bigint;
  firstOffset: bigint;
  lastOffset: bigint | null;
}

/**
 * What `analyzeAppend` found: a retried batch, or the changes to apply once the write succeeded,
 * one ProducerAppendInfo per producer id in order of first appearance.
 */
export type ProducerAppendAnalysis =
  | { duplicate: BatchMetadata }
  | { duplicate: null; producers: readonly ProducerAppendInfo[]; completedTxns: readonly CompletedTxn[] };

/** Shared empty result lists: the common append (one producer's data batch) completes no transaction. */
const NONE: readonly never[] = Object.freeze([]);

/** Sorted array insert/remove by first offset; the count of concurrently open transactions is small. */
class TxnsByFirstOffset {
  private readonly txns: TxnMetadata[] = [];

  get first(): TxnMetadata | undefined {
    return this.txns[0];
  }
  get size(): number {
    return this.txns.length;
  }
  values(): readonly TxnMetadata[] {
    return this.txns;
  }
  put(txn: TxnMetadata): void {
    let i = this.txns.length;
    while (i > 0 && this.txns[i - 1]!.firstOffset >= txn.firstOffset) i--;
    if (this.txns[i]?.firstOffset === txn.firstOffset) this.txns[i] = txn;
    else this.txns.splice(i, 0, txn);
  }
  remove(firstOffset: bigint): TxnMetadata | undefined {
    const i = this.txns.findIndex((t) => t.firstOffset === firstOffset);
    return i < 0 ? undefined : this.txns.splice(i, 1)[0];
  }
  removeIf(pred: (t: TxnMetadata) => boolean): void {
    for (let i = this.txns.length - 1; i >= 0; i--) if (pred(this.txns[i]!)) this.txns.splice(i, 1);
  }
  clear(): void {
    this.txns.length = 0;
  }
}

/** The producer state of one partition (Kafka's ProducerStateManager, without its snapshot files). */
export class ProducerStateManager {
  readonly producerIdExpirationMs: number;
  readonly maxTransactionTimeoutMs: number;
  private readonly clock: Clock;
  private readonly partition: string;
  private readonly producers = new Map<bigint, ProducerStateEntry>();
  private readonly ongoingTxns = new TxnsByFirstOffset();
  /** Completed transactions whose marker is at or above the high watermark. */
  private readonly unreplicatedTxns = new TxnsByFirstOffset();
  /** Max timestamp of the producer of the oldest ongoing transaction, -1 when none. */
  private oldestTxnLastTimestamp = -1n;
  private lastMapOffset = 0n;

  constructor(opts: ProducerStateManagerOptions) {
    this.clock = opts.clock;
    this.producerIdExpirationMs = opts.producerIdExpirationMs ?? DEFAULT_PRODUCER_ID_EXPIRATION_MS;
    this.maxTransactionTimeoutMs = opts.maxTransactionTimeoutMs ?? DEFAULT_MAX_TRANSACTION_TIMEOUT_MS;
    this.partition = opts.partition ?? "";
  }

  // ---- queries ----

  /** The offset up to which (exclusive) the state reflects the log. */
  get mapEndOffset(): bigint {
    return this.lastMapOffset;
  }

  get producerIdCount(): number {
    return this.producers.size;
  }

  activeProducers(): ReadonlyMap<bigint, ProducerStateEntry> {
    return this.producers;
  }

  lastEntry(producerId: bigint): ProducerStateEntry | undefined {
    return this.producers.get(producerId);
  }

  isEmpty(): boolean {
    return this.producers.size === 0 && this.unreplicatedTxns.size === 0;
  }

  hasOngoingTransaction(producerId: bigint): boolean {
    return (this.producers.get(producerId)?.currentTxnFirstOffset ?? null) !== null;
  }

  /**
   * The first offset a read_committed consumer may not see yet: the first offset of an undecided
   * transaction, or of a decided one whose marker is not yet below the high watermark. Null when none.
   */
  firstUnstableOffset(): bigint | null {
    const unreplicated = this.unreplicatedTxns.first?.firstOffset;
    const undecided = this.ongoingTxns.first?.firstOffset;
    if (unreplicated === undefined) return undecided ?? null;
    if (undecided === undefined) return unreplicated;
    return undecided < unreplicated ? undecided : unreplicated;
  }

  /** First offset of the oldest transaction without a marker yet; null when none. */
  firstUndecidedOffset(): bigint | null {
    return this.ongoingTxns.first?.firstOffset ?? null;
  }

  /** Whether the oldest open transaction has been open past transaction.max.timeout.ms plus a buffer. */
  hasLateTransaction(nowMs: number = this.clock.nowMs()): boolean {
    const last = this.oldestTxnLastTimestamp;
    return last > 0n && BigInt(nowMs) - last > BigInt(this.maxTransactionTimeoutMs + LATE_TRANSACTION_BUFFER_MS);
  }

  // ---- append ----

  prepareUpdate(producerId: bigint, origin: AppendOrigin): ProducerAppendInfo {
    const current = this.producers.get(producerId) ?? ProducerStateEntry.empty(producerId);
    return new ProducerAppendInfo(producerId, current, origin, this.partition);
  }

  /**
   * Validates the batches of one append (offsets assigned, not yet written), as Kafka's
   * analyzeAndValidateProducerState: throws the typed Kafka error of the first bad batch; for a
   * client, a batch equal to one of its producer's last 5 (same epoch and sequence range) makes
   * the whole append a duplicate. Batches without a producer id must be left out by the caller.
   * Changes nothing.
   */
  analyzeAppend(batches: Iterable<ProducerBatch>, origin: AppendOrigin): ProducerAppendAnalysis {
    // An append nearly always holds one producer's batches (a client sends one batch per
    // partition): the Map by producer id is only built once a second producer shows up.
    const producers: ProducerAppendInfo[] = [];
    let byId: Map<bigint, ProducerAppendInfo> | null = null;
    let completedTxns: CompletedTxn[] | null = null;
    for (const batch of batches) {
      if (batch.producerId <= NO_PRODUCER_ID)
        throw new RangeError(`batch without a producer id at ${batch.baseOffset}`);
      if (origin === "client" && batch.control === undefined) {
        const duplicate = this.producers
          .get(batch.producerId)
          ?.findDuplicateBatch(batch.producerEpoch, batch.baseSequence, batch.lastSequence);
        if (duplicate) return { duplicate };
      }
      const only = producers.length === 1 ? producers[0]! : undefined;
      let info = only?.producerId === batch.producerId ? only : byId?.get(batch.producerId);
      if (info === undefined) {
        info = this.prepareUpdate(batch.producerId, origin);
        if (only !== undefined) byId = new Map([[only.producerId, only]]);
        byId?.set(info.producerId, info);
        producers.push(info);
      }
      const completed = info.append(batch);
      if (completed !== null) (completedTxns ??= []).push(completed);
    }
    return { duplicate: null, producers, completedTxns: completedTxns ?? NONE };
  }

  /**
   * Applies a successful append's producer changes. The caller then completes each of
   * `completedTxns` (lastStableOffset → .txnindex → completeTxn) and moves `updateMapEndOffset`.
   */
  applyAppend(analysis: ProducerAppendAnalysis): void {
    if (analysis.duplicate !== null) throw new Error("a duplicate append has nothing to apply");
    for (const info of analysis.producers) this.update(info);
  }

  update(info: ProducerAppendInfo): void {
    if (info.producerId <= NO_PRODUCER_ID) throw new RangeError(`invalid producer id ${info.producerId}`);
    const next = info.toEntry();
    const current = this.producers.get(info.producerId);
    if (current) current.updateFrom(next);
    else this.producers.set(info.producerId, next);
    for (const firstOffset of info.startedTransactions)
      this.ongoingTxns.put({ producerId: info.producerId, firstOffset, lastOffset: null });
    this.updateOldestTxnTimestamp();
  }

  /**
   * The last stable offset to store with a completed transaction in the transaction index, computed
   * before it is marked complete: the first offset of the oldest transaction of another producer
   * still open, else just past the marker.
   */
  lastStableOffset(completed: CompletedTxn): bigint {
    for (const txn of this.ongoingTxns.values()) if (txn.producerId !== completed.producerId) return txn.firstOffset;
    return completed.lastOffset + 1n;
  }

  /** Marks a transaction decided; it stays unstable until the high watermark passes its marker. */
  completeTxn(completed: CompletedTxn): void {
    const txn = this.ongoingTxns.remove(completed.firstOffset);
    if (txn === undefined)
      throw new Error(
        `transaction of producer ${completed.producerId} at ${completed.firstOffset}${this.partition ? ` in ${this.partition}` : ""} was not started`,
      );
    txn.lastOffset = completed.lastOffset;
    this.unreplicatedTxns.put(txn);
    this.updateOldestTxnTimestamp();
  }

  updateMapEndOffset(offset: bigint): void {
    this.lastMapOffset = offset;
  }

  /** Transactions whose marker is below the high watermark are stable. */
  onHighWatermarkUpdated(highWatermark: bigint): void {
    this.removeUnreplicatedTransactions(highWatermark);
  }

  onLogStartOffsetIncremented(logStartOffset: bigint): void {
    this.removeUnreplicatedTransactions(logStartOffset);
    if (this.lastMapOffset < logStartOffset) this.lastMapOffset = logStartOffset;
  }

  /**
   * Forgets producers idle for producer.id.expiration.ms (by their last batch's max timestamp),
   * never one with an open transaction. Returns the ids removed.
   */
  removeExpiredProducers(nowMs: number = this.clock.nowMs()): bigint[] {
    const removed: bigint[] = [];
    for (const [id, entry] of this.producers) {
      if (this.isProducerExpired(nowMs, entry)) {
        this.producers.delete(id);
        removed.push(id);
      }
    }
    return removed;
  }

  isProducerExpired(nowMs: number, entry: ProducerStateEntry): boolean {
    return (
      entry.currentTxnFirstOffset === null && BigInt(nowMs) - entry.lastTimestamp >= BigInt(this.producerIdExpirationMs)
    );
  }

  // ---- recovery and truncation ----

  /**
   * Rebuilds from log batches already written (Kafka's loadProducersFromRecords): origin
   * "replication", so no sequence checks; transactions complete without touching the index (the
   * segment's .txnindex is recovered with the segment). Batches without a producer id are skipped.
   * Moves the map end offset past the last batch.
   */
  replayBatches(batches: Iterable<ProducerBatch | null>): void {
    const producers = new Map<bigint, ProducerAppendInfo>();
    const completed: CompletedTxn[] = [];
    let end: bigint | null = null;
    for (const batch of batches) {
      if (batch === null) continue;
      end = batch.lastOffset + 1n;
      let info = producers.get(batch.producerId);
      if (info === undefined) {
        info = this.prepareUpdate(batch.producerId, "replication");
        producers.set(batch.producerId, info);
      }
      const txn = info.append(batch);
      if (txn !== null) completed.push(txn);
    }
    for (const info of producers.values()) this.update(info);
    for (const txn of completed) this.completeTxn(txn);
    if (end !== null && end > this.lastMapOffset) this.lastMapOffset = end;
  }

  /** Adds one producer as a snapshot describes it, with its open transaction if any. */
  loadProducerEntry(entry: ProducerStateEntry): void {
    this.producers.set(entry.producerId, entry);
    if (entry.currentTxnFirstOffset !== null)
      this.ongoingTxns.put({
        producerId: entry.producerId,
        firstOffset: entry.currentTxnFirstOffset,
        lastOffset: null,
      });
  }

  /**
   * Replaces the state with a snapshot's producers taken at `snapshotOffset`, dropping those that
   * expired meanwhile (Kafka's loadFromSnapshot). Replay the log from `mapEndOffset` afterwards.
   */
  loadFromSnapshot(
    entries: Iterable<ProducerStateEntry>,
    snapshotOffset: bigint,
    nowMs: number = this.clock.nowMs(),
  ): void {
    this.clear();
    for (const entry of entries) if (!this.isProducerExpired(nowMs, entry)) this.loadProducerEntry(entry);
    this.lastMapOffset = snapshotOffset;
    this.updateOldestTxnTimestamp();
  }

  /** Forgets everything; the state starts again at `offset` (Kafka's truncateFullyAndStartAt, minus the files). */
  truncateFullyAndStartAt(offset: bigint): void {
    this.clear();
    this.lastMapOffset = offset;
    this.updateOldestTxnTimestamp();
  }

  private clear(): void {
    this.producers.clear();
    this.ongoingTxns.clear();
    this.unreplicatedTxns.clear();
  }

  private removeUnreplicatedTransactions(offset: bigint): void {
    this.unreplicatedTxns.removeIf((t) => t.lastOffset !== null && t.lastOffset < offset);
  }

  private updateOldestTxnTimestamp(): void {
    const oldest = this.ongoingTxns.first;
    this.oldestTxnLastTimestamp =
      oldest === undefined ? -1n : (this.producers.get(oldest.producerId)?.lastTimestamp ?? -1n);
  }
}
