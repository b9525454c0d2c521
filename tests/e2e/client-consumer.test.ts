/**
 * The Samsa client's Consumer against a real broker process, with KafkaJS 2.2.4 as the reference
 * client beside it:
 *
 * - three Samsa consumers split six partitions (eager range, the default) and read every record
 *   once; a KafkaJS group splits the same topic; what the Samsa group commits, KafkaJS's admin reads;
 * - two consumers with cooperative-sticky split a topic through the two-phase protocol;
 * - mixed groups: Samsa with librdkafka or kafka-python members (range, roundrobin, cooperative-sticky) agree on
 *   one assignment whoever leads, so our assignors and embedded protocol match Java's;
 * - a group resumes from its committed offsets after close and restart; a member joining
 *   mid-stream takes over at the offsets the old owner committed before giving partitions up;
 * - assign mode (no group), seek, seekToTimestamp, pause/resume;
 * - records kcat produces with each codec (none, gzip, snappy, lz4, zstd) are read intact: keys,
 *   values, headers, null values, offsets;
 * - read_committed skips a transaction KafkaJS aborted; read_uncommitted sees it;
 * - a static member's close does not leave the group, and its restart takes its place back
 *   without a rebalance.
 *
 * Every wait is on a condition (Conditions.notify after each batch or rebalance), never a sleep.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import {
  Consumer,
  type ConsumerOptions,
  type ConsumerRecord,
  ErrorCode,
  KafkaError,
  type TopicPartition,
} from "@samsa/client";
import { type Admin, CompressionTypes } from "kafkajs";
import { BrokerProcess, REPO_ROOT } from "./support/broker-process.js";
import { ClientProcess } from "./support/client-process.js";
import {
  assignmentOf,
  Conditions,
  createTopic,
  describeGroup,
  generationOf,
  harnessKafka,
  type Member,
  type MemberEvent,
  produceRecords,
  recordsOf,
} from "./support/groups.js";
import { CODEC_IDS, CODECS, storedBatches } from "./support/log-files.js";
import { PYTHON, requireClient, runOk } from "./support/run.js";

const WAIT_MS = 30_000;

let broker: BrokerProcess;
let admin: Admin;
const conditions = new Conditions();

before(async () => {
  broker = await BrokerProcess.start({
    set: [
      "group.initial.rebalance.delay.ms=0",
      "group.min.session.timeout.ms=1000",
      "offsets.topic.num.partitions=4",
      "transaction.state.log.num.partitions=4",
    ],
  });
  admin = harnessKafka(broker.bootstrap).admin();
  await admin.connect();
});

after(async () => {
  await admin?.disconnect();
  await broker?.stop();
  await broker?.dispose();
});

/** A Samsa consumer reading in the background, its records and errors kept for the test. */
interface Reader {
  name: string;
  consumer: Consumer;
  records: ConsumerRecord[];
  /** Each onPartitionsRevoked call's partitions. */
  revoked: TopicPartition[][];
  error: unknown;
  done: Promise<void>;
}

function options(extra: ConsumerOptions): ConsumerOptions {
  return {
    brokers: [broker.bootstrap],
    clientId: "samsa-e2e-consumer",
    autoOffsetReset: "earliest",
    heartbeatIntervalMs: 100,
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 10_000,
    maxWaitMs: 100,
    ...extra,
  };
}

async function startReader(
  name: string,
  opts: ConsumerOptions,
  setup: (c: Consumer, r: Reader) => void,
): Promise<Reader> {
  const consumer = new Consumer(options(opts));
  await consumer.connect();
  const reader: Reader = { name, consumer, records: [], revoked: [], error: null, done: Promise.resolve() };
  setup(consumer, reader);
  reader.done = (async () => {
    try {
      for await (const batch of consumer) {
        reader.records.push(...batch.records);
        conditions.notify();
      }
    } catch (err) {
      reader.error = err;
      conditions.notify();
    }
  })();
  return reader;
}

