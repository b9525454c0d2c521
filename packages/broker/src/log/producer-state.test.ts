import assert from "node:assert/strict";
import { test } from "node:test";
import { ErrorCode, encodeEndTxnMarkerBatch, encodeRecordBatch, setBaseOffset } from "@samsa/protocol";
import {
  InvalidProducerEpochError,
  InvalidTxnStateError,
  OutOfOrderSequenceError,
  TransactionCoordinatorFencedError,
} from "./errors.js";
import {
  type AppendOrigin,
  batchFirstOffset,
  batchFirstSeq,
  type CompletedTxn,
  decrementSequence,
  INT32_MAX,
  incrementSequence,
  type ProducerBatch,
  ProducerStateManager,
  producerBatchAt,
} from "./producer-state.js";
import { producerStateEntryOf, snapshotEntryOf } from "./producer-state-snapshot.js";
import { ManualClock, seededRandom } from "./test-support.js";

const T0 = 1_700_000_000_000n;

function newManager(clock = new ManualClock(Number(T0)), expirationMs = 60_000): ProducerStateManager {
  return new ProducerStateManager({ clock, producerIdExpirationMs: expirationMs, partition: "t-0" });
}

/** A data batch of `count` records starting at `baseSequence`, written at `baseOffset`. */
function data(
  pid: bigint,
  epoch: number,
  baseSequence: number,
  count: number,
  baseOffset: bigint,
  opts: { txn?: boolean; ts?: bigint } = {},
): ProducerBatch {
  return {
    producerId: pid,
    producerEpoch: epoch,
    baseSequence,
    lastSequence: incrementSequence(baseSequence, count - 1),
    baseOffset,
    lastOffset: baseOffset + BigInt(count - 1),
    maxTimestamp: opts.ts ?? T0,
    isTransactional: opts.txn ?? false,
  };
}

function marker(
  pid: bigint,
  epoch: number,
  offset: bigint,
  isAbort: boolean,
  coordinatorEpoch = 0,
  ts = T0,
): ProducerBatch {
  return {
    producerId: pid,
    producerEpoch: epoch,
    baseSequence: -1,
    lastSequence: -1,
    baseOffset: offset,
    lastOffset: offset,
    maxTimestamp: ts,
    isTransactional: true,
    control: { isAbort, coordinatorEpoch, timestamp: ts },
  };
}

/** The append path as Log.append will run it: analyze, then apply and complete transactions. */
function append(
  m: ProducerStateManager,
  batches: ProducerBatch[],
  origin: AppendOrigin = "client",
): { duplicate: { firstOffset: bigint; lastOffset: bigint } | null; completed: { txn: CompletedTxn; lso: bigint }[] } {
  const analysis = m.analyzeAppend(batches, origin);
  if (analysis.duplicate !== null)
    return {
      duplicate: { firstOffset: batchFirstOffset(analysis.duplicate), lastOffset: analysis.duplicate.lastOffset },
      completed: [],
    };
  m.applyAppend(analysis);
  const completed = analysis.completedTxns.map((txn) => {
    const lso = m.lastStableOffset(txn);
    m.completeTxn(txn);
    return { txn, lso };
  });
  m.updateMapEndOffset(batches.at(-1)!.lastOffset + 1n);
  return { duplicate: null, completed };
}

function code(fn: () => unknown): number {
  try {
    fn();
  } catch (e) {
    return (e as { code: number }).code;
  }
  return 0;
}

test("sequence arithmetic wraps at Int32.MAX as Kafka's DefaultRecordBatch", () => {
  assert.equal(incrementSequence(5, 3), 8);
  assert.equal(incrementSequence(INT32_MAX, 1), 0);
  assert.equal(incrementSequence(INT32_MAX - 1, 3), 1);
  assert.equal(decrementSequence(1, 3), INT32_MAX - 1);
  assert.equal(decrementSequence(0, 1), INT32_MAX);
  assert.equal(decrementSequence(10, 4), 6);
  assert.equal(batchFirstSeq({ lastSeq: 1, lastOffset: 10n, offsetDelta: 3, timestamp: 0n }), INT32_MAX - 1);
});

