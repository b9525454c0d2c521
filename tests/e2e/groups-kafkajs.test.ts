/**
 * Consumer groups with KafkaJS 2.2.4 (in this test process): eachBatch consumers in one group
 * split a topic's partitions and commit with metadata; the admin API sees the group
 * (describeGroups, listGroups, fetchOffsets), resets its offsets only when it is empty, and
 * deletes it only when it is empty.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Admin, Consumer, Kafka } from "kafkajs";
import { BrokerProcess } from "./support/broker-process.js";
import {
  Conditions,
  committedOffsets,
  createTopic,
  describeGroup,
  GROUP_BROKER_SET,
  harnessKafka,
  type ProducedRecord,
  produceRecords,
} from "./support/groups.js";

const WAIT_MS = 20_000;

let broker: BrokerProcess;
let kafka: Kafka;
let admin: Admin;
const consumers: Consumer[] = [];

before(async () => {
  broker = await BrokerProcess.start({ set: GROUP_BROKER_SET });
  kafka = harnessKafka(broker.bootstrap, "samsa-e2e-kafkajs-groups");
  admin = kafka.admin();
  await admin.connect();
});

after(async () => {
  for (const c of consumers) await c.disconnect().catch(() => {});
  await admin?.disconnect();
  await broker?.stop();
  await broker?.dispose();
});

interface Tracked {
  name: string;
  consumer: Consumer;
  /** From the last GROUP_JOIN event. */
  memberId?: string;
  assignment?: number[];
  records: (ProducedRecord & { by: string })[];
}

/** A group consumer that records what it is assigned and consumes, committing each batch's end with metadata. */
async function startConsumer(groupId: string, topic: string, name: string, changes: Conditions): Promise<Tracked> {
  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: 6000,
    rebalanceTimeout: 10_000,
    heartbeatInterval: 300,
    maxWaitTimeInMs: 100,
    retry: { retries: 5, initialRetryTime: 100 },
  });
  consumers.push(consumer);
  const tracked: Tracked = { name, consumer, records: [] };
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    tracked.memberId = payload.memberId;
    tracked.assignment = [...(payload.memberAssignment[topic] ?? [])].sort((a, b) => a - b);
    changes.notify();
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
      for (const m of batch.messages) {
        tracked.records.push({ p: batch.partition, o: Number(m.offset), v: m.value!.toString(), by: name });
        resolveOffset(m.offset);
      }
      if (batch.messages.length > 0) {
        const last = Number(batch.lastOffset());
        await consumer.commitOffsets([
          { topic, partition: batch.partition, offset: String(last + 1), metadata: `${name}@${last}` },
        ]);
      }
      await heartbeat();
      changes.notify();
    },
  });
  return tracked;
}

/** The Kafka error type KafkaJS reports, wherever it nests it (DeleteGroups' per-group errors too). */
async function kafkaErrorType(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    const queue: unknown[] = [e];
    while (queue.length > 0) {
      const x = queue.shift() as {
        type?: string;
        errors?: unknown[];
        groups?: { error?: unknown }[];
        cause?: unknown;
        originalError?: unknown;
      };
      if (x === undefined || x === null) continue;
      if (typeof x.type === "string") return x.type;
      queue.push(...(x.errors ?? []), ...(x.groups ?? []).map((g) => g.error), x.cause, x.originalError);
    }
    return String((e as Error).message);
  }
  throw new Error("expected the request to fail");
}

function checkExactlyOnce(consumed: readonly (ProducedRecord & { by: string })[], expected: readonly ProducedRecord[]) {
  const key = (r: ProducedRecord) => `${r.p}@${r.o}`;
  const seen = new Map<string, string[]>();
  for (const r of consumed) seen.set(key(r), [...(seen.get(key(r)) ?? []), `${r.by}:${r.v}`]);
  assert.deepEqual(
    [...seen].filter(([, by]) => by.length > 1),
    [],
    "records consumed more than once",
  );
  assert.deepEqual(
    new Map([...seen].map(([k, by]) => [k, by[0].split(":")[1]])),
    new Map(expected.map((r) => [key(r), r.v])),
    "consumed records (partition@offset -> value)",
  );
}

