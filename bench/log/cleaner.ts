/**
 * The log cleaner: throughput (MiB/s of dirty log cleaned) and the produce p99 latency of a steady
 * producer while the cleaner runs against while it is idle, in the same run.
 *
 *   dirty log   `--mib` MiB of 1 KiB records over `--keys` keys (16 records per batch, 64 MiB
 *               segments, cleanup.policy=compact), rolled so all of it is cleanable, split over
 *               `--logs` partitions, each cleaned by one pass (one cleaner thread).
 *   producer    in-process Log.append on another (delete-policy) log of the same process: one
 *               batch of 16 x 1 KiB records every `--interval-ms` ms, the latency of each append
 *               measured, and the event loop delay (how late a 1 ms timer fires).
 *   phases      `--logs` rounds of an idle window (`--idle-s` / logs s) followed by one pass, the
 *               samples of each phase pooled: both phases see the same background load of a
 *               shared machine. `--sequential`: the whole idle phase first, then every pass.
 *   throttle    `--io-max-mib N`: log.cleaner.io.max.bytes.per.second = N MiB/s (reads and
 *               writes of the cleaner), set after the warm-up pass as a dynamic change would.
 *   --trace     prints, per window, the slowest 2% of appends against the passes and swaps.
 *
 * Throughput is the dirty log's size over the wall time of the passes (offset map, cleaning,
 * fsyncs, swap). The goal of the issue: >= 100 MiB/s, and p99 during cleaning <= 1.2 x idle.
 *
 *   node --conditions=samsa-source --import tsx bench/log/cleaner.ts [--mib 1024] [--keys 10000] [--logs 4]
 *     [--io-max-mib 100] [--sequential] [--trace] [--dir /path]
 */
import { readdirSync, readFileSync } from "node:fs";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createHistogram, type RecordableHistogram } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { Log } from "@samsa/broker";
import { encodeRecordBatch } from "@samsa/protocol";
// The cleaner is not part of the package's public API; the bench drives it directly.
import { type CleanPassResult, LogCleaner } from "../../packages/broker/src/log/cleaner/log-cleaner.js";

const { values } = parseArgs({
  options: {
    mib: { type: "string", default: "1024" },
    keys: { type: "string", default: "10000" },
    dir: { type: "string", default: os.tmpdir() },
    "interval-ms": { type: "string", default: "2" },
    "idle-s": { type: "string", default: "3" },
    logs: { type: "string", default: "4" },
    "io-max-mib": { type: "string" },
    sequential: { type: "boolean", default: false },
    trace: { type: "boolean", default: false },
  },
});
const TOTAL_BYTES = Number(values.mib) * 1024 * 1024;
const KEYS = Number(values.keys);
const INTERVAL_MS = Number(values["interval-ms"]);
const IDLE_MS = Number(values["idle-s"]) * 1000;
const LOGS = Number(values.logs);
const IO_MAX_BYTES_PER_SECOND =
  values["io-max-mib"] === undefined ? undefined : Number(values["io-max-mib"]) * 1024 * 1024;
const SEQUENTIAL = values.sequential!;
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

/** The main thread's CPU time and its time waiting for a CPU (Linux schedstat), in ms; null elsewhere. */
function mainThreadSchedMs(): { runMs: number; waitMs: number } | null {
  try {
    const [run, wait] = readFileSync(`/proc/self/task/${process.pid}/schedstat`, "utf8").split(" ").map(Number);
    return { runMs: run! / 1e6, waitMs: wait! / 1e6 };
  } catch {
    return null;
  }
}

/** CPU ms of every thread of the process (Linux), by thread id, with its nice value. */
function threadCpuMs(): Map<string, { cpuMs: number; nice: number }> {
  const out = new Map<string, { cpuMs: number; nice: number }>();
  try {
    for (const tid of readdirSync("/proc/self/task")) {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // Fields after the name, from state (3): utime 14, stime 15, nice 19; clock ticks of 10 ms.
      out.set(tid, { cpuMs: (Number(fields[11]) + Number(fields[12])) * 10, nice: Number(fields[16]) });
    }
  } catch {
    // not Linux
  }
  return out;
}

/** --trace: when the slow appends happened, against what the cleaner was doing (ms since the phase start). */
const TRACE = values.trace!;
const traceEvents: { at: number; what: string }[] = [];
function traceEvent(what: string): void {
  if (TRACE) traceEvents.push({ at: performance.now(), what });
}
const appendsAt: { at: number; ms: number }[] = [];

