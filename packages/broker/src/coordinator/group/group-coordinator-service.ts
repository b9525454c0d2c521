/**
 * The group coordinator as the broker runs it: the pure state machine (GroupCoordinator) and the
 * committed offsets (OffsetStore), persisted in the compacted internal topic `__consumer_offsets`
 * with Kafka's record schemas, and one Node timer driving every group deadline.
 *
 * - A group lives in partition `abs(hashCode(groupId)) % partitions` of `__consumer_offsets`
 *   (Kafka's partitionFor), so tools reading that topic find it where Kafka would put it.
 * - The topic is created on first use (FindCoordinator or any group request), as Kafka does, with
 *   `offsets.topic.num.partitions` partitions; an existing topic keeps its own count.
 * - Start-up replays every partition of the topic before the first group request is answered:
 *   offset commits and tombstones into the OffsetStore, the last group metadata record of each
 *   group into the state machine (members included, so a Stable group carries on).
 * - Writes (commits, group metadata, tombstones) go through the same Partition.append a produce
 *   uses; a request's records stay in one batch, and requests arriving while a write is in flight
 *   share the next one (CoalescingAppender). The in-memory state changes only after the append
 *   succeeded: an acknowledged commit is on disk with the durability of an acks=all produce.
 * - TxnOffsetCommit writes its records in a transactional batch (the producer's id and epoch);
 *   they stay pending, invisible to OffsetFetch, until the transaction coordinator's marker on the
 *   group's partition commits them (they then replace an older plain commit) or aborts them
 *   (Kafka's OffsetMetadataManager: pendingTransactionalOffsets, replayEndTransactionMarker).
 *   Replay does the same with the transactional batches and control batches it finds.
 */

import {
  ControlRecordType,
  controlRecordTypeOf,
  ErrorCode,
  encodeEndTxnMarkerBatch,
  encodeRecordBatch,
  isControlBatch,
  isTransactional,
  KafkaError,
} from "@samsa/protocol";
import type { Logger } from "pino";
import type { BrokerConfig } from "../../config/broker-config.js";
import type { Partition } from "../../topics/partition.js";
import type { Topic, TopicManager } from "../../topics/topic-manager.js";
import { DeadlineTimer } from "../deadline-timer.js";
import { getOrCreateInternalTopic, replayPartition } from "../internal-topic.js";
import { CoalescingAppender } from "./coalescing-appender.js";
import {
  consumerOffsetsPartitionFor,
  decodeConsumerOffsetsRecord,
  type GroupMetadataRecordValue,
  groupMetadataRecord,
  offsetCommitRecord,
} from "./consumer-offsets-records.js";
import {
  GroupCoordinator,
  type GroupSnapshot,
  type HeartbeatRequest,
  type JoinGroupRequest,
  type JoinGroupResult,
  type LeaveGroupRequest,
  type LeaveGroupResult,
  type SyncGroupRequest,
  type SyncGroupResult,
} from "./group-coordinator.js";
import { type CommittedOffset, type ExpirationPolicy, OffsetStore, type TopicPartitionRef } from "./offset-store.js";

export const CONSUMER_OFFSETS_TOPIC = "__consumer_offsets";

export interface OffsetCommitEntry {
  topic: string;
  partition: number;
  offset: bigint;
  leaderEpoch: number;
  metadata: string;
  /** OffsetCommit v1 may name the commit time; null means now. */
  commitTimestampMs: number | null;
  /** OffsetCommit v1-4 with an explicit retention; null: expiry follows offsets.retention.minutes. */
  expireTimestampMs: number | null;
}

/** One pending transactional offset (Kafka keeps them by producer id, then group, then partition). */
interface PendingTxnOffset {
  topic: string;
  partition: number;
  committed: CommittedOffset;
}

export interface TxnOffsetCommitCheck {
  /** -1 (and an empty member id) from producers before TxnOffsetCommit v3. */
  generationId: number;
  memberId: string;
  groupInstanceId: string | null;
  producerId: bigint;
  producerEpoch: number;
}

