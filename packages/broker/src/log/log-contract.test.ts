/**
 * The PartitionLog contract, run against the file-backed Log and the in-memory MemoryLog, plus a
 * seeded randomized run that applies the same operations to both and compares every read.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, describe, test } from "node:test";
import type { LogConfig } from "./config.js";
import { CorruptRecordError, MessageTooLargeError, OffsetOutOfRangeError } from "./errors.js";
import { Log } from "./log.js";
import { MemoryLog } from "./memory-log.js";
import { EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, MAX_TIMESTAMP, type PartitionLog } from "./partition-log.js";
import { decodeRecordBatch, readBatchHeader } from "./records.js";
import { ManualClock, makeBatch, makeTempDir, removeDir, seededRandom } from "./test-support.js";

interface Impl {
  name: string;
  create(config: Partial<LogConfig>, clock: ManualClock): Promise<PartitionLog>;
}

const tmpDirs: string[] = [];
after(async () => {
  for (const d of tmpDirs) await removeDir(d);
});

const TP = { topic: "contract", partition: 0 };

export const IMPLEMENTATIONS: Impl[] = [
  {
    name: "Log (file-backed)",
    async create(config, clock) {
      const root = await makeTempDir();
      tmpDirs.push(root);
      return Log.open({ dir: path.join(root, "contract-0"), topicPartition: TP, config, time: clock });
    },
  },
  { name: "MemoryLog", create: async (config, clock) => new MemoryLog(TP, config, clock) },
];

/** Offsets of every record in a read result, decoded independently of the log. */
function offsetsIn(records: Buffer): bigint[] {
  const out: bigint[] = [];
  let pos = 0;
  while (pos < records.length) {
    const { header, records: recs } = decodeRecordBatch(records, pos);
    for (const r of recs) out.push(r.offset);
    pos += 12 + header.batchLength;
  }
  return out;
}

