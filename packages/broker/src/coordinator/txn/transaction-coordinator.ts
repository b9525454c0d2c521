/**
 * The transaction coordinator state machine (Kafka's TransactionCoordinator, TransactionMetadata,
 * TransactionStateManager and the completion half of TransactionMarkerChannelManager), pure: no
 * sockets, files or Node timers. Requests come in as typed values and are answered through
 * callbacks (or the promise wrappers) once the record they need is stored. Time comes from an
 * injected clock and every deadline lives in one TimerQueue advanced by `tick(nowMs)`; the broker
 * arms one Node timer at `nextDeadlineMs()`. I/O goes through injected hooks:
 *
 * - `store(transactionalId, snapshot | null, done)` appends the transactional id's record (null:
 *   a tombstone) to its `__transaction_state` partition; the in-memory state changes only after
 *   `done(NONE)`, exactly where Kafka's appendTransactionToLog completes the transition.
 * - `writeMarkers(producerId, producerEpoch, partitions, commit, coordinatorEpoch, done)` writes a
 *   control batch (commit or abort marker) to each partition, as the WriteTxnMarkers requests of
 *   Kafka's marker channel do, and reports one error code per partition.
 * - `allocateProducerId()` hands out a new producer id (Kafka's ProducerIdManager); it may throw
 *   a KafkaError (e.g. COORDINATOR_LOAD_IN_PROGRESS while no block is available).
 *
 * States of one transactional id (Kafka's TransactionState; ids as stored in the record):
 *
 *                   AddPartitions/AddOffsets                 EndTxn(commit)     markers written
 *   Empty(0) ─────────────────────────────> Ongoing(1) ───────────────> PrepareCommit(2) ──────> CompleteCommit(4)
 *     ^  ^                                  │   ^   │ EndTxn(abort),                               │
 *     │  │ InitProducerId (epoch bump       │   └───┘ more partitions                              │
 *     │  │ or new producer id)              │         timeout or InitProducerId:                   │
 *     │  │                                  │         PrepareEpochFence(7) (in memory only,        │
 *     │  │                                  v         epoch bumped) then                           │
 *     │  │                            PrepareAbort(3) ───────markers written───────> CompleteAbort(5)
 *     │  └──────────── InitProducerId ────────────────────────────────────────────────────┘ and ─┘
 *     └── CompleteCommit/CompleteAbort: AddPartitions starts the next transaction (-> Ongoing)
 *   Empty, CompleteCommit, CompleteAbort ──transactional.id.expiration.ms idle──> Dead (tombstone, removed)
 *
 * While a record is being stored the transaction has a pending state; every request that would
 * change it answers CONCURRENT_TRANSACTIONS (the client retries). After Prepare* is stored, EndTxn
 * is answered and the markers are written; the transaction stays pending (Complete*) until every
 * partition has its marker and the Complete* record is stored, so InitProducerId and the next
 * AddPartitions wait for it.
 *
 * Partitions of `__transaction_state` are owned like Kafka's transaction state cache: requests for
 * an id whose partition is loading answer COORDINATOR_LOAD_IN_PROGRESS, for a partition not owned
 * NOT_COORDINATOR. `beginLoading`, `loadTransaction` (one record at a time, in log order) and
 * `completeLoading` rebuild a partition after a restart or election; then transactions found in
 * PrepareCommit/PrepareAbort send their markers again and complete, Ongoing ones are aborted by
 * the timeout task like any other (their start time is in the record).
 *
 * Checked against Kafka (core/.../coordinator/transaction, trunk 2024-10), transactions v0/v1
 * (transaction.version < 2): the epoch is bumped by InitProducerId and by fencing only.
 * Deliberate differences:
 * - Transactions v2 (KIP-890 part 2: epoch bump at every EndTxn, EndTxn v5, next producer id on
 *   overflow) is not implemented: the broker must not advertise EndTxn v5 or transaction.version 2.
 *   A record written with client transaction version 2 is loaded, but handled as v0.
 * - A marker write failing with an error Kafka treats as fatal (CORRUPT_MESSAGE, ...) is retried
 *   after a backoff instead of stopping the coordinator's marker thread. A Complete* record that
 *   cannot be stored is retried whatever the error while this coordinator still owns the
 *   partition at the same epoch (Kafka retries only COORDINATOR_NOT_AVAILABLE and gives up on
 *   NOT_COORDINATOR, counting on a new leader to reload; on a single broker nobody would, and the
 *   transaction would stay in Prepare* until a restart). Found by the model test.
 * - InitProducerId with an expected epoch that is neither the current nor the last one while the
 *   current epoch is exhausted answers PRODUCER_FENCED (Kafka throws IllegalStateException there).
 * - Fencing again after a fence at epoch 32766 could not be stored reuses epoch 32767 (Kafka's
 *   overflow check comes before its failed-fence check and throws). Found by the model test.
 * - Stores and markers are checked against the identity of the in-memory metadata as well as the
 *   coordinator epoch, so a partition reloaded at the same epoch cannot be completed by a stale write.
 * - ListTransactions' TransactionalIdPattern (v2, KIP-1152) is a JavaScript regular expression
 *   that must match the whole id (Java's Pattern.matches); most patterns mean the same in both.
 * - TxnOffsetCommit belongs to the group coordinator (pending transactional offsets that the
 *   markers on `__consumer_offsets` materialize), not here.
 */
import { ErrorCode, KafkaError } from "@samsa/protocol";
import { consumerOffsetsPartitionFor } from "../group/consumer-offsets-records.js";
import { TimerQueue } from "../group/timer-queue.js";
import {
  DEFAULT_TRANSACTION_STATE_PARTITIONS,
  type TopicPartition,
  TRANSACTION_LOG_VALUE_VERSION,
  type TransactionLogRecordValue,
  type TransactionState,
  transactionStateFromName,
  transactionStatePartitionFor,
} from "./transaction-log-records.js";

export type { TopicPartition, TransactionState } from "./transaction-log-records.js";

/** RecordBatch.NO_PRODUCER_ID / NO_PRODUCER_EPOCH. */
export const NO_PRODUCER_ID = -1n;
export const NO_PRODUCER_EPOCH = -1;
/** Short.MaxValue: the coordinator keeps the last epoch for itself, so it can always fence. */
export const MAX_PRODUCER_EPOCH = 32767;
/** Clients never get an epoch at or above this (TransactionMetadata.isEpochExhausted). */
export const EXHAUSTED_PRODUCER_EPOCH = MAX_PRODUCER_EPOCH - 1;
/** The internal topic AddOffsetsToTxn adds a partition of. */
export const CONSUMER_OFFSETS_TOPIC = "__consumer_offsets";
/** offsets.topic.num.partitions default: where AddOffsetsToTxn finds a group unless told otherwise. */
const DEFAULT_OFFSETS_TOPIC_PARTITIONS = 50;
/**
 * Delay before markers that failed with a retriable error, or a Complete* record that could not be
 * stored, are tried again. Kafka retries on its marker thread's next poll; a short backoff keeps a
 * partition without a leader from spinning.
 */
export const MARKER_RETRY_BACKOFF_MS = 100;

export interface TransactionCoordinatorConfig {
  /** transaction.max.timeout.ms: the largest transaction timeout a producer may ask for. */
  transactionMaxTimeoutMs: number;
  /** transactional.id.expiration.ms: an idle transactional id (no transaction open) is removed after this. */
  transactionalIdExpirationMs: number;
  /** transaction.abort.timed.out.transaction.cleanup.interval.ms: how often timed-out transactions are looked for. */
  abortTimedOutTransactionsIntervalMs: number;
  /** transaction.remove.expired.transaction.cleanup.interval.ms: how often expired transactional ids are looked for. */
  removeExpiredTransactionalIdsIntervalMs: number;
  /** transaction.state.log.num.partitions (the topic's actual count once it exists). */
  transactionStatePartitions: number;
}

export const DEFAULT_TRANSACTION_COORDINATOR_CONFIG: TransactionCoordinatorConfig = {
  transactionMaxTimeoutMs: 15 * 60 * 1000,
  transactionalIdExpirationMs: 7 * 24 * 60 * 60 * 1000,
  abortTimedOutTransactionsIntervalMs: 10_000,
  removeExpiredTransactionalIdsIntervalMs: 60 * 60 * 1000,
  transactionStatePartitions: DEFAULT_TRANSACTION_STATE_PARTITIONS,
};

