import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { INT32_MAX, incrementSequence, type ProducerBatch, RecordAccumulator } from "./accumulator.js";
import type { RecordMetadata } from "./types.js";

const ID = { producerId: 7n, producerEpoch: 0 };

function acc(over: Partial<ConstructorParameters<typeof RecordAccumulator>[0]> = {}): RecordAccumulator {
  return new RecordAccumulator({
    batchBytes: 1000,
    lingerMs: 10,
    maxInFlightPerPartition: 5,
    idempotent: true,
    ...over,
  });
}

function add(
  a: RecordAccumulator,
  partition: number,
  nowMs: number,
  bytes = 10,
): { full: boolean; done: Promise<RecordMetadata> } {
  let full = false;
  const done = new Promise<RecordMetadata>((resolve, reject) => {
    full = a.append("t", partition, { value: Buffer.alloc(bytes) }, { resolve, reject }, nowMs);
  });
  done.catch(() => undefined);
  return { full, done };
}

describe("RecordAccumulator: linger and size", () => {
  test("a batch waits lingerMs on the injected clock, then drains", () => {
    const a = acc();
    add(a, 0, 100);
    add(a, 0, 105);
    assert.equal(a.nextReadyDelayMs(105), 5);
    assert.deepEqual(a.drain(109, ID), []);
    const [b] = a.drain(110, ID);
    assert.equal(b?.recordCount, 2);
    assert.equal(a.nextReadyDelayMs(110), Number.POSITIVE_INFINITY);
  });

  test("a full batch is ready at once, and the next record starts a new batch", () => {
    const a = acc({ batchBytes: 200 });
    assert.equal(add(a, 0, 0, 60).full, false); // 61 + 81
    assert.equal(add(a, 0, 0, 60).full, true); // 142 + 81 > 200: the first closes, a second opens
    assert.equal(a.nextReadyDelayMs(0), 0);
    const drained = a.drain(0, ID);
    assert.equal(drained.length, 1, "one batch per partition per drain");
    assert.equal(drained[0]!.recordCount, 1);
  });

  test("flush makes every batch ready regardless of lingerMs", () => {
    const a = acc({ lingerMs: 1_000_000 });
    add(a, 0, 0);
    assert.deepEqual(a.drain(1, ID), []);
    a.beginFlush();
    assert.equal(a.drain(1, ID).length, 1);
    a.endFlush();
  });

  test("a record bigger than batchBytes gets a batch of its own", () => {
    const a = acc({ batchBytes: 100 });
    assert.equal(add(a, 0, 0, 500).full, true);
    assert.equal(a.drain(0, ID)[0]!.recordCount, 1);
  });
});