export interface OffsetCommitCheck {
  /** The generation (classic) the committer claims; -1 for a simple (standalone) commit. */
  generationId: number;
  memberId: string;
  groupInstanceId: string | null;
  /** OffsetCommit's version: from v9 an unknown group with a generation is GROUP_ID_NOT_FOUND. */
  apiVersion: number;
}

export interface GroupCoordinatorServiceOptions {
  topics: TopicManager;
  config: BrokerConfig;
  log: Logger;
  nowMs: () => number;
}

export class GroupCoordinatorService {
  readonly groups: GroupCoordinator;
  readonly offsets = new OffsetStore();
  private readonly topics: TopicManager;
  private readonly config: BrokerConfig;
  private readonly log: Logger;
  private readonly nowMs: () => number;
  private offsetsTopic: Promise<Topic> | null = null;
  /** One group-commit writer per `__consumer_offsets` partition. */
  private readonly appenders = new Map<Partition, CoalescingAppender>();
  private readonly deadlines: DeadlineTimer;
  private expirationTimer: NodeJS.Timeout | null = null;
  private expiring: Promise<void> | null = null;
  private closed = false;
  /** Transactional offsets awaiting their marker: producer id → group → `topic\0partition`. */
  private readonly pendingTxnOffsets = new Map<bigint, Map<string, Map<string, PendingTxnOffset>>>();
  /** The producer ids with pending offsets in each group (Kafka's openTransactionsByGroup). */
  private readonly openTransactionsByGroup = new Map<string, Set<bigint>>();

  private constructor(options: GroupCoordinatorServiceOptions) {
    this.topics = options.topics;
    this.config = options.config;
    this.log = options.log;
    this.nowMs = options.nowMs;
    this.groups = new GroupCoordinator({
      clock: options.nowMs,
      config: {
        initialRebalanceDelayMs: options.config.int("group.initial.rebalance.delay.ms"),
        minSessionTimeoutMs: options.config.int("group.min.session.timeout.ms"),
        maxSessionTimeoutMs: options.config.int("group.max.session.timeout.ms"),
        maxSize: options.config.int("group.max.size"),
      },
      store: (snapshot, done) => {
        this.appendGroupRecords(snapshot.groupId, [groupMetadataRecord(snapshot.groupId, groupRecordValue(snapshot))])
          .then(done)
          .finally(() => this.armTimer());
      },
    });
    this.deadlines = new DeadlineTimer(this.groups, options.nowMs);
  }

  /** Replays `__consumer_offsets` when it exists, then starts the offset expiration task. */
  static async start(options: GroupCoordinatorServiceOptions): Promise<GroupCoordinatorService> {
    const service = new GroupCoordinatorService(options);
    const existing = options.topics.get(CONSUMER_OFFSETS_TOPIC);
    if (existing !== undefined) {
      const started = performance.now();
      await service.load(existing);
      service.offsetsTopic = Promise.resolve(existing);
      options.log.info(
        { groups: service.groups.groupIds().length, ms: Math.round(performance.now() - started) },
        "group coordinator loaded __consumer_offsets",
      );
    }
    service.armTimer();
    const intervalMs = options.config.int("offsets.retention.check.interval.ms");
    service.expirationTimer = setInterval(() => void service.expireOffsets(), intervalMs);
    service.expirationTimer.unref();
    return service;
  }

  /** Answers pending joins and syncs, stops the timers; state on disk is already complete. */
  shutdown(): void {
    this.closed = true;
    this.deadlines.stop();
    if (this.expirationTimer !== null) clearInterval(this.expirationTimer);
    this.groups.shutdown();
  }

  /** Creates `__consumer_offsets` on first use (Kafka creates it on the first FindCoordinator). */
  ensureOffsetsTopic(): Promise<Topic> {
    this.offsetsTopic ??= this.createOffsetsTopic().catch((e: unknown) => {
      this.offsetsTopic = null;
      throw e;
    });
    return this.offsetsTopic;
  }

  private createOffsetsTopic(): Promise<Topic> {
    return getOrCreateInternalTopic(
      this.topics,
      CONSUMER_OFFSETS_TOPIC,
      this.config.int("offsets.topic.num.partitions"),
      this.config.int("offsets.topic.segment.bytes"),
    );
  }