/**
 * A transactional id's metadata as one record stores it (Kafka's TxnTransitMetadata). The record
 * has no last epoch: it is -1 after loading, as in Kafka.
 */
export interface TransactionMetadataSnapshot {
  transactionalId: string;
  producerId: bigint;
  /** The producer id before this transition (Kafka's prevProducerId); written only in value v1. */
  previousProducerId: bigint;
  /** Transactions v2 only; always -1n here. */
  nextProducerId: bigint;
  producerEpoch: number;
  /** The epoch before the last bump, so a retried InitProducerId (KIP-360) gets the same answer. */
  lastProducerEpoch: number;
  transactionTimeoutMs: number;
  state: TransactionState;
  /** Sorted by topic, then partition. */
  partitions: TopicPartition[];
  /** -1 when no transaction has started. */
  transactionStartTimestampMs: number;
  transactionLastUpdateTimestampMs: number;
  clientTransactionVersion: number;
}

export type StoreHook = (
  transactionalId: string,
  snapshot: TransactionMetadataSnapshot | null,
  done: (errorCode: number) => void,
) => void;

export interface MarkerResult {
  topic: string;
  partition: number;
  /**
   * NONE when the marker is written, or when the partition no longer exists (Kafka skips a
   * partition without a leader: its topic was deleted). Retried: NOT_LEADER_OR_FOLLOWER,
   * UNKNOWN_TOPIC_OR_PARTITION, NOT_ENOUGH_REPLICAS(_AFTER_APPEND), REQUEST_TIMED_OUT,
   * KAFKA_STORAGE_ERROR (and any code Kafka does not expect). INVALID_PRODUCER_EPOCH or
   * TRANSACTION_COORDINATOR_FENCED stop the markers of this transaction (a newer producer or
   * coordinator took over). UNSUPPORTED_FOR_MESSAGE_FORMAT/UNSUPPORTED_VERSION drop the partition.
   */
  errorCode: number;
}

/** Must call `done` once, with a result for every partition (a missing one is retried). */
export type WriteMarkersHook = (
  producerId: bigint,
  producerEpoch: number,
  partitions: TopicPartition[],
  commit: boolean,
  coordinatorEpoch: number,
  done: (results: MarkerResult[]) => void,
) => void;

export interface TransactionCoordinatorOptions {
  config?: Partial<TransactionCoordinatorConfig>;
  /** Milliseconds; requests read it, timers fire only from tick(). */
  clock: () => number;
  /** A new producer id; may throw a KafkaError whose code is then the answer. */
  allocateProducerId: () => bigint;
  /** Without it, every store succeeds at once. */
  store?: StoreHook;
  /** Without it, every marker is written at once. */
  writeMarkers?: WriteMarkersHook;
  /** The `__consumer_offsets` partition of a group, for AddOffsetsToTxn; Kafka's partitionFor over 50 partitions by default. */
  offsetsPartitionFor?: (groupId: string) => number;
}

export interface InitProducerIdRequest {
  /** null: an idempotent (non-transactional) producer. */
  transactionalId: string | null;
  transactionTimeoutMs: number;
  /** v3+ (KIP-360): the producer's current id and epoch, or -1n/-1 (both) when it has none. */
  producerId: bigint;
  producerEpoch: number;
}

export interface InitProducerIdResult {
  errorCode: number;
  producerId: bigint;
  producerEpoch: number;
}

export interface AddPartitionsToTxnRequest {
  transactionalId: string;
  producerId: bigint;
  producerEpoch: number;
  /** Already checked by the handler (authorized, existing): Kafka fails the whole transaction otherwise. */
  partitions: TopicPartition[];
}

export interface PartitionResult {
  topic: string;
  partition: number;
  errorCode: number;
}

export interface AddOffsetsToTxnRequest {
  transactionalId: string;
  producerId: bigint;
  producerEpoch: number;
  groupId: string;
}

export interface EndTxnRequest {
  transactionalId: string;
  producerId: bigint;
  producerEpoch: number;
  committed: boolean;
}

export interface EndTxnResult {
  errorCode: number;
  /** The current producer id and epoch on success (EndTxn v5 carries them), else -1n/-1. */
  producerId: bigint;
  producerEpoch: number;
}

/** One DescribeTransactions entry (DescribeTransactionsResponse.TransactionState). */
export interface TransactionDescription {
  errorCode: number;
  transactionalId: string;
  /** The state name, "" with an error. */
  transactionState: string;
  transactionTimeoutMs: number;
  /** -1 when no transaction is open. */
  transactionStartTimeMs: number;
  producerId: bigint;
  producerEpoch: number;
  /** The partitions in the transaction; while markers are written, only those still without one. */
  topics: { topic: string; partitions: number[] }[];
}

export interface ListTransactionsFilter {
  /** State names; empty: all. Unknown names come back in unknownStateFilters. */
  stateFilters: string[];
  /** Empty: all. */
  producerIdFilters: bigint[];
  /** v1+: only transactions running longer than this (ms); negative: all. */
  durationFilterMs: number;
  /** v2+ (KIP-1152): null or empty: all. */
  transactionalIdPattern: string | null;
}

export interface ListTransactionsResult {
  errorCode: number;
  unknownStateFilters: string[];
  transactionStates: { transactionalId: string; producerId: bigint; transactionState: TransactionState }[];
}

/** Each state and the states it may be entered from (TransactionState.validPreviousStates). */
const VALID_PREVIOUS_STATES: Record<TransactionState, readonly TransactionState[]> = {
  Empty: ["Empty", "CompleteCommit", "CompleteAbort"],
  Ongoing: ["Ongoing", "Empty", "CompleteCommit", "CompleteAbort"],
  PrepareCommit: ["Ongoing"],
  PrepareAbort: ["Ongoing", "PrepareEpochFence"],
  CompleteCommit: ["PrepareCommit"],
  CompleteAbort: ["PrepareAbort"],
  Dead: ["Empty", "CompleteAbort", "CompleteCommit"],
  PrepareEpochFence: ["Ongoing"],
};

/** Whether `to` may follow `from` (Kafka's validPreviousStates), for tests and assertions. */
export function isValidTransition(from: TransactionState, to: TransactionState): boolean {
  return VALID_PREVIOUS_STATES[to].includes(from);
}

/** Versions before these cannot carry PRODUCER_FENCED: Kafka answers INVALID_PRODUCER_EPOCH to them. */
export const FIRST_VERSION_WITH_PRODUCER_FENCED = {
  InitProducerId: 4,
  AddPartitionsToTxn: 2,
  AddOffsetsToTxn: 2,
  EndTxn: 2,
} as const;

/** The error code a handler puts on the wire for this API version (KafkaApis' PRODUCER_FENCED downgrade). */
export function errorCodeForVersion(
  errorCode: number,
  api: keyof typeof FIRST_VERSION_WITH_PRODUCER_FENCED,
  apiVersion: number,
): number {
  return errorCode === ErrorCode.PRODUCER_FENCED && apiVersion < FIRST_VERSION_WITH_PRODUCER_FENCED[api]
    ? ErrorCode.INVALID_PRODUCER_EPOCH
    : errorCode;
}

// ---------------------------------------------------------------- in-memory metadata

/** Kafka's TransactionMetadata: mutable, changed only by completing a stored transition. */
interface TxnMetadata {
  readonly transactionalId: string;
  producerId: bigint;
  previousProducerId: bigint;
  nextProducerId: bigint;
  producerEpoch: number;
  lastProducerEpoch: number;
  txnTimeoutMs: number;
  state: TransactionState;
  /** By `topic\0partition`. */
  partitions: Map<string, TopicPartition>;
  txnStartTimestampMs: number;
  txnLastUpdateTimestampMs: number;
  clientTransactionVersion: number;
  /** The state a record being stored will move to; blocks other transitions meanwhile. */
  pendingState: TransactionState | null;
  /** A fence's epoch bump was not stored: the next fence reuses the bumped epoch (never returned to a client). */
  hasFailedEpochFence: boolean;
}

interface PartitionEntry {
  coordinatorEpoch: number;
  transactions: Map<string, TxnMetadata>;
}

interface PendingMarkers {
  meta: TxnMetadata;
  coordinatorEpoch: number;
  commit: boolean;
  producerId: bigint;
  producerEpoch: number;
  /** The Complete* transition stored once every partition has its marker. */
  complete: TransactionMetadataSnapshot;
}

