/**
 * The transaction coordinator as the broker runs it: the pure state machine
 * (TransactionCoordinator) joined to the log, as GroupCoordinatorService joins the group one.
 *
 * - A transactional id lives in partition `abs(hashCode(id)) % partitions` of the compacted
 *   internal topic `__transaction_state`, in Kafka's key/value schemas; the topic is created on
 *   first use (FindCoordinator with key type 1, or any transactional request) with
 *   `transaction.state.log.num.partitions` partitions; an existing topic keeps its own count.
 * - Start-up replays every partition (beginLoading, loadTransaction per record, completeLoading)
 *   before the first request is answered: transactions found in PrepareCommit/PrepareAbort write
 *   their markers again and complete; Ongoing ones are aborted by the timeout task when their
 *   timeout (counted from the start time in the record) has passed.
 * - The store hook appends the id's record to its partition through the same Partition.append a
 *   produce uses; records of concurrent requests share one batch (CoalescingAppender). The state
 *   machine changes its in-memory state only once the append succeeded.
 * - The marker hook appends a control batch (COMMIT or ABORT, the coordinator epoch inside) to
 *   each partition of the transaction, as the WriteTxnMarkers a Kafka coordinator sends to the
 *   partition leaders; the partition log then completes the transaction (producer state,
 *   .txnindex, last stable offset). A partition of `__consumer_offsets` (AddOffsetsToTxn) goes to
 *   the group coordinator, which writes the marker there and commits or drops the transaction's
 *   pending offsets. A partition that no longer exists counts as done, as Kafka skips it.
 * - One Node timer at the state machine's next deadline (transaction timeouts, expiration of
 *   transactional ids, marker retries).
 */

import { ErrorCode, encodeEndTxnMarkerBatch, encodeRecordBatch, isControlBatch, KafkaError } from "@samsa/protocol";
import type { Logger } from "pino";
import type { BrokerConfig } from "../../config/broker-config.js";
import type { Partition } from "../../topics/partition.js";
import type { Topic, TopicManager } from "../../topics/topic-manager.js";
import { DeadlineTimer } from "../deadline-timer.js";
import { CoalescingAppender } from "../group/coalescing-appender.js";
import { consumerOffsetsPartitionFor } from "../group/consumer-offsets-records.js";
import { CONSUMER_OFFSETS_TOPIC, type GroupCoordinatorService } from "../group/group-coordinator-service.js";
import { getOrCreateInternalTopic, replayPartition } from "../internal-topic.js";
import {
  type EndTxnResult,
  errorCodeForVersion,
  type InitProducerIdResult,
  type ListTransactionsFilter,
  type ListTransactionsResult,
  type MarkerResult,
  type PartitionResult,
  snapshotFromLogValue,
  snapshotToLogValue,
  type TopicPartition,
  TransactionCoordinator,
  type TransactionDescription,
  type TransactionMetadataSnapshot,
} from "./transaction-coordinator.js";
import {
  decodeTransactionLogRecord,
  TRANSACTION_STATE_TOPIC,
  transactionLogRecord,
} from "./transaction-log-records.js";

export { TRANSACTION_STATE_TOPIC } from "./transaction-log-records.js";

export interface TransactionCoordinatorServiceOptions {
  topics: TopicManager;
  config: BrokerConfig;
  log: Logger;
  nowMs: () => number;
  groupCoordinator: GroupCoordinatorService;
  /** Kafka's ProducerIdManager: a new producer id; may throw a KafkaError (COORDINATOR_LOAD_IN_PROGRESS). */
  allocateProducerId: () => bigint;
}

export interface TxnInitProducerIdRequest {
  transactionalId: string;
  transactionTimeoutMs: number;
  producerId: bigint;
  producerEpoch: number;
}

export class TransactionCoordinatorService {
  readonly coordinator: TransactionCoordinator;
  private readonly topics: TopicManager;
  private readonly config: BrokerConfig;
  private readonly log: Logger;
  private readonly nowMs: () => number;
  private readonly groups: GroupCoordinatorService;
  private stateTopic: Promise<Topic> | null = null;
  /** One group-commit writer per `__transaction_state` partition. */
  private readonly appenders = new Map<Partition, CoalescingAppender>();
  private readonly deadlines: DeadlineTimer;
  private closed = false;

