/**
 * The Samsa producer (@samsa/client) against a real broker process:
 *
 * - keyed records land on the partition kcat's `murmur2_random` partitioner (librdkafka's
 *   Java-compatible one) picks for the same key, for 2,400 keys over 7 and 16 partitions;
 * - every codec is read back intact by kcat, and the batches on disk keep the codec;
 * - acks 0, 1 and all;
 * - an idempotent producer streams numbered records while the broker is SIGKILLed and restarted
 *   on the same port: every record is in the log exactly once, in order;
 * - a committed and an aborted transaction (with sendOffsets), read read_committed by
 *   confluent-kafka-python.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Producer, type RecordMetadata } from "@samsa/client";
import type { Admin } from "kafkajs";
import { BrokerProcess, REPO_ROOT } from "./support/broker-process.js";
import { createTopic, harnessKafka } from "./support/groups.js";
import { CODEC_IDS, CODECS, storedBatches } from "./support/log-files.js";
import { PYTHON, requireClient, runOk } from "./support/run.js";

interface KcatMessage {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  payload: string | null;
  headers?: string[];
}

const TXN_DRIVER = path.join(REPO_ROOT, "tests/e2e/clients/txn_client.py");

let broker: BrokerProcess;
let admin: Admin;
const producers: Producer[] = [];

function producer(options: ConstructorParameters<typeof Producer>[0] = {}): Producer {
  const p = new Producer({ brokers: [broker.bootstrap], clientId: "samsa-e2e-producer", ...options });
  producers.push(p);
  return p;
}

function kcat(args: string[], input?: string) {
  return runOk("kcat", ["-b", broker.bootstrap, ...args], { input, timeoutMs: 60_000 });
}

/** Every message of a topic (all partitions) from the beginning to the end, as kcat's JSON envelopes. */
async function consumeAll(topic: string, partition?: number): Promise<KcatMessage[]> {
  const p = partition === undefined ? [] : ["-p", String(partition)];
  const r = await kcat(["-C", "-t", topic, ...p, "-o", "beginning", "-e", "-J", "-q"]);
  return r.stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as KcatMessage);
}

before(async () => {
  requireClient("kcat");
  broker = await BrokerProcess.start({
    set: [
      "group.initial.rebalance.delay.ms=0",
      "offsets.topic.num.partitions=4",
      "transaction.state.log.num.partitions=4",
    ],
  });
  admin = harnessKafka(broker.bootstrap).admin();
  await admin.connect();
});

after(async () => {
  for (const p of producers) await p.close().catch(() => undefined);
  await admin?.disconnect();
  await broker?.stop().catch(() => undefined);
  await broker?.dispose();
});