test("an unknown producer may start at any sequence; then sequences must be contiguous", () => {
  const m = newManager();
  append(m, [data(1n, 0, 0, 3, 0n)]);
  append(m, [data(2n, 0, 42, 1, 3n)]); // no UNKNOWN_PRODUCER_ID from the current broker
  assert.equal(m.lastEntry(2n)!.lastSeq, 42);
  append(m, [data(1n, 0, 3, 2, 4n)]);
  assert.equal(
    code(() => m.analyzeAppend([data(1n, 0, 6, 1, 6n)], "client")),
    ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
  );
  assert.throws(() => m.analyzeAppend([data(1n, 0, 4, 1, 6n)], "client"), OutOfOrderSequenceError);
  const e = m.lastEntry(1n)!;
  assert.equal(e.firstSeq, 0);
  assert.equal(e.lastSeq, 4);
  assert.equal(e.firstDataOffset, 0n);
  assert.equal(e.lastDataOffset, 5n);
  assert.equal(e.lastOffsetDelta, 1);
  assert.equal(m.mapEndOffset, 6n);
});

test("epochs: an older one is INVALID_PRODUCER_EPOCH; a new one must start at 0 and forgets the old batches", () => {
  const m = newManager();
  append(m, [data(7n, 3, 0, 1, 0n)]);
  append(m, [data(7n, 3, 1, 1, 1n)]);
  assert.equal(
    code(() => m.analyzeAppend([data(7n, 2, 2, 1, 2n)], "client")),
    ErrorCode.INVALID_PRODUCER_EPOCH,
  );
  assert.throws(() => m.analyzeAppend([data(7n, 2, 0, 1, 2n)], "coordinator"), InvalidProducerEpochError);
  assert.equal(
    code(() => m.analyzeAppend([data(7n, 4, 5, 1, 2n)], "client")),
    ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
  );
  append(m, [data(7n, 4, 0, 2, 2n)]);
  const e = m.lastEntry(7n)!;
  assert.equal(e.producerEpoch, 4);
  assert.equal(e.batchMetadata.length, 1);
  // A retry of an old-epoch batch is no longer a duplicate: it is fenced.
  assert.throws(() => m.analyzeAppend([data(7n, 3, 1, 1, 9n)], "client"), InvalidProducerEpochError);
});

test("a retry of any of the last 5 batches is a duplicate answered with its original offsets", () => {
  const m = newManager();
  let offset = 100n;
  const written: { seq: number; count: number; first: bigint; last: bigint }[] = [];
  let seq = 0;
  for (let i = 0; i < 7; i++) {
    const count = 1 + (i % 3);
    append(m, [data(9n, 0, seq, count, offset)]);
    written.push({ seq, count, first: offset, last: offset + BigInt(count - 1) });
    seq += count;
    offset += BigInt(count) + 10n; // other producers' records in between
  }
  for (const w of written.slice(-5)) {
    const r = append(m, [data(9n, 0, w.seq, w.count, 999n)]);
    assert.deepEqual(r.duplicate, { firstOffset: w.first, lastOffset: w.last });
  }
  // Older than the last five: not remembered, so out of order (what Kafka answers too).
  assert.throws(
    () => m.analyzeAppend([data(9n, 0, written[1]!.seq, written[1]!.count, 999n)], "client"),
    OutOfOrderSequenceError,
  );
  // Same first sequence but a different range is not a duplicate.
  const w = written.at(-1)!;
  assert.throws(() => m.analyzeAppend([data(9n, 0, w.seq, w.count + 1, 999n)], "client"), OutOfOrderSequenceError);
  // Duplicates are a client concern: replication appends whatever the leader wrote.
  assert.equal(m.analyzeAppend([data(9n, 0, w.seq, w.count, 999n)], "replication").duplicate, null);
});

test("sequences wrap from Int32.MAX to 0, also inside one batch", () => {
  const m = newManager();
  append(m, [data(1n, 0, INT32_MAX - 2, 3, 0n)]);
  assert.equal(m.lastEntry(1n)!.lastSeq, INT32_MAX);
  append(m, [data(1n, 0, 0, 2, 3n)]);
  append(m, [data(1n, 0, 2, 1, 5n)]);
  const m2 = newManager();
  append(m2, [data(1n, 0, INT32_MAX - 1, 4, 0n)]);
  assert.equal(m2.lastEntry(1n)!.lastSeq, 1);
  assert.equal(m2.lastEntry(1n)!.firstSeq, INT32_MAX - 1);
  assert.deepEqual(append(m2, [data(1n, 0, INT32_MAX - 1, 4, 50n)]).duplicate, { firstOffset: 0n, lastOffset: 3n });
  append(m2, [data(1n, 0, 2, 1, 4n)]);
});