function subscribeReader(name: string, groupId: string, topic: string, extra: ConsumerOptions = {}): Promise<Reader> {
  return startReader(name, { groupId, ...extra }, (c, reader) =>
    c.subscribe([topic], {
      onPartitionsAssigned: () => conditions.notify(),
      onPartitionsRevoked: (partitions) => {
        reader.revoked.push(partitions);
        conditions.notify();
      },
    }),
  );
}

async function stopAll(readers: readonly Reader[]): Promise<void> {
  await Promise.all(readers.map((r) => r.consumer.close()));
  await Promise.all(readers.map((r) => r.done));
  for (const r of readers) assert.equal(r.error, null, `${r.name} failed: ${String(r.error)}`);
}

function context(readers: readonly Reader[]): () => string {
  return () =>
    readers
      .map(
        (r) =>
          `${r.name}: gen ${r.consumer.groupMetadata()?.generationId} ${JSON.stringify(r.consumer.assignment())} ${r.records.length} records ${String(r.error ?? "")}`,
      )
      .join("\n");
}

/** Resolves once the readers hold disjoint assignments covering partitions 0..count-1 in one generation. */
function waitForSplit(readers: readonly Reader[], count: number): Promise<TopicPartition[][]> {
  return conditions.waitFor(
    () => {
      for (const r of readers) if (r.error !== null) throw r.error;
      const generations = new Set(readers.map((r) => r.consumer.groupMetadata()?.generationId));
      if (generations.size !== 1) return undefined;
      const assignments = readers.map((r) => r.consumer.assignment());
      const all = assignments.flat().map((tp) => tp.partition);
      if (all.length !== count || new Set(all).size !== count) return undefined;
      if (
        assignments.some(
          (a) => a.length !== Math.floor(count / readers.length) && a.length !== Math.ceil(count / readers.length),
        )
      )
        return undefined;
      return assignments;
    },
    WAIT_MS,
    `${readers.length} members split ${count} partitions`,
    context(readers),
  );
}

async function waitForRecords(readers: readonly Reader[], total: number): Promise<void> {
  await conditions.waitFor(
    () => {
      for (const r of readers) if (r.error !== null) throw r.error;
      return readers.reduce((n, r) => n + r.records.length, 0) >= total ? true : undefined;
    },
    WAIT_MS,
    `${total} records consumed`,
    context(readers),
  );
}

const valuesOf = (records: readonly ConsumerRecord[]) => records.map((r) => r.value?.toString() ?? "");

