/**
 * Lines up the steady producer's stalls with what the broker did at that instant (a diagnostic for
 * cleaner-broker.sh --probe --keep; not part of its report):
 *
 *   node bench/log/stall-report.mjs <kept temp dir> [--threshold-ms 5]
 *
 * A stall is a run of records whose latency exceeds the threshold; it starts at the first one's
 * send time and lasts that record's latency. Printed per stall: its window (idle / cleaning /
 * between), start, length, records, and the probe's events (stall-probe.mjs) that overlap it:
 * GCs per thread, event loop lags, CPU waits; then totals of the stalls' time covered by each.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";

const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: { "threshold-ms": { type: "string", default: "5" }, verbose: { type: "boolean", default: false } },
});
const dir = positionals[0];
const threshold = Number(opt["threshold-ms"]);
const samples = readFileSync(path.join(dir, "samples.txt"), "utf8")
  .trim()
  .split("\n")
  .map((l) => l.split(" ").map(Number));
const { windows } = JSON.parse(readFileSync(path.join(dir, "windows.json"), "utf8"));
const events = readFileSync(path.join(dir, "probe.jsonl"), "utf8")
  .trim()
  .split("\n")
  .map((l) => JSON.parse(l))
  .filter((e) => e.ev !== "start");
for (const e of events) e.end = e.t + (e.ev === "cpuwait" ? e.span : e.ms);

const t0 = windows[0].startMs - 1000;
const tEnd = windows.at(-1).endMs + 1000;
const windowOf = (t) => {
  const w = windows.find((x) => t >= x.startMs && t < x.endMs);
  return w ? `${w.kind[0]}${w.round}` : "-";
};

const stalls = [];
let cur = null;
for (const [sent, ms] of samples) {
  if (sent < t0 || sent > tEnd) continue;
  if (ms > threshold) {
    if (cur && sent <= cur.end) {
      cur.n++;
      cur.max = Math.max(cur.max, ms);
      cur.end = Math.max(cur.end, sent + ms);
    } else {
      cur = { start: sent, end: sent + ms, n: 1, max: ms };
      stalls.push(cur);
    }
  }
}

const kinds = new Map();
const fmt = (x) => x.toFixed(1);
for (const s of stalls) {
  const hits = events.filter((e) => e.t < s.end && e.end > s.start - 2);
  const tags = new Set(hits.map((e) => `${e.thread}:${e.ev}${e.ev === "gc" ? `(${e.kind})` : ""}`));
  for (const t of tags) kinds.set(t, (kinds.get(t) ?? 0) + 1);
  if (tags.size === 0) kinds.set("nothing", (kinds.get("nothing") ?? 0) + 1);
  const desc = hits
    .map((e) =>
      e.ev === "cpuwait"
        ? `${e.thread} waited ${fmt(e.wait)}/${fmt(e.span)} ms`
        : `${e.thread} ${e.ev}${e.ev === "gc" ? ` kind ${e.kind}` : ""} ${fmt(e.ms)} ms at ${fmt(e.t - s.start)}`,
    )
    .join("; ");
  if (opt.verbose || s.max > 2 * threshold)
    console.log(
      `${windowOf(s.start).padEnd(3)} t=${fmt((s.start - t0) / 1000)}s len ${fmt(s.end - s.start)} ms, ${s.n} records, max ${fmt(s.max)} ms | ${desc}`,
    );
}
console.log(`\n${stalls.length} stalls > ${threshold} ms; how many overlap each kind of event:`);
for (const [k, n] of [...kinds].sort((a, b) => b[1] - a[1])) console.log(`  ${k}: ${n}`);
const byWin = {};
for (const s of stalls) {
  const w = windowOf(s.start)[0];
  byWin[w] = (byWin[w] ?? 0) + 1;
}
console.log(`stalls by window (i idle, c cleaning, - between): ${JSON.stringify(byWin)}`);
const dur = { i: 0, c: 0 };
for (const w of windows) dur[w.kind[0]] += (w.endMs - w.startMs) / 1000;
console.log(`window seconds: idle ${fmt(dur.i)}, cleaning ${fmt(dur.c)}`);
