import assert from "node:assert/strict";
import fsp from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import { nodeFileSystem } from "./file-system.js";
import { incrementSequence, type ProducerBatch, ProducerStateManager } from "./producer-state.js";
import {
  CorruptSnapshotError,
  decodeProducerSnapshot,
  encodeProducerSnapshot,
  PRODUCER_SNAPSHOT_VERSION,
  type ProducerSnapshotEntry,
  ProducerSnapshots,
  producerSnapshotFileName,
  readProducerSnapshot,
  snapshotEntryOf,
  writeProducerSnapshot,
} from "./producer-state-snapshot.js";
import { ManualClock, makeTempDir, removeDir } from "./test-support.js";

let root: string;
before(async () => {
  root = await makeTempDir("samsa-snapshot-");
});
after(async () => removeDir(root));

let dirCount = 0;
async function freshDir(): Promise<string> {
  const dir = path.join(root, `p-${dirCount++}`);
  await fsp.mkdir(dir);
  return dir;
}

/** CRC32C (Castagnoli, reflected 0x82F63B78), written here from its definition, not from a library. */
const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();
function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC32C_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Kafka's ProducerSnapshot v1, from ProducerSnapshot.json: version, crc, int32 count, 46-byte entries. */
function kafkaSnapshotBytes(entries: ProducerSnapshotEntry[]): Buffer {
  const body: number[] = [];
  const int = (v: bigint, bytes: number) => {
    const u = BigInt.asUintN(bytes * 8, v);
    for (let i = bytes - 1; i >= 0; i--) body.push(Number((u >> BigInt(8 * i)) & 0xffn));
  };
  int(BigInt(entries.length), 4);
  for (const e of entries) {
    int(e.producerId, 8);
    int(BigInt(e.epoch), 2);
    int(BigInt(e.lastSequence), 4);
    int(e.lastOffset, 8);
    int(BigInt(e.offsetDelta), 4);
    int(e.timestamp, 8);
    int(BigInt(e.coordinatorEpoch), 4);
    int(e.currentTxnFirstOffset, 8);
  }
  const crc = crc32c(Uint8Array.from(body));
  return Buffer.from([0, 1, (crc >>> 24) & 0xff, (crc >>> 16) & 0xff, (crc >>> 8) & 0xff, crc & 0xff, ...body]);
}

const ENTRIES: ProducerSnapshotEntry[] = [
  {
    producerId: 1000n,
    epoch: 3,
    lastSequence: 41,
    lastOffset: 1234n,
    offsetDelta: 4,
    timestamp: 1_700_000_000_123n,
    coordinatorEpoch: -1,
    currentTxnFirstOffset: -1n,
  },
  {
    producerId: 2n ** 62n + 5n,
    epoch: 32767,
    lastSequence: 2 ** 31 - 1,
    lastOffset: -1n,
    offsetDelta: 0,
    timestamp: -1n,
    coordinatorEpoch: 17,
    currentTxnFirstOffset: 1200n,
  },
];

test("snapshot bytes are Kafka's ProducerSnapshot v1 layout, CRC32C over everything after the CRC", () => {
  assert.equal(PRODUCER_SNAPSHOT_VERSION, 1);
  const bytes = encodeProducerSnapshot([ENTRIES[1]!, ENTRIES[0]!]); // written in producer id order
  assert.deepEqual(bytes, kafkaSnapshotBytes(ENTRIES));
  assert.equal(bytes.length, 10 + 2 * 46);
  // An empty snapshot, byte for byte.
  const empty = encodeProducerSnapshot([]);
  const crc = crc32c(new Uint8Array(4)).toString(16).padStart(8, "0");
  assert.equal(empty.toString("hex"), `0001${crc}00000000`);
  assert.deepEqual(decodeProducerSnapshot(empty), []);
  assert.deepEqual(decodeProducerSnapshot(kafkaSnapshotBytes(ENTRIES)), ENTRIES);
});

