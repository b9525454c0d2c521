/**
 * The interface the broker glue uses: `store` (synchronous, asynchronous, failing, late),
 * loadGroup, the offset validations, ListGroups, nextDeadlineMs and shutdown.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ConsumerProtocolSubscription, ErrorCode, Writer } from "@samsa/protocol";
import type { GroupSnapshot, JoinGroupResult } from "./group-coordinator.js";
import { bytes, Harness, ManualStore, text } from "./test-support.js";

function ok<T extends { errorCode: number }>(holder: { result?: T }): T {
  assert.ok(holder.result, "no response yet");
  assert.equal(holder.result.errorCode, ErrorCode.NONE, `error ${holder.result.errorCode}`);
  return holder.result;
}

function subscription(...topics: string[]): Uint8Array {
  const w = new Writer();
  w.writeInt16(1);
  ConsumerProtocolSubscription.encode(w, { topics, userData: null, ownedPartitions: [] }, 1);
  return w.toBuffer();
}

/** n members (instance ids given for static ones) through the initial rebalance: their join results. */
function joinAll(h: Harness, instanceIds: (string | null)[]): JoinGroupResult[] {
  const joins = instanceIds.map((groupInstanceId) => h.join({ groupInstanceId }));
  h.advanceUntil(() => joins.every((j) => j.result !== undefined));
  return joins.map(ok);
}

/** Syncs everyone; with a ManualStore, completes the leader's write with NONE. */
function syncAll(h: Harness, results: JoinGroupResult[], store?: ManualStore): void {
  const leader = results.find((r) => r.leader === r.memberId)!;
  const assignments = leader.members.map((m) => ({ memberId: m.memberId, assignment: bytes(`a/${m.memberId}`) }));
  const syncs = results.map((r) =>
    h.sync({
      memberId: r.memberId,
      generationId: r.generationId,
      groupInstanceId: leader.members.find((m) => m.memberId === r.memberId)?.groupInstanceId ?? null,
      assignments: r === leader ? assignments : [],
    }),
  );
  if (store) store.complete();
  for (const s of syncs) ok(s);
}

test("the leader's SyncGroup is stored first: Stable and the waiting syncs answered only after done(NONE)", () => {
  const store = new ManualStore();
  const h = new Harness({}, store.store);
  const [a, b, c] = joinAll(h, [null, null, null]);
  h.advance(100);
  const fb = h.sync({ memberId: b.memberId, generationId: 1 });
  const fa = h.sync({
    memberId: a.memberId,
    generationId: 1,
    assignments: [
      { memberId: a.memberId, assignment: bytes("A") },
      { memberId: b.memberId, assignment: bytes("B") },
    ],
  });
  assert.equal(store.writes.length, 1);
  assert.equal(fa.result, undefined);
  assert.equal(fb.result, undefined);
  assert.equal(h.state(), "CompletingRebalance");
  const snapshot = store.writes[0].snapshot;
  assert.equal(snapshot.generationId, 1);
  assert.equal(snapshot.protocolType, "consumer");
  assert.equal(snapshot.protocolName, "range");
  assert.equal(snapshot.leaderId, a.memberId);
  assert.deepEqual(
    snapshot.members.map((m) => [m.memberId, text(m.subscription), text(m.assignment), m.sessionTimeoutMs]),
    [
      [a.memberId, "topic-a", "A", 10_000],
      [b.memberId, "topic-a", "B", 10_000],
      [c.memberId, "topic-a", "", 10_000], // missing from the leader's assignment: empty, as Kafka
    ],
  );
  store.complete(ErrorCode.NONE);
  assert.equal(h.state(), "Stable");
  assert.equal(text(ok(fa).assignment), "A");
  assert.equal(text(ok(fb).assignment), "B");
  assert.equal(ok(fb).protocolName, "range");
  assert.equal(text(ok(h.sync({ memberId: c.memberId, generationId: 1 })).assignment), "");
});