describe("Samsa consumer groups", () => {
  test("three Samsa consumers split six partitions and read every record once; KafkaJS splits it too and reads Samsa's commits", async () => {
    const topic = "cc-split";
    const group = "cc-samsa-group";
    await createTopic(admin, topic, 6);
    const readers: Reader[] = [];
    for (const name of ["s1", "s2", "s3"])
      readers.push(await subscribeReader(name, group, topic, { autoCommit: false }));
    const split = await waitForSplit(readers, 6);
    const produced = await produceRecords(broker.bootstrap, topic, 6, 10, "split");
    await waitForRecords(readers, produced.length);

    const seen = readers.flatMap((r) => valuesOf(r.records));
    assert.equal(seen.length, produced.length, "no record twice");
    assert.deepEqual([...seen].sort(), produced.map((p) => p.v).sort(), "every record");
    readers.forEach((r, i) => {
      const mine = new Set(split[i].map((tp) => tp.partition));
      assert.ok(
        r.records.every((rec) => mine.has(rec.partition)),
        `${r.name} read only its partitions`,
      );
    });

    // Manual commits, then KafkaJS's admin reads them.
    await Promise.all(readers.map((r) => r.consumer.commit()));
    const [fetched] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    assert.deepEqual(
      fetched.partitions.map((p) => [p.partition, p.offset]).sort((a, b) => Number(a[0]) - Number(b[0])),
      [0, 1, 2, 3, 4, 5].map((p) => [p, "10"]),
    );
    const described = await describeGroup(admin, group, topic);
    assert.equal(described.state, "Stable");
    assert.equal(described.protocol, "range");
    assert.deepEqual([...described.assignments.values()].flat().sort(), [0, 1, 2, 3, 4, 5]);
    await stopAll(readers);
    assert.equal((await describeGroup(admin, group, topic)).members.length, 0, "dynamic members left on close");

    // A KafkaJS group on the same topic splits it between its members and reads everything.
    const kafkaJsGroup = "cc-kafkajs-group";
    const kafka = harnessKafka(broker.bootstrap, "cc-kafkajs");
    const members = [0, 1, 2].map(() =>
      kafka.consumer({ groupId: kafkaJsGroup, heartbeatInterval: 100, sessionTimeout: 10_000 }),
    );
    const byMember = members.map(() => new Set<string>());
    const assigned = members.map(() => [] as number[]);
    try {
      await Promise.all(
        members.map(async (m, i) => {
          m.on(m.events.GROUP_JOIN, (e) => {
            assigned[i] = [...(e.payload.memberAssignment[topic] ?? [])];
            conditions.notify();
          });
          await m.connect();
          await m.subscribe({ topic, fromBeginning: true });
          await m.run({
            eachMessage: async ({ message }) => {
              byMember[i].add(message.value?.toString() ?? "");
              conditions.notify();
            },
          });
        }),
      );
      await conditions.waitFor(
        () => {
          const parts = assigned.flat();
          if (parts.length !== 6 || new Set(parts).size !== 6) return undefined;
          const union = new Set(byMember.flatMap((s) => [...s]));
          return union.size === produced.length ? true : undefined;
        },
        WAIT_MS,
        "the KafkaJS group split the topic and read every record",
        () => JSON.stringify(assigned),
      );
    } finally {
      await Promise.all(members.map((m) => m.disconnect()));
    }
  });

  test("cooperative-sticky: two members split four partitions through the two-phase protocol", async () => {
    const topic = "cc-coop";
    const group = "cc-coop-group";
    await createTopic(admin, topic, 4);
    const first = await subscribeReader("c1", group, topic, { assignors: ["cooperative-sticky"] });
    await waitForSplit([first], 4);
    const second = await subscribeReader("c2", group, topic, { assignors: ["cooperative-sticky"] });
    const [a1] = await waitForSplit([first, second], 4);
    // Sticky and incremental: the first member kept two partitions throughout and revoked only the two that moved.
    assert.equal(a1.length, 2);
    assert.deepEqual(
      first.revoked.map((r) => r.length),
      [2],
    );
    assert.deepEqual(second.revoked, []);
    const produced = await produceRecords(broker.bootstrap, topic, 4, 5, "coop");
    await waitForRecords([first, second], produced.length);
    const seen = [first, second].flatMap((r) => valuesOf(r.records));
    assert.deepEqual([...seen].sort(), produced.map((p) => p.v).sort());
    assert.equal((await describeGroup(admin, group, topic)).protocol, "cooperative-sticky");
    await stopAll([first, second]);
  });

  test("a consumer in a group resumes from committed offsets after close and restart", async () => {
    const topic = "cc-resume";
    const group = "cc-resume-group";
    await createTopic(admin, topic, 2);
    const firstBatch = await produceRecords(broker.bootstrap, topic, 2, 10, "before");
    const first = await subscribeReader("r1", group, topic); // auto-commit on close
    await waitForRecords([first], firstBatch.length);
    await stopAll([first]);
    const [fetched] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    assert.deepEqual(fetched.partitions.map((p) => p.offset).sort(), ["10", "10"]);

    const secondBatch = await produceRecords(broker.bootstrap, topic, 2, 5, "after");
    const second = await subscribeReader("r2", group, topic);
    await waitForRecords([second], secondBatch.length);
    assert.deepEqual(
      valuesOf(second.records).sort(),
      secondBatch.map((p) => p.v).sort(),
      "only what came after the commit",
    );
    await stopAll([second]);
  });

  test("a member joining mid-stream: the old owner commits before giving partitions up, so nothing is read twice", async () => {
    const topic = "cc-handover";
    const group = "cc-handover-group";
    await createTopic(admin, topic, 4);
    // Only the commit before the rebalance can save the first member's progress.
    const noTimer = { autoCommitIntervalMs: 600_000 };
    const before = await produceRecords(broker.bootstrap, topic, 4, 5, "before");
    const first = await subscribeReader("h1", group, topic, noTimer);
    await waitForRecords([first], before.length);
    const second = await subscribeReader("h2", group, topic, noTimer);
    await waitForSplit([first, second], 4);
    const later = await produceRecords(broker.bootstrap, topic, 4, 5, "after");
    await waitForRecords([first, second], before.length + later.length);
    const seen = [first, second].flatMap((r) => valuesOf(r.records));
    assert.deepEqual(seen.sort(), [...before, ...later].map((p) => p.v).sort(), "every record once");
    assert.ok(
      valuesOf(second.records).every((v) => v.startsWith("after")),
      "the new member started at the commits",
    );
    await stopAll([first, second]);
  });

  test("a static member's close does not leave the group (as Kafka)", async () => {
    const topic = "cc-static";
    const group = "cc-static-group";
    await createTopic(admin, topic, 1);
    const staticOptions = { groupInstanceId: "instance-a", sessionTimeoutMs: 5000 };
    const reader = await subscribeReader("static", group, topic, staticOptions);
    await waitForSplit([reader], 1);
    const generation = reader.consumer.groupMetadata()?.generationId;
    await stopAll([reader]);
    const described = await describeGroup(admin, group, topic);
    assert.equal(described.members.length, 1, "still a member until the session times out");
    assert.equal(described.members[0].clientId, "samsa-e2e-consumer");
    // The same instance id comes back: it takes over its old assignment without a rebalance (KIP-345).
    const restarted = await subscribeReader("static-again", group, topic, staticOptions);
    await waitForSplit([restarted], 1);
    assert.equal(restarted.consumer.groupMetadata()?.generationId, generation, "no new generation");
    await stopAll([restarted]);
  });
});

