/**
 * The consumer: subscribe (group membership, see coordinator.ts) or assign (no group), then read
 * with `for await (const batch of consumer)` or `run({ eachBatch })`.
 *
 * Each partition has a fetch position (where the next Fetch starts) and a consumed position (past
 * the last record handed to the application, which is what commits record, as Kafka's
 * `SubscriptionState.allConsumed`). A batch counts as consumed once the loop asks for the next one
 * (or leaves the loop), so auto-commit and the commit before a rebalance never skip records the
 * application has not seen, and never repeat ones it has finished with.
 *
 * A maintenance round (before handing out anything when due): rejoin the group if asked,
 * auto-commit when due, find starting positions (committed offset via OffsetFetch, else
 * `autoOffsetReset` via ListOffsets).
 *
 * Fetching is pipelined, as librdkafka does (Kafka's Fetcher waits until a partition's data is
 * handed out): a partition is fetched again as soon as a response for it arrives, while fewer than
 * MAX_BUFFERED_FETCHES of its responses wait and the buffered bytes are under `maxBytes` (a
 * partition with nothing buffered is always fetched), and up to MAX_FETCHES_PER_LEADER Fetches go
 * to a leader at once while its partitions are behind. So the next response is on its way while
 * the application works on the previous ones, and the consumer does not drain its buffer and then
 * wait a round trip. A response is kept as received and decoded when handed out (records.ts). A
 * fetch that comes back after a seek, reset, revocation or reassignment of its partition is
 * dropped (its offset no longer matches the partition's position), and handing out is what moves
 * the consumed position, so prefetched data never reaches a commit.
 */
import {
  type ApiDescriptor,
  type Encodable,
  ErrorCode,
  errorInfo,
  FetchApi,
  type FetchRequestFetchPartition,
  type FetchResponse,
  KafkaError,
  ListOffsetsApi,
} from "@samsa/protocol";
import { Cluster, isRetriableError } from "../cluster/cluster.js";
import { BrokerConnection } from "../network/broker-connection.js";
import { assignorFor } from "./assignors.js";
import { type CoordinatorChannel, fetchCommittedOffsets, GroupMembership } from "./coordinator.js";
import { type AbortedTransaction, decodeFetchedRecords, nextFetchOffset } from "./records.js";
import {
  type ConsumerBatch,
  type ConsumerGroupMetadata,
  type ConsumerOptions,
  type ConsumerRecord,
  compareTopicPartitions,
  type RebalanceListener,
  type TopicPartition,
  tpKey,
} from "./types.js";

export type {
  ConsumerBatch,
  ConsumerGroupMetadata,
  ConsumerOptions,
  ConsumerRecord,
  RebalanceListener,
  TopicPartition,
} from "./types.js";

/** Kafka's consumer defaults. */
export const DEFAULT_SESSION_TIMEOUT_MS = 45_000;
export const DEFAULT_REBALANCE_TIMEOUT_MS = 300_000; // max.poll.interval.ms
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 3_000;
export const DEFAULT_AUTO_COMMIT_INTERVAL_MS = 5_000;
export const DEFAULT_MAX_WAIT_MS = 500;
export const DEFAULT_MAX_BYTES = 52_428_800;
export const DEFAULT_MAX_PARTITION_BYTES = 1_048_576;
/**
 * Fetch v13+ names topics by id only; v12 is the newest that names them, and every broker from
 * Kafka 2.8 to 4.x serves it. Ids would buy nothing here but a lookup.
 */
const MAX_FETCH_VERSION = 12;
/** ListOffsets timestamps with special meanings. */
const LATEST_TIMESTAMP = -1n;
const EARLIEST_TIMESTAMP = -2n;
/** How often the group leader looks for partition count changes (see checkAssignmentSnapshot). */
const METADATA_CHECK_INTERVAL_MS = 5_000;
/**
 * Responses of one partition that may wait to be handed out before it is fetched again: 2 keeps
 * a Fetch in flight while the application works through the previous response (one response
 * per partition, as Kafka's Fetcher, drains the buffer before the next response is in).
 */
const MAX_BUFFERED_FETCHES = 2;
/**
 * Fetches in flight to one leader. A second one goes only for partitions that are behind (their
 * last response ended below the high watermark), so it never long-polls behind the first: a
 * broker answers a connection's requests in order, and a caught-up partition waiting in a second
 * Fetch would see new data only after the first one's maxWaitMs. With two, the broker reads and
 * sends one response while the client takes in the other. Memory: up to two responses of
 * `maxBytes` in flight per leader, besides what is buffered.
 */
const MAX_FETCHES_PER_LEADER = 2;
/** How long an idle round (nothing to fetch: all paused, nothing assigned) waits before the next. */
const IDLE_ROUND_MS = 100;
/** Errors that mean the partition's leader moved or metadata is stale. */
const STALE_LEADER_CODES: ReadonlySet<number> = new Set([
  ErrorCode.NOT_LEADER_OR_FOLLOWER,
  ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
  ErrorCode.LEADER_NOT_AVAILABLE,
  ErrorCode.FENCED_LEADER_EPOCH,
  ErrorCode.UNKNOWN_LEADER_EPOCH,
  ErrorCode.KAFKA_STORAGE_ERROR,
  ErrorCode.REPLICA_NOT_AVAILABLE,
  ErrorCode.OFFSET_NOT_AVAILABLE,
]);

