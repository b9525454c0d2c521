/**
 * Fault test for the Samsa consumer (issue 9): a consumer in a group has read and committed
 * everything when the broker is SIGKILLed and restarted on the same data directory and port. The
 * consumer rides through the outage without an error and reads what is produced afterwards exactly
 * once; the committed offsets survived the crash (KafkaJS's admin reads them); and a new consumer
 * of the group, after the first one closed, resumes from the committed offsets.
 *
 * Every wait is on a condition (Conditions.notify after each batch), never a sleep.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Consumer, type ConsumerRecord } from "@samsa/client";
import type { Admin } from "kafkajs";
import { BrokerProcess } from "./support/broker-process.js";
import { Conditions, committedOffsets, createTopic, harnessKafka, produceRecords } from "./support/groups.js";

const TOPIC = "crash-consumer";
const GROUP = "crash-consumer-group";
const PARTITIONS = 2;
const PER_PARTITION = 500;
const WAIT_MS = 60_000;

let broker: BrokerProcess;
const conditions = new Conditions();

before(async () => {
  broker = await BrokerProcess.start({
    set: ["group.initial.rebalance.delay.ms=0", "group.min.session.timeout.ms=1000", "offsets.topic.num.partitions=2"],
  });
});

after(async () => {
  await broker?.dispose();
});

async function withAdmin<T>(fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = harnessKafka(broker.bootstrap).admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

/** A group member that commits after every batch it handled, as an at-least-once application does. */
function member(name: string) {
  const consumer = new Consumer({
    brokers: [broker.bootstrap],
    clientId: `samsa-e2e-${name}`,
    groupId: GROUP,
    autoCommit: false,
    autoOffsetReset: "earliest",
    heartbeatIntervalMs: 100,
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 10_000,
    maxWaitMs: 100,
    requestTimeoutMs: 5_000,
  });
  const state = {
    consumer,
    records: [] as ConsumerRecord[],
    /** Offsets whose commit the broker acknowledged, per partition. */
    committed: new Map<number, bigint>(),
    /** Commits that failed (while the broker was down): the next batch's commit covers them. */
    failedCommits: 0,
    error: null as unknown,
    done: Promise.resolve(),
  };
  state.done = (async () => {
    await consumer.connect();
    consumer.subscribe([TOPIC]);
    try {
      for await (const batch of consumer) {
        state.records.push(...batch.records);
        const last = batch.records.at(-1);
        if (last !== undefined) {
          try {
            await consumer.commit([{ topic: TOPIC, partition: batch.partition, offset: last.offset + 1n }]);
            state.committed.set(batch.partition, last.offset + 1n);
          } catch {
            state.failedCommits++;
          }
        }
        conditions.notify();
      }
    } catch (err) {
      state.error = err;
      conditions.notify();
    }
  })();
  return state;
}

type Member = ReturnType<typeof member>;

function waitUntil(m: Member, what: string, check: () => boolean): Promise<true> {
  return conditions.waitFor(
    () => {
      if (m.error !== null) throw m.error;
      return check() ? true : undefined;
    },
    WAIT_MS,
    what,
    () =>
      `${m.records.length} records, committed ${JSON.stringify([...m.committed].map(([p, o]) => [p, String(o)]))}, ${m.failedCommits} failed commits\n${broker.logTail(20)}`,
  );
}

const valuesOf = (records: readonly ConsumerRecord[]) => records.map((r) => r.value?.toString() ?? "null");

test("a consumer in a group rides through a broker SIGKILL and restart; the group resumes from its committed offsets", async (t) => {
  await withAdmin((admin) => createTopic(admin, TOPIC, PARTITIONS));
  const first = await produceRecords(broker.bootstrap, TOPIC, PARTITIONS, PER_PARTITION, "before");
  const a = member("a");
  try {
    await waitUntil(a, "everything before the crash read and committed", () =>
      Array.from({ length: PARTITIONS }, (_, p) => a.committed.get(p) === BigInt(PER_PARTITION)).every(Boolean),
    );
    assert.deepEqual(valuesOf(a.records).sort(), first.map((r) => r.v).sort());

    await broker.kill();
    const oldPort = broker.port;
    broker = await broker.restart();
    assert.equal(broker.port, oldPort, "the restarted broker took its old port back (the client knows only that one)");
    t.diagnostic(`broker SIGKILLed and restarted on ${broker.bootstrap}`);

    // The offsets acknowledged before the kill survived it.
    const survived = await withAdmin((admin) => committedOffsets(admin, GROUP, TOPIC));
    for (let p = 0; p < PARTITIONS; p++) assert.equal(survived.get(p)?.[0], PER_PARTITION, `partition ${p}`);

    const second = await produceRecords(broker.bootstrap, TOPIC, PARTITIONS, PER_PARTITION, "after");
    await waitUntil(a, "everything produced after the restart read and committed", () =>
      Array.from({ length: PARTITIONS }, (_, p) => a.committed.get(p) === BigInt(2 * PER_PARTITION)).every(Boolean),
    );
    t.diagnostic(`${a.failedCommits} commit(s) failed while the broker was down`);
    assert.deepEqual(
      valuesOf(a.records).sort(),
      [...first, ...second].map((r) => r.v).sort(),
      "every record exactly once: nothing lost, nothing re-read after the restart",
    );
  } finally {
    await a.consumer.close();
    await a.done;
  }
  assert.equal(a.error, null, `the consumer failed: ${String(a.error)}`);

  // A new member of the group starts where the group's commits say, not at the beginning.
  const third = await produceRecords(broker.bootstrap, TOPIC, PARTITIONS, 10, "later");
  const b = member("b");
  try {
    await waitUntil(b, "the new member read what came after the commits", () => b.records.length >= third.length);
    assert.deepEqual(valuesOf(b.records).sort(), third.map((r) => r.v).sort());
  } finally {
    await b.consumer.close();
    await b.done;
  }
  assert.equal(b.error, null, `the second consumer failed: ${String(b.error)}`);
});
