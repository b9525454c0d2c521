/**
 * Summarizes a V8 .cpuprofile (from `node --cpu-prof`): the functions with the most self time,
 * so a benchmark row's cost can be attributed without opening DevTools.
 *
 *   node --import tsx bench/protocol/profile-top.ts <file.cpuprofile> [count=25]
 */
import { readFileSync } from "node:fs";
import path from "node:path";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function where(frame: CallFrame): string {
  if (frame.url === "") return "(native)";
  const file = frame.url.replace(/^file:\/\//, "");
  const short = file.includes("node_modules/")
    ? file.slice(file.lastIndexOf("node_modules/") + "node_modules/".length)
    : path.relative(process.cwd(), file);
  return `${short}:${frame.lineNumber + 1}`;
}

function main(): void {
  const [file, countArg] = process.argv.slice(2);
  if (file === undefined) {
    console.error("usage: profile-top.ts <file.cpuprofile> [count]");
    process.exit(2);
  }
  const count = Number(countArg ?? 25);
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  // timeDeltas[i] is the time before sample i; it is spent in the sample before it.
  const selfUs = new Map<string, number>();
  let totalUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i + 1] ?? 0;
    const frame = byId.get(profile.samples[i])!.callFrame;
    const key = `${frame.functionName || "(anonymous)"}  ${where(frame)}`;
    selfUs.set(key, (selfUs.get(key) ?? 0) + delta);
    totalUs += delta;
  }
  const top = [...selfUs.entries()].sort((a, b) => b[1] - a[1]).slice(0, count);
  console.log(`total ${(totalUs / 1e3).toFixed(0)} ms sampled\n`);
  console.log("| self ms | self % | function  location |");
  console.log("|--:|--:|---|");
  for (const [key, us] of top) {
    console.log(`| ${(us / 1e3).toFixed(1)} | ${((100 * us) / totalUs).toFixed(1)} | ${key} |`);
  }
}

main();
