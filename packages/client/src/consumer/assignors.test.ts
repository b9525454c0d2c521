import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CooperativeStickyAssignor, RangeAssignor, RoundRobinAssignor } from "./assignors.js";
import type { Subscription } from "./consumer-protocol.js";
import { decodeAssignment, decodeSubscription, encodeAssignment, encodeSubscription } from "./consumer-protocol.js";
import type { TopicPartition } from "./types.js";

function sub(topics: string[], extra: Partial<Subscription> = {}): Subscription {
  return {
    topics,
    userData: null,
    ownedPartitions: [],
    generationId: -1,
    rackId: null,
    groupInstanceId: null,
    ...extra,
  };
}

/** "t0p1" style, as Java's javadoc writes them. */
function names(tps: TopicPartition[] | undefined): string[] {
  return (tps ?? []).map((tp) => `${tp.topic}p${tp.partition}`);
}

function tps(...s: string[]): TopicPartition[] {
  return s.map((x) => {
    const m = /^(.*)p(\d+)$/.exec(x)!;
    return { topic: m[1], partition: Number(m[2]) };
  });
}

describe("RangeAssignor (Java's javadoc examples)", () => {
  test("two consumers, two topics of three partitions", () => {
    const a = new RangeAssignor().assign(
      new Map([
        ["t0", 3],
        ["t1", 3],
      ]),
      new Map([
        ["C0", sub(["t0", "t1"])],
        ["C1", sub(["t0", "t1"])],
      ]),
    );
    assert.deepEqual(names(a.get("C0")), ["t0p0", "t0p1", "t1p0", "t1p1"]);
    assert.deepEqual(names(a.get("C1")), ["t0p2", "t1p2"]);
  });

  test("only members subscribed to a topic share it; more members than partitions", () => {
    const a = new RangeAssignor().assign(
      new Map([
        ["t0", 2],
        ["t1", 1],
      ]),
      new Map([
        ["m1", sub(["t0"])],
        ["m2", sub(["t0", "t1"])],
        ["m3", sub(["t0", "t1"])],
      ]),
    );
    assert.deepEqual(names(a.get("m1")), ["t0p0"]);
    assert.deepEqual(names(a.get("m2")), ["t0p1", "t1p0"]);
    assert.deepEqual(names(a.get("m3")), []);
  });

  test("static members sort first, by instance id (Java's MemberInfo order)", () => {
    const a = new RangeAssignor().assign(
      new Map([["t", 3]]),
      new Map([
        ["a-dynamic", sub(["t"])],
        ["z-member", sub(["t"], { groupInstanceId: "instance-1" })],
        ["b-member", sub(["t"], { groupInstanceId: "instance-2" })],
      ]),
    );
    assert.deepEqual(names(a.get("z-member")), ["tp0"]);
    assert.deepEqual(names(a.get("b-member")), ["tp1"]);
    assert.deepEqual(names(a.get("a-dynamic")), ["tp2"]);
  });
});

describe("RoundRobinAssignor (Java's javadoc examples)", () => {
  test("two consumers, two topics of three partitions", () => {
    const a = new RoundRobinAssignor().assign(
      new Map([
        ["t0", 3],
        ["t1", 3],
      ]),
      new Map([
        ["C0", sub(["t0", "t1"])],
        ["C1", sub(["t0", "t1"])],
      ]),
    );
    assert.deepEqual(names(a.get("C0")), ["t0p0", "t0p2", "t1p1"]);
    assert.deepEqual(names(a.get("C1")), ["t0p1", "t1p0", "t1p2"]);
  });

  test("different subscriptions: C0 t0, C1 t0+t1, C2 t0+t1+t2", () => {
    const a = new RoundRobinAssignor().assign(
      new Map([
        ["t0", 1],
        ["t1", 2],
        ["t2", 3],
      ]),
      new Map([
        ["C0", sub(["t0"])],
        ["C1", sub(["t0", "t1"])],
        ["C2", sub(["t0", "t1", "t2"])],
      ]),
    );
    assert.deepEqual(names(a.get("C0")), ["t0p0"]);
    assert.deepEqual(names(a.get("C1")), ["t1p0"]);
    assert.deepEqual(names(a.get("C2")), ["t1p1", "t2p0", "t2p1", "t2p2"]);
  });
});

