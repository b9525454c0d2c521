import assert from "node:assert/strict";
import { test } from "node:test";
import { ErrorCode } from "@samsa/protocol";
import { GroupCoordinator, type JoinGroupResult } from "./group-coordinator.js";
import { bytes, Harness, joinRequest, text } from "./test-support.js";

function ok<T extends { errorCode: number }>(holder: { result?: T }): T {
  assert.ok(holder.result, "no response yet");
  assert.equal(holder.result.errorCode, ErrorCode.NONE, `error ${holder.result.errorCode}`);
  return holder.result;
}

/** Leader assigns `gen/member` to everyone; returns the leader's result and all sync results by member. */
function syncAll(h: Harness, results: JoinGroupResult[]): Map<string, string> {
  const leader = results.find((r) => r.leader === r.memberId)!;
  const followers = results.filter((r) => r !== leader);
  const pending = followers.map((r) => ({
    id: r.memberId,
    h: h.sync({ memberId: r.memberId, generationId: r.generationId }),
  }));
  for (const p of pending) assert.equal(p.h.result, undefined, "followers wait for the leader");
  const assignments = leader.members.map((m) => ({
    memberId: m.memberId,
    assignment: bytes(`${leader.generationId}/${m.memberId}`),
  }));
  const mine = h.sync({ memberId: leader.memberId, generationId: leader.generationId, assignments });
  const out = new Map<string, string>([[leader.memberId, text(ok(mine).assignment)]]);
  for (const p of pending) out.set(p.id, text(ok(p.h).assignment));
  return out;
}

/** Three members joined through the initial delay, synced: Stable at generation 1. */
function stableGroupOfThree(h: Harness): JoinGroupResult[] {
  const joins = [h.join(), h.join(), h.join()];
  h.advanceUntil(() => joins.every((j) => j.result !== undefined));
  const results = joins.map(ok);
  syncAll(h, results);
  assert.equal(h.state(), "Stable");
  return results;
}

test("a full eager rebalance of three members: one generation, one leader, assignments passed through", () => {
  const h = new Harness({ initialRebalanceDelayMs: 3000 });
  const joins = [h.join({ clientId: "a" })];
  assert.equal(h.state(), "PreparingRebalance");
  h.advance(1000);
  joins.push(h.join({ clientId: "b" }));
  h.advance(1000);
  joins.push(h.join({ clientId: "c" }));
  h.advance(2000); // t=4000: the delay (3000) passed, but members arrived, so it is extended once
  assert.ok(
    joins.every((j) => j.result === undefined),
    "still waiting",
  );
  h.advance(2000); // t=6000: nobody new in the extension
  const results = joins.map(ok);
  assert.deepEqual(new Set(results.map((r) => r.generationId)), new Set([1]));
  assert.deepEqual(new Set(results.map((r) => r.leader)), new Set([results[0].memberId]));
  assert.deepEqual(new Set(results.map((r) => r.protocolName)), new Set(["range"]));
  assert.equal(results[0].members.length, 3);
  assert.equal(results[1].members.length, 0);
  assert.equal(h.state(), "CompletingRebalance");
  // A follower heartbeating between join and sync is fine.
  assert.equal(h.heartbeat(results[1].memberId, 1), ErrorCode.NONE);
  const assigned = syncAll(h, results);
  for (const r of results) assert.equal(assigned.get(r.memberId), `1/${r.memberId}`);
  assert.equal(h.state(), "Stable");
  // A late sync in Stable gets the stored assignment.
  assert.equal(
    text(ok(h.sync({ memberId: results[2].memberId, generationId: 1 })).assignment),
    `1/${results[2].memberId}`,
  );
  for (const r of results) assert.equal(h.heartbeat(r.memberId, 1), ErrorCode.NONE);
  assert.equal(h.coordinator.timerCount, 3, "one heartbeat deadline per member, nothing else");
});

