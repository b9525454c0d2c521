import assert from "node:assert/strict";
import fsp from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import { CorruptIndexError } from "./errors.js";
import { nodeFileSystem } from "./file-system.js";
import { makeTempDir, removeDir } from "./test-support.js";
import {
  ABORTED_TXN_SIZE,
  type AbortedTxn,
  asFetchAbortedTransaction,
  collectAbortedTransactions,
  TransactionIndex,
} from "./transaction-index.js";

let dir: string;
before(async () => {
  dir = await makeTempDir("samsa-txnindex-");
});
after(async () => removeDir(dir));

let n = 0;
const fileName = () => path.join(dir, `${String(n++).padStart(20, "0")}.txnindex`);

const txn = (producerId: bigint, firstOffset: bigint, lastOffset: bigint, lastStableOffset: bigint): AbortedTxn => ({
  producerId,
  firstOffset,
  lastOffset,
  lastStableOffset,
});

/** Kafka's AbortedTxn: version int16 0, then producerId, firstOffset, lastOffset, lastStableOffset as int64, big-endian. */
function kafkaEntryHex(t: AbortedTxn): string {
  const i64 = (v: bigint) => BigInt.asUintN(64, v).toString(16).padStart(16, "0");
  return `0000${i64(t.producerId)}${i64(t.firstOffset)}${i64(t.lastOffset)}${i64(t.lastStableOffset)}`;
}

test("the file is Kafka's 34-byte AbortedTxn entries, created on the first append", async () => {
  const file = fileName();
  const index = await TransactionIndex.open(nodeFileSystem, file, 0n);
  await assert.rejects(fsp.stat(file), { code: "ENOENT" });
  assert.equal(index.lastOffset, null);
  const a = txn(7n, 3n, 10n, 11n);
  const b = txn(2n ** 63n - 1n, 12n, 20n, 12n);
  await index.append(a);
  await index.append(b);
  await index.flush();
  assert.equal(ABORTED_TXN_SIZE, 34);
  assert.equal((await fsp.readFile(file)).toString("hex"), kafkaEntryHex(a) + kafkaEntryHex(b));
  assert.equal(index.lastOffset, 20n);
  await assert.rejects(index.append(txn(1n, 15n, 20n, 21n)), /not above/);
  await index.close();

  const reopened = await TransactionIndex.open(nodeFileSystem, file, 0n);
  reopened.sanityCheck();
  assert.deepEqual(reopened.entries, [a, b]);
  await reopened.append(txn(1n, 21n, 22n, 23n));
  assert.equal((await fsp.stat(file)).size, 3 * 34);
  await reopened.close();
});

test("collectAbortedTxns returns the transactions overlapping [fetchOffset, upperBound) and says when to stop", async () => {
  const index = await TransactionIndex.open(nodeFileSystem, fileName(), 0n);
  const t1 = txn(1n, 0n, 10n, 5n); // producer 2's transaction was open from 5 when this one ended
  const t2 = txn(2n, 5n, 15n, 16n);
  const t3 = txn(3n, 20n, 30n, 31n);
  for (const t of [t1, t2, t3]) await index.append(t);
  assert.deepEqual(index.collectAbortedTxns(0n, 5n), { abortedTransactions: [t1], isComplete: true });
  assert.deepEqual(index.collectAbortedTxns(0n, 6n), { abortedTransactions: [t1, t2], isComplete: true });
  assert.deepEqual(index.collectAbortedTxns(11n, 15n), { abortedTransactions: [t2], isComplete: true });
  assert.deepEqual(index.collectAbortedTxns(16n, 20n), { abortedTransactions: [], isComplete: true });
  assert.deepEqual(index.collectAbortedTxns(16n, 21n), { abortedTransactions: [t3], isComplete: true });
  assert.deepEqual(index.collectAbortedTxns(25n, 40n), { abortedTransactions: [t3], isComplete: false });
  assert.deepEqual(index.collectAbortedTxns(31n, 40n), { abortedTransactions: [], isComplete: false });
  assert.deepEqual(index.collectAbortedTxns(0n, 6n).abortedTransactions.map(asFetchAbortedTransaction), [
    { producerId: 1n, firstOffset: 0n },
    { producerId: 2n, firstOffset: 5n },
  ]);
  await index.close();
});