test("batches of one append are checked against each other; a refused append changes nothing", () => {
  const m = newManager();
  append(m, [data(1n, 0, 0, 2, 0n), data(2n, 5, 0, 1, 2n), data(1n, 0, 2, 1, 3n)]);
  assert.equal(m.lastEntry(1n)!.lastSeq, 2);
  assert.equal(m.lastEntry(1n)!.batchMetadata.length, 2);
  const before = [...m.activeProducers().values()].map(snapshotEntryOf);
  assert.throws(
    () => m.analyzeAppend([data(1n, 0, 3, 1, 4n), data(1n, 0, 5, 1, 5n)], "client"),
    OutOfOrderSequenceError,
  );
  // As Kafka: a producer unknown before the append is not sequence-checked within it either.
  assert.equal(m.analyzeAppend([data(3n, 0, 0, 1, 4n), data(3n, 0, 2, 1, 5n)], "client").duplicate, null);
  assert.deepEqual([...m.activeProducers().values()].map(snapshotEntryOf), before);
  assert.equal(m.lastEntry(3n), undefined);
  // Analysis without apply (the write failed) also changes nothing.
  m.analyzeAppend([data(1n, 0, 3, 1, 4n)], "client");
  assert.deepEqual([...m.activeProducers().values()].map(snapshotEntryOf), before);
});

test("coordinator appends skip sequence checks, replication skips the epoch check too", () => {
  const m = newManager();
  append(m, [data(1n, 2, 0, 1, 0n)]);
  append(m, [data(1n, 2, 50, 1, 1n)], "coordinator");
  append(m, [data(1n, 1, 7, 1, 2n)], "replication");
  const e = m.lastEntry(1n)!;
  // As Kafka: the entry takes the replicated (older) epoch, which clears the batches.
  assert.equal(e.producerEpoch, 1);
  assert.equal(e.lastSeq, 7);
});

test("transactions: first unstable offset, markers, last stable offset, high watermark", () => {
  const m = newManager();
  append(m, [data(1n, 0, 0, 2, 10n, { txn: true })]);
  assert.equal(m.firstUnstableOffset(), 10n);
  assert.equal(m.hasOngoingTransaction(1n), true);
  append(m, [data(2n, 0, 0, 1, 12n, { txn: true })]);
  append(m, [data(1n, 0, 2, 1, 13n, { txn: true })]);
  assert.equal(m.lastEntry(1n)!.currentTxnFirstOffset, 10n);
  // A non-transactional write in the middle of a transaction.
  assert.throws(() => m.analyzeAppend([data(1n, 0, 3, 1, 14n)], "client"), InvalidTxnStateError);
  assert.equal(
    code(() => m.analyzeAppend([data(1n, 0, 3, 1, 14n)], "client")),
    ErrorCode.INVALID_TXN_STATE,
  );

  const r1 = append(m, [marker(1n, 0, 14n, true, 3)], "coordinator");
  assert.deepEqual(r1.completed, [
    { txn: { producerId: 1n, firstOffset: 10n, lastOffset: 14n, isAborted: true }, lso: 12n }, // producer 2 still open
  ]);
  assert.equal(m.hasOngoingTransaction(1n), false);
  assert.equal(m.lastEntry(1n)!.coordinatorEpoch, 3);
  assert.equal(m.firstUndecidedOffset(), 12n);
  assert.equal(m.firstUnstableOffset(), 10n, "decided, but the marker is not below the high watermark");
  m.onHighWatermarkUpdated(15n);
  assert.equal(m.firstUnstableOffset(), 12n);

  // A marker from an older coordinator epoch is a zombie coordinator.
  assert.throws(
    () => m.analyzeAppend([marker(1n, 0, 15n, false, 2)], "coordinator"),
    TransactionCoordinatorFencedError,
  );
  // A marker with no data in the transaction completes nothing.
  assert.deepEqual(append(m, [marker(1n, 0, 15n, false, 3)], "coordinator").completed, []);

  const r2 = append(m, [marker(2n, 0, 16n, false)], "coordinator");
  assert.deepEqual(r2.completed, [
    { txn: { producerId: 2n, firstOffset: 12n, lastOffset: 16n, isAborted: false }, lso: 17n },
  ]);
  assert.equal(m.firstUnstableOffset(), 12n);
  m.onHighWatermarkUpdated(16n);
  assert.equal(m.firstUnstableOffset(), 12n, "the marker at 16 is not below 16");
  m.onHighWatermarkUpdated(17n);
  assert.equal(m.firstUnstableOffset(), null);
  assert.equal(m.isEmpty(), false);

  // A new transaction after the marker starts with the same epoch's next sequence.
  append(m, [data(1n, 0, 3, 1, 17n, { txn: true })]);
  assert.equal(m.firstUnstableOffset(), 17n);
  // An epoch bump with an abort marker (the coordinator fencing a producer) ends it too.
  const r3 = append(m, [marker(1n, 1, 18n, true, 4)], "coordinator");
  assert.equal(r3.completed[0]!.txn.isAborted, true);
  assert.equal(m.lastEntry(1n)!.producerEpoch, 1);
  assert.equal(m.lastEntry(1n)!.isEmpty, true);
  // Next epoch's data must start at 0; an empty entry of the same epoch accepts only 0.
  assert.throws(() => m.analyzeAppend([data(1n, 1, 4, 1, 19n)], "client"), OutOfOrderSequenceError);
  append(m, [data(1n, 1, 0, 1, 19n)]);
  // An empty control batch (compacted) completes nothing.
  const empty: ProducerBatch = { ...marker(1n, 1, 20n, false), control: null };
  assert.deepEqual(append(m, [empty], "replication").completed, []);
});

