/**
 * `@samsa/client`'s Admin against a real broker process, cross-checked with KafkaJS 2.2.4: what
 * one client creates, commits or deletes, the other sees. Every Admin method is exercised,
 * including its Kafka errors (code and broker message).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Admin, ConnectionError, ErrorCode, KafkaError } from "@samsa/client";
import type { Kafka, Admin as KafkaJsAdmin } from "kafkajs";
import { BrokerProcess } from "./support/broker-process.js";
import { Conditions, harnessKafka, produceRecords } from "./support/groups.js";

const WAIT_MS = 20_000;

let broker: BrokerProcess;
let kafka: Kafka;
let kjs: KafkaJsAdmin;
let admin: Admin;

before(async () => {
  broker = await BrokerProcess.start({
    // debug logs every request's API and version, which the last test reads.
    logLevel: "debug",
    set: ["group.initial.rebalance.delay.ms=0", "group.min.session.timeout.ms=1000", "offsets.topic.num.partitions=4"],
  });
  kafka = harnessKafka(broker.bootstrap, "samsa-e2e-client-admin-harness");
  kjs = kafka.admin();
  await kjs.connect();
  admin = new Admin({
    brokers: [broker.bootstrap],
    clientId: "samsa-e2e-client-admin",
    retry: { retries: 5, initialBackoffMs: 50 },
  });
  await admin.connect();
});

after(async () => {
  await admin?.close();
  await kjs?.disconnect();
  await broker?.stop();
  await broker?.dispose();
});

/** Asserts that `p` rejects with a KafkaError of this code whose message says something. */
async function rejectsWithCode(p: Promise<unknown>, code: number, messageIncludes?: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof KafkaError, `expected a KafkaError, got ${String(e)}`);
    assert.equal(e.code, code, `${e.errorName}: ${e.message}`);
    assert.ok(e.message.length > 0);
    if (messageIncludes !== undefined) assert.ok(e.message.includes(messageIncludes), e.message);
    return true;
  });
}

