/**
 * Consumer groups with Go's sarama 1.22.1 ConsumerGroup (clients/sarama-group/main.go): two
 * members split a topic with the range strategy, mark each record and let sarama commit the
 * marks (every 100 ms, and once more when a session ends); a restarted group resumes at them.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import type { Admin } from "kafkajs";
import { BrokerProcess, REPO_ROOT } from "./support/broker-process.js";
import { ClientProcess } from "./support/client-process.js";
import {
  checkExactlyOnce,
  committedOffsets,
  createTopic,
  describeGroup,
  GROUP_BROKER_SET,
  generationOf,
  harnessKafka,
  type Member,
  type MemberEvent,
  produceRecords,
  rebalanceEvents,
  waitForRecords,
  waitForSplit,
} from "./support/groups.js";
import { requireClient, runOk, SARAMA_ENV } from "./support/run.js";

const PARTITIONS = 4;
const PER_PARTITION = 5;
const WAIT_MS = 30_000;
const CLOSE_TIMEOUT_MS = 15_000;

let broker: BrokerProcess;
let admin: Admin;
let buildDir: string;
let binary: string;
let members: Member[] = [];

function startMember(group: string, topic: string, clientId: string): Member {
  const m = ClientProcess.spawn<MemberEvent>(clientId, binary, [broker.bootstrap, group, topic, clientId]);
  members.push(m);
  return m;
}

before(async () => {
  requireClient("go-sarama");
  buildDir = await mkdtemp(path.join(tmpdir(), "samsa-e2e-sarama-group-"));
  binary = path.join(buildDir, "sarama-group");
  // The first build compiles sarama and its dependencies (tens of seconds on a fresh machine).
  await runOk("go", ["build", "-o", binary, "main.go"], {
    cwd: path.join(REPO_ROOT, "tests/e2e/clients/sarama-group"),
    env: { ...process.env, ...SARAMA_ENV },
    timeoutMs: 240_000,
  });
  broker = await BrokerProcess.start({ set: GROUP_BROKER_SET });
  admin = harnessKafka(broker.bootstrap).admin();
  await admin.connect();
});

afterEach(async () => {
  for (const m of members) await m.kill();
  members = [];
});

after(async () => {
  await admin?.disconnect();
  await broker?.stop();
  await broker?.dispose();
  if (buildDir !== undefined) await rm(buildDir, { recursive: true, force: true });
});

describe("sarama 1.22.1 ConsumerGroup", () => {
  test("two members split 4 partitions, mark and commit; a restarted group resumes at the commits", async () => {
    const topic = "sarama-group";
    const group = "sarama-group-group";
    await createTopic(admin, topic, PARTITIONS);
    const ms = [startMember(group, topic, "sarama-1"), startMember(group, topic, "sarama-2")];
    const split = await waitForSplit(ms, PARTITIONS, WAIT_MS, [2, 2]);
    assert.equal(new Set(ms.map(generationOf)).size, 1, "one generation");
    const described = await describeGroup(admin, group, topic);
    assert.equal(described.state, "Stable");
    assert.equal(described.protocol, "range");
    assert.deepEqual(
      described.assignments,
      new Map(ms.map((m, i) => [rebalanceEvents(m).at(-1)!.member!, split[i]])),
      "DescribeGroups matches the members' view",
    );

    const a = await produceRecords(broker.bootstrap, topic, PARTITIONS, PER_PARTITION, "sarama-a");
    await waitForRecords(ms, a, WAIT_MS);
    // Close: the session's last commit, then LeaveGroup.
    for (const m of ms) await m.close("close", CLOSE_TIMEOUT_MS);
    checkExactlyOnce(ms, a);
    assert.deepEqual(
      ms.flatMap((m) => m.events.filter((e) => e.event === "error")),
      [],
    );
    const committed = await committedOffsets(admin, group, topic);
    for (let p = 0; p < PARTITIONS; p++) {
      const owner = ms[split.findIndex((s) => s.includes(p))];
      assert.deepEqual(committed.get(p), [PER_PARTITION, owner.name], `partition ${p}: offset and metadata`);
    }
    const empty = await describeGroup(admin, group, topic);
    assert.equal(empty.state, "Empty", "members left on close");

    const b = await produceRecords(broker.bootstrap, topic, PARTITIONS, PER_PARTITION, "sarama-b");
    const restarted = startMember(group, topic, "sarama-3");
    await waitForSplit([restarted], PARTITIONS, WAIT_MS);
    await waitForRecords([restarted], b, WAIT_MS);
    await restarted.close("close", CLOSE_TIMEOUT_MS);
    checkExactlyOnce([restarted], b);
    const resumed = await committedOffsets(admin, group, topic);
    for (let p = 0; p < PARTITIONS; p++) assert.deepEqual(resumed.get(p), [2 * PER_PARTITION, "sarama-3"]);
  });
});
