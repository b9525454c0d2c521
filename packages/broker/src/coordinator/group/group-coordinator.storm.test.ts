/**
 * Scale and storms: 500 members through one rebalance, and seeded storms of joins, syncs,
 * heartbeats, commits, leaves, crashes, static restarts and time, with an asynchronous `store`
 * that completes writes late, out of order, sometimes with an error. After every step the group's
 * invariants hold; at the end (after shutdown) every JoinGroup and SyncGroup was answered exactly
 * once. Prints its seeds; rerun one with SAMSA_TEST_SEED=<n>.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ErrorCode } from "@samsa/protocol";
import { seededRandom } from "@samsa/protocol/testing";
import type { GroupSnapshot, JoinGroupResult } from "./group-coordinator.js";
import { bytes, Harness, text } from "./test-support.js";

test("500 members join an empty group and are Stable in one generation", () => {
  const started = performance.now();
  const h = new Harness({ initialRebalanceDelayMs: 3000 });
  const joins = Array.from({ length: 500 }, (_, i) =>
    h.join({ clientId: `c${i}`, requireKnownMemberId: false, groupInstanceId: i % 5 === 0 ? `s${i}` : null }),
  );
  h.advanceUntil(() => joins.every((j) => j.result !== undefined), 1000);
  const results = joins.map((j) => j.result!);
  assert.ok(results.every((r) => r.errorCode === ErrorCode.NONE && r.generationId === 1));
  const leaders = results.filter((r) => r.leader === r.memberId);
  assert.equal(leaders.length, 1);
  assert.equal(leaders[0].members.length, 500);
  const followers = results
    .filter((r) => r !== leaders[0])
    .map((r) => ({ r, s: h.sync({ memberId: r.memberId, generationId: 1 }) }));
  assert.ok(followers.every((f) => f.s.result === undefined));
  const lead = h.sync({
    memberId: leaders[0].memberId,
    generationId: 1,
    assignments: leaders[0].members.map((m) => ({ memberId: m.memberId, assignment: bytes(m.memberId) })),
  });
  assert.equal(lead.result?.errorCode, ErrorCode.NONE);
  for (const f of followers) assert.equal(text(f.s.result!.assignment), f.r.memberId);
  assert.equal(h.state(), "Stable");
  assert.equal(h.coordinator.timerCount, 500);
  // One more member: all 500 rejoin and generation 2 completes with the last of them.
  const late = h.join({ clientId: "late" });
  const rejoins = results.map((r) =>
    h.join({
      memberId: r.memberId,
      groupInstanceId: leaders[0].members.find((m) => m.memberId === r.memberId)!.groupInstanceId,
    }),
  );
  assert.ok([...rejoins, late].every((j) => j.result?.errorCode === ErrorCode.NONE && j.result.generationId === 2));
  const elapsedMs = performance.now() - started;
  assert.ok(elapsedMs < 2000, `took ${elapsedMs} ms`);
});

const SEEDS = process.env.SAMSA_TEST_SEED ? [Number(process.env.SAMSA_TEST_SEED)] : [11, 12, 13, 14, 15, 16, 17, 18];
const STEPS = 2500;
const CLIENTS = 12;
const STATIC_FROM = 9;
const MAX_SIZE = 9;

interface Client {
  index: number;
  instanceId: string | null;
  alive: boolean;
  incarnation: number;
  memberId: string;
  generation: number;
  phase: "idle" | "joining" | "joined" | "syncing" | "stable";
  lastJoin: JoinGroupResult | null;
}

class Storm {
  readonly writes: { snapshot: GroupSnapshot; done: (errorCode: number) => void }[] = [];
  readonly h: Harness;
  readonly clients: Client[] = [];
  /** request id -> times answered */
  readonly answers = new Map<number, number>();
  private nextRequest = 0;
  lastGeneration = -1;
  readonly leaders = new Map<number, string>();
  failures = 0;

  constructor(readonly random: () => number) {
    this.h = new Harness({ maxSize: MAX_SIZE, initialRebalanceDelayMs: 2000 }, (snapshot, done) =>
      this.writes.push({ snapshot, done }),
    );
    for (let i = 0; i < CLIENTS; i++) {
      this.clients.push({
        index: i,
        instanceId: i >= STATIC_FROM ? `i${i}` : null,
        alive: true,
        incarnation: 0,
        memberId: "",
        generation: -1,
        phase: "idle",
        lastJoin: null,
      });
    }
  }

  private track(): (then: () => void) => void {
    const id = this.nextRequest++;
    this.answers.set(id, 0);
    return (then) => {
      const n = this.answers.get(id)! + 1;
      this.answers.set(id, n);
      assert.equal(n, 1, `request ${id} answered ${n} times`);
      then();
    };
  }

  join(c: Client): void {
    const incarnation = c.incarnation;
    const answered = this.track();
    c.phase = "joining";
    this.h.coordinator.handleJoinGroup(
      {
        groupId: "g",
        memberId: c.memberId,
        groupInstanceId: c.instanceId,
        clientId: `client${c.index}`,
        clientHost: "/127.0.0.1",
        sessionTimeoutMs: 8000,
        rebalanceTimeoutMs: 12_000,
        protocolType: "consumer",
        protocols: [
          { name: this.random() < 0.1 ? "roundrobin" : "range", metadata: bytes("t") },
          { name: "range", metadata: bytes("t") },
        ].filter((p, i, all) => all.findIndex((q) => q.name === p.name) === i),
        requireKnownMemberId: c.index % 2 === 0,
        supportSkippingAssignment: this.random() < 0.5,
      },
      (r) =>
        answered(() => {
          if (c.incarnation === incarnation) this.onJoin(c, r);
        }),
    );
  }

  onJoin(c: Client, r: JoinGroupResult): void {
    c.phase = "idle";
    switch (r.errorCode) {
      case ErrorCode.NONE: {
        c.memberId = r.memberId;
        c.generation = r.generationId;
        c.lastJoin = r;
        c.phase = "joined";
        if (r.leader === r.memberId) {
          const who = c.instanceId ?? r.memberId;
          const previous = this.leaders.get(r.generationId);
          assert.ok(previous === undefined || previous === who, `two leaders in generation ${r.generationId}`);
          this.leaders.set(r.generationId, who);
        } else {
          assert.equal(r.members.length, 0, "only the leader gets the member list");
        }
        return;
      }
      case ErrorCode.MEMBER_ID_REQUIRED:
        c.memberId = r.memberId;
        return;
      case ErrorCode.REBALANCE_IN_PROGRESS:
      case ErrorCode.COORDINATOR_NOT_AVAILABLE:
      case ErrorCode.NOT_COORDINATOR:
        return;
      case ErrorCode.GROUP_MAX_SIZE_REACHED:
      case ErrorCode.UNKNOWN_MEMBER_ID:
      case ErrorCode.FENCED_INSTANCE_ID:
        c.memberId = "";
        return;
      default:
        assert.fail(`unexpected JoinGroup error ${r.errorCode}`);
    }
  }

  sync(c: Client): void {
    const join = c.lastJoin!;
    const incarnation = c.incarnation;
    const answered = this.track();
    c.phase = "syncing";
    const assignments =
      join.leader === join.memberId && !join.skipAssignment
        ? join.members.map((m) => ({ memberId: m.memberId, assignment: bytes(`${join.generationId}`) }))
        : [];
    this.h.coordinator.handleSyncGroup(
      {
        groupId: "g",
        generationId: join.generationId,
        memberId: c.memberId,
        groupInstanceId: c.instanceId,
        protocolType: "consumer",
        protocolName: join.protocolName,
        assignments,
      },
      (r) =>
        answered(() => {
          if (c.incarnation !== incarnation) return;
          c.phase = "idle";
          if (r.errorCode === ErrorCode.NONE) c.phase = "stable";
          else if (r.errorCode === ErrorCode.UNKNOWN_MEMBER_ID || r.errorCode === ErrorCode.FENCED_INSTANCE_ID)
            c.memberId = "";
        }),
    );
  }

  step(): void {
    const r = this.random();
    const c = this.clients[Math.floor(this.random() * CLIENTS)];
    const coordinator = this.h.coordinator;
    if (r < 0.2) {
      this.h.advance(Math.floor(this.random() * 2500));
    } else if (r < 0.3 && this.writes.length > 0) {
      // Complete any pending write, late and out of order, sometimes failing.
      const [write] = this.writes.splice(Math.floor(this.random() * this.writes.length), 1);
      const fail = this.random() < 0.2;
      if (fail) this.failures++;
      write.done(fail ? ErrorCode.NOT_LEADER_OR_FOLLOWER : ErrorCode.NONE);
    } else if (r < 0.75) {
      if (!c.alive) return;
      if (c.phase === "idle") this.join(c);
      else if (c.phase === "joined") this.sync(c);
      else if (c.phase === "stable" || c.phase === "syncing") {
        const code = this.h.heartbeat(c.memberId, c.generation, c.instanceId);
        if (code === ErrorCode.REBALANCE_IN_PROGRESS || code === ErrorCode.ILLEGAL_GENERATION) c.phase = "idle";
        if (code === ErrorCode.UNKNOWN_MEMBER_ID || code === ErrorCode.FENCED_INSTANCE_ID) {
          c.phase = "idle";
          c.memberId = "";
        }
      }
    } else if (r < 0.8) {
      const code = coordinator.validateOffsetCommit("g", c.memberId, c.instanceId, c.generation);
      assert.ok(
        [
          ErrorCode.NONE,
          ErrorCode.REBALANCE_IN_PROGRESS,
          ErrorCode.ILLEGAL_GENERATION,
          ErrorCode.UNKNOWN_MEMBER_ID,
          ErrorCode.FENCED_INSTANCE_ID,
        ].includes(code as 0),
        `commit error ${code}`,
      );
    } else if (r < 0.86) {
      const leaving = this.clients.filter((x) => x.alive && x.memberId !== "" && this.random() < 0.3);
      const result = this.h.leave(...leaving.map((x) => ({ memberId: x.memberId, groupInstanceId: x.instanceId })));
      if (result.errorCode === ErrorCode.NONE) assert.equal(result.members.length, leaving.length);
      for (const x of leaving) {
        x.incarnation++;
        x.memberId = "";
        x.phase = "idle";
      }
    } else if (r < 0.92) {
      // Crash: a static member restarts with an empty member id (replacement), a dynamic one is gone.
      c.incarnation++;
      c.phase = "idle";
      c.memberId = "";
      c.alive = c.instanceId !== null || this.random() < 0.5;
    } else {
      c.alive = true;
    }
    this.checkInvariants();
  }

  checkInvariants(): void {
    const d = this.h.coordinator.describeGroup("g");
    if (d === undefined) return;
    assert.equal(d.leaderId === null, d.members.length === 0, "a leader iff members");
    if (d.leaderId !== null)
      assert.ok(
        d.members.some((m) => m.memberId === d.leaderId),
        "the leader is a member",
      );
    assert.ok(d.generationId >= this.lastGeneration, "generations only increase");
    this.lastGeneration = d.generationId;
    const ids = new Set(d.members.map((m) => m.memberId));
    assert.equal(ids.size, d.members.length);
    assert.ok(
      d.pendingMemberIds.every((id) => !ids.has(id)),
      "no member both joined and pending",
    );
    const instances = d.members.filter((m) => m.groupInstanceId !== null).map((m) => m.groupInstanceId);
    assert.equal(new Set(instances).size, instances.length, "one member per group.instance.id");
    assert.ok(d.members.filter((m) => m.awaitingJoin).length <= MAX_SIZE, "group.max.size");
    for (const m of d.members) assert.ok(!(m.awaitingJoin && m.awaitingSync), "no member waits in a join and a sync");
    if (d.state === "Empty") assert.equal(d.members.length, 0);
    if (d.state === "CompletingRebalance") assert.ok(d.members.every((m) => !m.awaitingJoin));
    if (d.state === "PreparingRebalance") assert.ok(d.members.every((m) => !m.awaitingSync));
    if (d.state === "Stable") {
      // Only a static member replaced while its record is being written waits in a join.
      assert.ok(d.members.every((m) => !m.awaitingSync));
      assert.ok(d.members.every((m) => !m.awaitingJoin || m.groupInstanceId !== null));
    }
    assert.ok(this.h.coordinator.timerCount <= d.members.length + d.pendingMemberIds.length + 2, "timers leak");
  }

  finish(): void {
    this.h.coordinator.shutdown();
    while (this.writes.length > 0) this.writes.shift()!.done(ErrorCode.NONE);
    for (const [id, n] of this.answers) assert.equal(n, 1, `request ${id} answered ${n} times`);
  }
}

for (const seed of SEEDS) {
  test(`storm with a late, failing store keeps the invariants and answers every request once (seed ${seed})`, (t) => {
    t.diagnostic(`seed ${seed}`);
    const storm = new Storm(seededRandom(seed));
    try {
      for (let i = 0; i < STEPS; i++) storm.step();
      storm.finish();
    } catch (e) {
      throw new Error(`seed ${seed}: ${(e as Error).message}`, { cause: e });
    }
    t.diagnostic(
      `generations ${storm.lastGeneration}, requests ${storm.answers.size}, failed writes ${storm.failures}`,
    );
    assert.ok(storm.lastGeneration > 5, "the storm made progress");
  });
}
