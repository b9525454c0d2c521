/**
 * The classic-protocol group state machine (Kafka's GroupCoordinator + GroupMetadata), pure: no
 * sockets, no files, no Node timers. Requests come in as typed values; JoinGroup and SyncGroup
 * responses are delivered through callbacks (or the promise wrappers) when the rebalance lets them
 * complete, Heartbeat and LeaveGroup answer at once. Time comes from an injected clock, and every
 * deadline lives in one TimerQueue that `tick(nowMs)` advances.
 *
 * States and transitions (as Kafka's):
 *
 *   Empty ──join──> PreparingRebalance ──all known members joined, or rebalance timeout──> CompletingRebalance
 *     ^                 ^   │ (no member left: next generation, back to Empty)               │ leader's SyncGroup
 *     │                 │   v                                                                v
 *     │                 └── a member joins, leaves, expires, or changes its protocols ─── Stable
 *     └── last member leaves/expires (generation bumped by the rebalance that finds nobody)
 *   Empty ──deleteGroup──> Dead (removed; a Dead group has no members)
 *
 * - Empty: no members (offsets may still exist). The first join starts a rebalance that waits
 *   `group.initial.rebalance.delay.ms`, extended by the same delay while new members keep arriving,
 *   never beyond the rebalance timeout (Kafka's InitialDelayedJoin).
 * - PreparingRebalance: waits until every known member has sent JoinGroup (and no member id handed
 *   out with MEMBER_ID_REQUIRED is still pending), or until the largest rebalance timeout of the
 *   members. Dynamic members that did not rejoin are removed; then the generation is bumped, a
 *   protocol every member supports is chosen by vote, a leader is kept or elected among the joined
 *   members, and every waiting JoinGroup is answered (the leader gets the member list).
 * - CompletingRebalance: waits for the leader's SyncGroup with the assignment; followers' SyncGroups
 *   wait with it. Members that have not sent SyncGroup within the rebalance timeout are removed and
 *   a new rebalance starts (Kafka's pending-sync timeout).
 * - Stable: SyncGroup answers with the stored assignment, heartbeats keep members alive.
 * - Dead: the group was deleted; requests get COORDINATOR_NOT_AVAILABLE.
 *
 * Fencing: a request naming an unknown member id gets UNKNOWN_MEMBER_ID, a generation other than
 * the current one ILLEGAL_GENERATION, a heartbeat during PreparingRebalance REBALANCE_IN_PROGRESS
 * (the member must rejoin), a member id that no longer owns its `group.instance.id`
 * FENCED_INSTANCE_ID.
 *
 * Static members (`group.instance.id`): a JoinGroup with an empty member id and a known instance id
 * replaces the old member id with a new one and, in Stable, answers at once with the current
 * generation so the member gets its old assignment from SyncGroup without a rebalance. Kafka
 * rebalances only when the selected protocol would change; we also rebalance when the member's
 * protocols (names or metadata, i.e. its subscription) changed, so a changed subscription is
 * always honoured. Static members are not dropped when they miss a rebalance, only when their
 * session expires or they leave.
 */
import { randomUUID } from "node:crypto";
import { ErrorCode } from "@samsa/protocol";
import { TimerQueue } from "./timer-queue.js";

export type GroupState = "Empty" | "PreparingRebalance" | "CompletingRebalance" | "Stable" | "Dead";

/** JoinGroupRequest.UNKNOWN_MEMBER_ID: the member id a new member sends. */
export const UNKNOWN_MEMBER_ID = "";
/** A member that joined a brand-new group may wait this long for the first rebalance (Kafka's NewMemberJoinTimeoutMs). */
export const NEW_MEMBER_JOIN_TIMEOUT_MS = 5 * 60 * 1000;
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
}

export const DEFAULT_GROUP_COORDINATOR_CONFIG: GroupCoordinatorConfig = {
  initialRebalanceDelayMs: 3000,
  minSessionTimeoutMs: 6000,
  maxSessionTimeoutMs: 1_800_000,
  maxSize: 2_147_483_647,
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
  members: MemberDescription[];
  pendingMemberIds: string[];
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
  /** Joined during the first rebalance of the group: expires after NEW_MEMBER_JOIN_TIMEOUT_MS if it never completes. */
  isNew: boolean;
}