  /** The `__consumer_offsets` partition holding this group. */
  async partitionFor(groupId: string): Promise<Partition> {
    const topic = await this.ensureOffsetsTopic();
    const partition = topic.partitions[consumerOffsetsPartitionFor(groupId, topic.partitions.length)];
    if (partition === undefined) throw new KafkaError(ErrorCode.COORDINATOR_NOT_AVAILABLE, "no offsets partition");
    return partition;
  }

  // ------------------------------------------------------------ membership (the state machine)

  async joinGroup(request: JoinGroupRequest): Promise<JoinGroupResult> {
    await this.ensureOffsetsTopic();
    const result = new Promise<JoinGroupResult>((resolve) => this.groups.handleJoinGroup(request, resolve));
    this.armTimer();
    return result;
  }

  async syncGroup(request: SyncGroupRequest): Promise<SyncGroupResult> {
    await this.ensureOffsetsTopic();
    const result = new Promise<SyncGroupResult>((resolve) => this.groups.handleSyncGroup(request, resolve));
    this.armTimer();
    return result;
  }

  heartbeat(request: HeartbeatRequest): number {
    const { errorCode } = this.groups.heartbeat(request);
    this.armTimer();
    return errorCode;
  }

  leaveGroup(request: LeaveGroupRequest): LeaveGroupResult {
    const result = this.groups.leaveGroup(request);
    this.armTimer();
    return result;
  }

  // ------------------------------------------------------------ offsets

  /**
   * OffsetCommit for one group: validates the committer against the group, writes one record per
   * partition in one batch, and only then makes the offsets visible. Returns one error code per
   * entry (all the same: Kafka commits a request's offsets together or not at all).
   */
  async commitOffsets(
    groupId: string,
    check: OffsetCommitCheck,
    entries: readonly OffsetCommitEntry[],
  ): Promise<number> {
    await this.ensureOffsetsTopic();
    const validation = this.groups.validateOffsetCommit(
      groupId,
      check.memberId,
      check.groupInstanceId,
      check.generationId,
      check.apiVersion,
    );
    this.armTimer();
    if (validation !== ErrorCode.NONE || entries.length === 0) return validation;
    const nowMs = this.nowMs();
    const committed = entries.map(
      (e): CommittedOffset => ({
        offset: e.offset,
        leaderEpoch: e.leaderEpoch,
        metadata: e.metadata,
        commitTimestampMs: e.commitTimestampMs ?? nowMs,
        expireTimestampMs: e.expireTimestampMs,
      }),
    );
    const records = entries.map((e, i) =>
      offsetCommitRecord(groupId, e.topic, e.partition, recordValueOf(committed[i]!)),
    );
    const { errorCode, firstOffset } = await this.appendGroupRecordsAt(groupId, records);
    if (errorCode !== ErrorCode.NONE) return errorCode;
    entries.forEach((e, i) => {
      const recordOffset = firstOffset === undefined ? undefined : firstOffset + BigInt(i);
      this.offsets.put(groupId, e.topic, e.partition, { ...committed[i]!, recordOffset });
    });
    return ErrorCode.NONE;
  }