describe("KafkaJS 2.2.4 consumer groups", () => {
  test("eachBatch: 3 consumers split 6 partitions, commits with metadata, describeGroups and listGroups see them", async () => {
    const topic = "kjs-groups";
    const groupId = "kjs-groups-group";
    const partitions = 6;
    await createTopic(admin, topic, partitions);
    const changes = new Conditions();
    const tracked: Tracked[] = [];
    for (const name of ["kjs-1", "kjs-2", "kjs-3"]) tracked.push(await startConsumer(groupId, topic, name, changes));
    const state = () => JSON.stringify(tracked.map((t) => [t.name, t.memberId, t.assignment]));
    await changes.waitFor(
      () => {
        const all = tracked.flatMap((t) => t.assignment ?? []);
        const even = tracked.every((t) => t.assignment?.length === 2);
        return even && new Set(all).size === partitions ? true : undefined;
      },
      WAIT_MS,
      "split 6 partitions 2/2/2",
      state,
    );

    const described = await describeGroup(admin, groupId, topic);
    assert.equal(described.state, "Stable");
    assert.equal(described.protocolType, "consumer");
    assert.equal(described.protocol, "RoundRobinAssigner");
    assert.deepEqual(
      described.assignments,
      new Map(tracked.map((t) => [t.memberId!, t.assignment!])),
      `DescribeGroups matches the members' view ${state()}`,
    );
    const { groups } = await admin.listGroups();
    assert.ok(
      groups.some((g) => g.groupId === groupId && g.protocolType === "consumer"),
      JSON.stringify(groups),
    );

    const perPartition = 4;
    const records = await produceRecords(broker.bootstrap, topic, partitions, perPartition, "kjs");
    const consumed = () => tracked.flatMap((t) => t.records);
    await changes.waitFor(
      () => (new Set(consumed().map((r) => `${r.p}@${r.o}`)).size >= records.length ? true : undefined),
      WAIT_MS,
      `consumed ${records.length} records`,
      () => JSON.stringify(consumed()),
    );
    checkExactlyOnce(consumed(), records);
    for (const t of tracked) {
      for (const r of t.records) assert.ok(t.assignment!.includes(r.p), `${t.name} consumed partition ${r.p}`);
    }

    // Each batch's commit carried "<consumer>@<last offset>" as its metadata.
    const committed = await committedOffsets(admin, groupId, topic);
    for (let p = 0; p < partitions; p++) {
      const owner = tracked.find((t) => t.assignment!.includes(p))!;
      assert.deepEqual(committed.get(p), [perPartition, `${owner.name}@${perPartition - 1}`], `partition ${p}`);
    }

    for (const t of tracked) await t.consumer.disconnect();
    const empty = await describeGroup(admin, groupId, topic);
    assert.equal(empty.state, "Empty", "every consumer left on disconnect");
    assert.deepEqual(empty.members, []);
    assert.deepEqual(
      (await committedOffsets(admin, groupId, topic)).get(0)?.[0],
      perPartition,
      "offsets outlive members",
    );
  });

  test("admin: resetOffsets and deleteGroups need an empty group; deleted groups are gone", async () => {
    const topic = "kjs-admin-groups";
    const groupId = "kjs-admin-group";
    const partitions = 2;
    await createTopic(admin, topic, partitions);
    const records = await produceRecords(broker.bootstrap, topic, partitions, 3, "kjs-admin");
    const changes = new Conditions();
    const first = await startConsumer(groupId, topic, "kjs-admin-1", changes);
    await changes.waitFor(
      () => (first.records.length >= records.length ? true : undefined),
      WAIT_MS,
      "consumed the records",
    );
    const end = new Map(Array.from({ length: partitions }, (_, p) => [p, 3]));
    const offsetsNow = async () =>
      new Map([...(await committedOffsets(admin, groupId, topic))].map(([p, [o]]) => [p, o]));
    assert.deepEqual(await offsetsNow(), end);

    // While a member is in the group: KafkaJS refuses to reset (it checks DescribeGroups' state),
    // and the broker refuses to delete the group.
    assert.match(await kafkaErrorType(admin.resetOffsets({ groupId, topic, earliest: true })), /no running instances/);
    assert.equal(await kafkaErrorType(admin.deleteGroups([groupId])), "NON_EMPTY_GROUP");

    await first.consumer.disconnect();
    assert.equal((await describeGroup(admin, groupId, topic)).state, "Empty");
    await admin.resetOffsets({ groupId, topic, earliest: true });
    // KafkaJS commits the sentinel -2 (earliest) itself; the broker stores it as sent, as Kafka does,
    // and KafkaJS's consumer resolves it when it starts.
    assert.deepEqual(await offsetsNow(), new Map(Array.from({ length: partitions }, (_, p) => [p, -2])));
    // A new member starts over from the beginning, exactly once.
    const second = await startConsumer(groupId, topic, "kjs-admin-2", changes);
    await changes.waitFor(
      () => (second.records.length >= records.length ? true : undefined),
      WAIT_MS,
      "consumed the records again after the reset",
    );
    checkExactlyOnce(second.records, records);
    await second.consumer.disconnect();
    assert.deepEqual(await offsetsNow(), end);

    const deleted = await admin.deleteGroups([groupId]);
    assert.deepEqual(
      deleted.map((d) => [d.groupId, d.errorCode]),
      [[groupId, 0]],
    );
    const { groups } = await admin.listGroups();
    assert.ok(!groups.some((g) => g.groupId === groupId), JSON.stringify(groups));
    // As Kafka: describing an unknown group is not an error, it is "Dead" with no members.
    const gone = await describeGroup(admin, groupId, topic);
    assert.equal(gone.state, "Dead");
    assert.deepEqual(gone.members, []);
    assert.deepEqual(await offsetsNow(), new Map(Array.from({ length: partitions }, (_, p) => [p, -1])));
    assert.equal(await kafkaErrorType(admin.deleteGroups([groupId])), "GROUP_ID_NOT_FOUND");
  });
});
