/**
 * Retention and DeleteRecords against a real broker process with KafkaJS 2.2.4: admin
 * deleteTopicRecords moves the low watermark (fetchTopicOffsets), a consumer from the beginning
 * starts there, the segments below it leave the data directory at the next retention pass, and the
 * start survives a SIGKILL; retention.ms deletes a topic's records end to end (the retention check
 * lowered to a second, file.delete.delay.ms to 0).
 */
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import kafkajs, { type Admin, type Producer } from "kafkajs";
import { BrokerProcess } from "./support/broker-process.js";

const { Kafka, logLevel } = kafkajs;

const RETENTION_CHECK_MS = 1000;
/** Several retention passes: the first runs up to a check interval after the condition holds. */
const RETENTION_WAIT_MS = 15_000;

let broker: BrokerProcess;
let kafka: InstanceType<typeof Kafka>;
let admin: Admin;
let producer: Producer;

function connect(b: BrokerProcess) {
  kafka = new Kafka({
    clientId: "samsa-e2e-retention",
    brokers: [b.bootstrap],
    logLevel: logLevel.NOTHING,
    retry: { retries: 5, initialRetryTime: 100 },
  });
  admin = kafka.admin();
  producer = kafka.producer({ allowAutoTopicCreation: false });
  return Promise.all([admin.connect(), producer.connect()]);
}

async function disconnect() {
  await Promise.allSettled([admin?.disconnect(), producer?.disconnect()]);
}

before(async () => {
  broker = await BrokerProcess.start({
    set: [
      `log.retention.check.interval.ms=${RETENTION_CHECK_MS}`,
      "log.segment.delete.delay.ms=0",
      "group.initial.rebalance.delay.ms=0",
    ],
  });
  await connect(broker);
});

after(async () => {
  await disconnect();
  await broker?.stop();
  await broker?.dispose();
});

async function produce(topic: string, count: number, timestamp?: number): Promise<void> {
  // One record per request: each is its own batch, so small segments roll often.
  for (let i = 0; i < count; i++) {
    await producer.send({
      topic,
      acks: -1,
      messages: [{ key: `k${i}`, value: "x".repeat(200), timestamp: String(timestamp ?? Date.now()) }],
    });
  }
}

async function offsets(topic: string): Promise<{ low: bigint; high: bigint }> {
  const [p] = await admin.fetchTopicOffsets(topic);
  return { low: BigInt(p!.low), high: BigInt(p!.high) };
}

/** Base offsets of the segment files (`.log`, not `.deleted`) of a partition, ascending. */
async function segmentFiles(topic: string): Promise<{ bases: bigint[]; deleted: number }> {
  const names = await readdir(path.join(broker.dataDir, `${topic}-0`));
  return {
    bases: names
      .filter((n) => /^\d{20}\.log$/.test(n))
      .map((n) => BigInt(n.slice(0, 20)))
      .sort((a, b) => (a < b ? -1 : 1)),
    deleted: names.filter((n) => n.endsWith(".deleted")).length,
  };
}