  /**
   * TxnOffsetCommit for one group (after the handler checked the transaction): validates the
   * committer as Kafka's transactional offset commit does, writes the records in one
   * transactional batch with the producer's id and epoch, and keeps them pending until the
   * transaction's marker. Returns the error code for every entry.
   */
  async commitTransactionalOffsets(
    groupId: string,
    check: TxnOffsetCommitCheck,
    entries: readonly OffsetCommitEntry[],
  ): Promise<number> {
    const partition = await this.partitionFor(groupId);
    const validation = this.groups.validateTxnOffsetCommit(
      groupId,
      check.memberId,
      check.groupInstanceId,
      check.generationId,
    );
    this.armTimer();
    if (validation !== ErrorCode.NONE || entries.length === 0) return validation;
    if (this.closed) return ErrorCode.NOT_COORDINATOR;
    const nowMs = this.nowMs();
    const committed = entries.map(
      (e): CommittedOffset => ({
        offset: e.offset,
        leaderEpoch: e.leaderEpoch,
        metadata: e.metadata,
        commitTimestampMs: e.commitTimestampMs ?? nowMs,
        expireTimestampMs: e.expireTimestampMs,
      }),
    );
    const timestamp = BigInt(nowMs);
    // Kafka's coordinator runtime: a transactional batch at sequence 0, appended as the coordinator.
    const batch = encodeRecordBatch({
      records: entries.map((e, i) => ({
        ...offsetCommitRecord(groupId, e.topic, e.partition, recordValueOf(committed[i]!)),
        timestamp,
      })),
      baseTimestamp: timestamp,
      producerId: check.producerId,
      producerEpoch: check.producerEpoch,
      baseSequence: 0,
      isTransactional: true,
    });
    let firstOffset: bigint;
    try {
      const appendOptions = { leaderEpoch: partition.leaderEpoch, origin: "coordinator" as const };
      firstOffset = (await partition.append(batch, appendOptions)).firstOffset;
    } catch (e) {
      return appendErrorCode(e, this.log);
    }
    entries.forEach((e, i) => {
      this.putPendingTxnOffset(check.producerId, groupId, e.topic, e.partition, {
        ...committed[i]!,
        recordOffset: firstOffset + BigInt(i),
      });
    });
    return ErrorCode.NONE;
  }

  /** Whether a transaction has an offset pending for this partition (OffsetFetch's requireStable). */
  hasPendingTransactionalOffsets(groupId: string, topic: string, partition: number): boolean {
    const producerIds = this.openTransactionsByGroup.get(groupId);
    if (producerIds === undefined) return false;
    const key = offsetKey(topic, partition);
    for (const producerId of producerIds) {
      if (this.pendingTxnOffsets.get(producerId)?.get(groupId)?.has(key)) return true;
    }
    return false;
  }

  /**
   * The transaction coordinator's marker for one `__consumer_offsets` partition (Kafka's
   * completeTransaction): appends the control batch, then commits (makes visible) or aborts
   * (drops) the producer's pending offsets of the groups in that partition.
   */
  async completeTransaction(
    partitionIndex: number,
    producerId: bigint,
    producerEpoch: number,
    coordinatorEpoch: number,
    commit: boolean,
  ): Promise<number> {
    if (this.closed) return ErrorCode.NOT_COORDINATOR;
    let partition: Partition;
    try {
      const topic = await this.ensureOffsetsTopic();
      const found = topic.partitions[partitionIndex];
      if (found === undefined) return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
      partition = found;
    } catch (e) {
      return appendErrorCode(e, this.log);
    }
    const marker = encodeEndTxnMarkerBatch({
      producerId,
      producerEpoch,
      commit,
      coordinatorEpoch,
      timestamp: BigInt(this.nowMs()),
    });
    try {
      const appendOptions = { leaderEpoch: partition.leaderEpoch, origin: "coordinator" as const };
      await partition.append(marker, appendOptions);
    } catch (e) {
      if (e instanceof KafkaError) return e.code;
      this.log.error({ err: e }, "transaction marker on __consumer_offsets failed");
      return ErrorCode.UNKNOWN_SERVER_ERROR;
    }
    const partitions = this.offsetsPartitionCount();
    this.replayEndTransactionMarker(producerId, commit, (groupId) =>
      partitions === undefined ? true : consumerOffsetsPartitionFor(groupId, partitions) === partitionIndex,
    );
    return ErrorCode.NONE;
  }

  private offsetsPartitionCount(): number | undefined {
    return this.topics.get(CONSUMER_OFFSETS_TOPIC)?.partitions.length;
  }

  private putPendingTxnOffset(
    producerId: bigint,
    groupId: string,
    topic: string,
    partition: number,
    committed: CommittedOffset,
  ): void {
    let groups = this.pendingTxnOffsets.get(producerId);
    if (groups === undefined) this.pendingTxnOffsets.set(producerId, (groups = new Map()));
    let offsets = groups.get(groupId);
    if (offsets === undefined) groups.set(groupId, (offsets = new Map()));
    offsets.set(offsetKey(topic, partition), { topic, partition, committed });
    let open = this.openTransactionsByGroup.get(groupId);
    if (open === undefined) this.openTransactionsByGroup.set(groupId, (open = new Set()));
    open.add(producerId);
  }