  private constructor(options: TransactionCoordinatorServiceOptions, statePartitions: number) {
    this.topics = options.topics;
    this.config = options.config;
    this.log = options.log;
    this.nowMs = options.nowMs;
    this.groups = options.groupCoordinator;
    const { config } = options;
    this.coordinator = new TransactionCoordinator({
      clock: options.nowMs,
      config: {
        transactionMaxTimeoutMs: config.int("transaction.max.timeout.ms"),
        transactionalIdExpirationMs: config.int("transactional.id.expiration.ms"),
        abortTimedOutTransactionsIntervalMs: config.int("transaction.abort.timed.out.transaction.cleanup.interval.ms"),
        removeExpiredTransactionalIdsIntervalMs: config.int(
          "transaction.remove.expired.transaction.cleanup.interval.ms",
        ),
        transactionStatePartitions: statePartitions,
      },
      allocateProducerId: options.allocateProducerId,
      offsetsPartitionFor: (groupId) =>
        consumerOffsetsPartitionFor(
          groupId,
          this.topics.get(CONSUMER_OFFSETS_TOPIC)?.partitions.length ?? config.int("offsets.topic.num.partitions"),
        ),
      store: (transactionalId, snapshot, done) => {
        void this.storeRecord(transactionalId, snapshot).then((errorCode) => {
          done(errorCode);
          this.armTimer();
        });
      },
      writeMarkers: (producerId, producerEpoch, partitions, commit, coordinatorEpoch, done) => {
        void this.writeMarkers(producerId, producerEpoch, partitions, commit, coordinatorEpoch).then((results) => {
          done(results);
          this.armTimer();
        });
      },
    });
    this.deadlines = new DeadlineTimer(this.coordinator, options.nowMs);
  }

  /** Replays `__transaction_state` when it exists (transactions in Prepare* complete), then arms the timer. */
  static async start(options: TransactionCoordinatorServiceOptions): Promise<TransactionCoordinatorService> {
    const existing = options.topics.get(TRANSACTION_STATE_TOPIC);
    const partitions = existing?.partitions.length ?? options.config.int("transaction.state.log.num.partitions");
    const service = new TransactionCoordinatorService(options, partitions);
    if (existing !== undefined) {
      const started = performance.now();
      await service.load(existing);
      service.stateTopic = Promise.resolve(existing);
      options.log.info(
        { transactions: service.coordinator.listTransactions(ALL).transactionStates.length, ms: elapsed(started) },
        "transaction coordinator loaded __transaction_state",
      );
    }
    service.armTimer();
    return service;
  }

  /** Stops the timer; stores and markers in flight complete without effect. Durable state is on disk. */
  shutdown(): void {
    this.closed = true;
    this.deadlines.stop();
    this.coordinator.shutdown();
  }

  /** Creates `__transaction_state` on first use (Kafka creates it on the first FindCoordinator of a transaction). */
  ensureStateTopic(): Promise<Topic> {
    this.stateTopic ??= this.createStateTopic().catch((e: unknown) => {
      this.stateTopic = null;
      throw e;
    });
    return this.stateTopic;
  }

  private async createStateTopic(): Promise<Topic> {
    const topic = await getOrCreateInternalTopic(
      this.topics,
      TRANSACTION_STATE_TOPIC,
      this.coordinator.config.transactionStatePartitions,
      this.config.int("transaction.state.log.segment.bytes"),
    );
    // A new topic has nothing to replay; its partitions are this coordinator's from now on.
    await this.load(topic);
    return topic;
  }

  // ------------------------------------------------------------ requests

  /**
   * InitProducerId with a transactional id (the InitProducerId handler delegates here): the
   * error code is already downgraded for the request's version.
   */
  async initProducerId(
    request: TxnInitProducerIdRequest,
    apiVersion: number,
  ): Promise<{ errorCode: number; producerId: bigint; producerEpoch: number }> {
    const result = await this.call<InitProducerIdResult>(
      (cb) => this.coordinator.handleInitProducerId(request, cb),
      (errorCode) => ({ errorCode, producerId: -1n, producerEpoch: -1 }),
    );
    return { ...result, errorCode: errorCodeForVersion(result.errorCode, "InitProducerId", apiVersion) };
  }