describe("mixed groups: Samsa members with librdkafka (confluent-kafka-python 1.7.0) or kafka-python 2.0.2", () => {
  const DRIVER = path.join(REPO_ROOT, "tests/e2e/clients/group_member.py");
  for (const [client, assignor, samsaLeads] of [
    ["confluent", "range", true],
    ["confluent", "roundrobin", false],
    ["confluent", "cooperative-sticky", true],
    ["confluent", "cooperative-sticky", false],
    ["kafka-python", "range", false],
    ["kafka-python", "roundrobin", true],
  ] as const) {
    const other = client === "confluent" ? "librdkafka" : "kafka-python";
    test(`${assignor} with ${other}, ${samsaLeads ? "a Samsa" : `a ${other}`} leader: one split, every record read`, async () => {
      requireClient(client === "confluent" ? "python-confluent-kafka" : "python-kafka");
      const topic = `cc-mixed-${client}-${assignor}-${samsaLeads ? "samsa" : "other"}`;
      const group = `${topic}-group`;
      await createTopic(admin, topic, 6);
      const samsa: Reader[] = [];
      let foreign: Member | undefined;
      const startForeign = () => {
        foreign = ClientProcess.spawn<MemberEvent>(`${client}-${assignor}`, PYTHON, [
          DRIVER,
          client,
          broker.bootstrap,
          group,
          topic,
          JSON.stringify({
            client_id: `${client}-${assignor}`,
            assignor,
            session_timeout_ms: 10_000,
            heartbeat_interval_ms: 100,
          }),
        ]);
        foreign.onChange(() => conditions.notify());
      };
      try {
        if (!samsaLeads) {
          startForeign();
          await foreign!.waitFor(
            (events) => (events.some((e) => e.event === "assign") ? true : undefined),
            WAIT_MS,
            "first assignment",
          );
        }
        samsa.push(await subscribeReader(`samsa-${assignor}-1`, group, topic, { assignors: [assignor] }));
        if (samsaLeads) await waitForSplit(samsa, 6);
        samsa.push(await subscribeReader(`samsa-${assignor}-2`, group, topic, { assignors: [assignor] }));
        if (samsaLeads) startForeign();
        const member = foreign!;
        const split = await conditions.waitFor(
          () => {
            for (const r of samsa) if (r.error !== null) throw r.error;
            const generations = new Set([
              ...samsa.map((r) => r.consumer.groupMetadata()?.generationId),
              generationOf(member),
            ]);
            if (generations.size !== 1) return undefined;
            const parts = [
              ...samsa.map((r) => r.consumer.assignment().map((tp) => tp.partition)),
              assignmentOf(member) ?? [],
            ];
            if (parts.some((p) => p.length !== 2) || new Set(parts.flat()).size !== 6) return undefined;
            return parts;
          },
          WAIT_MS,
          "the mixed group split six partitions two by two",
          () =>
            `${context(samsa)()}\n${other}: ${JSON.stringify(assignmentOf(member))} gen ${generationOf(member)}\n${member.tail()}`,
        );
        const described = await describeGroup(admin, group, topic);
        assert.equal(described.protocol, assignor);
        assert.deepEqual(
          [...described.assignments.values()].map((a) => a.length),
          [2, 2, 2],
        );
        const produced = await produceRecords(broker.bootstrap, topic, 6, 5, `mixed-${assignor}`);
        await conditions.waitFor(
          () => {
            const n = samsa.reduce((sum, r) => sum + r.records.length, 0) + recordsOf(member).length;
            return n >= produced.length ? true : undefined;
          },
          WAIT_MS,
          "every record read by the mixed group",
        );
        const seen = [...samsa.flatMap((r) => valuesOf(r.records)), ...recordsOf(member).map((r) => r.v)];
        assert.deepEqual(seen.sort(), produced.map((p) => p.v).sort(), "each record once");
        assert.ok(
          recordsOf(member).every((r) => split[2].includes(r.p)),
          `${other} read only its partitions`,
        );
      } finally {
        await stopAll(samsa);
        await foreign?.close("close", 20_000).catch(() => foreign?.kill());
      }
    });
  }
});