test("any flipped byte, truncation or trailing byte is reported as a corrupt snapshot", () => {
  const good = encodeProducerSnapshot(ENTRIES);
  for (let i = 0; i < good.length; i++) {
    for (const mask of [0x01, 0x80]) {
      const bad = Buffer.from(good);
      bad[i]! ^= mask;
      assert.throws(() => decodeProducerSnapshot(bad, "x"), CorruptSnapshotError, `byte ${i} mask ${mask}`);
    }
  }
  for (let len = 0; len < good.length; len++)
    assert.throws(() => decodeProducerSnapshot(good.subarray(0, len)), CorruptSnapshotError, `length ${len}`);
  assert.throws(() => decodeProducerSnapshot(Buffer.concat([good, Buffer.alloc(1)])), CorruptSnapshotError);
  // A consistent file of another version is refused too.
  const v2 = Buffer.from(good);
  v2.writeInt16BE(2, 0);
  assert.throws(() => decodeProducerSnapshot(v2), /unknown version 2/);
});

test("write goes through a temp file and leaves exactly <20-digit offset>.snapshot", async () => {
  const dir = await freshDir();
  const file = producerSnapshotFileName(dir, 1234n);
  assert.equal(path.basename(file), "00000000000000001234.snapshot");
  await writeProducerSnapshot(nodeFileSystem, file, ENTRIES);
  assert.deepEqual(await fsp.readdir(dir), ["00000000000000001234.snapshot"]);
  assert.deepEqual(await fsp.readFile(file), kafkaSnapshotBytes(ENTRIES));
  assert.deepEqual(await readProducerSnapshot(nodeFileSystem, file), ENTRIES);
  await writeProducerSnapshot(nodeFileSystem, file, [], { sync: false });
  assert.deepEqual(await readProducerSnapshot(nodeFileSystem, file), []);
});

const T0 = 1_700_000_000_000n;
function data(pid: bigint, seq: number, count: number, offset: bigint, txn = false): ProducerBatch {
  return {
    producerId: pid,
    producerEpoch: 0,
    baseSequence: seq,
    lastSequence: incrementSequence(seq, count - 1),
    baseOffset: offset,
    lastOffset: offset + BigInt(count - 1),
    maxTimestamp: T0,
    isTransactional: txn,
  };
}

function stateOf(m: ProducerStateManager): ProducerSnapshotEntry[] {
  return [...m.activeProducers().values()].map(snapshotEntryOf).sort((a, b) => Number(a.producerId - b.producerId));
}

