/**
 * Model-based randomized test: simulated clients (dynamic and static, some using MEMBER_ID_REQUIRED)
 * join, sync, heartbeat, leave, crash and restart while time advances in random steps. After every
 * step the invariants of the group are checked; at the end the chaos stops and the surviving
 * clients must reach a Stable group with everyone's assignment. Prints its seed; rerun one with
 * SAMSA_TEST_SEED=<n>.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ErrorCode } from "@samsa/protocol";
import { seededRandom } from "@samsa/protocol/testing";
import type { JoinGroupResult, SyncGroupResult } from "./group-coordinator.js";
import { bytes, Harness, text } from "./test-support.js";

const SEEDS = process.env.SAMSA_TEST_SEED ? [Number(process.env.SAMSA_TEST_SEED)] : [1, 2, 3, 4, 5, 6];
const STEPS = 3000;
const CLIENTS = 10;
const STATIC_FROM = 7; // clients 7.. are static members
const MAX_SIZE = 8;

type Phase = "idle" | "joining" | "joined" | "syncing" | "stable";

interface Client {
  index: number;
  instanceId: string | null;
  requireKnownMemberId: boolean;
  alive: boolean;
  /** Bumped on crash and leave: responses to an earlier incarnation's requests are ignored. */
  incarnation: number;
  memberId: string;
  generation: number;
  phase: Phase;
  lastJoin: JoinGroupResult | null;
  /** The group incarnation lastJoin came from: a deleted group's generations are not the new one's. */
  joinEpoch: number;
}

class Simulation {
  readonly h = new Harness({ maxSize: MAX_SIZE, initialRebalanceDelayMs: 3000 });
  readonly clients: Client[] = [];
  /** Per group incarnation (a deleted group starts again at generation 0). */
  epoch = 0;
  lastGeneration = -1;
  readonly leaders = new Map<string, Set<string>>(); // epoch:generation -> member ids told they lead
  readonly assignedKeys = new Map<string, Set<string>>(); // epoch:generation -> member keys the leader assigned
  rejected = 0;

  constructor(readonly random: () => number) {
    for (let i = 0; i < CLIENTS; i++) {
      this.clients.push({
        index: i,
        instanceId: i >= STATIC_FROM ? `instance-${i}` : null,
        requireKnownMemberId: i % 2 === 0,
        alive: true,
        incarnation: 0,
        memberId: "",
        generation: -1,
        phase: "idle",
        lastJoin: null,
        joinEpoch: 0,
      });
    }
  }

  genKey(generation: number): string {
    return `${this.epoch}:${generation}`;
  }

  join(c: Client): void {
    const incarnation = c.incarnation;
    c.phase = "joining";
    this.h.coordinator.handleJoinGroup(
      {
        groupId: "g",
        memberId: c.memberId,
        groupInstanceId: c.instanceId,
        clientId: `client${c.index}`,
        clientHost: "/127.0.0.1",
        sessionTimeoutMs: 10_000,
        rebalanceTimeoutMs: 15_000,
        protocolType: "consumer",
        protocols: [{ name: "range", metadata: bytes("t") }],
        requireKnownMemberId: c.requireKnownMemberId,
        supportSkippingAssignment: false,
      },
      (r) => {
        if (c.incarnation === incarnation) this.onJoin(c, r);
      },
    );
  }