test("a failed store answers the waiting syncs with Kafka's mapped error, resets assignments and rebalances", () => {
  const store = new ManualStore();
  const h = new Harness({}, store.store);
  const [a, b] = joinAll(h, [null, null]);
  const fb = h.sync({ memberId: b.memberId, generationId: 1 });
  const fa = h.sync({
    memberId: a.memberId,
    generationId: 1,
    assignments: [{ memberId: b.memberId, assignment: bytes("B") }],
  });
  store.complete(ErrorCode.NOT_LEADER_OR_FOLLOWER);
  assert.equal(fa.result?.errorCode, ErrorCode.NOT_COORDINATOR);
  assert.equal(fb.result?.errorCode, ErrorCode.NOT_COORDINATOR);
  assert.equal(fb.result?.protocolName, null);
  assert.equal(h.state(), "PreparingRebalance");
  assert.ok(h.coordinator.describeGroup("g")!.members.every((m) => m.assignment.length === 0));
  const ra = h.join({ memberId: a.memberId });
  const rb = h.join({ memberId: b.memberId });
  assert.equal(ok(ra).generationId, 2);
  syncAll(h, [ok(ra), ok(rb)], store);
  assert.equal(h.state(), "Stable");
});

test("a store completing after the group moved on (new member, new generation, deletion, shutdown) changes nothing", () => {
  const store = new ManualStore();
  const h = new Harness({}, store.store);
  const [a, b] = joinAll(h, [null, null]);
  const fa = h.sync({ memberId: a.memberId, generationId: 1, assignments: [] });
  const fb = h.sync({ memberId: b.memberId, generationId: 1 });
  const newcomer = h.join(); // rebalance: the waiting syncs are told to rejoin
  assert.equal(fa.result?.errorCode, ErrorCode.REBALANCE_IN_PROGRESS);
  assert.equal(fb.result?.errorCode, ErrorCode.REBALANCE_IN_PROGRESS);
  store.complete(ErrorCode.NONE); // late success for generation 1
  assert.equal(h.state(), "PreparingRebalance");
  const ra = h.join({ memberId: a.memberId });
  const rb = h.join({ memberId: b.memberId });
  const results = [ok(ra), ok(rb), ok(newcomer)];
  assert.ok(results.every((r) => r.generationId === 2));
  // Generation 2's leader syncs; a second (retried) leader sync writes again; the first write fails late.
  const leader = results.find((r) => r.leader === r.memberId)!;
  const first = h.sync({ memberId: leader.memberId, generationId: 2, assignments: [] });
  const retry = h.sync({ memberId: leader.memberId, generationId: 2, assignments: [] });
  assert.equal(first.result?.errorCode, ErrorCode.REBALANCE_IN_PROGRESS, "the superseded request is answered");
  assert.equal(store.writes.length, 2);
  const second = store.writes[1];
  store.complete(ErrorCode.NONE); // first write: Stable
  assert.equal(h.state(), "Stable");
  ok(retry);
  second.done(ErrorCode.REQUEST_TIMED_OUT); // stale: the group is Stable already
  store.writes.shift();
  assert.equal(h.state(), "Stable");
  second.done(ErrorCode.NONE); // a second call of done is ignored
  // Everyone leaves: the rebalance finds nobody and the empty group is stored (failure is only logged).
  h.leave(...results);
  assert.equal(h.state(), "Empty");
  const empty = store.complete(ErrorCode.NOT_ENOUGH_REPLICAS);
  assert.deepEqual(
    {
      generationId: empty.generationId,
      members: empty.members,
      protocolType: empty.protocolType,
      leaderId: empty.leaderId,
    },
    { generationId: 3, members: [], protocolType: "consumer", leaderId: null },
  );
  assert.equal(h.state(), "Empty");
  assert.equal(h.coordinator.describeGroup("g")!.protocolType, "consumer", "an Empty group keeps its protocol type");
  // A write still in flight when the coordinator shuts down completes harmlessly.
  const [x] = joinAll(h, [null]);
  h.sync({ memberId: x.memberId, generationId: x.generationId, assignments: [] });
  h.coordinator.shutdown();
  store.complete(ErrorCode.NONE);
  assert.equal(h.coordinator.describeGroup("g"), undefined);
});