type Timer =
  | { kind: "abort-timed-out" }
  | { kind: "expire-transactional-ids" }
  | { kind: "markers"; pending: PendingMarkers; partitions: TopicPartition[] }
  | { kind: "complete"; pending: PendingMarkers };

const timerKey = {
  abort: "abort-timed-out",
  expire: "expire-transactional-ids",
  markers: (transactionalId: string) => `m\u0000${transactionalId}`,
  complete: (transactionalId: string) => `c\u0000${transactionalId}`,
};

type Lookup = { errorCode: number } | { errorCode: 0; entry: PartitionEntry; meta: TxnMetadata | undefined };

const tpKey = (tp: TopicPartition) => `${tp.topic}\u0000${tp.partition}`;
const byTopicPartition = (a: TopicPartition, b: TopicPartition) =>
  a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition;

const isEpochExhausted = (epoch: number) => epoch >= EXHAUSTED_PRODUCER_EPOCH;

export class TransactionCoordinator {
  readonly config: TransactionCoordinatorConfig;
  private readonly clock: () => number;
  private readonly allocate: () => bigint;
  private readonly storeHook: StoreHook | undefined;
  private readonly writeMarkersHook: WriteMarkersHook | undefined;
  private readonly offsetsPartitionFor: (groupId: string) => number;
  private readonly owned = new Map<number, PartitionEntry>();
  private readonly loading = new Map<number, { coordinatorEpoch: number; loaded: Map<string, TxnMetadata> }>();
  /** Transactions whose markers are being written (Kafka's transactionsWithPendingMarkers). */
  private readonly pendingMarkers = new Map<string, PendingMarkers>();
  private readonly timers = new TimerQueue<Timer>();
  private active = true;
  private firingAtMs: number | null = null;
  private readonly deliveries: (() => void)[] = [];
  private depth = 0;
  private delivering = false;

  constructor(options: TransactionCoordinatorOptions) {
    this.config = { ...DEFAULT_TRANSACTION_COORDINATOR_CONFIG, ...options.config };
    this.clock = options.clock;
    this.allocate = options.allocateProducerId;
    this.storeHook = options.store;
    this.writeMarkersHook = options.writeMarkers;
    this.offsetsPartitionFor =
      options.offsetsPartitionFor ?? ((g) => consumerOffsetsPartitionFor(g, DEFAULT_OFFSETS_TOPIC_PARTITIONS));
    const now = this.clock();
    this.timers.schedule(timerKey.abort, now + this.config.abortTimedOutTransactionsIntervalMs, {
      kind: "abort-timed-out",
    });
    this.timers.schedule(timerKey.expire, now + this.config.removeExpiredTransactionalIdsIntervalMs, {
      kind: "expire-transactional-ids",
    });
  }

  // ---------------------------------------------------------------- public API

  /** The `__transaction_state` partition of a transactional id. */
  partitionFor(transactionalId: string): number {
    return transactionStatePartitionFor(transactionalId, this.config.transactionStatePartitions);
  }

  initProducerId(request: InitProducerIdRequest): Promise<InitProducerIdResult> {
    return new Promise((resolve) => this.handleInitProducerId(request, resolve));
  }

  addPartitionsToTxn(request: AddPartitionsToTxnRequest): Promise<number> {
    return new Promise((resolve) => this.handleAddPartitionsToTxn(request, resolve));
  }

  addOffsetsToTxn(request: AddOffsetsToTxnRequest): Promise<number> {
    return new Promise((resolve) => this.handleAddOffsetsToTxn(request, resolve));
  }

  endTxn(request: EndTxnRequest): Promise<EndTxnResult> {
    return new Promise((resolve) => this.handleEndTxn(request, resolve));
  }

  handleInitProducerId(request: InitProducerIdRequest, callback: (result: InitProducerIdResult) => void): void {
    this.run(() => this.doInitProducerId(request, callback));
  }

  /** AddPartitionsToTxn v0-3, and each transaction of v4+ without VerifyOnly: one error code for all its partitions. */
  handleAddPartitionsToTxn(request: AddPartitionsToTxnRequest, callback: (errorCode: number) => void): void {
    this.run(() => this.doAddPartitions(request.transactionalId, request, request.partitions, callback));
  }

  /** AddOffsetsToTxn: adds the group's `__consumer_offsets` partition to the transaction. */
  handleAddOffsetsToTxn(request: AddOffsetsToTxnRequest, callback: (errorCode: number) => void): void {
    const partition = { topic: CONSUMER_OFFSETS_TOPIC, partition: this.offsetsPartitionFor(request.groupId) };
    this.run(() => this.doAddPartitions(request.transactionalId, request, [partition], callback));
  }

