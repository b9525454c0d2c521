/**
 * The classic-protocol group state machine (Kafka's GroupMetadataManager classic* methods and
 * ClassicGroup), pure: no sockets, no files, no Node timers. Requests come in as typed values;
 * JoinGroup and SyncGroup responses are delivered through callbacks (or the promise wrappers) when
 * the rebalance lets them complete, Heartbeat and LeaveGroup answer at once. Time comes from an
 * injected clock, and every deadline lives in one TimerQueue that `tick(nowMs)` advances; the
 * broker arms one Node timer at `nextDeadlineMs()`. Writes of the group metadata record go through
 * the injected `store` (whose completion may come later), exactly where Kafka appends that record.
 *
 * States and transitions (as Kafka's):
 *
 *   Empty ──join──> PreparingRebalance ──all known members joined, or rebalance timeout──> CompletingRebalance
 *     ^                 ^   │ (no member left: next generation, back to Empty)               │ leader's SyncGroup,
 *     │                 │   v                                                                v record stored
 *     │                 └── a member joins, leaves, expires, or changes its protocols ─── Stable
 *     └── the rebalance that finds nobody (generation bumped, empty record stored)
 *   Empty ──deleteGroup──> Dead (removed at once)
 *
 * - Empty: no members (offsets may exist; the protocol type of the last generation is kept, as
 *   Kafka does, so ListGroups and offset expiration still see a "consumer" group). The first
 *   join starts a rebalance that waits `group.initial.rebalance.delay.ms`, extended while new
 *   members arrive, never beyond the rebalance timeout (Kafka's initial delayed join). During that
 *   rebalance joins never complete it early (only the timer, or a leave/expiry that leaves
 *   everybody joined — Kafka's new coordinator does the latter too).
 * - PreparingRebalance: completes when every member has sent JoinGroup and no member id handed
 *   out with MEMBER_ID_REQUIRED is pending, or at the largest rebalance timeout. Dynamic members
 *   that did not rejoin are removed (static ones stay); the generation is bumped, a protocol every
 *   member supports is chosen by vote, the leader is kept if it rejoined or another joined member
 *   is elected, and every waiting JoinGroup is answered (only the leader gets the member list).
 * - CompletingRebalance: waits for the leader's SyncGroup; the record is stored, then assignments
 *   are set, the group is Stable and the waiting SyncGroups answered. Members that send no
 *   SyncGroup within the rebalance timeout are removed and a rebalance starts (pending sync).
 * - Stable: SyncGroup answers with the stored assignment, heartbeats keep members alive.
 *
 * Checked against Kafka's group-coordinator (GroupMetadataManager/ClassicGroup, trunk 2024-10).
 * Changed to match it:
 * - group.max.size counts as Kafka does (PreparingRebalance: members waiting in JoinGroup; else
 *   the member count) and applies to static replacements too; a rejected member is removed
 *   without completing the join phase.
 * - A static member replaced in CompletingRebalance triggers a rebalance; in Stable it rebalances
 *   only when the group's selected protocol would change, and otherwise answers after the record
 *   with the new member id is stored (reverted on failure).
 * - Every new member (not only in a new group) expires after the new-member join timeout while it
 *   waits in its first JoinGroup; heartbeats satisfied by a waiting join/sync are not re-armed.
 * - The initial delay applies whenever an Empty group rebalances, also with a delay of 0 (then
 *   the join completes on the next tick), and is extended like Kafka's (remaining minus old delay).
 * - A rebalance that starts with everybody already joined (or nobody left) completes at once.
 * - A group instance id that is not registered gives UNKNOWN_MEMBER_ID; new static member ids are
 *   `instanceId-UUID`; clientId/clientHost are not updated on rejoin.
 * - LeaveGroup: one rebalance per request after all removals; pending members leaving count as a
 *   leave (Kafka rebalances a Stable group for them too); an unknown group is a top-level
 *   UNKNOWN_MEMBER_ID. Stable SyncGroup does not count as a heartbeat.
 * - Empty groups keep their protocol type; empty group ids give INVALID_GROUP_ID; after
 *   shutdown() everything answers COORDINATOR_NOT_AVAILABLE.
 * Deliberate differences:
 * - A JoinGroup/SyncGroup superseded by a newer one from the same member, or whose member is
 *   removed while it waits in SyncGroup, is answered (REBALANCE_IN_PROGRESS / UNKNOWN_MEMBER_ID)
 *   instead of being dropped: our network layer answers every request exactly once.
 * - Protocol vote ties go to the earliest candidate in the leader's preference (Kafka: hash order).
 * - A group created by a JoinGroup is not stored at once (Kafka appends an empty record for it);
 *   it is stored by its first rebalance outcome. A restart in between only makes clients rejoin.
 * - A store failing after the group moved on does not roll back later changes (Kafka reverts its
 *   in-memory timeline to the failed write, which needs snapshots we do not keep).
 */
import { randomUUID } from "node:crypto";
import { ConsumerProtocolSubscription, ErrorCode, Reader } from "@samsa/protocol";
import { TimerQueue } from "./timer-queue.js";

export type GroupState = "Empty" | "PreparingRebalance" | "CompletingRebalance" | "Stable" | "Dead";

/** JoinGroupRequest.UNKNOWN_MEMBER_ID: the member id a new member sends. */
export const UNKNOWN_MEMBER_ID = "";
/** A new member waiting in its first JoinGroup is dropped after this long (Kafka's group.classic.new.member.join.timeout.ms default). */
export const NEW_MEMBER_JOIN_TIMEOUT_MS = 5 * 60 * 1000;
/** The protocol type of consumers (ConsumerProtocol.PROTOCOL_TYPE): the only one whose subscriptions we parse. */
export const CONSUMER_PROTOCOL_TYPE = "consumer";
const NO_GENERATION = -1;
const EMPTY = new Uint8Array(0);

export interface GroupCoordinatorConfig {
  /** group.initial.rebalance.delay.ms */
  initialRebalanceDelayMs: number;
  /** group.min.session.timeout.ms */
  minSessionTimeoutMs: number;
  /** group.max.session.timeout.ms */
  maxSessionTimeoutMs: number;
  /** group.max.size */
  maxSize: number;
  /** group.classic.new.member.join.timeout.ms (internal in Kafka) */
  newMemberJoinTimeoutMs: number;
}

export const DEFAULT_GROUP_COORDINATOR_CONFIG: GroupCoordinatorConfig = {
  initialRebalanceDelayMs: 3000,
  minSessionTimeoutMs: 6000,
  maxSessionTimeoutMs: 1_800_000,
  maxSize: 2_147_483_647,
  newMemberJoinTimeoutMs: NEW_MEMBER_JOIN_TIMEOUT_MS,
};

export interface GroupProtocol {
  name: string;
  metadata: Uint8Array;
}

export interface JoinGroupRequest {
  groupId: string;
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  /** v0 has none: the handler passes the session timeout, as Kafka does. */
  rebalanceTimeoutMs: number;
  protocolType: string;
  protocols: GroupProtocol[];
  /** v4+: a new dynamic member first gets MEMBER_ID_REQUIRED and its id, then joins with it. */
  requireKnownMemberId: boolean;
  /** v9+ (KIP-814): a static leader rejoining a Stable group gets the members with skipAssignment. */
  supportSkippingAssignment: boolean;
}

export interface JoinGroupMember {
  memberId: string;
  groupInstanceId: string | null;
  metadata: Uint8Array;
}

export interface JoinGroupResult {
  errorCode: number;
  generationId: number;
  protocolType: string | null;
  protocolName: string | null;
  leader: string;
  skipAssignment: boolean;
  memberId: string;
  /** Non-empty only for the leader. */
  members: JoinGroupMember[];
}

export interface SyncGroupRequest {
  groupId: string;
  generationId: number;
  memberId: string;
  groupInstanceId: string | null;
  /** v5+; null when the client did not send it. */
  protocolType: string | null;
  protocolName: string | null;
  assignments: { memberId: string; assignment: Uint8Array }[];
}