interface Group {
  groupId: string;
  state: GroupState;
  generationId: number;
  protocolType: string | null;
  protocolName: string | null;
  leaderId: string | null;
  members: Map<string, Member>;
  /** Member ids handed out with MEMBER_ID_REQUIRED that have not joined yet. */
  pendingMembers: Set<string>;
  /** group.instance.id -> member id */
  staticMembers: Map<string, string>;
  /** Members of the current generation that have not sent SyncGroup yet. */
  pendingSyncMembers: Set<string>;
  /** Set when a member joins during the initial delay, so the delay is extended once more. */
  newMemberAdded: boolean;
  /** Remaining rebalance time of an initial delayed join; -1 when the join in progress is a normal one. */
  initialJoinRemainingMs: number;
}

type Timer =
  | { kind: "heartbeat"; groupId: string; memberId: string }
  | { kind: "join"; groupId: string }
  | { kind: "sync"; groupId: string; generationId: number };

export interface GroupCoordinatorOptions {
  config?: Partial<GroupCoordinatorConfig>;
  /** Milliseconds; requests read it, timers fire only from tick(). */
  clock: () => number;
  /** The suffix of new member ids (Kafka: clientId-UUID); injected for deterministic tests. */
  newMemberIdSuffix?: () => string;
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
  /** While tick() fires a timer, "now" is that timer's deadline, so firing order is deterministic. */
  private firingAtMs: number | null = null;
  /** Responses are delivered after the state change that produced them is complete, so a callback may re-enter. */
  private readonly deliveries: (() => void)[] = [];
  private delivering = false;