  /**
   * Kafka's replayEndTransactionMarker for the groups `inPartition` accepts: a commit moves the
   * producer's pending offsets into the store unless a plain commit was written after them.
   */
  private replayEndTransactionMarker(
    producerId: bigint,
    commit: boolean,
    inPartition: (groupId: string) => boolean,
  ): void {
    const groups = this.pendingTxnOffsets.get(producerId);
    if (groups === undefined) return;
    for (const [groupId, offsets] of [...groups]) {
      if (!inPartition(groupId)) continue;
      groups.delete(groupId);
      const open = this.openTransactionsByGroup.get(groupId);
      open?.delete(producerId);
      if (open?.size === 0) this.openTransactionsByGroup.delete(groupId);
      if (!commit) continue;
      for (const { topic, partition, committed } of offsets.values()) {
        const existing = this.offsets.get(groupId, topic, partition);
        const newer =
          existing === undefined ||
          existing.recordOffset === undefined ||
          committed.recordOffset === undefined ||
          committed.recordOffset > existing.recordOffset;
        if (newer) this.offsets.put(groupId, topic, partition, committed);
      }
    }
    if (groups.size === 0) this.pendingTxnOffsets.delete(producerId);
  }

  /** A tombstone (or a deleted group) also removes the partitions' pending transactional offsets, as Kafka. */
  private dropPendingTxnOffsets(groupId: string, partitions: readonly TopicPartitionRef[] | null): void {
    const producerIds = this.openTransactionsByGroup.get(groupId);
    if (producerIds === undefined) return;
    for (const producerId of producerIds) {
      const offsets = this.pendingTxnOffsets.get(producerId)?.get(groupId);
      if (offsets === undefined) continue;
      if (partitions === null) offsets.clear();
      else for (const p of partitions) offsets.delete(offsetKey(p.topic, p.partition));
    }
  }

  /** The partitions with only pending transactional offsets (they need tombstones of their own on deletion). */
  private pendingOnlyPartitions(groupId: string): TopicPartitionRef[] {
    const out = new Map<string, TopicPartitionRef>();
    for (const producerId of this.openTransactionsByGroup.get(groupId) ?? []) {
      for (const [key, p] of this.pendingTxnOffsets.get(producerId)?.get(groupId) ?? []) {
        if (this.offsets.get(groupId, p.topic, p.partition) === undefined) out.set(key, p);
      }
    }
    return [...out.values()].map((p) => ({ topic: p.topic, partition: p.partition }));
  }

  /** Committed offsets of a group: the given partitions, or every one when `partitions` is null. */
  async fetchOffsets(
    groupId: string,
    partitions: readonly TopicPartitionRef[] | null,
  ): Promise<{ topic: string; partition: number; committed: CommittedOffset | undefined }[]> {
    if (partitions !== null) {
      return partitions.map((p) => ({ ...p, committed: this.offsets.get(groupId, p.topic, p.partition) }));
    }
    const out: { topic: string; partition: number; committed: CommittedOffset | undefined }[] = [];
    for (const [topic, byPartition] of this.offsets.offsets(groupId)) {
      for (const [partition, committed] of byPartition) out.push({ topic, partition, committed });
    }
    return out;
  }

  /** OffsetDelete: removes the given partitions' offsets (tombstones first). */
  async deleteOffsets(groupId: string, partitions: readonly TopicPartitionRef[]): Promise<number> {
    const present = partitions.filter((p) => this.offsets.get(groupId, p.topic, p.partition) !== undefined);
    if (present.length === 0) return ErrorCode.NONE;
    const errorCode = await this.appendGroupRecords(
      groupId,
      present.map((p) => offsetCommitRecord(groupId, p.topic, p.partition, null)),
    );
    if (errorCode === ErrorCode.NONE) {
      for (const p of present) this.offsets.delete(groupId, p.topic, p.partition);
      this.dropPendingTxnOffsets(groupId, present);
    }
    return errorCode;
  }

