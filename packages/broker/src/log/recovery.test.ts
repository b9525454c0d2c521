/**
 * Recovery after an unclean stop: torn writes cut at every byte boundary of the last batch,
 * garbage after the last batch, corruption in the middle, bad magic, offsets going backwards,
 * missing and corrupt indexes, and proof that only the part after the recovery point is scanned.
 */
import assert from "node:assert/strict";
import fsp from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { logFileName, offsetIndexFileName, timeIndexFileName } from "./file-names.js";
import { Log } from "./log.js";
import { decodeRecordBatch } from "./records.js";
import { capturingLogger, makeBatch, makeTempDir, removeDir, settle } from "./test-support.js";

const TP = { topic: "torn", partition: 0 };
const CONFIG = { segmentBytes: 1500, indexIntervalBytes: 150 };

interface Reference {
  dir: string;
  /** Every batch as appended: base offset, bytes, segment it landed in. */
  batches: { baseOffset: bigint; lastOffset: bigint; bytes: Buffer; segment: bigint; position: number }[];
  segments: bigint[];
  offsetIndex: Map<bigint, Buffer>;
}

let root: string;
let ref: Reference;

/** Builds a cleanly closed log of several segments and remembers everything about it. */
async function buildReference(): Promise<Reference> {
  const dir = path.join(root, "reference", "torn-0");
  const log = await Log.open({ dir, topicPartition: TP, config: CONFIG });
  for (let i = 0; i < 40; i++)
    await log.append(makeBatch({ count: 1 + (i % 4), valueSize: 10 + ((i * 37) % 90), seed: i }), {
      leaderEpoch: i < 20 ? 1 : 2,
    });
  const batches: Reference["batches"] = [];
  for (const segment of log.logSegments()) {
    let pos = 0;
    const data = await segment.log.read(0, segment.size);
    while (pos < data.length) {
      const size = 12 + data.readInt32BE(pos + 8);
      const bytes = Buffer.from(data.subarray(pos, pos + size));
      const h = decodeRecordBatch(bytes).header;
      batches.push({
        baseOffset: h.baseOffset,
        lastOffset: h.baseOffset + BigInt(h.lastOffsetDelta),
        bytes,
        segment: segment.baseOffset,
        position: pos,
      });
      pos += size;
    }
  }
  const segments = log.segmentBaseOffsets();
  await log.close();
  const offsetIndex = new Map<bigint, Buffer>();
  for (const s of segments) offsetIndex.set(s, await fsp.readFile(offsetIndexFileName(dir, s)));
  return { dir, batches, segments, offsetIndex };
}

let caseNo = 0;
async function copyOfReference(): Promise<string> {
  const dir = path.join(root, `case-${caseNo++}`, "torn-0");
  await fsp.cp(ref.dir, dir, { recursive: true });
  return dir;
}

async function readAllBatches(log: Log): Promise<Buffer[]> {
  const out: Buffer[] = [];
  let offset = log.logStartOffset;
  while (offset < log.logEndOffset) {
    const r = await log.read(offset, { maxBytes: 1 << 20 });
    let pos = 0;
    while (pos < r.records.length) {
      const size = 12 + r.records.readInt32BE(pos + 8);
      const b = r.records.subarray(pos, pos + size);
      out.push(Buffer.from(b));
      offset = b.readBigInt64BE(0) + BigInt(b.readInt32BE(23)) + 1n;
      pos += size;
    }
  }
  return out;
}

/** Checks the recovered log holds exactly the first `keep` reference batches, indexes included. */
async function assertHoldsPrefix(log: Log, dir: string, keep: number, what = ""): Promise<void> {
  const expected = ref.batches.slice(0, keep);
  const end = keep === 0 ? 0n : expected[keep - 1]!.lastOffset + 1n;
  assert.equal(log.logEndOffset, end, `log end offset ${what}`);
  const got = await readAllBatches(log);
  assert.equal(got.length, keep, "batch count");
  for (let i = 0; i < keep; i++) assert.deepEqual(got[i], expected[i]!.bytes, `batch ${i}`);
  // Every offset is found through the (rebuilt) index.
  for (const b of expected.slice(-12)) {
    const r = await log.read(b.lastOffset, { maxBytes: 1 });
    assert.deepEqual(r.records, b.bytes);
  }
  await log.close();
  // The rebuilt offset index equals the prefix of the one built while appending.
  const active = log.segmentBaseOffsets().at(-1)!;
  const original = ref.offsetIndex.get(active)!;
  const rebuilt = await fsp.readFile(offsetIndexFileName(dir, active));
  const cutPosition =
    keep < ref.batches.length && ref.batches[keep]!.segment === active ? ref.batches[keep]!.position : Infinity;
  const expectedEntries: Buffer[] = [];
  for (let i = 0; i < original.length; i += 8)
    if (original.readInt32BE(i + 4) < cutPosition) expectedEntries.push(original.subarray(i, i + 8));
  assert.deepEqual(rebuilt, Buffer.concat(expectedEntries), "rebuilt offset index");
}

