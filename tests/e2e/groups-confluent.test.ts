/**
 * Consumer groups with confluent-kafka-python 1.7.0 (librdkafka 2.0.2, Debian's /usr/bin/python3):
 * real member processes (clients/group_member.py) join one group, split a topic's partitions,
 * consume with a synchronous commit after each record, crash, restart, and come back as static
 * members; the broker crashes and restarts under them. Each member prints its rebalance callbacks
 * and records as JSON lines; KafkaJS (support/groups.ts) observes the group from outside.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import type { Admin } from "kafkajs";
import { BrokerProcess, REPO_ROOT } from "./support/broker-process.js";
import { ClientProcess } from "./support/client-process.js";
import {
  assignmentOf,
  checkExactlyOnce,
  commitErrors,
  committedOffsets,
  createTopic,
  describeGroup,
  endOffsets,
  GROUP_BROKER_SET,
  generationOf,
  harnessKafka,
  type Member,
  type MemberEvent,
  produceRecords,
  rebalanceEvents,
  waitForCommits,
  waitForRecords,
  waitForSplit,
} from "./support/groups.js";
import { PYTHON, requireClient } from "./support/run.js";

const DRIVER = path.join(REPO_ROOT, "tests/e2e/clients/group_member.py");
const PARTITIONS = 6;
const PER_PARTITION = 5;
/** A rebalance among a few local members takes well under this; the bound only stops a hang. */
const REBALANCE_TIMEOUT_MS = 20_000;
const CONSUME_TIMEOUT_MS = 20_000;
const CLOSE_TIMEOUT_MS = 15_000;

let broker: BrokerProcess;
let admin: Admin;
let members: Member[] = [];

interface MemberOptions {
  client_id: string;
  assignor?: "range" | "roundrobin" | "cooperative-sticky";
  session_timeout_ms?: number;
  heartbeat_interval_ms?: number;
  instance_id?: string;
}

function startMember(group: string, topic: string, options: MemberOptions): Member {
  const m = ClientProcess.spawn<MemberEvent>(options.client_id, PYTHON, [
    DRIVER,
    "confluent",
    broker.bootstrap,
    group,
    topic,
    JSON.stringify(options),
  ]);
  members.push(m);
  return m;
}

async function connectAdmin(): Promise<void> {
  admin = harnessKafka(broker.bootstrap).admin();
  await admin.connect();
}

before(async () => {
  requireClient("python-confluent-kafka");
  broker = await BrokerProcess.start({ set: GROUP_BROKER_SET });
  await connectAdmin();
});

afterEach(async () => {
  for (const m of members) await m.kill();
  members = [];
});

after(async () => {
  await admin?.disconnect();
  await broker?.stop();
  await broker?.dispose();
});

/** The broker's view (DescribeGroups) matches what each member says it owns. */
async function checkDescribedSplit(group: string, topic: string, ms: readonly Member[], protocol: string) {
  const described = await describeGroup(admin, group, topic);
  assert.equal(described.state, "Stable", JSON.stringify(described));
  assert.equal(described.protocolType, "consumer");
  assert.equal(described.protocol, protocol);
  const fromMembers = new Map(
    ms.map((m) => {
      const last = rebalanceEvents(m).at(-1)!;
      return [last.member!, assignmentOf(m)!];
    }),
  );
  assert.deepEqual(described.assignments, fromMembers, "DescribeGroups member ids and assignments match the members'");
}