  /** A deleted topic's committed offsets go from every group (tombstones), as Kafka's onPartitionsDeleted. */
  async onTopicDeleted(topic: string): Promise<void> {
    for (const groupId of [...this.offsets.groupIds()]) {
      const partitions = this.offsets.partitionsOf(groupId).filter((p) => p.topic === topic);
      if (partitions.length > 0) await this.deleteOffsets(groupId, partitions);
    }
  }

  /** DeleteGroups for one group: only an empty group; its offsets and metadata get tombstones. */
  async deleteGroup(groupId: string): Promise<number> {
    await this.ensureOffsetsTopic();
    const description = this.groups.describeGroup(groupId);
    if (description === undefined || description.state === "Dead") return ErrorCode.GROUP_ID_NOT_FOUND;
    if (description.state !== "Empty") return ErrorCode.NON_EMPTY_GROUP;
    const records = [...this.offsets.partitionsOf(groupId), ...this.pendingOnlyPartitions(groupId)].map((p) =>
      offsetCommitRecord(groupId, p.topic, p.partition, null),
    );
    records.push(groupMetadataRecord(groupId, null));
    const errorCode = await this.appendGroupRecords(groupId, records);
    if (errorCode !== ErrorCode.NONE) return errorCode;
    // The group may have gained members while the tombstones were written: then it stays.
    const result = this.groups.deleteGroup(groupId);
    if (result === ErrorCode.NONE) {
      this.offsets.deleteGroup(groupId);
      this.dropPendingTxnOffsets(groupId, null);
    }
    this.armTimer();
    return result;
  }

  /**
   * Removes expired offsets (Kafka's offset expiration, KIP-211): of an empty group, once
   * `offsets.retention.minutes` passed since it became empty; of a stable consumer group, only those
   * of topics it no longer subscribes to; an explicit expire timestamp (OffsetCommit v1-4) wins.
   * An empty group left without offsets is then deleted. Runs every
   * `offsets.retention.check.interval.ms`; one pass at a time.
   */
  expireOffsets(): Promise<void> {
    this.expiring ??= this.doExpireOffsets().finally(() => {
      this.expiring = null;
    });
    return this.expiring;
  }

  private async doExpireOffsets(): Promise<void> {
    if (this.closed || this.offsetsTopic === null) return;
    const nowMs = this.nowMs();
    const retentionMs = this.config.int("offsets.retention.minutes") * 60_000;
    let removedOffsets = 0;
    let removedGroups = 0;
    for (const groupId of this.groups.groupIds()) {
      if (this.closed) return;
      const policy = this.expirationPolicy(groupId);
      const expired = policy === null ? [] : this.offsets.expired(groupId, nowMs, retentionMs, policy);
      if (expired.length > 0) {
        const errorCode = await this.deleteOffsets(groupId, expired);
        if (errorCode !== ErrorCode.NONE) continue;
        removedOffsets += expired.length;
      }
      const group = this.groups.describeGroup(groupId);
      // A group with a transaction's offsets pending stays until the marker (Kafka).
      if (group?.state === "Empty" && !this.offsets.hasOffsets(groupId) && !this.openTransactionsByGroup.has(groupId)) {
        const errorCode = await this.appendGroupRecords(groupId, [groupMetadataRecord(groupId, null)]);
        if (errorCode === ErrorCode.NONE && this.groups.deleteGroup(groupId) === ErrorCode.NONE) removedGroups++;
      }
    }
    if (removedOffsets > 0 || removedGroups > 0) {
      this.log.info({ removedOffsets, removedGroups }, "expired committed offsets removed");
    }
  }

  private expirationPolicy(groupId: string): ExpirationPolicy | null {
    const group = this.groups.describeGroup(groupId);
    const byCommitTime = (c: CommittedOffset) => c.commitTimestampMs;
    const never = () => false;
    if (group === undefined || group.protocolType === null)
      return { baseTimestampMs: byCommitTime, isSubscribed: never };
    if (group.state === "Empty") {
      const emptySinceMs = group.currentStateTimestampMs;
      return { baseTimestampMs: (c) => (emptySinceMs >= 0 ? emptySinceMs : c.commitTimestampMs), isSubscribed: never };
    }
    if (group.protocolType === "consumer" && group.state === "Stable") {
      return {
        baseTimestampMs: byCommitTime,
        isSubscribed: (topic) => this.groups.isSubscribedToTopic(groupId, topic),
      };
    }
    return null;
  }