describe("Samsa consumer without a group", () => {
  test("assign mode, seek, seekToTimestamp, pause and resume", async () => {
    const topic = "cc-assign";
    await createTopic(admin, topic, 1);
    const producer = harnessKafka(broker.bootstrap).producer();
    await producer.connect();
    const base = Date.now() - 60_000;
    await producer.send({
      topic,
      acks: -1,
      messages: Array.from({ length: 10 }, (_, i) => ({
        partition: 0,
        value: `v${i}`,
        timestamp: String(base + i * 1000),
      })),
    });
    await producer.disconnect();

    const tp = { topic, partition: 0 };
    const reader = await startReader("assign", {}, (c) => c.assign([tp]));
    await waitForRecords([reader], 10);
    assert.deepEqual(
      valuesOf(reader.records),
      Array.from({ length: 10 }, (_, i) => `v${i}`),
    );
    assert.equal(reader.records[3].timestampMs, base + 3000);
    assert.deepEqual(reader.consumer.assignment(), [tp]);
    assert.equal(reader.consumer.groupMetadata(), null);

    reader.records.length = 0;
    reader.consumer.seek(tp, 5n);
    await waitForRecords([reader], 5);
    assert.deepEqual(valuesOf(reader.records), ["v5", "v6", "v7", "v8", "v9"]);

    reader.records.length = 0;
    await reader.consumer.seekToTimestamp(tp, base + 7000);
    await waitForRecords([reader], 3);
    assert.deepEqual(valuesOf(reader.records), ["v7", "v8", "v9"]);

    // Past the end: OFFSET_OUT_OF_RANGE, and autoOffsetReset (earliest) starts over.
    reader.records.length = 0;
    reader.consumer.seek(tp, 1000n);
    await waitForRecords([reader], 10);
    assert.equal(reader.records[0].offset, 0n);

    reader.records.length = 0;
    reader.consumer.pause([tp]);
    reader.consumer.seekToBeginning([tp]);
    reader.consumer.resume([tp]);
    await waitForRecords([reader], 10);
    assert.equal(reader.records[0].offset, 0n);
    await stopAll([reader]);
  });

  test("assign mode with a group id commits; a seek made while holding a batch wins over the batch", async () => {
    const topic = "cc-seek-in-loop";
    const group = "cc-seek-in-loop-group";
    await createTopic(admin, topic, 1);
    await produceRecords(broker.bootstrap, topic, 1, 10, "seek");
    const tp = { topic, partition: 0 };
    const consumer = new Consumer(options({ groupId: group, autoCommit: false }));
    await consumer.connect();
    consumer.assign([tp]);
    try {
      for await (const batch of consumer) {
        assert.equal(batch.records[0].offset, 0n);
        consumer.seek(tp, 3n);
        break;
      }
      await consumer.commit();
      const [fetched] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      assert.equal(fetched.partitions[0].offset, "3");
    } finally {
      await consumer.close();
    }
  });

  test('autoOffsetReset "none": no offset is an error from the loop; after a seek the consumer reads again', async () => {
    const topic = "cc-reset-none";
    await createTopic(admin, topic, 1);
    const produced = await produceRecords(broker.bootstrap, topic, 1, 3, "none");
    const tp = { topic, partition: 0 };
    const consumer = new Consumer(options({ autoOffsetReset: "none" }));
    await consumer.connect();
    consumer.assign([tp]);
    try {
      await assert.rejects(
        consumer[Symbol.asyncIterator]().next(),
        (err: unknown) => err instanceof KafkaError && err.code === ErrorCode.OFFSET_OUT_OF_RANGE,
      );
      consumer.seek(tp, 1n);
      const { value } = await consumer[Symbol.asyncIterator]().next();
      assert.deepEqual(
        valuesOf(value?.records ?? []),
        produced.slice(1).map((p) => p.v),
      );
    } finally {
      await consumer.close();
    }
  });

  test("run() with eachRecord; a paused partition is not fetched until resumed; gzip batches decode", async () => {
    const topic = "cc-pause";
    await createTopic(admin, topic, 2);
    const consumer = new Consumer(options({}));
    await consumer.connect();
    const p0 = { topic, partition: 0 };
    const p1 = { topic, partition: 1 };
    consumer.assign([p0, p1]);
    consumer.pause([p0]);
    const seen: ConsumerRecord[] = [];
    const running = consumer.run({
      eachRecord: async (r) => {
        seen.push(r);
        conditions.notify();
      },
    });
    const producer = harnessKafka(broker.bootstrap).producer();
    await producer.connect();
    await producer.send({
      topic,
      acks: -1,
      compression: CompressionTypes.GZIP,
      messages: [0, 1, 0, 1].map((partition, i) => ({ partition, value: `m${i}` })),
    });
    await producer.disconnect();
    const count = (partition: number) => seen.filter((r) => r.partition === partition).length;
    await conditions.waitFor(() => (count(1) === 2 ? true : undefined), WAIT_MS, "partition 1 read");
    // Both partitions share a leader, so any fetch that brought partition 1 would have brought 0 too.
    assert.equal(count(0), 0, "paused partition 0 was not fetched");
    consumer.resume([p0]);
    await conditions.waitFor(() => (count(0) === 2 ? true : undefined), WAIT_MS, "partition 0 read after resume");
    assert.deepEqual(valuesOf(seen.filter((r) => r.partition === 0)), ["m0", "m2"]);
    await consumer.close();
    await running;
  });

  for (const codec of CODECS) {
    test(`records kcat produces with compression ${codec} are read intact`, async () => {
      requireClient("kcat");
      const topic = `cc-kcat-${codec}`;
      await createTopic(admin, topic, 1);
      // Keys, UTF-8 beyond ASCII, compressible and incompressible values, one null value (-Z),
      // headers on every record: several batches of ~1,000 lines each.
      const COUNT = 3000;
      const lines = Array.from({ length: COUNT }, (_, i) => {
        const value =
          i % 500 === 7
            ? ""
            : i % 3 === 0
              ? `välue-${i}-${"compressible ".repeat(i % 30)}`
              : `${i}-${(Math.imul(i + 1, 0x9e3779b1) >>> 0).toString(36)}${(Math.imul(i + 7, 0x85ebca6b) >>> 0).toString(36)}`;
        return `k${i}:${value}`;
      });
      await runOk(
        "kcat",
        [
          "-b",
          broker.bootstrap,
          "-P",
          "-t",
          topic,
          "-p",
          "0",
          "-K",
          ":",
          "-Z",
          "-z",
          codec,
          "-H",
          `codec=${codec}`,
          "-H",
          "empty=",
          "-X",
          "linger.ms=50",
          "-X",
          "batch.num.messages=700",
        ],
        { input: `${lines.join("\n")}\n`, timeoutMs: 60_000 },
      );
      const batches = await storedBatches(broker.dataDir, topic, 0);
      assert.ok(batches.length > 1, `several batches (${batches.length})`);
      for (const b of batches) assert.equal(b.compression, CODEC_IDS[codec], `kcat's batch at ${b.baseOffset}`);

      const tp = { topic, partition: 0 };
      const reader = await startReader(`kcat-${codec}`, {}, (c) => {
        c.assign([tp]);
        c.seekToBeginning([tp]);
      });
      await waitForRecords([reader], COUNT);
      await stopAll([reader]);
      assert.equal(reader.records.length, COUNT, "no record twice");
      reader.records.forEach((r, i) => {
        const at = lines[i]!.indexOf(":");
        const value = lines[i]!.slice(at + 1);
        assert.equal(r.offset, BigInt(i));
        assert.equal(r.key?.toString(), lines[i]!.slice(0, at), `key at ${i}`);
        if (value === "") assert.equal(r.value, null, `null value at ${i} (kcat -Z)`);
        else assert.equal(r.value?.toString(), value, `value at ${i}`);
        assert.deepEqual(
          r.headers.map((h) => [h.key, h.value?.toString()]),
          [
            ["codec", codec],
            ["empty", ""],
          ],
          `headers at ${i}`,
        );
      });
    });
  }

  test("read_committed skips a transaction KafkaJS aborted; read_uncommitted sees it", async () => {
    const topic = "cc-txn";
    await createTopic(admin, topic, 1);
    const producer = harnessKafka(broker.bootstrap).producer({
      transactionalId: "cc-txn-producer",
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await producer.connect();
    try {
      const aborted = await producer.transaction();
      await aborted.send({
        topic,
        messages: [
          { partition: 0, value: "aborted-1" },
          { partition: 0, value: "aborted-2" },
        ],
      });
      await aborted.abort();
      const committed = await producer.transaction();
      await committed.send({
        topic,
        messages: [
          { partition: 0, value: "committed-1" },
          { partition: 0, value: "committed-2" },
        ],
      });
      await committed.commit();
    } finally {
      await producer.disconnect();
    }
    const tp = { topic, partition: 0 };
    const rc = await startReader("read-committed", { isolationLevel: "read_committed" }, (c) => c.assign([tp]));
    const ru = await startReader("read-uncommitted", { isolationLevel: "read_uncommitted" }, (c) => c.assign([tp]));
    await waitForRecords([rc], 2);
    await waitForRecords([ru], 4);
    assert.deepEqual(valuesOf(rc.records), ["committed-1", "committed-2"]);
    assert.deepEqual(valuesOf(ru.records), ["aborted-1", "aborted-2", "committed-1", "committed-2"]);
    await stopAll([rc, ru]);
  });
});