describe("confluent-kafka-python 1.7.0 consumer groups", () => {
  test("range: 3 members split 6 partitions, each record consumed once with manual commits", async () => {
    const topic = "cg-range";
    const group = "cg-range-group";
    await createTopic(admin, topic, PARTITIONS);
    const ms = [1, 2, 3].map((i) => startMember(group, topic, { client_id: `range-${i}`, assignor: "range" }));
    const split = await waitForSplit(ms, PARTITIONS, REBALANCE_TIMEOUT_MS, [2, 2, 2]);
    // Range over one topic gives each member a run of consecutive partitions.
    for (const a of split) assert.equal(a[1], a[0] + 1, JSON.stringify(split));
    const generations = ms.map(generationOf);
    assert.equal(new Set(generations).size, 1, `one generation: ${JSON.stringify(generations)}`);
    await checkDescribedSplit(group, topic, ms, "range");

    const records = await produceRecords(broker.bootstrap, topic, PARTITIONS, PER_PARTITION, "range");
    await waitForRecords(ms, records, CONSUME_TIMEOUT_MS);
    await waitForCommits(ms, endOffsets(records), CONSUME_TIMEOUT_MS);
    checkExactlyOnce(ms, records);
    for (const [i, m] of ms.entries()) {
      for (const e of m.events.filter((x) => x.event === "record")) {
        assert.ok(split[i].includes(e.p!), `${m.name} consumed partition ${e.p}, owned by another member`);
      }
    }
    assert.deepEqual(commitErrors(ms), []);
    const committed = await committedOffsets(admin, group, topic);
    for (let p = 0; p < PARTITIONS; p++) assert.deepEqual(committed.get(p)?.[0], PER_PARTITION, `partition ${p}`);

    for (const m of ms) await m.close("close", CLOSE_TIMEOUT_MS);
    // Dynamic members leave on close (LeaveGroup): the group is empty at once, its offsets kept.
    const described = await describeGroup(admin, group, topic);
    assert.equal(described.state, "Empty");
    assert.deepEqual(described.members, []);
    assert.deepEqual(await committedOffsets(admin, group, topic), committed);
  });

  test("cooperative-sticky: members join one by one and leave, partitions move incrementally, records once", async () => {
    const topic = "cg-coop";
    const group = "cg-coop-group";
    await createTopic(admin, topic, PARTITIONS);
    const opts = (i: number): MemberOptions => ({ client_id: `coop-${i}`, assignor: "cooperative-sticky" });
    const m1 = startMember(group, topic, opts(1));
    await waitForSplit([m1], PARTITIONS, REBALANCE_TIMEOUT_MS);
    const m2 = startMember(group, topic, opts(2));
    const [, twoWay] = await waitForSplit([m1, m2], PARTITIONS, REBALANCE_TIMEOUT_MS, [3, 3]);
    const m3 = startMember(group, topic, opts(3));
    const threeWay = await waitForSplit([m1, m2, m3], PARTITIONS, REBALANCE_TIMEOUT_MS, [2, 2, 2]);
    // Incremental: m1 never gave up everything (an eager revoke empties the assignment), and
    // members keep what they had (sticky): m2's two partitions are two of its three.
    for (const e of rebalanceEvents(m1).slice(1)) {
      assert.ok(e.assignment!.length > 0, `m1 was emptied by a rebalance: ${JSON.stringify(rebalanceEvents(m1))}`);
    }
    for (const p of threeWay[1]) assert.ok(twoWay.includes(p), `m2 kept ${JSON.stringify(threeWay[1])} ⊂ ${twoWay}`);
    await checkDescribedSplit(group, topic, [m1, m2, m3], "cooperative-sticky");

    const first = await produceRecords(broker.bootstrap, topic, PARTITIONS, PER_PARTITION, "coop-a");
    await waitForRecords([m1, m2, m3], first, CONSUME_TIMEOUT_MS);
    await waitForCommits([m1, m2, m3], endOffsets(first), CONSUME_TIMEOUT_MS);

    // m3 leaves: m1 and m2 only gain partitions (no revocation of their own).
    const mark = [m1.events.length, m2.events.length];
    await m3.close("close", CLOSE_TIMEOUT_MS);
    await waitForSplit([m1, m2], PARTITIONS, REBALANCE_TIMEOUT_MS, [3, 3]);
    for (const [i, m] of [m1, m2].entries()) {
      const revokes = rebalanceEvents(m, mark[i]).filter((e) => e.event !== "assign" && e.delta!.length > 0);
      assert.deepEqual(revokes, [], `${m.name} revoked partitions when m3 left`);
    }
    const second = await produceRecords(broker.bootstrap, topic, PARTITIONS, PER_PARTITION, "coop-b");
    await waitForRecords([m1, m2], second, CONSUME_TIMEOUT_MS);
    checkExactlyOnce([m1, m2, m3], [...first, ...second]);
    assert.deepEqual(commitErrors([m1, m2, m3]), []);
  });

  test("a SIGKILLed member's partitions go to the survivors after its session timeout", async () => {
    const topic = "cg-kill";
    const group = "cg-kill-group";
    const sessionTimeoutMs = 3000;
    await createTopic(admin, topic, PARTITIONS);
    const ms = [1, 2, 3].map((i) =>
      startMember(group, topic, { client_id: `kill-${i}`, session_timeout_ms: sessionTimeoutMs }),
    );
    const split = await waitForSplit(ms, PARTITIONS, REBALANCE_TIMEOUT_MS, [2, 2, 2]);
    const first = await produceRecords(broker.bootstrap, topic, PARTITIONS, PER_PARTITION, "kill-a");
    await waitForRecords(ms, first, CONSUME_TIMEOUT_MS);
    await waitForCommits(ms, endOffsets(first), CONSUME_TIMEOUT_MS);

    const [s1, s2, victim] = ms;
    const killedAt = Date.now();
    await victim.kill();
    const second = await produceRecords(broker.bootstrap, topic, PARTITIONS, PER_PARTITION, "kill-b");
    await waitForSplit([s1, s2], PARTITIONS, sessionTimeoutMs + REBALANCE_TIMEOUT_MS, [3, 3]);
    const tookOverMs = Date.now() - killedAt;
    // A crashed member is only noticed when its session expires (Kafka does not act on the closed
    // connection), and then the survivors rejoin at their next heartbeat.
    const marginMs = 5000;
    assert.ok(
      tookOverMs < sessionTimeoutMs + marginMs,
      `took over after ${tookOverMs} ms (session timeout ${sessionTimeoutMs} ms)`,
    );
    assert.ok(tookOverMs > sessionTimeoutMs - 1000, `took over after ${tookOverMs} ms, before the session expired`);
    await waitForRecords([s1, s2], second, CONSUME_TIMEOUT_MS);
    // The victim committed each record it printed, so the survivors resume right after them.
    checkExactlyOnce(ms, [...first, ...second]);
    const victimPartitions = new Set(split[2]);
    const tookOver = [s1, s2].flatMap((m) =>
      m.events.filter((e) => e.event === "record" && victimPartitions.has(e.p!)).map((e) => e.v!),
    );
    assert.equal(tookOver.length, victimPartitions.size * PER_PARTITION, JSON.stringify(tookOver));
    assert.deepEqual(commitErrors([s1, s2]), []);
  });

  test("static membership: each member in turn, restarted within its session timeout, gets its partitions back with no rebalance; one that stays away is removed", async () => {
    const topic = "cg-static";
    const group = "cg-static-group";
    await createTopic(admin, topic, PARTITIONS);
    // Long enough that a Python restart on a loaded machine fits inside it.
    const SESSION_TIMEOUT_MS = 10_000;
    const opts = (i: number): MemberOptions => ({
      client_id: `static-${i}`,
      instance_id: `static-instance-${i}`,
      session_timeout_ms: SESSION_TIMEOUT_MS,
    });
    const live = [1, 2, 3].map((i) => startMember(group, topic, opts(i)));
    const split = await waitForSplit(live, PARTITIONS, REBALANCE_TIMEOUT_MS, [2, 2, 2]);
    const generation = generationOf(live[0]);
    assert.ok(typeof generation === "number" && generation > 0, `generation ${generation}`);
    assert.deepEqual(live.map(generationOf), [generation, generation, generation]);
    const produced = await produceRecords(broker.bootstrap, topic, PARTITIONS, PER_PARTITION, "static-0");
    await waitForRecords(live, produced, CONSUME_TIMEOUT_MS);
    await waitForCommits(live, endOffsets(produced), CONSUME_TIMEOUT_MS);

    // Every slot in turn, so the group's leader is restarted too (which one it is is not visible).
    for (let slot = 0; slot < live.length; slot++) {
      const stopped = live[slot];
      const others = live.filter((m) => m !== stopped);
      const oldMemberId = rebalanceEvents(stopped).at(-1)!.member!;
      const marks = others.map((m) => m.events.length);
      const before = await describeGroup(admin, group, topic);
      assert.equal(before.state, "Stable");
      // librdkafka sends no LeaveGroup when a static member closes: the broker keeps its slot.
      await stopped.close("close", CLOSE_TIMEOUT_MS);
      const whileAway = await describeGroup(admin, group, topic);
      assert.equal(whileAway.state, "Stable", "closing a static member does not start a rebalance");
      assert.equal(whileAway.members.length, 3);

      const restarted = startMember(group, topic, opts(slot + 1));
      live[slot] = restarted;
      const what = `${restarted.name} restarted`;
      const assigned = await restarted.waitForEvent((e) => e.event === "assign", REBALANCE_TIMEOUT_MS, "assigned");
      assert.deepEqual(assigned.assignment, split[slot], `${what}: the same partitions as before`);
      assert.equal(assigned.generation, generation, `${what}: the same generation, no rebalance`);
      assert.notEqual(assigned.member, oldMemberId, `${what}: a rejoining static member gets a new member id`);

      // The others saw nothing: no callbacks, and the same generation.
      for (const [i, m] of others.entries()) {
        const at = m.events.length;
        m.send("status");
        const status = await m.waitForEvent((e) => e.event === "status", 10_000, "status", at);
        assert.equal(status.generation, generation, `${what}: ${m.name}'s generation`);
        assert.deepEqual(rebalanceEvents(m, marks[i]), [], `${what}: ${m.name} saw a rebalance`);
      }
      const afterRestart = await describeGroup(admin, group, topic);
      assert.equal(afterRestart.state, "Stable");
      assert.deepEqual(
        [...afterRestart.assignments.keys()].sort(),
        [...before.assignments.keys()].map((id) => (id === oldMemberId ? assigned.member! : id)).sort(),
        `${what}: only its member id changed`,
      );
      assert.deepEqual(afterRestart.assignments.get(assigned.member!), split[slot]);

      // The restarted member resumes at its committed offsets.
      const more = await produceRecords(broker.bootstrap, topic, PARTITIONS, PER_PARTITION, `static-${slot + 1}`);
      produced.push(...more);
      await waitForRecords(live, more, CONSUME_TIMEOUT_MS);
      await waitForCommits(live, endOffsets(produced), CONSUME_TIMEOUT_MS);
    }
    checkExactlyOnce(members, produced);
    assert.deepEqual(commitErrors(members), []);

    // A static member away for longer than its session timeout is removed, and the others take
    // over its partitions.
    const [gone, ...rest] = live;
    const closedAt = Date.now();
    await gone.close("close", CLOSE_TIMEOUT_MS);
    await waitForSplit(rest, PARTITIONS, SESSION_TIMEOUT_MS + REBALANCE_TIMEOUT_MS, [3, 3]);
    const awayMs = Date.now() - closedAt;
    assert.ok(awayMs > SESSION_TIMEOUT_MS - 1000, `removed after ${awayMs} ms, before its session expired`);
  });

  test("a restarted group resumes at its committed offsets, also across a broker SIGKILL", async () => {
    const topic = "cg-resume";
    const group = "cg-resume-group";
    const partitions = 4;
    await createTopic(admin, topic, partitions);
    const opts = (i: number): MemberOptions => ({ client_id: `resume-${i}` });

    // 1. Two members consume the first records and close (committing each record first).
    const a = await produceRecords(broker.bootstrap, topic, partitions, PER_PARTITION, "resume-a");
    const gen1 = [startMember(group, topic, opts(1)), startMember(group, topic, opts(2))];
    await waitForRecords(gen1, a, CONSUME_TIMEOUT_MS);
    await waitForCommits(gen1, endOffsets(a), CONSUME_TIMEOUT_MS);
    for (const m of gen1) await m.close("close", CLOSE_TIMEOUT_MS);
    checkExactlyOnce(gen1, a);

    // 2. New member processes resume exactly after what the first ones committed.
    const b = await produceRecords(broker.bootstrap, topic, partitions, PER_PARTITION, "resume-b");
    const gen2 = [startMember(group, topic, opts(3)), startMember(group, topic, opts(4))];
    await waitForRecords(gen2, b, CONSUME_TIMEOUT_MS);
    await waitForCommits(gen2, endOffsets(b), CONSUME_TIMEOUT_MS);
    checkExactlyOnce(gen2, b);

    // 3. The broker is SIGKILLed under the running members and restarted on the same port:
    //    they reconnect and go on after their last commit.
    await admin.disconnect();
    const oldPort = broker.port;
    await broker.kill();
    broker = await broker.restart();
    assert.equal(broker.port, oldPort, "the restarted broker must get its port back for the members to reconnect");
    await connectAdmin();
    const c = await produceRecords(broker.bootstrap, topic, partitions, PER_PARTITION, "resume-c");
    await waitForRecords(gen2, c, CONSUME_TIMEOUT_MS + REBALANCE_TIMEOUT_MS);
    await waitForCommits(gen2, endOffsets(c), CONSUME_TIMEOUT_MS);
    checkExactlyOnce(gen2, [...b, ...c]);
    for (const m of gen2) await m.close("close", CLOSE_TIMEOUT_MS);

    // 4. The broker is SIGKILLed again with the group empty: a new member reads the committed
    //    offsets back from __consumer_offsets.
    await admin.disconnect();
    await broker.kill();
    broker = await broker.restart();
    await connectAdmin();
    const committed = await committedOffsets(admin, group, topic);
    for (let p = 0; p < partitions; p++) {
      assert.deepEqual(committed.get(p)?.[0], 3 * PER_PARTITION, `partition ${p} after the broker restart`);
    }
    const d = await produceRecords(broker.bootstrap, topic, partitions, PER_PARTITION, "resume-d");
    const gen3 = [startMember(group, topic, opts(5))];
    await waitForSplit(gen3, partitions, REBALANCE_TIMEOUT_MS);
    await waitForRecords(gen3, d, CONSUME_TIMEOUT_MS);
    checkExactlyOnce(gen3, d);
    assert.deepEqual(commitErrors([...gen1, ...gen2, ...gen3]), []);
  });
});