before(async () => {
  root = await makeTempDir("samsa-recovery-");
  ref = await buildReference();
  assert.ok(ref.segments.length >= 3, `want several segments, got ${ref.segments.length}`);
});
after(async () => removeDir(root));

describe("torn writes", () => {
  test("cut at every byte boundary of the last batch: every complete batch before the cut is kept, nothing after", async () => {
    const last = ref.batches.at(-1)!;
    const active = ref.segments.at(-1)!;
    assert.equal(last.segment, active);
    // One working copy; before each case only the files recovery can change are restored.
    const dir = await copyOfReference();
    const changing = [
      logFileName(dir, active),
      offsetIndexFileName(dir, active),
      timeIndexFileName(dir, active),
      path.join(dir, "leader-epoch-checkpoint"),
    ];
    for (let cut = 0; cut <= last.bytes.length; cut++) {
      for (const tail of ["none", "garbage", "zeros"] as const) {
        if (tail !== "none" && cut === last.bytes.length) continue;
        for (const f of changing) await fsp.copyFile(path.join(ref.dir, path.basename(f)), f);
        const file = logFileName(dir, active);
        await fsp.truncate(file, last.position + cut);
        const appended =
          tail === "garbage"
            ? Buffer.from("not a record batch at all, just noise".repeat(8))
            : tail === "zeros"
              ? Buffer.alloc(300)
              : Buffer.alloc(0);
        await fsp.appendFile(file, appended);
        const log = await Log.open({ dir, topicPartition: TP, config: CONFIG, recoveryPoint: active });
        // The tail may happen to recreate the missing bytes (a batch ending in 0x00 and a zero tail).
        const rest = last.bytes.subarray(cut);
        const complete = appended.length >= rest.length && appended.subarray(0, rest.length).equals(rest);
        await assertHoldsPrefix(log, dir, complete ? ref.batches.length : ref.batches.length - 1, `cut ${cut} ${tail}`);
        const size = (await fsp.stat(file)).size;
        assert.equal(
          size,
          complete ? last.position + last.bytes.length : last.position,
          `file cut back (cut ${cut} ${tail})`,
        );
      }
    }
  });

  test("a cut inside the first batch of the active segment leaves it empty at its base offset", async () => {
    const dir = await copyOfReference();
    const active = ref.segments.at(-1)!;
    await fsp.truncate(logFileName(dir, active), 30);
    const log = await Log.open({ dir, topicPartition: TP, config: CONFIG, recoveryPoint: 0n });
    assert.equal(log.logEndOffset, active);
    assert.deepEqual(log.segmentBaseOffsets(), ref.segments);
    const keep = ref.batches.findIndex((b) => b.segment === active);
    await assertHoldsPrefix(log, dir, keep);
  });
});