test("producers expire after producer.id.expiration.ms of inactivity, never during a transaction", () => {
  const clock = new ManualClock(Number(T0));
  const m = newManager(clock, 1000);
  append(m, [data(1n, 0, 0, 1, 0n, { ts: T0 })]);
  append(m, [data(2n, 0, 0, 1, 1n, { ts: T0, txn: true })]);
  append(m, [data(3n, 0, 0, 1, 2n, { ts: T0 + 500n })]);
  clock.advance(999);
  assert.deepEqual(m.removeExpiredProducers(), []);
  clock.advance(1);
  assert.deepEqual(m.removeExpiredProducers(), [1n]);
  assert.deepEqual(m.removeExpiredProducers(Number(T0) + 100_000), [3n]);
  assert.deepEqual([...m.activeProducers().keys()], [2n]);
  // Expired means unknown: any sequence is accepted again.
  append(m, [data(1n, 0, 77, 1, 3n)]);
});

test("a transaction open past transaction.max.timeout.ms plus 5 minutes is late", () => {
  const clock = new ManualClock(Number(T0));
  const m = new ProducerStateManager({ clock, maxTransactionTimeoutMs: 60_000 });
  assert.equal(m.hasLateTransaction(), false);
  append(m, [data(1n, 0, 0, 1, 0n, { txn: true, ts: T0 })]);
  clock.advance(60_000 + 300_000);
  assert.equal(m.hasLateTransaction(), false);
  clock.advance(1);
  assert.equal(m.hasLateTransaction(), true);
  append(m, [marker(1n, 0, 1n, false)], "coordinator");
  assert.equal(m.hasLateTransaction(), false);
});

