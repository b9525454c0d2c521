/**
 * Retention (Log.deleteOldSegments, LogManager.cleanupLogs) on an injected clock: by time (a
 * segment's largest timestamp), by size, by log start offset (DeleteRecords); never the empty
 * active segment, but an expired active one is rolled so its data can go; `.deleted` files removed
 * after file.delete.delay.ms and at the next start; the log start offset checkpointed and reloaded;
 * reads racing a deletion.
 */
import assert from "node:assert/strict";
import fsp from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { OffsetCheckpointFile } from "./checkpoint-file.js";
import type { LogConfig } from "./config.js";
import { OffsetOutOfRangeError } from "./errors.js";
import { LOG_START_OFFSET_CHECKPOINT_FILE } from "./file-names.js";
import type { FileSystem } from "./file-system.js";
import { nodeFileSystem } from "./file-system.js";
import { Log, type LogOptions } from "./log.js";
import { LogManager } from "./log-manager.js";
import { EARLIEST_TIMESTAMP } from "./partition-log.js";
import { capturingLogger, ManualClock, makeBatch, makeTempDir, removeDir, settle } from "./test-support.js";

const HOUR_MS = 3_600_000;
let root: string;
let n = 0;
before(async () => {
  root = await makeTempDir("samsa-retention-");
});
after(async () => removeDir(root));

function options(clock: ManualClock, config: Partial<LogConfig>, extra: Partial<LogOptions> = {}): LogOptions {
  const tp = { topic: "retention", partition: n++ };
  return { dir: path.join(root, `retention-${tp.partition}`), topicPartition: tp, time: clock, config, ...extra };
}

/** Appends `count` one-record batches with timestamps `timestampMs`, rolling after each `perSegment`. */
async function fill(log: Log, count: number, perSegment: number, timestampMs: (i: number) => number) {
  for (let i = 0; i < count; i++) {
    await log.append(makeBatch({ count: 1, valueSize: 100, timestamp: BigInt(timestampMs(i)), seed: i }));
    if ((i + 1) % perSegment === 0) await log.roll();
  }
}

async function files(log: Log): Promise<string[]> {
  return (await fsp.readdir(log.dir)).filter((f) => /\.(log|index|timeindex)(\.deleted)?$/.test(f)).sort();
}

const deletedFiles = async (log: Log) => (await files(log)).filter((f) => f.endsWith(".deleted"));

describe("retention by time", () => {
  test("deletes the oldest segments whose largest timestamp is older than retention.ms, and moves the log start offset", async () => {
    const clock = new ManualClock();
    const log = await Log.open(options(clock, { retentionMs: HOUR_MS, fileDeleteDelayMs: 60_000 }));
    const t0 = clock.ms;
    // Segments [0,3) [3,6) [6,9) [9,..): timestamps t0, t0+1h, t0+2h, t0+3h.
    await fill(log, 10, 3, (i) => t0 + Math.floor(i / 3) * HOUR_MS);
    assert.deepEqual(log.segmentBaseOffsets(), [0n, 3n, 6n, 9n]);

    clock.ms = t0 + HOUR_MS; // nothing is more than an hour old
    assert.equal(await log.deleteOldSegments(), 0);

    // Segment 0's largest timestamp is t0+2: it is breached 1 ms after t0+1h+2.
    clock.ms = t0 + HOUR_MS + 3;
    assert.equal(await log.deleteOldSegments(), 1);
    assert.deepEqual(log.segmentBaseOffsets(), [3n, 6n, 9n]);
    assert.equal(log.logStartOffset, 3n);

    // A later segment's breach does not skip an earlier one that is not breached: oldest first.
    clock.ms = t0 + 2 * HOUR_MS + 3;
    assert.equal(await log.deleteOldSegments(), 1);
    assert.equal(log.logStartOffset, 6n);
    await assert.rejects(log.read(0n, { maxBytes: 1000 }), OffsetOutOfRangeError);
    const r = await log.read(6n, { maxBytes: 1 << 20 });
    assert.ok(r.records.length > 0);
    assert.deepEqual(await log.offsetForTimestamp(EARLIEST_TIMESTAMP), { timestamp: -1n, offset: 6n });
    await log.close();
  });

  test("judges a segment by its largest timestamp, not its first or the file's age", async () => {
    const clock = new ManualClock();
    const log = await Log.open(options(clock, { retentionMs: HOUR_MS }));
    const t0 = clock.ms;
    // One segment whose first record is old and last record is new, then the active one.
    await log.append(makeBatch({ count: 1, timestamp: BigInt(t0 - 10 * HOUR_MS) }));
    await log.append(makeBatch({ count: 1, timestamp: BigInt(t0) }));
    await log.roll();
    await log.append(makeBatch({ count: 1, timestamp: BigInt(t0) }));
    clock.ms = t0 + HOUR_MS;
    assert.equal(await log.deleteOldSegments(), 0, "the newest record is exactly retention.ms old: kept");
    clock.ms = t0 + HOUR_MS + 1;
    assert.equal(await log.deleteOldSegments(), 2, "both breached: the active one is rolled and deleted too");
    await log.close();
  });

  test("an expired active segment is rolled and deleted; the log keeps one empty segment at the log end", async () => {
    const clock = new ManualClock();
    const log = await Log.open(options(clock, { retentionMs: 1000, fileDeleteDelayMs: 0 }));
    await fill(log, 5, 100, () => clock.ms);
    assert.deepEqual(log.segmentBaseOffsets(), [0n], "everything in the active segment");
    clock.advance(1001);
    assert.equal(await log.deleteOldSegments(), 1);
    assert.deepEqual(log.segmentBaseOffsets(), [5n]);
    assert.equal(log.logStartOffset, 5n);
    assert.equal(log.logEndOffset, 5n);
    // The empty active segment is never deleted, however old.
    clock.advance(10 * HOUR_MS);
    assert.equal(await log.deleteOldSegments(), 0);
    assert.deepEqual(log.segmentBaseOffsets(), [5n]);
    // The log goes on from there.
    const info = await log.append(makeBatch({ count: 2, timestamp: BigInt(clock.ms) }));
    assert.equal(info.firstOffset, 5n);
    await log.close();
  });

  test("retention.ms = -1 keeps everything; cleanup.policy=compact deletes nothing by time or size", async () => {
    const clock = new ManualClock();
    for (const config of [
      { retentionMs: -1 },
      { cleanupPolicy: ["compact" as const], retentionMs: 1, retentionBytes: 1 },
    ]) {
      const log = await Log.open(options(clock, config));
      await fill(log, 6, 2, () => clock.ms - 100 * HOUR_MS);
      clock.advance(HOUR_MS);
      assert.equal(await log.deleteOldSegments(), 0, JSON.stringify(config));
      assert.equal(log.logStartOffset, 0n);
      await log.close();
    }
  });
});