test("a static member restarting in Stable is stored under its new id; a failed write reverts to the old id", () => {
  const store = new ManualStore();
  const h = new Harness({}, store.store);
  const [a, b] = joinAll(h, ["A", "B"]);
  syncAll(h, [a, b], store);
  // Success: answered after the write, no rebalance; the old id is fenced.
  const back = h.join({ groupInstanceId: "A", clientId: "a2" });
  assert.equal(back.result, undefined);
  const written = store.writes[0].snapshot;
  assert.equal(written.generationId, 1);
  assert.ok(written.members.some((m) => m.groupInstanceId === "A" && m.memberId === "A-3"));
  assert.equal(written.leaderId, "A-3", "the replaced leader's new id leads");
  assert.equal(text(written.members.find((m) => m.groupInstanceId === "A")!.assignment), `a/${a.memberId}`);
  store.complete();
  const r = ok(back);
  assert.equal(r.memberId, "A-3");
  assert.equal(r.generationId, 1);
  assert.equal(r.leader, a.memberId, "an old client is named a follower");
  assert.equal(h.heartbeat(a.memberId, 1, "A"), ErrorCode.FENCED_INSTANCE_ID);
  assert.equal(
    text(ok(h.sync({ memberId: r.memberId, generationId: 1, groupInstanceId: "A" })).assignment),
    `a/${a.memberId}`,
  );
  // Failure: the joiner gets the mapped error and no id; the previous id is the member again.
  const again = h.join({ groupInstanceId: "A", clientId: "a3" });
  assert.equal(h.heartbeat(r.memberId, 1, "A"), ErrorCode.FENCED_INSTANCE_ID, "fenced while the write is pending");
  store.complete(ErrorCode.KAFKA_STORAGE_ERROR);
  assert.equal(again.result?.errorCode, ErrorCode.NOT_COORDINATOR);
  assert.equal(again.result?.memberId, "");
  assert.equal(h.heartbeat(r.memberId, 1, "A"), ErrorCode.NONE, "reverted to the previous member id");
  assert.equal(h.state(), "Stable");
  // Late: the write completes after a rebalance started; the member waits in it with its new id.
  const late = h.join({ groupInstanceId: "A", clientId: "a4" });
  const rb = h.join({
    memberId: b.memberId,
    groupInstanceId: "B",
    protocols: [{ name: "range", metadata: bytes("x") }],
  });
  assert.equal(h.state(), "CompletingRebalance", "A (waiting) and B joined: generation 2 at once");
  assert.equal(ok(late).generationId, 2);
  store.complete(ErrorCode.NONE);
  assert.equal(ok(late).generationId, 2, "answered once, by the rebalance");
  assert.equal(ok(rb).generationId, 2);
});

test("loadGroup restores Stable members (static ones registered) with fresh sessions: heartbeats and a static restart need no rebalance", () => {
  const h = new Harness();
  h.nowMs = 50_000;
  const snapshot: GroupSnapshot = {
    groupId: "g",
    protocolType: "consumer",
    generationId: 7,
    protocolName: "range",
    leaderId: "s-1",
    currentStateTimestampMs: 40_000,
    members: [member("s-1", "S", 10_000, "sa"), member("d-1", null, 20_000, "da")],
  };
  h.coordinator.loadGroup(snapshot);
  const d = h.coordinator.describeGroup("g")!;
  assert.equal(d.state, "Stable");
  assert.equal(d.generationId, 7);
  assert.equal(d.currentStateTimestampMs, 40_000);
  assert.equal(h.coordinator.nextDeadlineMs(), 60_000, "each session from the load time");
  h.advance(9000);
  assert.equal(h.heartbeat("s-1", 7, "S"), ErrorCode.NONE);
  assert.equal(h.heartbeat("d-1", 7), ErrorCode.NONE);
  assert.equal(text(ok(h.sync({ memberId: "d-1", generationId: 7 })).assignment), "da");
  const back = ok(h.join({ groupInstanceId: "S", supportSkippingAssignment: true }));
  assert.equal(back.generationId, 7);
  assert.equal(back.skipAssignment, true, "the restarted static leader is told it leads, without assigning");
  assert.equal(back.members.length, 2);
  assert.equal(h.state(), "Stable");
  assert.equal(text(ok(h.sync({ memberId: back.memberId, generationId: 7, groupInstanceId: "S" })).assignment), "sa");
  // A member that stops heartbeating expires after its session: the group rebalances.
  for (let i = 0; i < 3; i++) {
    h.advance(5000);
    assert.equal(h.heartbeat(back.memberId, 7, "S"), ErrorCode.NONE);
  }
  h.advance(5000); // d-1's last heartbeat was 20 s ago
  assert.equal(h.state(), "PreparingRebalance");
  assert.equal(h.heartbeat("d-1", 7), ErrorCode.UNKNOWN_MEMBER_ID);
  // A later load of the same group replaces the state (waiting requests answered NOT_COORDINATOR).
  const waiting = h.join({ memberId: back.memberId, groupInstanceId: "S" });
  assert.equal(ok(waiting).generationId, 8);
  const newcomer = h.join({ clientId: "n" }); // waits in the rebalance it starts
  h.coordinator.loadGroup({ ...snapshot, members: [], leaderId: null, generationId: 9 });
  assert.equal(newcomer.result?.errorCode, ErrorCode.NOT_COORDINATOR);
  assert.equal(h.state(), "Empty");
  assert.equal(h.coordinator.timerCount, 0);
  // Loaded over group.max.size: rebalance at once, so the extra members are left out on rejoin.
  const small = new Harness({ maxSize: 1 });
  small.coordinator.loadGroup(snapshot);
  assert.equal(small.state(), "PreparingRebalance");
  const first = small.join({ memberId: "d-1" });
  assert.equal(
    small.join({ memberId: "s-1", groupInstanceId: "S" }).result?.errorCode,
    ErrorCode.GROUP_MAX_SIZE_REACHED,
  );
  assert.equal(first.result, undefined, "Kafka does not complete the join phase on that removal");
  small.advance(30_000);
  assert.equal(ok(first).generationId, 8);
  assert.deepEqual(
    small.coordinator.describeGroup("g")!.members.map((m) => m.memberId),
    ["d-1"],
  );
});