test("recovery: newest snapshot at or below the log end, corrupt ones skipped, then replay the tail", async () => {
  const dir = await freshDir();
  const clock = new ManualClock(Number(T0));
  const newManager = () => new ProducerStateManager({ clock, producerIdExpirationMs: 3_600_000 });
  const log = [
    data(1n, 0, 2, 0n),
    data(2n, 0, 1, 2n, true),
    data(1n, 2, 1, 3n),
    data(3n, 0, 3, 4n),
    data(1n, 3, 1, 7n),
    data(2n, 1, 2, 8n, true),
  ];
  const live = newManager();
  const snapshots = await ProducerSnapshots.load(nodeFileSystem, dir);
  const written: (string | null)[] = [];
  for (const [i, b] of log.entries()) {
    live.replayBatches([b]);
    if (i === 1 || i === 3) written.push(await snapshots.takeSnapshot(live, { sync: false }));
  }
  assert.equal(await snapshots.takeSnapshot(live), producerSnapshotFileName(dir, 10n)); // clean shutdown
  assert.equal(await snapshots.takeSnapshot(live), null, "nothing new since the last snapshot");
  assert.deepEqual(written, [producerSnapshotFileName(dir, 3n), producerSnapshotFileName(dir, 7n)]);
  assert.deepEqual(snapshots.offsets(), [3n, 7n, 10n]);

  // Crash: the newest snapshot is torn, a temp file is left over.
  await fsp.truncate(producerSnapshotFileName(dir, 10n), 20);
  await fsp.writeFile(producerSnapshotFileName(dir, 11n) + ".tmp", "junk");
  const reopened = await ProducerSnapshots.load(nodeFileSystem, dir);
  assert.deepEqual(reopened.offsets(), [3n, 7n, 10n]);
  assert.equal(
    (await fsp.readdir(dir)).some((n) => n.endsWith(".tmp")),
    false,
  );

  const recovered = newManager();
  recovered.truncateFullyAndStartAt(0n);
  const corrupt: string[] = [];
  await reopened.truncateAndReload(recovered, {
    logStartOffset: 0n,
    logEndOffset: 10n,
    nowMs: clock.nowMs(),
    onCorrupt: (e) => corrupt.push(e.message),
  });
  assert.equal(corrupt.length, 1);
  assert.deepEqual(reopened.offsets(), [3n, 7n]);
  assert.equal(recovered.mapEndOffset, 7n);
  recovered.replayBatches(log.filter((b) => b.baseOffset >= recovered.mapEndOffset));
  assert.equal(recovered.mapEndOffset, 10n);
  // Same producers as before the crash, except that only the last batch of each survived the snapshot.
  assert.deepEqual(
    stateOf(recovered).map((e) => [e.producerId, e.lastSequence, e.lastOffset, e.currentTxnFirstOffset]),
    stateOf(live).map((e) => [e.producerId, e.lastSequence, e.lastOffset, e.currentTxnFirstOffset]),
  );
  assert.equal(recovered.firstUnstableOffset(), 2n);

  // A follower truncating to 5 reloads from the snapshot at 3 and deletes those past 5.
  await reopened.truncateAndReload(recovered, { logStartOffset: 0n, logEndOffset: 5n, nowMs: clock.nowMs() });
  assert.deepEqual(reopened.offsets(), [3n]);
  assert.equal(recovered.mapEndOffset, 3n);
  assert.deepEqual([...recovered.activeProducers().keys()].sort(), [1n, 2n]);

  // Log end unchanged but log start moved past every snapshot: they go, the state stays.
  await reopened.truncateAndReload(recovered, { logStartOffset: 3n, logEndOffset: 3n, nowMs: clock.nowMs() });
  assert.deepEqual(reopened.offsets(), []);
  assert.equal(recovered.producerIdCount, 2);
  // ... and with no snapshot left a reload empties the state at the log start offset.
  await reopened.truncateAndReload(recovered, { logStartOffset: 3n, logEndOffset: 9n, nowMs: clock.nowMs() });
  assert.equal(recovered.producerIdCount, 0);
  assert.equal(recovered.mapEndOffset, 3n);
});

test("cleaning: below the log start offset, keep the newest few, strays without a segment", async () => {
  const dir = await freshDir();
  const m = new ProducerStateManager({ clock: new ManualClock() });
  const snapshots = await ProducerSnapshots.load(nodeFileSystem, dir);
  for (const offset of [0n, 100n, 200n, 300n, 400n, 450n]) {
    m.updateMapEndOffset(offset === 0n ? 1n : offset);
    await snapshots.takeSnapshot(m, { sync: false });
  }
  assert.deepEqual(snapshots.offsets(), [1n, 100n, 200n, 300n, 400n, 450n]);
  await snapshots.deleteSnapshotsBefore(100n);
  assert.deepEqual(snapshots.offsets(), [100n, 200n, 300n, 400n, 450n]);
  // Segments at 100, 200, 400: 300 is a stray; 450 (past the last segment: the clean shutdown one) stays.
  await snapshots.removeStraySnapshots([100n, 200n, 400n]);
  assert.deepEqual(snapshots.offsets(), [100n, 200n, 400n, 450n]);
  await snapshots.retainNewest(2);
  assert.deepEqual(snapshots.offsets(), [400n, 450n]);
  assert.deepEqual((await fsp.readdir(dir)).sort(), ["00000000000000000400.snapshot", "00000000000000000450.snapshot"]);
  // A stray below the last segment goes too.
  await snapshots.removeStraySnapshots([400n, 500n]);
  assert.deepEqual(snapshots.offsets(), [400n]);
  await snapshots.truncateFullyAndStartAt(m, 600n);
  assert.deepEqual(await fsp.readdir(dir), []);
  assert.equal(m.mapEndOffset, 600n);
  assert.equal(await snapshots.takeSnapshot(m), producerSnapshotFileName(dir, 600n));
});
