/**
 * Group membership with the classic protocol, the client half of Kafka's AbstractCoordinator and
 * ConsumerCoordinator: JoinGroup (with MEMBER_ID_REQUIRED, KIP-394), the leader's assignment,
 * SyncGroup, heartbeats, offset commits and fetches carrying the generation, and LeaveGroup.
 *
 * States: Unjoined → (JoinGroup, SyncGroup) → Stable; a heartbeat answered REBALANCE_IN_PROGRESS
 * asks for a rejoin (eager members first give up every partition, cooperative ones keep theirs and
 * give up only what the new assignment moves away, KIP-429); ILLEGAL_GENERATION and
 * UNKNOWN_MEMBER_ID mean the membership is gone (partitions are "lost": another member may own them
 * already, so nothing is committed for them); FENCED_INSTANCE_ID means another process took our
 * static id, which is fatal, as in Kafka.
 *
 * It talks to the coordinator through a `CoordinatorChannel`, so the state machine can be driven
 * by a scripted coordinator in tests.
 */
import {
  type ApiDescriptor,
  type Encodable,
  ErrorCode,
  errorInfo,
  HeartbeatApi,
  JoinGroupApi,
  KafkaError,
  LeaveGroupApi,
  OffsetCommitApi,
  OffsetFetchApi,
  SyncGroupApi,
} from "@samsa/protocol";
import { compareMembers, type PartitionAssignor, type RebalanceProtocol } from "./assignors.js";
import {
  decodeAssignment,
  decodeSubscription,
  encodeAssignment,
  encodeSubscription,
  type Subscription,
} from "./consumer-protocol.js";
import { compareTopicPartitions, type TopicPartition, tpKey } from "./types.js";

/** The requests the coordinator logic sends, to whichever broker coordinates the group now. */
export interface CoordinatorChannel {
  send<Req, Res>(api: ApiDescriptor<Req, Res>, body: Encodable<Req>, opts?: { timeoutMs?: number }): Promise<Res>;
  /** The version `send` uses for this API (to pick request layouts). */
  versionFor<Req, Res>(api: ApiDescriptor<Req, Res>): Promise<number>;
  /** NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE or a dead socket: find the coordinator again. */
  markCoordinatorUnknown(): void;
}

/** What the membership asks of the consumer around a rebalance. */
export interface MembershipHooks {
  /** Partition counts of these topics (the leader assigns from them). */
  partitionsPerTopic(topics: string[]): Promise<Map<string, number>>;
  /** Commit what was consumed (auto-commit before giving partitions up). */
  commitBeforeRevoke(): Promise<void>;
  revoked(partitions: TopicPartition[]): Promise<void>;
  assigned(partitions: TopicPartition[]): Promise<void>;
  lost(partitions: TopicPartition[]): Promise<void>;
}

export interface MembershipConfig {
  groupId: string;
  groupInstanceId: string | null;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  heartbeatIntervalMs: number;
  requestTimeoutMs: number;
  assignors: PartitionAssignor[];
  retryBackoffMs: number;
}

/** JoinGroupRequest.UNKNOWN_MEMBER_ID. */
export const UNKNOWN_MEMBER_ID = "";
/** OffsetCommitRequest.DEFAULT_GENERATION_ID / NO_GENERATION. */
export const NO_GENERATION = -1;
/** Kafka's JoinGroup request timeout: the rebalance timeout plus this margin (AbstractCoordinator.JOIN_GROUP_TIMEOUT_LAPSE). */
const JOIN_GROUP_TIMEOUT_LAPSE_MS = 5000;
/** Give up retrying coordinator errors after this many attempts in one operation. */
const MAX_COORDINATOR_ATTEMPTS = 20;

export type MembershipState = "unjoined" | "rebalancing" | "stable" | "fatal";

/**
 * Thrown by a commit the group no longer accepts (Kafka's CommitFailedException): the group
 * rebalanced or this member's membership is gone, so the partitions may belong to another member
 * now. `code` is the error the coordinator answered (REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION or
 * UNKNOWN_MEMBER_ID). Not retriable: the same commit would fail again; the consumer rejoins on its
 * own, and records handed out since the last commit will be delivered again (to this member or
 * another).
 *
 * @example
 * try {
 *   await consumer.commit();
 * } catch (err) {
 *   if (!(err instanceof CommitFailedError)) throw err;
 *   console.warn(`commit lost to a rebalance (${err.errorName}); those records will be redelivered`);
 * }
 */