describe("CooperativeStickyAssignor", () => {
  const assignor = new CooperativeStickyAssignor();

  test("a fresh group is dealt round robin over sorted members (as Java's constrained builder)", () => {
    const a = assignor.assign(
      new Map([["t", 6]]),
      new Map([
        ["C0", sub(["t"])],
        ["C1", sub(["t"])],
        ["C2", sub(["t"])],
      ]),
    );
    assert.deepEqual(names(a.get("C0")), ["tp0", "tp3"]);
    assert.deepEqual(names(a.get("C1")), ["tp1", "tp4"]);
    assert.deepEqual(names(a.get("C2")), ["tp2", "tp5"]);
  });

  test("a new member: owners keep what they may, moved partitions wait one round (KIP-429)", () => {
    const first = assignor.assign(
      new Map([["t", 6]]),
      new Map([
        ["C0", sub(["t"], { ownedPartitions: tps("tp0", "tp1", "tp2"), generationId: 1 })],
        ["C1", sub(["t"], { ownedPartitions: tps("tp3", "tp4", "tp5"), generationId: 1 })],
        ["C2", sub(["t"])],
      ]),
    );
    assert.deepEqual(names(first.get("C0")), ["tp0", "tp1"]);
    assert.deepEqual(names(first.get("C1")), ["tp3", "tp4"]);
    assert.deepEqual(names(first.get("C2")), [], "tp2 and tp5 are withheld until revoked");
    const second = assignor.assign(
      new Map([["t", 6]]),
      new Map([
        ["C0", sub(["t"], { ownedPartitions: tps("tp0", "tp1"), generationId: 2 })],
        ["C1", sub(["t"], { ownedPartitions: tps("tp3", "tp4"), generationId: 2 })],
        ["C2", sub(["t"], { generationId: 2 })],
      ]),
    );
    assert.deepEqual(names(second.get("C0")), ["tp0", "tp1"]);
    assert.deepEqual(names(second.get("C1")), ["tp3", "tp4"]);
    assert.deepEqual(names(second.get("C2")), ["tp2", "tp5"]);
  });

  test("a member leaves: the survivors keep theirs and take its partitions at once", () => {
    const a = assignor.assign(
      new Map([
        ["t0", 2],
        ["t1", 2],
        ["t2", 2],
        ["t3", 2],
      ]),
      new Map([
        ["C0", sub(["t0", "t1", "t2", "t3"], { ownedPartitions: tps("t0p0", "t1p1", "t3p0"), generationId: 1 })],
        ["C2", sub(["t0", "t1", "t2", "t3"], { ownedPartitions: tps("t1p0", "t2p1"), generationId: 1 })],
      ]),
    );
    assert.equal(a.get("C0")!.length, 4);
    assert.equal(a.get("C2")!.length, 4);
    for (const kept of ["t0p0", "t1p1", "t3p0"]) assert.ok(names(a.get("C0")).includes(kept));
    for (const kept of ["t1p0", "t2p1"]) assert.ok(names(a.get("C2")).includes(kept));
  });

  test("a partition claimed by two members of one generation goes to nobody this round", () => {
    const a = assignor.assign(
      new Map([["t", 2]]),
      new Map([
        ["C0", sub(["t"], { ownedPartitions: tps("tp0", "tp1"), generationId: 3 })],
        ["C1", sub(["t"], { ownedPartitions: tps("tp1"), generationId: 3 })],
      ]),
    );
    assert.deepEqual(names(a.get("C0")), ["tp0"]);
    assert.deepEqual(names(a.get("C1")), []);
  });

  test("the higher generation's claim wins; older subscriptions carry it in userData", () => {
    const a = assignor.assign(
      new Map([["t", 2]]),
      new Map([
        ["C0", sub(["t"], { ownedPartitions: tps("tp0", "tp1"), userData: assignor.subscriptionUserData(2) })],
        ["C1", sub(["t"], { ownedPartitions: tps("tp1"), userData: assignor.subscriptionUserData(5) })],
      ]),
    );
    assert.deepEqual(names(a.get("C0")), ["tp0"]);
    assert.deepEqual(names(a.get("C1")), ["tp1"]);
  });

  test("different subscriptions stay balanced over what each member may take", () => {
    const a = assignor.assign(
      new Map([
        ["a", 4],
        ["b", 4],
      ]),
      new Map([
        ["C0", sub(["a"])],
        ["C1", sub(["a", "b"])],
        ["C2", sub(["b"])],
      ]),
    );
    const all = [...a.values()].flat().map((tp) => `${tp.topic}${tp.partition}`);
    assert.equal(new Set(all).size, 8);
    assert.ok(a.get("C0")!.every((tp) => tp.topic === "a"));
    assert.ok(a.get("C2")!.every((tp) => tp.topic === "b"));
    const sizes = [...a.values()].map((l) => l.length).sort();
    assert.ok(sizes[2] - sizes[0] <= 1, `balanced: ${sizes}`);
  });
});

describe("consumer protocol", () => {
  test("subscription and assignment round-trip at v3, and old versions decode", () => {
    const s = {
      topics: ["a", "b"],
      userData: Buffer.from([1]),
      ownedPartitions: tps("ap1", "ap0", "bp2"),
      generationId: 7,
      rackId: null,
    };
    const back = decodeSubscription(encodeSubscription(s), "i-1");
    assert.deepEqual(back.topics, ["a", "b"]);
    assert.deepEqual(names(back.ownedPartitions), ["ap0", "ap1", "bp2"]);
    assert.equal(back.generationId, 7);
    assert.equal(back.groupInstanceId, "i-1");
    const v0 = decodeSubscription(encodeSubscription(s, 0), null);
    assert.deepEqual(v0.ownedPartitions, []);
    assert.equal(v0.generationId, -1);
    assert.deepEqual(names(decodeAssignment(encodeAssignment(tps("bp1", "ap3")))), ["ap3", "bp1"]);
    assert.deepEqual(decodeAssignment(Buffer.alloc(0)), []);
  });
});