type ResetSpec = "earliest" | "latest" | { timestampMs: number };

interface PartitionState {
  tp: TopicPartition;
  /** Where the next Fetch starts; null until a committed offset or a reset gives one. */
  position: bigint | null;
  /** Past the last record delivered; null until known. What commits record. */
  consumed: bigint | null;
  paused: boolean;
  pendingReset: ResetSpec | null;
  highWatermark: bigint;
  /** Bumped by every seek and reset: a batch fetched before one must not move `consumed`. */
  epoch: number;
  /** Responses of this partition waiting in `buffered` (at most MAX_BUFFERED_FETCHES). */
  bufferedCount: number;
  /** A Fetch for this partition is in flight. */
  fetching: boolean;
  /** Its last response ended below the high watermark (or last stable offset): more is there now. */
  behind: boolean;
}

/** A partition in a Fetch about to be sent, and the offset it is fetched from. */
interface FetchTarget {
  state: PartitionState;
  offset: bigint;
}

/** One partition's data from one Fetch response, kept raw until it is handed out. */
interface CompletedFetch {
  state: PartitionState;
  /** The partition epoch when it arrived; a seek or reset since makes it stale. */
  epoch: number;
  fetchOffset: bigint;
  records: Buffer;
  abortedTransactions: readonly AbortedTransaction[] | null;
  highWatermark: bigint;
}

/**
 * A Kafka consumer.
 *
 * @example
 * const consumer = new Consumer({ brokers: ["localhost:9092"], groupId: "billing", autoOffsetReset: "earliest" });
 * await consumer.connect();
 * consumer.subscribe(["orders"]);
 * for await (const batch of consumer) {
 *   for (const record of batch.records) console.log(record.offset, record.value?.toString());
 * }
 */
export class Consumer implements AsyncIterable<ConsumerBatch> {
  private readonly cluster: Cluster;
  private readonly opts: Required<
    Omit<
      ConsumerOptions,
      "groupId" | "groupInstanceId" | "brokers" | "clientId" | "requestTimeoutMs" | "connectTimeoutMs" | "retry"
    >
  >;
  private readonly groupId: string | null;
  private readonly groupInstanceId: string | null;
  private readonly membership: GroupMembership | null;
  private coordinatorConnection: Promise<BrokerConnection> | null = null;
  private readonly parts = new Map<string, PartitionState>();
  private readonly buffered: CompletedFetch[] = [];
  /** The `records` bytes of everything in `buffered`. */
  private bufferedBytes = 0;
  /** Fetches in flight, by leader (absent: none). */
  private readonly inFlight = new Map<number, number>();
  /** 1 while a sendFetches pass resolves leaders, else 0. */
  private resolving = 0;
  /** sendFetches was called during a pass: run another when it ends. */
  private sendAgain = false;
  /** Woken whenever a Fetch completes. */
  private fetchWaiters: (() => void)[] = [];
  /** A maintenance round that failed on a retriable error is not retried before this. */
  private nextRoundMs = 0;
  private mode: "none" | "subscribe" | "assign" = "none";
  private subscription: string[] = [];
  private listener: RebalanceListener = {};
  private closed = false;
  private round: Promise<void> | null = null;
  private nextAutoCommitMs = 0;
  private nextMetadataCheckMs = 0;
  private readonly lastCommitted = new Map<string, bigint>();
  private fatal: Error | null = null;

  /**
   * @example
   * const consumer = new Consumer({ brokers: ["localhost:9092"] }); // assign-only mode
   */
  constructor(options: ConsumerOptions = {}) {
    this.cluster = new Cluster(options);
    this.groupId = options.groupId ?? null;
    this.groupInstanceId = options.groupInstanceId ?? null;
    this.opts = {
      sessionTimeoutMs: options.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS,
      rebalanceTimeoutMs: options.rebalanceTimeoutMs ?? DEFAULT_REBALANCE_TIMEOUT_MS,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS,
      assignors: options.assignors ?? ["range", "cooperative-sticky"],
      autoCommit: options.autoCommit ?? true,
      autoCommitIntervalMs: options.autoCommitIntervalMs ?? DEFAULT_AUTO_COMMIT_INTERVAL_MS,
      autoOffsetReset: options.autoOffsetReset ?? "latest",
      isolationLevel: options.isolationLevel ?? "read_uncommitted",
      maxWaitMs: options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS,
      minBytes: options.minBytes ?? 1,
      maxBytes: options.maxBytes ?? DEFAULT_MAX_BYTES,
      maxPartitionBytes: options.maxPartitionBytes ?? DEFAULT_MAX_PARTITION_BYTES,
    };
    if (this.groupInstanceId !== null && this.groupId === null) throw new Error("groupInstanceId needs a groupId");
    this.membership =
      this.groupId === null
        ? null
        : new GroupMembership(
            {
              groupId: this.groupId,
              groupInstanceId: this.groupInstanceId,
              sessionTimeoutMs: this.opts.sessionTimeoutMs,
              rebalanceTimeoutMs: this.opts.rebalanceTimeoutMs,
              heartbeatIntervalMs: this.opts.heartbeatIntervalMs,
              requestTimeoutMs: this.cluster.options.requestTimeoutMs,
              assignors: this.opts.assignors.map(assignorFor),
              retryBackoffMs: this.cluster.options.retry.initialBackoffMs,
            },
            this.channel(),
            {
              partitionsPerTopic: (topics) => this.partitionsPerTopic(topics),
              commitBeforeRevoke: () => (this.opts.autoCommit ? this.commit() : Promise.resolve()),
              revoked: (tps) => this.onRevoked(tps, false),
              lost: (tps) => this.onRevoked(tps, true),
              assigned: (tps) => this.onAssigned(tps),
            },
          );
  }