/** Appends one batch every INTERVAL_MS until `until` resolves; returns the append latencies in ms. */
/** Per phase: the windows' length and the main thread's time waiting for a CPU in them (Linux). */
interface PhaseClock {
  windowMs: number;
  cpuWaitMs: number;
}

async function produce(
  log: Log,
  until: Promise<unknown>,
  loopDelay: RecordableHistogram,
  phase: PhaseClock,
): Promise<number[]> {
  let done = false;
  void until.finally(() => {
    done = true;
  });
  const latencies: number[] = [];
  const payload = batch(0, 0x62);
  // Event loop delay: how late a 1 ms timer fires (monitorEventLoopDelay's histograms cannot be merged across windows).
  let expected = performance.now() + 1;
  const loopTimer = setInterval(() => {
    const now = performance.now();
    loopDelay.record(Math.max(1, Math.round((now - expected) * 1e6)));
    expected = now + 1;
  }, 1);
  appendsAt.length = 0;
  const schedBefore = mainThreadSchedMs();
  const cpuBefore = TRACE ? threadCpuMs() : new Map();
  const windowStart = performance.now();
  let next = performance.now();
  while (!done) {
    const start = performance.now();
    await log.append(Buffer.from(payload));
    latencies.push(performance.now() - start);
    if (TRACE) appendsAt.push({ at: start, ms: latencies.at(-1)! });
    next += INTERVAL_MS;
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    else next = performance.now();
  }
  clearInterval(loopTimer);
  const schedAfter = mainThreadSchedMs();
  phase.windowMs += performance.now() - windowStart;
  if (schedBefore !== null && schedAfter !== null) phase.cpuWaitMs += schedAfter.waitMs - schedBefore.waitMs;
  if (TRACE) {
    const busy = [...threadCpuMs()]
      .map(([tid, t]) => ({ tid, nice: t.nice, ms: t.cpuMs - (cpuBefore.get(tid)?.cpuMs ?? 0) }))
      .filter((t) => t.ms >= 20)
      .map(
        (t) => `${t.tid === String(process.pid) ? "main" : t.tid}${t.nice !== 0 ? ` (nice ${t.nice})` : ""} ${t.ms}`,
      );
    console.log(`threads' CPU ms: ${busy.join(", ")}`);
    const windowMs = performance.now() - windowStart;
    if (schedBefore !== null && schedAfter !== null)
      console.log(
        `window of ${windowMs.toFixed(0)} ms: main thread ran ${(schedAfter.runMs - schedBefore.runMs).toFixed(0)} ms, ` +
          `waited for a CPU ${(schedAfter.waitMs - schedBefore.waitMs).toFixed(1)} ms`,
      );
    const sorted = [...latencies].sort((a, b) => a - b);
    const threshold = percentile(sorted, 98);
    const t0 = appendsAt[0]!.at;
    const lines = [
      ...appendsAt.filter((a) => a.ms >= threshold).map((a) => ({ at: a.at, what: `append ${a.ms.toFixed(2)} ms` })),
      ...traceEvents.filter((e) => e.at >= t0),
    ].sort((a, b) => a.at - b.at);
    for (const l of lines) console.log(`  ${(l.at - t0).toFixed(1).padStart(8)}  ${l.what}`);
    traceEvents.length = 0;
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
  // Set after the warm-up pass, as a running broker's cleaner gets it (dynamic config).
  if (IO_MAX_BYTES_PER_SECOND !== undefined) cleaner.updateIoMaxBytesPerSecond(IO_MAX_BYTES_PER_SECOND);
  logs.splice(0, 1, ...dirtyLogs);
  if (TRACE)
    for (const l of dirtyLogs) {
      const replace = l.replaceSegments.bind(l);
      l.replaceSegments = async (groups, opts) => {
        traceEvent("swap starts");
        try {
          return await replace(groups, opts);
        } finally {
          traceEvent("swap ends");
        }
      };
    }

  const results: CleanPassResult[] = [];
  /** Runs up to `max` passes, one after another (one cleaner thread). */
  const runPasses = async (max: number) => {
    for (let n = 0; n < max; n++) {
      traceEvent("pass starts");
      const r = await cleaner.cleanFilthiestLog();
      if (r === null) break;
      const s = r.stats;
      traceEvent(
        `pass ends (${r.topicPartition}: worker ${s.totalMs} ms, map ${s.mapMs} ms, fsync ${s.fsyncMs.toFixed(1)} ms, throttled ${s.throttledMs} ms)`,
      );
      results.push(r);
    }
  };
  const idle: number[] = [];
  const during: number[] = [];
  const idleLoopDelay = createHistogram();
  const duringLoopDelay = createHistogram();
  const idleClock: PhaseClock = { windowMs: 0, cpuWaitMs: 0 };
  const duringClock: PhaseClock = { windowMs: 0, cpuWaitMs: 0 };
  let passMs = 0;
  const rounds = SEQUENTIAL ? 1 : LOGS;
  for (let round = 0; round < rounds; round++) {
    process.stderr.write(`producing, cleaner idle (${round + 1}/${rounds}) ...\n`);
    idle.push(
      ...(await produce(steady, new Promise((r) => setTimeout(r, IDLE_MS / rounds)), idleLoopDelay, idleClock)),
    );
    process.stderr.write(`producing, cleaner running (${round + 1}/${rounds}) ...\n`);
    const started = performance.now();
    if (TRACE) console.log(`cleaning starts at hrtime ${process.hrtime.bigint() / 1000n} us`);
    during.push(
      ...(await produce(steady, runPasses(SEQUENTIAL ? Number.POSITIVE_INFINITY : 1), duringLoopDelay, duringClock)),
    );
    if (TRACE) console.log(`cleaning ends at hrtime ${process.hrtime.bigint() / 1000n} us`);
    passMs += performance.now() - started;
  }
  idle.sort((a, b) => a - b);
  during.sort((a, b) => a - b);
  const stats = results.map((r) => r.stats);
  const sum = (f: (s: (typeof stats)[number]) => number) => stats.reduce((n, s) => n + f(s), 0);
  await cleaner.shutdown();
  await warm.close();

  const mib = (n: number) => n / 1024 / 1024;
  const idleP99 = percentile(idle, 99);
  const duringP99 = percentile(during, 99);
  console.log(
    `dirty log: ${mib(dirtyBytes).toFixed(0)} MiB in ${LOGS} partitions, ${KEYS} keys each, 1 KiB records; ` +
      `io throttle: ${IO_MAX_BYTES_PER_SECOND === undefined ? "none" : `${values["io-max-mib"]} MiB/s`}; ` +
      `${SEQUENTIAL ? "idle phase, then every pass" : `${rounds} rounds of an idle window and one pass`}`,
  );
  console.log(
    `${results.length} cleaning passes: ${(passMs / 1000).toFixed(2)} s, ${(mib(dirtyBytes) / (passMs / 1000)).toFixed(0)} MiB/s of dirty log ` +
      `(offset maps ${sum((s) => s.mapMs)} ms, fsyncs ${sum((s) => s.fsyncMs).toFixed(0)} ms, throttled ${sum((s) => s.throttledMs)} ms; ${sum((s) => s.recordsRead)} records read, ${sum((s) => s.recordsRetained)} kept, ` +
      `${mib(sum((s) => s.bytesWritten)).toFixed(1)} MiB written), all swapped: ${results.every((r) => r.swapped)}`,
  );
  console.log("| phase | appends | p50 ms | p99 ms | max ms | event loop delay p99 ms |");
  console.log("|---|---|---|---|---|---|");
  for (const [name, l, h] of [
    ["cleaner idle", idle, idleLoopDelay],
    ["cleaner running", during, duringLoopDelay],
  ] as const)
    console.log(
      `| ${name} | ${l.length} | ${percentile(l, 50).toFixed(3)} | ${percentile(l, 99).toFixed(3)} | ${l.at(-1)!.toFixed(3)} | ${(h.percentile(99) / 1e6).toFixed(2)} |`,
    );
  console.log(`p99 running / idle: ${(duringP99 / idleP99).toFixed(2)}`);
  const waitPerS = (c: PhaseClock) => ((c.cpuWaitMs / c.windowMs) * 1000).toFixed(0);
  if (mainThreadSchedMs() !== null)
    console.log(
      `main thread waiting for a CPU (schedstat): idle ${waitPerS(idleClock)} ms/s, cleaning ${waitPerS(duringClock)} ms/s`,
    );
  if (TRACE)
    console.log(
      `threads (id: CPU ms, in creation order): ${[...threadCpuMs()].map(([tid, t]) => `${tid === String(process.pid) ? "main" : tid}: ${t.cpuMs}`).join(", ")}`,
    );
  for (const l of dirtyLogs) await l.close();
  await steady.close();
} finally {
  await fsp.rm(root, { recursive: true, force: true });
}