for (const impl of IMPLEMENTATIONS) {
  describe(`PartitionLog contract: ${impl.name}`, () => {
    test("an empty log has offsets 0 and reads nothing", async () => {
      const log = await impl.create({}, new ManualClock());
      assert.equal(log.logStartOffset, 0n);
      assert.equal(log.logEndOffset, 0n);
      const r = await log.read(0n, { maxBytes: 1000 });
      assert.equal(r.records.length, 0);
      await assert.rejects(log.read(1n, { maxBytes: 1000 }), OffsetOutOfRangeError);
      assert.equal(await log.offsetForTimestamp(0n), null);
      assert.deepEqual(await log.offsetForTimestamp(EARLIEST_TIMESTAMP), { timestamp: -1n, offset: 0n });
      assert.deepEqual(await log.offsetForTimestamp(LATEST_TIMESTAMP), { timestamp: -1n, offset: 0n });
      assert.deepEqual(log.segmentBaseOffsets(), [0n]);
      await log.close();
    });

    test("append assigns contiguous offsets in call order and reports them", async () => {
      const log = await impl.create({}, new ManualClock());
      const a = await log.append(makeBatch({ count: 3, timestamp: 1_700_000_000_000n }));
      assert.deepEqual(
        { first: a.firstOffset, last: a.lastOffset, n: a.recordCount, max: a.maxTimestamp, at: a.offsetOfMaxTimestamp },
        { first: 0n, last: 2n, n: 3, max: 1_700_000_000_002n, at: 2n },
      );
      const concurrent = await Promise.all(
        Array.from({ length: 20 }, (_, i) => log.append(makeBatch({ count: 2, seed: i }))),
      );
      concurrent.forEach((info, i) => {
        assert.equal(info.firstOffset, 3n + BigInt(2 * i));
        assert.equal(info.lastOffset, 4n + BigInt(2 * i));
      });
      assert.equal(log.logEndOffset, 43n);
      assert.deepEqual(log.segmentBaseOffsets(), [0n]);
      const all = await log.read(0n, { maxBytes: 1 << 20 });
      assert.deepEqual(
        offsetsIn(all.records),
        Array.from({ length: 43 }, (_, i) => BigInt(i)),
      );
      await log.close();
    });

    test("reads start at the batch holding the offset and return whole batches only", async () => {
      const log = await impl.create({ indexIntervalBytes: 100 }, new ManualClock());
      for (let i = 0; i < 30; i++) await log.append(makeBatch({ count: 4, valueSize: 20, seed: i }));
      const batchSize = makeBatch({ count: 4, valueSize: 20 }).length;
      for (let off = 0n; off < 120n; off += 7n) {
        const r = await log.read(off, { maxBytes: batchSize * 3 + 5 });
        const h = readBatchHeader(r.records, 0);
        assert.ok(h.baseOffset <= off && off <= h.baseOffset + 3n, `offset ${off} in batch ${h.baseOffset}`);
        assert.equal(r.records.length, Math.min(3, Number(30n - h.baseOffset / 4n)) * batchSize);
      }
      const atEnd = await log.read(120n, { maxBytes: 1000 });
      assert.equal(atEnd.records.length, 0);
      await assert.rejects(log.read(121n, { maxBytes: 1000 }), OffsetOutOfRangeError);
      await log.close();
    });

    test("the first batch is returned even when larger than maxBytes, unless minOneBatch is off", async () => {
      const log = await impl.create({}, new ManualClock());
      await log.append(makeBatch({ count: 2, valueSize: 5000 }));
      await log.append(makeBatch({ count: 2, valueSize: 10 }));
      const one = await log.read(0n, { maxBytes: 100 });
      assert.deepEqual(offsetsIn(one.records), [0n, 1n]);
      const none = await log.read(0n, { maxBytes: 100, minOneBatch: false });
      assert.equal(none.records.length, 0);
      assert.equal(none.firstBatchIncomplete, true);
      await log.close();
    });

    test("maxOffset stops before the batch that starts there", async () => {
      const log = await impl.create({}, new ManualClock());
      for (let i = 0; i < 5; i++) await log.append(makeBatch({ count: 2, seed: i }));
      const r = await log.read(0n, { maxBytes: 1 << 20, maxOffset: 6n });
      assert.deepEqual(offsetsIn(r.records), [0n, 1n, 2n, 3n, 4n, 5n]);
      const empty = await log.read(6n, { maxBytes: 1 << 20, maxOffset: 6n });
      assert.equal(empty.records.length, 0);
      await log.close();
    });

    test("segments roll on segment.bytes and reads cross them", async () => {
      const batch = makeBatch({ count: 3, valueSize: 100 });
      const log = await impl.create({ segmentBytes: batch.length * 3 + 10 }, new ManualClock());
      for (let i = 0; i < 10; i++) await log.append(makeBatch({ count: 3, valueSize: 100, seed: i }));
      assert.deepEqual(log.segmentBaseOffsets(), [0n, 9n, 18n, 27n]);
      const r = await log.read(7n, { maxBytes: 1 << 20 });
      assert.deepEqual(offsetsIn(r.records), [6n, 7n, 8n]); // one read never spans segments
      const next = await log.read(9n, { maxBytes: 1 << 20 });
      assert.equal(offsetsIn(next.records)[0], 9n);
      await log.close();
    });

    test("segments roll on segment.ms, counted from the first batch's timestamp", async () => {
      const clock = new ManualClock(1_000_000);
      const log = await impl.create({ segmentMs: 1000 }, clock);
      await log.append(makeBatch({ timestamp: 5000n }));
      await log.append(makeBatch({ timestamp: 5900n }));
      assert.deepEqual(log.segmentBaseOffsets(), [0n]);
      await log.append(makeBatch({ timestamp: 6001n }));
      assert.deepEqual(log.segmentBaseOffsets(), [0n, 2n]);
      await log.close();
    });

    test("roll() starts a new segment at the log end offset; rolling an empty segment does nothing", async () => {
      const log = await impl.create({}, new ManualClock());
      await log.roll();
      assert.deepEqual(log.segmentBaseOffsets(), [0n]);
      await log.append(makeBatch({ count: 5 }));
      await log.roll();
      await log.roll();
      assert.deepEqual(log.segmentBaseOffsets(), [0n, 5n]);
      await log.append(makeBatch({ count: 1 }));
      assert.deepEqual(offsetsIn((await log.read(5n, { maxBytes: 1000 })).records), [5n]);
      await log.close();
    });

    test("lookup by timestamp finds the first record at or after it", async () => {
      const log = await impl.create({ indexIntervalBytes: 64, segmentBytes: 1000 }, new ManualClock());
      for (let i = 0; i < 40; i++)
        await log.append(makeBatch({ count: 3, timestamp: 1000n + BigInt(i) * 10n, seed: i }));
      // records: offset 3i+j has timestamp 1000 + 10i + j
      assert.deepEqual(await log.offsetForTimestamp(0n), { timestamp: 1000n, offset: 0n });
      assert.deepEqual(await log.offsetForTimestamp(1001n), { timestamp: 1001n, offset: 1n });
      assert.deepEqual(await log.offsetForTimestamp(1005n), { timestamp: 1010n, offset: 3n });
      assert.deepEqual(await log.offsetForTimestamp(1252n), { timestamp: 1252n, offset: 77n });
      assert.deepEqual(await log.offsetForTimestamp(1392n), { timestamp: 1392n, offset: 119n });
      assert.equal(await log.offsetForTimestamp(1393n), null);
      assert.deepEqual(await log.offsetForTimestamp(MAX_TIMESTAMP), { timestamp: 1392n, offset: 119n });
      assert.ok(log.segmentBaseOffsets().length > 3, "log.segmentBaseOffsets().length > 3");
      await log.close();
    });

    test("a huge batch is stored and read back whole; one over max.message.bytes is refused", async () => {
      const log = await impl.create({}, new ManualClock());
      const huge = makeBatch({ count: 2, valueSize: 500_000 });
      await log.append(huge);
      const r = await log.read(0n, { maxBytes: 1024 });
      assert.equal(r.records.length, huge.length);
      assert.deepEqual(r.records, huge);
      await assert.rejects(log.append(makeBatch({ count: 1, valueSize: 1_100_000 })), MessageTooLargeError);
      assert.equal(log.logEndOffset, 2n);
      await log.close();
    });

    test("a batch with a bad CRC is refused and nothing is appended", async () => {
      const log = await impl.create({}, new ManualClock());
      const bad = makeBatch({ count: 2 });
      bad[bad.length - 1]! ^= 0xff;
      await assert.rejects(log.append(bad), CorruptRecordError);
      await assert.rejects(log.append(makeBatch({ count: 1 }).subarray(0, 40)), CorruptRecordError);
      assert.equal(log.logEndOffset, 0n);
      await log.close();
    });

    test("the leader epoch is stamped into every batch", async () => {
      const log = await impl.create({}, new ManualClock());
      await log.append(Buffer.concat([makeBatch({ count: 2 }), makeBatch({ count: 1 })]), { leaderEpoch: 7 });
      const r = await log.read(0n, { maxBytes: 1 << 20 });
      assert.equal(readBatchHeader(r.records, 0).partitionLeaderEpoch, 7);
      assert.equal(readBatchHeader(r.records, r.records.readInt32BE(8) + 12).partitionLeaderEpoch, 7);
      await log.close();
    });
  });
}

