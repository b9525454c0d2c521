/**
 * File-backed Log behaviour beyond the contract: durability and group commit, fault handling
 * (ENOSPC, failed fsync), index files on disk, rolling on a full index, truncation, the
 * leader-epoch cache, and reopening.
 */
import assert from "node:assert/strict";
import fsp from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { KafkaStorageError } from "./errors.js";
import { LEADER_EPOCH_CHECKPOINT_FILE, logFileName, offsetIndexFileName, timeIndexFileName } from "./file-names.js";
import { Log, type LogOptions } from "./log.js";
import { decodeRecordBatch } from "./records.js";
import { type FaultPlan, faultyFileSystem, ManualClock, makeBatch, makeTempDir, removeDir } from "./test-support.js";

let root: string;
let n = 0;
before(async () => {
  root = await makeTempDir();
});
after(async () => removeDir(root));

function options(extra: Partial<LogOptions> = {}): LogOptions {
  const tp = { topic: "log", partition: n++ };
  return { dir: path.join(root, `log-${tp.partition}`), topicPartition: tp, ...extra };
}

describe("durability", () => {
  test("by default an append is acknowledged without fsync; flush() moves the recovery point", async () => {
    const plan: FaultPlan = { syncs: 0, logBytesWritten: 0 };
    const log = await Log.open(options({ fs: faultyFileSystem(plan) }));
    for (let i = 0; i < 10; i++) await log.append(makeBatch({ count: 2 }));
    assert.equal(plan.syncs, 0);
    assert.equal(log.recoveryPoint, 0n);
    await log.flush();
    assert.equal(plan.syncs, 1);
    assert.equal(log.recoveryPoint, 20n);
    await log.close();
  });

  test("flush.messages=1: every append is fsynced before it resolves, and concurrent appends share fsyncs", async () => {
    const plan: FaultPlan = { syncs: 0, logBytesWritten: 0 };
    const log = await Log.open(options({ fs: faultyFileSystem(plan), config: { flushMessages: 1 } }));
    const one = await log.append(makeBatch({ count: 1 }));
    assert.equal(log.recoveryPoint, one.lastOffset + 1n, "acknowledged means fsynced");
    // Hold the next fsync open until all 200 appends are written: they must then share one more.
    let open = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    plan.syncGate = () => gate;
    const before = plan.syncs;
    const pending = Array.from({ length: 200 }, (_, i) => log.append(makeBatch({ count: 1, seed: i })));
    let resolved = 0;
    for (const p of pending) p.then(() => resolved++);
    while (log.logEndOffset < 201n) await new Promise((r) => setImmediate(r));
    assert.equal(resolved, 0, "no append acknowledged before its fsync");
    assert.equal(log.recoveryPoint, 1n, "nothing acknowledged while the fsync is held");
    open();
    const infos = await Promise.all(pending);
    for (const info of infos) assert.ok(log.recoveryPoint > info.lastOffset, "log.recoveryPoint > info.lastOffset");
    assert.equal(plan.syncs - before, 2, "200 concurrent appends, 2 fsyncs (group commit)");
    await log.close();
  });

  test("flush.messages=N: the append that makes N records unflushed waits for an fsync", async () => {
    const plan: FaultPlan = { syncs: 0, logBytesWritten: 0 };
    const log = await Log.open(options({ fs: faultyFileSystem(plan), config: { flushMessages: 10 } }));
    for (let i = 0; i < 4; i++) await log.append(makeBatch({ count: 2 }));
    assert.equal(plan.syncs, 0);
    await log.append(makeBatch({ count: 2 }));
    assert.equal(plan.syncs, 1);
    assert.equal(log.recoveryPoint, 10n);
    await log.close();
  });

  test("flush.ms: flushIfDue flushes once the injected clock passes flush.ms", async () => {
    const clock = new ManualClock();
    const plan: FaultPlan = { syncs: 0, logBytesWritten: 0 };
    const log = await Log.open(options({ fs: faultyFileSystem(plan), time: clock, config: { flushMs: 1000 } }));
    await log.append(makeBatch({ count: 3 }));
    assert.equal(await log.flushIfDue(), false);
    clock.advance(999);
    assert.equal(await log.flushIfDue(), false);
    clock.advance(1);
    assert.equal(await log.flushIfDue(), true);
    assert.equal(log.recoveryPoint, 3n);
    assert.equal(plan.syncs, 1);
    await log.close();
  });

  test("a roll fsyncs the old segment in the background and moves the recovery point past it", async () => {
    const log = await Log.open(options());
    await log.append(makeBatch({ count: 5 }));
    await log.roll();
    await log.flushUpTo(5n); // joins the background flush
    assert.equal(log.recoveryPoint, 5n);
    await log.close();
  });
});