export class CommitFailedError extends KafkaError {
  override readonly name: string = "CommitFailedError";
  override readonly retriable: boolean = false;
}

/**
 * Thrown when the consumer can no longer be a member: FENCED_INSTANCE_ID (another process took
 * this static member's `groupInstanceId`), an assignor the group chose that this consumer lacks
 * (INCONSISTENT_GROUP_PROTOCOL), or any other non-retriable code from JoinGroup, SyncGroup or
 * Heartbeat. `code` is that error; `retriable` is Kafka's flag for it (false for the fatal ones).
 * Membership stops (no more heartbeats), and every later attempt to rejoin throws it again.
 *
 * @example
 * try {
 *   for await (const batch of consumer) handle(batch);
 * } catch (err) {
 *   if (err instanceof GroupMembershipError && err.code === ErrorCode.FENCED_INSTANCE_ID) {
 *     console.error("another instance runs with this groupInstanceId; stopping");
 *   } else throw err;
 * }
 */
export class GroupMembershipError extends KafkaError {
  override readonly name: string = "GroupMembershipError";
}

export class GroupMembership {
  state: MembershipState = "unjoined";
  memberId = UNKNOWN_MEMBER_ID;
  generationId = NO_GENERATION;
  protocolName: string | null = null;
  leaderId: string | null = null;
  /** Partitions owned now, sorted. */
  owned: TopicPartition[] = [];
  /** Set by heartbeats and partial cooperative assignments; the consumer's poll loop rejoins. */
  rejoinNeeded = true;
  fatalError: Error | null = null;
  /**
   * The partition counts the leader assigned from (Kafka's assignmentSnapshot); 0 for a topic that did not exist;
   * null unless this member led the last rebalance. When metadata shows other counts, the leader rejoins so the
   * group is reassigned (partitions added to a topic, a subscribed topic created).
   */
  assignmentSnapshot: Map<string, number> | null = null;
  private subscription: string[] = [];
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private heartbeatInFlight = false;
  private readonly rebalanceProtocol: RebalanceProtocol;

  constructor(
    private readonly config: MembershipConfig,
    private readonly channel: CoordinatorChannel,
    private readonly hooks: MembershipHooks,
  ) {
    if (config.assignors.length === 0) throw new Error("a group consumer needs at least one assignor");
    // Kafka's rule: cooperative only when every assignor supports it, else eager.
    this.rebalanceProtocol = config.assignors.every((a) => a.rebalanceProtocol === "cooperative")
      ? "cooperative"
      : "eager";
  }

  get protocol(): RebalanceProtocol {
    return this.rebalanceProtocol;
  }

  /** Sets the topics; a change while joined asks for a rejoin. */
  subscribe(topics: string[]): void {
    const next = [...new Set(topics)].sort();
    if (next.join("\u0000") !== this.subscription.join("\u0000")) this.rejoinNeeded = true;
    this.subscription = next;
  }

  /**
   * Joins (or rejoins) until the member is stable with an assignment, or throws a fatal error.
   * Called by the poll loop whenever `rejoinNeeded`.
   */
  async ensureActiveGroup(): Promise<void> {
    if (this.fatalError !== null) throw this.fatalError;
    while (this.rejoinNeeded) {
      await this.onJoinPrepare();
      this.rejoinNeeded = false;
      this.state = "rebalancing";
      try {
        if (!(await this.joinAndSync())) this.rejoinNeeded = true;
      } catch (err) {
        // The poll loop retries retriable failures; the next call starts the join again.
        this.rejoinNeeded = true;
        if (this.state === "rebalancing") this.state = "unjoined";
        throw err;
      }
    }
  }