test("collectAbortedTransactions walks segments from the fetch segment until one is complete", async () => {
  const s0 = await TransactionIndex.open(nodeFileSystem, fileName(), 0n);
  const s1 = await TransactionIndex.open(nodeFileSystem, fileName(), 100n);
  const s2 = await TransactionIndex.open(nodeFileSystem, fileName(), 200n);
  await s0.append(txn(1n, 50n, 60n, 61n));
  await s1.append(txn(2n, 90n, 150n, 151n)); // began in segment 0
  await s2.append(txn(3n, 210n, 220n, 221n));
  assert.deepEqual(
    collectAbortedTransactions([s0, s1, s2], 55n, 120n).map((t) => t.producerId),
    [1n, 2n],
  );
  assert.deepEqual(
    collectAbortedTransactions([s0, s1, s2], 95n, 215n).map((t) => t.producerId),
    [2n, 3n],
  );
  for (const s of [s0, s1, s2]) await s.close();
});

test("truncateTo drops entries whose marker is at or after the offset; reset empties", async () => {
  const file = fileName();
  const index = await TransactionIndex.open(nodeFileSystem, file, 0n);
  for (let i = 0; i < 5; i++)
    await index.append(txn(BigInt(i), BigInt(i * 10), BigInt(i * 10 + 5), BigInt(i * 10 + 6)));
  await index.truncateTo(26n);
  assert.deepEqual(
    index.entries.map((t) => t.lastOffset),
    [5n, 15n, 25n],
  );
  await index.truncateTo(25n);
  assert.equal(index.lastOffset, 15n);
  assert.equal((await fsp.stat(file)).size, 2 * 34);
  await index.truncateTo(1000n);
  assert.equal(index.entries.length, 2);
  await index.append(txn(9n, 16n, 17n, 18n));
  await index.reset();
  assert.equal(index.lastOffset, null);
  assert.equal((await fsp.stat(file)).size, 0);
  await index.append(txn(9n, 1n, 2n, 3n));
  assert.equal((await fsp.stat(file)).size, 34);
  const renamed = fileName() + ".deleted";
  await index.renameTo(renamed);
  assert.equal(index.file, renamed);
  assert.equal(await index.deleteIfExists(), true);
  assert.equal(await index.deleteIfExists(), false);
});

test("sanityCheck: a marker below the segment, a torn entry, an unknown version, entries out of order", async () => {
  const entry = (t: AbortedTxn) => Buffer.from(kafkaEntryHex(t), "hex");
  const cases: [string, Buffer, bigint, RegExp][] = [
    ["below start", entry(txn(1n, 90n, 99n, 100n)), 100n, /below the segment's base offset 100/],
    ["torn", Buffer.concat([entry(txn(1n, 100n, 101n, 102n)), Buffer.alloc(10)]), 100n, /whole number/],
    ["version", Buffer.from("0001" + kafkaEntryHex(txn(1n, 0n, 1n, 2n)).slice(4), "hex"), 0n, /version 1/],
    ["order", Buffer.concat([entry(txn(1n, 0n, 5n, 6n)), entry(txn(2n, 0n, 5n, 6n))]), 0n, /follows/],
  ];
  for (const [what, bytes, start, message] of cases) {
    const file = fileName();
    await fsp.writeFile(file, bytes);
    const index = await TransactionIndex.open(nodeFileSystem, file, start);
    assert.throws(
      () => index.sanityCheck(),
      (e: unknown) => e instanceof CorruptIndexError && message.test(e.message),
      what,
    );
    await index.close();
  }
  const file = fileName();
  await fsp.writeFile(file, Buffer.alloc(0));
  const empty = await TransactionIndex.open(nodeFileSystem, file, 500n);
  empty.sanityCheck();
  assert.deepEqual(empty.entries, []);
  await empty.close();
});