test("a member joining a Stable group triggers a rebalance that completes when every member rejoined", async () => {
  const h = new Harness();
  const old = stableGroupOfThree(h);
  const newcomer = h.join({ clientId: "d" });
  assert.equal(h.state(), "PreparingRebalance");
  assert.equal(newcomer.result, undefined);
  const rejoins = old.map((r) => {
    assert.equal(h.heartbeat(r.memberId, 1), ErrorCode.REBALANCE_IN_PROGRESS);
    return h.join({ memberId: r.memberId });
  });
  const results = [...rejoins, newcomer].map(ok);
  assert.ok(
    results.every((r) => r.generationId === 2),
    "one new generation",
  );
  assert.equal(results.find((r) => r.leader === r.memberId)!.members.length, 4);
  assert.equal(h.sync({ memberId: old[0].memberId, generationId: 1 }).result?.errorCode, ErrorCode.ILLEGAL_GENERATION);
  syncAll(h, results);
  // The promise form of the API.
  const again = await h.coordinator.syncGroup({
    groupId: "g",
    generationId: 2,
    memberId: results[3].memberId,
    groupInstanceId: null,
    protocolType: "consumer",
    protocolName: "range",
    assignments: [],
  });
  assert.equal(text(again.assignment), `2/${results[3].memberId}`);
  assert.equal(again.protocolName, "range");
});

test("a member whose session times out is removed and the others rebalance without it", () => {
  const h = new Harness();
  const [a, b, c] = stableGroupOfThree(h);
  for (let t = 0; t < 12_000; t += 3000) {
    h.advance(3000);
    if (h.state() !== "Stable") break;
    assert.equal(h.heartbeat(a.memberId, 1), ErrorCode.NONE);
    assert.equal(h.heartbeat(b.memberId, 1), ErrorCode.NONE);
  }
  assert.equal(h.state(), "PreparingRebalance");
  assert.equal(h.heartbeat(c.memberId, 1), ErrorCode.UNKNOWN_MEMBER_ID);
  assert.equal(h.heartbeat(a.memberId, 1), ErrorCode.REBALANCE_IN_PROGRESS);
  const ra = h.join({ memberId: a.memberId });
  const rb = h.join({ memberId: b.memberId });
  assert.equal(ok(ra).generationId, 2);
  assert.equal(ok(rb).generationId, 2);
  assert.deepEqual(
    ok(ra)
      .members.map((m) => m.memberId)
      .sort(),
    [a.memberId, b.memberId].sort(),
  );
});

test("a member that does not rejoin within the rebalance timeout is dropped from the next generation", () => {
  const h = new Harness();
  const [a, b, c] = stableGroupOfThree(h);
  h.join({ memberId: a.memberId }); // the leader rejoins: new rebalance, waiting up to 30 s
  const rb = h.join({ memberId: b.memberId });
  for (let t = 0; t < 30_000; t += 3000) {
    assert.equal(rb.result, undefined);
    assert.equal(h.heartbeat(c.memberId, 1), ErrorCode.REBALANCE_IN_PROGRESS); // alive but never rejoins
    h.advance(3000);
  }
  assert.equal(ok(rb).generationId, 2);
  assert.equal(h.coordinator.describeGroup("g")!.members.length, 2);
  assert.equal(h.heartbeat(c.memberId, 1), ErrorCode.UNKNOWN_MEMBER_ID);
});

