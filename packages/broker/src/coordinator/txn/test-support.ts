/**
 * Helpers for the transaction coordinator tests: a manual clock, a `__transaction_state` log in
 * memory (records go through the real record codec, so a replay is what a restart would read),
 * and marker writes recorded per partition. Stores and marker writes complete at once unless the
 * test holds them to answer later.
 */
import { ErrorCode } from "@samsa/protocol";
import {
  type MarkerResult,
  snapshotFromLogValue,
  snapshotToLogValue,
  type TopicPartition,
  TransactionCoordinator,
  type TransactionCoordinatorConfig,
  type TransactionMetadataSnapshot,
} from "./transaction-coordinator.js";
import { decodeTransactionLogRecord, transactionLogRecord } from "./transaction-log-records.js";

export interface HeldStore {
  transactionalId: string;
  snapshot: TransactionMetadataSnapshot | null;
  /** Appends the record to the log and answers NONE. */
  succeed(): void;
  /** Appends the record to the log without answering (durable, then a crash). */
  append(): void;
  /** Answers the error without appending. */
  fail(errorCode: number): void;
}

export interface HeldMarkers {
  producerId: bigint;
  producerEpoch: number;
  partitions: TopicPartition[];
  commit: boolean;
  coordinatorEpoch: number;
  /** Writes every marker, or answers the given code for some partitions (those are not written). */
  answer(errors?: Map<string, number>): void;
}

export interface WrittenMarker extends TopicPartition {
  producerId: bigint;
  producerEpoch: number;
  commit: boolean;
  coordinatorEpoch: number;
}

export class TxnHarness {
  nowMs = 1_000_000;
  nextProducerId = 1000n;
  coordinatorEpoch = 0;
  /** The records of `__transaction_state` in append order (one log for all partitions is enough here). */
  readonly log: { key: Buffer; value: Buffer | null }[] = [];
  readonly markers: WrittenMarker[] = [];
  holdStores = false;
  holdMarkers = false;
  readonly heldStores: HeldStore[] = [];
  readonly heldMarkers: HeldMarkers[] = [];
  coordinator!: TransactionCoordinator;

  constructor(readonly config: Partial<TransactionCoordinatorConfig> = {}) {
    this.start();
  }

  /** A new coordinator that replays the log into every partition (a restart, or a new leader). */
  start(): void {
    const generation = { alive: true };
    this.retired?.();
    this.retired = () => {
      generation.alive = false;
    };
    const coordinator = new TransactionCoordinator({
      clock: () => this.nowMs,
      config: this.config,
      allocateProducerId: () => this.nextProducerId++,
      store: (transactionalId, snapshot, done) => {
        const append = () =>
          this.log.push(transactionLogRecord(transactionalId, snapshot === null ? null : snapshotToLogValue(snapshot)));
        const held: HeldStore = {
          transactionalId,
          snapshot,
          append,
          succeed: () => {
            append();
            if (generation.alive) done(ErrorCode.NONE);
          },
          fail: (errorCode) => {
            if (generation.alive) done(errorCode);
          },
        };
        if (this.holdStores) this.heldStores.push(held);
        else held.succeed();
      },
      writeMarkers: (producerId, producerEpoch, partitions, commit, coordinatorEpoch, done) => {
        const held: HeldMarkers = {
          producerId,
          producerEpoch,
          partitions,
          commit,
          coordinatorEpoch,
          answer: (errors) => {
            const results: MarkerResult[] = [];
            for (const tp of partitions) {
              const errorCode = errors?.get(`${tp.topic}-${tp.partition}`) ?? ErrorCode.NONE;
              if (errorCode === ErrorCode.NONE) {
                this.markers.push({ ...tp, producerId, producerEpoch, commit, coordinatorEpoch });
              }
              results.push({ ...tp, errorCode });
            }
            if (generation.alive) done(results);
          },
        };
        if (this.holdMarkers) this.heldMarkers.push(held);
        else held.answer();
      },
    });
    this.coordinator = coordinator;
    const partitions = coordinator.config.transactionStatePartitions;
    for (let p = 0; p < partitions; p++) coordinator.beginLoading(p, this.coordinatorEpoch);
    for (const { key, value } of this.log) {
      const record = decodeTransactionLogRecord(key, value);
      if (record.type !== "transaction") continue;
      const snapshot = record.value === null ? null : snapshotFromLogValue(record.transactionalId, record.value);
      coordinator.loadTransaction(record.transactionalId, snapshot);
    }
    for (let p = 0; p < partitions; p++) coordinator.completeLoading(p);
  }

  private retired: (() => void) | undefined;

  /** A crash: held stores and markers never answer; held stores for which `durable` holds made it to the log. */
  crash(durable: (held: HeldStore) => boolean = () => false): void {
    for (const held of this.heldStores) if (durable(held)) held.append();
    this.heldStores.length = 0;
    this.heldMarkers.length = 0;
    this.coordinatorEpoch++;
    this.start();
  }

  advance(ms: number): void {
    this.nowMs += ms;
    this.coordinator.tick(this.nowMs);
  }

  /** The stored states of one transactional id, in order (tombstones as "tombstone"). */
  storedStates(transactionalId: string): string[] {
    const out: string[] = [];
    for (const { key, value } of this.log) {
      const record = decodeTransactionLogRecord(key, value);
      if (record.type !== "transaction" || record.transactionalId !== transactionalId) continue;
      out.push(record.value === null ? "tombstone" : record.value.state);
    }
    return out;
  }

  markersOf(topic: string, partition: number): WrittenMarker[] {
    return this.markers.filter((m) => m.topic === topic && m.partition === partition);
  }

  // ---------------------------------------------------------------- requests with a result holder

  init(
    transactionalId: string | null,
    options: { timeoutMs?: number; producerId?: bigint; producerEpoch?: number } = {},
  ): { result?: { errorCode: number; producerId: bigint; producerEpoch: number } } {
    const holder: { result?: { errorCode: number; producerId: bigint; producerEpoch: number } } = {};
    this.coordinator.handleInitProducerId(
      {
        transactionalId,
        transactionTimeoutMs: options.timeoutMs ?? 60_000,
        producerId: options.producerId ?? -1n,
        producerEpoch: options.producerEpoch ?? -1,
      },
      (r) => {
        holder.result = r;
      },
    );
    return holder;
  }

  add(
    transactionalId: string,
    producer: { producerId: bigint; producerEpoch: number },
    partitions: TopicPartition[],
  ): { errorCode?: number } {
    const holder: { errorCode?: number } = {};
    this.coordinator.handleAddPartitionsToTxn({ transactionalId, ...producer, partitions }, (e) => {
      holder.errorCode = e;
    });
    return holder;
  }

  end(
    transactionalId: string,
    producer: { producerId: bigint; producerEpoch: number },
    committed: boolean,
  ): { result?: { errorCode: number; producerId: bigint; producerEpoch: number } } {
    const holder: { result?: { errorCode: number; producerId: bigint; producerEpoch: number } } = {};
    this.coordinator.handleEndTxn({ transactionalId, ...producer, committed }, (r) => {
      holder.result = r;
    });
    return holder;
  }

  state(transactionalId: string): string | undefined {
    return this.coordinator.transactionMetadata(transactionalId)?.state;
  }
}