  /**
   * Connects to the cluster (bootstrap and first metadata).
   *
   * @example
   * await consumer.connect();
   */
  async connect(): Promise<void> {
    await this.cluster.connect();
  }

  /**
   * Subscribes to topics as a member of `groupId`; partitions arrive through rebalances.
   *
   * @example
   * consumer.subscribe(["orders"], { onPartitionsRevoked: async () => consumer.commit() });
   */
  subscribe(topics: string[], listener: RebalanceListener = {}): void {
    if (this.membership === null) throw new Error("subscribe needs a groupId; use assign() without a group");
    if (this.mode === "assign") throw new Error("this consumer uses assign(); it cannot also subscribe");
    this.mode = "subscribe";
    this.subscription = [...new Set(topics)];
    this.listener = listener;
    this.membership.subscribe(this.subscription);
  }

  /**
   * Reads these partitions without group membership (commits still go to `groupId` if set).
   *
   * @example
   * consumer.assign([{ topic: "orders", partition: 0 }]);
   */
  assign(partitions: TopicPartition[]): void {
    if (this.mode === "subscribe") throw new Error("this consumer uses subscribe(); it cannot also assign");
    this.mode = "assign";
    const keep = new Set(partitions.map(tpKey));
    for (const key of [...this.parts.keys()]) if (!keep.has(key)) this.dropPartition(key);
    for (const tp of partitions) this.addPartition(tp);
  }

  /**
   * Batches, one per partition per fetch, until `close()`.
   *
   * @example
   * for await (const batch of consumer) await handle(batch.records);
   */
  async *[Symbol.asyncIterator](): AsyncIterator<ConsumerBatch> {
    while (!this.closed) {
      if (this.fatal !== null) {
        // Thrown once: after e.g. a seek the application may iterate again (Java's poll likewise
        // throws NoOffsetForPartitionException and works again after a seek). Membership errors
        // such as FENCED_INSTANCE_ID stay: the group rethrows them on every rejoin.
        const err = this.fatal;
        this.fatal = null;
        throw err;
      }
      if (this.roundDue()) {
        await this.poll();
        continue;
      }
      const i = this.buffered.findIndex((f) => !f.state.paused);
      if (i < 0) {
        await this.awaitData();
        continue;
      }
      const [fetched] = this.buffered.splice(i, 1);
      const { state } = fetched;
      state.bufferedCount--;
      this.bufferedBytes -= fetched.records.length;
      // The partition may be fetchable again: its next Fetch goes before this one is decoded.
      this.sendFetches();
      let records: ConsumerRecord[];
      try {
        records = decodeFetchedRecords(
          state.tp.topic,
          state.tp.partition,
          fetched.records,
          fetched.fetchOffset,
          this.opts.isolationLevel === "read_committed",
          fetched.abortedTransactions,
        ).records;
      } catch (err) {
        // As Kafka, a batch that cannot be decoded fails every read of it until the application
        // seeks past: fetch it again (the Fetch just sent is made stale) rather than skip it.
        if (this.parts.get(tpKey(state.tp)) === state && state.epoch === fetched.epoch) {
          state.position = fetched.fetchOffset;
          state.epoch++;
          this.dropBuffered(state.tp); // fetched after this one: they start past it
        }
        throw err;
      }
      const last = records[records.length - 1];
      if (last === undefined) continue; // only control batches or aborted transactions
      const batch: ConsumerBatch = {
        topic: state.tp.topic,
        partition: state.tp.partition,
        records,
        highWatermark: fetched.highWatermark,
      };
      try {
        yield batch;
      } finally {
        // Handed over: a commit from now on covers it (Kafka advances the position when poll returns).
        // A seek made while the application held the batch wins, as in Kafka.
        if (this.parts.get(tpKey(state.tp)) === state && state.epoch === fetched.epoch) {
          state.consumed = last.offset + 1n;
        }
      }
    }
  }

  /**
   * Callback style: runs the handler for every batch (or record) until `close()`; a handler error
   * stops the loop and rejects.
   *
   * @example
   * await consumer.run({ eachRecord: async (r) => console.log(r.value?.toString()) });
   */
  async run(handlers: {
    eachBatch?: (b: ConsumerBatch) => Promise<void>;
    eachRecord?: (r: ConsumerRecord) => Promise<void>;
  }): Promise<void> {
    for await (const batch of this) {
      if (handlers.eachBatch !== undefined) await handlers.eachBatch(batch);
      else if (handlers.eachRecord !== undefined) for (const r of batch.records) await handlers.eachRecord(r);
    }
  }

