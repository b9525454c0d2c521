/**
 * The idempotent producer against a crashing broker: confluent-kafka-python with
 * enable.idempotence=true streams numbered records to one partition while the broker is
 * SIGKILLed and restarted on the same port and data directory. librdkafka retries the batches in
 * flight with their sequence numbers; the restarted broker rebuilds its producer state from the
 * log and answers a retry of a batch it had written with the offset it was written at. Every
 * record must be in the log exactly once, in order. Also KafkaJS's idempotent producer.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, test } from "node:test";
import { Kafka, logLevel } from "kafkajs";
import { BrokerProcess, REPO_ROOT } from "./support/broker-process.js";
import { PYTHON, requireClient, run, runOk } from "./support/run.js";

const DRIVER = path.join(REPO_ROOT, "tests/e2e/clients/idempotent_producer.py");
const COUNT = 30_000;
const ACKS_BEFORE_KILL = 5_000;

const brokers: BrokerProcess[] = [];

after(async () => {
  for (const b of brokers) await b.dispose();
});

test("confluent-kafka-python idempotent producer, broker SIGKILLed and restarted mid-stream: every record exactly once, in order", async () => {
  requireClient("python-confluent-kafka");
  const first = await BrokerProcess.start();
  brokers.push(first);
  let acked = 0;
  let maxAckedValue = -1;
  let killedAt = -1;
  let restarted: Promise<BrokerProcess> | null = null;
  let buffered = "";
  const stream = run(PYTHON, [DRIVER, "produce", first.bootstrap, "idem", String(COUNT)], {
    timeoutMs: 240_000,
    onStdout: (chunk) => {
      buffered += chunk;
      for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
        const m = /^ack (\d+) /.exec(buffered.slice(0, nl));
        if (m !== null) {
          acked++;
          maxAckedValue = Math.max(maxAckedValue, Number(m[1]));
        }
        buffered = buffered.slice(nl + 1);
      }
      if (restarted === null && acked >= ACKS_BEFORE_KILL) {
        killedAt = acked;
        restarted = first.kill().then(() => first.restart());
        restarted.then((b) => brokers.push(b)).catch(() => undefined);
      }
    },
  });
  const result = await stream;
  assert.ok(restarted !== null, `the broker was never killed (${acked} acks)\n${result.stderr.slice(-2000)}`);
  const second = await (restarted as Promise<BrokerProcess>);
  assert.ok(killedAt < COUNT, "killed mid-stream");
  const done = /done (\d+) (\d+)/.exec(result.stdout);
  assert.ok(done !== null, `the producer did not finish\n${result.stdout.slice(-500)}\n${result.stderr.slice(-2000)}`);
  assert.equal(
    Number(done[2]),
    0,
    `deliveries failed:\n${result.stdout
      .split("\n")
      .filter((l) => l.startsWith("failed"))
      .slice(0, 5)
      .join("\n")}`,
  );
  assert.equal(Number(done[1]), COUNT, "every record acknowledged");
  assert.equal(second.port, first.port, "restarted on the same port");

  const read = await runOk(PYTHON, [DRIVER, "read", second.bootstrap, "idem", String(COUNT)], { timeoutMs: 120_000 });
  const values = read.stdout
    .split("\n")
    .filter((l) => /^\d+$/.test(l))
    .map(Number);
  const duplicates = values.length - new Set(values).size;
  assert.equal(duplicates, 0, `${duplicates} duplicated records`);
  assert.equal(values.length, COUNT, `records in the log: ${values.length}`);
  for (let i = 0; i < values.length; i++) if (values[i] !== i) assert.fail(`record ${values[i]} at position ${i}`);
});

test("KafkaJS idempotent producer: InitProducerId, sequences, every record once", async () => {
  const broker = await BrokerProcess.start();
  brokers.push(broker);
  const kafka = new Kafka({ brokers: [broker.bootstrap], clientId: "idem-kafkajs", logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: "idem-js", numPartitions: 2 }] });
  await admin.disconnect();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  for (let i = 0; i < 20; i++)
    await producer.send({
      topic: "idem-js",
      acks: -1,
      messages: Array.from({ length: 10 }, (_, j) => ({ partition: j % 2, value: String(i * 10 + j) })),
    });
  await producer.disconnect();
  const consumer = kafka.consumer({ groupId: "idem-js-reader", readUncommitted: false });
  await consumer.connect();
  await consumer.subscribe({ topic: "idem-js", fromBeginning: true });
  const seen: number[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${seen.length} records read`)), 30_000);
    consumer
      .run({
        eachMessage: async ({ message }) => {
          seen.push(Number(message.value!.toString()));
          if (seen.length >= 200) {
            clearTimeout(timer);
            resolve();
          }
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
  assert.deepEqual(
    [...seen].sort((a, b) => a - b),
    Array.from({ length: 200 }, (_, i) => i),
  );
});