export interface SyncGroupResult {
  errorCode: number;
  protocolType: string | null;
  protocolName: string | null;
  assignment: Uint8Array;
}

export interface HeartbeatRequest {
  groupId: string;
  generationId: number;
  memberId: string;
  groupInstanceId: string | null;
}

export interface LeaveGroupRequest {
  groupId: string;
  /** v0-2 carry one member id; the handler passes it as a one-element list. */
  members: { memberId: string; groupInstanceId: string | null }[];
}

/**
 * A top-level error comes with no members (Kafka's error response). For v0-2 the handler answers
 * the top-level error if set, else the first member's (Kafka's LeaveGroupResponse does the same).
 */
export interface LeaveGroupResult {
  errorCode: number;
  members: { memberId: string; groupInstanceId: string | null; errorCode: number }[];
}

export interface MemberDescription {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocols: GroupProtocol[];
  assignment: Uint8Array;
  awaitingJoin: boolean;
  awaitingSync: boolean;
}

export interface GroupDescription {
  groupId: string;
  state: GroupState;
  generationId: number;
  protocolType: string | null;
  protocolName: string | null;
  leaderId: string | null;
  /** When the group entered its state (-1: unknown, e.g. loaded from an old record). */
  currentStateTimestampMs: number;
  members: MemberDescription[];
  pendingMemberIds: string[];
}

/** One member as the group metadata record stores it. */
export interface GroupMemberSnapshot {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  rebalanceTimeoutMs: number;
  sessionTimeoutMs: number;
  /** metadata of the group's selected protocol */
  subscription: Uint8Array;
  assignment: Uint8Array;
}

/** The content of a group metadata record (GroupMetadataValue) of a classic group. */
export interface GroupSnapshot {
  groupId: string;
  protocolType: string | null;
  generationId: number;
  protocolName: string | null;
  leaderId: string | null;
  currentStateTimestampMs: number;
  members: GroupMemberSnapshot[];
}

export interface ListedGroup {
  groupId: string;
  protocolType: string;
  state: GroupState;
  groupType: "classic";
}

type JoinCallback = (result: JoinGroupResult) => void;
type SyncCallback = (result: SyncGroupResult) => void;

interface Member {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocolType: string;
  protocols: GroupProtocol[];
  assignment: Uint8Array;
  awaitingJoin: JoinCallback | null;
  awaitingSync: SyncCallback | null;
  /** Added and not yet through a join phase: its heartbeat is not satisfied by waiting in JoinGroup. */
  isNew: boolean;
}

interface Group {
  groupId: string;
  state: GroupState;
  /** Kafka's previousState: a PreparingRebalance that came from Empty is the initial one. */
  previousState: GroupState;
  currentStateTimestampMs: number;
  generationId: number;
  protocolType: string | null;
  protocolName: string | null;
  leaderId: string | null;
  members: Map<string, Member>;
  /** Member ids handed out with MEMBER_ID_REQUIRED that have not joined yet. */
  pendingMembers: Set<string>;
  /** group.instance.id -> member id */
  staticMembers: Map<string, string>;
  /** Member ids of the current generation that have not sent SyncGroup yet. */
  pendingSyncMembers: Set<string>;
  /** Set when a member joins during the initial rebalance, so its delay is extended once more. */
  newMemberAdded: boolean;
  /** Topics the consumer members subscribe to, computed per generation; null when unknown. */
  subscribedTopics: Set<string> | null;
}

type Timer =
  | { kind: "heartbeat"; groupId: string; memberId: string }
  | { kind: "join"; groupId: string }
  | { kind: "initial-join"; groupId: string; delayMs: number; remainingMs: number }
  | { kind: "sync"; groupId: string; generationId: number };

export interface GroupCoordinatorOptions {
  config?: Partial<GroupCoordinatorConfig>;
  /** Milliseconds; requests read it, timers fire only from tick(). */
  clock: () => number;
  /** The suffix of new member ids (Kafka: a UUID); injected for deterministic tests. */
  newMemberIdSuffix?: () => string;
  /**
   * Writes the group metadata record; `done(errorCode)` may be called later. Without it, storing
   * succeeds at once. The error code may be the append's own (mapped as Kafka does).
   */
  store?: (snapshot: GroupSnapshot, done: (errorCode: number) => void) => void;
}

const timerKey = {
  heartbeat: (groupId: string, memberId: string) => `h\u0000${groupId}\u0000${memberId}`,
  join: (groupId: string) => `j\u0000${groupId}`,
  sync: (groupId: string) => `s\u0000${groupId}`,
};

export class GroupCoordinator {
  readonly config: GroupCoordinatorConfig;
  private readonly groups = new Map<string, Group>();
  private readonly timers = new TimerQueue<Timer>();
  private readonly clock: () => number;
  private readonly newMemberIdSuffix: () => string;
  private readonly storeRecord: GroupCoordinatorOptions["store"];
  private active = true;
  /** While tick() fires a timer, "now" is that timer's deadline, so firing order is deterministic. */
  private firingAtMs: number | null = null;
  /** Responses are delivered after the state change that produced them is complete, so a callback may re-enter. */
  private readonly deliveries: (() => void)[] = [];
  private depth = 0;
  private delivering = false;

  constructor(options: GroupCoordinatorOptions) {
    this.config = { ...DEFAULT_GROUP_COORDINATOR_CONFIG, ...options.config };
    this.clock = options.clock;
    this.newMemberIdSuffix = options.newMemberIdSuffix ?? randomUUID;
    this.storeRecord = options.store;
  }

  // ---------------------------------------------------------------- public API

  joinGroup(request: JoinGroupRequest): Promise<JoinGroupResult> {
    return new Promise((resolve) => this.handleJoinGroup(request, resolve));
  }

  syncGroup(request: SyncGroupRequest): Promise<SyncGroupResult> {
    return new Promise((resolve) => this.handleSyncGroup(request, resolve));
  }

  handleJoinGroup(request: JoinGroupRequest, callback: JoinCallback): void {
    this.run(() => this.doJoinGroup(request, callback));
  }

  handleSyncGroup(request: SyncGroupRequest, callback: SyncCallback): void {
    this.run(() => this.doSyncGroup(request, callback));
  }

  heartbeat(request: HeartbeatRequest): { errorCode: number } {
    return this.run(() => ({ errorCode: this.doHeartbeat(request) }));
  }

  leaveGroup(request: LeaveGroupRequest): LeaveGroupResult {
    return this.run(() => this.doLeaveGroup(request));
  }

  /** DeleteGroups: only an Empty group can be deleted (its offsets and tombstone are the caller's business). */
  deleteGroup(groupId: string): number {
    return this.run(() => {
      if (!this.active) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
      const group = this.groups.get(groupId);
      if (group === undefined || group.state === "Dead") return ErrorCode.GROUP_ID_NOT_FOUND;
      if (group.state !== "Empty") return ErrorCode.NON_EMPTY_GROUP;
      this.transition(group, "Dead");
      this.dropGroup(group);
      return ErrorCode.NONE;
    });
  }