  /** What a member gives up before JoinGroup (ConsumerCoordinator.onJoinPrepare). */
  private async onJoinPrepare(): Promise<void> {
    this.stopHeartbeats();
    if (this.owned.length === 0) return;
    if (this.generationId === NO_GENERATION || this.memberId === UNKNOWN_MEMBER_ID) {
      const lost = this.owned;
      this.owned = [];
      await this.hooks.lost(lost);
      return;
    }
    if (this.rebalanceProtocol === "eager") {
      await this.hooks.commitBeforeRevoke().catch(() => undefined);
      const revoked = this.owned;
      this.owned = [];
      await this.hooks.revoked(revoked);
      return;
    }
    // Cooperative: only partitions of topics no longer subscribed are revoked now.
    const topics = new Set(this.subscription);
    const revoked = this.owned.filter((tp) => !topics.has(tp.topic));
    if (revoked.length > 0) {
      await this.hooks.commitBeforeRevoke().catch(() => undefined);
      this.owned = this.owned.filter((tp) => topics.has(tp.topic));
      await this.hooks.revoked(revoked);
    }
  }

  /** One JoinGroup + SyncGroup round; false when the group asks us to try again. */
  private async joinAndSync(): Promise<boolean> {
    const join = await this.sendJoinGroup();
    if (join === null) return false;
    this.generationId = join.generationId;
    this.memberId = join.memberId;
    this.protocolName = join.protocolName;
    this.leaderId = join.leader;
    this.assignmentSnapshot = null;
    const assignments =
      join.leader === join.memberId && !join.skipAssignment
        ? await this.assignAsLeader(join.protocolName ?? "", join.members)
        : [];
    const sync = await this.send(
      SyncGroupApi,
      {
        groupId: this.config.groupId,
        generationId: this.generationId,
        memberId: this.memberId,
        groupInstanceId: this.config.groupInstanceId,
        protocolType: "consumer",
        protocolName: join.protocolName,
        assignments,
      },
      { timeoutMs: this.joinTimeoutMs() },
    );
    if (sync.errorCode !== ErrorCode.NONE) {
      this.handleMembershipError(sync.errorCode, "SyncGroup");
      return false;
    }
    const topics = new Set(this.subscription);
    const assigned = decodeAssignment(sync.assignment)
      .filter((tp) => topics.has(tp.topic))
      .sort(compareTopicPartitions);
    this.state = "stable";
    this.startHeartbeats();
    await this.onJoinComplete(assigned);
    return true;
  }

  /** ConsumerCoordinator.onJoinComplete: revoke what moved away (cooperative), then announce what is new. */
  private async onJoinComplete(assigned: TopicPartition[]): Promise<void> {
    const ownedKeys = new Set(this.owned.map(tpKey));
    const assignedKeys = new Set(assigned.map(tpKey));
    const added = assigned.filter((tp) => !ownedKeys.has(tpKey(tp)));
    const revoked = this.owned.filter((tp) => !assignedKeys.has(tpKey(tp)));
    if (revoked.length > 0) {
      await this.hooks.commitBeforeRevoke().catch(() => undefined);
      this.owned = this.owned.filter((tp) => assignedKeys.has(tpKey(tp)));
      await this.hooks.revoked(revoked);
      // The partitions we gave up go to their new owner in the next round (KIP-429).
      if (this.rebalanceProtocol === "cooperative") this.rejoinNeeded = true;
    }
    this.owned = assigned;
    await this.hooks.assigned(added);
  }

  private async sendJoinGroup(): Promise<{
    generationId: number;
    memberId: string;
    protocolName: string | null;
    leader: string;
    skipAssignment: boolean;
    members: { memberId: string; groupInstanceId: string | null; metadata: Buffer }[];
  } | null> {
    const protocols = this.config.assignors.map((a) => ({
      name: a.name,
      metadata: encodeSubscription({
        topics: this.subscription,
        userData: a.subscriptionUserData(this.generationId),
        ownedPartitions: this.owned,
        generationId: this.generationId,
        rackId: null,
      }),
    }));
    for (let attempt = 0; ; attempt++) {
      const res = await this.send(
        JoinGroupApi,
        {
          groupId: this.config.groupId,
          sessionTimeoutMs: this.config.sessionTimeoutMs,
          rebalanceTimeoutMs: this.config.rebalanceTimeoutMs,
          memberId: this.memberId,
          groupInstanceId: this.config.groupInstanceId,
          protocolType: "consumer",
          protocols,
          reason: null,
        },
        { timeoutMs: this.joinTimeoutMs() },
      );
      switch (res.errorCode) {
        case ErrorCode.NONE:
          return res;
        case ErrorCode.MEMBER_ID_REQUIRED:
          // KIP-394: the coordinator hands out the id first; join again with it at once.
          this.memberId = res.memberId;
          continue;
        case ErrorCode.UNKNOWN_MEMBER_ID:
          this.memberId = UNKNOWN_MEMBER_ID;
          this.generationId = NO_GENERATION;
          continue;
        case ErrorCode.REBALANCE_IN_PROGRESS:
          continue;
        default:
          if (attempt >= MAX_COORDINATOR_ATTEMPTS)
            throw new KafkaError(res.errorCode, `JoinGroup: ${errorInfo(res.errorCode).message}`);
          this.handleMembershipError(res.errorCode, "JoinGroup");
          await sleep(this.config.retryBackoffMs);
      }
    }
  }

