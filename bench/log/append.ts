/**
 * Append throughput of the partition log against the machine's raw sequential write rate,
 * measured in the same run on the same file system:
 *
 *   raw        a plain Node loop of positional FileHandle.write calls of the batch size
 *   raw+fsync  the same loop with an fdatasync after every write
 *   log        Log.append of pre-encoded batches (validation, offset assignment, index), 8 in flight
 *   log+fsync  the same with flush.messages=1: every append fsynced before it resolves (group commit)
 *
 * The log's figure is reported as a fraction of the raw figure of the same mode. Record batches are
 * encoded before timing starts: encoding is the producer's work, not the log's.
 *
 *   node --conditions=samsa-source --import tsx bench/log/append.ts [--mib 256] [--fsync-mib 64] [--dir /path]
 */
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { Log } from "@samsa/broker";
import { encodeRecordBatch } from "@samsa/protocol";

const { values } = parseArgs({
  options: {
    mib: { type: "string", default: "256" },
    "fsync-mib": { type: "string", default: "64" },
    dir: { type: "string", default: os.tmpdir() },
    inflight: { type: "string", default: "8" },
  },
});
const TOTAL_BYTES = Number(values.mib) * 1024 * 1024;
const FSYNC_TOTAL_BYTES = Number(values["fsync-mib"]) * 1024 * 1024;
const IN_FLIGHT = Number(values.inflight);
const root = await fsp.mkdtemp(path.join(values.dir!, "samsa-bench-log-"));

function makeBatch(recordSize: number, batchBytes: number): Buffer {
  const count = Math.max(1, Math.floor(batchBytes / (recordSize + 10)));
  const value = Buffer.alloc(recordSize, 0x61);
  const records = Array.from({ length: count }, (_, i) => ({
    key: null,
    value,
    timestamp: 1_700_000_000_000n + BigInt(i),
  }));
  return encodeRecordBatch({ records });
}

async function raw(chunk: Buffer, total: number, fsync: boolean): Promise<number> {
  const file = path.join(root, "raw.bin");
  const fh = await fsp.open(file, "w");
  const start = performance.now();
  let pos = 0;
  while (pos < total) {
    await fh.write(chunk, 0, chunk.length, pos);
    if (fsync) await fh.datasync();
    pos += chunk.length;
  }
  if (!fsync) await fh.datasync(); // same end state as the log run's close
  const secs = (performance.now() - start) / 1000;
  await fh.close();
  await fsp.rm(file);
  return pos / secs;
}

async function logAppend(
  batch: Buffer,
  total: number,
  fsync: boolean,
): Promise<{ bytesPerSec: number; recordsPerSec: number }> {
  const dir = path.join(root, "bench-0");
  const log = await Log.open({
    dir,
    topicPartition: { topic: "bench", partition: 0 },
    config: { maxMessageBytes: 4 * 1024 * 1024, flushMessages: fsync ? 1 : Number.POSITIVE_INFINITY },
  });
  const count = Math.ceil(total / batch.length);
  // One copy per in-flight slot: append patches the base offset in place.
  const copies = Array.from({ length: IN_FLIGHT }, () => Buffer.from(batch));
  const start = performance.now();
  let next = 0;
  let records = 0;
  const worker = async (slot: number) => {
    while (next < count) {
      next++;
      // Not `records += await ...`: that reads `records` before the await and loses the other
      // workers' increments made meanwhile.
      const info = await log.append(copies[slot]!);
      records += info.recordCount;
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, (_, i) => worker(i)));
  await log.flush();
  const secs = (performance.now() - start) / 1000;
  await log.close();
  await fsp.rm(dir, { recursive: true });
  return { bytesPerSec: (count * batch.length) / secs, recordsPerSec: records / secs };
}

const mb = (bps: number) => (bps / 1024 / 1024).toFixed(0).padStart(5);
console.log(
  `dir ${root}, ${values.mib} MiB per run without fsync, ${values["fsync-mib"]} MiB with; ${IN_FLIGHT} appends in flight`,
);
console.log("record  batch     mode         raw MiB/s   log MiB/s   log/raw   records/s");
const rows: string[] = [];
for (const fsync of [false, true]) {
  for (const recordSize of [100, 1024]) {
    for (const batchBytes of [16 * 1024, 256 * 1024, 1024 * 1024]) {
      const batch = makeBatch(recordSize, batchBytes);
      const total = fsync ? FSYNC_TOTAL_BYTES : TOTAL_BYTES;
      // Alternate raw and log twice and keep the better of each: a shared machine is noisy.
      const r1 = await raw(batch, total, fsync);
      const l1 = await logAppend(batch, total, fsync);
      const r2 = await raw(batch, total, fsync);
      const l2 = await logAppend(batch, total, fsync);
      const r = Math.max(r1, r2);
      const l = l1.bytesPerSec > l2.bytesPerSec ? l1 : l2;
      const row = `${String(recordSize).padStart(5)} B ${String(batchBytes / 1024).padStart(5)} KiB  ${(fsync ? "fsync/ack" : "no fsync").padEnd(10)}  ${mb(r)}       ${mb(l.bytesPerSec)}       ${((l.bytesPerSec / r) * 100).toFixed(0).padStart(4)}%   ${l.recordsPerSec.toFixed(0).padStart(9)}`;
      console.log(row);
      rows.push(row);
    }
  }
}
await fsp.rm(root, { recursive: true, force: true });
