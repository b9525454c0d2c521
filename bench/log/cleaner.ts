/**
 * The log cleaner: throughput (MiB/s of dirty log cleaned) and the produce p99 latency of a steady
 * producer while the cleaner runs against while it is idle, in the same run.
 *
 *   dirty log   `--mib` MiB of 1 KiB records over `--keys` keys (16 records per batch, 64 MiB
 *               segments, cleanup.policy=compact), rolled so all of it is cleanable.
 *   producer    in-process Log.append on another (delete-policy) log of the same process: one
 *               batch of 16 x 1 KiB records every `--interval-ms` ms, the latency of each append
 *               measured. Idle phase first (`--idle-s` s), then the cleaning phase: the dirty
 *               data is split over `--logs` partitions cleaned one after another (one cleaner
 *               thread), so that the phase lasts long enough for a p99.
 *
 * Throughput is the dirty log's size over the wall time of the pass (offset map, cleaning,
 * fsyncs, swap). The goal of the issue: >= 100 MiB/s, and p99 during cleaning <= 1.2 x idle.
 *
 *   node --conditions=samsa-source --import tsx bench/log/cleaner.ts [--mib 1024] [--keys 10000] [--dir /path]
 */
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { Log } from "@samsa/broker";
import { encodeRecordBatch } from "@samsa/protocol";
// The cleaner is not part of the package's public API; the bench drives it directly.
import { LogCleaner } from "../../packages/broker/src/log/cleaner/log-cleaner.js";

const { values } = parseArgs({
  options: {
    mib: { type: "string", default: "1024" },
    keys: { type: "string", default: "10000" },
    dir: { type: "string", default: os.tmpdir() },
    "interval-ms": { type: "string", default: "2" },
    "idle-s": { type: "string", default: "3" },
    logs: { type: "string", default: "4" },
  },
});
const TOTAL_BYTES = Number(values.mib) * 1024 * 1024;
const KEYS = Number(values.keys);
const INTERVAL_MS = Number(values["interval-ms"]);
const IDLE_MS = Number(values["idle-s"]) * 1000;
const LOGS = Number(values.logs);
const RECORD_BYTES = 1024;
const RECORDS_PER_BATCH = 16;
const root = await fsp.mkdtemp(path.join(values.dir!, "samsa-bench-cleaner-"));

function batch(firstKey: number, valueByte: number): Buffer {
  const value = Buffer.alloc(RECORD_BYTES, valueByte);
  return encodeRecordBatch({
    records: Array.from({ length: RECORDS_PER_BATCH }, (_, i) => ({
      key: Buffer.from(`key-${String((firstKey + i) % KEYS).padStart(8, "0")}`),
      value,
      timestamp: BigInt(Date.now()),
    })),
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Appends one batch every INTERVAL_MS until `until` resolves; returns the append latencies in ms. */
async function produce(log: Log, until: Promise<unknown>): Promise<number[]> {
  let done = false;
  void until.finally(() => {
    done = true;
  });
  const latencies: number[] = [];
  const payload = batch(0, 0x62);
  let next = performance.now();
  while (!done) {
    const start = performance.now();
    await log.append(Buffer.from(payload));
    latencies.push(performance.now() - start);
    next += INTERVAL_MS;
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    else next = performance.now();
  }
  return latencies.sort((a, b) => a - b);
}

try {
  const steady = await Log.open({
    dir: path.join(root, "steady-0"),
    topicPartition: { topic: "steady", partition: 0 },
    config: { segmentBytes: 256 * 1024 * 1024 },
  });
  const batches = Array.from({ length: Math.ceil(KEYS / RECORDS_PER_BATCH) }, (_, i) =>
    batch(i * RECORDS_PER_BATCH, i),
  );
  process.stderr.write(`writing ${values.mib} MiB of dirty log in ${LOGS} partitions ...\n`);
  const dirtyLogs: Log[] = [];
  for (let p = 0; p < LOGS; p++) {
    const dirty = await Log.open({
      dir: path.join(root, `compacted-${p}`),
      topicPartition: { topic: "compacted", partition: p },
      config: { cleanupPolicy: ["compact"], segmentBytes: 64 * 1024 * 1024 },
    });
    let written = 0;
    for (let i = 0; written < TOTAL_BYTES / LOGS; i++) {
      const b = Buffer.from(batches[i % batches.length]!);
      await dirty.append(b);
      written += b.length;
    }
    await dirty.roll();
    await dirty.flush();
    dirtyLogs.push(dirty);
  }
  const dirtyBytes = dirtyLogs.reduce((n, l) => n + l.size, 0);

  // The worker thread is started (and warmed) by cleaning a small log first, as a broker starts it once.
  const warm = await Log.open({
    dir: path.join(root, "warm-0"),
    topicPartition: { topic: "warm", partition: 0 },
    config: { cleanupPolicy: ["compact"] },
  });
  await warm.append(batch(0, 1));
  await warm.roll();
  const logs: Log[] = [warm];
  const cleaner = new LogCleaner({ logDir: root, logs: () => logs });
  await cleaner.cleanFilthiestLog();
  logs.splice(0, 1, ...dirtyLogs);

  process.stderr.write("producing, cleaner idle ...\n");
  const idle = await produce(steady, new Promise((r) => setTimeout(r, IDLE_MS)));

  process.stderr.write("producing, cleaner running ...\n");
  const started = performance.now();
  const passes = (async () => {
    const results = [];
    for (let r = await cleaner.cleanFilthiestLog(); r !== null; r = await cleaner.cleanFilthiestLog()) results.push(r);
    return results;
  })();
  const during = await produce(steady, passes);
  const results = await passes;
  const stats = results.map((r) => r.stats);
  const sum = (f: (s: (typeof stats)[number]) => number) => stats.reduce((n, s) => n + f(s), 0);
  const passMs = performance.now() - started;
  await cleaner.shutdown();
  await warm.close();

  const mib = (n: number) => n / 1024 / 1024;
  const idleP99 = percentile(idle, 99);
  const duringP99 = percentile(during, 99);
  console.log(`dirty log: ${mib(dirtyBytes).toFixed(0)} MiB in ${LOGS} partitions, ${KEYS} keys each, 1 KiB records`);
  console.log(
    `${results.length} cleaning passes: ${(passMs / 1000).toFixed(2)} s, ${(mib(dirtyBytes) / (passMs / 1000)).toFixed(0)} MiB/s of dirty log ` +
      `(offset maps ${sum((s) => s.mapMs)} ms; ${sum((s) => s.recordsRead)} records read, ${sum((s) => s.recordsRetained)} kept, ` +
      `${mib(sum((s) => s.bytesWritten)).toFixed(1)} MiB written), all swapped: ${results.every((r) => r.swapped)}`,
  );
  console.log("| phase | appends | p50 ms | p99 ms | max ms |");
  console.log("|---|---|---|---|---|");
  for (const [name, l] of [
    ["cleaner idle", idle],
    ["cleaner running", during],
  ] as const)
    console.log(
      `| ${name} | ${l.length} | ${percentile(l, 50).toFixed(3)} | ${percentile(l, 99).toFixed(3)} | ${l.at(-1)!.toFixed(3)} |`,
    );
  console.log(`p99 running / idle: ${(duringP99 / idleP99).toFixed(2)}`);
  for (const l of dirtyLogs) await l.close();
  await steady.close();
} finally {
  await fsp.rm(root, { recursive: true, force: true });
}