  /** AddPartitionsToTxn (v0-3, and each non-verify transaction of v4+): one error code for all partitions. */
  addPartitionsToTxn(
    transactionalId: string,
    producerId: bigint,
    producerEpoch: number,
    partitions: TopicPartition[],
  ): Promise<number> {
    return this.call<number>(
      (cb) => this.coordinator.handleAddPartitionsToTxn({ transactionalId, producerId, producerEpoch, partitions }, cb),
      (errorCode) => errorCode,
    );
  }

  /** AddPartitionsToTxn v4+ with VerifyOnly: whether each partition is in the transaction. */
  async verifyPartitionsInTxn(
    transactionalId: string,
    producerId: bigint,
    producerEpoch: number,
    partitions: TopicPartition[],
  ): Promise<PartitionResult[]> {
    const errorCode = await this.ready();
    if (errorCode !== ErrorCode.NONE) return partitions.map((tp) => ({ ...tp, errorCode }));
    return this.coordinator.verifyPartitionsInTxn({ transactionalId, producerId, producerEpoch, partitions });
  }

  addOffsetsToTxn(
    transactionalId: string,
    producerId: bigint,
    producerEpoch: number,
    groupId: string,
  ): Promise<number> {
    return this.call<number>(
      (cb) => this.coordinator.handleAddOffsetsToTxn({ transactionalId, producerId, producerEpoch, groupId }, cb),
      (errorCode) => errorCode,
    );
  }

  endTxn(
    transactionalId: string,
    producerId: bigint,
    producerEpoch: number,
    committed: boolean,
  ): Promise<EndTxnResult> {
    return this.call<EndTxnResult>(
      (cb) => this.coordinator.handleEndTxn({ transactionalId, producerId, producerEpoch, committed }, cb),
      (errorCode) => ({ errorCode, producerId: -1n, producerEpoch: -1 }),
    );
  }

  async describeTransaction(transactionalId: string): Promise<TransactionDescription> {
    const errorCode = await this.ready();
    const description = this.coordinator.describeTransaction(transactionalId);
    return errorCode === ErrorCode.NONE ? description : { ...description, errorCode };
  }

  async listTransactions(filter: ListTransactionsFilter): Promise<ListTransactionsResult> {
    // Kafka answers an empty list, not an error, while the topic does not exist yet.
    if (this.topics.get(TRANSACTION_STATE_TOPIC) === undefined) {
      return { errorCode: ErrorCode.NONE, unknownStateFilters: [], transactionStates: [] };
    }
    await this.ready();
    return this.coordinator.listTransactions(filter);
  }

  /** Runs one request against the state machine once the topic exists, re-arming the timer after it. */
  private async call<T>(run: (cb: (result: T) => void) => void, failed: (errorCode: number) => T): Promise<T> {
    const errorCode = await this.ready();
    if (errorCode !== ErrorCode.NONE) return failed(errorCode);
    const result = new Promise<T>((resolve) => run(resolve));
    this.armTimer();
    return result;
  }