describe("@samsa/client Admin", () => {
  test("describeCluster matches KafkaJS", async () => {
    const ours = await admin.describeCluster();
    const theirs = await kjs.describeCluster();
    assert.equal(ours.clusterId, theirs.clusterId);
    assert.equal(ours.controllerId, theirs.controller);
    assert.deepEqual(
      ours.brokers.map((b) => [b.nodeId, b.port]),
      theirs.brokers.map((b) => [b.nodeId, b.port]),
    );
    assert.equal(ours.brokers[0].port, broker.port);
  });

  test("createTopics, listTopics, describeTopics, createPartitions, deleteTopics", async () => {
    await admin.createTopics([
      { topic: "adm-a", numPartitions: 3, configs: { "retention.ms": "86400000" } },
      { topic: "adm-b", numPartitions: 1 },
    ]);
    await admin.createTopics([{ topic: "adm-validate-only", numPartitions: 2 }], { validateOnly: true });
    await rejectsWithCode(
      admin.createTopics([{ topic: "adm-a", numPartitions: 1 }]),
      ErrorCode.TOPIC_ALREADY_EXISTS,
      "adm-a",
    );
    await rejectsWithCode(
      admin.createTopics([{ topic: "adm-bad-config", configs: { "cleanup.policy": "sideways" } }]),
      ErrorCode.INVALID_CONFIG,
    );

    const ours = await admin.listTopics();
    assert.ok(ours.includes("adm-a") && ours.includes("adm-b"), JSON.stringify(ours));
    assert.ok(!ours.includes("adm-validate-only"));
    assert.deepEqual(ours, [...ours].sort());
    const theirs = await kjs.listTopics();
    assert.deepEqual(
      ours.filter((t) => t.startsWith("adm-")),
      theirs.filter((t) => t.startsWith("adm-")).sort(),
    );

    const [a] = await admin.describeTopics(["adm-a"]);
    assert.equal(a.name, "adm-a");
    assert.equal(a.isInternal, false);
    assert.equal(a.topicId.length, 22);
    assert.deepEqual(
      a.partitions.map((p) => p.partition),
      [0, 1, 2],
    );
    const kjsMeta = await kjs.fetchTopicMetadata({ topics: ["adm-a"] });
    assert.deepEqual(
      a.partitions.map((p) => [p.partition, p.leader, p.replicas, p.isr]),
      kjsMeta.topics[0].partitions
        .map((p) => [p.partitionId, p.leader, p.replicas, p.isr] as const)
        .sort((x, y) => x[0] - y[0]),
    );
    for (const p of a.partitions) assert.ok(p.leaderEpoch >= 0);
    await rejectsWithCode(admin.describeTopics(["adm-missing"]), ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "adm-missing");

    await admin.createPartitions("adm-a", 5);
    assert.equal((await admin.describeTopics(["adm-a"]))[0].partitions.length, 5);
    assert.equal((await kjs.fetchTopicMetadata({ topics: ["adm-a"] })).topics[0].partitions.length, 5);
    await rejectsWithCode(admin.createPartitions("adm-a", 2), ErrorCode.INVALID_PARTITIONS);

    await admin.deleteTopics(["adm-b"]);
    assert.ok(!(await admin.listTopics()).includes("adm-b"));
    assert.ok(!(await kjs.listTopics()).includes("adm-b"));
    await rejectsWithCode(admin.deleteTopics(["adm-b"]), ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });

  test("describeConfigs and incrementalAlterConfigs, seen by KafkaJS", async () => {
    await admin.createTopics([{ topic: "adm-configs", numPartitions: 1, configs: { "retention.ms": "3600000" } }]);
    const resource = { type: "topic", name: "adm-configs" } as const;
    const all = await admin.describeConfigs(resource);
    const retention = all.find((c) => c.name === "retention.ms");
    assert.deepEqual(retention, {
      name: "retention.ms",
      value: "3600000",
      source: "DYNAMIC_TOPIC_CONFIG",
      readOnly: false,
      isDefault: false,
      sensitive: false,
    });
    assert.ok(all.some((c) => c.name === "cleanup.policy" && c.value === "delete"));
    const only = await admin.describeConfigs(resource, { keys: ["segment.ms"] });
    assert.deepEqual(
      only.map((c) => c.name),
      ["segment.ms"],
    );

    await admin.incrementalAlterConfigs(resource, [
      { name: "segment.ms", op: "set", value: "600000" },
      { name: "retention.ms", op: "delete" },
      { name: "cleanup.policy", op: "append", value: "compact" },
    ]);
    const after = new Map((await admin.describeConfigs(resource)).map((c) => [c.name, c]));
    assert.equal(after.get("segment.ms")?.value, "600000");
    assert.deepEqual(
      [after.get("retention.ms")?.source, after.get("retention.ms")?.isDefault],
      ["DEFAULT_CONFIG", true],
    );
    assert.equal(after.get("cleanup.policy")?.value, "delete,compact");

    const theirs = await kjs.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: 2, name: "adm-configs", configNames: ["segment.ms", "cleanup.policy"] }],
    });
    assert.deepEqual(
      new Map(theirs.resources[0].configEntries.map((c) => [c.configName, c.configValue])),
      new Map([
        ["segment.ms", "600000"],
        ["cleanup.policy", "delete,compact"],
      ]),
    );

    await rejectsWithCode(
      admin.incrementalAlterConfigs(resource, [{ name: "segment.ms", op: "set", value: "not-a-number" }]),
      ErrorCode.INVALID_CONFIG,
    );
    await rejectsWithCode(
      admin.describeConfigs({ type: "topic", name: "adm-no-such-topic" }),
      ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
    );

    const { brokers } = await admin.describeCluster();
    const brokerConfigs = await admin.describeConfigs(
      { type: "broker", name: String(brokers[0].nodeId) },
      { keys: ["num.partitions"] },
    );
    assert.equal(brokerConfigs.length, 1);
    assert.equal(brokerConfigs[0].name, "num.partitions");
  });

  test("listOffsets and deleteRecords agree with KafkaJS", async () => {
    await admin.createTopics([{ topic: "adm-records", numPartitions: 2 }]);
    const before = Date.now();
    await produceRecords(broker.bootstrap, "adm-records", 2, 10, "r");
    assert.deepEqual(await admin.listOffsets("adm-records", "earliest"), [
      { partition: 0, offset: 0n, timestamp: -1n },
      { partition: 1, offset: 0n, timestamp: -1n },
    ]);
    const latest = await admin.listOffsets("adm-records", "latest");
    assert.deepEqual(
      latest.map((o) => [o.partition, o.offset]),
      [
        [0, 10n],
        [1, 10n],
      ],
    );
    const byTime = await admin.listOffsets("adm-records", { timestampMs: before - 60_000 });
    assert.deepEqual(
      byTime.map((o) => o.offset),
      [0n, 0n],
    );
    assert.ok(byTime.every((o) => o.timestamp >= BigInt(before - 1000)));
    const future = await admin.listOffsets("adm-records", { timestampMs: Date.now() + 3_600_000 });
    assert.deepEqual(
      future.map((o) => o.offset),
      [-1n, -1n],
    );

    assert.deepEqual(await admin.deleteRecords("adm-records", [{ partition: 0, offset: 4n }]), [
      { partition: 0, lowWatermark: 4n },
    ]);
    const theirs = await kjs.fetchTopicOffsets("adm-records");
    assert.deepEqual(theirs.map((o) => [o.partition, o.low, o.high]).sort(), [
      [0, "4", "10"],
      [1, "0", "10"],
    ]);
    assert.equal((await admin.listOffsets("adm-records", "earliest"))[0].offset, 4n);
    await rejectsWithCode(
      admin.deleteRecords("adm-records", [{ partition: 1, offset: 99n }]),
      ErrorCode.OFFSET_OUT_OF_RANGE,
    );
  });

  test("listOffsets by time: the first offset whose timestamp is at or after the target, per partition (as KafkaJS reads it)", async () => {
    const topic = "adm-by-time";
    await admin.createTopics([{ topic, numPartitions: 2 }]);
    // Timestamps one second apart, older than now, partition 1 shifted by half a second.
    const base = Date.now() - 3_600_000;
    const producer = kafka.producer();
    await producer.connect();
    try {
      await producer.send({
        topic,
        acks: -1,
        messages: [0, 1].flatMap((partition) =>
          Array.from({ length: 10 }, (_, i) => ({
            partition,
            value: `t${i}`,
            timestamp: String(base + i * 1000 + partition * 500),
          })),
        ),
      });
    } finally {
      await producer.disconnect();
    }
    const at = async (timestampMs: number) =>
      (await admin.listOffsets(topic, { timestampMs })).map((o) => [o.partition, o.offset, o.timestamp]);
    assert.deepEqual(await at(base + 3000), [
      [0, 3n, BigInt(base + 3000)],
      [1, 3n, BigInt(base + 3500)],
    ]);
    assert.deepEqual(await at(base + 3200), [
      [0, 4n, BigInt(base + 4000)],
      [1, 3n, BigInt(base + 3500)],
    ]);
    assert.deepEqual(await at(base + 9000), [
      [0, 9n, BigInt(base + 9000)],
      [1, 9n, BigInt(base + 9500)],
    ]);
    const theirs = await kjs.fetchTopicOffsetsByTimestamp(topic, base + 3200);
    assert.deepEqual(theirs.map((o) => [o.partition, o.offset]).sort(), [
      [0, "4"],
      [1, "3"],
    ]);
  });

  test("groups: listGroups, describeGroups, fetchOffsets, groupLag, resetOffsets, deleteGroups with a KafkaJS consumer", async () => {
    const topic = "adm-groups";
    const groupId = "adm-group";
    await admin.createTopics([{ topic, numPartitions: 2 }]);
    await produceRecords(broker.bootstrap, topic, 2, 10, "g");

    const changes = new Conditions();
    let memberId: string | undefined;
    const consumed = new Map<number, number>();
    const consumer = kafka.consumer({ groupId, sessionTimeout: 6000, heartbeatInterval: 300, maxWaitTimeInMs: 100 });
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      memberId = payload.memberId;
      changes.notify();
    });
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          // Commit 3 short of the end on partition 0 and to the end on partition 1, with metadata.
          const end = Number(batch.lastOffset()) + 1;
          const offset = batch.partition === 0 ? end - 3 : end;
          await consumer.commitOffsets([
            { topic, partition: batch.partition, offset: String(offset), metadata: `m${batch.partition}` },
          ]);
          consumed.set(batch.partition, end);
          changes.notify();
        },
      });
      await changes.waitFor(
        () => (consumed.get(0) === 10 && consumed.get(1) === 10 && memberId ? true : undefined),
        WAIT_MS,
        "consumed both partitions",
      );

      const groups = await admin.listGroups();
      assert.deepEqual(
        groups.find((g) => g.groupId === groupId),
        { groupId, protocolType: "consumer", state: "Stable" },
      );
      const [described] = await admin.describeGroups([groupId]);
      assert.equal(described.state, "Stable");
      assert.equal(described.protocolType, "consumer");
      assert.equal(described.protocol, "RoundRobinAssigner");
      assert.equal(described.members.length, 1);
      assert.equal(described.members[0].memberId, memberId);
      assert.equal(described.members[0].clientId, "samsa-e2e-client-admin-harness");
      assert.deepEqual(described.members[0].assignment, [{ topic, partitions: [0, 1] }]);

      // What KafkaJS committed, our OffsetFetch reads (and KafkaJS's own admin agrees).
      const offsets = await admin.fetchOffsets(groupId);
      assert.deepEqual(
        offsets.map((o) => [o.topic, o.partition, o.offset, o.metadata]),
        [
          [topic, 0, 7n, "m0"],
          [topic, 1, 10n, "m1"],
        ],
      );
      const kjsOffsets = await kjs.fetchOffsets({ groupId, topics: [topic] });
      assert.deepEqual(kjsOffsets[0].partitions.map((p) => [p.partition, p.offset]).sort(), [
        [0, "7"],
        [1, "10"],
      ]);
      assert.deepEqual(
        (await admin.fetchOffsets(groupId, [topic])).map((o) => o.offset),
        [7n, 10n],
      );
      assert.deepEqual(await admin.groupLag(groupId), [
        { topic, partition: 0, committed: 7n, endOffset: 10n, lag: 3n },
        { topic, partition: 1, committed: 10n, endOffset: 10n, lag: 0n },
      ]);

      await rejectsWithCode(
        admin.resetOffsets(groupId, topic, { earliest: true }),
        ErrorCode.NON_EMPTY_GROUP,
        "Stable",
      );
      await rejectsWithCode(admin.deleteGroups([groupId]), ErrorCode.NON_EMPTY_GROUP);
    } finally {
      await consumer.disconnect();
    }
    assert.equal((await admin.describeGroups([groupId]))[0].state, "Empty");

    // Dry run: the plan, nothing committed.
    assert.deepEqual(await admin.resetOffsets(groupId, topic, { earliest: true }, { dryRun: true }), [
      { partition: 0, offset: 0n },
      { partition: 1, offset: 0n },
    ]);
    assert.deepEqual(
      (await admin.fetchOffsets(groupId)).map((o) => o.offset),
      [7n, 10n],
    );
    // Explicit offsets are clamped to the log's range, as kafka-consumer-groups does.
    assert.deepEqual(await admin.resetOffsets(groupId, topic, { offset: 5n }), [
      { partition: 0, offset: 5n },
      { partition: 1, offset: 5n },
    ]);
    assert.deepEqual(
      (await kjs.fetchOffsets({ groupId, topics: [topic] }))[0].partitions.map((p) => [p.partition, p.offset]).sort(),
      [
        [0, "5"],
        [1, "5"],
      ],
    );
    assert.deepEqual(
      (await admin.resetOffsets(groupId, topic, { offset: 99n })).map((p) => p.offset),
      [10n, 10n],
    );
    assert.deepEqual(
      (await admin.resetOffsets(groupId, topic, { timestampMs: 0 })).map((p) => p.offset),
      [0n, 0n],
    );
    assert.deepEqual(
      (await admin.resetOffsets(groupId, topic, { latest: true })).map((p) => p.offset),
      [10n, 10n],
    );
    assert.deepEqual(
      (await admin.groupLag(groupId)).map((l) => l.lag),
      [0n, 0n],
    );

    // A group nobody has used can be given offsets too (state Dead), like Kafka's tool allows.
    await admin.resetOffsets("adm-fresh-group", topic, { offset: 2n });
    assert.deepEqual(
      (await admin.fetchOffsets("adm-fresh-group")).map((o) => o.offset),
      [2n, 2n],
    );

    await admin.deleteGroups([groupId, "adm-fresh-group"]);
    const left = await admin.listGroups();
    assert.ok(!left.some((g) => g.groupId === groupId || g.groupId === "adm-fresh-group"), JSON.stringify(left));
    assert.ok(!(await kjs.listGroups()).groups.some((g) => g.groupId === groupId));
    await rejectsWithCode(admin.deleteGroups([groupId]), ErrorCode.GROUP_ID_NOT_FOUND);

    // __consumer_offsets exists now, and is listed only when asked for.
    assert.ok((await admin.listTopics({ includeInternal: true })).includes("__consumer_offsets"));
    assert.ok(!(await admin.listTopics()).includes("__consumer_offsets"));
  });

  test("every request went out at the newest version the broker and our codecs share", async () => {
    const conn = await admin.cluster.anyConnection();
    const sent = broker.requestVersions().filter((r) => r.clientId === "samsa-e2e-client-admin");
    const apis = new Set(sent.map((r) => r.api));
    for (const api of [
      "ApiVersions",
      "Metadata",
      "CreateTopics",
      "FindCoordinator",
      "OffsetFetch",
      "OffsetCommit",
      "ListOffsets",
      "DescribeGroups",
      "ListGroups",
    ]) {
      assert.ok(apis.has(api), `${api} was sent: ${[...apis].join(", ")}`);
    }
    for (const r of sent) {
      const range = conn.apiVersions.get(r.apiKey);
      assert.ok(range !== undefined, r.api);
      // OffsetFetch/OffsetCommit v10 address topics by id; the admin stops at v9 (names).
      const expected =
        r.api === "OffsetFetch" || r.api === "OffsetCommit" ? Math.min(9, range.maxVersion) : range.maxVersion;
      // ApiVersions itself is sent at v3 first (the newest every Kafka since 2.4 answers).
      assert.equal(r.apiVersion, r.api === "ApiVersions" ? 3 : expected, `${r.api} v${r.apiVersion}`);
    }
  });

  // Last: it restarts the broker.
  test("reconnects after the broker restarts; while it is down, calls fail with ConnectionError", async () => {
    const topicsBefore = await admin.listTopics();
    const oldPort = broker.port;
    const impatient = new Admin({ brokers: [broker.bootstrap], retry: { retries: 0 } });
    await impatient.connect();
    await broker.kill();
    await assert.rejects(impatient.listTopics(), ConnectionError);
    await impatient.close();
    broker = await broker.restart();
    // The client knows only the old address; Node listens with SO_REUSEADDR, so the port is free again.
    assert.equal(broker.port, oldPort, `the restarted broker could not take its old port ${oldPort} back`);
    assert.deepEqual(await admin.listTopics(), topicsBefore);
    assert.equal((await admin.describeTopics(["adm-a"]))[0].partitions.length, 5);
  });
});