describe("retention by size", () => {
  test("deletes the oldest segments while the log stays at least retention.bytes without them", async () => {
    const clock = new ManualClock();
    const probe = await Log.open(options(clock, {}));
    await probe.append(makeBatch({ count: 1, valueSize: 100 }));
    const batchBytes = probe.size;
    await probe.close();

    // 4 segments of 3 batches and an active one of 1: 13 batches.
    const log = await Log.open(options(clock, { retentionBytes: 7 * batchBytes }));
    await fill(log, 13, 3, () => clock.ms);
    assert.equal(log.size, 13 * batchBytes);
    // 13 - 7 = 6 batches too many: exactly the first two segments go, the third would leave 4 < 7.
    assert.equal(await log.deleteOldSegments(), 2);
    assert.deepEqual(log.segmentBaseOffsets(), [6n, 9n, 12n]);
    assert.equal(log.logStartOffset, 6n);
    assert.equal(await log.deleteOldSegments(), 0, "7 batches left: not above the limit by a whole segment");
    await log.append(makeBatch({ count: 1, valueSize: 100 }));
    await log.append(makeBatch({ count: 1, valueSize: 100 }));
    assert.equal(await log.deleteOldSegments(), 0, "9 batches: 2 over, the oldest segment holds 3");
    await log.append(makeBatch({ count: 1, valueSize: 100 }));
    assert.equal(await log.deleteOldSegments(), 1, "10 batches: 3 over");
    assert.equal(log.logStartOffset, 9n);
    await log.close();
  });

  test("by time and by size in one pass; the active segment is never deleted while a segment before it is kept", async () => {
    const clock = new ManualClock();
    const probe = await Log.open(options(clock, {}));
    await probe.append(makeBatch({ count: 1, valueSize: 100 }));
    const batchBytes = probe.size;
    await probe.close();
    const log = await Log.open(options(clock, { retentionBytes: 8 * batchBytes, retentionMs: HOUR_MS }));
    const t0 = clock.ms;
    // [0,2) old, [2,4) old, [4,6) new ... [10,12) new, active [12,13) new.
    await fill(log, 13, 2, (i) => (i < 4 ? t0 - 2 * HOUR_MS : t0));
    // Size: 13 - 8 = 5 over -> the first two segments (4 batches); time: the same two. One pass.
    assert.equal(await log.deleteOldSegments(), 2);
    assert.equal(log.logStartOffset, 4n);
    // Size again after more appends: the size rule deletes, the time rule has nothing.
    await fill(log, 4, 100, () => t0);
    assert.equal(await log.deleteOldSegments(), 2, "13 batches, 5 over: two segments of 2");
    assert.equal(log.logStartOffset, 8n);
    assert.ok(log.segmentBaseOffsets().includes(12n), "the active segment stays");
    await log.close();
  });
});