  // ------------------------------------------------------------ persistence

  /** Appends records to the group's partition as one batch; the error code a group API answers with. */
  private async appendGroupRecords(groupId: string, records: { key: Buffer; value: Buffer | null }[]): Promise<number> {
    return (await this.appendGroupRecordsAt(groupId, records)).errorCode;
  }

  /** As appendGroupRecords, also telling the log offset of the first record. */
  private async appendGroupRecordsAt(
    groupId: string,
    records: { key: Buffer; value: Buffer | null }[],
  ): Promise<{ errorCode: number; firstOffset?: bigint }> {
    if (this.closed) return { errorCode: ErrorCode.NOT_COORDINATOR };
    try {
      const partition = await this.partitionFor(groupId);
      let appender = this.appenders.get(partition);
      if (appender === undefined) {
        appender = new CoalescingAppender(async (batchRecords) => {
          const timestamp = BigInt(this.nowMs());
          const batch = encodeRecordBatch({
            records: batchRecords.map((r) => ({ ...r, timestamp })),
            baseTimestamp: timestamp,
          });
          return (await partition.append(batch, { leaderEpoch: partition.leaderEpoch })).firstOffset;
        });
        this.appenders.set(partition, appender);
      }
      const firstOffset = await appender.append(records);
      return { errorCode: ErrorCode.NONE, firstOffset };
    } catch (e) {
      return { errorCode: appendErrorCode(e, this.log) };
    }
  }

  /** Replays every partition: offsets straight into the store, each group's last metadata record into the state machine. */
  private async load(topic: Topic): Promise<void> {
    const groupRecords = new Map<string, GroupMetadataRecordValue | null>();
    for (const partition of topic.partitions)
      await this.loadPartition(partition, groupRecords, topic.partitions.length);
    for (const [groupId, value] of groupRecords) {
      if (value !== null) this.groups.loadGroup(snapshotOf(groupId, value));
    }
    for (const groupId of [...this.offsets.groupIds(), ...this.openTransactionsByGroup.keys()]) {
      if (groupRecords.get(groupId) == null) this.groups.ensureGroup(groupId);
    }
  }

  private async loadPartition(
    partition: Partition,
    groupRecords: Map<string, GroupMetadataRecordValue | null>,
    partitionCount: number,
  ): Promise<void> {
    await replayPartition(partition, (decoded) => {
      const header = decoded.header;
      if (isControlBatch(header.attributes)) {
        // A transaction marker commits or aborts the producer's pending offsets of this partition's groups.
        let type: number;
        try {
          type = controlRecordTypeOf(decoded);
        } catch {
          return;
        }
        if (type !== ControlRecordType.Commit && type !== ControlRecordType.Abort) return;
        this.replayEndTransactionMarker(
          header.producerId,
          type === ControlRecordType.Commit,
          (groupId) => consumerOffsetsPartitionFor(groupId, partitionCount) === partition.index,
        );
        return;
      }
      const producerId = isTransactional(header.attributes) ? header.producerId : null;
      for (const record of decoded.records) {
        this.replay(record.key, record.value, groupRecords, partition, record.offset, producerId);
      }
    });
  }