  /**
   * AddPartitionsToTxn v4+ with VerifyOnly (sent by a partition leader before it appends a
   * transactional batch, KIP-890): whether each partition is in the transaction, NONE or
   * TRANSACTION_ABORTABLE. Reads only: no pending-state check, as Kafka (the append is checked again).
   */
  verifyPartitionsInTxn(request: AddPartitionsToTxnRequest): PartitionResult[] {
    return this.run(() => {
      const all = (errorCode: number) => request.partitions.map((tp) => ({ ...tp, errorCode }));
      if (request.transactionalId === "") return all(ErrorCode.INVALID_REQUEST);
      const found = this.lookup(request.transactionalId);
      if (!("entry" in found)) return all(found.errorCode);
      const meta = found.meta;
      if (meta === undefined) return all(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
      if (meta.producerId !== request.producerId) return all(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
      if (meta.producerEpoch !== request.producerEpoch) return all(ErrorCode.PRODUCER_FENCED);
      if (meta.state === "PrepareCommit" || meta.state === "PrepareAbort")
        return all(ErrorCode.CONCURRENT_TRANSACTIONS);
      return request.partitions.map((tp) => ({
        ...tp,
        errorCode: meta.partitions.has(tpKey(tp)) ? ErrorCode.NONE : ErrorCode.TRANSACTION_ABORTABLE,
      }));
    });
  }

  handleEndTxn(request: EndTxnRequest, callback: (result: EndTxnResult) => void): void {
    this.run(() =>
      this.endTransaction(
        request.transactionalId,
        request.producerId,
        request.producerEpoch,
        request.committed,
        true,
        (errorCode, producerId, producerEpoch) => callback({ errorCode, producerId, producerEpoch }),
      ),
    );
  }

  describeTransaction(transactionalId: string): TransactionDescription {
    return this.run(() => {
      const error = (errorCode: number): TransactionDescription => ({
        errorCode,
        transactionalId,
        transactionState: "",
        transactionTimeoutMs: 0,
        transactionStartTimeMs: 0,
        producerId: 0n,
        producerEpoch: 0,
        topics: [],
      });
      if (!this.active) return error(ErrorCode.COORDINATOR_NOT_AVAILABLE);
      if (transactionalId === "") return error(ErrorCode.INVALID_REQUEST);
      const found = this.lookup(transactionalId);
      if (!("entry" in found)) return error(found.errorCode);
      const meta = found.meta;
      if (meta === undefined || meta.state === "Dead") return error(ErrorCode.TRANSACTIONAL_ID_NOT_FOUND);
      const topics = new Map<string, number[]>();
      for (const tp of sortedPartitions(meta)) {
        const list = topics.get(tp.topic);
        if (list === undefined) topics.set(tp.topic, [tp.partition]);
        else list.push(tp.partition);
      }
      return {
        errorCode: ErrorCode.NONE,
        transactionalId,
        transactionState: meta.state,
        transactionTimeoutMs: meta.txnTimeoutMs,
        transactionStartTimeMs: meta.txnStartTimestampMs,
        producerId: meta.producerId,
        producerEpoch: meta.producerEpoch,
        topics: [...topics].map(([topic, partitions]) => ({ topic, partitions })),
      };
    });
  }

  listTransactions(filter: ListTransactionsFilter): ListTransactionsResult {
    return this.run(() => {
      const result: ListTransactionsResult = {
        errorCode: ErrorCode.NONE,
        unknownStateFilters: [],
        transactionStates: [],
      };
      if (!this.active) return { ...result, errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE };
      if (this.loading.size > 0) return { ...result, errorCode: ErrorCode.COORDINATOR_LOAD_IN_PROGRESS };
      let pattern: RegExp | null = null;
      if (filter.transactionalIdPattern !== null && filter.transactionalIdPattern !== "") {
        try {
          pattern = new RegExp(`^(?:${filter.transactionalIdPattern})$`, "u");
        } catch {
          return { ...result, errorCode: ErrorCode.INVALID_REGULAR_EXPRESSION };
        }
      }
      const states = new Set<TransactionState>();
      for (const name of filter.stateFilters) {
        const state = transactionStateFromName(name);
        if (state === undefined) result.unknownStateFilters.push(name);
        else states.add(state);
      }
      const producerIds = new Set(filter.producerIdFilters);
      const now = this.now();
      for (const entry of this.owned.values()) {
        for (const meta of entry.transactions.values()) {
          if (meta.state === "Dead") continue;
          if (producerIds.size > 0 && !producerIds.has(meta.producerId)) continue;
          if (filter.stateFilters.length > 0 && !states.has(meta.state)) continue;
          if (filter.durationFilterMs >= 0 && now - meta.txnStartTimestampMs <= filter.durationFilterMs) continue;
          if (pattern !== null && !pattern.test(meta.transactionalId)) continue;
          result.transactionStates.push({
            transactionalId: meta.transactionalId,
            producerId: meta.producerId,
            transactionState: meta.state,
          });
        }
      }
      return result;
    });
  }

  /** The metadata of a transactional id and its pending state, for the service and tests; undefined if not cached. */
  transactionMetadata(
    transactionalId: string,
  ): (TransactionMetadataSnapshot & { pendingState: TransactionState | null }) | undefined {
    const meta = this.owned.get(this.partitionFor(transactionalId))?.transactions.get(transactionalId);
    if (meta === undefined) return undefined;
    return { ...snapshotOf(meta), pendingState: meta.pendingState };
  }

  /**
   * This broker becomes the coordinator of a `__transaction_state` partition (Kafka's onElection):
   * its ids answer COORDINATOR_LOAD_IN_PROGRESS until completeLoading; markers still being sent
   * for it under an older epoch are forgotten.
   */
  beginLoading(partition: number, coordinatorEpoch: number): void {
    this.run(() => {
      this.checkPartition(partition);
      this.dropPendingMarkers(partition);
      this.loading.set(partition, { coordinatorEpoch, loaded: new Map() });
    });
  }

  /** One record of the partition being loaded, in log order; null is a tombstone. */
  loadTransaction(transactionalId: string, snapshot: TransactionMetadataSnapshot | null): void {
    const partition = this.partitionFor(transactionalId);
    const loading = this.loading.get(partition);
    if (loading === undefined) throw new Error(`${transactionalId}: partition ${partition} is not being loaded`);
    if (snapshot === null) {
      loading.loaded.delete(transactionalId);
      return;
    }
    if (snapshot.transactionalId !== transactionalId) throw new Error(`${transactionalId}: snapshot of another id`);
    if (snapshot.state === "Dead" || snapshot.state === "PrepareEpochFence") {
      throw new Error(`${transactionalId}: a stored transaction is never ${snapshot.state}`);
    }
    loading.loaded.set(transactionalId, metadataFromSnapshot(snapshot));
  }

  /**
   * The partition is loaded: its ids are served, and transactions found in PrepareCommit or
   * PrepareAbort write their markers and complete (Kafka's loadTransactionsForTxnTopicPartition).
   */
  completeLoading(partition: number): void {
    this.run(() => {
      const loading = this.loading.get(partition);
      if (loading === undefined) throw new Error(`partition ${partition} is not being loaded`);
      this.loading.delete(partition);
      const entry = { coordinatorEpoch: loading.coordinatorEpoch, transactions: loading.loaded };
      this.owned.set(partition, entry);
      for (const meta of entry.transactions.values()) {
        if (meta.state !== "PrepareCommit" && meta.state !== "PrepareAbort") continue;
        const complete = prepareComplete(meta, this.now());
        this.sendMarkers(meta, entry.coordinatorEpoch, meta.state === "PrepareCommit", complete);
      }
    });
  }

  /** This broker is no longer the coordinator of the partition (Kafka's onResignation). */
  unloadPartition(partition: number): void {
    this.run(() => {
      this.loading.delete(partition);
      this.owned.delete(partition);
      this.dropPendingMarkers(partition);
    });
  }

  /** The earliest timer deadline: the broker arms one Node timer for it and calls tick(). */
  nextDeadlineMs(): number | undefined {
    return this.timers.peekDeadlineMs();
  }

  /** Fires every timer due at or before nowMs, each at its own deadline. */
  tick(nowMs: number): void {
    this.run(() => {
      for (let due = this.timers.pollDue(nowMs); due !== undefined; due = this.timers.pollDue(nowMs)) {
        this.firingAtMs = due.deadlineMs;
        try {
          this.onTimer(due.value);
        } finally {
          this.firingAtMs = null;
        }
      }
    });
  }

  /** Drops every partition and timer; stores and markers still in flight complete without effect. */
  shutdown(): void {
    this.run(() => {
      this.active = false;
      this.owned.clear();
      this.loading.clear();
      this.pendingMarkers.clear();
      this.timers.clear();
    });
  }

  // ---------------------------------------------------------------- InitProducerId

  private doInitProducerId(req: InitProducerIdRequest, cb: (result: InitProducerIdResult) => void): void {
    const fail = (errorCode: number) =>
      this.deliver(() => cb({ errorCode, producerId: NO_PRODUCER_ID, producerEpoch: NO_PRODUCER_EPOCH }));
    // KafkaApis: a producer id without an epoch, or the reverse, is malformed.
    const expected =
      req.producerId === NO_PRODUCER_ID && req.producerEpoch === NO_PRODUCER_EPOCH
        ? null
        : { producerId: req.producerId, producerEpoch: req.producerEpoch };
    if (expected !== null && (req.producerId === NO_PRODUCER_ID || req.producerEpoch === NO_PRODUCER_EPOCH)) {
      fail(ErrorCode.INVALID_REQUEST);
      return;
    }
    if (req.transactionalId === null) {
      // An idempotent producer: always a new producer id at epoch 0.
      const allocated = this.allocateProducerId();
      if (typeof allocated === "number") {
        fail(allocated);
        return;
      }
      this.deliver(() => cb({ errorCode: ErrorCode.NONE, producerId: allocated, producerEpoch: 0 }));
      return;
    }
    const transactionalId = req.transactionalId;
    if (transactionalId === "") {
      fail(ErrorCode.INVALID_REQUEST);
      return;
    }
    if (req.transactionTimeoutMs <= 0 || req.transactionTimeoutMs > this.config.transactionMaxTimeoutMs) {
      fail(ErrorCode.INVALID_TRANSACTION_TIMEOUT);
      return;
    }
    const found = this.lookup(transactionalId);
    if (!("entry" in found)) {
      fail(found.errorCode);
      return;
    }
    let meta = found.meta;
    if (meta === undefined) {
      const allocated = this.allocateProducerId();
      if (typeof allocated === "number") {
        fail(allocated);
        return;
      }
      // Cached before its first record is stored, as Kafka's putTransactionStateIfNotExists.
      meta = newMetadata(transactionalId, allocated, req.transactionTimeoutMs, this.now());
      found.entry.transactions.set(transactionalId, meta);
    }
    const coordinatorEpoch = found.entry.coordinatorEpoch;
    const transit = this.prepareInitProducerIdTransit(meta, req.transactionTimeoutMs, expected);
    if (typeof transit === "number") {
      fail(transit);
      return;
    }

    if (transit.state === "PrepareEpochFence") {
      // Abort the open transaction with the bumped epoch; the client retries and then gets a
      // second bump (or a new producer id if the fence used the last epoch).
      this.endTransaction(transactionalId, transit.producerId, transit.producerEpoch, false, false, (errorCode) =>
        fail(errorCode === ErrorCode.NONE ? ErrorCode.CONCURRENT_TRANSACTIONS : errorCode),
      );
      return;
    }
    this.appendToLog(meta, coordinatorEpoch, transit, (errorCode) => {
      if (errorCode !== ErrorCode.NONE) {
        fail(errorCode);
        return;
      }
      this.deliver(() =>
        cb({ errorCode: ErrorCode.NONE, producerId: transit.producerId, producerEpoch: transit.producerEpoch }),
      );
    });
  }

  private prepareInitProducerIdTransit(
    meta: TxnMetadata,
    timeoutMs: number,
    expected: { producerId: bigint; producerEpoch: number } | null,
  ): TransactionMetadataSnapshot | number {
    if (meta.pendingState !== null) return ErrorCode.CONCURRENT_TRANSACTIONS;
    if (expected !== null) {
      // Accepted: a just-created id (the producer recovers from UNKNOWN_PRODUCER_ID), the current
      // producer id (its epoch is checked below), or a retry after a rotation whose answer was lost.
      const valid =
        meta.producerEpoch === NO_PRODUCER_EPOCH ||
        expected.producerId === meta.producerId ||
        (expected.producerId === meta.previousProducerId && isEpochExhausted(expected.producerEpoch));
      if (!valid) return ErrorCode.PRODUCER_FENCED;
    }
    switch (meta.state) {
      case "PrepareCommit":
      case "PrepareAbort":
        return ErrorCode.CONCURRENT_TRANSACTIONS;
      case "Empty":
      case "CompleteCommit":
      case "CompleteAbort": {
        if (
          isEpochExhausted(meta.producerEpoch) &&
          (expected === null || expected.producerEpoch === meta.producerEpoch)
        ) {
          const allocated = this.allocateProducerId();
          if (typeof allocated === "number") return allocated;
          // A new producer id at epoch 0; the last epoch lets a retry of this request be recognised.
          return prepareTransitionTo(meta, "Empty", {
            producerId: allocated,
            producerEpoch: 0,
            lastProducerEpoch: expected !== null ? meta.producerEpoch : NO_PRODUCER_EPOCH,
            txnTimeoutMs: timeoutMs,
            partitions: [],
            txnStartTimestampMs: -1,
            updateTimestampMs: this.now(),
          });
        }
        return prepareIncrementProducerEpoch(meta, timeoutMs, expected?.producerEpoch ?? null, this.now());
      }
      case "Ongoing":
        // Never returned to a client: the ongoing transaction is aborted with this epoch first.
        return prepareFenceProducerEpoch(meta);
      case "Dead":
      case "PrepareEpochFence":
        throw new Error(`${meta.transactionalId}: found in state ${meta.state}, which is never a current state`);
    }
  }

  // ---------------------------------------------------------------- AddPartitionsToTxn / AddOffsetsToTxn

  private doAddPartitions(
    transactionalId: string,
    producer: { producerId: bigint; producerEpoch: number },
    partitions: TopicPartition[],
    cb: (errorCode: number) => void,
  ): void {
    const answer = (errorCode: number) => this.deliver(() => cb(errorCode));
    if (transactionalId === "") {
      answer(ErrorCode.INVALID_REQUEST);
      return;
    }
    const found = this.lookup(transactionalId);
    if (!("entry" in found)) {
      answer(found.errorCode);
      return;
    }
    const meta = found.meta;
    if (meta === undefined) {
      answer(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
      return;
    }
    if (meta.producerId !== producer.producerId) {
      answer(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
      return;
    }
    if (meta.producerEpoch !== producer.producerEpoch) {
      answer(ErrorCode.PRODUCER_FENCED);
      return;
    }
    if (meta.pendingState !== null) {
      answer(ErrorCode.CONCURRENT_TRANSACTIONS);
      return;
    }
    if (meta.state === "PrepareCommit" || meta.state === "PrepareAbort") {
      answer(ErrorCode.CONCURRENT_TRANSACTIONS);
      return;
    }
    if (meta.state === "Ongoing" && partitions.every((tp) => meta.partitions.has(tpKey(tp)))) {
      answer(ErrorCode.NONE);
      return;
    }
    const now = this.now();
    const starts = meta.state === "Empty" || meta.state === "CompleteCommit" || meta.state === "CompleteAbort";
    const merged = new Map(meta.partitions);
    for (const tp of partitions) merged.set(tpKey(tp), { topic: tp.topic, partition: tp.partition });
    const transit = prepareTransitionTo(meta, "Ongoing", {
      producerId: meta.producerId,
      producerEpoch: meta.producerEpoch,
      lastProducerEpoch: meta.lastProducerEpoch,
      txnTimeoutMs: meta.txnTimeoutMs,
      partitions: [...merged.values()],
      txnStartTimestampMs: starts ? now : meta.txnStartTimestampMs,
      updateTimestampMs: now,
    });
    this.appendToLog(meta, found.entry.coordinatorEpoch, transit, answer);
  }

  // ---------------------------------------------------------------- EndTxn

  /**
   * Kafka's endTransaction, for EndTxn (fromClient) and for the coordinator's own aborts (epoch
   * fence by InitProducerId, timeouts), which come with the already-bumped epoch.
   */
  private endTransaction(
    transactionalId: string,
    producerId: bigint,
    producerEpoch: number,
    commit: boolean,
    fromClient: boolean,
    cb: (errorCode: number, producerId: bigint, producerEpoch: number) => void,
  ): void {
    const fail = (errorCode: number) => this.deliver(() => cb(errorCode, NO_PRODUCER_ID, NO_PRODUCER_EPOCH));
    if (transactionalId === "") {
      fail(ErrorCode.INVALID_REQUEST);
      return;
    }
    const found = this.lookup(transactionalId);
    if (!("entry" in found)) {
      fail(found.errorCode);
      return;
    }
    const meta = found.meta;
    if (meta === undefined) {
      fail(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
      return;
    }
    const coordinatorEpoch = found.entry.coordinatorEpoch;

    if (meta.producerId !== producerId) {
      fail(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
      return;
    }
    // A client must use the current epoch; the coordinator's own abort may carry a higher one.
    const validEpoch = (!fromClient || producerEpoch === meta.producerEpoch) && producerEpoch >= meta.producerEpoch;
    if (!validEpoch) {
      fail(ErrorCode.PRODUCER_FENCED);
      return;
    }
    if (meta.pendingState !== null && meta.pendingState !== "PrepareEpochFence") {
      fail(ErrorCode.CONCURRENT_TRANSACTIONS);
      return;
    }
    let isEpochFence = false;
    let transit: TransactionMetadataSnapshot;
    switch (meta.state) {
      case "Ongoing": {
        const next: TransactionState = commit ? "PrepareCommit" : "PrepareAbort";
        if (next === "PrepareAbort" && meta.pendingState === "PrepareEpochFence") {
          // The fence takes effect in memory now, so the fenced producer's requests fail at once.
          isEpochFence = true;
          meta.pendingState = null;
          meta.producerEpoch = producerEpoch;
          meta.lastProducerEpoch = NO_PRODUCER_EPOCH;
        }
        transit = prepareTransitionTo(meta, next, {
          producerId: meta.producerId,
          producerEpoch: meta.producerEpoch,
          lastProducerEpoch: meta.lastProducerEpoch,
          txnTimeoutMs: meta.txnTimeoutMs,
          partitions: [...meta.partitions.values()],
          txnStartTimestampMs: meta.txnStartTimestampMs,
          updateTimestampMs: this.now(),
        });
        break;
      }
      case "CompleteCommit":
      case "CompleteAbort":
        // A retry of an EndTxn that already completed succeeds; the other outcome is a client bug.
        if (commit === (meta.state === "CompleteCommit")) {
          const { producerId: id, producerEpoch: epoch } = meta;
          this.deliver(() => cb(ErrorCode.NONE, id, epoch));
          return;
        }
        fail(ErrorCode.INVALID_TXN_STATE);
        return;
      case "PrepareCommit":
      case "PrepareAbort":
        fail(
          commit === (meta.state === "PrepareCommit") ? ErrorCode.CONCURRENT_TRANSACTIONS : ErrorCode.INVALID_TXN_STATE,
        );
        return;
      case "Empty":
        fail(ErrorCode.INVALID_TXN_STATE);
        return;
      case "Dead":
      case "PrepareEpochFence":
        throw new Error(`${transactionalId}: found in state ${meta.state}, which is never a current state`);
    }
    this.appendToLog(meta, coordinatorEpoch, transit, (errorCode) => {
      if (errorCode !== ErrorCode.NONE) {
        if (isEpochFence) {
          const now = this.lookup(transactionalId);
          if ("entry" in now && now.meta === meta && now.entry.coordinatorEpoch === coordinatorEpoch) {
            meta.hasFailedEpochFence = true;
          }
        }
        fail(errorCode);
        return;
      }
      // The Prepare* record is stored: answer, then write the markers.
      if (meta.producerId !== producerId) {
        fail(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
        return;
      }
      if (meta.producerEpoch !== producerEpoch) {
        fail(ErrorCode.PRODUCER_FENCED);
        return;
      }
      if (meta.pendingState !== null) {
        fail(ErrorCode.CONCURRENT_TRANSACTIONS);
        return;
      }
      if (meta.state !== (commit ? "PrepareCommit" : "PrepareAbort")) {
        fail(ErrorCode.INVALID_TXN_STATE);
        return;
      }
      const complete = prepareComplete(meta, this.now());
      const { producerId: id, producerEpoch: epoch } = meta;
      this.deliver(() => cb(ErrorCode.NONE, id, epoch));
      this.sendMarkers(meta, coordinatorEpoch, commit, complete);
    });
  }

  // ---------------------------------------------------------------- markers

  private sendMarkers(
    meta: TxnMetadata,
    coordinatorEpoch: number,
    commit: boolean,
    complete: TransactionMetadataSnapshot,
  ): void {
    const pending: PendingMarkers = {
      meta,
      coordinatorEpoch,
      commit,
      producerId: meta.producerId,
      producerEpoch: meta.producerEpoch,
      complete,
    };
    this.pendingMarkers.set(meta.transactionalId, pending);
    this.sendMarkerBatch(pending, sortedPartitions(meta));
  }

  private sendMarkerBatch(pending: PendingMarkers, partitions: TopicPartition[]): void {
    if (partitions.length === 0) {
      this.maybeWriteCompletion(pending);
      return;
    }
    const hook = this.writeMarkersHook;
    if (hook === undefined) {
      this.onMarkerResults(
        pending,
        partitions,
        partitions.map((tp) => ({ ...tp, errorCode: ErrorCode.NONE })),
      );
      return;
    }
    let called = false;
    hook(pending.producerId, pending.producerEpoch, partitions, pending.commit, pending.coordinatorEpoch, (results) => {
      if (called) return;
      called = true;
      this.run(() => this.onMarkerResults(pending, partitions, results));
    });
  }

  /** Kafka's TransactionMarkerRequestCompletionHandler, per partition. */
  private onMarkerResults(pending: PendingMarkers, sent: TopicPartition[], results: MarkerResult[]): void {
    const { meta } = pending;
    if (this.pendingMarkers.get(meta.transactionalId) !== pending) return;
    if (!this.isCurrent(meta, pending.coordinatorEpoch)) {
      this.pendingMarkers.delete(meta.transactionalId);
      return;
    }
    const codes = new Map(results.map((r) => [tpKey(r), r.errorCode]));
    const retry: TopicPartition[] = [];
    for (const tp of sent) {
      const errorCode = codes.get(tpKey(tp)) ?? ErrorCode.REQUEST_TIMED_OUT;
      switch (errorCode) {
        case ErrorCode.NONE:
        case ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT:
        case ErrorCode.UNSUPPORTED_VERSION:
          meta.partitions.delete(tpKey(tp));
          break;
        case ErrorCode.INVALID_PRODUCER_EPOCH:
        case ErrorCode.TRANSACTION_COORDINATOR_FENCED:
          // A newer producer epoch or coordinator owns the partition: this transaction's markers are moot.
          this.pendingMarkers.delete(meta.transactionalId);
          this.timers.cancel(timerKey.markers(meta.transactionalId));
          return;
        default:
          retry.push(tp);
      }
    }
    if (retry.length > 0) {
      this.timers.schedule(timerKey.markers(meta.transactionalId), this.now() + MARKER_RETRY_BACKOFF_MS, {
        kind: "markers",
        pending,
        partitions: retry,
      });
      return;
    }
    this.maybeWriteCompletion(pending);
  }

  private maybeWriteCompletion(pending: PendingMarkers): void {
    const { meta } = pending;
    if (meta.partitions.size > 0 || this.pendingMarkers.get(meta.transactionalId) !== pending) return;
    this.pendingMarkers.delete(meta.transactionalId);
    if (!this.isCurrent(meta, pending.coordinatorEpoch)) return;
    this.appendCompletion(pending);
  }

  /**
   * Stores Complete*; retried, whatever the error, until it is stored or this coordinator no
   * longer owns the partition at that epoch (then the next owner's load completes it).
   */
  private appendCompletion(pending: PendingMarkers): void {
    this.appendToLog(
      pending.meta,
      pending.coordinatorEpoch,
      pending.complete,
      (errorCode) => {
        if (errorCode === ErrorCode.NONE) return;
        if (!this.isCurrent(pending.meta, pending.coordinatorEpoch)) return;
        this.timers.schedule(timerKey.complete(pending.meta.transactionalId), this.now() + MARKER_RETRY_BACKOFF_MS, {
          kind: "complete",
          pending,
        });
      },
      () => true,
    );
  }

  private dropPendingMarkers(partition: number): void {
    for (const transactionalId of [...this.pendingMarkers.keys()]) {
      if (this.partitionFor(transactionalId) !== partition) continue;
      this.pendingMarkers.delete(transactionalId);
      this.timers.cancel(timerKey.markers(transactionalId));
      this.timers.cancel(timerKey.complete(transactionalId));
    }
  }

  // ---------------------------------------------------------------- timers

  private onTimer(timer: Timer): void {
    switch (timer.kind) {
      case "abort-timed-out":
        this.timers.schedule(timerKey.abort, this.now() + this.config.abortTimedOutTransactionsIntervalMs, timer);
        this.abortTimedOutTransactions();
        return;
      case "expire-transactional-ids":
        this.timers.schedule(timerKey.expire, this.now() + this.config.removeExpiredTransactionalIdsIntervalMs, timer);
        this.removeExpiredTransactionalIds();
        return;
      case "markers":
        if (this.pendingMarkers.get(timer.pending.meta.transactionalId) !== timer.pending) return;
        this.sendMarkerBatch(timer.pending, timer.partitions);
        return;
      case "complete": {
        const { meta, complete } = timer.pending;
        if (!this.isCurrent(meta, timer.pending.coordinatorEpoch) || meta.pendingState !== complete.state) return;
        this.appendCompletion(timer.pending);
        return;
      }
    }
  }

  /** Ongoing transactions open longer than their timeout are fenced and aborted (Kafka's abortTimedOutTransactions). */
  private abortTimedOutTransactions(): void {
    const now = this.now();
    const timedOut: TxnMetadata[] = [];
    for (const entry of this.owned.values()) {
      for (const meta of entry.transactions.values()) {
        if (
          meta.pendingState === null &&
          meta.state === "Ongoing" &&
          meta.txnStartTimestampMs + meta.txnTimeoutMs < now
        ) {
          timedOut.push(meta);
        }
      }
    }
    for (const meta of timedOut) {
      if (meta.pendingState !== null || meta.state !== "Ongoing") continue;
      const transit = prepareFenceProducerEpoch(meta);
      this.endTransaction(meta.transactionalId, transit.producerId, transit.producerEpoch, false, false, () => {});
    }
  }

  /** Idle transactional ids older than transactional.id.expiration.ms get a tombstone, then leave the cache. */
  private removeExpiredTransactionalIds(): void {
    const now = this.now();
    for (const entry of this.owned.values()) {
      for (const meta of [...entry.transactions.values()]) {
        if (meta.pendingState !== null) continue;
        if (meta.state !== "Empty" && meta.state !== "CompleteCommit" && meta.state !== "CompleteAbort") continue;
        if (meta.txnLastUpdateTimestampMs > now - this.config.transactionalIdExpirationMs) continue;
        const producerEpoch = meta.producerEpoch;
        prepareTransitionTo(meta, "Dead", {
          producerId: meta.producerId,
          producerEpoch,
          lastProducerEpoch: meta.lastProducerEpoch,
          txnTimeoutMs: meta.txnTimeoutMs,
          partitions: [],
          txnStartTimestampMs: meta.txnStartTimestampMs,
          updateTimestampMs: meta.txnLastUpdateTimestampMs,
        });
        this.store(meta.transactionalId, null, (errorCode) => {
          const current = this.owned.get(this.partitionFor(meta.transactionalId));
          if (current !== entry || current.transactions.get(meta.transactionalId) !== meta) return;
          if (errorCode === ErrorCode.NONE && meta.pendingState === "Dead" && meta.producerEpoch === producerEpoch) {
            entry.transactions.delete(meta.transactionalId);
          } else if (meta.pendingState === "Dead") {
            meta.pendingState = null;
          }
        });
      }
    }
  }

  // ---------------------------------------------------------------- persistence

  /**
   * Kafka's appendTransactionToLog: stores the transition, then completes it in memory if this
   * coordinator still owns the id at the same epoch; on failure the pending state is dropped
   * (unless the caller will retry). `onDone` gets Kafka's mapping of append errors.
   */
  private appendToLog(
    meta: TxnMetadata,
    coordinatorEpoch: number,
    transit: TransactionMetadataSnapshot,
    onDone: (errorCode: number) => void,
    retryOnError: (errorCode: number) => boolean = () => false,
  ): void {
    if (!this.isCurrent(meta, coordinatorEpoch)) {
      const found = this.lookup(meta.transactionalId);
      onDone("entry" in found ? ErrorCode.NOT_COORDINATOR : found.errorCode);
      return;
    }
    this.store(meta.transactionalId, transit, (appendError) => {
      let errorCode = appendErrorToCoordinatorError(appendError);
      const found = this.lookup(meta.transactionalId);
      const current = "entry" in found && found.meta === meta && found.entry.coordinatorEpoch === coordinatorEpoch;
      if (errorCode === ErrorCode.NONE) {
        if (!("entry" in found)) errorCode = found.errorCode;
        else if (!current) errorCode = ErrorCode.NOT_COORDINATOR;
        else completeTransitionTo(meta, transit);
      } else if (current && !retryOnError(errorCode)) {
        meta.pendingState = null;
      }
      onDone(errorCode);
    });
  }

  /** Calls the store hook; `onDone` runs once, inside the coordinator, whenever the hook answers. */
  private store(
    transactionalId: string,
    snapshot: TransactionMetadataSnapshot | null,
    onDone: (errorCode: number) => void,
  ): void {
    if (this.storeHook === undefined) {
      onDone(ErrorCode.NONE);
      return;
    }
    let called = false;
    this.storeHook(transactionalId, snapshot, (errorCode) => {
      if (called) return;
      called = true;
      this.run(() => onDone(errorCode));
    });
  }

  // ---------------------------------------------------------------- helpers

  private lookup(transactionalId: string): Lookup {
    const partition = this.partitionFor(transactionalId);
    if (this.loading.has(partition)) return { errorCode: ErrorCode.COORDINATOR_LOAD_IN_PROGRESS };
    const entry = this.owned.get(partition);
    if (entry === undefined) return { errorCode: ErrorCode.NOT_COORDINATOR };
    return { errorCode: ErrorCode.NONE, entry, meta: entry.transactions.get(transactionalId) };
  }

  /** Whether this metadata object is still the cached one, at the same coordinator epoch. */
  private isCurrent(meta: TxnMetadata, coordinatorEpoch: number): boolean {
    const found = this.lookup(meta.transactionalId);
    return "entry" in found && found.meta === meta && found.entry.coordinatorEpoch === coordinatorEpoch;
  }

  private allocateProducerId(): bigint | number {
    try {
      return this.allocate();
    } catch (e) {
      return e instanceof KafkaError ? e.code : ErrorCode.UNKNOWN_SERVER_ERROR;
    }
  }

  private checkPartition(partition: number): void {
    if (!Number.isInteger(partition) || partition < 0 || partition >= this.config.transactionStatePartitions) {
      throw new RangeError(`no partition ${partition} of __transaction_state`);
    }
  }

  private now(): number {
    return this.firingAtMs ?? this.clock();
  }

  /** Runs a state change; answers queued meanwhile are delivered after it, so a callback may re-enter. */
  private run<T>(fn: () => T): T {
    this.depth++;
    try {
      return fn();
    } finally {
      this.depth--;
      if (this.depth === 0 && !this.delivering) {
        this.delivering = true;
        try {
          for (let next = this.deliveries.shift(); next !== undefined; next = this.deliveries.shift()) next();
        } finally {
          this.delivering = false;
        }
      }
    }
  }

  private deliver(answer: () => void): void {
    this.deliveries.push(answer);
  }
}

// ---------------------------------------------------------------- transitions (Kafka's TransactionMetadata)

function newMetadata(transactionalId: string, producerId: bigint, timeoutMs: number, nowMs: number): TxnMetadata {
  return {
    transactionalId,
    producerId,
    previousProducerId: NO_PRODUCER_ID,
    nextProducerId: NO_PRODUCER_ID,
    producerEpoch: NO_PRODUCER_EPOCH,
    lastProducerEpoch: NO_PRODUCER_EPOCH,
    txnTimeoutMs: timeoutMs,
    state: "Empty",
    partitions: new Map(),
    txnStartTimestampMs: -1,
    txnLastUpdateTimestampMs: nowMs,
    clientTransactionVersion: 0,
    pendingState: null,
    hasFailedEpochFence: false,
  };
}

interface TransitFields {
  producerId: bigint;
  producerEpoch: number;
  lastProducerEpoch: number;
  txnTimeoutMs: number;
  partitions: TopicPartition[];
  txnStartTimestampMs: number;
  updateTimestampMs: number;
}

/** Checks the transition and marks it pending; the snapshot is what gets stored. */
function prepareTransitionTo(
  meta: TxnMetadata,
  state: TransactionState,
  f: TransitFields,
): TransactionMetadataSnapshot {
  if (meta.pendingState !== null) {
    throw new Error(`${meta.transactionalId}: transition to ${state} while ${meta.pendingState} is pending`);
  }
  if (f.producerId < 0n) throw new Error(`${meta.transactionalId}: illegal producer id ${f.producerId}`);
  if (state !== "Dead" && f.producerEpoch < 0)
    throw new Error(`${meta.transactionalId}: illegal epoch ${f.producerEpoch}`);
  if (!isValidTransition(meta.state, state)) {
    throw new Error(`${meta.transactionalId}: ${state} cannot follow ${meta.state}`);
  }
  meta.pendingState = state;
  return {
    transactionalId: meta.transactionalId,
    producerId: f.producerId,
    previousProducerId: meta.producerId,
    nextProducerId: NO_PRODUCER_ID,
    producerEpoch: f.producerEpoch,
    lastProducerEpoch: f.lastProducerEpoch,
    transactionTimeoutMs: f.txnTimeoutMs,
    state,
    partitions: [...f.partitions].sort(byTopicPartition),
    transactionStartTimestampMs: f.txnStartTimestampMs,
    transactionLastUpdateTimestampMs: f.updateTimestampMs,
    clientTransactionVersion: 0,
  };
}

function prepareFenceProducerEpoch(meta: TxnMetadata): TransactionMetadataSnapshot {
  // Checked only when bumping: after a failed fence at the last client epoch the epoch is already
  // Short.MaxValue and the retry reuses it (Kafka checks first and throws there).
  if (meta.producerEpoch === MAX_PRODUCER_EPOCH && !meta.hasFailedEpochFence) {
    throw new Error(`${meta.transactionalId}: cannot fence at epoch ${MAX_PRODUCER_EPOCH}, it would overflow`);
  }
  return prepareTransitionTo(meta, "PrepareEpochFence", {
    producerId: meta.producerId,
    producerEpoch: meta.hasFailedEpochFence ? meta.producerEpoch : meta.producerEpoch + 1,
    lastProducerEpoch: NO_PRODUCER_EPOCH,
    txnTimeoutMs: meta.txnTimeoutMs,
    partitions: [...meta.partitions.values()],
    txnStartTimestampMs: meta.txnStartTimestampMs,
    updateTimestampMs: meta.txnLastUpdateTimestampMs,
  });
}

/**
 * InitProducerId on an idle transactional id. With no expected epoch: bump. With one (KIP-360):
 * bump if it is current (or the id is new), answer the same epoch again if it is the last one (a
 * retry whose answer was lost), else the producer was fenced.
 */
function prepareIncrementProducerEpoch(
  meta: TxnMetadata,
  timeoutMs: number,
  expectedEpoch: number | null,
  nowMs: number,
): TransactionMetadataSnapshot | number {
  let epoch: number;
  let lastEpoch: number;
  if (expectedEpoch === null) {
    epoch = meta.producerEpoch + 1;
    lastEpoch = NO_PRODUCER_EPOCH;
  } else if (meta.producerEpoch === NO_PRODUCER_EPOCH || expectedEpoch === meta.producerEpoch) {
    epoch = meta.producerEpoch + 1;
    lastEpoch = meta.producerEpoch;
  } else if (expectedEpoch === meta.lastProducerEpoch) {
    epoch = meta.producerEpoch;
    lastEpoch = meta.lastProducerEpoch;
  } else {
    return ErrorCode.PRODUCER_FENCED;
  }
  if (epoch > meta.producerEpoch && isEpochExhausted(meta.producerEpoch)) {
    // Only reachable with an expected epoch that is not the current one (Kafka throws here).
    return ErrorCode.PRODUCER_FENCED;
  }
  return prepareTransitionTo(meta, "Empty", {
    producerId: meta.producerId,
    producerEpoch: epoch,
    lastProducerEpoch: lastEpoch,
    txnTimeoutMs: timeoutMs,
    partitions: [],
    txnStartTimestampMs: -1,
    updateTimestampMs: nowMs,
  });
}

function prepareComplete(meta: TxnMetadata, nowMs: number): TransactionMetadataSnapshot {
  // The Prepare* record is stored: a failed fence before it no longer matters.
  meta.hasFailedEpochFence = false;
  return prepareTransitionTo(meta, meta.state === "PrepareCommit" ? "CompleteCommit" : "CompleteAbort", {
    producerId: meta.producerId,
    producerEpoch: meta.producerEpoch,
    lastProducerEpoch: meta.producerEpoch,
    txnTimeoutMs: meta.txnTimeoutMs,
    partitions: [],
    txnStartTimestampMs: meta.txnStartTimestampMs,
    updateTimestampMs: nowMs,
  });
}

/** Applies a stored transition (Kafka's completeTransitionTo, transactions v0/v1), checking it first. */
function completeTransitionTo(meta: TxnMetadata, t: TransactionMetadataSnapshot): void {
  const fail = (why: string): never => {
    throw new Error(`${meta.transactionalId}: transition from ${meta.state} to ${t.state} failed: ${why}`);
  };
  if (meta.pendingState !== t.state) fail(`pending state is ${meta.pendingState}`);
  const sameProducer = t.producerId === meta.producerId && t.producerEpoch === meta.producerEpoch;
  switch (t.state) {
    case "Empty": {
      const bump =
        t.producerEpoch === meta.producerEpoch + 1 || (t.producerEpoch === 0 && t.producerId !== meta.producerId);
      if (
        (meta.producerEpoch !== t.producerEpoch && !bump) ||
        t.partitions.length > 0 ||
        t.transactionStartTimestampMs !== -1
      ) {
        fail("not an epoch bump of an idle transaction");
      }
      meta.txnTimeoutMs = t.transactionTimeoutMs;
      meta.producerEpoch = t.producerEpoch;
      meta.lastProducerEpoch = t.lastProducerEpoch;
      meta.previousProducerId = t.previousProducerId;
      meta.producerId = t.producerId;
      break;
    }
    case "Ongoing":
      if (!sameProducer || meta.txnTimeoutMs !== t.transactionTimeoutMs) fail("producer or timeout changed");
      for (const key of meta.partitions.keys()) {
        if (!t.partitions.some((tp) => tpKey(tp) === key)) fail(`partition ${key} dropped`);
      }
      meta.txnStartTimestampMs = t.transactionStartTimestampMs;
      for (const tp of t.partitions) meta.partitions.set(tpKey(tp), tp);
      break;
    case "PrepareCommit":
    case "PrepareAbort":
      if (
        !sameProducer ||
        meta.txnTimeoutMs !== t.transactionTimeoutMs ||
        meta.txnStartTimestampMs !== t.transactionStartTimestampMs ||
        t.partitions.length !== meta.partitions.size ||
        t.partitions.some((tp) => !meta.partitions.has(tpKey(tp)))
      ) {
        fail("transaction changed");
      }
      break;
    case "CompleteCommit":
    case "CompleteAbort":
      if (!sameProducer || meta.txnTimeoutMs !== t.transactionTimeoutMs || t.transactionStartTimestampMs === -1) {
        fail("transaction changed");
      }
      meta.txnStartTimestampMs = t.transactionStartTimestampMs;
      meta.partitions.clear();
      break;
    case "PrepareEpochFence":
    case "Dead":
      fail(`${t.state} is never stored as a state`);
  }
  meta.clientTransactionVersion = t.clientTransactionVersion;
  meta.txnLastUpdateTimestampMs = t.transactionLastUpdateTimestampMs;
  meta.pendingState = null;
  meta.state = t.state;
}

function sortedPartitions(meta: TxnMetadata): TopicPartition[] {
  return [...meta.partitions.values()].sort(byTopicPartition);
}

function snapshotOf(meta: TxnMetadata): TransactionMetadataSnapshot {
  return {
    transactionalId: meta.transactionalId,
    producerId: meta.producerId,
    previousProducerId: meta.previousProducerId,
    nextProducerId: meta.nextProducerId,
    producerEpoch: meta.producerEpoch,
    lastProducerEpoch: meta.lastProducerEpoch,
    transactionTimeoutMs: meta.txnTimeoutMs,
    state: meta.state,
    partitions: sortedPartitions(meta),
    transactionStartTimestampMs: meta.txnStartTimestampMs,
    transactionLastUpdateTimestampMs: meta.txnLastUpdateTimestampMs,
    clientTransactionVersion: meta.clientTransactionVersion,
  };
}

function metadataFromSnapshot(s: TransactionMetadataSnapshot): TxnMetadata {
  return {
    transactionalId: s.transactionalId,
    producerId: s.producerId,
    previousProducerId: s.previousProducerId,
    nextProducerId: s.nextProducerId,
    producerEpoch: s.producerEpoch,
    lastProducerEpoch: s.lastProducerEpoch,
    txnTimeoutMs: s.transactionTimeoutMs,
    state: s.state,
    partitions: new Map(s.state === "Empty" ? [] : s.partitions.map((tp) => [tpKey(tp), { ...tp }])),
    txnStartTimestampMs: s.transactionStartTimestampMs,
    txnLastUpdateTimestampMs: s.transactionLastUpdateTimestampMs,
    clientTransactionVersion: s.clientTransactionVersion,
    pendingState: null,
    hasFailedEpochFence: false,
  };
}

/**
 * The record value of a snapshot, for the value version the store hook writes. Version 0 has no
 * previous/next producer id or client transaction version: they are left at their defaults, and
 * read back as -1/-1/0 (Kafka at transaction.version 0 does not keep them either).
 */
export function snapshotToLogValue(
  s: TransactionMetadataSnapshot,
  valueVersion: number = TRANSACTION_LOG_VALUE_VERSION,
): TransactionLogRecordValue {
  const tagged = valueVersion >= 1;
  return {
    producerId: s.producerId,
    previousProducerId: tagged ? s.previousProducerId : NO_PRODUCER_ID,
    nextProducerId: tagged ? s.nextProducerId : NO_PRODUCER_ID,
    producerEpoch: s.producerEpoch,
    transactionTimeoutMs: s.transactionTimeoutMs,
    state: s.state,
    partitions: s.partitions,
    lastUpdateTimestampMs: BigInt(s.transactionLastUpdateTimestampMs),
    startTimestampMs: BigInt(s.transactionStartTimestampMs),
    clientTransactionVersion: tagged ? s.clientTransactionVersion : 0,
  };
}

/** The snapshot a record value loads as; the record has no last epoch, so it is -1 (as Kafka). */
export function snapshotFromLogValue(
  transactionalId: string,
  v: TransactionLogRecordValue,
): TransactionMetadataSnapshot {
  return {
    transactionalId,
    producerId: v.producerId,
    previousProducerId: v.previousProducerId,
    nextProducerId: v.nextProducerId,
    producerEpoch: v.producerEpoch,
    lastProducerEpoch: NO_PRODUCER_EPOCH,
    transactionTimeoutMs: v.transactionTimeoutMs,
    state: v.state,
    partitions: v.partitions,
    transactionStartTimestampMs: Number(v.startTimestampMs),
    transactionLastUpdateTimestampMs: Number(v.lastUpdateTimestampMs),
    clientTransactionVersion: v.clientTransactionVersion,
  };
}

/** Kafka's mapping of append errors to what a transaction API answers (appendTransactionToLog). */
function appendErrorToCoordinatorError(errorCode: number): number {
  switch (errorCode) {
    case ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
    case ErrorCode.NOT_ENOUGH_REPLICAS:
    case ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case ErrorCode.REQUEST_TIMED_OUT:
      return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    case ErrorCode.NOT_LEADER_OR_FOLLOWER:
    case ErrorCode.KAFKA_STORAGE_ERROR:
      return ErrorCode.NOT_COORDINATOR;
    case ErrorCode.MESSAGE_TOO_LARGE:
    case ErrorCode.RECORD_LIST_TOO_LARGE:
      return ErrorCode.UNKNOWN_SERVER_ERROR;
    default:
      return errorCode;
  }
}