function member(memberId: string, groupInstanceId: string | null, sessionTimeoutMs: number, assignment: string) {
  return {
    memberId,
    groupInstanceId,
    clientId: "c",
    clientHost: "/10.0.0.1",
    rebalanceTimeoutMs: 30_000,
    sessionTimeoutMs,
    subscription: subscription("t1"),
    assignment: bytes(assignment),
  };
}

test("validateOffsetCommit: Kafka's classic-group matrix", () => {
  const h = new Harness();
  const c = h.coordinator;
  // Unknown group.
  assert.equal(c.validateOffsetCommit("simple", "", null, -1), ErrorCode.NONE);
  assert.equal(c.describeGroup("simple")?.state, "Empty", "a generation < 0 creates a simple group");
  assert.equal(c.validateOffsetCommit("nope", "m", null, 1), ErrorCode.ILLEGAL_GENERATION);
  assert.equal(c.validateOffsetCommit("nope", "m", null, 1, 9), ErrorCode.GROUP_ID_NOT_FOUND);
  assert.equal(c.describeGroup("nope"), undefined);
  // Empty group.
  assert.equal(c.validateOffsetCommit("simple", "someone", "I", -1), ErrorCode.NONE);
  assert.equal(c.validateOffsetCommit("simple", "", null, 0), ErrorCode.UNKNOWN_MEMBER_ID);
  // CompletingRebalance, then Stable.
  const [a, s] = joinAll(h, [null, "S"]);
  assert.equal(c.validateOffsetCommit("g", a.memberId, null, 1), ErrorCode.REBALANCE_IN_PROGRESS);
  syncAll(h, [a, s]);
  const matrix: [string, string | null, number, number][] = [
    [a.memberId, null, 1, ErrorCode.NONE],
    [a.memberId, null, 0, ErrorCode.ILLEGAL_GENERATION],
    ["nobody", null, 1, ErrorCode.UNKNOWN_MEMBER_ID],
    ["", null, -1, ErrorCode.UNKNOWN_MEMBER_ID], // v0-style commit to a group with members
    [a.memberId, null, -1, ErrorCode.ILLEGAL_GENERATION],
    [s.memberId, "S", 1, ErrorCode.NONE],
    [a.memberId, "S", 1, ErrorCode.FENCED_INSTANCE_ID],
    [s.memberId, "unknown-instance", 1, ErrorCode.UNKNOWN_MEMBER_ID],
    [a.memberId, "unknown-instance", 1, ErrorCode.UNKNOWN_MEMBER_ID],
  ];
  for (const [memberId, instanceId, generation, expected] of matrix) {
    assert.equal(
      c.validateOffsetCommit("g", memberId, instanceId, generation),
      expected,
      `${memberId}/${instanceId}/${generation}`,
    );
  }
  // A valid commit is a heartbeat: a member that only commits stays.
  for (let i = 0; i < 5; i++) {
    h.advance(5000);
    assert.equal(c.validateOffsetCommit("g", a.memberId, null, 1), ErrorCode.NONE);
    assert.equal(h.heartbeat(s.memberId, 1, "S"), ErrorCode.NONE);
  }
  assert.equal(h.state(), "Stable");
  // PreparingRebalance: the current generation may still commit.
  h.join({ memberId: a.memberId });
  assert.equal(h.state(), "PreparingRebalance");
  assert.equal(c.validateOffsetCommit("g", s.memberId, "S", 1), ErrorCode.NONE);
  assert.equal(c.validateOffsetCommit("g", s.memberId, "S", 2), ErrorCode.ILLEGAL_GENERATION);
  c.shutdown();
  assert.equal(c.validateOffsetCommit("g", s.memberId, "S", 1), ErrorCode.COORDINATOR_NOT_AVAILABLE);
});