  /** The leader runs the chosen protocol's assignor over every member's subscription. */
  private async assignAsLeader(
    protocolName: string,
    members: { memberId: string; groupInstanceId: string | null; metadata: Buffer }[],
  ): Promise<{ memberId: string; assignment: Buffer }[]> {
    const assignor = this.config.assignors.find((a) => a.name === protocolName);
    if (assignor === undefined) {
      throw new GroupMembershipError(
        ErrorCode.INCONSISTENT_GROUP_PROTOCOL,
        `the group chose assignor "${protocolName}", which this consumer lacks`,
      );
    }
    const subscriptions = new Map<string, Subscription>();
    for (const m of [...members].sort(compareMembers))
      subscriptions.set(m.memberId, decodeSubscription(m.metadata, m.groupInstanceId));
    const allTopics = [...new Set([...subscriptions.values()].flatMap((s) => s.topics))].sort();
    const partitionsPerTopic = await this.hooks.partitionsPerTopic(allTopics);
    this.assignmentSnapshot = new Map(allTopics.map((t) => [t, partitionsPerTopic.get(t) ?? 0]));
    const assignment = assignor.assign(partitionsPerTopic, subscriptions);
    return [...subscriptions.keys()].map((memberId) => ({
      memberId,
      assignment: encodeAssignment(assignment.get(memberId) ?? []),
    }));
  }

  /** Error codes from JoinGroup / SyncGroup / Heartbeat / OffsetCommit that change membership. */
  private handleMembershipError(code: number, api: string): void {
    switch (code) {
      case ErrorCode.REBALANCE_IN_PROGRESS:
        this.rejoinNeeded = true;
        return;
      case ErrorCode.UNKNOWN_MEMBER_ID:
        this.memberId = UNKNOWN_MEMBER_ID;
        this.generationId = NO_GENERATION;
        this.rejoinNeeded = true;
        this.state = "unjoined";
        return;
      case ErrorCode.ILLEGAL_GENERATION:
        this.generationId = NO_GENERATION;
        this.rejoinNeeded = true;
        this.state = "unjoined";
        return;
      case ErrorCode.NOT_COORDINATOR:
      case ErrorCode.COORDINATOR_NOT_AVAILABLE:
        this.channel.markCoordinatorUnknown();
        this.rejoinNeeded = true;
        return;
      case ErrorCode.COORDINATOR_LOAD_IN_PROGRESS:
        this.rejoinNeeded = true;
        return;
      default: {
        const err = new GroupMembershipError(
          code,
          `${api} for group ${this.config.groupId}: ${errorInfo(code).message}`,
        );
        if (code === ErrorCode.FENCED_INSTANCE_ID || !errorInfo(code).retriable) {
          this.fatalError = err;
          this.state = "fatal";
          this.stopHeartbeats();
        }
        throw err;
      }
    }
  }