  /**
   * Commits offsets: these, or by default the consumed position of every partition held.
   *
   * @example
   * await consumer.commit(); // what was delivered so far
   * await consumer.commit([{ topic: "orders", partition: 0, offset: 42n }]);
   */
  async commit(offsets?: { topic: string; partition: number; offset: bigint; metadata?: string }[]): Promise<void> {
    if (this.membership === null) throw new Error("commit needs a groupId");
    const explicit = offsets !== undefined;
    const toCommit =
      offsets ??
      [...this.parts.values()]
        .filter((s) => s.consumed !== null && this.lastCommitted.get(tpKey(s.tp)) !== s.consumed)
        .map((s) => ({ topic: s.tp.topic, partition: s.tp.partition, offset: s.consumed as bigint }));
    if (toCommit.length === 0) return;
    await this.membership.commit(toCommit);
    for (const o of toCommit) this.lastCommitted.set(tpKey(o), o.offset);
    if (!explicit) this.nextAutoCommitMs = Date.now() + this.opts.autoCommitIntervalMs;
  }

  /**
   * The next fetch of this partition starts at `offset`.
   *
   * @example
   * consumer.seek({ topic: "orders", partition: 0 }, 100n);
   */
  seek(tp: TopicPartition, offset: bigint): void {
    const state = this.stateOf(tp);
    state.position = offset;
    state.consumed = offset;
    state.pendingReset = null;
    state.epoch++;
    this.dropBuffered(tp);
  }

  /**
   * Seeks to the first offset whose timestamp is at or after `timestampMs` (the end if none).
   *
   * @example
   * await consumer.seekToTimestamp({ topic: "orders", partition: 0 }, Date.now() - 3600_000);
   */
  async seekToTimestamp(tp: TopicPartition, timestampMs: number): Promise<void> {
    const state = this.stateOf(tp);
    const [offset] = await this.listOffsets([tp], { timestampMs });
    this.seek(state.tp, offset);
  }

  /**
   * The next fetch starts at the log start offset (of every held partition by default).
   *
   * @example
   * consumer.seekToBeginning();
   */
  seekToBeginning(tps?: TopicPartition[]): void {
    this.requestReset(tps, "earliest");
  }

  /**
   * The next fetch starts at the end (high watermark, or last stable offset under read_committed).
   *
   * @example
   * consumer.seekToEnd([{ topic: "orders", partition: 0 }]);
   */
  seekToEnd(tps?: TopicPartition[]): void {
    this.requestReset(tps, "latest");
  }

  /**
   * Stops fetching these partitions (membership and positions are kept).
   *
   * @example
   * consumer.pause([{ topic: "orders", partition: 0 }]);
   */
  pause(tps: TopicPartition[]): void {
    for (const tp of tps) this.stateOf(tp).paused = true;
  }

  /**
   * Fetches these partitions again.
   *
   * @example
   * consumer.resume(consumer.assignment());
   */
  resume(tps: TopicPartition[]): void {
    for (const tp of tps) this.stateOf(tp).paused = false;
  }

  /**
   * The partitions held now, sorted.
   *
   * @example
   * consumer.assignment() // [{ topic: "orders", partition: 0 }, ...]
   */
  assignment(): TopicPartition[] {
    return [...this.parts.values()].map((s) => ({ ...s.tp })).sort(compareTopicPartitions);
  }

  /**
   * The member's identity, for a transactional producer's sendOffsets; null without a group.
   *
   * @example
   * await producer.sendOffsets("billing", offsets, consumer.groupMetadata() ?? undefined);
   */
  groupMetadata(): ConsumerGroupMetadata | null {
    if (this.membership === null || this.groupId === null) return null;
    return {
      groupId: this.groupId,
      generationId: this.membership.generationId,
      memberId: this.membership.memberId,
      groupInstanceId: this.groupInstanceId,
    };
  }

  /**
   * Commits (with auto-commit), gives up the partitions, leaves the group (dynamic members only:
   * a static member keeps its place until its session times out, as in Kafka) and disconnects.
   *
   * @example
   * await consumer.close();
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // A maintenance round in flight (commit, offsets) is given a moment; a JoinGroup in flight is
    // abandoned. Fetches in flight are not waited for: closing the connections ends them, and
    // their data would be dropped anyway.
    this.wakeFetchWaiters();
    if (this.round !== null) await Promise.race([this.round.catch(() => undefined), sleep(this.opts.maxWaitMs + 1000)]);
    try {
      const membership = this.membership;
      if (membership !== null && this.mode === "subscribe") {
        if (membership.state === "stable") {
          if (this.opts.autoCommit) await this.commit().catch(() => undefined);
          const held = this.assignment();
          if (held.length > 0) await this.listener.onPartitionsRevoked?.(held);
        } else {
          // Mid-rebalance: drop the connection holding the JoinGroup, so LeaveGroup (on a new one)
          // is not queued behind it and the others need not wait out our session.
          this.channel().markCoordinatorUnknown();
        }
        await membership.leave().catch(() => undefined);
      } else if (membership !== null && this.mode === "assign" && this.opts.autoCommit) {
        await this.commit().catch(() => undefined);
      }
    } finally {
      this.membership?.stop();
      const coordinator = this.coordinatorConnection;
      this.coordinatorConnection = null;
      if (coordinator !== null) await coordinator.then((c) => c.close()).catch(() => undefined);
      await this.cluster.close();
    }
  }

  // --- the poll round ------------------------------------------------------------------------

  /** The maintenance round, one at a time; a retriable failure delays the next by the retry backoff. */
  private poll(): Promise<void> {
    if (this.round === null) {
      this.round = this.pollOnce()
        .catch((err: unknown) => {
          if (this.closed) return;
          if (isRetriableError(err)) {
            this.nextRoundMs = Date.now() + this.cluster.options.retry.initialBackoffMs;
            return;
          }
          this.fatal = err instanceof Error ? err : new Error(String(err));
        })
        .finally(() => {
          this.round = null;
        });
    }
    return this.round;
  }

