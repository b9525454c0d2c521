/**
 * Summarizes the broker's V8 CPU profile (`node --cpu-prof`) as markdown: the functions with the
 * most self time, the same by source file, and the inclusive (self + callees) time of the
 * functions that matter most, so a missed goal can be attributed to code without DevTools.
 * Locations in the built JavaScript are mapped back to the TypeScript sources through the
 * `.js.map` files `tsc -b` writes beside them.
 *
 *   node --import tsx bench/broker/profile-top.ts <file.cpuprofile> [count=20] [--gc-log <file>]
 *
 * With --gc-log (the broker's output under `node --trace-gc`), it adds how often V8 collected
 * garbage, the pauses, and how much young-generation garbage the broker made per second.
 */
import { existsSync, readFileSync } from "node:fs";
import { SourceMap } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const sourceMaps = new Map<string, SourceMap | null>();

function sourceMapFor(file: string): SourceMap | null {
  let map = sourceMaps.get(file);
  if (map === undefined) {
    map = null;
    const mapFile = `${file}.map`;
    if (existsSync(mapFile)) map = new SourceMap(JSON.parse(readFileSync(mapFile, "utf8")));
    sourceMaps.set(file, map);
  }
  return map;
}

/** `path:line` relative to the repository, in the TypeScript source when a source map says where. */
function where(frame: CallFrame): string {
  if (frame.url === "") return "";
  if (frame.url.startsWith("node:")) return frame.url;
  let file = frame.url.startsWith("file://") ? fileURLToPath(frame.url) : frame.url;
  let line = frame.lineNumber + 1;
  const entry = sourceMapFor(file)?.findEntry(frame.lineNumber, frame.columnNumber);
  if (entry !== undefined && "originalSource" in entry) {
    file = path.resolve(path.dirname(file), entry.originalSource.replace(/^file:\/\//, ""));
    line = entry.originalLine + 1;
  }
  const nm = file.lastIndexOf("node_modules/");
  return nm >= 0 ? file.slice(nm + "node_modules/".length) : `${path.relative(ROOT, file)}:${line}`;
}

function fileOf(location: string): string {
  if (location === "") return "(V8 / native)";
  if (!location.startsWith("packages/") && !location.startsWith("apps/")) {
    // A dependency: group by package name.
    const parts = location.split("/");
    return parts[0].startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0].split(":")[0];
  }
  return location.replace(/:\d+$/, "");
}

/** Lines of `node --trace-gc`: "[pid:0x..]  7211 ms: Scavenge 45.3 (65.5) -> 34.0 (66.2) MB, 2.83 / 0.00 ms ...". */
const GC_LINE =
  /\s(\d+) ms: (Scavenge|Minor Mark-Compact|Mark-Compact)[^\d]*([\d.]+) \([\d.]+\) -> ([\d.]+) \([\d.]+\) MB, ([\d.]+) \/ [\d.]+ ms/;

function gcSummary(logFile: string): string {
  const kinds = new Map<
    string,
    { n: number; pauseMs: number; maxMs: number; freedMb: number; firstMs: number; lastMs: number }
  >();
  for (const line of readFileSync(logFile, "utf8").split("\n")) {
    const m = GC_LINE.exec(line);
    if (m === null) continue;
    const [, at, kind, before, after, pause] = m;
    const k = kinds.get(kind) ?? { n: 0, pauseMs: 0, maxMs: 0, freedMb: 0, firstMs: Number(at), lastMs: 0 };
    k.n++;
    k.pauseMs += Number(pause);
    k.maxMs = Math.max(k.maxMs, Number(pause));
    k.freedMb += Number(before) - Number(after);
    k.lastMs = Number(at);
    kinds.set(kind, k);
  }
  if (kinds.size === 0) return "No GC lines in the broker's output (was it started with --trace-gc?).";
  const parts = [...kinds.entries()].map(
    ([kind, k]) => `${k.n} × ${kind} (pauses: total ${k.pauseMs.toFixed(0)} ms, max ${k.maxMs.toFixed(1)} ms)`,
  );
  let text = `GC over the broker's life (\`--trace-gc\`): ${parts.join("; ")}.`;
  const young = kinds.get("Scavenge");
  if (young !== undefined && young.n > 2) {
    const spanS = (young.lastMs - young.firstMs) / 1000;
    text += ` Scavenges freed ${young.freedMb.toFixed(0)} MB in the ${spanS.toFixed(1)} s between the first and the last: about ${(young.freedMb / spanS).toFixed(0)} MB/s of short-lived garbage.`;
  }
  return text;
}

function main(): void {
  const args = process.argv.slice(2);
  const gcAt = args.indexOf("--gc-log");
  const gcLog = gcAt >= 0 ? args.splice(gcAt, 2)[1] : undefined;
  const [file, countArg] = args;
  if (file === undefined) {
    console.error("usage: profile-top.ts <file.cpuprofile> [count] [--gc-log <file>]");
    process.exit(2);
  }
  const count = Number(countArg ?? 20);
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
  const keyOf = new Map<number, string>();
  for (const n of profile.nodes) {
    const loc = where(n.callFrame);
    keyOf.set(n.id, `${n.callFrame.functionName || "(anonymous)"}|${loc}`);
  }

  // timeDeltas[i] is the time before sample i; it was spent in the sample before it.
  const selfUs = new Map<string, number>();
  const inclusiveUs = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i + 1] ?? 0;
    const id = profile.samples[i];
    const key = keyOf.get(id)!;
    totalUs += delta;
    if (byId.get(id)!.callFrame.functionName === "(idle)") {
      idleUs += delta;
      continue;
    }
    selfUs.set(key, (selfUs.get(key) ?? 0) + delta);
    const seen = new Set<string>();
    for (let n: number | undefined = id; n !== undefined; n = parentOf.get(n)) {
      const k = keyOf.get(n)!;
      if (!seen.has(k)) {
        seen.add(k);
        inclusiveUs.set(k, (inclusiveUs.get(k) ?? 0) + delta);
      }
    }
  }
  const busyUs = totalUs - idleUs;
  const ms = (us: number) => (us / 1e3).toFixed(0);
  const pct = (us: number) => `${((100 * us) / busyUs).toFixed(1)}%`;
  const name = (key: string) => {
    const [fn, loc] = key.split("|");
    return loc === "" ? `\`${fn}\`` : `\`${fn}\` ${loc}`;
  };

  console.log(
    `Profile: ${ms(totalUs)} ms sampled, main thread busy ${ms(busyUs)} ms (${((100 * busyUs) / totalUs).toFixed(0)}%), idle ${ms(idleUs)} ms. Percentages are of busy time.\n`,
  );
  console.log("| self ms | self | inclusive | function (source) |\n|--:|--:|--:|---|");
  const top = [...selfUs.entries()].sort((a, b) => b[1] - a[1]).slice(0, count);
  for (const [key, us] of top) {
    console.log(`| ${ms(us)} | ${pct(us)} | ${pct(inclusiveUs.get(key) ?? 0)} | ${name(key)} |`);
  }

  const byFile = new Map<string, number>();
  for (const [key, us] of selfUs) {
    const f = fileOf(key.split("|")[1]);
    byFile.set(f, (byFile.get(f) ?? 0) + us);
  }
  console.log("\n| self ms | self | source file or package |\n|--:|--:|---|");
  for (const [f, us] of [...byFile.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12)) {
    console.log(`| ${ms(us)} | ${pct(us)} | ${f} |`);
  }

  // Inclusive time of the broker's own functions (where a fix would go), skipping the event-loop
  // plumbing every sample passes through.
  console.log("\n| inclusive ms | inclusive | broker/protocol function |\n|--:|--:|---|");
  const ours = [...inclusiveUs.entries()]
    .filter(([k]) => /\|(packages|apps)\//.test(k))
    .sort((a, b) => b[1] - a[1])
    .slice(0, count);
  for (const [key, us] of ours) console.log(`| ${ms(us)} | ${pct(us)} | ${name(key)} |`);
  if (gcLog !== undefined) console.log(`\n${gcSummary(gcLog)}`);
}

main();
