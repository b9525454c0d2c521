/**
 * Transactions end to end on a broker process: confluent-kafka-python 1.7.0 (librdkafka 2.0.2)
 * through clients/txn_client.py, and KafkaJS 2.2.4 in process.
 *
 * - interleaved committed and aborted transactions: read_committed sees exactly the committed
 *   records, read_uncommitted every record (the markers themselves are never returned);
 * - a consume-transform-produce loop with send_offsets_to_transaction, SIGKILLed mid-way and
 *   restarted with the same transactional id: the output topic read_committed holds exactly one
 *   output per input;
 * - a zombie producer is fenced by a new one with the same transactional id;
 * - KafkaJS transactions with sendOffsets: offsets visible only once the transaction commits.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Admin } from "kafkajs";
import { BrokerProcess, REPO_ROOT } from "./support/broker-process.js";
import { ClientProcess } from "./support/client-process.js";
import { createTopic, harnessKafka } from "./support/groups.js";
import { PYTHON, requireClient, runOk } from "./support/run.js";

const DRIVER = path.join(REPO_ROOT, "tests/e2e/clients/txn_client.py");
const CLIENT_TIMEOUT_MS = 60_000;

let broker: BrokerProcess;
let admin: Admin;

before(async () => {
  broker = await BrokerProcess.start({
    set: [
      "group.initial.rebalance.delay.ms=0",
      "group.min.session.timeout.ms=1000",
      "offsets.topic.num.partitions=4",
      "transaction.state.log.num.partitions=4",
      "transaction.abort.timed.out.transaction.cleanup.interval.ms=1000",
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

type Event = { event: string; [key: string]: unknown };

async function py(args: string[]): Promise<Event[]> {
  const r = await runOk(PYTHON, [DRIVER, ...args], { timeoutMs: CLIENT_TIMEOUT_MS });
  return r.stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Event);
}

/** The committed offset of partition 0 once it equals `offset` (markers complete after EndTxn is answered). */
async function waitForCommitted(groupId: string, topic: string, offset: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const [fetched] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const actual = fetched!.partitions[0]!.offset;
    if (actual === offset) return;
    if (Date.now() > deadline) assert.equal(actual, offset, `committed offset of ${groupId}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function readAll(topic: string, isolation: "read_committed" | "read_uncommitted"): Promise<string[]> {
  const events = await py(["read", broker.bootstrap, topic, isolation]);
  const read = events.find((e) => e.event === "read");
  assert.ok(read?.complete, `read ${topic} ${isolation} to the end`);
  return (read.values as [number, number, string][]).map(([, , value]) => value);
}

describe("confluent-kafka-python (librdkafka 2.0.2)", () => {
  test("interleaved commits and aborts: read_committed sees the committed ones, read_uncommitted all", async () => {
    requireClient("python-confluent-kafka");
    const topic = "txn-interleaved";
    await createTopic(admin, topic, 2);
    const events = await py(["interleaved", broker.bootstrap, "txn-interleaved-producer", topic, "6"]);
    assert.equal(events.filter((e) => e.event === "txn").length, 6);
    const all = Array.from({ length: 6 }, (_, i) => [0, 1, 2].map((j) => `t${i}-r${j}`)).flat();
    const committed = all.filter((v) => Number(v.slice(1, v.indexOf("-"))) % 2 === 0);
    assert.deepEqual((await readAll(topic, "read_committed")).sort(), committed.sort());
    assert.deepEqual((await readAll(topic, "read_uncommitted")).sort(), all.sort());
  });

  test("consume-transform-produce killed mid-way and restarted: exactly one output per input", async () => {
    requireClient("python-confluent-kafka");
    const input = "txn-ctp-in";
    const output = "txn-ctp-out";
    const group = "txn-ctp-group";
    const total = 60;
    await createTopic(admin, input, 2);
    await createTopic(admin, output, 2);
    const producer = harnessKafka(broker.bootstrap).producer();
    await producer.connect();
    await producer.send({
      topic: input,
      messages: Array.from({ length: total }, (_, i) => ({ partition: i % 2, value: `in-${i}` })),
    });
    await producer.disconnect();

    const args = [DRIVER, "ctp", broker.bootstrap, "txn-ctp", group, input, output, String(total)];
    const first = ClientProcess.spawn<Event>("ctp-1", PYTHON, args);
    // Killed after a few transactions, most likely inside an open one (it sleeps before each commit).
    await first.waitFor(
      (events) => (events.filter((e) => e.event === "committed").length >= 3 ? true : undefined),
      CLIENT_TIMEOUT_MS,
      "three transactions committed",
    );
    await first.kill();
    const second = ClientProcess.spawn<Event>("ctp-2", PYTHON, args);
    await second.waitForEvent((e) => e.event === "done", CLIENT_TIMEOUT_MS, "all input processed");
    await second.close("", 10_000).catch(() => undefined);

    const outputs = await readAll(output, "read_committed");
    const expected = Array.from({ length: total }, (_, i) => `out-in-${i}`);
    assert.deepEqual([...outputs].sort(), [...expected].sort(), "each input exactly once in the output");
    const [fetched] = await admin.fetchOffsets({ groupId: group, topics: [input] });
    assert.equal(
      fetched!.partitions.reduce((sum, p) => sum + Number(p.offset), 0),
      total,
      "the committed offsets cover every input",
    );
  });

  test("a zombie producer is fenced by a new producer with the same transactional id", async () => {
    requireClient("python-confluent-kafka");
    const topic = "txn-zombie";
    await createTopic(admin, topic, 1);
    const events = await py(["zombie", broker.bootstrap, "txn-zombie-producer", topic]);
    const failed = events.find((e) => e.event === "zombie-failed");
    assert.ok(failed, `the zombie's commit fails: ${JSON.stringify(events)}`);
    assert.match(String(failed.code), /FENCED|INVALID_PRODUCER_EPOCH/);
    assert.ok(events.some((e) => e.event === "done"));
    assert.deepEqual(await readAll(topic, "read_committed"), ["survivor"]);
  });
});

