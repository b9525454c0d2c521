/**
 * Consumer groups with kafka-python 2.0.2 (pure Python, Debian's /usr/bin/python3): KafkaConsumer
 * members with a group_id (clients/group_member.py) split partitions with the range assignor,
 * commit synchronously after each record, and a restarted group resumes at its commits.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import type { Admin } from "kafkajs";
import { BrokerProcess, REPO_ROOT } from "./support/broker-process.js";
import { ClientProcess } from "./support/client-process.js";
import {
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
const PARTITIONS = 4;
const PER_PARTITION = 5;
const WAIT_MS = 30_000;
const CLOSE_TIMEOUT_MS = 15_000;

let broker: BrokerProcess;
let admin: Admin;
let members: Member[] = [];

function startMember(group: string, topic: string, clientId: string): Member {
  const options = { client_id: clientId, assignor: "range", session_timeout_ms: 6000, heartbeat_interval_ms: 300 };
  const m = ClientProcess.spawn<MemberEvent>(clientId, PYTHON, [
    DRIVER,
    "kafka-python",
    broker.bootstrap,
    group,
    topic,
    JSON.stringify(options),
  ]);
  members.push(m);
  return m;
}

before(async () => {
  requireClient("python-kafka");
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
});

describe("kafka-python 2.0.2 consumer groups", () => {
  test("two members split 4 partitions (range), each record consumed once with sync commits", async () => {
    const topic = "kp-split";
    const group = "kp-split-group";
    await createTopic(admin, topic, PARTITIONS);
    const ms = [startMember(group, topic, "kp-1"), startMember(group, topic, "kp-2")];
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

    const records = await produceRecords(broker.bootstrap, topic, PARTITIONS, PER_PARTITION, "kp");
    await waitForRecords(ms, records, WAIT_MS);
    await waitForCommits(ms, endOffsets(records), WAIT_MS);
    checkExactlyOnce(ms, records);
    assert.deepEqual(commitErrors(ms), []);
    for (const m of ms) await m.close("close", CLOSE_TIMEOUT_MS);
    assert.equal((await describeGroup(admin, group, topic)).state, "Empty", "members left on close");
  });

  test("a restarted group resumes at its committed offsets: nothing twice, nothing skipped", async () => {
    const topic = "kp-resume";
    const group = "kp-resume-group";
    await createTopic(admin, topic, PARTITIONS);
    const a = await produceRecords(broker.bootstrap, topic, PARTITIONS, PER_PARTITION, "kp-a");
    const first = startMember(group, topic, "kp-resume-1");
    await waitForRecords([first], a, WAIT_MS);
    await waitForCommits([first], endOffsets(a), WAIT_MS);
    await first.close("close", CLOSE_TIMEOUT_MS);
    checkExactlyOnce([first], a);
    const committed = await committedOffsets(admin, group, topic);
    for (let p = 0; p < PARTITIONS; p++) assert.deepEqual(committed.get(p)?.[0], PER_PARTITION);

    const b = await produceRecords(broker.bootstrap, topic, PARTITIONS, PER_PARTITION, "kp-b");
    const second = startMember(group, topic, "kp-resume-2");
    await waitForRecords([second], b, WAIT_MS);
    checkExactlyOnce([second], b);
    assert.deepEqual(commitErrors([first, second]), []);
    await second.close("close", CLOSE_TIMEOUT_MS);
  });
});
