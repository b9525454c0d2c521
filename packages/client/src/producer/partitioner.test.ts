import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { describe, test } from "node:test";
import { defaultPartition, murmur2, StickyPartitioner, toPositive } from "./partitioner.js";

// KafkaJS's murmur2 is an independent implementation (64-bit Long arithmetic) of the same Java code.
const require = createRequire(import.meta.url);
const kafkajsMurmur2 = require("kafkajs/src/producer/partitioners/default/murmur2.js") as (key: Buffer) => number;

/** Seeded xorshift32, so a failure can be replayed. */
function rng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

describe("murmur2", () => {
  test("Kafka's UtilsTest.testMurmur2 vectors", () => {
    const cases: [Buffer, number][] = [
      [Buffer.from("21"), -973932308],
      [Buffer.from("foobar"), -790332482],
      [Buffer.from("a-little-bit-long-string"), -985981536],
      [Buffer.from("a-little-bit-longer-string"), -1486304829],
      [Buffer.from("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971],
      [Buffer.from([0x61, 0x62, 0x63]), 479470107],
    ];
    for (const [key, expected] of cases) assert.equal(murmur2(key), expected, key.toString());
  });

  test("empty key, and every tail length with bytes >= 0x80 (Java's signed bytes) agree with KafkaJS's implementation", (t) => {
    const seed = Number(process.env.SAMSA_TEST_SEED ?? Date.now() % 0x7fffffff);
    t.diagnostic(`seed ${seed} (SAMSA_TEST_SEED=${seed} replays it)`);
    const random = rng(seed);
    assert.equal(murmur2(Buffer.alloc(0)), kafkajsMurmur2(Buffer.alloc(0)));
    for (let i = 0; i < 5000; i++) {
      const key = Buffer.alloc(Math.floor(random() * 40));
      for (let j = 0; j < key.length; j++) key[j] = Math.floor(random() * 256);
      assert.equal(murmur2(key), kafkajsMurmur2(key) | 0, `seed ${seed}, key ${key.toString("hex")}`);
    }
  });

  test("toPositive clears the sign bit, as Kafka's Utils.toPositive (not Math.abs)", () => {
    assert.equal(toPositive(-973932308), -973932308 & 0x7fffffff);
    assert.equal(toPositive(-2147483648), 0);
    assert.equal(toPositive(5), 5);
    assert.equal(defaultPartition(Buffer.from("21"), 7), (-973932308 & 0x7fffffff) % 7);
  });

  test("defaultPartition refuses a non-positive partition count", () => {
    assert.throws(() => defaultPartition(Buffer.from("k"), 0), RangeError);
  });
});

describe("StickyPartitioner", () => {
  test("keeps one partition until batchBytes went to it, then moves to another", () => {
    const values = [0.1, 0.1, 0.7];
    const p = new StickyPartitioner(100, () => values.shift() ?? 0.5);
    const first = p.partition("t", 4, 40);
    assert.equal(p.partition("t", 4, 40), first);
    assert.equal(p.partition("t", 4, 40), first); // 80 < 100 before this one
    const next = p.partition("t", 4, 40); // 120 >= 100: switch, never to the same partition
    assert.notEqual(next, first);
    assert.equal(p.partition("t", 4, 10), next);
  });

  test("a single partition is always chosen", () => {
    const p = new StickyPartitioner(10);
    for (let i = 0; i < 20; i++) assert.equal(p.partition("t", 1, 50), 0);
  });
});