describe("log start offset (DeleteRecords)", () => {
  test("segments wholly below the log start offset go at the next pass, whatever the policy", async () => {
    const clock = new ManualClock();
    for (const cleanupPolicy of [["delete"], ["compact"]] as const) {
      const log = await Log.open(options(clock, { cleanupPolicy, retentionMs: -1 }));
      await fill(log, 9, 3, () => clock.ms);
      assert.equal(await log.maybeIncrementLogStartOffset(4n), true);
      assert.equal(await log.maybeIncrementLogStartOffset(2n), false, "never backwards");
      assert.equal(log.logStartOffset, 4n);
      assert.deepEqual(log.segmentBaseOffsets(), [0n, 3n, 6n, 9n], "deletion waits for the retention pass");
      await assert.rejects(log.read(3n, { maxBytes: 1000 }), OffsetOutOfRangeError);
      assert.equal(await log.deleteOldSegments(), 1, cleanupPolicy.join());
      assert.deepEqual(log.segmentBaseOffsets(), [3n, 6n, 9n], "the segment holding the start offset stays");
      assert.equal(log.logStartOffset, 4n, "and the log start offset does not move back to its base");
      await assert.rejects(log.maybeIncrementLogStartOffset(10n), OffsetOutOfRangeError);
      // Up to the log end: every segment below goes; the empty active segment stays.
      await log.maybeIncrementLogStartOffset(9n);
      assert.equal(await log.deleteOldSegments(), 2);
      assert.deepEqual(log.segmentBaseOffsets(), [9n]);
      await log.close();
    }
  });
});

describe(".deleted files", () => {
  test("segments are renamed .deleted at once and removed after file.delete.delay.ms", async () => {
    const clock = new ManualClock();
    const log = await Log.open(options(clock, { retentionMs: 1000, fileDeleteDelayMs: 60_000 }));
    await fill(log, 6, 2, () => clock.ms);
    clock.advance(500);
    await log.append(makeBatch({ count: 1, timestamp: BigInt(clock.ms) }));
    clock.advance(600);
    assert.equal(await log.deleteOldSegments(), 3);
    assert.deepEqual(await deletedFiles(log), [
      "00000000000000000000.index.deleted",
      "00000000000000000000.log.deleted",
      "00000000000000000000.timeindex.deleted",
      "00000000000000000002.index.deleted",
      "00000000000000000002.log.deleted",
      "00000000000000000002.timeindex.deleted",
      "00000000000000000004.index.deleted",
      "00000000000000000004.log.deleted",
      "00000000000000000004.timeindex.deleted",
    ]);
    clock.advance(59_999);
    assert.equal(await log.deleteExpiredFiles(), 0);
    assert.equal((await deletedFiles(log)).length, 9);
    clock.advance(1);
    assert.equal(await log.deleteExpiredFiles(), 3);
    assert.deepEqual(await deletedFiles(log), []);
    assert.deepEqual(await files(log), [
      "00000000000000000006.index",
      "00000000000000000006.log",
      "00000000000000000006.timeindex",
    ]);
    await log.close();
  });

  test("file.delete.delay.ms = 0 deletes on the next tick (the timer), without a clock advance", async () => {
    const clock = new ManualClock();
    const log = await Log.open(options(clock, { retentionBytes: 1, fileDeleteDelayMs: 0 }));
    await fill(log, 5, 2, () => clock.ms);
    assert.equal(await log.deleteOldSegments(), 2, "[0,2) and [2,4) go, the active [4,5) keeps the log at >= 1 byte");
    for (let i = 0; i < 100 && (await deletedFiles(log)).length > 0; i++) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(await deletedFiles(log), []);
    await log.close();
  });

  test("a close leaves .deleted files; the next open removes them", async () => {
    const clock = new ManualClock();
    const opts = options(clock, { retentionMs: 1000, fileDeleteDelayMs: 60_000 });
    const log = await Log.open(opts);
    await fill(log, 4, 2, () => clock.ms);
    await log.append(makeBatch({ count: 1, timestamp: BigInt(clock.ms + 5000) }));
    clock.advance(2000);
    assert.equal(await log.deleteOldSegments(), 2);
    await log.close();
    assert.equal((await deletedFiles(log)).length, 6);
    const reopened = await Log.open({ ...opts, logStartOffset: 0n });
    assert.deepEqual(await deletedFiles(reopened), []);
    assert.deepEqual(reopened.segmentBaseOffsets(), [4n]);
    assert.equal(reopened.logStartOffset, 4n, "a checkpoint behind the first segment is moved up to it");
    assert.equal(reopened.logEndOffset, 5n);
    await reopened.close();
  });
});

