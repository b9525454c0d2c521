/**
 * Segment files written by the Log, read back by a small decoder written here from Kafka's
 * documented format (https://kafka.apache.org/documentation/#recordbatch and
 * #messageformat, plus the OffsetIndex/TimeIndex class docs) — deliberately sharing no code with
 * the log or @samsa/protocol, CRC32C included.
 */
import assert from "node:assert/strict";
import fsp from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import { encodeRecordBatch } from "@samsa/protocol";
import { Log } from "./log.js";
import { makeTempDir, removeDir } from "./test-support.js";

// --- the independent reader -------------------------------------------------------------------

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

class Cursor {
  constructor(
    private readonly b: Buffer,
    public p: number,
  ) {}
  private take(n: number): number {
    this.p += n;
    return this.p - n;
  }
  i8 = () => this.b.readInt8(this.take(1));
  i16 = () => this.b.readInt16BE(this.take(2));
  i32 = () => this.b.readInt32BE(this.take(4));
  u32 = () => this.b.readUInt32BE(this.take(4));
  i64 = () => this.b.readBigInt64BE(this.take(8));
  varlong(): bigint {
    let raw = 0n;
    let shift = 0n;
    for (;;) {
      const byte = this.b[this.p++]!;
      raw |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) break;
      shift += 7n;
    }
    return (raw >> 1n) ^ -(raw & 1n); // zigzag
  }
  varint = () => Number(this.varlong());
  bytes(n: number): Buffer | null {
    if (n < 0) return null;
    this.p += n;
    return this.b.subarray(this.p - n, this.p);
  }
}

interface DumpedBatch {
  position: number;
  baseOffset: bigint;
  lastOffset: bigint;
  partitionLeaderEpoch: number;
  maxTimestamp: bigint;
  records: { offset: bigint; timestamp: bigint; key: string | null; value: string | null }[];
}

/** What `kafka-dump-log --files x.log --print-data-log` would print, as data. */
function dumpLog(file: Buffer): DumpedBatch[] {
  const out: DumpedBatch[] = [];
  let pos = 0;
  while (pos < file.length) {
    const c = new Cursor(file, pos);
    const baseOffset = c.i64();
    const batchLength = c.i32();
    const end = pos + 12 + batchLength;
    const partitionLeaderEpoch = c.i32();
    assert.equal(c.i8(), 2, "magic");
    const crc = c.u32();
    assert.equal(crc32c(file.subarray(c.p, end)), crc, `CRC of batch at ${pos}`);
    const attributes = c.i16();
    assert.equal(attributes & 0x07, 0, "uncompressed in this test");
    const lastOffsetDelta = c.i32();
    const baseTimestamp = c.i64();
    const maxTimestamp = c.i64();
    c.i64(); // producerId
    c.i16(); // producerEpoch
    c.i32(); // baseSequence
    const count = c.i32();
    const records: DumpedBatch["records"] = [];
    for (let i = 0; i < count; i++) {
      const length = c.varint();
      const start = c.p;
      c.i8(); // attributes
      const timestampDelta = c.varlong();
      const offsetDelta = c.varint();
      const key = c.bytes(c.varint());
      const value = c.bytes(c.varint());
      const headers = c.varint();
      for (let h = 0; h < headers; h++) {
        c.bytes(c.varint());
        c.bytes(c.varint());
      }
      assert.equal(c.p - start, length, "record length");
      records.push({
        offset: baseOffset + BigInt(offsetDelta),
        timestamp: baseTimestamp + timestampDelta,
        key: key?.toString() ?? null,
        value: value?.toString() ?? null,
      });
    }
    assert.equal(c.p, end, "batch length");
    out.push({
      position: pos,
      baseOffset,
      lastOffset: baseOffset + BigInt(lastOffsetDelta),
      partitionLeaderEpoch,
      maxTimestamp,
      records,
    });
    pos = end;
  }
  return out;
}

function dumpIndex(file: Buffer, baseOffset: bigint): { offset: bigint; position: number }[] {
  const out = [];
  for (let p = 0; p + 8 <= file.length; p += 8)
    out.push({ offset: baseOffset + BigInt(file.readInt32BE(p)), position: file.readInt32BE(p + 4) });
  return out;
}