async function waitFor<T>(what: string, probe: () => Promise<T>, done: (v: T) => boolean): Promise<T> {
  const deadline = Date.now() + RETENTION_WAIT_MS;
  for (;;) {
    const v = await probe();
    if (done(v)) return v;
    if (Date.now() > deadline)
      throw new Error(
        `${what}: still ${JSON.stringify(v, (_, x) => (typeof x === "bigint" ? String(x) : x))}\n${broker.logTail(20)}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The Kafka error type KafkaJS reports, wherever it nests it (partitions[].error, cause, originalError). */
async function kafkaErrorType(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    const queue: unknown[] = [e];
    while (queue.length > 0) {
      const x = queue.shift() as {
        type?: string;
        partitions?: { error?: unknown }[];
        cause?: unknown;
        originalError?: unknown;
      } | null;
      if (x === undefined || x === null) continue;
      if (typeof x.type === "string") return x.type;
      queue.push(...(x.partitions ?? []).map((p) => p.error), x.cause, x.originalError);
    }
    return String((e as Error).message);
  }
  throw new Error("expected the request to fail");
}

async function firstConsumedOffset(topic: string): Promise<bigint> {
  const consumer = kafka.consumer({ groupId: `retention-${topic}-${Date.now()}` });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    return await new Promise<bigint>((resolve, reject) => {
      consumer.run({ eachMessage: async ({ message }) => resolve(BigInt(message.offset)) }).catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
}

describe("KafkaJS admin deleteTopicRecords", () => {
  test("moves the low watermark; consumers start there; segments below it are deleted; it survives SIGKILL", async () => {
    const topic = "retention-delete-records";
    await admin.createTopics({
      topics: [{ topic, numPartitions: 1, configEntries: [{ name: "segment.bytes", value: "2048" }] }],
    });
    await produce(topic, 40);
    assert.deepEqual(await offsets(topic), { low: 0n, high: 40n });
    const before = await segmentFiles(topic);
    assert.ok(before.bases.length >= 4, `${before.bases.length} segments`);

    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: "25" }] });
    assert.deepEqual(await offsets(topic), { low: 25n, high: 40n });
    assert.equal(await firstConsumedOffset(topic), 25n);

    // The next retention pass deletes every segment wholly below 25 (and, with no delay, its files).
    const after = await waitFor(
      "segments below the log start offset deleted",
      () => segmentFiles(topic),
      (s) => s.bases[0]! <= 25n && (s.bases[1] ?? 26n) > 25n && s.deleted === 0,
    );
    assert.ok(after.bases.length < before.bases.length);

    // Acknowledged means checkpointed: a crash right after keeps the start.
    await disconnect();
    await broker.kill();
    broker = await broker.restart();
    await connect(broker);
    assert.deepEqual(await offsets(topic), { low: 25n, high: 40n });

    // -1: everything below the high watermark.
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: "-1" }] });
    assert.deepEqual(await offsets(topic), { low: 40n, high: 40n });
    await produce(topic, 1);
    assert.equal(await firstConsumedOffset(topic), 40n);
  });

  test("an offset past the high watermark is refused with OFFSET_OUT_OF_RANGE", async () => {
    const topic = "retention-delete-records-range";
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
    await produce(topic, 3);
    // KafkaJS finds the partition leader in metadata it already holds: fetchTopicOffsets loads it.
    assert.deepEqual(await offsets(topic), { low: 0n, high: 3n });
    assert.equal(
      await kafkaErrorType(admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: "4" }] })),
      "OFFSET_OUT_OF_RANGE",
    );
    assert.deepEqual(await offsets(topic), { low: 0n, high: 3n });
  });
});

describe("retention by time", () => {
  test("retention.ms deletes old records end to end, rolling the expired active segment", async () => {
    const topic = "retention-time";
    await admin.createTopics({
      topics: [{ topic, numPartitions: 1, configEntries: [{ name: "segment.bytes", value: "2048" }] }],
    });
    // Records stamped an hour ago, then a retention of a minute: all of them are expired.
    await produce(topic, 20, Date.now() - 3_600_000);
    assert.deepEqual(await offsets(topic), { low: 0n, high: 20n });
    await admin.alterConfigs({
      validateOnly: false,
      resources: [{ type: 2, name: topic, configEntries: [{ name: "retention.ms", value: "60000" }] }],
    });
    await waitFor(
      "expired records deleted",
      () => offsets(topic),
      (o) => o.low === 20n,
    );
    const files = await waitFor(
      "one empty segment at the log end",
      () => segmentFiles(topic),
      (s) => s.deleted === 0 && s.bases.length === 1,
    );
    assert.deepEqual(files.bases, [20n]);
    // New records are young: they stay. An absence cannot be awaited, so a witness topic with
    // expired records, produced after them, shows that a retention pass has run since.
    await produce(topic, 3);
    const witness = "retention-time-witness";
    await admin.createTopics({
      topics: [{ topic: witness, numPartitions: 1, configEntries: [{ name: "retention.ms", value: "60000" }] }],
    });
    await produce(witness, 2, Date.now() - 3_600_000);
    await waitFor(
      "the witness's expired records deleted",
      () => offsets(witness),
      (o) => o.low === 2n,
    );
    assert.deepEqual(await offsets(topic), { low: 20n, high: 23n });
  });
});