describe("faults", () => {
  test("ENOSPC fails the append with KAFKA_STORAGE_ERROR, cuts the partial write, keeps everything acknowledged", async () => {
    const plan: FaultPlan = { syncs: 0, logBytesWritten: 0 };
    const opts = options({ fs: faultyFileSystem(plan) });
    const log = await Log.open(opts);
    const acked: Buffer[] = [];
    for (let i = 0; i < 5; i++) {
      const b = makeBatch({ count: 2, seed: i });
      await log.append(b);
      acked.push(b);
    }
    plan.writeError = "ENOSPC";
    plan.failWritesAfterBytes = plan.logBytesWritten + 17; // the next write gets 17 bytes in, then fails
    const err = await log.append(makeBatch({ count: 2 })).catch((e) => e);
    assert.ok(err instanceof KafkaStorageError, "err instanceof KafkaStorageError");
    assert.equal(err.code, 56);
    assert.equal(log.isOffline, false, "a full disk is not a broken disk");
    assert.equal(log.logEndOffset, 10n);
    const size = acked.reduce((s, b) => s + b.length, 0);
    assert.equal((await fsp.stat(logFileName(opts.dir, 0n))).size, size, "partial write cut off");
    plan.writeError = undefined; // space freed
    const next = await log.append(makeBatch({ count: 1 }));
    assert.equal(next.firstOffset, 10n);
    const r = await log.read(0n, { maxBytes: 1 << 20 });
    assert.deepEqual(r.records.subarray(0, size), Buffer.concat(acked));
    await log.close();
    const reopened = await Log.open({ ...opts, fs: undefined });
    assert.equal(reopened.logEndOffset, 11n);
    await reopened.close();
  });

  test("a failed fsync takes only this partition offline; everything answers KAFKA_STORAGE_ERROR", async () => {
    const plan: FaultPlan = { syncs: 0, logBytesWritten: 0 };
    const broken = await Log.open(options({ fs: faultyFileSystem(plan), config: { flushMessages: 1 } }));
    const healthy = await Log.open(options());
    await broken.append(makeBatch({ count: 1 }));
    plan.syncError = "EIO";
    await assert.rejects(broken.append(makeBatch({ count: 1 })), KafkaStorageError);
    assert.equal(broken.isOffline, true);
    await assert.rejects(
      broken.read(0n, { maxBytes: 100 }),
      (e: unknown) => e instanceof KafkaStorageError && e.code === 56,
    );
    await assert.rejects(broken.append(makeBatch({ count: 1 })), KafkaStorageError);
    await healthy.append(makeBatch({ count: 1 }));
    assert.equal((await healthy.read(0n, { maxBytes: 100 })).records.length > 0, true);
    await broken.close();
    await healthy.close();
  });
});

