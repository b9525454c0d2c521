/**
 * The helper of cleaner-broker.sh (read that first): the parts that need a Kafka admin client or
 * arithmetic over 100k latency samples. Plain Node (KafkaJS from the repository's node_modules).
 *
 *   create  --broker H:P --topics a,b --segment-bytes N
 *           compacted topics that the cleaner leaves alone: min.cleanable.dirty.ratio=1 (a log is
 *           cleaned when its dirty ratio is *above* the minimum, and a ratio cannot exceed 1).
 *   clean   --broker H:P --topics a --data-dir D --broker-log F
 *           lowers the topic's ratio and waits for its "log cleaned" line: the warm-up pass that
 *           starts the cleaner's worker thread and its JIT before anything is measured.
 *   fill    --broker H:P --topics a,b --data-dir D --fill-perf rdkafka-perf --fill-records N --fill-keys K --fill-log F
 *           fills each topic in turn (as `windows --fill-perf` does per round), all up front.
 *   windows --broker H:P --topics a,b --data-dir D --broker-log F --broker-pid P --client-pid P
 *           --idle-s S|match --settle-s S --out windows.json [--aa-ms MS]
 *           [--fill-perf rdkafka-perf --fill-records N --fill-keys K --fill-log F --settle-fill-s S]
 *           per topic one round of an idle window and a cleaning window, the order alternating
 *           (idle first in rounds 1, 3, ...). With --fill-perf, the round's topic is filled first
 *           (rdkafka-perf produce, its .log files fsynced, then --settle-fill-s), outside every
 *           window. `--idle-s match`: an idle window lasts as long as its round's pass (the last
 *           pass so far when idle comes first; 1.3 s before any). A cleaning window: the topic's ratio lowered to 0.5
 *           (AlterConfigs), the cleaner's next wake-up (log.cleaner.backoff.ms) starts the pass,
 *           and the broker's "log cleaned" line for the partition closes it; the window is
 *           [line time - pass ms, line time], converted to CLOCK_MONOTONIC, the clock of the
 *           latency samples. CPU of the broker (all threads, and its main thread), of the client,
 *           and of the whole machine is sampled every 100 ms for the windows' CPU columns.
 *   report  --samples F --windows windows.json
 *           per window: records/s, p50/p99/p99.9/max of the latency samples *sent* in it, CPU;
 *           per round: p99 cleaning / p99 idle; the cleaner's MB/s; markdown on stdout.
 */