test("stale generations and unknown members are fenced", () => {
  const h = new Harness();
  const [a, b] = stableGroupOfThree(h);
  assert.equal(h.heartbeat(a.memberId, 0), ErrorCode.ILLEGAL_GENERATION);
  assert.equal(h.heartbeat("nobody", 1), ErrorCode.UNKNOWN_MEMBER_ID);
  assert.equal(h.sync({ memberId: "nobody", generationId: 1 }).result?.errorCode, ErrorCode.UNKNOWN_MEMBER_ID);
  assert.equal(h.sync({ memberId: a.memberId, generationId: 7 }).result?.errorCode, ErrorCode.ILLEGAL_GENERATION);
  assert.equal(
    h.sync({ memberId: a.memberId, generationId: 1, protocolName: "roundrobin" }).result?.errorCode,
    ErrorCode.INCONSISTENT_GROUP_PROTOCOL,
  );
  assert.equal(h.join({ memberId: "nobody" }).result?.errorCode, ErrorCode.UNKNOWN_MEMBER_ID);
  assert.equal(h.join({ protocolType: "connect" }).result?.errorCode, ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
  assert.equal(
    h.join({ protocols: [{ name: "sticky", metadata: bytes("") }] }).result?.errorCode,
    ErrorCode.INCONSISTENT_GROUP_PROTOCOL,
  );
  assert.equal(h.join({ sessionTimeoutMs: 10 }).result?.errorCode, ErrorCode.INVALID_SESSION_TIMEOUT);
  h.join({ memberId: b.memberId, protocols: [{ name: "range", metadata: bytes("topic-b") }] }); // subscription change
  assert.equal(h.state(), "PreparingRebalance");
  assert.equal(h.heartbeat(a.memberId, 1), ErrorCode.REBALANCE_IN_PROGRESS);
  assert.equal(h.sync({ memberId: a.memberId, generationId: 1 }).result?.errorCode, ErrorCode.REBALANCE_IN_PROGRESS);
  assert.equal(h.heartbeat("x", 1), ErrorCode.UNKNOWN_MEMBER_ID);
  assert.equal(
    h.coordinator.heartbeat({ groupId: "other", memberId: "x", generationId: 1, groupInstanceId: null }).errorCode,
    ErrorCode.UNKNOWN_MEMBER_ID,
  );
});

test("MEMBER_ID_REQUIRED round trip (JoinGroup v4+), and an id handed out but never used expires", () => {
  const h = new Harness({ initialRebalanceDelayMs: 0 });
  const first = h.join({ requireKnownMemberId: true });
  assert.equal(first.result?.errorCode, ErrorCode.MEMBER_ID_REQUIRED);
  const memberId = first.result.memberId;
  assert.equal(memberId, "c-1");
  assert.deepEqual(h.coordinator.describeGroup("g")!.pendingMemberIds, [memberId]);
  const join = h.join({ memberId, requireKnownMemberId: true });
  assert.equal(join.result, undefined, "even without a delay, the initial rebalance completes on its timer");
  h.advance(0);
  const second = ok(join);
  assert.equal(second.memberId, memberId);
  assert.equal(second.leader, memberId);
  assert.equal(second.generationId, 1);
  ok(h.sync({ memberId, generationId: 1, assignments: [{ memberId, assignment: bytes("all") }] }));
  // A client that never comes back with its id does not block or disturb the group.
  const ghost = h.join({ requireKnownMemberId: true });
  assert.equal(ghost.result?.errorCode, ErrorCode.MEMBER_ID_REQUIRED);
  assert.equal(h.state(), "Stable");
  for (let t = 0; t < 4; t++) {
    h.advance(3000);
    assert.equal(h.heartbeat(memberId, 1), ErrorCode.NONE);
  }
  assert.deepEqual(h.coordinator.describeGroup("g")!.pendingMemberIds, []);
  assert.equal(h.join({ memberId: ghost.result!.memberId }).result?.errorCode, ErrorCode.UNKNOWN_MEMBER_ID);
});

function staticPair(h: Harness) {
  const a = h.join({ groupInstanceId: "A", clientId: "a" });
  const b = h.join({ groupInstanceId: "B", clientId: "b" });
  h.advanceUntil(() => b.result !== undefined);
  const results = [ok(a), ok(b)];
  syncAll(h, results);
  return results;
}

test("a static member restarting within its session timeout gets its assignment back without a rebalance", () => {
  for (const supportSkippingAssignment of [false, true]) {
    const h = new Harness({ initialRebalanceDelayMs: 3000 });
    const [a, b] = staticPair(h);
    assert.equal(a.leader, a.memberId);
    h.advance(5000); // the leader's process is gone for a while, below its 10 s session
    assert.equal(h.heartbeat(b.memberId, 1, "B"), ErrorCode.NONE);
    const back = ok(
      h.join({ groupInstanceId: "A", clientId: "a", requireKnownMemberId: true, supportSkippingAssignment }),
    );
    assert.notEqual(back.memberId, a.memberId);
    assert.equal(back.generationId, 1);
    assert.equal(h.state(), "Stable", "no rebalance");
    if (supportSkippingAssignment) {
      assert.equal(back.leader, back.memberId);
      assert.equal(back.skipAssignment, true);
      assert.equal(back.members.length, 2);
    } else {
      assert.notEqual(back.leader, back.memberId, "an old client must act as a follower");
      assert.equal(back.members.length, 0);
    }
    const assigned = ok(h.sync({ memberId: back.memberId, generationId: 1, groupInstanceId: "A" }));
    assert.equal(text(assigned.assignment), `1/${a.memberId}`);
    assert.equal(h.heartbeat(b.memberId, 1, "B"), ErrorCode.NONE);
    assert.equal(h.coordinator.describeGroup("g")!.generationId, 1);
  }
});

test("a static member restarting into a Stable group rebalances only when the selected protocol changes (as Kafka)", () => {
  const h = new Harness();
  const [a, b] = staticPair(h);
  // New metadata for the same protocol: kept, no rebalance (the client rejoins itself if its subscription changed).
  const same = ok(h.join({ groupInstanceId: "A", protocols: [{ name: "range", metadata: bytes("topic-z") }] }));
  assert.equal(same.generationId, 1);
  assert.equal(h.state(), "Stable");
  assert.equal(
    text(h.coordinator.describeGroup("g")!.members.find((m) => m.groupInstanceId === "A")!.protocols[0].metadata),
    "topic-z",
  );
  assert.equal(h.heartbeat(a.memberId, 1, "A"), ErrorCode.FENCED_INSTANCE_ID);
  // A protocol list whose vote differs from the group's protocol: rebalance.
  const p = (...names: string[]) => names.map((name) => ({ name, metadata: bytes(name) }));
  const b2 = h.join({ memberId: b.memberId, groupInstanceId: "B", protocols: p("roundrobin", "range") });
  assert.equal(h.state(), "PreparingRebalance");
  const a2 = h.join({ memberId: same.memberId, groupInstanceId: "A", protocols: p("range", "roundrobin") });
  assert.equal(ok(a2).generationId, 2);
  syncAll(h, [ok(a2), ok(b2)]);
  // Both members list range and roundrobin; the 1:1 vote went to range (the leader's preference).
  // A restart of A preferring roundrobin makes it 2:0 for roundrobin: the selection changes.
  assert.equal(ok(a2).protocolName, "range");
  const a3 = h.join({ groupInstanceId: "A", protocols: p("roundrobin", "range") });
  assert.equal(a3.result, undefined, "the selected protocol would change: rebalance");
  assert.equal(h.state(), "PreparingRebalance");
});

test("a duplicate static instance fences the older one", () => {
  const h = new Harness();
  const [a, b] = staticPair(h);
  const dup = ok(h.join({ groupInstanceId: "B", clientId: "b2" }));
  assert.equal(dup.generationId, 1);
  assert.equal(h.heartbeat(b.memberId, 1, "B"), ErrorCode.FENCED_INSTANCE_ID);
  assert.equal(
    h.sync({ memberId: b.memberId, generationId: 1, groupInstanceId: "B" }).result?.errorCode,
    ErrorCode.FENCED_INSTANCE_ID,
  );
  assert.equal(h.join({ memberId: b.memberId, groupInstanceId: "B" }).result?.errorCode, ErrorCode.FENCED_INSTANCE_ID);
  assert.equal(
    h.coordinator.leaveGroup({ groupId: "g", members: [{ memberId: b.memberId, groupInstanceId: "B" }] }).members[0]
      .errorCode,
    ErrorCode.FENCED_INSTANCE_ID,
  );
  assert.equal(h.heartbeat(dup.memberId, 1, "B"), ErrorCode.NONE);
  // An old instance waiting in a rebalance is answered FENCED_INSTANCE_ID when it is replaced.
  h.join({ memberId: a.memberId, groupInstanceId: "A" }); // leader rejoins: rebalance
  const waiting = h.join({ memberId: dup.memberId, groupInstanceId: "B" });
  assert.equal(waiting.result?.errorCode, ErrorCode.NONE); // all joined: generation 2
  const w = waiting.result!;
  const pendingSync = h.sync({ memberId: w.memberId, generationId: 2, groupInstanceId: "B" });
  // Replaced during CompletingRebalance: the leader may be assigning the old id, so Kafka rebalances.
  const b3 = h.join({ groupInstanceId: "B", clientId: "b3" });
  assert.equal(pendingSync.result?.errorCode, ErrorCode.FENCED_INSTANCE_ID);
  assert.equal(b3.result, undefined);
  assert.equal(h.state(), "PreparingRebalance");
  const leaderId = h.coordinator.describeGroup("g")!.leaderId!;
  const leaderBack = h.join({ memberId: leaderId, groupInstanceId: "A" });
  assert.equal(ok(b3).generationId, 3);
  assert.equal(ok(leaderBack).generationId, 3);
});

test("LeaveGroup with several members at once (and by group.instance.id)", () => {
  const h = new Harness({ initialRebalanceDelayMs: 3000 });
  const joins = [h.join(), h.join(), h.join(), h.join({ groupInstanceId: "S" })];
  h.advanceUntil(() => joins[0].result !== undefined);
  const results = joins.map(ok);
  syncAll(h, results);
  const [a, b, c, s] = results;
  const leave = h.coordinator.leaveGroup({
    groupId: "g",
    members: [
      { memberId: b.memberId, groupInstanceId: null },
      { memberId: "", groupInstanceId: "S" },
      { memberId: "nobody", groupInstanceId: null },
      { memberId: "", groupInstanceId: "nope" },
    ],
  });
  assert.equal(leave.errorCode, ErrorCode.NONE);
  assert.deepEqual(
    leave.members.map((m) => m.errorCode),
    [ErrorCode.NONE, ErrorCode.NONE, ErrorCode.UNKNOWN_MEMBER_ID, ErrorCode.UNKNOWN_MEMBER_ID],
  );
  assert.equal(h.state(), "PreparingRebalance");
  assert.equal(h.heartbeat(s.memberId, 1), ErrorCode.UNKNOWN_MEMBER_ID);
  const ra = h.join({ memberId: a.memberId });
  const rc = h.join({ memberId: c.memberId });
  assert.equal(ok(ra).generationId, 2);
  ok(rc);
  assert.equal(h.coordinator.describeGroup("g")!.members.length, 2);
  // Everyone leaving: the next rebalance finds nobody and the group is Empty, then deletable.
  h.coordinator.leaveGroup({
    groupId: "g",
    members: [a, c].map((r) => ({ memberId: r.memberId, groupInstanceId: null })),
  });
  assert.equal(h.state(), "Empty", "the rebalance in progress completes at once with nobody");
  assert.equal(h.coordinator.describeGroup("g")!.generationId, 3);
  assert.equal(h.coordinator.deleteGroup("g"), ErrorCode.NONE);
  assert.equal(h.state(), undefined);
  assert.equal(h.coordinator.deleteGroup("g"), ErrorCode.GROUP_ID_NOT_FOUND);
});

test("group.initial.rebalance.delay.ms: an empty group waits, extends while members arrive, never past the rebalance timeout", () => {
  const h = new Harness({ initialRebalanceDelayMs: 3000 });
  const joins = [h.join({ rebalanceTimeoutMs: 5000 })];
  h.advance(1000);
  joins.push(h.join({ rebalanceTimeoutMs: 5000 }));
  h.advance(1999);
  assert.equal(joins[0].result, undefined); // t=2999
  h.advance(1); // t=3000: extended by min(3000, 5000-3000)
  assert.equal(joins[0].result, undefined);
  h.advance(1000);
  joins.push(h.join({ rebalanceTimeoutMs: 5000 })); // t=4000: still arriving, but the timeout caps the wait
  h.advance(999);
  assert.equal(joins[0].result, undefined);
  h.advance(1); // t=5000
  assert.deepEqual(
    joins.map((j) => ok(j).generationId),
    [1, 1, 1],
  );
  // The delay applies to an empty group only: a later join into a Stable group completes once all rejoined.
  const h0 = new Harness({ initialRebalanceDelayMs: 0 });
  const j0 = h0.join();
  assert.equal(j0.result, undefined, "a delay of 0 still completes on the timer, as Kafka's");
  assert.equal(h0.coordinator.nextDeadlineMs(), 0);
  h0.advance(0);
  assert.equal(ok(j0).generationId, 1);
});

test("group.max.size rejects new members beyond the limit, never members already in", () => {
  const h = new Harness({ maxSize: 2, initialRebalanceDelayMs: 3000 });
  const a = h.join();
  const b = h.join({ groupInstanceId: "B" });
  assert.equal(h.join().result?.errorCode, ErrorCode.GROUP_MAX_SIZE_REACHED);
  assert.equal(h.join({ requireKnownMemberId: true }).result?.errorCode, ErrorCode.GROUP_MAX_SIZE_REACHED);
  h.advanceUntil(() => a.result !== undefined);
  const results = [ok(a), ok(b)];
  syncAll(h, results);
  assert.equal(h.join().result?.errorCode, ErrorCode.GROUP_MAX_SIZE_REACHED);
  assert.equal(h.state(), "Stable");
  const rejoin = h.join({ memberId: results[0].memberId }); // the leader may always rejoin
  assert.equal(rejoin.result, undefined);
  assert.equal(h.state(), "PreparingRebalance");
  ok(h.join({ groupInstanceId: "B" })); // a static restart replaces, it does not add
  assert.equal(ok(rejoin).generationId, 2);
});

test("protocol selection: only protocols every member supports, chosen by the members' votes", () => {
  const h = new Harness({ initialRebalanceDelayMs: 3000 });
  const p = (...names: string[]) => names.map((name) => ({ name, metadata: bytes(name) }));
  const joins = [
    h.join({ protocols: p("range", "roundrobin", "sticky") }),
    h.join({ protocols: p("roundrobin", "range") }),
    h.join({ protocols: p("sticky", "roundrobin", "range") }),
  ];
  h.advanceUntil(() => joins[0].result !== undefined);
  const results = joins.map(ok);
  // sticky is not supported by all; votes: range 1, roundrobin 1 (member 3 votes for its first candidate)... and roundrobin wins 2:1
  assert.deepEqual(new Set(results.map((r) => r.protocolName)), new Set(["roundrobin"]));
  assert.deepEqual(
    results[0].members.map((m) => text(m.metadata)),
    ["roundrobin", "roundrobin", "roundrobin"],
  );
});

test("members that never send SyncGroup are removed after the rebalance timeout", () => {
  const h = new Harness();
  const [a, b, c] = stableGroupOfThree(h);
  const joins = [a, b, c].map((r) => h.join({ memberId: r.memberId, rebalanceTimeoutMs: 20_000 }));
  const results = joins.map(ok);
  const leader = results.find((r) => r.leader === r.memberId)!;
  const follower = results.find((r) => r !== leader)!;
  ok(h.sync({ memberId: leader.memberId, generationId: 2, assignments: [] }));
  ok(h.sync({ memberId: follower.memberId, generationId: 2 }));
  for (let t = 0; t < 21_000; t += 3000) {
    h.advance(3000);
    if (h.state() !== "Stable") break;
    h.heartbeat(leader.memberId, 2);
    h.heartbeat(follower.memberId, 2);
  }
  assert.equal(h.state(), "PreparingRebalance");
  assert.equal(h.coordinator.describeGroup("g")!.members.length, 2);
});

test("a JoinGroup promise resolves when the rebalance completes", async () => {
  let now = 0;
  const c = new GroupCoordinator({ clock: () => now });
  const pending = c.joinGroup(joinRequest());
  now = 3000;
  c.tick(now);
  const r = await pending;
  assert.equal(r.errorCode, ErrorCode.NONE);
  assert.match(r.memberId, /^c-[0-9a-f-]{36}$/);
});