describe("RecordAccumulator: sequences and in-flight limits", () => {
  function drainAll(a: RecordAccumulator, now: number): ProducerBatch[] {
    a.beginFlush();
    try {
      return a.drain(now, ID);
    } finally {
      a.endFlush();
    }
  }

  test("base sequences advance by record count per partition; at most maxInFlightPerPartition outstanding", () => {
    const a = acc({ maxInFlightPerPartition: 2, batchBytes: 120 });
    for (let i = 0; i < 4; i++) add(a, 0, 0, 30); // one record per batch (61 + 2 * 51 > 120)
    add(a, 1, 0, 0);
    add(a, 1, 0, 0); // 61 + 2 * 21 fits
    const first = drainAll(a, 0);
    assert.deepEqual(
      first.map((b) => [b.partition, b.baseSequence, b.recordCount]),
      [
        [0, 0, 1],
        [1, 0, 2],
      ],
    );
    const second = drainAll(a, 0);
    assert.deepEqual(
      second.map((b) => [b.partition, b.baseSequence]),
      [[0, 1]],
    );
    assert.deepEqual(drainAll(a, 0), [], "partition 0 has 2 in flight");
    a.acknowledged(first[0]!);
    assert.deepEqual(
      drainAll(a, 0).map((b) => b.baseSequence),
      [2],
    );
  });

  test("a retried batch keeps its sequence and waits until the partition has nothing in flight, then goes out in order", () => {
    const a = acc({ batchBytes: 100 });
    for (let i = 0; i < 3; i++) add(a, 0, 0, 30);
    const [b0] = drainAll(a, 0);
    const [b1] = drainAll(a, 0);
    const [b2] = drainAll(a, 0);
    assert.deepEqual([b0!.baseSequence, b1!.baseSequence, b2!.baseSequence], [0, 1, 2]);
    add(a, 0, 0, 30); // a fresh batch queued behind
    // b1 fails first, then b2 (out of order: the echo of b1), while b0 is still in flight.
    assert.equal(a.isNextExpected(b1!), false);
    a.reenqueue(b2!, 50);
    a.reenqueue(b1!, 50);
    assert.deepEqual(drainAll(a, 100), [], "b0 still in flight: no retry, no new batch");
    a.acknowledged(b0!);
    assert.equal(a.isNextExpected(b1!), true);
    assert.deepEqual(drainAll(a, 10), [], "backoff not over");
    assert.equal(a.nextReadyDelayMs(10), 40);
    const r1 = drainAll(a, 50);
    assert.deepEqual(
      r1.map((b) => [b.baseSequence, b.attempts]),
      [[1, 2]],
    );
    assert.deepEqual(drainAll(a, 50), [], "the second retry waits for the first to be answered");
    a.acknowledged(r1[0]!);
    assert.deepEqual(
      drainAll(a, 50).map((b) => b.baseSequence),
      [2],
    );
    a.acknowledged(b2!);
    assert.deepEqual(
      drainAll(a, 50).map((b) => b.baseSequence),
      [3],
      "the fresh batch continues the sequence",
    );
  });

  test("after an epoch bump, unacknowledged batches are re-sequenced from 0 in their original order", () => {
    const a = acc({ batchBytes: 100 });
    for (let i = 0; i < 2; i++) add(a, 0, 0, 30);
    const [b0] = drainAll(a, 0);
    const [b1] = drainAll(a, 0);
    a.reenqueue(b0!, 0);
    a.reenqueue(b1!, 0);
    a.resetSequences();
    const bumped = { producerId: 7n, producerEpoch: 1 };
    a.beginFlush();
    const [r0] = a.drain(0, bumped);
    assert.equal(r0, b0);
    assert.deepEqual([r0!.producerEpoch, r0!.baseSequence, r0!.encoded], [1, 0, null]);
    a.acknowledged(r0!);
    const [r1] = a.drain(0, bumped);
    assert.deepEqual([r1!.producerEpoch, r1!.baseSequence], [1, 1]);
    a.endFlush();
  });

  test("sequences wrap from Int32.MAX to 0, as Kafka's incrementSequence", () => {
    assert.equal(incrementSequence(0, 5), 5);
    assert.equal(incrementSequence(INT32_MAX, 1), 0);
    assert.equal(incrementSequence(INT32_MAX - 1, 3), 1);
    assert.equal(incrementSequence(-1, 1), 0);
  });

  test("without idempotence batches get no sequence", () => {
    const a = acc({ idempotent: false });
    add(a, 0, 0);
    const [b] = a.drain(10, { producerId: -1n, producerEpoch: -1 });
    assert.equal(b!.baseSequence, -1);
  });

  test("batches waiting longer than deliveryTimeoutMs expire with the error given; in-flight ones do not", async () => {
    const a = acc();
    const r = add(a, 0, 0);
    add(a, 1, 0);
    a.beginFlush();
    a.drain(0, ID); // both in flight
    a.endFlush();
    const q = add(a, 0, 5);
    assert.deepEqual(
      a.expire(1000, 100, () => new Error("expired")),
      [],
    );
    await assert.rejects(q.done, /expired/);
    assert.equal(a.inFlightCount, 2);
    void r;
  });
});