import { spawn } from "node:child_process";
import {
  appendFileSync,
  closeSync,
  fsyncSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  statSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import kafkajs from "kafkajs";

const { Kafka, logLevel, ConfigResourceTypes } = kafkajs;
const [command, ...rest] = process.argv.slice(2);
const { values: opt } = parseArgs({
  args: rest,
  options: {
    broker: { type: "string" },
    topics: { type: "string" },
    "segment-bytes": { type: "string", default: String(64 * 1024 * 1024) },
    "data-dir": { type: "string" },
    "broker-log": { type: "string" },
    "broker-pid": { type: "string" },
    "client-pid": { type: "string" },
    "idle-s": { type: "string", default: "5" },
    "settle-s": { type: "string", default: "1" },
    out: { type: "string" },
    samples: { type: "string" },
    windows: { type: "string" },
    // A/A: the "cleaning" window is a plain window of this many ms and no pass runs (the noise floor).
    "aa-ms": { type: "string" },
    "fill-perf": { type: "string" },
    "fill-records": { type: "string" },
    "fill-keys": { type: "string" },
    "fill-log": { type: "string" },
    "settle-fill-s": { type: "string", default: "3" },
    bootstrap: { type: "string", default: "1000" },
  },
});

const CLK_TCK = 100; // getconf CLK_TCK on Linux
const MiB = 1024 * 1024;
/** CLOCK_MONOTONIC in ms: libuv's hrtime is that clock, as rdkafka-perf's now_ns(). */
const monoMs = () => Number(process.hrtime.bigint()) / 1e6;

function topicConfigs(ratio) {
  // AlterConfigs (KafkaJS has no IncrementalAlterConfigs) replaces a topic's whole override set:
  // every override is sent each time.
  return [
    { name: "cleanup.policy", value: "compact" },
    { name: "segment.bytes", value: opt["segment-bytes"] },
    { name: "min.cleanable.dirty.ratio", value: ratio },
  ];
}

function admin() {
  return new Kafka({ clientId: "cleaner-broker", brokers: [opt.broker], logLevel: logLevel.ERROR }).admin();
}

async function create() {
  const a = admin();
  await a.connect();
  await a.createTopics({
    waitForLeaders: true,
    topics: opt.topics.split(",").map((topic) => ({
      topic,
      numPartitions: 1,
      replicationFactor: 1,
      configEntries: topicConfigs("1"),
    })),
  });
  await a.disconnect();
}

/** utime + stime ticks of a process or thread (/proc/.../stat), 0 once it is gone. */
function ticks(statPath) {
  try {
    const s = readFileSync(statPath, "utf8");
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}
function machineBusyTicks() {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  return f[0] + f[1] + f[2] + f[5] + f[6] + f[7]; // user nice system irq softirq steal
}

/** Bytes of the partition's closed segments: what a pass cleans (the active segment never is). */
function dirtyBytes(topic) {
  const dir = path.join(opt["data-dir"], `${topic}-0`);
  const logs = readdirSync(dir)
    .filter((n) => n.endsWith(".log"))
    .sort();
  return logs.slice(0, -1).reduce((n, f) => n + statSync(path.join(dir, f)).size, 0);
}

/** Waits for the broker's "log cleaned" line of `partition`, reading the log file from `offset`. */
async function awaitCleaned(partition, offset, timeoutMs) {
  const fd = openSync(opt["broker-log"], "r");
  let pos = offset;
  let pending = "";
  const deadline = Date.now() + timeoutMs;
  try {
    while (Date.now() < deadline) {
      const buf = Buffer.alloc(1 << 16);
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) {
        await sleep(20);
        continue;
      }
      pos += n;
      pending += buf.subarray(0, n).toString("utf8");
      const lines = pending.split("\n");
      pending = lines.pop();
      for (const line of lines) {
        if (!line.startsWith("{")) continue;
        const rec = JSON.parse(line);
        if (rec.partition !== partition) continue;
        if (rec.msg === "log cleaned") return rec;
        if (rec.msg?.startsWith("cleaning pass")) throw new Error(`${partition}: ${rec.msg}`);
      }
    }
  } finally {
    closeSync(fd);
  }
  throw new Error(`${partition}: no "log cleaned" within ${timeoutMs / 1000} s`);
}

async function clean() {
  const a = admin();
  await a.connect();
  const topic = opt.topics;
  const logOffset = statSync(opt["broker-log"]).size;
  await a.alterConfigs({
    validateOnly: false,
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: topicConfigs("0.5") }],
  });
  const rec = await awaitCleaned(`${topic}-0`, logOffset, 60_000);
  process.stderr.write(`[cleaner-broker] warm-up pass: ${topic} cleaned in ${rec.ms} ms\n`);
  await a.disconnect();
}