  private async pollOnce(): Promise<void> {
    if (this.mode === "none") throw new Error("call subscribe() or assign() before reading");
    if (this.mode === "subscribe" && this.membership !== null && this.membership.rejoinNeeded) {
      await this.membership.ensureActiveGroup();
    }
    if (this.closed) return;
    await this.checkAssignmentSnapshot();
    if (this.membership !== null && this.opts.autoCommit && Date.now() >= this.nextAutoCommitMs) {
      await this.commit().catch(() => undefined);
      this.nextAutoCommitMs = Date.now() + this.opts.autoCommitIntervalMs;
    }
    await this.updatePositions();
  }

  /**
   * Whether a maintenance round must run before anything more is handed out: the group asks for
   * a rejoin, an auto-commit or metadata check is due, or a partition has no position yet.
   */
  private roundDue(): boolean {
    if (this.mode === "none") return true;
    const now = Date.now();
    if (now < this.nextRoundMs) return false;
    const membership = this.membership;
    if (membership !== null) {
      if (this.mode === "subscribe" && membership.rejoinNeeded) return true;
      if (this.opts.autoCommit && now >= this.nextAutoCommitMs) return true;
      if (membership.assignmentSnapshot !== null && membership.state === "stable" && now >= this.nextMetadataCheckMs)
        return true;
    }
    for (const s of this.parts.values()) if (s.position === null) return true;
    return false;
  }

  /**
   * Waits for a Fetch to complete (sending those that can go first), or, with nothing to fetch,
   * runs a maintenance round and idles briefly (all paused, nothing assigned, positions failing).
   */
  private async awaitData(): Promise<void> {
    const fetching = (): boolean => this.inFlight.size > 0 || this.resolving > 0;
    this.sendFetches();
    if (!fetching() && Date.now() >= this.nextRoundMs) {
      await this.poll();
      this.sendFetches();
    }
    if (fetching()) {
      await new Promise<void>((resolve) => this.fetchWaiters.push(resolve));
      return;
    }
    if (this.closed || this.fatal !== null) return;
    const backoffMs = this.nextRoundMs - Date.now();
    await sleep(backoffMs > 0 ? backoffMs : IDLE_ROUND_MS);
  }

