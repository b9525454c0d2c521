import assert from "node:assert/strict";
import fsp from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { CompressionType, compressionTypeOf, hasDeleteHorizon } from "@samsa/protocol";
import type { LogConfig } from "../config.js";
import { Log } from "../log.js";
import { ManualClock, makeTempDir, removeDir } from "../test-support.js";
import { CleanerThread } from "./cleaner-thread.js";
import { CLEANER_OFFSET_CHECKPOINT_FILE, LogCleaner } from "./log-cleaner.js";
import { checkAgainstModel, type KeyValue, kvBatch, readBatches, readRecords } from "./test-support.js";

const DAY_MS = 24 * 60 * 60 * 1000;
/** One worker thread for the whole file: starting one under tsx costs most of a second. */
const thread = new CleanerThread();

/** A log of small segments (each append of `kvs` rolls once it passes 1 KiB) with its cleaner. */
async function setup(dir: string, config: Partial<LogConfig> = {}, clock = new ManualClock()) {
  const log = await Log.open({
    dir: path.join(dir, "t-0"),
    topicPartition: { topic: "t", partition: 0 },
    config: { segmentBytes: 1024, cleanupPolicy: ["compact"], fileDeleteDelayMs: 0, ...config },
    time: clock,
  });
  const cleaner = new LogCleaner({ logDir: dir, logs: () => [log], time: clock });
  const written = new Map<bigint, KeyValue>();
  const append = async (kvs: KeyValue[], opts: Parameters<typeof kvBatch>[1] = {}) => {
    const info = await log.append(kvBatch(kvs, { timestamp: BigInt(clock.nowMs()), ...opts }));
    for (const [i, kv] of kvs.entries()) written.set(info.firstOffset + BigInt(i), kv);
    return info;
  };
  return { log, cleaner, clock, written, append };
}