  private startHeartbeats(): void {
    this.stopHeartbeats();
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.config.heartbeatIntervalMs);
    this.heartbeatTimer.unref();
  }

  private stopHeartbeats(): void {
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  /** One heartbeat; errors only set state for the poll loop to act on. */
  async heartbeat(): Promise<void> {
    if (this.heartbeatInFlight || this.state !== "stable") return;
    this.heartbeatInFlight = true;
    const generationId = this.generationId;
    const memberId = this.memberId;
    try {
      const res = await this.send(HeartbeatApi, {
        groupId: this.config.groupId,
        generationId,
        memberId,
        groupInstanceId: this.config.groupInstanceId,
      });
      // An answer about a generation we have since left (we rejoined meanwhile) is stale: acting on
      // it would start a rebalance nobody needs (Java checks generationUnchanged() the same way).
      if (res.errorCode !== ErrorCode.NONE && this.isCurrent(generationId, memberId)) {
        this.handleMembershipError(res.errorCode, "Heartbeat");
      }
    } catch (err) {
      if (!(err instanceof GroupMembershipError)) this.channel.markCoordinatorUnknown();
    } finally {
      this.heartbeatInFlight = false;
    }
  }

  /** JoinGroup and SyncGroup wait for the whole group (Java: max(request timeout, rebalance timeout + 5 s)). */
  private joinTimeoutMs(): number {
    return Math.max(this.config.requestTimeoutMs, this.config.rebalanceTimeoutMs + JOIN_GROUP_TIMEOUT_LAPSE_MS);
  }

  /** Still the generation and member id a request was sent with, and stable in it. */
  private isCurrent(generationId: number, memberId: string): boolean {
    return this.state === "stable" && this.generationId === generationId && this.memberId === memberId;
  }

  /**
   * Commits offsets with this member's generation (OffsetCommit v7+ carries the instance id).
   * Retries coordinator moves; a commit the group refuses (rebalance, lost membership) throws
   * CommitFailedError.
   */
  async commit(
    offsets: { topic: string; partition: number; offset: bigint; metadata?: string | null }[],
  ): Promise<void> {
    if (offsets.length === 0) return;
    const byTopic = new Map<
      string,
      {
        partitionIndex: number;
        committedOffset: bigint;
        committedLeaderEpoch: number;
        committedMetadata: string | null;
      }[]
    >();
    for (const o of offsets) {
      let list = byTopic.get(o.topic);
      if (list === undefined) byTopic.set(o.topic, (list = []));
      list.push({
        partitionIndex: o.partition,
        committedOffset: o.offset,
        committedLeaderEpoch: -1,
        committedMetadata: o.metadata ?? null,
      });
    }
    for (let attempt = 0; ; attempt++) {
      const generationId = this.generationId;
      const memberId = this.memberId;
      const res = await this.send(OffsetCommitApi, {
        groupId: this.config.groupId,
        generationIdOrMemberEpoch: generationId,
        memberId,
        groupInstanceId: this.config.groupInstanceId,
        topics: [...byTopic].map(([name, partitions]) => ({ name, partitions })),
      });
      const codes = res.topics.flatMap((t) => t.partitions.map((p) => p.errorCode)).filter((c) => c !== ErrorCode.NONE);
      if (codes.length === 0) return;
      const code = codes[0];
      if (
        code === ErrorCode.REBALANCE_IN_PROGRESS ||
        code === ErrorCode.UNKNOWN_MEMBER_ID ||
        code === ErrorCode.ILLEGAL_GENERATION
      ) {
        if (this.isCurrent(generationId, memberId)) this.handleMembershipError(code, "OffsetCommit");
        throw new CommitFailedError(
          code,
          `offset commit for group ${this.config.groupId} failed: ${errorInfo(code).name} (the group rebalanced; the partitions may belong to another member now)`,
        );
      }
      if (code === ErrorCode.FENCED_INSTANCE_ID) this.handleMembershipError(code, "OffsetCommit");
      if (code === ErrorCode.NOT_COORDINATOR || code === ErrorCode.COORDINATOR_NOT_AVAILABLE)
        this.channel.markCoordinatorUnknown();
      if (!errorInfo(code).retriable || attempt >= MAX_COORDINATOR_ATTEMPTS) {
        throw new KafkaError(code, `OffsetCommit for group ${this.config.groupId}: ${errorInfo(code).message}`);
      }
      await sleep(this.config.retryBackoffMs);
    }
  }

  /** Committed offsets of these partitions (null: none committed), waiting out unstable ones (KIP-447). */
  async fetchCommitted(partitions: TopicPartition[]): Promise<Map<string, bigint | null>> {
    return fetchCommittedOffsets(this.channel, this.config.groupId, partitions, this.config.retryBackoffMs);
  }

  /** LeaveGroup, for dynamic members (static members stay until their session times out, as Kafka). */
  async leave(): Promise<void> {
    this.stopHeartbeats();
    const wasMember = this.memberId !== UNKNOWN_MEMBER_ID && this.state !== "fatal";
    this.state = "unjoined";
    if (!wasMember || this.config.groupInstanceId !== null) return;
    const version = await this.channel.versionFor(LeaveGroupApi);
    const res = await this.send(
      LeaveGroupApi,
      version >= 3
        ? {
            groupId: this.config.groupId,
            members: [{ memberId: this.memberId, groupInstanceId: null, reason: "the consumer is closing" }],
          }
        : { groupId: this.config.groupId, memberId: this.memberId },
    );
    this.memberId = UNKNOWN_MEMBER_ID;
    this.generationId = NO_GENERATION;
    if (res.errorCode !== ErrorCode.NONE && res.errorCode !== ErrorCode.UNKNOWN_MEMBER_ID) {
      throw new KafkaError(res.errorCode, `LeaveGroup: ${errorInfo(res.errorCode).message}`);
    }
  }

  /** Stops heartbeats without leaving (used on close of a static member, and on fatal errors). */
  stop(): void {
    this.stopHeartbeats();
  }

  private async send<Req, Res>(
    api: ApiDescriptor<Req, Res>,
    body: Encodable<Req>,
    opts?: { timeoutMs?: number },
  ): Promise<Res> {
    try {
      return await this.channel.send(api, body, opts);
    } catch (err) {
      if (!(err instanceof KafkaError)) this.channel.markCoordinatorUnknown();
      throw err;
    }
  }
}