test("replaying the log rebuilds the state; a snapshot keeps the last batch; truncation empties", () => {
  const live = newManager();
  const log: ProducerBatch[] = [
    data(1n, 0, 0, 2, 0n),
    data(2n, 0, 0, 1, 2n, { txn: true }),
    data(1n, 0, 2, 1, 3n),
    marker(2n, 0, 4n, true, 1),
    data(3n, 0, 0, 1, 5n, { txn: true }),
  ];
  for (const b of log) append(live, [b], b.control ? "coordinator" : "client");

  const replayed = newManager();
  replayed.replayBatches([null, ...log]);
  assert.equal(replayed.mapEndOffset, 6n);
  assert.deepEqual(
    [...replayed.activeProducers().values()].map(snapshotEntryOf),
    [...live.activeProducers().values()].map(snapshotEntryOf),
  );
  assert.equal(replayed.firstUnstableOffset(), 2n, "the aborted txn stays unstable until the high watermark passes");
  replayed.onHighWatermarkUpdated(6n);
  assert.equal(replayed.firstUnstableOffset(), 5n);

  // From a snapshot: the open transaction is open again; a retry of the older batch of producer 1
  // is out of order (only the last batch survives a snapshot), the last one still a duplicate.
  const restored = newManager();
  restored.loadFromSnapshot(
    [...live.activeProducers().values()].map((e) => producerStateEntryOf(snapshotEntryOf(e))),
    6n,
  );
  assert.equal(restored.firstUnstableOffset(), 5n);
  assert.equal(restored.mapEndOffset, 6n);
  assert.deepEqual(append(restored, [data(1n, 0, 2, 1, 9n)]).duplicate, { firstOffset: 3n, lastOffset: 3n });
  assert.throws(() => restored.analyzeAppend([data(1n, 0, 0, 2, 9n)], "client"), OutOfOrderSequenceError);

  // Loading drops producers that expired meanwhile (not the one with an open transaction).
  const later = newManager();
  later.loadFromSnapshot(
    [...live.activeProducers().values()].map((e) => producerStateEntryOf(snapshotEntryOf(e))),
    6n,
    Number(T0) + 3_600_000,
  );
  assert.deepEqual([...later.activeProducers().keys()], [3n]);

  later.truncateFullyAndStartAt(100n);
  assert.equal(later.producerIdCount, 0);
  assert.equal(later.firstUnstableOffset(), null);
  assert.equal(later.mapEndOffset, 100n);
  later.onLogStartOffsetIncremented(200n);
  assert.equal(later.mapEndOffset, 200n);
});

test("producerBatchAt reads the producer fields of real batches, markers included", () => {
  const batch = encodeRecordBatch({
    records: [0, 1, 2].map((i) => ({ key: null, value: Buffer.from([i]), timestamp: T0 + BigInt(i) })),
    producerId: 77n,
    producerEpoch: 4,
    baseSequence: INT32_MAX - 1,
    isTransactional: true,
  });
  setBaseOffset(batch, 0, 500n);
  assert.deepEqual(producerBatchAt(batch), {
    producerId: 77n,
    producerEpoch: 4,
    baseSequence: INT32_MAX - 1,
    lastSequence: 0,
    baseOffset: 500n,
    lastOffset: 502n,
    maxTimestamp: T0 + 2n,
    isTransactional: true,
  });
  const abort = encodeEndTxnMarkerBatch({
    producerId: 77n,
    producerEpoch: 4,
    commit: false,
    coordinatorEpoch: 9,
    timestamp: T0,
    baseOffset: 503n,
  });
  assert.deepEqual(producerBatchAt(abort)!.control, { isAbort: true, coordinatorEpoch: 9, timestamp: T0 });
  assert.equal(producerBatchAt(encodeRecordBatch({ records: [{ key: null, value: null, timestamp: T0 }] })), null);
});

/**
 * The model: what Kafka's rules say for one client batch, written without the module's code
 * paths (no ProducerStateEntry, no inSequence helper).
 */
interface ModelProducer {
  epoch: number;
  batches: { firstSeq: number; lastSeq: number; first: bigint; last: bigint }[];
}