  onJoin(c: Client, r: JoinGroupResult): void {
    c.phase = "idle";
    switch (r.errorCode) {
      case ErrorCode.NONE: {
        c.memberId = r.memberId;
        c.generation = r.generationId;
        c.lastJoin = r;
        c.joinEpoch = this.epoch;
        c.phase = "joined";
        if (r.leader === r.memberId) {
          const key = this.genKey(r.generationId);
          const leaders = this.leaders.get(key) ?? new Set();
          // A static leader replaced during CompletingRebalance is told again under its new id.
          leaders.add(c.instanceId ?? r.memberId);
          assert.ok(leaders.size <= 1, `two leaders in generation ${key}: ${[...leaders]}`);
          this.leaders.set(key, leaders);
          assert.ok(
            r.members.some((m) => m.memberId === r.memberId),
            "the leader is among the members",
          );
        } else {
          assert.equal(r.members.length, 0, "only the leader gets the member list");
        }
        if (this.random() < 0.5) this.sync(c);
        return;
      }
      case ErrorCode.MEMBER_ID_REQUIRED:
        assert.ok(c.requireKnownMemberId && c.memberId === "", "MEMBER_ID_REQUIRED only for a new v4+ member");
        c.memberId = r.memberId;
        return;
      case ErrorCode.REBALANCE_IN_PROGRESS:
        return;
      case ErrorCode.GROUP_MAX_SIZE_REACHED:
        this.rejected++;
        c.memberId = "";
        return;
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
    c.phase = "syncing";
    const isLeader = join.leader === join.memberId;
    const assignments = isLeader
      ? join.members.map((m) => ({
          memberId: m.memberId,
          assignment: bytes(`${join.generationId}/${m.groupInstanceId ?? m.memberId}`),
        }))
      : [];
    if (isLeader) {
      const key = `${c.joinEpoch}:${join.generationId}`;
      if (!this.assignedKeys.has(key)) {
        this.assignedKeys.set(key, new Set(join.members.map((m) => m.groupInstanceId ?? m.memberId)));
      }
    }
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
      (r) => {
        if (c.incarnation === incarnation) this.onSync(c, join, r);
      },
    );
  }

  onSync(c: Client, join: JoinGroupResult, r: SyncGroupResult): void {
    c.phase = "idle";
    switch (r.errorCode) {
      case ErrorCode.NONE: {
        assert.equal(c.joinEpoch, this.epoch);
        const keys = this.assignedKeys.get(this.genKey(join.generationId));
        assert.ok(keys, "a sync succeeded before the leader assigned");
        const key = c.instanceId ?? c.memberId;
        assert.ok(keys.has(key), `${key} synced but the leader did not assign it`);
        assert.equal(text(r.assignment), `${join.generationId}/${key}`);
        c.phase = "stable";
        return;
      }
      case ErrorCode.REBALANCE_IN_PROGRESS:
      case ErrorCode.ILLEGAL_GENERATION:
        return;
      case ErrorCode.UNKNOWN_MEMBER_ID:
      case ErrorCode.FENCED_INSTANCE_ID:
        c.memberId = "";
        return;
      default:
        assert.fail(`unexpected SyncGroup error ${r.errorCode}`);
    }
  }

  heartbeat(c: Client): void {
    const code = this.h.heartbeat(c.memberId, c.generation, c.instanceId);
    switch (code) {
      case ErrorCode.NONE:
        return;
      case ErrorCode.REBALANCE_IN_PROGRESS:
      case ErrorCode.ILLEGAL_GENERATION:
        c.phase = "idle";
        return;
      case ErrorCode.UNKNOWN_MEMBER_ID:
      case ErrorCode.FENCED_INSTANCE_ID:
        c.phase = "idle";
        c.memberId = "";
        return;
      default:
        assert.fail(`unexpected Heartbeat error ${code}`);
    }
  }

  leave(cs: Client[]): void {
    const result = this.h.coordinator.leaveGroup({
      groupId: "g",
      members: cs.map((c) => ({ memberId: c.memberId, groupInstanceId: c.instanceId })),
    });
    assert.equal(result.members.length, cs.length);
    for (const c of cs) {
      c.incarnation++;
      c.memberId = "";
      c.phase = "idle";
    }
  }

  crash(c: Client): void {
    c.alive = false;
    c.incarnation++;
    c.memberId = "";
    c.phase = "idle";
  }

  /** A client's next move as a real client would make it. */
  act(c: Client): void {
    if (!c.alive) return;
    if (c.phase === "idle") this.join(c);
    else if (c.phase === "joined") this.sync(c);
    else if (c.phase === "stable") this.heartbeat(c);
  }