  private replay(
    key: Buffer | null,
    value: Buffer | null,
    groupRecords: Map<string, GroupMetadataRecordValue | null>,
    partition: Partition,
    recordOffset: bigint,
    /** Set for a transactional batch: its offsets stay pending until the marker. */
    producerId: bigint | null,
  ): void {
    let record: ReturnType<typeof decodeConsumerOffsetsRecord>;
    try {
      record = decodeConsumerOffsetsRecord(key, value);
    } catch (e) {
      this.log.warn(
        { partition: partition.index, err: (e as Error).message },
        "skipping unreadable __consumer_offsets record",
      );
      return;
    }
    if (record.type === "offsetCommit") {
      if (record.value === null) {
        this.offsets.delete(record.groupId, record.topic, record.partition);
        this.dropPendingTxnOffsets(record.groupId, [record]);
      } else {
        const v = record.value;
        const committed: CommittedOffset = {
          offset: v.offset,
          leaderEpoch: v.leaderEpoch,
          metadata: v.metadata,
          commitTimestampMs: Number(v.commitTimestampMs),
          expireTimestampMs: v.expireTimestampMs >= 0n ? Number(v.expireTimestampMs) : null,
          recordOffset,
        };
        if (producerId === null) this.offsets.put(record.groupId, record.topic, record.partition, committed);
        else this.putPendingTxnOffset(producerId, record.groupId, record.topic, record.partition, committed);
      }
    } else if (record.type === "groupMetadata") {
      groupRecords.set(record.groupId, record.value);
      if (record.value === null) {
        this.offsets.deleteGroup(record.groupId);
        this.dropPendingTxnOffsets(record.groupId, null);
      }
    }
  }

  // ------------------------------------------------------------ the one timer

  /** Re-arms the one Node timer after a change (see DeadlineTimer). */
  private armTimer(): void {
    this.deadlines.arm();
  }
}

const offsetKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;

function recordValueOf(c: CommittedOffset) {
  return {
    offset: c.offset,
    leaderEpoch: c.leaderEpoch,
    metadata: c.metadata,
    commitTimestampMs: BigInt(c.commitTimestampMs),
    expireTimestampMs: c.expireTimestampMs === null ? -1n : BigInt(c.expireTimestampMs),
  };
}

function groupRecordValue(s: GroupSnapshot): GroupMetadataRecordValue {
  return {
    protocolType: s.protocolType ?? "",
    generationId: s.generationId,
    protocolName: s.protocolName,
    leaderId: s.leaderId,
    currentStateTimestampMs: BigInt(s.currentStateTimestampMs),
    members: s.members.map((m) => ({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId,
      clientId: m.clientId,
      clientHost: m.clientHost,
      rebalanceTimeoutMs: m.rebalanceTimeoutMs,
      sessionTimeoutMs: m.sessionTimeoutMs,
      subscription: Buffer.from(m.subscription),
      assignment: Buffer.from(m.assignment),
    })),
  };
}

function snapshotOf(groupId: string, v: GroupMetadataRecordValue): GroupSnapshot {
  return {
    groupId,
    protocolType: v.protocolType === "" ? null : v.protocolType,
    generationId: v.generationId,
    protocolName: v.protocolName,
    leaderId: v.leaderId,
    currentStateTimestampMs: Number(v.currentStateTimestampMs),
    // A v0 value's rebalance timeout is -1: loadGroup uses the session timeout, as Kafka's loader.
    members: v.members.map((m) => ({ ...m })),
  };
}

/** Kafka's mapping of an internal-topic append failure to what a group API answers. */
function appendErrorCode(e: unknown, log: Logger): number {
  if (e instanceof KafkaError) {
    switch (e.code) {
      case ErrorCode.MESSAGE_TOO_LARGE:
      case ErrorCode.RECORD_LIST_TOO_LARGE:
      case ErrorCode.INVALID_FETCH_SIZE:
        return ErrorCode.INVALID_COMMIT_OFFSET_SIZE;
      case ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
      case ErrorCode.NOT_ENOUGH_REPLICAS:
      case ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND:
      case ErrorCode.REQUEST_TIMED_OUT:
        return ErrorCode.COORDINATOR_NOT_AVAILABLE;
      case ErrorCode.COORDINATOR_NOT_AVAILABLE:
      case ErrorCode.NOT_COORDINATOR:
        return e.code;
      default:
        log.warn({ err: e.message, code: e.code }, "write to __consumer_offsets failed");
        return ErrorCode.NOT_COORDINATOR;
    }
  }
  log.error({ err: e }, "write to __consumer_offsets failed");
  return ErrorCode.UNKNOWN_SERVER_ERROR;
}