test("OffsetFetch, OffsetDelete and isSubscribedToTopic", () => {
  const h = new Harness();
  const c = h.coordinator;
  assert.equal(c.validateOffsetFetch("g", null, -1), ErrorCode.NONE);
  assert.equal(c.validateOffsetFetch("g", "m", 3), ErrorCode.NONE, "classic groups ignore member id and epoch");
  assert.equal(c.validateOffsetDelete("g"), ErrorCode.GROUP_ID_NOT_FOUND);
  assert.equal(c.validateOffsetDelete(""), ErrorCode.INVALID_GROUP_ID);
  c.ensureGroup("g");
  assert.equal(c.validateOffsetDelete("g"), ErrorCode.NONE);
  assert.equal(c.isSubscribedToTopic("g", "t1"), false);
  const joins = [
    h.join({ protocols: [{ name: "range", metadata: subscription("t1", "t2") }] }),
    h.join({ protocols: [{ name: "range", metadata: subscription("t3") }] }),
  ];
  h.advanceUntil(() => joins.every((j) => j.result !== undefined));
  assert.equal(c.validateOffsetDelete("g"), ErrorCode.NONE, "a non-empty consumer group: per-topic answer");
  assert.deepEqual(
    ["t1", "t2", "t3", "t4"].map((t) => c.isSubscribedToTopic("g", t)),
    [true, true, true, false],
  );
  // Metadata that does not parse: Kafka treats a consumer group as subscribed to everything.
  const bad = new Harness();
  const j = bad.join({ protocols: [{ name: "range", metadata: bytes("x") }] });
  bad.advanceUntil(() => j.result !== undefined);
  assert.equal(bad.coordinator.isSubscribedToTopic("g", "anything"), true);
  // Another protocol type with members: NON_EMPTY_GROUP.
  const connect = new Harness();
  const k = connect.join({ protocolType: "connect" });
  connect.advanceUntil(() => k.result !== undefined);
  assert.equal(connect.coordinator.validateOffsetDelete("g"), ErrorCode.NON_EMPTY_GROUP);
  assert.equal(connect.coordinator.isSubscribedToTopic("g", "t1"), false);
});

test("listGroups: state filter case-insensitive, type filter classic only", () => {
  const h = new Harness();
  const c = h.coordinator;
  c.ensureGroup("empty");
  h.join(); // g: PreparingRebalance
  const other = h.coordinator;
  other.handleJoinGroup({ ...joinOf("s"), groupId: "s" }, () => {});
  h.advance(3000); // both complete: CompletingRebalance
  const names = (states: string[], types: string[] = []) =>
    c
      .listGroups(states, types)
      .map((g) => `${g.groupId}:${g.state}:${g.protocolType}:${g.groupType}`)
      .sort();
  assert.deepEqual(names([]), [
    "empty:Empty::classic",
    "g:CompletingRebalance:consumer:classic",
    "s:CompletingRebalance:consumer:classic",
  ]);
  assert.deepEqual(names(["EMPTY", " completingrebalance "]), [
    "empty:Empty::classic",
    "g:CompletingRebalance:consumer:classic",
    "s:CompletingRebalance:consumer:classic",
  ]);
  assert.deepEqual(names(["Stable"]), []);
  assert.deepEqual(names([], ["Classic"]), names([]));
  assert.deepEqual(names([], ["consumer"]), []);
  assert.deepEqual(names(["empty"], ["classic", "share"]), ["empty:Empty::classic"]);
});