/** Fills the topic with rdkafka-perf produce (1 KiB records over --fill-keys keys, acks=1) and fsyncs its .log files. */
async function fill(topic) {
  const args = [
    "produce",
    "-b",
    opt.broker,
    "-t",
    topic,
    "-n",
    opt["fill-records"],
    "-s",
    "1024",
    "-k",
    opt["fill-keys"],
  ];
  const child = spawn(opt["fill-perf"], [...args, "-a", "1", "-d", "600"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d) => {
    out += d;
  });
  child.stderr.on("data", (d) => appendFileSync(opt["fill-log"], d));
  const code = await new Promise((resolve) => child.on("close", resolve));
  if (code !== 0) throw new Error(`rdkafka-perf produce to ${topic} exited with ${code}: ${out.trim()}`);
  process.stderr.write(`[cleaner-broker] filled ${topic}: ${out.trim()}\n`);
  const dir = path.join(opt["data-dir"], `${topic}-0`);
  for (const name of readdirSync(dir).filter((n) => n.endsWith(".log"))) {
    const fd = openSync(path.join(dir, name), "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

async function windows() {
  const topics = opt.topics.split(",");
  const brokerPid = opt["broker-pid"];
  const clientPid = opt["client-pid"];
  const matchIdle = opt["idle-s"] === "match";
  let idleMs = matchIdle ? 1300 : Number(opt["idle-s"]) * 1000;
  const settleMs = Number(opt["settle-s"]) * 1000;
  // Wall clock (pino's `time`) to CLOCK_MONOTONIC: the offset read around one Date.now().
  let offset = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 20; i++) {
    const a = monoMs();
    const d = Date.now();
    const b = monoMs();
    offset = Math.min(offset, d - (a + b) / 2);
  }
  const cpu = [];
  const sampleCpu = () =>
    cpu.push({
      t: monoMs(),
      broker: ticks(`/proc/${brokerPid}/stat`),
      brokerMain: ticks(`/proc/${brokerPid}/task/${brokerPid}/stat`),
      client: ticks(`/proc/${clientPid}/stat`),
      machine: machineBusyTicks(),
    });
  sampleCpu();
  const sampler = setInterval(sampleCpu, 100);
  const a = admin();
  await a.connect();
  const out = [];
  for (let r = 0; r < topics.length; r++) {
    const topic = topics[r];
    const order = r % 2 === 0 ? ["idle", "cleaning"] : ["cleaning", "idle"];
    if (opt["fill-perf"] !== undefined) {
      await fill(topic);
      await sleep(Number(opt["settle-fill-s"]) * 1000);
    }
    for (const kind of order) {
      if (kind === "idle") {
        const start = monoMs();
        await sleep(idleMs);
        out.push({ round: r + 1, kind, startMs: start, endMs: monoMs(), load1: os.loadavg()[0] });
      } else if (opt["aa-ms"] !== undefined) {
        const start = monoMs();
        await sleep(Number(opt["aa-ms"]));
        if (matchIdle) idleMs = Number(opt["aa-ms"]);
        out.push({ round: r + 1, kind, aa: true, startMs: start, endMs: monoMs(), load1: os.loadavg()[0] });
      } else {
        const bytes = dirtyBytes(topic);
        const logOffset = statSync(opt["broker-log"]).size;
        const altered = monoMs();
        await a.alterConfigs({
          validateOnly: false,
          resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: topicConfigs("0.5") }],
        });
        const rec = await awaitCleaned(`${topic}-0`, logOffset, 300_000);
        const endMs = rec.time - offset;
        if (matchIdle) idleMs = rec.ms;
        out.push({
          round: r + 1,
          kind,
          topic,
          startMs: endMs - rec.ms,
          endMs,
          alteredMs: altered,
          dirtyBytes: bytes,
          passMs: rec.ms,
          mbRead: rec.mbRead,
          mbWritten: rec.mbWritten,
          recordsRead: rec.recordsRead,
          recordsRetained: rec.recordsRetained,
          // Set when the cleaner thread's starvation guard took it out of SCHED_IDLE (ms into the pass).
          starvedAfterMs: rec.starvedAfterMs,
          load1: os.loadavg()[0],
        });
        process.stderr.write(
          `[cleaner-broker] round ${r + 1}: ${topic} cleaned, ${(bytes / MiB).toFixed(0)} MiB in ${rec.ms} ms\n`,
        );
      }
      await sleep(settleMs);
    }
  }
  await a.disconnect();
  clearInterval(sampler);
  sampleCpu();
  writeFileSync(opt.out, JSON.stringify({ offsetMs: offset, windows: out, cpu }, null, 1));
}

function pct(sorted, p) {
  // rdkafka-perf's pct_ms: the sample at rank ceil-ish(p% of n).
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.round((p / 100) * sorted.length) - 1));
  return sorted[i];
}