  constructor(options: GroupCoordinatorOptions) {
    this.config = { ...DEFAULT_GROUP_COORDINATOR_CONFIG, ...options.config };
    this.clock = options.clock;
    this.newMemberIdSuffix = options.newMemberIdSuffix ?? randomUUID;
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

  /** DeleteGroups: only an Empty group can be deleted (its offsets are the caller's business). */
  deleteGroup(groupId: string): number {
    return this.run(() => {
      const group = this.groups.get(groupId);
      if (group === undefined || group.state === "Dead") return ErrorCode.GROUP_ID_NOT_FOUND;
      if (group.state !== "Empty") return ErrorCode.NON_EMPTY_GROUP;
      this.transition(group, "Dead");
      for (const memberId of group.pendingMembers) this.timers.cancel(timerKey.heartbeat(groupId, memberId));
      this.timers.cancel(timerKey.join(groupId));
      this.timers.cancel(timerKey.sync(groupId));
      this.groups.delete(groupId);
      return ErrorCode.NONE;
    });
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

  /** Live timers (for tests and metrics): one per member plus at most two per group. */
  get timerCount(): number {
    return this.timers.size;
  }

  // ---------------------------------------------------------------- JoinGroup

  private doJoinGroup(req: JoinGroupRequest, cb: JoinCallback): void {
    const fail = (errorCode: number, memberId = req.memberId) => this.deliver(() => cb(joinError(errorCode, memberId)));
    if (
      req.sessionTimeoutMs < this.config.minSessionTimeoutMs ||
      req.sessionTimeoutMs > this.config.maxSessionTimeoutMs
    ) {
      fail(ErrorCode.INVALID_SESSION_TIMEOUT);
      return;
    }
    let group = this.groups.get(req.groupId);
    if (group === undefined) {
      if (req.memberId !== UNKNOWN_MEMBER_ID) {
        fail(ErrorCode.UNKNOWN_MEMBER_ID);
        return;
      }
      group = newGroup(req.groupId);
      this.groups.set(req.groupId, group);
    }
    // A static member taking over its own instance id replaces a member, it does not add one.
    const replacesStatic = req.groupInstanceId !== null && group.staticMembers.has(req.groupInstanceId);
    if (!replacesStatic && !this.acceptJoiningMember(group, req.memberId)) {
      // A member that lost its place to newer joiners is out of the group (Kafka removes it too).
      const member = group.members.get(req.memberId);
      if (member !== undefined) this.removeMemberAndUpdateGroup(group, member);
      fail(ErrorCode.GROUP_MAX_SIZE_REACHED, UNKNOWN_MEMBER_ID);
      return;
    }
    if (req.memberId === UNKNOWN_MEMBER_ID) this.doNewMemberJoin(group, req, cb, fail);
    else this.doCurrentMemberJoin(group, req, cb, fail);
  }

  /** Kafka's acceptJoiningMember: members already counted may always rejoin. */
  private acceptJoiningMember(group: Group, memberId: string): boolean {
    const max = this.config.maxSize;
    switch (group.state) {
      case "Empty":
      case "Dead":
        return true;
      case "PreparingRebalance": {
        // The next generation holds the members that rejoin, the pending ones, and static members
        // (kept even when they do not rejoin); dynamic members that have not rejoined compete with
        // new members for the remaining places, as in Kafka.
        const member = group.members.get(memberId);
        if (member !== undefined && (member.awaitingJoin !== null || member.groupInstanceId !== null)) return true;
        if (group.pendingMembers.has(memberId)) return true;
        return numNextGeneration(group) < max;
      }
      default:
        return (
          group.members.has(memberId) ||
          group.pendingMembers.has(memberId) ||
          group.members.size + group.pendingMembers.size < max
        );
    }
  }

  private doNewMemberJoin(
    group: Group,
    req: JoinGroupRequest,
    cb: JoinCallback,
    fail: (code: number, id?: string) => void,
  ) {
    if (group.state === "Dead") return fail(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    if (!supportsProtocols(group, req.protocolType, req.protocols)) return fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    const newMemberId = `${req.clientId}-${this.newMemberIdSuffix()}`;
    if (req.groupInstanceId !== null) {
      const oldMemberId = group.staticMembers.get(req.groupInstanceId);
      if (oldMemberId !== undefined) this.updateStaticMemberAndRebalance(group, oldMemberId, newMemberId, req, cb);
      else this.addMemberAndRebalance(group, newMemberId, req, cb);
    } else if (req.requireKnownMemberId) {
      // The member id is only handed out; the member counts from its next JoinGroup, and a client
      // that never comes back is forgotten after its session timeout.
      group.pendingMembers.add(newMemberId);
      this.scheduleHeartbeat(group, newMemberId, req.sessionTimeoutMs);
      fail(ErrorCode.MEMBER_ID_REQUIRED, newMemberId);
    } else {
      this.addMemberAndRebalance(group, newMemberId, req, cb);
    }
  }

  private doCurrentMemberJoin(group: Group, req: JoinGroupRequest, cb: JoinCallback, fail: (code: number) => void) {
    if (group.state === "Dead") return fail(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    if (!supportsProtocols(group, req.protocolType, req.protocols)) return fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    if (group.pendingMembers.has(req.memberId)) {
      // A static member never receives MEMBER_ID_REQUIRED, so it cannot be pending.
      if (req.groupInstanceId !== null) return fail(ErrorCode.FENCED_INSTANCE_ID);
      return this.addMemberAndRebalance(group, req.memberId, req, cb);
    }
    const error = validateCurrentMember(group, req.memberId, req.groupInstanceId);
    if (error !== ErrorCode.NONE) return fail(error);
    const member = group.members.get(req.memberId)!;
    switch (group.state) {
      case "PreparingRebalance":
        this.updateMemberAndRebalance(group, member, req, cb);
        return;
      case "CompletingRebalance":
        if (sameProtocols(member.protocols, req.protocols)) {
          // The join response was lost; answer it again with the current generation.
          this.deliver(() => cb(this.joinResult(group, member.memberId, group.leaderId === member.memberId)));
        } else {
          this.updateMemberAndRebalance(group, member, req, cb);
        }
        return;
      case "Stable":
        if (group.leaderId === member.memberId || !sameProtocols(member.protocols, req.protocols)) {
          // The leader rejoining means it wants a new assignment (e.g. its metadata changed).
          this.updateMemberAndRebalance(group, member, req, cb);
        } else {
          this.scheduleHeartbeat(group, member.memberId, member.sessionTimeoutMs);
          this.deliver(() => cb(this.joinResult(group, member.memberId, false)));
        }
        return;
      default:
        fail(ErrorCode.UNKNOWN_MEMBER_ID);
    }
  }

  private addMemberAndRebalance(group: Group, memberId: string, req: JoinGroupRequest, cb: JoinCallback): void {
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
      isNew: group.state === "PreparingRebalance" && group.generationId === 0,
    };
    if (group.members.size === 0) group.protocolType = req.protocolType;
    group.members.set(memberId, member);
    if (member.groupInstanceId !== null) group.staticMembers.set(member.groupInstanceId, memberId);
    if (group.leaderId === null) group.leaderId = memberId;
    group.pendingMembers.delete(memberId);
    // Kafka extends the initial delay only for the group's first generation.
    if (group.state === "PreparingRebalance" && group.generationId === 0) group.newMemberAdded = true;
    this.scheduleHeartbeat(group, memberId, member.isNew ? NEW_MEMBER_JOIN_TIMEOUT_MS : member.sessionTimeoutMs);
    this.maybePrepareRebalance(group);
    this.maybeCompleteJoin(group);
  }

  private updateMemberAndRebalance(group: Group, member: Member, req: JoinGroupRequest, cb: JoinCallback): void {
    this.updateMember(member, req, cb);
    this.maybePrepareRebalance(group);
    this.maybeCompleteJoin(group);
  }

  private updateMember(member: Member, req: JoinGroupRequest, cb: JoinCallback): void {
    const previous = member.awaitingJoin;
    if (previous !== null) {
      // A second JoinGroup while the first still waits: the client gave up on the first one.
      const id = member.memberId;
      this.deliver(() => previous(joinError(ErrorCode.REBALANCE_IN_PROGRESS, id)));
    }
    member.protocols = req.protocols;
    member.sessionTimeoutMs = req.sessionTimeoutMs;
    member.rebalanceTimeoutMs = req.rebalanceTimeoutMs;
    member.clientId = req.clientId;
    member.clientHost = req.clientHost;
    member.awaitingJoin = cb;
  }

  private updateStaticMemberAndRebalance(
    group: Group,
    oldMemberId: string,
    newMemberId: string,
    req: JoinGroupRequest,
    cb: JoinCallback,
  ): void {
    const previousLeader = group.leaderId;
    const member = this.replaceStaticMember(group, oldMemberId, newMemberId);
    const protocolsChanged = !sameProtocols(member.protocols, req.protocols);
    this.updateMember(member, req, cb);
    this.scheduleHeartbeat(group, newMemberId, member.sessionTimeoutMs);
    switch (group.state) {
      case "Stable":
        if (protocolsChanged || selectProtocol(group) !== group.protocolName) {
          this.maybePrepareRebalance(group);
        } else {
          member.awaitingJoin = null;
          const isLeader = group.leaderId === newMemberId;
          const result = this.joinResult(group, newMemberId, isLeader && req.supportSkippingAssignment);
          if (isLeader && req.supportSkippingAssignment) result.skipAssignment = true;
          // An older client that is told it leads would compute a new assignment nobody asked for:
          // like Kafka, name the previous leader id so it acts as a follower and syncs its assignment.
          else result.leader = previousLeader ?? "";
          this.deliver(() => cb(result));
        }
        return;
      case "CompletingRebalance":
        member.awaitingJoin = null;
        this.deliver(() => cb(this.joinResult(group, newMemberId, group.leaderId === newMemberId)));
        return;
      case "PreparingRebalance":
        this.maybeCompleteJoin(group);
        return;
      default:
        throw new Error(`static member ${req.groupInstanceId} found in a ${group.state} group ${group.groupId}`);
    }
  }

  /** The old member's waiting requests are fenced; its timers die with its id. */
  private replaceStaticMember(group: Group, oldMemberId: string, newMemberId: string): Member {
    const member = group.members.get(oldMemberId)!;
    const join = member.awaitingJoin;
    if (join !== null) this.deliver(() => join(joinError(ErrorCode.FENCED_INSTANCE_ID, oldMemberId)));
    const sync = member.awaitingSync;
    if (sync !== null) this.deliver(() => sync(syncError(ErrorCode.FENCED_INSTANCE_ID)));
    member.awaitingJoin = null;
    member.awaitingSync = null;
    this.timers.cancel(timerKey.heartbeat(group.groupId, oldMemberId));
    group.members.delete(oldMemberId);
    member.memberId = newMemberId;
    group.members.set(newMemberId, member);
    group.staticMembers.set(member.groupInstanceId!, newMemberId);
    if (group.leaderId === oldMemberId) group.leaderId = newMemberId;
    if (group.pendingSyncMembers.delete(oldMemberId)) group.pendingSyncMembers.add(newMemberId);
    return member;
  }

  // ---------------------------------------------------------------- rebalance

  private maybePrepareRebalance(group: Group): void {
    if (group.state === "Stable" || group.state === "CompletingRebalance" || group.state === "Empty") {
      this.prepareRebalance(group);
    }
  }

  private prepareRebalance(group: Group): void {
    if (group.state === "CompletingRebalance") {
      // The assignment being computed is for a generation that will never be Stable.
      for (const m of group.members.values()) {
        m.assignment = EMPTY;
        const sync = m.awaitingSync;
        if (sync !== null) {
          m.awaitingSync = null;
          this.deliver(() => sync(syncError(ErrorCode.REBALANCE_IN_PROGRESS)));
        }
      }
    }
    group.pendingSyncMembers.clear();
    this.timers.cancel(timerKey.sync(group.groupId));
    const now = this.now();
    const rebalanceTimeoutMs = maxRebalanceTimeoutMs(group);
    if (group.state === "Empty" && this.config.initialRebalanceDelayMs > 0) {
      const delayMs = this.config.initialRebalanceDelayMs;
      group.newMemberAdded = false;
      group.initialJoinRemainingMs = Math.max(rebalanceTimeoutMs - delayMs, 0);
      this.timers.schedule(timerKey.join(group.groupId), now + delayMs, { kind: "join", groupId: group.groupId });
    } else {
      group.initialJoinRemainingMs = -1;
      this.timers.schedule(timerKey.join(group.groupId), now + rebalanceTimeoutMs, {
        kind: "join",
        groupId: group.groupId,
      });
    }
    this.transition(group, "PreparingRebalance");
  }

  /** Kafka's DelayedJoin.tryComplete; the initial delayed join completes only on its timer. */
  private maybeCompleteJoin(group: Group): void {
    if (group.state !== "PreparingRebalance" || group.initialJoinRemainingMs >= 0) return;
    if (group.pendingMembers.size > 0) return;
    for (const m of group.members.values()) if (m.awaitingJoin === null) return;
    this.timers.cancel(timerKey.join(group.groupId));
    this.onCompleteJoin(group);
  }

  private onJoinTimer(group: Group): void {
    if (group.state !== "PreparingRebalance") return;
    if (group.initialJoinRemainingMs >= 0 && group.newMemberAdded && group.initialJoinRemainingMs > 0) {
      // New members keep arriving: wait once more, never past the rebalance timeout.
      const delayMs = Math.min(this.config.initialRebalanceDelayMs, group.initialJoinRemainingMs);
      group.initialJoinRemainingMs = Math.max(group.initialJoinRemainingMs - delayMs, 0);
      group.newMemberAdded = false;
      this.timers.schedule(timerKey.join(group.groupId), this.now() + delayMs, {
        kind: "join",
        groupId: group.groupId,
      });
      return;
    }
    this.onCompleteJoin(group);
  }

  private onCompleteJoin(group: Group): void {
    group.initialJoinRemainingMs = -1;
    for (const m of [...group.members.values()]) {
      if (m.awaitingJoin === null && m.groupInstanceId === null) this.removeMember(group, m);
    }
    if (!electJoinedLeader(group) && group.members.size > 0) {
      // Only static members that have not rejoined are left: wait for them or for their sessions to end.
      this.timers.schedule(timerKey.join(group.groupId), this.now() + maxRebalanceTimeoutMs(group), {
        kind: "join",
        groupId: group.groupId,
      });
      return;
    }
    group.generationId++;
    if (group.members.size === 0) {
      group.protocolName = null;
      group.protocolType = null;
      group.leaderId = null;
      this.transition(group, "Empty");
      return;
    }
    group.protocolName = selectProtocol(group);
    this.transition(group, "CompletingRebalance");
    for (const m of group.members.values()) {
      group.pendingSyncMembers.add(m.memberId);
      const join = m.awaitingJoin;
      m.awaitingJoin = null;
      m.isNew = false;
      this.scheduleHeartbeat(group, m.memberId, m.sessionTimeoutMs);
      if (join !== null) {
        const result = this.joinResult(group, m.memberId, group.leaderId === m.memberId);
        this.deliver(() => join(result));
      }
    }
    this.timers.schedule(timerKey.sync(group.groupId), this.now() + maxRebalanceTimeoutMs(group), {
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

  private doSyncGroup(req: SyncGroupRequest, cb: SyncCallback): void {
    const fail = (errorCode: number) => this.deliver(() => cb(syncError(errorCode)));
    const group = this.groups.get(req.groupId);
    if (group === undefined) {
      fail(ErrorCode.UNKNOWN_MEMBER_ID);
      return;
    }
    if (group.state === "Dead") {
      fail(ErrorCode.COORDINATOR_NOT_AVAILABLE);
      return;
    }
    const error = validateCurrentMember(group, req.memberId, req.groupInstanceId);
    if (error !== ErrorCode.NONE) {
      fail(error);
      return;
    }
    if (req.generationId !== group.generationId) {
      fail(ErrorCode.ILLEGAL_GENERATION);
      return;
    }
    if (req.protocolType !== null && req.protocolType !== group.protocolType) {
      fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
      return;
    }
    if (req.protocolName !== null && req.protocolName !== group.protocolName) {
      fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
      return;
    }
    const member = group.members.get(req.memberId)!;
    switch (group.state) {
      case "Empty": {
        fail(ErrorCode.UNKNOWN_MEMBER_ID);
        return;
      }
      case "PreparingRebalance": {
        fail(ErrorCode.REBALANCE_IN_PROGRESS);
        return;
      }
      case "CompletingRebalance": {
        const previous = member.awaitingSync;
        if (previous !== null) this.deliver(() => previous(syncError(ErrorCode.REBALANCE_IN_PROGRESS)));
        member.awaitingSync = cb;
        this.markSynced(group, member);
        if (group.leaderId === member.memberId) {
          const assignments = new Map(req.assignments.map((a) => [a.memberId, a.assignment]));
          for (const m of group.members.values()) m.assignment = assignments.get(m.memberId) ?? EMPTY;
          this.transition(group, "Stable");
          for (const m of group.members.values()) {
            const sync = m.awaitingSync;
            if (sync === null) continue;
            m.awaitingSync = null;
            const result = { ...syncError(ErrorCode.NONE), ...protocolOf(group), assignment: m.assignment };
            this.deliver(() => sync(result));
          }
        }
        return;
      }
      case "Stable": {
        this.markSynced(group, member);
        const result = { ...syncError(ErrorCode.NONE), ...protocolOf(group), assignment: member.assignment };
        this.deliver(() => cb(result));
        return;
      }
    }
  }

  private markSynced(group: Group, member: Member): void {
    this.scheduleHeartbeat(group, member.memberId, member.sessionTimeoutMs);
    if (group.pendingSyncMembers.delete(member.memberId) && group.pendingSyncMembers.size === 0) {
      this.timers.cancel(timerKey.sync(group.groupId));
    }
  }

  // ---------------------------------------------------------------- Heartbeat, LeaveGroup

  private doHeartbeat(req: HeartbeatRequest): number {
    const group = this.groups.get(req.groupId);
    if (group === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
    if (group.state === "Dead") return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    const error = validateCurrentMember(group, req.memberId, req.groupInstanceId);
    if (error !== ErrorCode.NONE) return error;
    if (req.generationId !== group.generationId) return ErrorCode.ILLEGAL_GENERATION;
    const member = group.members.get(req.memberId)!;
    switch (group.state) {
      case "Empty":
        return ErrorCode.UNKNOWN_MEMBER_ID;
      case "PreparingRebalance":
        this.scheduleHeartbeat(group, member.memberId, member.sessionTimeoutMs);
        return ErrorCode.REBALANCE_IN_PROGRESS;
      default:
        // Clients may heartbeat between their JoinGroup and SyncGroup responses: a normal heartbeat.
        this.scheduleHeartbeat(group, member.memberId, member.sessionTimeoutMs);
        return ErrorCode.NONE;
    }
  }

  private doLeaveGroup(req: LeaveGroupRequest): LeaveGroupResult {
    const group = this.groups.get(req.groupId);
    if (group === undefined) {
      return {
        errorCode: ErrorCode.NONE,
        members: req.members.map((m) => ({ ...m, errorCode: ErrorCode.UNKNOWN_MEMBER_ID })),
      };
    }
    if (group.state === "Dead") return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, members: [] };
    const members = req.members.map((identity) => ({ ...identity, errorCode: this.leaveOne(group, identity) }));
    return { errorCode: ErrorCode.NONE, members };
  }

  private leaveOne(group: Group, identity: { memberId: string; groupInstanceId: string | null }): number {
    if (identity.groupInstanceId !== null) {
      const memberId = group.staticMembers.get(identity.groupInstanceId);
      if (memberId === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
      if (identity.memberId !== UNKNOWN_MEMBER_ID && identity.memberId !== memberId)
        return ErrorCode.FENCED_INSTANCE_ID;
      this.removeMemberAndUpdateGroup(group, group.members.get(memberId)!);
      return ErrorCode.NONE;
    }
    if (group.pendingMembers.delete(identity.memberId)) {
      this.timers.cancel(timerKey.heartbeat(group.groupId, identity.memberId));
      this.maybeCompleteJoin(group);
      return ErrorCode.NONE;
    }
    const member = group.members.get(identity.memberId);
    if (member === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
    this.removeMemberAndUpdateGroup(group, member);
    return ErrorCode.NONE;
  }

  // ---------------------------------------------------------------- members and timers

  private removeMemberAndUpdateGroup(group: Group, member: Member): void {
    const join = member.awaitingJoin;
    if (join !== null) {
      const id = member.memberId;
      this.deliver(() => join(joinError(ErrorCode.UNKNOWN_MEMBER_ID, id)));
      member.awaitingJoin = null;
    }
    this.removeMember(group, member);
    switch (group.state) {
      case "Stable":
      case "CompletingRebalance":
        this.prepareRebalance(group);
        break;
      case "PreparingRebalance":
        this.maybeCompleteJoin(group);
        break;
    }
  }

  private removeMember(group: Group, member: Member): void {
    const sync = member.awaitingSync;
    if (sync !== null) this.deliver(() => sync(syncError(ErrorCode.UNKNOWN_MEMBER_ID)));
    member.awaitingSync = null;
    group.members.delete(member.memberId);
    if (member.groupInstanceId !== null && group.staticMembers.get(member.groupInstanceId) === member.memberId) {
      group.staticMembers.delete(member.groupInstanceId);
    }
    group.pendingSyncMembers.delete(member.memberId);
    this.timers.cancel(timerKey.heartbeat(group.groupId, member.memberId));
    if (group.leaderId === member.memberId) {
      // Kafka takes any remaining member; one that already rejoined is the better leader.
      let next: string | null = null;
      for (const m of group.members.values()) {
        if (next === null || (m.awaitingJoin !== null && group.members.get(next)!.awaitingJoin === null)) {
          next = m.memberId;
        }
      }
      group.leaderId = next;
    }
  }

  private scheduleHeartbeat(group: Group, memberId: string, timeoutMs: number): void {
    this.timers.schedule(timerKey.heartbeat(group.groupId, memberId), this.now() + timeoutMs, {
      kind: "heartbeat",
      groupId: group.groupId,
      memberId,
    });
  }

  private onTimer(timer: Timer): void {
    const group = this.groups.get(timer.groupId);
    if (group === undefined) return;
    switch (timer.kind) {
      case "heartbeat": {
        this.onHeartbeatExpired(group, timer.memberId);
        return;
      }
      case "join": {
        this.onJoinTimer(group);
        return;
      }
      case "sync": {
        this.onSyncExpired(group, timer.generationId);
        return;
      }
    }
  }

  private onHeartbeatExpired(group: Group, memberId: string): void {
    if (group.pendingMembers.delete(memberId)) {
      this.maybeCompleteJoin(group);
      return;
    }
    const member = group.members.get(memberId);
    if (member === undefined) return;
    // A member waiting in a join is alive until the rebalance ends (unless it is a new member that
    // waited NEW_MEMBER_JOIN_TIMEOUT_MS); one waiting in a sync is covered by the pending-sync timer.
    if ((member.awaitingJoin !== null && !member.isNew) || member.awaitingSync !== null) {
      this.scheduleHeartbeat(group, memberId, member.sessionTimeoutMs);
      return;
    }
    this.removeMemberAndUpdateGroup(group, member);
  }

  private onSyncExpired(group: Group, generationId: number): void {
    if (generationId !== group.generationId) return;
    if (group.state !== "CompletingRebalance" && group.state !== "Stable") return;
    if (group.pendingSyncMembers.size === 0) return;
    for (const memberId of [...group.pendingSyncMembers]) {
      const member = group.members.get(memberId);
      if (member !== undefined) this.removeMember(group, member);
    }
    group.pendingSyncMembers.clear();
    this.prepareRebalance(group);
  }

  private transition(group: Group, to: GroupState): void {
    const allowed = VALID_PREVIOUS_STATES[to];
    if (!allowed.includes(group.state)) {
      throw new Error(`group ${group.groupId}: illegal transition ${group.state} -> ${to}`);
    }
    group.state = to;
  }

  private now(): number {
    return this.firingAtMs ?? this.clock();
  }

  private deliver(fn: () => void): void {
    this.deliveries.push(fn);
  }

  /** Runs one state change, then delivers the responses it produced (callbacks may re-enter). */
  private run<R>(fn: () => R): R {
    const result = fn();
    if (!this.delivering) {
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

function newGroup(groupId: string): Group {
  return {
    groupId,
    state: "Empty",
    generationId: 0,
    protocolType: null,
    protocolName: null,
    leaderId: null,
    members: new Map(),
    pendingMembers: new Set(),
    staticMembers: new Map(),
    pendingSyncMembers: new Set(),
    newMemberAdded: false,
    initialJoinRemainingMs: -1,
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

function validateCurrentMember(group: Group, memberId: string, groupInstanceId: string | null): number {
  if (groupInstanceId !== null) {
    const owner = group.staticMembers.get(groupInstanceId);
    if (owner !== undefined && owner !== memberId) return ErrorCode.FENCED_INSTANCE_ID;
  }
  return group.members.has(memberId) ? ErrorCode.NONE : ErrorCode.UNKNOWN_MEMBER_ID;
}

/** Members sure to be in the next generation: those that rejoined, static ones, and pending member ids. */
function numNextGeneration(group: Group): number {
  let n = group.pendingMembers.size;
  for (const m of group.members.values()) if (m.awaitingJoin !== null || m.groupInstanceId !== null) n++;
  return n;
}

function maxRebalanceTimeoutMs(group: Group): number {
  let max = 0;
  for (const m of group.members.values()) max = Math.max(max, m.rebalanceTimeoutMs);
  return max;
}

/** The new member must speak the group's protocol type and support a protocol all members support. */
function supportsProtocols(group: Group, protocolType: string, protocols: GroupProtocol[]): boolean {
  if (protocols.length === 0 || protocolType === "") return false;
  if (group.members.size === 0) return true;
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