test("seeded random model: sequences, epochs, duplicates, snapshots", () => {
  const seed = Number(process.env.SAMSA_TEST_SEED ?? Date.now() % 1_000_000);
  console.log(`producer-state model seed=${seed} (rerun with SAMSA_TEST_SEED=${seed})`);
  const rnd = seededRandom(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const clock = new ManualClock(Number(T0));
  let m = newManager(clock, 10 * 24 * 3600 * 1000);
  const model = new Map<bigint, ModelProducer>();
  let logEnd = 0n;
  const counts = { ok: 0, duplicate: 0, epoch: 0, outOfOrder: 0, restart: 0 };
  const next = (s: number) => (s === INT32_MAX ? 0 : s + 1);

  for (let step = 0; step < 4000; step++) {
    const where = `seed ${seed} step ${step}`;
    if (rnd() < 0.01) {
      // Restart: through the snapshot entry format, as recovery would.
      const entries = [...m.activeProducers().values()].map((e) => producerStateEntryOf(snapshotEntryOf(e)));
      m = newManager(clock, 10 * 24 * 3600 * 1000);
      m.loadFromSnapshot(entries, logEnd);
      for (const p of model.values()) p.batches = p.batches.slice(-1);
      counts.restart++;
      continue;
    }
    const pid = BigInt(1 + int(4));
    const p = model.get(pid);
    const count = 1 + int(4);
    let epoch: number;
    let seq: number;
    const r = rnd();
    if (p === undefined) {
      epoch = int(3);
      seq = rnd() < 0.5 ? 0 : INT32_MAX - int(6); // unknown producers may start anywhere, also near the wrap
    } else if (r < 0.55) {
      epoch = p.epoch;
      seq = p.batches.length ? next(p.batches.at(-1)!.lastSeq) : 0;
    } else if (r < 0.75 && p.batches.length) {
      const b = p.batches[int(p.batches.length)]!;
      epoch = p.epoch;
      seq = b.firstSeq;
      if (rnd() < 0.8) {
        // an exact retry
        const c = ((b.lastSeq - b.firstSeq + 2 ** 31) % 2 ** 31) + 1;
        const res = m.analyzeAppend([data(pid, epoch, seq, c, logEnd)], "client");
        assert.notEqual(res.duplicate, null, where);
        assert.equal(batchFirstOffset(res.duplicate!), b.first, where);
        assert.equal(res.duplicate!.lastOffset, b.last, where);
        counts.duplicate++;
        continue;
      }
    } else if (r < 0.82) {
      epoch = p.epoch - 1 - int(2);
      seq = int(10);
    } else if (r < 0.9) {
      epoch = p.epoch + 1;
      seq = rnd() < 0.7 ? 0 : 1 + int(5);
    } else {
      epoch = p.epoch;
      seq = p.batches.length ? next(p.batches.at(-1)!.lastSeq) + 1 + int(3) : 5;
    }
    const batch = data(pid, epoch, seq, count, logEnd);
    const lastSeq = batch.lastSequence;

    // The expected outcome, from the model.
    let expected: "ok" | "duplicate" | "epoch" | "outOfOrder";
    let dup: { first: bigint; last: bigint } | undefined;
    if (p === undefined) expected = "ok";
    else {
      const d = p.batches.find((b) => epoch === p.epoch && b.firstSeq === seq && b.lastSeq === lastSeq);
      if (d) {
        expected = "duplicate";
        dup = d;
      } else if (epoch < p.epoch) expected = "epoch";
      else if (epoch > p.epoch) expected = seq === 0 ? "ok" : "outOfOrder";
      else {
        const last = p.batches.at(-1)?.lastSeq ?? -1;
        expected = seq === last + 1 || (last === INT32_MAX && seq === 0) ? "ok" : "outOfOrder";
      }
    }

    let actual: typeof expected;
    try {
      const res = m.analyzeAppend([batch], "client");
      if (res.duplicate !== null) {
        actual = "duplicate";
        assert.equal(batchFirstOffset(res.duplicate), dup?.first, where);
        assert.equal(res.duplicate.lastOffset, dup?.last, where);
      } else {
        actual = "ok";
        m.applyAppend(res);
        m.updateMapEndOffset(batch.lastOffset + 1n);
      }
    } catch (e) {
      if (e instanceof InvalidProducerEpochError) actual = "epoch";
      else if (e instanceof OutOfOrderSequenceError) actual = "outOfOrder";
      else throw e;
    }
    assert.equal(
      actual,
      expected,
      `${where}: pid ${pid} epoch ${epoch} seq ${seq}..${lastSeq} model ${JSON.stringify(p, (_, v) => (typeof v === "bigint" ? `${v}` : v))}`,
    );
    counts[actual]++;
    if (actual === "ok") {
      const q: ModelProducer = p && p.epoch === epoch ? p : { epoch, batches: [] };
      q.batches.push({ firstSeq: seq, lastSeq, first: batch.baseOffset, last: batch.lastOffset });
      if (q.batches.length > 5) q.batches.shift();
      model.set(pid, q);
      logEnd = batch.lastOffset + 1n;
      const e = m.lastEntry(pid)!;
      assert.equal(e.producerEpoch, q.epoch, where);
      assert.deepEqual(
        e.batchMetadata.map((b) => [batchFirstSeq(b), b.lastSeq, batchFirstOffset(b), b.lastOffset]),
        q.batches.map((b) => [b.firstSeq, b.lastSeq, b.first, b.last]),
        where,
      );
    }
  }
  for (const [k, v] of Object.entries(counts)) assert.ok(v > 0, `seed ${seed}: no ${k} case exercised`);
});