  /**
   * Restores a group from the replay of `__consumer_offsets`: Empty without members, else Stable
   * with them, each given a full session from now (Kafka's onLoaded). Replaces any earlier state
   * of the group; a group over group.max.size rebalances at once, as in Kafka.
   */
  loadGroup(snapshot: GroupSnapshot): void {
    this.run(() => {
      if (!this.active) return;
      const previous = this.groups.get(snapshot.groupId);
      if (previous !== undefined) this.abandonGroup(previous, ErrorCode.NOT_COORDINATOR);
      const group = newGroup(snapshot.groupId, snapshot.members.length === 0 ? "Empty" : "Stable", -1);
      group.previousState = "Dead";
      group.currentStateTimestampMs = snapshot.currentStateTimestampMs;
      group.generationId = snapshot.generationId;
      group.protocolType = snapshot.protocolType === "" ? null : snapshot.protocolType;
      group.protocolName = snapshot.protocolName;
      for (const m of snapshot.members) {
        const member: Member = {
          memberId: m.memberId,
          groupInstanceId: m.groupInstanceId,
          clientId: m.clientId,
          clientHost: m.clientHost,
          sessionTimeoutMs: m.sessionTimeoutMs,
          rebalanceTimeoutMs: m.rebalanceTimeoutMs === -1 ? m.sessionTimeoutMs : m.rebalanceTimeoutMs,
          protocolType: group.protocolType ?? "",
          protocols: [{ name: snapshot.protocolName ?? "", metadata: m.subscription }],
          assignment: m.assignment,
          awaitingJoin: null,
          awaitingSync: null,
          isNew: false,
        };
        group.members.set(member.memberId, member);
        if (member.groupInstanceId !== null) group.staticMembers.set(member.groupInstanceId, member.memberId);
      }
      group.leaderId = group.members.size === 0 ? null : snapshot.leaderId;
      if (group.leaderId !== null && !group.members.has(group.leaderId)) {
        group.leaderId = group.members.keys().next().value ?? null;
      }
      group.subscribedTopics = computeSubscribedTopics(group);
      this.groups.set(group.groupId, group);
      for (const member of group.members.values()) this.scheduleHeartbeat(group, member, member.sessionTimeoutMs);
      if (group.members.size > this.config.maxSize) this.prepareRebalance(group);
    });
  }

  /** An Empty group for a group id known only by its committed offsets. */
  ensureGroup(groupId: string): void {
    if (this.active && !this.groups.has(groupId)) this.groups.set(groupId, newGroup(groupId, "Empty", this.now()));
  }

  /**
   * The error Kafka's classic group gives an OffsetCommit (NONE: commit). `apiVersion` matters
   * only for an unknown group with a generation: v9+ gets GROUP_ID_NOT_FOUND, older versions
   * ILLEGAL_GENERATION. A generation < 0 on an unknown group creates it Empty (a "simple" group).
   * A valid commit in Stable or PreparingRebalance counts as the member's heartbeat.
   */
  validateOffsetCommit(
    groupId: string,
    memberId: string,
    groupInstanceId: string | null,
    generationId: number,
    apiVersion = 0,
  ): number {
    return this.run(() => {
      if (!this.active) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
      let group = this.groups.get(groupId);
      if (group === undefined) {
        if (generationId >= 0) return apiVersion >= 9 ? ErrorCode.GROUP_ID_NOT_FOUND : ErrorCode.ILLEGAL_GENERATION;
        group = newGroup(groupId, "Empty", this.now());
        this.groups.set(groupId, group);
      }
      if (group.state === "Dead") return ErrorCode.COORDINATOR_NOT_AVAILABLE;
      if (generationId < 0 && group.state === "Empty") return ErrorCode.NONE;
      if (generationId >= 0 || memberId !== UNKNOWN_MEMBER_ID || groupInstanceId !== null) {
        const error = validateMember(group, memberId, groupInstanceId);
        if (error !== ErrorCode.NONE) return error;
        if (generationId !== group.generationId) return ErrorCode.ILLEGAL_GENERATION;
      } else if (group.state !== "Empty") {
        // Without member id and generation (v0), only an Empty group takes commits.
        return ErrorCode.UNKNOWN_MEMBER_ID;
      }
      if (group.state === "CompletingRebalance") return ErrorCode.REBALANCE_IN_PROGRESS;
      const member = group.members.get(memberId);
      if (member !== undefined && (group.state === "Stable" || group.state === "PreparingRebalance")) {
        this.scheduleHeartbeat(group, member, member.sessionTimeoutMs);
      }
      return ErrorCode.NONE;
    });
  }

  /**
   * The error Kafka's classic group gives a TxnOffsetCommit (validateOffsetCommit with
   * isTransactional): an unknown group with a generation is ILLEGAL_GENERATION (without one it is
   * created Empty); a commit without member id and generation is accepted in any state (old
   * producers send neither), and the group state is not enforced (no REBALANCE_IN_PROGRESS). It is
   * not a heartbeat.
   */
  validateTxnOffsetCommit(
    groupId: string,
    memberId: string,
    groupInstanceId: string | null,
    generationId: number,
  ): number {
    return this.run(() => {
      if (!this.active) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
      let group = this.groups.get(groupId);
      if (group === undefined) {
        if (generationId >= 0) return ErrorCode.ILLEGAL_GENERATION;
        group = newGroup(groupId, "Empty", this.now());
        this.groups.set(groupId, group);
      }
      if (group.state === "Dead") return ErrorCode.COORDINATOR_NOT_AVAILABLE;
      if (generationId < 0 && group.state === "Empty") return ErrorCode.NONE;
      if (generationId >= 0 || memberId !== UNKNOWN_MEMBER_ID || groupInstanceId !== null) {
        const error = validateMember(group, memberId, groupInstanceId);
        if (error !== ErrorCode.NONE) return error;
        if (generationId !== group.generationId) return ErrorCode.ILLEGAL_GENERATION;
      }
      return ErrorCode.NONE;
    });
  }

  /**
   * OffsetFetch v9+ member check. Kafka ignores the member id and epoch for classic groups, and an
   * unknown or dead group just has no offsets (every partition -1, no error): always NONE here.
   */
  validateOffsetFetch(_groupId: string, _memberId: string | null, _memberEpoch: number): number {
    return this.active ? ErrorCode.NONE : ErrorCode.COORDINATOR_NOT_AVAILABLE;
  }

  /**
   * OffsetDelete's group-level error. NONE means: delete the partitions, except those of topics
   * `isSubscribedToTopic` names, which get GROUP_SUBSCRIBED_TO_TOPIC.
   */
  validateOffsetDelete(groupId: string): number {
    if (!this.active) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    if (groupId === "") return ErrorCode.INVALID_GROUP_ID;
    const group = this.groups.get(groupId);
    if (group === undefined || group.state === "Dead") return ErrorCode.GROUP_ID_NOT_FOUND;
    if (group.state !== "Empty" && group.protocolType !== CONSUMER_PROTOCOL_TYPE) return ErrorCode.NON_EMPTY_GROUP;
    return ErrorCode.NONE;
  }

  /**
   * Whether a member subscribes to the topic (Kafka's ClassicGroup.isSubscribedToTopic): from the
   * subscriptions parsed when the generation started; a "consumer" group whose subscriptions do
   * not parse counts as subscribed to every topic.
   */
  isSubscribedToTopic(groupId: string, topic: string): boolean {
    const group = this.groups.get(groupId);
    if (group === undefined) return false;
    if (group.subscribedTopics !== null) return group.subscribedTopics.has(topic);
    return group.protocolType === CONSUMER_PROTOCOL_TYPE;
  }