/**
 * OffsetFetch for one group: the v8+ layout (groups) or the older one (topics), as the broker supports.
 *
 * @example
 * const committed = await fetchCommittedOffsets(channel, "my-group", [{ topic: "t", partition: 0 }], 100);
 */
export async function fetchCommittedOffsets(
  channel: CoordinatorChannel,
  groupId: string,
  partitions: TopicPartition[],
  retryBackoffMs: number,
): Promise<Map<string, bigint | null>> {
  const out = new Map<string, bigint | null>();
  if (partitions.length === 0) return out;
  const byTopic = new Map<string, number[]>();
  for (const tp of partitions) {
    let list = byTopic.get(tp.topic);
    if (list === undefined) byTopic.set(tp.topic, (list = []));
    list.push(tp.partition);
  }
  const topics = [...byTopic].map(([name, partitionIndexes]) => ({ name, partitionIndexes }));
  for (let attempt = 0; ; attempt++) {
    const version = await channel.versionFor(OffsetFetchApi);
    const res = await channel.send(
      OffsetFetchApi,
      version >= 8
        ? { groups: [{ groupId, memberId: null, memberEpoch: -1, topics }], requireStable: true }
        : { groupId, topics, requireStable: true },
    );
    const group = version >= 8 ? res.groups[0] : undefined;
    let code = version >= 8 ? (group?.errorCode ?? ErrorCode.NONE) : res.errorCode;
    const rows = version >= 8 ? (group?.topics ?? []) : res.topics;
    for (const t of rows) {
      for (const p of t.partitions) {
        if (p.errorCode !== ErrorCode.NONE && code === ErrorCode.NONE) code = p.errorCode;
        out.set(
          tpKey({ topic: t.name, partition: p.partitionIndex }),
          p.committedOffset < 0n ? null : p.committedOffset,
        );
      }
    }
    if (code === ErrorCode.NONE) return out;
    if (code === ErrorCode.NOT_COORDINATOR || code === ErrorCode.COORDINATOR_NOT_AVAILABLE)
      channel.markCoordinatorUnknown();
    if (!errorInfo(code).retriable || attempt >= MAX_COORDINATOR_ATTEMPTS) {
      throw new KafkaError(code, `OffsetFetch for group ${groupId}: ${errorInfo(code).message}`);
    }
    out.clear();
    await sleep(retryBackoffMs);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