  private async ready(): Promise<number> {
    if (this.closed) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    try {
      await this.ensureStateTopic();
      return ErrorCode.NONE;
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, "__transaction_state is not available");
      return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    }
  }

  // ------------------------------------------------------------ hooks

  private async storeRecord(transactionalId: string, snapshot: TransactionMetadataSnapshot | null): Promise<number> {
    if (this.closed) return ErrorCode.NOT_COORDINATOR;
    const partition =
      this.topics.get(TRANSACTION_STATE_TOPIC)?.partitions[this.coordinator.partitionFor(transactionalId)];
    if (partition === undefined) return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
    let appender = this.appenders.get(partition);
    if (appender === undefined) {
      appender = new CoalescingAppender(async (records) => {
        const timestamp = BigInt(this.nowMs());
        const batch = encodeRecordBatch({
          records: records.map((r) => ({ ...r, timestamp })),
          baseTimestamp: timestamp,
        });
        return (await partition.append(batch, { leaderEpoch: partition.leaderEpoch })).firstOffset;
      });
      this.appenders.set(partition, appender);
    }
    const record = transactionLogRecord(transactionalId, snapshot === null ? null : snapshotToLogValue(snapshot));
    try {
      await appender.append([record]);
      return ErrorCode.NONE;
    } catch (e) {
      if (e instanceof KafkaError) return e.code;
      this.log.error({ err: e, transactionalId }, "write to __transaction_state failed");
      return ErrorCode.UNKNOWN_SERVER_ERROR;
    }
  }

  /** Kafka's WriteTxnMarkers, answered by this broker for every partition (it leads them all). */
  private async writeMarkers(
    producerId: bigint,
    producerEpoch: number,
    partitions: TopicPartition[],
    commit: boolean,
    coordinatorEpoch: number,
  ): Promise<MarkerResult[]> {
    return Promise.all(
      partitions.map(async (tp): Promise<MarkerResult> => {
        const errorCode = await this.writeMarker(tp, producerId, producerEpoch, commit, coordinatorEpoch);
        return { ...tp, errorCode };
      }),
    );
  }

  private async writeMarker(
    tp: TopicPartition,
    producerId: bigint,
    producerEpoch: number,
    commit: boolean,
    coordinatorEpoch: number,
  ): Promise<number> {
    if (this.closed) return ErrorCode.NOT_LEADER_OR_FOLLOWER;
    const partition = this.topics.get(tp.topic)?.partitions[tp.partition];
    // Deleted since it joined the transaction: nothing to complete there (Kafka skips it too).
    if (partition === undefined) return ErrorCode.NONE;
    if (tp.topic === CONSUMER_OFFSETS_TOPIC) {
      return this.groups.completeTransaction(tp.partition, producerId, producerEpoch, coordinatorEpoch, commit);
    }
    const marker = encodeEndTxnMarkerBatch({
      producerId,
      producerEpoch,
      commit,
      coordinatorEpoch,
      timestamp: BigInt(this.nowMs()),
    });
    try {
      // Appended as the coordinator: the log completes the producer's transaction on this partition.
      const appendOptions = { leaderEpoch: partition.leaderEpoch, origin: "coordinator" as const };
      await partition.append(marker, appendOptions);
      return ErrorCode.NONE;
    } catch (e) {
      if (e instanceof KafkaError) return e.code;
      this.log.error({ err: e, topic: tp.topic, partition: tp.partition }, "transaction marker write failed");
      return ErrorCode.UNKNOWN_SERVER_ERROR;
    }
  }

  // ------------------------------------------------------------ loading

  /** Replays every partition of the topic into the state machine (Kafka's loadTransactionsForTxnTopicPartition). */
  private async load(topic: Topic): Promise<void> {
    for (const partition of topic.partitions) {
      this.coordinator.beginLoading(partition.index, partition.leaderEpoch);
      try {
        await this.loadPartition(partition);
      } catch (e) {
        this.coordinator.unloadPartition(partition.index);
        throw e;
      }
      this.coordinator.completeLoading(partition.index);
    }
    this.armTimer();
  }

  private async loadPartition(partition: Partition): Promise<void> {
    await replayPartition(partition, (decoded) => {
      if (isControlBatch(decoded.header.attributes)) return;
      for (const record of decoded.records) this.replay(record.key, record.value, partition);
    });
  }

  private replay(key: Buffer | null, value: Buffer | null, partition: Partition): void {
    let record: ReturnType<typeof decodeTransactionLogRecord>;
    try {
      record = decodeTransactionLogRecord(key, value);
    } catch (e) {
      this.log.warn(
        { partition: partition.index, err: (e as Error).message },
        "skipping unreadable __transaction_state record",
      );
      return;
    }
    if (record.type !== "transaction") return;
    if (this.coordinator.partitionFor(record.transactionalId) !== partition.index) {
      this.log.warn(
        { partition: partition.index, transactionalId: record.transactionalId },
        "record in the wrong partition",
      );
      return;
    }
    this.coordinator.loadTransaction(
      record.transactionalId,
      record.value === null ? null : snapshotFromLogValue(record.transactionalId, record.value),
    );
  }

  // ------------------------------------------------------------ the one timer

  /** Re-arms the one Node timer after a change (see DeadlineTimer). */
  private armTimer(): void {
    this.deadlines.arm();
  }

  /** Fires due timers now (tests with an injected clock). */
  tick(): void {
    this.coordinator.tick(this.nowMs());
    this.armTimer();
  }
}

const ALL: ListTransactionsFilter = {
  stateFilters: [],
  producerIdFilters: [],
  durationFilterMs: -1,
  transactionalIdPattern: null,
};

function elapsed(startedMs: number): number {
  return Math.round(performance.now() - startedMs);
}