  step(): void {
    const r = this.random();
    const c = this.clients[Math.floor(this.random() * CLIENTS)];
    if (r < 0.25) {
      this.h.advance(Math.floor(this.random() * 3000));
    } else if (r < 0.8) {
      this.act(c);
    } else if (r < 0.88) {
      this.leave(this.clients.filter((x) => x.alive && x.memberId !== "" && this.random() < 0.3));
    } else if (r < 0.93) {
      this.crash(c);
    } else if (r < 0.98) {
      c.alive = true;
    } else if (this.h.coordinator.deleteGroup("g") === ErrorCode.NONE) {
      assert.equal(this.h.coordinator.describeGroup("g"), undefined, "a deleted group is gone");
      this.epoch++;
      this.lastGeneration = -1;
    }
    this.checkInvariants();
  }

  checkInvariants(): void {
    const d = this.h.coordinator.describeGroup("g");
    if (d === undefined) return;
    assert.notEqual(d.state, "Dead", "no Dead group is kept, and so none has members");
    assert.equal(d.leaderId === null, d.members.length === 0, "a leader iff members");
    if (d.leaderId !== null)
      assert.ok(
        d.members.some((m) => m.memberId === d.leaderId),
        "the leader is a member",
      );
    assert.ok(d.generationId >= this.lastGeneration, "generations only increase");
    this.lastGeneration = d.generationId;
    // Kafka's group.max.size: at most MAX_SIZE members wait in JoinGroup; static members that did
    // not rejoin are kept on top of them, so a group may hold up to MAX_SIZE + the static ones.
    assert.ok(d.members.filter((m) => m.awaitingJoin).length <= MAX_SIZE, "group.max.size (joining)");
    assert.ok(d.members.length <= MAX_SIZE + (CLIENTS - STATIC_FROM), "group.max.size");
    assert.equal(new Set(d.members.map((m) => m.groupInstanceId ?? m.memberId)).size, d.members.length);
    if (d.state === "Empty") assert.equal(d.members.length, 0);
    if (d.state === "Stable" || d.state === "CompletingRebalance") {
      assert.ok(
        d.members.every((m) => !m.awaitingJoin),
        "nobody waits in a join after the join phase",
      );
    }
    if (d.state === "Stable") {
      const keys = this.assignedKeys.get(this.genKey(d.generationId));
      assert.ok(keys, "Stable without an assignment from the leader");
      for (const m of d.members) {
        const key = m.groupInstanceId ?? m.memberId;
        assert.ok(keys.has(key), `${key} is Stable but not in the leader's assignment`);
        assert.equal(
          text(m.assignment),
          `${d.generationId}/${key}`,
          "every Stable member has this generation's assignment",
        );
      }
    }
    // One deadline per member or pending member, plus at most a join and a sync deadline.
    assert.ok(this.h.coordinator.timerCount <= d.members.length + d.pendingMemberIds.length + 2, "timers leak");
  }

  /** Stops the chaos: the live clients must end in one Stable group holding every one of them (up to group.max.size). */
  converge(): void {
    for (let round = 0; round < 400; round++) {
      for (const c of this.clients) this.act(c);
      this.checkInvariants();
      const d = this.h.coordinator.describeGroup("g");
      const alive = this.clients.filter((c) => c.alive);
      if (
        d?.state === "Stable" &&
        d.members.length >= Math.min(alive.length, MAX_SIZE) &&
        d.members.every((m) => alive.some((c) => c.memberId === m.memberId && c.phase === "stable"))
      ) {
        return;
      }
      this.h.advance(1000);
    }
    assert.fail(`no convergence: ${JSON.stringify(this.h.coordinator.describeGroup("g")?.state)}`);
  }
}

for (const seed of SEEDS) {
  test(`random joins, syncs, heartbeats, leaves, crashes and time keep the group's invariants (seed ${seed})`, (t) => {
    t.diagnostic(`seed ${seed}`);
    const sim = new Simulation(seededRandom(seed));
    for (let i = 0; i < STEPS; i++) sim.step();
    const generations = sim.lastGeneration;
    sim.converge();
    t.diagnostic(
      `epochs ${sim.epoch + 1}, generations in the last ${generations}, max-size rejections ${sim.rejected}`,
    );
  });
}
