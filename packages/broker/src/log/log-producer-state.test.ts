/**
 * Producer state wired into the Log: sequence and epoch checks on append, duplicates answered
 * with their first offsets, transaction markers into `.txnindex` and the last stable offset,
 * snapshots on roll and close, recovery after an unclean stop, truncation, retention, expiry.
 */
import assert from "node:assert/strict";
import fsp from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { ErrorCode, encodeEndTxnMarkerBatch, encodeRecordBatch, KafkaError } from "@samsa/protocol";
import { Log, type LogOptions } from "./log.js";
import { ManualClock, makeTempDir, removeDir } from "./test-support.js";

const TP = { topic: "t", partition: 0 };

function batch(opts: {
  producerId: bigint;
  epoch?: number;
  seq: number;
  count?: number;
  transactional?: boolean;
  timestamp?: bigint;
}): Buffer {
  const count = opts.count ?? 1;
  const ts = opts.timestamp ?? 1_700_000_000_000n;
  return encodeRecordBatch({
    records: Array.from({ length: count }, (_, i) => ({
      key: Buffer.from(`k${opts.seq + i}`),
      value: Buffer.from(`v${opts.seq + i}`),
      timestamp: ts,
    })),
    producerId: opts.producerId,
    producerEpoch: opts.epoch ?? 0,
    baseSequence: opts.seq,
    isTransactional: opts.transactional ?? false,
  });
}

function marker(producerId: bigint, commit: boolean, epoch = 0, coordinatorEpoch = 0): Buffer {
  return encodeEndTxnMarkerBatch({ producerId, producerEpoch: epoch, commit, coordinatorEpoch, timestamp: 1n });
}

async function rejects(p: Promise<unknown>, code: number): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof KafkaError, String(e));
    assert.equal(e.code, code, (e as Error).message);
    return true;
  });
}