describe("KafkaJS 2.2.4", () => {
  test("transactions with sendOffsets: the offsets are committed with the transaction, not before", async () => {
    const topic = "txn-kafkajs";
    const group = "txn-kafkajs-group";
    await createTopic(admin, topic, 1);
    const kafka = harnessKafka(broker.bootstrap, "samsa-e2e-kafkajs-txn");
    const producer = kafka.producer({ transactionalId: "kafkajs-txn", maxInFlightRequests: 1, idempotent: true });
    await producer.connect();
    try {
      const committed = await producer.transaction();
      await committed.send({ topic, messages: [{ value: "kept-1" }, { value: "kept-2" }] });
      await committed.sendOffsets({
        consumerGroupId: group,
        topics: [{ topic, partitions: [{ partition: 0, offset: "2" }] }],
      });
      const before = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      assert.equal(before[0]!.partitions[0]!.offset, "-1", "pending until the commit");
      await committed.commit();
      await waitForCommitted(group, topic, "2");

      const aborted = await producer.transaction();
      await aborted.send({ topic, messages: [{ value: "dropped" }] });
      await aborted.sendOffsets({
        consumerGroupId: group,
        topics: [{ topic, partitions: [{ partition: 0, offset: "3" }] }],
      });
      await aborted.abort();
      // The next transaction waits for the abort's markers, so after it the abort is complete.
      const next = await producer.transaction();
      await next.send({ topic, messages: [{ value: "kept-3" }] });
      await next.commit();
      const afterAbort = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      assert.equal(afterAbort[0]!.partitions[0]!.offset, "2", "an aborted transaction's offsets are dropped");
    } finally {
      await producer.disconnect();
    }
    requireClient("python-confluent-kafka");
    assert.deepEqual(await readAll(topic, "read_committed"), ["kept-1", "kept-2", "kept-3"]);
    assert.deepEqual(await readAll(topic, "read_uncommitted"), ["kept-1", "kept-2", "dropped", "kept-3"]);
  });
});