describe("Samsa producer", () => {
  for (const partitions of [7, 16]) {
    test(`keyed records land where kcat's murmur2_random puts the same key (${partitions} partitions)`, async () => {
      const ours = `murmur2-samsa-${partitions}`;
      const theirs = `murmur2-kcat-${partitions}`;
      await createTopic(admin, ours, partitions);
      await createTopic(admin, theirs, partitions);
      // ASCII, UTF-8 with bytes >= 0x80 (Java reads them as negative bytes), every length mod 4.
      const keys = Array.from(
        { length: 1200 },
        (_, i) => `${["k", "ké", "ключ", "🔑", "key-long-"][i % 5]}${i}${"x".repeat(i % 4)}`,
      );
      const p = producer({ lingerMs: 2 });
      await p.connect();
      const results = await Promise.all(keys.map((key, i) => p.send(ours, { key, value: `v${i}` })));
      const samsa = new Map(keys.map((k, i) => [k, results[i]!.partition]));
      await kcat(
        ["-P", "-t", theirs, "-K", "\t", "-X", "partitioner=murmur2_random"],
        `${keys.map((k, i) => `${k}\tv${i}`).join("\n")}\n`,
      );
      const read = await consumeAll(theirs);
      assert.equal(read.length, keys.length);
      let compared = 0;
      for (const m of read) {
        assert.equal(samsa.get(m.key!), m.partition, `key ${m.key}`);
        compared++;
      }
      assert.equal(compared, keys.length);
      // And our own records are where send() said they are.
      const back = await consumeAll(ours);
      for (const m of back) assert.equal(samsa.get(m.key!), m.partition, `stored key ${m.key}`);
    });
  }

  for (const codec of CODECS) {
    test(`compression ${codec}: kcat reads every record back intact; the batches on disk keep the codec`, async () => {
      const topic = `samsa-codec-${codec}`;
      const p = producer({ compression: codec, lingerMs: 20 });
      await p.connect();
      const records = Array.from({ length: 200 }, (_, i) => ({
        key: `key-${i}`,
        value: `value ${i} ${"compressible ".repeat(i % 20)}`,
        headers: { codec, index: String(i) },
        partition: 0,
      }));
      const mds = await p.sendBatch(topic, records);
      assert.deepEqual(
        mds.map((m) => m.offset),
        records.map((_, i) => BigInt(i)),
      );
      const got = await consumeAll(topic, 0);
      assert.equal(got.length, records.length, broker.logTail());
      got.forEach((m, i) => {
        assert.equal(m.key, records[i]!.key);
        assert.equal(m.payload, records[i]!.value);
        assert.deepEqual(m.headers, ["codec", codec, "index", String(i)]);
      });
      const batches = await storedBatches(broker.dataDir, topic, 0);
      assert.ok(batches.length > 0);
      for (const b of batches) assert.equal(b.compression, CODEC_IDS[codec], `batch at ${b.baseOffset}`);
    });
  }

  for (const acks of [0, 1, -1] as const) {
    test(`acks ${acks}`, async () => {
      const topic = `samsa-acks-${acks === -1 ? "all" : acks}`;
      const p = producer({ acks, lingerMs: 1 });
      await p.connect();
      const mds: RecordMetadata[] = await Promise.all(
        Array.from({ length: 300 }, (_, i) => p.send(topic, { value: `a${i}`, partition: 0 })),
      );
      if (acks === 0) {
        for (const m of mds) assert.equal(m.offset, -1n, "acks 0: no response, offset -1 as Kafka's producer reports");
      } else {
        assert.deepEqual(
          mds.map((m) => m.offset),
          mds.map((_, i) => BigInt(i)),
        );
      }
      await p.flush();
      // acks 0 gets no answer: wait until the broker has everything (a condition, not a sleep).
      const deadline = Date.now() + 20_000;
      let got = await consumeAll(topic, 0);
      while (got.length < 300 && Date.now() < deadline) got = await consumeAll(topic, 0);
      assert.deepEqual(
        got.map((m) => m.payload),
        mds.map((_, i) => `a${i}`),
      );
    });
  }

  test("idempotent producer, broker SIGKILLed and restarted mid-stream: every record exactly once, in order", async (t) => {
    const COUNT = 20_000;
    const KILL_AFTER_ACKS = 4_000;
    const WINDOW = 2_000;
    const topic = "samsa-idempotent";
    await createTopic(admin, topic, 1);
    const p = producer({ lingerMs: 2, batchBytes: 4096, requestTimeoutMs: 5_000 });
    await p.connect();
    let acked = 0;
    let restarted: Promise<BrokerProcess> | null = null;
    let sentAtKill = 0;
    const offsets: bigint[] = new Array(COUNT);
    const inFlight = new Set<Promise<unknown>>();
    let sentSoFar = 0;
    for (let i = 0; i < COUNT; i++) {
      sentSoFar = i + 1;
      const sent = p.send(topic, { value: String(i), partition: 0 }).then((md) => {
        offsets[i] = md.offset;
        acked++;
        if (acked === KILL_AFTER_ACKS && restarted === null) {
          sentAtKill = sentSoFar;
          const first = broker;
          restarted = first.kill().then(() => first.restart());
        }
      });
      inFlight.add(sent);
      void sent.finally(() => inFlight.delete(sent)).catch(() => undefined);
      if (inFlight.size >= WINDOW) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    assert.ok(restarted !== null, "the broker was killed mid-stream");
    broker = await restarted!;
    t.diagnostic(
      `killed with ${KILL_AFTER_ACKS} acknowledged and ${sentAtKill - KILL_AFTER_ACKS} unacknowledged; restarted on ${broker.bootstrap}`,
    );
    assert.ok(sentAtKill > KILL_AFTER_ACKS, "records were in flight when the broker died");
    const got = await consumeAll(topic, 0);
    const values = got.map((m) => Number(m.payload));
    const dupes = values.length - new Set(values).size;
    assert.equal(dupes, 0, "no record twice");
    assert.equal(values.length, COUNT, "no record lost");
    for (const [i, v] of values.entries()) assert.equal(v, i, `offset ${i}`);
    for (const [i, o] of offsets.entries()) assert.equal(o, BigInt(i), `send ${i} resolved with its offset`);
  });

  test("transactions: one committed, one aborted (with sendOffsets); read_committed sees only the committed", async () => {
    requireClient("python-confluent-kafka");
    const topic = "samsa-txn";
    await createTopic(admin, topic, 2);
    const p = producer({ transactionalId: "samsa-e2e-txn", lingerMs: 1 });
    await p.connect();
    await p.initTransactions();

    p.beginTransaction();
    await Promise.all([0, 1, 2].map((i) => p.send(topic, { key: `c${i}`, value: `committed-${i}` })));
    await p.sendOffsets("samsa-txn-group", [{ topic, partition: 0, offset: 42n }]);
    await p.commitTransaction();

    p.beginTransaction();
    await Promise.all([0, 1, 2].map((i) => p.send(topic, { key: `a${i}`, value: `aborted-${i}` })));
    await p.sendOffsets("samsa-txn-aborted-group", [{ topic, partition: 0, offset: 7n }]);
    await p.abortTransaction();

    p.beginTransaction();
    await p.send(topic, { value: "committed-last" });
    await p.commitTransaction();

    const read = async (isolation: string) => {
      const r = await runOk(PYTHON, [TXN_DRIVER, "read", broker.bootstrap, topic, isolation], { timeoutMs: 60_000 });
      const ev = r.stdout
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as { event: string; complete?: boolean; values?: [number, number, string][] })
        .find((e) => e.event === "read");
      assert.ok(ev?.complete, `read ${isolation} to the end`);
      return ev.values!.map(([, , v]) => v).sort();
    };
    assert.deepEqual(await read("read_committed"), ["committed-0", "committed-1", "committed-2", "committed-last"]);
    assert.equal((await read("read_uncommitted")).length, 7);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const [committed] = await admin.fetchOffsets({ groupId: "samsa-txn-group", topics: [topic] });
      const [aborted] = await admin.fetchOffsets({ groupId: "samsa-txn-aborted-group", topics: [topic] });
      const c = committed!.partitions.find((x) => x.partition === 0)!.offset;
      const a = aborted!.partitions.find((x) => x.partition === 0)!.offset;
      if (c === "42" && a === "-1") break;
      if (Date.now() > deadline)
        assert.deepEqual([c, a], ["42", "-1"], "offsets of the committed / aborted transaction");
      await new Promise((r) => setTimeout(r, 20));
    }
  });
});