/** CPU % of one core over [start, end], from the 100 ms samples around it. */
function cpuPct(cpu, start, end, field) {
  const before = cpu.filter((s) => s.t <= start).at(-1) ?? cpu[0];
  const after = cpu.find((s) => s.t >= end) ?? cpu.at(-1);
  const secs = (after.t - before.t) / 1000;
  return (100 * (after[field] - before[field])) / CLK_TCK / secs;
}

/**
 * How far the pooled p99 ratio can be trusted (samplesOf: each window's latencies): rounds are resampled with replacement and the
 * ratio recomputed, from 0.01 ms histograms of each round's windows. Null with fewer than 4 rounds.
 */
function bootstrapRatio(ws, samplesOf, resamples) {
  const BIN_MS = 0.01;
  const rounds = [...new Set(ws.map((w) => w.round))];
  if (rounds.length < 4 || !(resamples > 0)) return null;
  const hist = (l) => {
    const h = new Map();
    for (const x of l) {
      const b = Math.round(x / BIN_MS);
      h.set(b, (h.get(b) ?? 0) + 1);
    }
    return h;
  };
  const perRound = rounds.map((r) => {
    const of = (kind) => hist(ws.filter((w) => w.round === r && w.kind === kind).flatMap((w) => samplesOf.get(w)));
    return { idle: of("idle"), cleaning: of("cleaning") };
  });
  const p99 = (maps) => {
    const sum = new Map();
    let n = 0;
    for (const m of maps)
      for (const [b, c] of m) {
        sum.set(b, (sum.get(b) ?? 0) + c);
        n += c;
      }
    const bins = [...sum.keys()].sort((x, y) => x - y);
    const rank = Math.max(1, Math.round(0.99 * n));
    let seen = 0;
    for (const b of bins) {
      seen += sum.get(b);
      if (seen >= rank) return b * BIN_MS;
    }
    return Number.NaN;
  };
  // mulberry32 with a fixed seed: the same samples give the same interval.
  let seed = 0x9e3779b9;
  const random = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const ratios = [];
  for (let i = 0; i < resamples; i++) {
    const pick = rounds.map(() => perRound[Math.floor(random() * rounds.length)]);
    ratios.push(p99(pick.map((r) => r.cleaning)) / p99(pick.map((r) => r.idle)));
  }
  ratios.sort((x, y) => x - y);
  return { rounds: rounds.length, low: pct(ratios, 2.5), high: pct(ratios, 97.5), median: pct(ratios, 50) };
}