describe("Log producer state", () => {
  let dir: string;
  let clock: ManualClock;
  const open = (extra: Partial<LogOptions> = {}) =>
    Log.open({ dir: path.join(dir, "t-0"), topicPartition: TP, time: clock, hadCleanShutdown: true, ...extra });

  beforeEach(async () => {
    dir = await makeTempDir("samsa-pstate-");
    clock = new ManualClock();
  });
  afterEach(async () => {
    await removeDir(dir);
  });

  it("answers a retried batch with the offsets it was first written at, writing nothing", async () => {
    const log = await open();
    await log.append(batch({ producerId: 1n, seq: 0, count: 3 }));
    await log.append(makePlain());
    const first = await log.append(batch({ producerId: 1n, seq: 3, count: 2 }));
    assert.equal(first.firstOffset, 4n);
    const end = log.logEndOffset;
    const retry = await log.append(batch({ producerId: 1n, seq: 3, count: 2 }));
    assert.deepEqual([retry.firstOffset, retry.lastOffset, retry.duplicate], [4n, 5n, true]);
    const older = await log.append(batch({ producerId: 1n, seq: 0, count: 3 }));
    assert.deepEqual([older.firstOffset, older.lastOffset], [0n, 2n]);
    assert.equal(log.logEndOffset, end);
    await log.close();
  });

  it("refuses sequence gaps, stale epochs and a new epoch not starting at 0 with Kafka's codes", async () => {
    const log = await open();
    await log.append(batch({ producerId: 7n, seq: 0 }));
    await rejects(log.append(batch({ producerId: 7n, seq: 2 })), ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
    await log.append(batch({ producerId: 7n, seq: 1 }));
    await rejects(log.append(batch({ producerId: 7n, epoch: 1, seq: 5 })), ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
    await log.append(batch({ producerId: 7n, epoch: 1, seq: 0 }));
    await rejects(log.append(batch({ producerId: 7n, epoch: 0, seq: 2 })), ErrorCode.INVALID_PRODUCER_EPOCH);
    // An unknown producer may start at any sequence (the broker no longer answers UNKNOWN_PRODUCER_ID).
    await log.append(batch({ producerId: 8n, seq: 42 }));
    assert.equal(log.producerStateOf(7n)?.producerEpoch, 1);
    assert.equal(log.logEndOffset, 4n);
    await log.close();
  });

  it("refuses a client's control batch and an idempotent batch without a sequence (INVALID_RECORD)", async () => {
    const log = await open();
    await rejects(log.append(marker(5n, true)), ErrorCode.INVALID_RECORD);
    await rejects(log.append(batch({ producerId: 5n, seq: -1 })), ErrorCode.INVALID_RECORD);
    assert.equal(log.logEndOffset, 0n);
    await log.close();
  });

  it("tracks transactions: LSO held at the open transaction, aborted ones in the .txnindex, a non-transactional write mid-transaction refused", async () => {
    const log = await open();
    await log.append(makePlain()); // 0
    await log.append(batch({ producerId: 10n, seq: 0, count: 2, transactional: true })); // 1-2
    await log.append(batch({ producerId: 11n, seq: 0, transactional: true })); // 3
    assert.equal(log.lastStableOffset, 1n);
    await rejects(log.append(batch({ producerId: 10n, seq: 2 })), ErrorCode.INVALID_TXN_STATE);
    await log.append(marker(10n, false), { origin: "coordinator" }); // 4: abort 10
    assert.equal(log.lastStableOffset, 3n, "held by producer 11's open transaction");
    await log.append(marker(11n, true), { origin: "coordinator" }); // 5: commit 11
    assert.equal(log.lastStableOffset, 6n);
    assert.equal(log.logEndOffset, 6n);
    assert.deepEqual(log.collectAbortedTransactions(0n, 6n), [
      { producerId: 10n, firstOffset: 1n, lastOffset: 4n, lastStableOffset: 3n },
    ]);
    assert.deepEqual(log.collectAbortedTransactions(5n, 6n), []);
    // A marker from an older coordinator epoch is fenced.
    await log.append(batch({ producerId: 10n, seq: 2, transactional: true }));
    await log.append(marker(10n, true, 0, 3), { origin: "coordinator" });
    await log.append(batch({ producerId: 10n, seq: 3, transactional: true }));
    await rejects(
      log.append(marker(10n, false, 0, 2), { origin: "coordinator" }),
      ErrorCode.TRANSACTION_COORDINATOR_FENCED,
    );
    await log.close();
    const files = await fsp.readdir(path.join(dir, "t-0"));
    assert.ok(files.includes("00000000000000000000.txnindex"), files.join(" "));
  });

  it("restores producers, open transactions and aborted transactions after a clean restart (snapshot at the log end)", async () => {
    let log = await open();
    await log.append(batch({ producerId: 1n, seq: 0, count: 2 }));
    await log.append(batch({ producerId: 2n, seq: 0, transactional: true }));
    await log.append(marker(2n, false), { origin: "coordinator" });
    await log.append(batch({ producerId: 3n, seq: 0, transactional: true }));
    await log.close();
    assert.deepEqual(log.producerSnapshotOffsets(), [5n]);
    log = await open();
    const retry = await log.append(batch({ producerId: 1n, seq: 0, count: 2 }));
    assert.equal(retry.duplicate, true);
    assert.equal(retry.firstOffset, 0n);
    await rejects(log.append(batch({ producerId: 1n, seq: 5 })), ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert.equal(log.lastStableOffset, 4n, "producer 3's transaction is still open");
    assert.equal(log.collectAbortedTransactions(0n, 5n).length, 1);
    await log.close();
  });

  it("recovers after an unclean stop: replays from the newest snapshot and rebuilds a lost .txnindex", async () => {
    let log = await open({ config: { segmentBytes: 400 } });
    let seq = 0;
    for (let i = 0; i < 6; i++) {
      await log.append(batch({ producerId: 1n, seq, count: 2 }));
      seq += 2;
    }
    const txnFirst = log.logEndOffset;
    await log.append(batch({ producerId: 2n, seq: 0, transactional: true }));
    await log.append(marker(2n, false), { origin: "coordinator" });
    await log.append(batch({ producerId: 1n, seq, count: 2 }));
    seq += 2;
    assert.ok(log.segmentBaseOffsets().length > 1, "rolled");
    assert.ok(log.producerSnapshotOffsets().length > 0, "snapshots on roll");
    const end = log.logEndOffset;
    const active = log.segmentBaseOffsets().at(-1)!;
    // Abandoned without close (SIGKILL: the bytes are in the page cache), and the .txnindex lost.
    const dirPath = path.join(dir, "t-0");
    for (const f of await fsp.readdir(dirPath)) if (f.endsWith(".txnindex")) await fsp.rm(path.join(dirPath, f));
    log = await open({ hadCleanShutdown: false, recoveryPoint: 0n, config: { segmentBytes: 400 } });
    assert.equal(log.logEndOffset, end);
    assert.equal(log.segmentBaseOffsets().at(-1), active);
    const dup = await log.append(batch({ producerId: 1n, seq: seq - 2, count: 2 }));
    assert.equal(dup.duplicate, true);
    await log.append(batch({ producerId: 1n, seq, count: 1 }));
    assert.deepEqual(
      log.collectAbortedTransactions(0n, log.logEndOffset).map((t) => [t.producerId, t.firstOffset]),
      [[2n, txnFirst]],
    );
    await log.close();
  });

  it("truncation reloads producer state from before the cut", async () => {
    const log = await open({ config: { segmentBytes: 300 } });
    for (let s = 0; s < 10; s++) await log.append(batch({ producerId: 4n, seq: s }));
    await log.truncateTo(5n);
    assert.equal(log.logEndOffset, 5n);
    assert.equal(log.producerStateOf(4n)?.lastSeq, 4);
    await rejects(log.append(batch({ producerId: 4n, seq: 9 })), ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
    const next = await log.append(batch({ producerId: 4n, seq: 5 }));
    assert.equal(next.firstOffset, 5n);
    await log.close();
  });

  it("retention deletes the snapshots of deleted segments, and .txnindex files go with their segments", async () => {
    const log = await open({ config: { segmentBytes: 300, fileDeleteDelayMs: 0 } });
    for (let s = 0; s < 6; s++) {
      await log.append(batch({ producerId: 4n, seq: s, transactional: true }));
      await log.append(marker(4n, false), { origin: "coordinator" });
    }
    const bases = log.segmentBaseOffsets();
    assert.ok(bases.length >= 3);
    await log.maybeIncrementLogStartOffset(bases[2]!);
    await log.deleteOldSegments();
    await log.deleteExpiredFiles();
    assert.ok(
      log.producerSnapshotOffsets().every((o) => o >= bases[2]!),
      String(log.producerSnapshotOffsets()),
    );
    const files = await fsp.readdir(path.join(dir, "t-0"));
    for (const b of bases.slice(0, 2)) {
      const prefix = b.toString().padStart(20, "0");
      assert.deepEqual(
        files.filter((f) => f.startsWith(prefix)),
        [],
      );
    }
    assert.ok(files.some((f) => f.endsWith(".txnindex")));
    await log.close();
  });

  it("expires idle producers after producer.id.expiration.ms, never one with an open transaction", async () => {
    const log = await open({ producerIdExpirationMs: 60_000 });
    clock.ms = 1_700_000_000_000;
    await log.append(batch({ producerId: 1n, seq: 0, timestamp: BigInt(clock.ms) }));
    await log.append(batch({ producerId: 2n, seq: 0, transactional: true, timestamp: BigInt(clock.ms) }));
    clock.advance(59_000);
    assert.equal(await log.removeExpiredProducers(), 0);
    clock.advance(2_000);
    assert.equal(await log.removeExpiredProducers(), 1);
    assert.equal(log.producerStateOf(1n), undefined);
    assert.notEqual(log.producerStateOf(2n), undefined);
    // An expired producer is unknown: it may continue at any sequence.
    await log.append(batch({ producerId: 1n, seq: 7, timestamp: BigInt(clock.ms) }));
    await log.close();
  });
});

function makePlain(): Buffer {
  return encodeRecordBatch({ records: [{ key: null, value: Buffer.from("plain"), timestamp: 1_700_000_000_000n }] });
}