test("Log and MemoryLog agree on a seeded random sequence of appends, rolls and reads", async () => {
  const seed = Number(process.env.SAMSA_TEST_SEED ?? Date.now() % 1_000_000);
  console.log(`contract random run seed=${seed} (rerun with SAMSA_TEST_SEED=${seed})`);
  const rnd = seededRandom(seed);
  const config = { segmentBytes: 4096, indexIntervalBytes: 256, segmentMs: 60_000 };
  const clocks = [new ManualClock(), new ManualClock()];
  const logs = await Promise.all(IMPLEMENTATIONS.map((impl, i) => impl.create(config, clocks[i]!)));
  let ts = 1_000n;
  for (let step = 0; step < 300; step++) {
    const r = rnd();
    if (r < 0.6) {
      const count = 1 + Math.floor(rnd() * 5);
      const valueSize = Math.floor(rnd() * 300);
      ts += BigInt(Math.floor(rnd() * 2000));
      const infos = await Promise.all(
        logs.map((l) => l.append(makeBatch({ count, valueSize, timestamp: ts, seed: step }))),
      );
      assert.deepEqual(infos[0], infos[1], `append at step ${step}`);
    } else if (r < 0.65) {
      await Promise.all(logs.map((l) => l.roll()));
    } else if (r < 0.9) {
      const end = logs[0]!.logEndOffset;
      const offset = BigInt(Math.floor(rnd() * (Number(end) + 1)));
      const maxBytes = Math.floor(rnd() * 3000);
      const minOneBatch = rnd() < 0.8;
      const reads = await Promise.all(logs.map((l) => l.read(offset, { maxBytes, minOneBatch })));
      assert.deepEqual(reads[0], reads[1], `read ${offset}/${maxBytes} at step ${step}`);
    } else {
      const t = 1_000n + BigInt(Math.floor(rnd() * Number(ts - 900n)));
      const found = await Promise.all(logs.map((l) => l.offsetForTimestamp(t)));
      assert.deepEqual(found[0], found[1], `timestamp ${t} at step ${step}`);
    }
    assert.deepEqual(logs[0]!.segmentBaseOffsets(), logs[1]!.segmentBaseOffsets(), `segments at step ${step}`);
  }
  await Promise.all(logs.map((l) => l.close()));
});