function report() {
  const lines = readFileSync(opt.samples, "utf8").trim().split("\n");
  const sent = new Float64Array(lines.length);
  const lat = new Float64Array(lines.length);
  lines.forEach((l, i) => {
    const [s, ms] = l.split(" ");
    sent[i] = Number(s);
    lat[i] = Number(ms);
  });
  const { windows: ws, cpu } = JSON.parse(readFileSync(opt.windows, "utf8"));
  const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : "–");
  const stats = (pred) => {
    const l = [];
    for (let i = 0; i < sent.length; i++) if (pred(sent[i])) l.push(lat[i]);
    return l.sort((x, y) => x - y);
  };
  console.log(
    "| round | window | s | records/s | p50 ms | p99 ms | p99.9 ms | max ms | broker CPU % (main thread) | client CPU % | others CPU % | cleaner |",
  );
  console.log("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|");
  const byRound = new Map();
  const pooled = { idle: [], cleaning: [] };
  // Each window's samples, for the bootstrap.
  const samplesOf = new Map();
  for (const w of ws) {
    const l = stats((t) => t >= w.startMs && t < w.endMs);
    samplesOf.set(w, l);
    pooled[w.kind].push(...l);
    const secs = (w.endMs - w.startMs) / 1000;
    const broker = cpuPct(cpu, w.startMs, w.endMs, "broker");
    const client = cpuPct(cpu, w.startMs, w.endMs, "client");
    const others = cpuPct(cpu, w.startMs, w.endMs, "machine") - broker - client;
    const cleaner = w.aa
      ? "A/A: no pass"
      : w.kind === "cleaning"
        ? `${(w.dirtyBytes / MiB / (w.passMs / 1000)).toFixed(0)} MiB/s (${(w.dirtyBytes / MiB).toFixed(0)} MiB in ${w.passMs} ms; ${w.recordsRetained} of ${w.recordsRead} records kept${w.starvedAfterMs === undefined ? "" : `; starved, SCHED_OTHER from ${w.starvedAfterMs} ms`})`
        : "";
    console.log(
      `| ${w.round} | ${w.kind} | ${f(secs, 1)} | ${(l.length / secs).toFixed(0)} | ${f(pct(l, 50))} | ${f(pct(l, 99))} | ${f(pct(l, 99.9))} | ${f(l.at(-1))} | ${broker.toFixed(0)} (${cpuPct(cpu, w.startMs, w.endMs, "brokerMain").toFixed(0)}) | ${client.toFixed(0)} | ${Math.max(0, others).toFixed(0)} | ${cleaner} |`,
    );
    const r = byRound.get(w.round) ?? {};
    r[w.kind] = pct(l, 99);
    r.first ??= w.kind;
    byRound.set(w.round, r);
  }
  console.log("");
  const ratios = [...byRound].map(([round, r]) => `${round}: ${f(r.cleaning / r.idle)} (${r.first} first)`);
  console.log(`p99 cleaning / idle by round: ${ratios.join(", ")}`);
  for (const k of ["idle", "cleaning"]) pooled[k].sort((x, y) => x - y);
  console.log(
    `pooled: idle p99 ${f(pct(pooled.idle, 99))} ms (${pooled.idle.length} samples), cleaning p99 ${f(pct(pooled.cleaning, 99))} ms (${pooled.cleaning.length}), ratio ${f(pct(pooled.cleaning, 99) / pct(pooled.idle, 99))}; p99.9 idle ${f(pct(pooled.idle, 99.9))}, cleaning ${f(pct(pooled.cleaning, 99.9))}`,
  );
  const ci = bootstrapRatio(ws, samplesOf, Number(opt.bootstrap));
  if (ci !== null)
    console.log(
      `pooled ratio, 95% interval from ${opt.bootstrap} resamples of the ${ci.rounds} rounds (with replacement): ${f(ci.low)}–${f(ci.high)} (median ${f(ci.median)})`,
    );
  // Outside every window: the second after each window, and the wait from AlterConfigs to the pass.
  const gaps = stats(
    (t) => t >= ws[0].startMs && t < ws.at(-1).endMs && !ws.some((w) => t >= w.startMs && t < w.endMs),
  );
  console.log(
    `between windows (not counted): ${gaps.length} samples, p99 ${f(pct(gaps, 99))} ms, max ${f(gaps.at(-1))} ms`,
  );
  const cw = ws.filter((w) => w.kind === "cleaning" && !w.aa);
  if (cw.length === 0) {
    console.log("cleaner: no pass (A/A run: the windows named cleaning had no pass)");
    return;
  }
  const totalBytes = cw.reduce((n, w) => n + w.dirtyBytes, 0);
  const totalMs = cw.reduce((n, w) => n + w.passMs, 0);
  console.log(
    `cleaner: ${(totalBytes / MiB).toFixed(0)} MiB of dirty log in ${cw.length} passes, ${(totalMs / 1000).toFixed(2)} s: ${(totalBytes / MiB / (totalMs / 1000)).toFixed(0)} MiB/s ` +
      `(passes: ${cw.map((w) => (w.dirtyBytes / MiB / (w.passMs / 1000)).toFixed(0)).join(", ")} MiB/s; from alter to pass start: ${cw.map((w) => (w.startMs - w.alteredMs).toFixed(0)).join(", ")} ms)`,
  );
}

if (command === "create") await create();
else if (command === "fill") for (const topic of opt.topics.split(",")) await fill(topic);
else if (command === "clean") await clean();
else if (command === "windows") await windows();
else if (command === "report") report();
else {
  console.error(
    "usage: node bench/log/cleaner-broker.mjs create|clean|fill|windows|report [options] (see cleaner-broker.sh)",
  );
  process.exit(2);
}