function joinOf(clientId: string) {
  return {
    groupId: "g",
    memberId: "",
    groupInstanceId: null,
    clientId,
    clientHost: "/127.0.0.1",
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 30_000,
    protocolType: "consumer",
    protocols: [{ name: "range", metadata: bytes("t") }],
    requireKnownMemberId: false,
    supportSkippingAssignment: false,
  };
}

test("nextDeadlineMs and shutdown: waiting requests answered NOT_COORDINATOR, then COORDINATOR_NOT_AVAILABLE", () => {
  const h = new Harness();
  const c = h.coordinator;
  assert.equal(c.nextDeadlineMs(), undefined);
  h.nowMs = 1000;
  const j1 = h.join();
  assert.equal(c.nextDeadlineMs(), 4000, "the initial delay comes first");
  h.advance(3000);
  const [a] = [ok(j1)];
  assert.equal(c.nextDeadlineMs(), 14_000, "then the session of the member (the sync deadline is later)");
  const waitingSync = h.sync({ memberId: a.memberId, generationId: 1, assignments: [] });
  ok(waitingSync);
  const j2 = h.join({ clientId: "late" }); // rebalance: a joins again below, j2 waits
  const rejoin = h.join({ memberId: a.memberId });
  ok(rejoin);
  const syncs = [h.sync({ memberId: ok(j2).memberId, generationId: 2 })]; // a follower waits for the leader
  const j3 = h.join({ groupId: "other" });
  c.shutdown();
  assert.equal(syncs[0].result?.errorCode, ErrorCode.NOT_COORDINATOR);
  assert.equal(j3.result?.errorCode, ErrorCode.NOT_COORDINATOR);
  assert.equal(j2.result?.errorCode, ErrorCode.NONE, "j2 had been answered by generation 2");
  assert.equal(c.nextDeadlineMs(), undefined);
  assert.equal(c.timerCount, 0);
  assert.equal(h.join().result?.errorCode, ErrorCode.COORDINATOR_NOT_AVAILABLE);
  assert.equal(h.heartbeat(a.memberId, 2), ErrorCode.COORDINATOR_NOT_AVAILABLE);
  assert.equal(h.leave({ memberId: a.memberId }).errorCode, ErrorCode.COORDINATOR_NOT_AVAILABLE);
  assert.equal(c.listGroups([], []).length, 0);
  c.shutdown();
  h.advance(600_000);
});

test("error codes at the edges: INVALID_GROUP_ID, unknown group on LeaveGroup, pending member leaving", () => {
  const h = new Harness({ initialRebalanceDelayMs: 0 });
  assert.equal(h.join({ groupId: "" }).result?.errorCode, ErrorCode.INVALID_GROUP_ID);
  assert.equal(
    h.coordinator.heartbeat({ groupId: "", memberId: "m", generationId: 1, groupInstanceId: null }).errorCode,
    ErrorCode.INVALID_GROUP_ID,
  );
  assert.deepEqual(h.leave({ memberId: "m" }), { errorCode: ErrorCode.UNKNOWN_MEMBER_ID, members: [] });
  const j = h.join();
  h.advance(0);
  const a = ok(j);
  syncAll(h, [a]);
  const pending = h.join({ requireKnownMemberId: true });
  assert.equal(pending.result?.errorCode, ErrorCode.MEMBER_ID_REQUIRED);
  // A static join naming a pending (dynamic) id is refused as Kafka's internal error.
  assert.equal(
    h.join({ memberId: pending.result!.memberId, groupInstanceId: "X" }).result?.errorCode,
    ErrorCode.UNKNOWN_SERVER_ERROR,
  );
  // Kafka's LeaveGroup counts a pending member leaving as a leave: a Stable group rebalances.
  assert.equal(h.leave({ memberId: pending.result!.memberId }).members[0].errorCode, ErrorCode.NONE);
  assert.equal(h.state(), "PreparingRebalance");
  assert.equal(ok(h.join({ memberId: a.memberId })).generationId, 2);
});