describe("LogManager", () => {
  test("cleanupLogs runs retention over every log and checkpoints the moved log start offsets; reload keeps them", async () => {
    const clock = new ManualClock();
    const logDir = path.join(root, "manager");
    const manager = await LogManager.open({ logDir, time: clock, config: { retentionMs: HOUR_MS } });
    const a = await manager.getOrCreateLog({ topic: "a", partition: 0 });
    const b = await manager.getOrCreateLog({ topic: "b", partition: 0 });
    await fill(a, 6, 2, () => clock.ms);
    await fill(b, 6, 2, () => clock.ms + 2 * HOUR_MS);
    clock.advance(HOUR_MS + 10);
    assert.equal(await manager.cleanupLogs(), 3, "all of a (its active segment rolled), none of b");
    assert.equal(a.logStartOffset, 6n);
    assert.equal(b.logStartOffset, 0n);
    const checkpoint = new OffsetCheckpointFile(path.join(logDir, LOG_START_OFFSET_CHECKPOINT_FILE));
    assert.equal((await checkpoint.read())?.get("a-0"), 6n, "checkpointed by the pass, not a minute later");
    // DeleteRecords: checkpointed before maybeIncrementLogStartOffset resolves.
    await b.maybeIncrementLogStartOffset(3n);
    assert.equal((await checkpoint.read())?.get("b-0"), 3n);
    await manager.shutdown();
    const reopened = await LogManager.open({ logDir, time: clock, config: { retentionMs: HOUR_MS } });
    assert.equal(reopened.getLog({ topic: "a", partition: 0 })!.logStartOffset, 6n);
    assert.equal(reopened.getLog({ topic: "b", partition: 0 })!.logStartOffset, 3n);
    assert.equal(await reopened.cleanupLogs(), 1, "b's segment [0,2) is below its start offset 3");
    assert.equal(reopened.getLog({ topic: "b", partition: 0 })!.logStartOffset, 3n);
    await reopened.shutdown();
  });

  test("a log that fails retention is logged and the pass goes on; offline logs are skipped", async () => {
    const clock = new ManualClock();
    const { logger, lines } = capturingLogger("error");
    const logDir = path.join(root, "manager-errors");
    const manager = await LogManager.open({ logDir, time: clock, logger, config: { retentionMs: 10 } });
    const broken = await manager.getOrCreateLog({ topic: "broken", partition: 0 });
    const fine = await manager.getOrCreateLog({ topic: "fine", partition: 0 });
    await fill(broken, 4, 2, () => clock.ms);
    await fill(fine, 4, 2, () => clock.ms);
    // The oldest segment's .log file vanishes under the log: renaming it fails, the log goes offline.
    await fsp.rm(path.join(broken.dir, "00000000000000000000.log"));
    clock.advance(1000);
    assert.equal(await manager.cleanupLogs(), 2, "fine's two segments");
    await settle();
    assert.ok(broken.isOffline);
    assert.ok(lines.some((l) => l.msg === "retention failed for a log"));
    assert.equal(await manager.cleanupLogs(), 0, "the offline log is skipped");
    await manager.shutdown();
  });
});

describe("reads racing a deletion", () => {
  test("a read whose segment is deleted under it answers OFFSET_OUT_OF_RANGE, never a storage error", async () => {
    const clock = new ManualClock();
    let gate: Promise<void> | null = null;
    let entered = () => {};
    // Holds reads of segment 0's .log file at the gate (the delete closes the handle meanwhile).
    const fs: FileSystem = {
      async open(file, flags) {
        const fh = await nodeFileSystem.open(file, flags);
        if (!file.endsWith("00000000000000000000.log")) return fh;
        return {
          write: (b, o, l, p) => fh.write(b, o, l, p),
          async read(b, o, l, p) {
            if (gate) {
              entered();
              await gate;
            }
            return fh.read(b, o, l, p);
          },
          truncate: (l) => fh.truncate(l),
          sync: () => fh.sync(),
          datasync: () => fh.datasync(),
          stat: () => fh.stat(),
          close: () => fh.close(),
        };
      },
    };
    const log = await Log.open(options(clock, { retentionMs: 1000, fileDeleteDelayMs: 0 }, { fs }));
    await fill(log, 4, 2, () => clock.ms);
    await log.append(makeBatch({ count: 1, timestamp: BigInt(clock.ms + 5000) }));
    let open = () => {};
    gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const inside = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const read = log.read(0n, { maxBytes: 1 << 20 });
    await inside;
    clock.advance(2000);
    assert.equal(await log.deleteOldSegments(), 2);
    assert.equal(await log.deleteExpiredFiles(), 2, "files deleted and handles closed while the read waits");
    gate = null;
    open();
    await assert.rejects(read, OffsetOutOfRangeError);
    assert.equal(log.isOffline, false);
    await log.close();
  });
});