  private wakeFetchWaiters(): void {
    const waiters = this.fetchWaiters;
    this.fetchWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * The leader rejoins when the partition counts it assigned from have changed (a topic grew, a
   * subscribed topic appeared). Cached metadata, so new partitions show within the metadata max
   * age, as in Kafka; checked at most every METADATA_CHECK_INTERVAL_MS because a missing topic
   * costs a Metadata request each time.
   */
  private async checkAssignmentSnapshot(): Promise<void> {
    const snapshot = this.membership?.assignmentSnapshot ?? null;
    if (snapshot === null || this.membership?.state !== "stable" || Date.now() < this.nextMetadataCheckMs) return;
    this.nextMetadataCheckMs = Date.now() + METADATA_CHECK_INTERVAL_MS;
    const current = await this.partitionsPerTopic([...snapshot.keys()], false);
    if ([...snapshot].some(([topic, count]) => (current.get(topic) ?? 0) !== count))
      this.membership.rejoinNeeded = true;
  }

  /** Committed offsets for partitions without a position, then resets (ListOffsets) where needed. */
  private async updatePositions(): Promise<void> {
    const unknown = [...this.parts.values()].filter((s) => s.position === null && s.pendingReset === null);
    if (unknown.length > 0) {
      const committed =
        this.groupId === null
          ? new Map<string, bigint | null>()
          : await fetchCommittedOffsets(
              this.channel(),
              this.groupId,
              unknown.map((s) => s.tp),
              this.cluster.options.retry.initialBackoffMs,
            );
      for (const s of unknown) {
        if (this.parts.get(tpKey(s.tp)) !== s || s.position !== null || s.pendingReset !== null) continue; // changed meanwhile
        const offset = committed.get(tpKey(s.tp)) ?? null;
        if (offset !== null) {
          s.position = offset;
          s.consumed = offset;
          this.lastCommitted.set(tpKey(s.tp), offset);
        } else {
          s.pendingReset = this.defaultReset(s.tp);
        }
      }
    }
    const resets = [...this.parts.values()].filter((s) => s.pendingReset !== null);
    // One ListOffsets per kind of reset keeps this simple; resets are rare.
    for (const spec of ["earliest", "latest"] as const) {
      const group = resets.filter((s) => s.pendingReset === spec);
      if (group.length === 0) continue;
      const offsets = await this.listOffsets(
        group.map((s) => s.tp),
        spec,
      );
      group.forEach((s, i) => {
        if (this.parts.get(tpKey(s.tp)) !== s || s.pendingReset !== spec) return;
        s.position = offsets[i];
        s.consumed = offsets[i];
        s.pendingReset = null;
      });
    }
  }

  private defaultReset(tp: TopicPartition): ResetSpec {
    if (this.opts.autoOffsetReset === "none") {
      throw new KafkaError(
        ErrorCode.OFFSET_OUT_OF_RANGE,
        `no committed offset for ${tp.topic}-${tp.partition} and autoOffsetReset is "none"`,
      );
    }
    return this.opts.autoOffsetReset;
  }

  /** ListOffsets for these partitions, one request per leader; answers in input order. */
  private async listOffsets(tps: TopicPartition[], spec: ResetSpec): Promise<bigint[]> {
    const timestamp =
      spec === "earliest" ? EARLIEST_TIMESTAMP : spec === "latest" ? LATEST_TIMESTAMP : BigInt(spec.timestampMs);
    const byLeader = new Map<number, TopicPartition[]>();
    for (const tp of tps) {
      const leader = await this.cluster.leaderIdFor(tp.topic, tp.partition);
      let list = byLeader.get(leader);
      if (list === undefined) byLeader.set(leader, (list = []));
      list.push(tp);
    }
    const result = new Map<string, bigint>();
    const noOffset: TopicPartition[] = [];
    await Promise.all(
      [...byLeader].map(async ([leader, list]) => {
        const conn = await this.cluster.connectionTo(leader);
        const topics = new Map<string, number[]>();
        for (const tp of list) {
          let ps = topics.get(tp.topic);
          if (ps === undefined) topics.set(tp.topic, (ps = []));
          ps.push(tp.partition);
        }
        const res = await conn.send(ListOffsetsApi, {
          replicaId: -1,
          isolationLevel: this.isolationLevel(),
          topics: [...topics].map(([name, ps]) => ({
            name,
            partitions: ps.map((partitionIndex) => ({
              partitionIndex,
              currentLeaderEpoch: -1,
              timestamp,
              maxNumOffsets: 1,
            })),
          })),
        });
        for (const t of res.topics) {
          for (const p of t.partitions) {
            if (p.errorCode !== ErrorCode.NONE) {
              if (STALE_LEADER_CODES.has(p.errorCode))
                void this.cluster.refreshMetadata([t.name]).catch(() => undefined);
              throw new KafkaError(
                p.errorCode,
                `ListOffsets ${t.name}-${p.partitionIndex}: ${errorInfo(p.errorCode).message}`,
              );
            }
            const offset = p.offset >= 0n ? p.offset : (p.oldStyleOffsets[0] ?? -1n);
            if (offset < 0n) noOffset.push({ topic: t.name, partition: p.partitionIndex });
            else result.set(tpKey({ topic: t.name, partition: p.partitionIndex }), offset);
          }
        }
      }),
    );
    // No record at or after the timestamp: the end of the log, as Kafka's offsetsForTimes + seekToEnd.
    if (noOffset.length > 0) {
      const ends = await this.listOffsets(noOffset, "latest");
      for (const [i, tp] of noOffset.entries()) result.set(tpKey(tp), ends[i]);
    }
    return tps.map((tp) => {
      const offset = result.get(tpKey(tp));
      if (offset === undefined)
        throw new KafkaError(
          ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
          `ListOffsets gave no offset for ${tp.topic}-${tp.partition}`,
        );
      return offset;
    });
  }

  /**
   * Sends Fetches to every leader with room for one (planFetches), for partitions that are not
   * paused, have a position and no Fetch out, and have nothing buffered or room for one more
   * response (see MAX_BUFFERED_FETCHES). Returns at once; completions wake awaitData and send
   * again. A leader already busy gets its partitions on the next call.
   */
  private sendFetches(): void {
    if (this.closed) return;
    // One pass at a time: concurrent passes would race for the leaders, and the one with fewer
    // partitions to look up would always win (starving the others). The pass running now sends
    // again when it is done.
    if (this.resolving > 0) {
      this.sendAgain = true;
      return;
    }
    const fetchable: PartitionState[] = [];
    for (const s of this.parts.values()) {
      if (s.paused || s.position === null || s.fetching) continue;
      if (s.bufferedCount === 0 || (s.bufferedCount < MAX_BUFFERED_FETCHES && this.bufferedBytes < this.opts.maxBytes))
        fetchable.push(s);
    }
    if (fetchable.length === 0) return;
    for (const s of fetchable) s.fetching = true;
    this.resolving++;
    void this.fetchByLeader(fetchable).finally(() => {
      this.resolving--;
      if (this.sendAgain) {
        this.sendAgain = false;
        this.sendFetches();
      }
      // Partitions whose leader was busy go with that leader's next Fetch, whose completion
      // wakes the waiters; waking them now would only spin.
      if (this.inFlight.size === 0 && this.resolving === 0) this.wakeFetchWaiters();
    });
  }

  private async fetchByLeader(fetchable: PartitionState[]): Promise<void> {
    const byLeader = new Map<number, FetchTarget[]>();
    let lookupFailed = false;
    for (const state of fetchable) {
      let leader: number | null = null;
      try {
        leader = await this.cluster.leaderIdFor(state.tp.topic, state.tp.partition);
      } catch (err) {
        if (!isRetriableError(err)) this.setFatal(err);
        lookupFailed = true;
      }
      // Snapshot after the await: a seek or reset meanwhile is seen here; one later makes the
      // response stale (checked against the position when it arrives).
      const offset = state.position;
      if (
        leader === null ||
        (this.inFlight.get(leader) ?? 0) >= MAX_FETCHES_PER_LEADER ||
        offset === null ||
        this.parts.get(tpKey(state.tp)) !== state
      ) {
        state.fetching = false;
        continue;
      }
      let list = byLeader.get(leader);
      if (list === undefined) byLeader.set(leader, (list = []));
      list.push({ state, offset });
    }
    for (const [leader, all] of byLeader) {
      for (const list of this.planFetches(leader, all)) {
        this.fetchFrom(leader, list)
          .catch(async (err: unknown) => {
            if (this.closed) return;
            if (!isRetriableError(err)) {
              this.setFatal(err);
              return;
            }
            // The leader moved or is down: new metadata, and a pause before this leader is tried again.
            await this.cluster.refreshMetadata().catch(() => undefined);
            await sleep(this.cluster.options.retry.initialBackoffMs);
          })
          .finally(() => {
            const n = (this.inFlight.get(leader) ?? 1) - 1;
            if (n === 0) this.inFlight.delete(leader);
            else this.inFlight.set(leader, n);
            for (const { state } of list) state.fetching = false;
            this.wakeFetchWaiters();
            this.sendFetches();
          });
        this.inFlight.set(leader, (this.inFlight.get(leader) ?? 0) + 1);
      }
    }
    // No leader known yet (metadata still settling): pause before the caller asks again.
    if (lookupFailed && this.inFlight.size === 0) await sleep(this.cluster.options.retry.initialBackoffMs);
  }

  /**
   * How `wanted` goes to `leader` given what is in flight there (another sendFetches may have
   * claimed it while this one resolved leaders): with nothing in flight, one Fetch, or two halves
   * when every partition is behind; with one in flight, a Fetch of the partitions that are behind.
   * Partitions left out wait for the next completion.
   */
  private planFetches(leader: number, wanted: FetchTarget[]): FetchTarget[][] {
    const inFlight = this.inFlight.get(leader) ?? 0;
    let plan: FetchTarget[][] = [];
    if (inFlight === 0) {
      plan =
        wanted.length >= 2 && wanted.every((x) => x.state.behind)
          ? [wanted.slice(0, wanted.length >> 1), wanted.slice(wanted.length >> 1)]
          : [wanted];
    } else if (inFlight < MAX_FETCHES_PER_LEADER) {
      const behind = wanted.filter((x) => x.state.behind);
      if (behind.length > 0) plan = [behind];
    }
    const sent = new Set(plan.flat());
    for (const x of wanted) if (!sent.has(x)) x.state.fetching = false;
    return plan;
  }

  private setFatal(err: unknown): void {
    if (this.closed) return;
    this.fatal ??= err instanceof Error ? err : new Error(String(err));
  }

  private async fetchFrom(leader: number, list: FetchTarget[]): Promise<void> {
    const topics = new Map<string, Encodable<FetchRequestFetchPartition>[]>();
    for (const { state, offset } of list) {
      let ps = topics.get(state.tp.topic);
      if (ps === undefined) topics.set(state.tp.topic, (ps = []));
      ps.push({
        partition: state.tp.partition,
        currentLeaderEpoch: -1,
        fetchOffset: offset,
        lastFetchedEpoch: -1,
        logStartOffset: -1n,
        partitionMaxBytes: this.opts.maxPartitionBytes,
      });
    }
    const conn = await this.cluster.connectionTo(leader);
    const version = Math.min(conn.versionFor(FetchApi), MAX_FETCH_VERSION);
    const res: FetchResponse = await conn.send(
      FetchApi,
      {
        replicaId: -1,
        maxWaitMs: this.opts.maxWaitMs,
        minBytes: this.opts.minBytes,
        maxBytes: this.opts.maxBytes,
        isolationLevel: this.isolationLevel(),
        sessionId: 0,
        sessionEpoch: -1,
        topics: [...topics].map(([topic, partitions]) => ({ topic, partitions })),
        forgottenTopicsData: [],
        rackId: "",
      },
      { version, timeoutMs: this.cluster.options.requestTimeoutMs + this.opts.maxWaitMs },
    );
    if (res.errorCode !== ErrorCode.NONE && !isRetriableCode(res.errorCode)) {
      throw new KafkaError(res.errorCode, `Fetch: ${errorInfo(res.errorCode).message}`);
    }
    const asked = new Map(list.map((x) => [tpKey(x.state.tp), x]));
    const readCommitted = this.opts.isolationLevel === "read_committed";
    const staleTopics = new Set<string>();
    for (const t of res.responses) {
      for (const p of t.partitions) {
        const tp = { topic: t.topic, partition: p.partitionIndex };
        const request = asked.get(tpKey(tp));
        const state = this.parts.get(tpKey(tp));
        // Seeked, reset, revoked or reassigned while the fetch was out: the data is stale.
        if (request === undefined || state !== request.state || state.position !== request.offset) continue;
        state.behind = false;
        if (p.errorCode === ErrorCode.OFFSET_OUT_OF_RANGE) {
          state.position = null;
          state.epoch++;
          state.pendingReset = this.defaultReset(tp);
          this.dropBuffered(state.tp); // the reset decides where reading goes on
          continue;
        }
        if (STALE_LEADER_CODES.has(p.errorCode)) {
          staleTopics.add(t.topic);
          continue;
        }
        if (p.errorCode !== ErrorCode.NONE) {
          if (isRetriableCode(p.errorCode)) continue;
          throw new KafkaError(p.errorCode, `Fetch ${t.topic}-${p.partitionIndex}: ${errorInfo(p.errorCode).message}`);
        }
        state.highWatermark = p.highWatermark;
        // Decoded when handed out; the position moves now so the next Fetch can go before that.
        const nextOffset = nextFetchOffset(p.records, request.offset);
        const end = readCommitted && p.lastStableOffset >= 0n ? p.lastStableOffset : p.highWatermark;
        state.behind = nextOffset < end;
        if (p.records === null || nextOffset === request.offset) continue;
        state.position = nextOffset;
        state.bufferedCount++;
        this.bufferedBytes += p.records.length;
        this.buffered.push({
          state,
          epoch: state.epoch,
          fetchOffset: request.offset,
          records: p.records,
          abortedTransactions: p.abortedTransactions,
          highWatermark: p.highWatermark,
        });
      }
    }
    if (staleTopics.size > 0) await this.cluster.refreshMetadata([...staleTopics]).catch(() => undefined);
  }

  // --- partitions ----------------------------------------------------------------------------

  private async onAssigned(tps: TopicPartition[]): Promise<void> {
    for (const tp of tps) this.addPartition(tp);
    await this.listener.onPartitionsAssigned?.(tps.map((tp) => ({ ...tp })));
  }

  private async onRevoked(tps: TopicPartition[], lost: boolean): Promise<void> {
    try {
      if (lost) await this.listener.onPartitionsLost?.(tps.map((tp) => ({ ...tp })));
      else await this.listener.onPartitionsRevoked?.(tps.map((tp) => ({ ...tp })));
    } finally {
      for (const tp of tps) this.dropPartition(tpKey(tp));
    }
  }

  private addPartition(tp: TopicPartition): void {
    const key = tpKey(tp);
    if (this.parts.has(key)) return;
    this.parts.set(key, {
      tp: { topic: tp.topic, partition: tp.partition },
      position: null,
      consumed: null,
      paused: false,
      pendingReset: null,
      highWatermark: -1n,
      epoch: 0,
      bufferedCount: 0,
      fetching: false,
      behind: false,
    });
  }

  private dropPartition(key: string): void {
    const state = this.parts.get(key);
    if (state === undefined) return;
    this.parts.delete(key);
    this.lastCommitted.delete(key);
    this.dropBuffered(state.tp);
  }

  private dropBuffered(tp: TopicPartition): void {
    for (let i = this.buffered.length - 1; i >= 0; i--) {
      const { state } = this.buffered[i];
      if (state.tp.topic === tp.topic && state.tp.partition === tp.partition) {
        state.bufferedCount--;
        this.bufferedBytes -= this.buffered[i].records.length;
        this.buffered.splice(i, 1);
      }
    }
  }

  private requestReset(tps: TopicPartition[] | undefined, spec: ResetSpec): void {
    for (const tp of tps ?? this.assignment()) {
      const state = this.stateOf(tp);
      state.position = null;
      state.pendingReset = spec;
      state.epoch++;
      this.dropBuffered(tp);
    }
  }

  private stateOf(tp: TopicPartition): PartitionState {
    const state = this.parts.get(tpKey(tp));
    if (state === undefined) throw new Error(`${tp.topic}-${tp.partition} is not assigned to this consumer`);
    return state;
  }

  private isolationLevel(): number {
    return this.opts.isolationLevel === "read_committed" ? 1 : 0;
  }

  private async partitionsPerTopic(topics: string[], refresh = true): Promise<Map<string, number>> {
    const md = await this.cluster.metadata(topics, { refresh });
    const out = new Map<string, number>();
    for (const topic of topics) {
      const info = md.topics.get(topic);
      if (info !== undefined && info.errorCode === ErrorCode.NONE && info.partitions.length > 0)
        out.set(topic, info.partitions.length);
    }
    return out;
  }

  // --- the coordinator -----------------------------------------------------------------------

  /**
   * The group's requests go on a connection of their own, as Kafka's consumer does: a JoinGroup
   * waits up to the rebalance timeout, and must not queue behind (or hold up) fetches.
   */
  private channel(): CoordinatorChannel {
    const groupId = this.groupId ?? "";
    const connection = (): Promise<BrokerConnection> => {
      if (this.coordinatorConnection === null) {
        const opened = (async () => {
          const shared = await this.cluster.coordinatorFor(groupId, 0);
          const conn = new BrokerConnection({
            host: shared.host,
            port: shared.port,
            nodeId: shared.nodeId,
            clientId: this.cluster.options.clientId,
            requestTimeoutMs: this.cluster.options.requestTimeoutMs,
            connectTimeoutMs: this.cluster.options.connectTimeoutMs,
          });
          await conn.connect();
          conn.onClose(() => {
            if (this.coordinatorConnection === opened) this.coordinatorConnection = null;
          });
          return conn;
        })();
        opened.catch(() => {
          if (this.coordinatorConnection === opened) this.coordinatorConnection = null;
        });
        this.coordinatorConnection = opened;
      }
      return this.coordinatorConnection;
    };
    return {
      send: async (api, body, opts) => (await connection()).send(api, body, opts),
      versionFor: async (api) => (await connection()).versionFor(api as unknown as ApiDescriptor<unknown, unknown>),
      markCoordinatorUnknown: () => {
        this.cluster.invalidateCoordinator(groupId, 0);
        const current = this.coordinatorConnection;
        this.coordinatorConnection = null;
        if (current !== null) void current.then((c) => c.close()).catch(() => undefined);
      },
    };
  }
}

function isRetriableCode(code: number): boolean {
  return errorInfo(code).retriable;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
