/**
 * Helpers of busy-vcpu.sh (see there); `report` also serves what-if-separate-process.sh:
 *
 *   node busy-vcpu.mjs dirty DIR MIB    a closed compacted-style log of MIB MiB in DIR: 1 KiB records over 10,000 keys,
 *                                      16 per batch, 16 MiB segments, then an empty active segment
 *   node busy-vcpu.mjs pass DIR         cleaning passes (the broker's cleanLog) over DIR, forever
 *   node busy-vcpu.mjs report WINDOWS SAMPLES
 *                                      p50/p99/p99.9 of the records sent in each kind of window, and p99 hog / idle
 *                                      pooled and by round
 */
import fs from "node:fs";
import path from "node:path";
import { encodeRecordBatch } from "@samsa/protocol";

const [command, ...args] = process.argv.slice(2);

function segmentName(dir, baseOffset) {
  return path.join(dir, `${String(baseOffset).padStart(20, "0")}.log`);
}

function dirty(dir, mib) {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const value = Buffer.alloc(1000, 7);
  let offset = 0;
  let fd = fs.openSync(segmentName(dir, 0), "w");
  let segmentBytes = 0;
  for (let total = 0; total < mib * 2 ** 20; ) {
    const records = [];
    for (let i = 0; i < 16; i++)
      records.push({ key: Buffer.from(`key-${(offset + i) % 10000}`), value, timestamp: BigInt(Date.now()) });
    const batch = encodeRecordBatch({ records, baseOffset: BigInt(offset) });
    if (segmentBytes + batch.length > 16 * 2 ** 20) {
      fs.closeSync(fd);
      fd = fs.openSync(segmentName(dir, offset), "w");
      segmentBytes = 0;
    }
    fs.writeSync(fd, batch);
    segmentBytes += batch.length;
    total += batch.length;
    offset += 16;
  }
  fs.closeSync(fd);
  fs.closeSync(fs.openSync(segmentName(dir, offset), "w"));
}

async function passes(dir) {
  // The broker's release build (npm run build); only this command needs it.
  const { cleanLog } = await import("../../packages/broker/dist/log/cleaner/clean-log.js");
  const segments = fs
    .readdirSync(dir)
    .filter((n) => n.endsWith(".log"))
    .sort()
    .map((n) => ({ baseOffset: BigInt(n.slice(0, 20)), size: fs.statSync(path.join(dir, n)).size }));
  for (;;) {
    await cleanLog({
      dir,
      segments: segments.slice(0, -1),
      firstDirtyOffset: 0n,
      firstUncleanableOffset: segments.at(-1).baseOffset,
      nowMs: Date.now(),
      deleteRetentionMs: 86_400_000,
      segmentBytes: 64 * 2 ** 20,
      segmentIndexBytes: 10 * 2 ** 20,
      indexIntervalBytes: 4096,
      maxMapEntries: 5_000_000,
      ioBufferBytes: 2 ** 20,
    });
    for (const n of fs.readdirSync(dir)) if (n.endsWith(".cleaned")) fs.rmSync(path.join(dir, n));
  }
}

function report(windowsFile, samplesFile) {
  const windows = fs
    .readFileSync(windowsFile, "utf8")
    .trim()
    .split("\n")
    .map((l) => l.split(" "))
    .map(([kind, a, b]) => ({ kind, a: Number(a), b: Number(b) }));
  const samples = fs
    .readFileSync(samplesFile, "utf8")
    .trim()
    .split("\n")
    .map((l) => l.split(" ").map(Number));
  const within = (ws) =>
    samples
      .filter(([t]) => ws.some((w) => w.a <= t && t < w.b))
      .map(([, ms]) => ms)
      .sort((x, y) => x - y);
  // rdkafka-perf's rank: the sample at ceil(p * n).
  const q = (v, p) => v[Math.min(v.length - 1, Math.max(0, Math.ceil(p * v.length) - 1))];
  const p99 = {};
  for (const kind of ["idle", "hog"]) {
    const l = within(windows.filter((w) => w.kind === kind));
    p99[kind] = q(l, 0.99);
    console.log(
      `${kind}: ${l.length} records, p50 ${q(l, 0.5).toFixed(2)} p99 ${q(l, 0.99).toFixed(2)} p99.9 ${q(l, 0.999).toFixed(2)} ms`,
    );
  }
  const rounds = [];
  for (let i = 0; i + 1 < windows.length; i += 2)
    rounds.push(q(within([windows[i + 1]]), 0.99) / q(within([windows[i]]), 0.99));
  console.log(
    `p99 hog / idle: pooled ${(p99.hog / p99.idle).toFixed(2)}; by round ${rounds.map((r) => r.toFixed(2)).join(" ")}`,
  );
}

if (command === "dirty") dirty(args[0], Number(args[1]));
else if (command === "pass") await passes(args[0]);
else if (command === "report") report(args[0], args[1]);
else {
  console.error("usage: node busy-vcpu.mjs dirty DIR MIB | pass DIR | report WINDOWS SAMPLES");
  process.exit(2);
}
