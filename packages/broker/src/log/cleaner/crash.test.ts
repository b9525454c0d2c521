/**
 * A cleaning pass interrupted by SIGKILL at random points (seeded; rerun one with
 * SAMSA_TEST_SEED=<n>): in the worker while it writes `.cleaned` files, on the main thread between
 * the renames of the swap, or at a random time. The log is then reopened (recovery) and compared
 * to a model of everything written: every key's latest record present, every record as written
 * at its offset, no offset twice, nothing acknowledged lost, no `.cleaned` or `.swap` file left.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fsp from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { Log } from "../log.js";
import { makeTempDir, removeDir, seededRandom } from "../test-support.js";
import { appendStream, CRASH_LOG_CONFIG } from "./crash-child.js";
import { LogCleaner } from "./log-cleaner.js";
import { checkAgainstModel, type KeyValue, readRecords } from "./test-support.js";

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), "crash-child.ts");
const MODES = ["worker", "swap", "time", "swap"] as const;

function runChild(
  dir: string,
  seed: number,
  mode: string,
  point: number,
): Promise<{ acked: bigint; signal: string | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--conditions=samsa-source", "--import", "tsx", CHILD, dir, String(seed), mode, String(point)],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let acked = 0n;
    let buffered = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) if (line.startsWith("acked ")) acked = BigInt(line.slice(6));
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    let timer: NodeJS.Timeout | undefined;
    if (mode === "time") timer = setTimeout(() => child.kill("SIGKILL"), point);
    // Whatever the mode, never let a child outlive its budget.
    const guard = setTimeout(() => child.kill("SIGKILL"), 8000);
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      clearTimeout(guard);
      if (signal === null && code !== 0) reject(new Error(`child failed (${code}): ${stderr}`));
      else resolve({ acked, signal });
    });
  });
}

test("a cleaning pass killed at random points recovers to the model", async () => {
  const seed = Number(process.env.SAMSA_TEST_SEED ?? Math.floor(Math.random() * 1e9));
  console.log(`cleaner crash test seed ${seed} (rerun: SAMSA_TEST_SEED=${seed})`);
  const random = seededRandom(seed);
  for (const [i, mode] of MODES.entries()) {
    const dir = await makeTempDir("samsa-cleaner-crash-");
    const childSeed = Math.floor(random() * 1e9);
    const point =
      mode === "time" ? 600 + Math.floor(random() * 800) : 1 + Math.floor(random() * (mode === "swap" ? 14 : 6));
    try {
      const { acked, signal } = await runChild(dir, childSeed, mode, point);
      const what = `run ${i}: mode ${mode}, kill point ${point}, child seed ${childSeed}, acked ${acked}`;
      assert.equal(signal, "SIGKILL", `${what}: the child was killed`);
      const log = await Log.open({
        dir: path.join(dir, "c-0"),
        topicPartition: { topic: "c", partition: 0 },
        config: CRASH_LOG_CONFIG,
      });
      try {
        const names = await fsp.readdir(log.dir);
        assert.deepEqual(
          names.filter((n) => /\.(cleaned|swap)$/.test(n)),
          [],
          `${what}: leftovers`,
        );
        assert.ok(log.logEndOffset >= acked, `${what}: log end ${log.logEndOffset} < acked ${acked}`);
        const written = new Map<bigint, KeyValue>();
        const stream = appendStream(childSeed);
        let offset = 0n;
        while (offset < log.logEndOffset) for (const kv of stream.next().value!) written.set(offset++, kv);
        assert.deepEqual(checkAgainstModel(await readRecords(log), written), [], what);
        // The recovered log cleans like any other.
        const cleaner = new LogCleaner({ logDir: dir, logs: () => [log] });
        await log.roll();
        await cleaner.cleanFilthiestLog();
        await cleaner.shutdown();
        assert.deepEqual(checkAgainstModel(await readRecords(log), written), [], `${what}, cleaned again`);
      } finally {
        await log.close();
      }
    } finally {
      await removeDir(dir);
    }
  }
});