describe("segments and indexes on disk", () => {
  test("index files are preallocated while active and trimmed to their entries on roll", async () => {
    const opts = options({ config: { indexIntervalBytes: 100, segmentIndexBytes: 8000 } });
    const log = await Log.open(opts);
    for (let i = 0; i < 20; i++) await log.append(makeBatch({ count: 2, valueSize: 50, seed: i }));
    assert.equal((await fsp.stat(offsetIndexFileName(opts.dir, 0n))).size, 8000);
    assert.equal((await fsp.stat(timeIndexFileName(opts.dir, 0n))).size, 7992);
    await log.roll();
    const entries = (await fsp.stat(offsetIndexFileName(opts.dir, 0n))).size / 8;
    assert.ok(entries > 5 && entries < 20, `${entries} entries, one per ~100 bytes`);
    assert.equal((await fsp.stat(timeIndexFileName(opts.dir, 0n))).size % 12, 0);
    assert.equal((await fsp.stat(offsetIndexFileName(opts.dir, 40n))).size, 8000);
    await log.close();
  });

  test("a full offset index rolls the segment", async () => {
    const log = await Log.open(options({ config: { indexIntervalBytes: 1, segmentIndexBytes: 5 * 12 } }));
    for (let i = 0; i < 12; i++) await log.append(makeBatch({ count: 1, seed: i }));
    assert.ok(log.segmentBaseOffsets().length >= 2, `segments ${log.segmentBaseOffsets()}`);
    for (let o = 0n; o < 12n; o++) {
      const r = await log.read(o, { maxBytes: 1 });
      assert.equal(decodeRecordBatch(r.records).header.baseOffset, o);
    }
    await log.close();
  });

  test("the read path returns the file's bytes at [position, position + size)", async () => {
    const opts = options({ config: { indexIntervalBytes: 64 } });
    const log = await Log.open(opts);
    for (let i = 0; i < 30; i++) await log.append(makeBatch({ count: 3, seed: i }));
    const r = await log.read(40n, { maxBytes: 700 });
    const file = await fsp.readFile(logFileName(opts.dir, r.segmentBaseOffset));
    assert.deepEqual(r.records, file.subarray(r.position, r.position + r.records.length));
    await log.close();
  });

  test("reopening after close keeps everything and reads indexes lazily", async () => {
    const opts = options({ config: { segmentBytes: 2000, indexIntervalBytes: 100 } });
    const log = await Log.open(opts);
    for (let i = 0; i < 50; i++) await log.append(makeBatch({ count: 2, seed: i }));
    const before = await log.read(33n, { maxBytes: 500 });
    await log.close();
    const reopened = await Log.open({ ...opts, hadCleanShutdown: true });
    assert.equal(reopened.logEndOffset, 100n);
    assert.equal(reopened.recoveryPoint, 100n);
    assert.deepEqual(reopened.segmentBaseOffsets(), log.segmentBaseOffsets());
    const first = reopened.logSegments()[0]!;
    assert.equal(first.offsetIndex.entries, 0, "not loaded before first use");
    assert.deepEqual(await reopened.read(33n, { maxBytes: 500 }), before);
    await reopened.read(1n, { maxBytes: 10 });
    assert.ok(first.offsetIndex.entries > 0, "loaded on first use");
    await reopened.close();
  });

  test("truncateTo removes the batches at and after an offset, across segments", async () => {
    const opts = options({ config: { segmentBytes: 1000 } });
    const log = await Log.open(opts);
    for (let i = 0; i < 30; i++) await log.append(makeBatch({ count: 2, seed: i }), { leaderEpoch: i < 15 ? 3 : 4 });
    assert.ok(log.segmentBaseOffsets().length > 3, "log.segmentBaseOffsets().length > 3");
    await log.truncateTo(21n); // inside the batch 20..21: it goes too
    assert.equal(log.logEndOffset, 20n);
    assert.ok(
      log.segmentBaseOffsets().every((b) => b <= 20n),
      "log.segmentBaseOffsets().every((b) => b <= 20n)",
    );
    assert.deepEqual(log.leaderEpochCache.entries(), [{ epoch: 3, startOffset: 0n }]);
    const appended = await log.append(makeBatch({ count: 1 }), { leaderEpoch: 5 });
    assert.equal(appended.firstOffset, 20n);
    await log.close();
    const reopened = await Log.open(opts);
    assert.equal(reopened.logEndOffset, 21n);
    await reopened.close();
  });
});

describe("leader-epoch cache", () => {
  test("epochs are learned from appends, persisted, and relearned by recovery", async () => {
    const opts = options();
    const log = await Log.open(opts);
    await log.append(makeBatch({ count: 3 }), { leaderEpoch: 0 });
    await log.append(makeBatch({ count: 3 }), { leaderEpoch: 0 });
    await log.append(makeBatch({ count: 3 }), { leaderEpoch: 2 });
    assert.deepEqual(log.leaderEpochCache.entries(), [
      { epoch: 0, startOffset: 0n },
      { epoch: 2, startOffset: 6n },
    ]);
    assert.deepEqual(log.leaderEpochCache.endOffsetFor(0, log.logEndOffset), { epoch: 0, endOffset: 6n });
    assert.deepEqual(log.leaderEpochCache.endOffsetFor(1, log.logEndOffset), { epoch: 0, endOffset: 6n });
    assert.deepEqual(log.leaderEpochCache.endOffsetFor(2, log.logEndOffset), { epoch: 2, endOffset: 9n });
    assert.equal(await fsp.readFile(path.join(opts.dir, LEADER_EPOCH_CHECKPOINT_FILE), "utf8"), "0\n2\n0 0\n2 6\n");
    await log.close();
    // A corrupt checkpoint is rebuilt from the batches.
    await fsp.writeFile(path.join(opts.dir, LEADER_EPOCH_CHECKPOINT_FILE), "0\n7\nnonsense\n");
    const reopened = await Log.open({ ...opts, hadCleanShutdown: true });
    assert.deepEqual(reopened.leaderEpochCache.entries(), [
      { epoch: 0, startOffset: 0n },
      { epoch: 2, startOffset: 6n },
    ]);
    await reopened.close();
    assert.equal(await fsp.readFile(path.join(opts.dir, LEADER_EPOCH_CHECKPOINT_FILE), "utf8"), "0\n2\n0 0\n2 6\n");
  });
});