describe("log cleaner", () => {
  let dir: string;
  before(async () => {
    dir = await makeTempDir("samsa-cleaner-");
  });
  after(async () => {
    await thread.abort();
    await removeDir(dir);
  });

  test("keeps the latest record of each key, offsets preserved, a key updated across many segments", async () => {
    const d = await makeTempDir("samsa-cleaner-");
    const { log, cleaner, written, append } = await setup(d);
    try {
      for (let i = 0; i < 60; i++)
        await append([
          { key: "hot", value: `v${i}` },
          { key: `k${i % 7}`, value: `x${i}` },
        ]);
      assert.ok(log.logSegments().length > 5, "the appends rolled several segments");
      const before = await readRecords(log);
      const pass = await cleaner.cleanFilthiestLog(thread);
      assert.ok(pass?.swapped);
      const records = await readRecords(log);
      assert.deepEqual(checkAgainstModel(records, written), []);
      const active = log.logSegments().at(-1)!.baseOffset;
      // Below the active segment, one record per key; the active segment is untouched.
      const cleaned = records.filter((r) => r.offset < active);
      assert.equal(new Set(cleaned.map((r) => r.key)).size, cleaned.length);
      assert.deepEqual(
        records.filter((r) => r.offset >= active),
        before.filter((r) => r.offset >= active),
      );
      assert.ok(records.length < before.length);
      assert.equal(pass!.endOffset, active);
      // Nothing more to do until new dirty data arrives.
      assert.equal(await cleaner.cleanFilthiestLog(thread), null);
      const names = await fsp.readdir(log.dir);
      assert.deepEqual(
        names.filter((n) => /\.(cleaned|swap)$/.test(n)),
        [],
      );
    } finally {
      await cleaner.shutdown();
      await log.close();
      await removeDir(d);
    }
  });

  test("the active segment is never cleaned", async () => {
    const d = await makeTempDir("samsa-cleaner-");
    const { log, cleaner, append } = await setup(d, { segmentBytes: 1024 * 1024 });
    try {
      for (let i = 0; i < 20; i++) await append([{ key: "a", value: `v${i}` }]);
      assert.equal(log.logSegments().length, 1);
      assert.equal(await cleaner.cleanFilthiestLog(thread), null);
      assert.equal((await readRecords(log)).length, 20);
    } finally {
      await cleaner.shutdown();
      await log.close();
      await removeDir(d);
    }
  });

  test("tombstones get a delete horizon and go once delete.retention.ms has passed", async () => {
    const d = await makeTempDir("samsa-cleaner-");
    const { log, cleaner, clock, written, append } = await setup(d, {
      deleteRetentionMs: DAY_MS,
      minCleanableDirtyRatio: 0.01,
    });
    try {
      for (let i = 0; i < 10; i++)
        await append([
          { key: "a", value: `v${i}` },
          { key: "b", value: `w${i}` },
        ]);
      await append([{ key: "a", value: null }]);
      for (let i = 0; i < 10; i++) await append([{ key: `filler${i}`, value: "f".repeat(100) }]);
      await log.roll();
      assert.ok((await cleaner.cleanFilthiestLog(thread))?.swapped);
      let records = await readRecords(log);
      assert.deepEqual(checkAgainstModel(records, written), []);
      const tombstone = records.find((r) => r.key === "a");
      assert.equal(tombstone?.value, null, "the tombstone stays, it is the latest record of a");
      const horizonBatch = (await readBatches(log)).find((b) => b.records.some((r) => r.key?.toString() === "a"))!;
      assert.ok(hasDeleteHorizon(horizonBatch.header.attributes));
      assert.equal(horizonBatch.header.baseTimestamp, BigInt(clock.nowMs() + DAY_MS));

      // More dirty data, cleaned before the horizon: the tombstone stays.
      clock.advance(DAY_MS - 1000);
      for (let i = 0; i < 10; i++) await append([{ key: "b", value: `y${i}`.repeat(20) }]);
      await log.roll();
      assert.ok((await cleaner.cleanFilthiestLog(thread))?.swapped);
      assert.ok((await readRecords(log)).some((r) => r.key === "a"));

      // After the horizon, the next pass removes it.
      clock.advance(2000);
      for (let i = 0; i < 10; i++) await append([{ key: "b", value: `z${i}`.repeat(20) }]);
      await log.roll();
      assert.ok((await cleaner.cleanFilthiestLog(thread))?.swapped);
      records = await readRecords(log);
      assert.ok(!records.some((r) => r.key === "a"), "the tombstone is gone");
      assert.deepEqual(checkAgainstModel(records, written), []);
    } finally {
      await cleaner.shutdown();
      await log.close();
      await removeDir(d);
    }
  });

  test("min.compaction.lag.ms keeps recent segments dirty", async () => {
    const d = await makeTempDir("samsa-cleaner-");
    const { log, cleaner, clock, append } = await setup(d, { minCompactionLagMs: 60_000 });
    try {
      for (let i = 0; i < 30; i++) await append([{ key: "a", value: `v${i}`.repeat(10) }]);
      await log.roll();
      assert.equal(await cleaner.cleanFilthiestLog(thread), null, "every segment is younger than the lag");
      clock.advance(30_000);
      for (let i = 0; i < 30; i++) await append([{ key: "a", value: `w${i}`.repeat(10) }]);
      await log.roll();
      clock.advance(31_000);
      const ltc = await cleaner.logToClean(log, clock.nowMs());
      const firstYoung = log.logSegments().find((s) => s.baseOffset >= 30n)!;
      assert.equal(ltc.firstUncleanableOffset, firstYoung.baseOffset);
      const pass = await cleaner.cleanFilthiestLog(thread);
      assert.ok(pass?.swapped);
      const records = await readRecords(log);
      assert.ok(records.filter((r) => r.offset >= 30n).length === 30, "records within the lag are all kept");
      assert.ok(records.filter((r) => r.offset < 30n).length === 1);
    } finally {
      await cleaner.shutdown();
      await log.close();
      await removeDir(d);
    }
  });

  test("min.cleanable.dirty.ratio and max.compaction.lag.ms decide when a log is cleaned", async () => {
    const d = await makeTempDir("samsa-cleaner-");
    const { log, cleaner, clock, append } = await setup(d, {
      minCleanableDirtyRatio: 0.9,
      maxCompactionLagMs: 10 * 60_000,
    });
    try {
      for (let i = 0; i < 40; i++) await append([{ key: `k${i}`, value: "v".repeat(50) }]);
      await log.roll();
      assert.ok((await cleaner.cleanFilthiestLog(thread))?.swapped, "all dirty: ratio 1 > 0.9");
      // A little dirty data: the ratio stays below 0.9.
      for (let i = 0; i < 3; i++) await append([{ key: `k${i}`, value: "w".repeat(50) }]);
      await log.roll();
      const ltc = await cleaner.logToClean(log, clock.nowMs());
      assert.ok(ltc.cleanableRatio < 0.9 && ltc.cleanableBytes > 0);
      assert.equal(await cleaner.cleanFilthiestLog(thread), null);
      // Once the dirty data is older than max.compaction.lag.ms, it is cleaned whatever the ratio.
      clock.advance(10 * 60_000 + 1);
      assert.ok((await cleaner.logToClean(log, clock.nowMs())).needCompactionNow);
      assert.ok((await cleaner.cleanFilthiestLog(thread))?.swapped);
      const records = await readRecords(log);
      assert.equal(records.length, 40);
      assert.equal(records.find((r) => r.key === "k0")?.value, "w".repeat(50));
    } finally {
      await cleaner.shutdown();
      await log.close();
      await removeDir(d);
    }
  });

  test("segment.ms rolls the active segment, which then becomes cleanable", async () => {
    const d = await makeTempDir("samsa-cleaner-");
    const { log, cleaner, clock, append } = await setup(d, { segmentBytes: 1024 * 1024, segmentMs: 60_000 });
    try {
      for (let i = 0; i < 10; i++) await append([{ key: "a", value: `v${i}` }]);
      assert.equal(await cleaner.cleanFilthiestLog(thread), null);
      clock.advance(60_001);
      await append([{ key: "a", value: "last" }]);
      assert.equal(log.logSegments().length, 2);
      assert.ok((await cleaner.cleanFilthiestLog(thread))?.swapped);
      assert.deepEqual(
        (await readRecords(log)).map((r) => r.value),
        ["v9", "last"],
      );
    } finally {
      await cleaner.shutdown();
      await log.close();
      await removeDir(d);
    }
  });

  test("compressed batches are cleaned and rewritten with their codec", async () => {
    const d = await makeTempDir("samsa-cleaner-");
    const { log, cleaner, written, append } = await setup(d, { segmentBytes: 4096 });
    try {
      const codecs = [CompressionType.Gzip, CompressionType.Snappy, CompressionType.Lz4, CompressionType.Zstd];
      for (let i = 0; i < 40; i++)
        await append(
          [
            { key: `a${i % 3}`, value: `v${i}`.repeat(30) },
            { key: `u${i}`, value: `unique${i}` },
          ],
          { compression: codecs[i % 4] },
        );
      await log.roll();
      assert.ok((await cleaner.cleanFilthiestLog(thread))?.swapped);
      const records = await readRecords(log);
      assert.deepEqual(checkAgainstModel(records, written), []);
      assert.equal(records.filter((r) => r.key?.startsWith("a")).length, 3);
      for (const b of await readBatches(log))
        if (b.records.length > 0) assert.notEqual(compressionTypeOf(b.header.attributes), CompressionType.None);
    } finally {
      await cleaner.shutdown();
      await log.close();
      await removeDir(d);
    }
  });

  test("producer fields are kept; a producer's last batch stays as an empty batch", async () => {
    const d = await makeTempDir("samsa-cleaner-");
    const { log, cleaner, written, append } = await setup(d);
    try {
      // Producer 7 writes k twice; then a plain producer overwrites k, so all of 7's records go.
      await append(
        [
          { key: "k", value: "p7-0" },
          { key: "j", value: "p7-1" },
        ],
        {
          producerId: 7n,
          producerEpoch: 3,
          baseSequence: 0,
        },
      );
      await append(
        [
          { key: "k", value: "p7-2" },
          { key: "j", value: "p7-3" },
        ],
        {
          producerId: 7n,
          producerEpoch: 3,
          baseSequence: 2,
        },
      );
      for (let i = 0; i < 20; i++) await append([{ key: i % 2 ? "k" : "j", value: `plain${i}`.repeat(10) }]);
      await log.roll();
      assert.ok((await cleaner.cleanFilthiestLog(thread))?.swapped);
      const batches = await readBatches(log);
      const p7 = batches.filter((b) => b.header.producerId === 7n);
      assert.equal(p7.length, 1, "only the producer's last batch stays");
      assert.equal(p7[0]!.records.length, 0);
      assert.equal(p7[0]!.header.baseSequence, 2);
      assert.equal(p7[0]!.header.producerEpoch, 3);
      assert.equal(p7[0]!.header.baseOffset, 2n);
      assert.equal(p7[0]!.header.lastOffsetDelta, 1);
      assert.deepEqual(checkAgainstModel(await readRecords(log), written), []);
    } finally {
      await cleaner.shutdown();
      await log.close();
      await removeDir(d);
    }
  });

  test("transactional batches are kept whole", async () => {
    const d = await makeTempDir("samsa-cleaner-");
    const { log, cleaner, append } = await setup(d);
    try {
      await append([{ key: "k", value: "txn" }], {
        producerId: 9n,
        producerEpoch: 0,
        baseSequence: 0,
        isTransactional: true,
      });
      for (let i = 0; i < 20; i++) await append([{ key: "k", value: `plain${i}`.repeat(10) }]);
      await log.roll();
      assert.ok((await cleaner.cleanFilthiestLog(thread))?.swapped);
      const batches = await readBatches(log);
      const txn = batches.filter((b) => b.header.producerId === 9n);
      assert.equal(txn.length, 1);
      assert.equal(txn[0]!.records[0]!.value?.toString(), "txn");
    } finally {
      await cleaner.shutdown();
      await log.close();
      await removeDir(d);
    }
  });

  test("cleaner-offset-checkpoint survives a restart", async () => {
    const d = await makeTempDir("samsa-cleaner-");
    const clock = new ManualClock();
    const first = await setup(d, {}, clock);
    for (let i = 0; i < 40; i++) await first.append([{ key: `k${i % 5}`, value: `v${i}`.repeat(5) }]);
    await first.log.roll();
    const pass = await first.cleaner.cleanFilthiestLog(thread);
    assert.ok(pass?.swapped);
    await first.cleaner.shutdown();
    await first.log.close();
    const text = await fsp.readFile(path.join(d, CLEANER_OFFSET_CHECKPOINT_FILE), "utf8");
    assert.equal(text, `0\n1\nt 0 ${pass!.endOffset}\n`);

    const second = await setup(d, {}, clock);
    try {
      const ltc = await second.cleaner.logToClean(second.log, clock.nowMs());
      assert.equal(ltc.firstDirtyOffset, pass!.endOffset);
      assert.equal(await second.cleaner.cleanFilthiestLog(thread), null, "nothing dirty after the restart");
      assert.deepEqual(checkAgainstModel(await readRecords(second.log), first.written), []);
    } finally {
      await second.cleaner.shutdown();
      await second.log.close();
      await removeDir(d);
    }
  });

  test("a read in flight on a replaced segment still returns its data", async () => {
    const d = await makeTempDir("samsa-cleaner-");
    const { log, cleaner, append } = await setup(d, { fileDeleteDelayMs: 60_000 });
    try {
      for (let i = 0; i < 30; i++) await append([{ key: "a", value: `v${i}`.repeat(10) }]);
      await log.roll();
      const oldFirst = log.logSegments()[0]!;
      assert.ok((await cleaner.cleanFilthiestLog(thread))?.swapped);
      assert.ok(!log.logSegments().includes(oldFirst));
      const r = await oldFirst.read(0n, 1 << 20, { minOneBatch: true });
      assert.ok(r !== null && r.records.length > 0, "the replaced segment's handles still serve reads");
    } finally {
      await cleaner.shutdown();
      await log.close();
      await removeDir(d);
    }
  });

  test("a pass is dropped when the log changed under it (truncation)", async () => {
    const d = await makeTempDir("samsa-cleaner-");
    const { log, cleaner, clock, append } = await setup(d);
    try {
      for (let i = 0; i < 30; i++) await append([{ key: "a", value: `v${i}`.repeat(10) }]);
      await log.roll();
      const ltc = (await cleaner.grabFilthiestCompactedLog())!;
      await log.truncateTo(5n);
      const groups = [{ baseOffset: 0n, replaces: log.logSegments().slice(0, 1) }];
      assert.equal(await log.replaceSegments(groups), false, "the segment is active now");
      assert.ok(ltc.log === log);
      void clock;
    } finally {
      await cleaner.shutdown();
      await log.close();
      await removeDir(d);
    }
  });

  test("shutdown aborts a pass and leaves no .cleaned files", async () => {
    const d = await makeTempDir("samsa-cleaner-");
    const { log, cleaner, append } = await setup(d, { segmentBytes: 64 * 1024 });
    try {
      for (let i = 0; i < 400; i++) await append([{ key: `k${i % 10}`, value: "x".repeat(900) }]);
      await log.roll();
      const pass = cleaner.cleanFilthiestLog().catch((e: Error) => e);
      await new Promise((r) => setTimeout(r, 5));
      await cleaner.shutdown();
      await pass;
      const names = await fsp.readdir(log.dir);
      assert.deepEqual(
        names.filter((n) => n.endsWith(".cleaned")),
        [],
      );
      assert.equal((await readRecords(log)).filter((r) => r.key === "k3").at(-1)?.offset, 393n);
    } finally {
      await log.close();
      await removeDir(d);
    }
  });
});