function dumpTimeIndex(file: Buffer, baseOffset: bigint): { timestamp: bigint; offset: bigint }[] {
  const out = [];
  for (let p = 0; p + 12 <= file.length; p += 12)
    out.push({ timestamp: file.readBigInt64BE(p), offset: baseOffset + BigInt(file.readInt32BE(p + 8)) });
  return out;
}

// --- the test ------------------------------------------------------------------------------------

let root: string;
before(async () => {
  root = await makeTempDir();
});
after(async () => removeDir(root));

test("segments, indexes and names read back with Kafka's documented format", async () => {
  const dir = path.join(root, "payments-3");
  const log = await Log.open({
    dir,
    topicPartition: { topic: "payments", partition: 3 },
    config: { segmentBytes: 4000, indexIntervalBytes: 300 },
  });
  const expected: { key: string; value: string; timestamp: bigint }[] = [];
  for (let b = 0; b < 60; b++) {
    const records = Array.from({ length: 1 + (b % 5) }, (_, i) => {
      const r = {
        key: `key-${b}-${i}`,
        value: `value ${b}/${i} `.repeat(1 + ((b * 7 + i) % 9)),
        timestamp: 1_700_000_000_000n + BigInt(b * 100 + i),
      };
      expected.push(r);
      return { key: Buffer.from(r.key), value: Buffer.from(r.value), timestamp: r.timestamp };
    });
    await log.append(encodeRecordBatch({ records }), { leaderEpoch: b < 30 ? 4 : 5 });
  }
  await log.close();

  const names = (await fsp.readdir(dir)).sort();
  const logs = names.filter((n) => n.endsWith(".log"));
  assert.ok(logs.length >= 3, "several segments");
  for (const n of logs) assert.match(n, /^\d{20}\.log$/);
  for (const n of logs) {
    assert.ok(names.includes(n.replace(".log", ".index")), "offset index");
    assert.ok(names.includes(n.replace(".log", ".timeindex")), "time index");
  }
  assert.ok(names.includes("leader-epoch-checkpoint"), "leader-epoch-checkpoint");

  const seen: DumpedBatch["records"] = [];
  let nextOffset = 0n;
  for (const n of logs) {
    const baseOffset = BigInt(n.slice(0, 20));
    assert.equal(baseOffset, nextOffset, "a segment is named by its first offset");
    const batches = dumpLog(await fsp.readFile(path.join(dir, n)));
    for (const b of batches) {
      assert.equal(b.baseOffset, nextOffset, "offsets contiguous");
      assert.equal(b.partitionLeaderEpoch, b.baseOffset < 90n ? 4 : 5);
      nextOffset = b.lastOffset + 1n;
      seen.push(...b.records);
    }
    // Every offset index entry points at the start of the batch whose last offset it names.
    const index = dumpIndex(await fsp.readFile(path.join(dir, n.replace(".log", ".index"))), baseOffset);
    if (n !== logs.at(-1)) assert.ok(index.length > 0, "a full segment has index entries");
    for (const e of index) {
      const batch = batches.find((b) => b.position === e.position);
      assert.ok(batch, `entry ${e.offset} -> ${e.position} is a batch start`);
      assert.equal(batch.lastOffset, e.offset);
    }
    // Time index: ascending timestamps, each the max timestamp seen up to its offset; the last one is the segment's max.
    const timeIndex = dumpTimeIndex(await fsp.readFile(path.join(dir, n.replace(".log", ".timeindex"))), baseOffset);
    for (let i = 1; i < timeIndex.length; i++)
      assert.ok(timeIndex[i]!.timestamp > timeIndex[i - 1]!.timestamp, "time index ascending");
    for (const e of timeIndex) {
      const upTo = batches.filter((b) => b.lastOffset <= e.offset);
      assert.equal(
        e.timestamp,
        upTo.reduce((m, b) => (b.maxTimestamp > m ? b.maxTimestamp : m), -1n),
      );
    }
    const max = batches.reduce((m, b) => (b.maxTimestamp > m ? b.maxTimestamp : m), -1n);
    assert.equal(timeIndex.at(-1)!.timestamp, max);
  }
  assert.equal(seen.length, expected.length);
  seen.forEach((r, i) => {
    assert.equal(r.offset, BigInt(i));
    assert.deepEqual({ key: r.key, value: r.value, timestamp: r.timestamp }, expected[i]);
  });
  assert.equal(await fsp.readFile(path.join(dir, "leader-epoch-checkpoint"), "utf8"), "0\n2\n4 0\n5 90\n");
});