  /** ListGroups: v4 state filter (case-insensitive), v5 type filter; an empty filter passes all. */
  listGroups(statesFilter: readonly string[], typesFilter: readonly string[]): ListedGroup[] {
    const states = new Set(statesFilter.map((s) => s.trim().toLowerCase()));
    const typesPass = typesFilter.length === 0 || typesFilter.some((t) => t.toLowerCase() === "classic");
    const out: ListedGroup[] = [];
    if (!typesPass) return out;
    for (const g of this.groups.values()) {
      if (g.state === "Dead") continue;
      if (states.size > 0 && !states.has(g.state.toLowerCase())) continue;
      out.push({ groupId: g.groupId, protocolType: g.protocolType ?? "", state: g.state, groupType: "classic" });
    }
    return out;
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

  /**
   * The coordinator unloads (Kafka's onUnloaded): every waiting JoinGroup and SyncGroup is answered
   * NOT_COORDINATOR so clients find the new coordinator, timers are dropped, and later requests
   * get COORDINATOR_NOT_AVAILABLE. Stores still in flight complete without effect.
   */
  shutdown(): void {
    this.run(() => {
      if (!this.active) return;
      this.active = false;
      for (const group of [...this.groups.values()]) this.abandonGroup(group, ErrorCode.NOT_COORDINATOR);
      this.groups.clear();
      this.timers.clear();
    });
  }

  describeGroup(groupId: string): GroupDescription | undefined {
    const g = this.groups.get(groupId);
    if (g === undefined) return undefined;
    return {
      groupId: g.groupId,
      state: g.state,
      generationId: g.generationId,
      protocolType: g.protocolType,
      protocolName: g.protocolName,
      leaderId: g.leaderId,
      currentStateTimestampMs: g.currentStateTimestampMs,
      members: [...g.members.values()].map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        sessionTimeoutMs: m.sessionTimeoutMs,
        rebalanceTimeoutMs: m.rebalanceTimeoutMs,
        protocols: m.protocols,
        assignment: m.assignment,
        awaitingJoin: m.awaitingJoin !== null,
        awaitingSync: m.awaitingSync !== null,
      })),
      pendingMemberIds: [...g.pendingMembers],
    };
  }

  groupIds(): string[] {
    return [...this.groups.keys()];
  }

  /** Live timers (for tests and metrics): at most one per member and pending member plus two per group. */
  get timerCount(): number {
    return this.timers.size;
  }

  // ---------------------------------------------------------------- JoinGroup

  private doJoinGroup(req: JoinGroupRequest, cb: JoinCallback) {
    const fail = (errorCode: number, memberId = req.memberId) => this.deliver(() => cb(joinError(errorCode, memberId)));
    if (!this.active) return fail(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    if (req.groupId === "") return fail(ErrorCode.INVALID_GROUP_ID);
    if (
      req.sessionTimeoutMs < this.config.minSessionTimeoutMs ||
      req.sessionTimeoutMs > this.config.maxSessionTimeoutMs
    ) {
      return fail(ErrorCode.INVALID_SESSION_TIMEOUT);
    }
    let group = this.groups.get(req.groupId);
    if (group === undefined) {
      if (req.memberId !== UNKNOWN_MEMBER_ID) return fail(ErrorCode.UNKNOWN_MEMBER_ID);
      group = newGroup(req.groupId, "Empty", this.now());
      this.groups.set(req.groupId, group);
    }
    if (!this.acceptJoiningMember(group, req.memberId)) {
      // Kafka drops a member that lost its place (it had not rejoined yet), without completing the join.
      const member = group.members.get(req.memberId);
      if (member !== undefined) this.removeMember(group, member);
      if (group.pendingMembers.delete(req.memberId))
        this.timers.cancel(timerKey.heartbeat(group.groupId, req.memberId));
      return fail(ErrorCode.GROUP_MAX_SIZE_REACHED, UNKNOWN_MEMBER_ID);
    }
    if (req.memberId === UNKNOWN_MEMBER_ID) this.joinNewMember(group, req, cb);
    else this.joinExistingMember(group, req, cb);
  }

  /**
   * Kafka's acceptJoiningMember. While preparing, the members already waiting in JoinGroup are
   * counted (the group may be above a lowered limit, and the last to rejoin are the ones left
   * out); otherwise the members. A static member taking over its instance id counts as new.
   */
  private acceptJoiningMember(group: Group, memberId: string): boolean {
    const max = this.config.maxSize;
    switch (group.state) {
      case "Empty":
      case "Dead":
        return true;
      case "PreparingRebalance":
        return isAwaitingJoin(group, memberId) || numAwaitingJoin(group) < max;
      default:
        return group.members.has(memberId) || group.members.size < max;
    }
  }

  private joinNewMember(group: Group, req: JoinGroupRequest, cb: JoinCallback) {
    const fail = (errorCode: number, memberId = UNKNOWN_MEMBER_ID) =>
      this.deliver(() => cb(joinError(errorCode, memberId)));
    if (group.state === "Dead") return fail(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    if (!supportsProtocols(group, req.protocolType, req.protocols)) return fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    const newMemberId = `${req.groupInstanceId ?? req.clientId}-${this.newMemberIdSuffix()}`;
    if (req.groupInstanceId !== null) {
      const oldMemberId = group.staticMembers.get(req.groupInstanceId);
      if (oldMemberId !== undefined) this.replaceStaticMemberThenRebalance(group, req, cb, oldMemberId, newMemberId);
      else this.addMemberThenRebalance(group, newMemberId, req, cb);
    } else if (req.requireKnownMemberId) {
      // The member id is only handed out; the member counts from its next JoinGroup, and a client
      // that never comes back is forgotten after its session timeout.
      group.pendingMembers.add(newMemberId);
      this.timers.schedule(timerKey.heartbeat(group.groupId, newMemberId), this.now() + req.sessionTimeoutMs, {
        kind: "heartbeat",
        groupId: group.groupId,
        memberId: newMemberId,
      });
      fail(ErrorCode.MEMBER_ID_REQUIRED, newMemberId);
    } else {
      this.addMemberThenRebalance(group, newMemberId, req, cb);
    }
  }

  private joinExistingMember(group: Group, req: JoinGroupRequest, cb: JoinCallback) {
    const fail = (errorCode: number) => this.deliver(() => cb(joinError(errorCode, req.memberId)));
    if (group.state === "Dead") return fail(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    if (!supportsProtocols(group, req.protocolType, req.protocols)) return fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    if (group.pendingMembers.has(req.memberId)) {
      // Ids handed out with MEMBER_ID_REQUIRED are dynamic; Kafka fails the request (an internal error).
      if (req.groupInstanceId !== null) return fail(ErrorCode.UNKNOWN_SERVER_ERROR);
      return this.addMemberThenRebalance(group, req.memberId, req, cb);
    }
    const error = validateMember(group, req.memberId, req.groupInstanceId);
    if (error !== ErrorCode.NONE) return fail(error);
    const member = group.members.get(req.memberId)!;
    switch (group.state) {
      case "PreparingRebalance":
        return this.updateMemberThenRebalance(group, member, req, cb);
      case "CompletingRebalance":
        if (sameProtocols(member.protocols, req.protocols)) {
          // The join response was lost; answer it again with the current generation.
          this.deliver(() => cb(this.joinResult(group, member.memberId, group.leaderId === member.memberId)));
          return;
        }
        return this.updateMemberThenRebalance(group, member, req, cb);
      case "Stable":
        // The leader rejoining asks for a new assignment (e.g. topic metadata changed).
        if (group.leaderId === member.memberId || !sameProtocols(member.protocols, req.protocols)) {
          return this.updateMemberThenRebalance(group, member, req, cb);
        }
        this.deliver(() => cb(this.joinResult(group, member.memberId, false)));
        return;
      default:
        return fail(ErrorCode.UNKNOWN_MEMBER_ID);
    }
  }

  private addMemberThenRebalance(group: Group, memberId: string, req: JoinGroupRequest, cb: JoinCallback): void {
    const member: Member = {
      memberId,
      groupInstanceId: req.groupInstanceId,
      clientId: req.clientId,
      clientHost: req.clientHost,
      sessionTimeoutMs: req.sessionTimeoutMs,
      rebalanceTimeoutMs: req.rebalanceTimeoutMs,
      protocolType: req.protocolType,
      protocols: req.protocols,
      assignment: EMPTY,
      awaitingJoin: cb,
      awaitingSync: null,
      isNew: true,
    };
    if (group.state === "PreparingRebalance" && group.previousState === "Empty") group.newMemberAdded = true;
    if (group.members.size === 0) group.protocolType = req.protocolType;
    group.members.set(memberId, member);
    if (member.groupInstanceId !== null) group.staticMembers.set(member.groupInstanceId, memberId);
    if (group.leaderId === null) group.leaderId = memberId;
    group.pendingMembers.delete(memberId);
    // The session timeout cannot apply to a member waiting in its first JoinGroup (it has no id to
    // heartbeat with), but a client that gave up must not stay forever: Kafka's new-member timeout.
    this.scheduleHeartbeat(group, member, this.config.newMemberJoinTimeoutMs);
    this.maybePrepareRebalanceOrCompleteJoin(group);
  }

  private updateMemberThenRebalance(group: Group, member: Member, req: JoinGroupRequest, cb: JoinCallback): void {
    this.updateMember(member, req.protocols, req.rebalanceTimeoutMs, req.sessionTimeoutMs, cb);
    this.maybePrepareRebalanceOrCompleteJoin(group);
  }

  private updateMember(
    member: Member,
    protocols: GroupProtocol[],
    rebalanceTimeoutMs: number,
    sessionTimeoutMs: number,
    cb: JoinCallback | null,
  ): void {
    const previous = member.awaitingJoin;
    if (previous !== null && cb !== null) {
      // A second JoinGroup while the first still waits: the client gave up on the first one.
      const id = member.memberId;
      this.deliver(() => previous(joinError(ErrorCode.REBALANCE_IN_PROGRESS, id)));
    }
    member.protocols = protocols;
    member.rebalanceTimeoutMs = rebalanceTimeoutMs;
    member.sessionTimeoutMs = sessionTimeoutMs;
    member.awaitingJoin = cb;
  }

  /** Kafka's updateStaticMemberThenRebalanceOrCompleteJoin: a known group.instance.id joins with a new member id. */
  private replaceStaticMemberThenRebalance(
    group: Group,
    req: JoinGroupRequest,
    cb: JoinCallback,
    oldMemberId: string,
    newMemberId: string,
  ): void {
    const instanceId = req.groupInstanceId!;
    const currentLeader = group.leaderId;
    const member = this.replaceStaticMember(group, instanceId, oldMemberId, newMemberId);
    this.scheduleHeartbeat(group, member, member.sessionTimeoutMs);
    const oldProtocols = member.protocols;
    const oldRebalanceTimeoutMs = member.rebalanceTimeoutMs;
    const oldSessionTimeoutMs = member.sessionTimeoutMs;
    this.updateMember(member, req.protocols, req.rebalanceTimeoutMs, req.sessionTimeoutMs, cb);
    switch (group.state) {
      case "Stable": {
        if ((group.protocolName ?? "") !== selectProtocol(group)) {
          this.maybePrepareRebalanceOrCompleteJoin(group);
          return;
        }
        // No rebalance: persist the new member id, then hand the member its place. If a rebalance
        // started meanwhile, the member waits in it like any joined member (and keeps its new id).
        const generationId = group.generationId;
        this.storeGroup(group, this.snapshot(group), (errorCode) => {
          if (group.members.get(newMemberId) !== member || member.awaitingJoin !== cb) return;
          if (group.state !== "Stable" || group.generationId !== generationId) return;
          if (errorCode !== ErrorCode.NONE) {
            this.updateMember(member, oldProtocols, oldRebalanceTimeoutMs, oldSessionTimeoutMs, null);
            this.replaceStaticMember(group, instanceId, newMemberId, oldMemberId);
            this.scheduleHeartbeat(group, member, member.sessionTimeoutMs);
            const result = {
              ...this.joinResult(group, UNKNOWN_MEMBER_ID, false),
              errorCode,
              leader: currentLeader ?? "",
            };
            this.deliver(() => cb(result));
            return;
          }
          member.awaitingJoin = null;
          let result: JoinGroupResult;
          if (req.supportSkippingAssignment) {
            // KIP-814: the leader learns it leads (to keep watching metadata) without assigning.
            const isLeader = group.leaderId === newMemberId;
            result = { ...this.joinResult(group, newMemberId, isLeader), skipAssignment: isLeader };
          } else {
            // An older client told it leads would compute an assignment a Stable group ignores:
            // name the previous leader id, which is not its new id, so it acts as a follower.
            result = { ...this.joinResult(group, newMemberId, false), leader: currentLeader ?? "" };
          }
          this.deliver(() => cb(result));
        });
        return;
      }
      case "CompletingRebalance":
        // The leader may be assigning under the old member id: start over so the ids match.
        this.prepareRebalance(group);
        return;
      case "PreparingRebalance":
        this.maybeCompleteJoinPhase(group);
        return;
      default:
        throw new Error(`static member ${instanceId} found in a ${group.state} group ${group.groupId}`);
    }
  }

  /** Moves a static member to a new member id; requests still waiting under the old id are fenced. */
  private replaceStaticMember(group: Group, instanceId: string, oldMemberId: string, newMemberId: string): Member {
    const member = group.members.get(oldMemberId)!;
    const join = member.awaitingJoin;
    if (join !== null) this.deliver(() => join(joinError(ErrorCode.FENCED_INSTANCE_ID, oldMemberId)));
    const sync = member.awaitingSync;
    if (sync !== null) this.deliver(() => sync(syncError(ErrorCode.FENCED_INSTANCE_ID)));
    member.awaitingJoin = null;
    member.awaitingSync = null;
    member.isNew = false;
    this.timers.cancel(timerKey.heartbeat(group.groupId, oldMemberId));
    group.members.delete(oldMemberId);
    member.memberId = newMemberId;
    group.members.set(newMemberId, member);
    group.staticMembers.set(instanceId, newMemberId);
    if (group.leaderId === oldMemberId) group.leaderId = newMemberId;
    // Like Kafka, a pending sync stays on the old id: if it is still pending when the sync timer
    // fires, the group rebalances.
    return member;
  }

  // ---------------------------------------------------------------- rebalance

  private maybePrepareRebalanceOrCompleteJoin(group: Group): void {
    if (group.state === "Stable" || group.state === "CompletingRebalance" || group.state === "Empty") {
      this.prepareRebalance(group);
    } else {
      this.maybeCompleteJoinPhase(group);
    }
  }

  private prepareRebalance(group: Group): void {
    // The assignment being computed is for a generation that will never be Stable.
    if (group.state === "CompletingRebalance") this.resetAndPropagateAssignment(group, ErrorCode.REBALANCE_IN_PROGRESS);
    this.removeSyncExpiration(group);
    const initial = group.state === "Empty";
    if (initial) {
      const delayMs = this.config.initialRebalanceDelayMs;
      const remainingMs = Math.max(rebalanceTimeoutMs(group) - delayMs, 0);
      this.timers.schedule(timerKey.join(group.groupId), this.now() + delayMs, {
        kind: "initial-join",
        groupId: group.groupId,
        delayMs,
        remainingMs,
      });
    }
    this.transition(group, "PreparingRebalance");
    if (initial) return;
    if (hasAllMembersJoined(group)) {
      this.completeJoin(group);
    } else {
      this.scheduleJoin(group);
    }
  }

  private scheduleJoin(group: Group): void {
    this.timers.schedule(timerKey.join(group.groupId), this.now() + rebalanceTimeoutMs(group), {
      kind: "join",
      groupId: group.groupId,
    });
  }

  /** Joins never complete the initial rebalance early: its timer does. */
  private maybeCompleteJoinPhase(group: Group): void {
    if (group.state !== "PreparingRebalance" || group.previousState === "Empty") return;
    if (hasAllMembersJoined(group)) this.completeJoin(group);
  }

  private onInitialJoinTimer(group: Group, delayMs: number, remainingMs: number): void {
    if (group.state !== "PreparingRebalance") return;
    if (group.newMemberAdded && remainingMs !== 0) {
      // New members keep arriving: wait once more, never past the rebalance timeout.
      group.newMemberAdded = false;
      const newDelayMs = Math.min(this.config.initialRebalanceDelayMs, remainingMs);
      this.timers.schedule(timerKey.join(group.groupId), this.now() + newDelayMs, {
        kind: "initial-join",
        groupId: group.groupId,
        delayMs: newDelayMs,
        remainingMs: Math.max(remainingMs - delayMs, 0),
      });
      return;
    }
    this.completeJoin(group);
  }

  /** Kafka's completeClassicGroupJoin. */
  private completeJoin(group: Group): void {
    this.timers.cancel(timerKey.join(group.groupId));
    for (const m of [...group.members.values()]) {
      if (m.awaitingJoin === null && m.groupInstanceId === null) this.removeMember(group, m);
    }
    if (!electJoinedLeader(group) && group.members.size > 0) {
      // Only static members that have not rejoined are left: wait for them or for their sessions to end.
      this.scheduleJoin(group);
      return;
    }
    group.generationId++;
    group.pendingSyncMembers.clear();
    if (group.members.size === 0) {
      group.protocolName = null;
      group.subscribedTopics = computeSubscribedTopics(group);
      this.transition(group, "Empty");
      // A failure is only logged by Kafka: with no members, the previous record coming back after a
      // restart is harmless (its members time out).
      this.storeGroup(group, this.snapshot(group), () => {});
      return;
    }
    group.protocolName = selectProtocol(group);
    group.subscribedTopics = computeSubscribedTopics(group);
    this.transition(group, "CompletingRebalance");
    for (const m of group.members.values()) {
      const join = m.awaitingJoin;
      m.awaitingJoin = null;
      if (join !== null) {
        const result = this.joinResult(group, m.memberId, group.leaderId === m.memberId);
        this.deliver(() => join(result));
      }
      this.scheduleHeartbeat(group, m, m.sessionTimeoutMs);
      m.isNew = false;
      group.pendingSyncMembers.add(m.memberId);
    }
    this.timers.schedule(timerKey.sync(group.groupId), this.now() + rebalanceTimeoutMs(group), {
      kind: "sync",
      groupId: group.groupId,
      generationId: group.generationId,
    });
  }

  private joinResult(group: Group, memberId: string, withMembers: boolean): JoinGroupResult {
    return {
      errorCode: ErrorCode.NONE,
      generationId: group.generationId,
      protocolType: group.protocolType,
      protocolName: group.protocolName,
      leader: group.leaderId ?? "",
      skipAssignment: false,
      memberId,
      members: withMembers
        ? [...group.members.values()].map((m) => ({
            memberId: m.memberId,
            groupInstanceId: m.groupInstanceId,
            metadata: protocolMetadata(m, group.protocolName),
          }))
        : [],
    };
  }

  // ---------------------------------------------------------------- SyncGroup

  private doSyncGroup(req: SyncGroupRequest, cb: SyncCallback) {
    const fail = (errorCode: number) => this.deliver(() => cb(syncError(errorCode)));
    if (!this.active) return fail(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    if (req.groupId === "") return fail(ErrorCode.INVALID_GROUP_ID);
    const group = this.groups.get(req.groupId);
    if (group === undefined || group.state === "Empty") return fail(ErrorCode.UNKNOWN_MEMBER_ID);
    if (group.state === "Dead") return fail(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    const error = validateMember(group, req.memberId, req.groupInstanceId);
    if (error !== ErrorCode.NONE) return fail(error);
    if (req.generationId !== group.generationId) return fail(ErrorCode.ILLEGAL_GENERATION);
    if (
      (req.protocolType !== null && req.protocolType !== group.protocolType) ||
      (req.protocolName !== null && req.protocolName !== group.protocolName)
    ) {
      return fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    }
    const member = group.members.get(req.memberId)!;
    switch (group.state) {
      case "PreparingRebalance":
        return fail(ErrorCode.REBALANCE_IN_PROGRESS);
      case "CompletingRebalance": {
        const previous = member.awaitingSync;
        if (previous !== null) this.deliver(() => previous(syncError(ErrorCode.REBALANCE_IN_PROGRESS)));
        member.awaitingSync = cb;
        this.removePendingSyncMember(group, member.memberId);
        if (group.leaderId !== member.memberId) return;
        const assignment = new Map<string, Uint8Array>();
        for (const a of req.assignments) assignment.set(a.memberId, a.assignment);
        for (const id of group.members.keys()) if (!assignment.has(id)) assignment.set(id, EMPTY);
        const generationId = group.generationId;
        this.storeGroup(group, this.snapshot(group, assignment), (errorCode) => {
          // Members may have joined or left while the record was written: then it is stale.
          if (group.state !== "CompletingRebalance" || group.generationId !== generationId) return;
          if (errorCode !== ErrorCode.NONE) {
            this.resetAndPropagateAssignment(group, errorCode);
            this.maybePrepareRebalanceOrCompleteJoin(group);
            return;
          }
          for (const m of group.members.values()) m.assignment = assignment.get(m.memberId) ?? EMPTY;
          this.propagateAssignment(group, ErrorCode.NONE);
          this.transition(group, "Stable");
        });
        return;
      }
      case "Stable": {
        this.removePendingSyncMember(group, member.memberId);
        const result = { ...syncError(ErrorCode.NONE), ...protocolOf(group), assignment: member.assignment };
        this.deliver(() => cb(result));
        return;
      }
    }
  }

  private resetAndPropagateAssignment(group: Group, errorCode: number): void {
    for (const m of group.members.values()) m.assignment = EMPTY;
    this.propagateAssignment(group, errorCode);
  }

  /** Answers every waiting SyncGroup; their sessions restart now (expiry is ignored while they wait). */
  private propagateAssignment(group: Group, errorCode: number): void {
    const protocol = errorCode === ErrorCode.NONE ? protocolOf(group) : { protocolType: null, protocolName: null };
    for (const m of group.members.values()) {
      const sync = m.awaitingSync;
      if (sync === null) continue;
      m.awaitingSync = null;
      const result: SyncGroupResult = { errorCode, ...protocol, assignment: m.assignment };
      this.deliver(() => sync(result));
      this.scheduleHeartbeat(group, m, m.sessionTimeoutMs);
    }
  }

  private removePendingSyncMember(group: Group, memberId: string): void {
    group.pendingSyncMembers.delete(memberId);
    const synced = group.state === "CompletingRebalance" || group.state === "Stable";
    if (!synced || group.pendingSyncMembers.size === 0) this.timers.cancel(timerKey.sync(group.groupId));
  }

  private removeSyncExpiration(group: Group): void {
    group.pendingSyncMembers.clear();
    this.timers.cancel(timerKey.sync(group.groupId));
  }

  // ---------------------------------------------------------------- Heartbeat, LeaveGroup

  private doHeartbeat(req: HeartbeatRequest): number {
    if (!this.active) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    if (req.groupId === "") return ErrorCode.INVALID_GROUP_ID;
    const group = this.groups.get(req.groupId);
    if (group === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
    if (group.state === "Dead") return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    const error = validateMember(group, req.memberId, req.groupInstanceId);
    if (error !== ErrorCode.NONE) return error;
    if (req.generationId !== group.generationId) return ErrorCode.ILLEGAL_GENERATION;
    const member = group.members.get(req.memberId)!;
    switch (group.state) {
      case "Empty":
        return ErrorCode.UNKNOWN_MEMBER_ID;
      case "PreparingRebalance":
        this.scheduleHeartbeat(group, member, member.sessionTimeoutMs);
        return ErrorCode.REBALANCE_IN_PROGRESS;
      default:
        // Clients may heartbeat between their JoinGroup and SyncGroup responses: a normal heartbeat.
        this.scheduleHeartbeat(group, member, member.sessionTimeoutMs);
        return ErrorCode.NONE;
    }
  }

  private doLeaveGroup(req: LeaveGroupRequest): LeaveGroupResult {
    if (!this.active) return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, members: [] };
    if (req.groupId === "") return { errorCode: ErrorCode.INVALID_GROUP_ID, members: [] };
    const group = this.groups.get(req.groupId);
    if (group === undefined) return { errorCode: ErrorCode.UNKNOWN_MEMBER_ID, members: [] };
    if (group.state === "Dead") return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, members: [] };
    const members = req.members.map((identity) => ({ ...identity, errorCode: this.leaveOne(group, identity) }));
    if (members.some((m) => m.errorCode === ErrorCode.NONE)) {
      if (group.state === "Stable" || group.state === "CompletingRebalance") {
        this.maybePrepareRebalanceOrCompleteJoin(group);
      } else if (group.state === "PreparingRebalance") {
        this.maybeCompleteJoinPhase(group);
      }
    }
    return { errorCode: ErrorCode.NONE, members };
  }

  private leaveOne(group: Group, identity: { memberId: string; groupInstanceId: string | null }): number {
    if (identity.memberId === UNKNOWN_MEMBER_ID) {
      // Administrative removal by group.instance.id alone.
      const memberId =
        identity.groupInstanceId === null ? undefined : group.staticMembers.get(identity.groupInstanceId);
      if (memberId === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
      this.removeLeavingMember(group, group.members.get(memberId)!);
      return ErrorCode.NONE;
    }
    if (group.pendingMembers.delete(identity.memberId)) {
      this.timers.cancel(timerKey.heartbeat(group.groupId, identity.memberId));
      return ErrorCode.NONE;
    }
    const error = validateMember(group, identity.memberId, identity.groupInstanceId);
    if (error !== ErrorCode.NONE) return error;
    this.removeLeavingMember(group, group.members.get(identity.memberId)!);
    return ErrorCode.NONE;
  }

  private removeLeavingMember(group: Group, member: Member): void {
    const join = member.awaitingJoin;
    member.awaitingJoin = null;
    if (join !== null) this.deliver(() => join(joinError(ErrorCode.UNKNOWN_MEMBER_ID, UNKNOWN_MEMBER_ID)));
    this.removeMember(group, member);
  }

  // ---------------------------------------------------------------- members and timers

  /** Kafka's removeMemberAndUpdateClassicGroup (session expiry). */
  private removeMemberAndUpdateGroup(group: Group, member: Member): void {
    this.removeLeavingMember(group, member);
    if (group.state === "Stable" || group.state === "CompletingRebalance") {
      this.maybePrepareRebalanceOrCompleteJoin(group);
    } else if (group.state === "PreparingRebalance" && hasAllMembersJoined(group)) {
      this.completeJoin(group);
    }
  }

  private removeMember(group: Group, member: Member): void {
    const sync = member.awaitingSync;
    member.awaitingSync = null;
    if (sync !== null) this.deliver(() => sync(syncError(ErrorCode.UNKNOWN_MEMBER_ID)));
    group.members.delete(member.memberId);
    if (member.groupInstanceId !== null && group.staticMembers.get(member.groupInstanceId) === member.memberId) {
      group.staticMembers.delete(member.groupInstanceId);
    }
    group.pendingMembers.delete(member.memberId);
    group.pendingSyncMembers.delete(member.memberId);
    this.timers.cancel(timerKey.heartbeat(group.groupId, member.memberId));
    if (group.leaderId === member.memberId) {
      // Kafka takes any remaining member; one that already rejoined is the better leader.
      let next: Member | undefined;
      for (const m of group.members.values()) {
        if (next === undefined || (m.awaitingJoin !== null && next.awaitingJoin === null)) next = m;
      }
      group.leaderId = next?.memberId ?? null;
    }
  }

  private scheduleHeartbeat(group: Group, member: Member, timeoutMs: number): void {
    this.timers.schedule(timerKey.heartbeat(group.groupId, member.memberId), this.now() + timeoutMs, {
      kind: "heartbeat",
      groupId: group.groupId,
      memberId: member.memberId,
    });
  }

  private onTimer(timer: Timer) {
    const group = this.groups.get(timer.groupId);
    if (group === undefined || group.state === "Dead") return;
    switch (timer.kind) {
      case "heartbeat":
        return this.onHeartbeatExpired(group, timer.memberId);
      case "join":
        if (group.state === "PreparingRebalance") this.completeJoin(group);
        return;
      case "initial-join":
        return this.onInitialJoinTimer(group, timer.delayMs, timer.remainingMs);
      case "sync":
        return this.onSyncExpired(group, timer.generationId);
    }
  }

  private onHeartbeatExpired(group: Group, memberId: string): void {
    if (group.pendingMembers.delete(memberId)) {
      if (group.state === "PreparingRebalance" && hasAllMembersJoined(group)) this.completeJoin(group);
      return;
    }
    const member = group.members.get(memberId);
    if (member === undefined) return;
    // A member waiting in a rebalance is alive until it is answered (its session restarts then),
    // unless it is a new member still waiting in its first JoinGroup.
    const satisfied = !member.isNew && (member.awaitingJoin !== null || member.awaitingSync !== null);
    if (!satisfied) this.removeMemberAndUpdateGroup(group, member);
  }

  private onSyncExpired(group: Group, generationId: number): void {
    if (generationId !== group.generationId) return;
    if (group.state !== "CompletingRebalance" && group.state !== "Stable") return;
    if (group.pendingSyncMembers.size === 0) return;
    for (const memberId of [...group.pendingSyncMembers]) {
      const member = group.members.get(memberId);
      if (member !== undefined) this.removeMember(group, member);
    }
    this.prepareRebalance(group);
  }

  // ---------------------------------------------------------------- persistence, unloading

  private snapshot(group: Group, assignment?: Map<string, Uint8Array>): GroupSnapshot {
    return {
      groupId: group.groupId,
      protocolType: group.protocolType,
      generationId: group.generationId,
      protocolName: group.protocolName,
      leaderId: group.leaderId,
      currentStateTimestampMs: group.currentStateTimestampMs,
      members: [...group.members.values()].map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        rebalanceTimeoutMs: m.rebalanceTimeoutMs,
        sessionTimeoutMs: m.sessionTimeoutMs,
        subscription: protocolMetadata(m, group.protocolName),
        assignment: assignment?.get(m.memberId) ?? m.assignment,
      })),
    };
  }

  /**
   * Writes the group's record; `onDone` runs once, with Kafka's mapping of append errors, and only
   * while this coordinator is active and the group is still the same object (not deleted,
   * reloaded or unloaded meanwhile). It must be the last step of the caller: it may run inline.
   */
  private storeGroup(group: Group, snapshot: GroupSnapshot, onDone: (errorCode: number) => void): void {
    if (this.storeRecord === undefined) {
      onDone(ErrorCode.NONE);
      return;
    }
    let called = false;
    this.storeRecord(snapshot, (errorCode) => {
      if (called) return;
      called = true;
      if (!this.active || this.groups.get(group.groupId) !== group) return;
      this.run(() => onDone(appendErrorToResponseError(errorCode)));
    });
  }

  /** Answers everything the group still owes and drops its timers (unload, reload, delete). */
  private abandonGroup(group: Group, errorCode: number): void {
    for (const m of group.members.values()) {
      const join = m.awaitingJoin;
      const sync = m.awaitingSync;
      m.awaitingJoin = null;
      m.awaitingSync = null;
      const id = m.memberId;
      if (join !== null) this.deliver(() => join(joinError(errorCode, id)));
      if (sync !== null) this.deliver(() => sync(syncError(errorCode)));
    }
    this.dropGroup(group);
  }

  private dropGroup(group: Group): void {
    for (const id of group.members.keys()) this.timers.cancel(timerKey.heartbeat(group.groupId, id));
    for (const id of group.pendingMembers) this.timers.cancel(timerKey.heartbeat(group.groupId, id));
    this.timers.cancel(timerKey.join(group.groupId));
    this.timers.cancel(timerKey.sync(group.groupId));
    if (this.groups.get(group.groupId) === group) this.groups.delete(group.groupId);
  }

  private transition(group: Group, to: GroupState): void {
    if (!VALID_PREVIOUS_STATES[to].includes(group.state)) {
      throw new Error(`group ${group.groupId}: illegal transition ${group.state} -> ${to}`);
    }
    group.previousState = group.state;
    group.state = to;
    group.currentStateTimestampMs = this.now();
  }

  private now(): number {
    return this.firingAtMs ?? this.clock();
  }

  private deliver(fn: () => void): void {
    this.deliveries.push(fn);
  }

  /** Runs one state change, then (outermost only) delivers the responses it produced; callbacks may re-enter. */
  private run<R>(fn: () => R): R {
    this.depth++;
    let result: R;
    try {
      result = fn();
    } finally {
      this.depth--;
    }
    if (this.depth === 0 && !this.delivering) {
      this.delivering = true;
      try {
        for (let next = this.deliveries.shift(); next !== undefined; next = this.deliveries.shift()) next();
      } finally {
        this.delivering = false;
      }
    }
    return result;
  }
}

const VALID_PREVIOUS_STATES: Record<GroupState, GroupState[]> = {
  Dead: ["Stable", "PreparingRebalance", "CompletingRebalance", "Empty", "Dead"],
  CompletingRebalance: ["PreparingRebalance"],
  Stable: ["CompletingRebalance"],
  PreparingRebalance: ["Stable", "CompletingRebalance", "Empty"],
  Empty: ["PreparingRebalance"],
};

function newGroup(groupId: string, state: GroupState, nowMs: number): Group {
  return {
    groupId,
    state,
    previousState: "Dead",
    currentStateTimestampMs: nowMs,
    generationId: 0,
    protocolType: null,
    protocolName: null,
    leaderId: null,
    members: new Map(),
    pendingMembers: new Set(),
    staticMembers: new Map(),
    pendingSyncMembers: new Set(),
    newMemberAdded: false,
    subscribedTopics: null,
  };
}

function joinError(errorCode: number, memberId: string): JoinGroupResult {
  return {
    errorCode,
    generationId: NO_GENERATION,
    protocolType: null,
    protocolName: null,
    leader: "",
    skipAssignment: false,
    memberId,
    members: [],
  };
}

function syncError(errorCode: number): SyncGroupResult {
  return { errorCode, protocolType: null, protocolName: null, assignment: EMPTY };
}

function protocolOf(group: Group): { protocolType: string | null; protocolName: string | null } {
  return { protocolType: group.protocolType, protocolName: group.protocolName };
}

/** Kafka's appendGroupMetadataErrorToResponseError: what a group API answers when its record was not written. */
function appendErrorToResponseError(errorCode: number): number {
  switch (errorCode) {
    case ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
    case ErrorCode.NOT_ENOUGH_REPLICAS:
    case ErrorCode.REQUEST_TIMED_OUT:
      return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    case ErrorCode.NOT_LEADER_OR_FOLLOWER:
    case ErrorCode.KAFKA_STORAGE_ERROR:
      return ErrorCode.NOT_COORDINATOR;
    case ErrorCode.MESSAGE_TOO_LARGE:
    case ErrorCode.RECORD_LIST_TOO_LARGE:
    case ErrorCode.INVALID_FETCH_SIZE:
      return ErrorCode.UNKNOWN_SERVER_ERROR;
    default:
      return errorCode;
  }
}

/** Kafka's ClassicGroup.validateMember: a named instance id must be registered and own the member id. */
function validateMember(group: Group, memberId: string, groupInstanceId: string | null): number {
  if (groupInstanceId !== null) {
    const owner = group.staticMembers.get(groupInstanceId);
    if (owner === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
    if (owner !== memberId) return ErrorCode.FENCED_INSTANCE_ID;
  }
  return group.members.has(memberId) ? ErrorCode.NONE : ErrorCode.UNKNOWN_MEMBER_ID;
}

function isAwaitingJoin(group: Group, memberId: string): boolean {
  const member = group.members.get(memberId);
  return member !== undefined && member.awaitingJoin !== null;
}

function numAwaitingJoin(group: Group): number {
  let n = 0;
  for (const m of group.members.values()) if (m.awaitingJoin !== null) n++;
  return n;
}

function hasAllMembersJoined(group: Group): boolean {
  return group.pendingMembers.size === 0 && numAwaitingJoin(group) === group.members.size;
}

function rebalanceTimeoutMs(group: Group): number {
  let max = 0;
  for (const m of group.members.values()) max = Math.max(max, m.rebalanceTimeoutMs);
  return max;
}

/** An Empty group takes any protocol; otherwise the type must match and one protocol be supported by every member. */
function supportsProtocols(group: Group, protocolType: string, protocols: GroupProtocol[]): boolean {
  if (group.state === "Empty") return protocolType !== "" && protocols.length > 0;
  if (protocolType !== group.protocolType) return false;
  return protocols.some((p) => {
    for (const m of group.members.values()) if (!m.protocols.some((q) => q.name === p.name)) return false;
    return true;
  });
}

/**
 * Kafka's selectProtocol: among the protocols every member supports, each member votes for the
 * first of them in its own preference order; most votes wins (ties: the earliest candidate in the
 * leader's order, so the choice is deterministic).
 */
function selectProtocol(group: Group): string {
  const members = [...group.members.values()];
  const candidates = members[0].protocols
    .map((p) => p.name)
    .filter((name) => members.every((m) => m.protocols.some((p) => p.name === name)));
  if (candidates.length === 0) throw new Error(`group ${group.groupId}: no protocol supported by all members`);
  const leader = group.leaderId === null ? undefined : group.members.get(group.leaderId);
  const order =
    leader === undefined ? candidates : leader.protocols.map((p) => p.name).filter((n) => candidates.includes(n));
  const votes = new Map<string, number>();
  for (const m of members) {
    const vote = m.protocols.find((p) => candidates.includes(p.name))!.name;
    votes.set(vote, (votes.get(vote) ?? 0) + 1);
  }
  let best = order[0];
  for (const name of order) if ((votes.get(name) ?? 0) > (votes.get(best) ?? 0)) best = name;
  return best;
}

function protocolMetadata(member: Member, protocolName: string | null): Uint8Array {
  return member.protocols.find((p) => p.name === protocolName)?.metadata ?? EMPTY;
}

function sameProtocols(a: GroupProtocol[], b: GroupProtocol[]): boolean {
  return (
    a.length === b.length && a.every((p, i) => p.name === b[i].name && Buffer.from(p.metadata).equals(b[i].metadata))
  );
}

/** Keeps the leader if it rejoined, else picks a joined member; false when none has joined. */
function electJoinedLeader(group: Group): boolean {
  if (group.leaderId === null) return false;
  const leader = group.members.get(group.leaderId);
  if (leader !== undefined && leader.awaitingJoin !== null) return true;
  for (const m of group.members.values()) {
    if (m.awaitingJoin !== null) {
      group.leaderId = m.memberId;
      return true;
    }
  }
  return false;
}

/**
 * Kafka's computeSubscribedTopics: only for "consumer" groups; each member's metadata is a version
 * (int16) then a subscription read as v0, the prefix of every version. Any member's metadata
 * failing to parse makes the topics unknown.
 */
function computeSubscribedTopics(group: Group): Set<string> | null {
  if (group.protocolType !== CONSUMER_PROTOCOL_TYPE) return null;
  if (group.members.size === 0) return new Set();
  if (group.protocolName === null) return null;
  const topics = new Set<string>();
  try {
    for (const m of group.members.values()) {
      const metadata = protocolMetadata(m, group.protocolName);
      const reader = new Reader(Buffer.from(metadata.buffer, metadata.byteOffset, metadata.byteLength));
      reader.readInt16("ConsumerProtocolSubscription.Version");
      for (const topic of ConsumerProtocolSubscription.decode(reader, 0).topics) topics.add(topic);
    }
  } catch {
    return null;
  }
  return topics;
}