describe("invalid batches in the unflushed part", () => {
  async function recoverWith(corrupt: (dir: string) => Promise<void>, recoveryPoint = 0n) {
    const dir = await copyOfReference();
    await corrupt(dir);
    const { logger, lines } = capturingLogger("warn");
    const log = await Log.open({ dir, topicPartition: TP, config: CONFIG, recoveryPoint, logger });
    await settle();
    return { dir, log, lines };
  }

  test("a bad CRC in a middle segment truncates there, deletes the later segments and says so", async () => {
    const victim = ref.batches.find((b) => b.segment === ref.segments[1] && b.position > 0)!;
    const index = ref.batches.indexOf(victim);
    const { dir, log, lines } = await recoverWith(async (d) => {
      const fh = await fsp.open(logFileName(d, victim.segment), "r+");
      await fh.write(Buffer.from([0xde, 0xad]), 0, 2, victim.position + 70);
      await fh.close();
    });
    assert.deepEqual(log.segmentBaseOffsets(), ref.segments.slice(0, 2));
    const warning = lines.find((l) => String(l.msg).includes("truncated"));
    assert.ok(warning, "recovery logs what it dropped");
    assert.match(String(warning.reason), /CRC/);
    assert.deepEqual(warning.deletedSegments, ref.segments.slice(2).map(String));
    for (const s of ref.segments.slice(2)) await assert.rejects(fsp.stat(logFileName(dir, s)));
    await assertHoldsPrefix(log, dir, index);
  });

  test("a wrong magic stops recovery at that batch", async () => {
    const victim = ref.batches.at(-3)!;
    const { dir, log } = await recoverWith(async (d) => {
      const fh = await fsp.open(logFileName(d, victim.segment), "r+");
      await fh.write(Buffer.from([1]), 0, 1, victim.position + 16);
      await fh.close();
    });
    await assertHoldsPrefix(log, dir, ref.batches.length - 3);
  });

  test("offsets going backwards stop recovery (base offset is outside the CRC)", async () => {
    const victim = ref.batches.at(-2)!;
    const { dir, log, lines } = await recoverWith(async (d) => {
      const fh = await fsp.open(logFileName(d, victim.segment), "r+");
      const b = Buffer.alloc(8);
      b.writeBigInt64BE(victim.baseOffset - 5n);
      await fh.write(b, 0, 8, victim.position);
      await fh.close();
    });
    assert.match(String(lines.find((l) => l.reason)?.reason), /not ascending/);
    await assertHoldsPrefix(log, dir, ref.batches.length - 2);
  });

  test("only the segments from the recovery point on are scanned: corruption below it is not looked at", async () => {
    const victim = ref.batches.find((b) => b.segment === ref.segments[0] && b.position > 0)!;
    const { log, lines } = await recoverWith(async (d) => {
      const fh = await fsp.open(logFileName(d, victim.segment), "r+");
      await fh.write(Buffer.from([0xde, 0xad]), 0, 2, victim.position + 70);
      await fh.close();
    }, ref.segments.at(-1)!);
    assert.equal(log.logEndOffset, ref.batches.at(-1)!.lastOffset + 1n);
    assert.equal(lines.filter((l) => l.reason).length, 0);
    await log.close();
  });
});

describe("indexes", () => {
  test("missing index files below the recovery point are rebuilt on first use", async () => {
    const dir = await copyOfReference();
    await fsp.rm(offsetIndexFileName(dir, ref.segments[0]!));
    await fsp.rm(timeIndexFileName(dir, ref.segments[1]!));
    const { logger, lines } = capturingLogger("warn");
    const log = await Log.open({
      dir,
      topicPartition: TP,
      config: CONFIG,
      recoveryPoint: ref.segments.at(-1)!,
      logger,
    });
    await assertHoldsPrefix(log, dir, ref.batches.length);
    await settle();
    assert.ok(
      lines.some((l) => String(l.msg).includes("rebuilding the indexes")),
      'lines.some((l) => String(l.msg).includes("rebuilding the indexes"))',
    );
    assert.deepEqual(
      await fsp.readFile(offsetIndexFileName(dir, ref.segments[0]!)),
      ref.offsetIndex.get(ref.segments[0]!),
    );
  });

  test("a corrupt index (garbage, or entries past the segment end) is rebuilt, never trusted", async () => {
    const dir = await copyOfReference();
    const garbage = Buffer.alloc(64);
    for (let i = 0; i < 64; i++) garbage[i] = (i * 131) & 0xff;
    await fsp.writeFile(offsetIndexFileName(dir, ref.segments[0]!), garbage);
    const past = Buffer.alloc(8);
    past.writeInt32BE(3, 0);
    past.writeInt32BE(1 << 20, 4);
    await fsp.writeFile(offsetIndexFileName(dir, ref.segments[1]!), past);
    await fsp.writeFile(timeIndexFileName(dir, ref.segments[1]!), Buffer.alloc(13));
    const log = await Log.open({ dir, topicPartition: TP, config: CONFIG, recoveryPoint: ref.segments.at(-1)! });
    await assertHoldsPrefix(log, dir, ref.batches.length);
  });

  test("after a clean shutdown the active segment's index is trimmed to its entries", async () => {
    const active = ref.segments.at(-1)!;
    const size = (await fsp.stat(offsetIndexFileName(ref.dir, active))).size;
    assert.equal(size % 8, 0);
    assert.ok(size < 1024, "trimmed, not preallocated");
    const dir = await copyOfReference();
    const log = await Log.open({ dir, topicPartition: TP, config: CONFIG, hadCleanShutdown: true, recoveryPoint: 0n });
    assert.equal(log.recoveryPoint, log.logEndOffset);
    assert.equal(
      (await fsp.stat(offsetIndexFileName(dir, active))).size,
      10 * 1024 * 1024,
      "preallocated again while active",
    );
    await assertHoldsPrefix(log, dir, ref.batches.length);
  });
});
