/**
 * The child process of the cleaner crash test: appends a seeded stream of keyed records and
 * tombstones to one compacted log and cleans it, printing `acked <end offset>` after each append,
 * until it is SIGKILLed: by the parent at a random moment, inside the cleaner worker after a
 * number of writes, or on the main thread at a step of the segment swap.
 *
 *   node --import tsx crash-child.ts <dir> <seed> <mode: time|worker|swap> <kill point>
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Log } from "../log.js";
import { seededRandom } from "../test-support.js";
import { LogCleaner } from "./log-cleaner.js";
import { type KeyValue, kvBatch } from "./test-support.js";

export const CRASH_LOG_CONFIG = {
  segmentBytes: 2048,
  cleanupPolicy: ["compact" as const],
  minCleanableDirtyRatio: 0.1,
  deleteRetentionMs: 0,
  fileDeleteDelayMs: 0,
};

/** The seeded stream of appends: the same for the child and for the parent's model. */
export function* appendStream(seed: number): Generator<KeyValue[]> {
  const random = seededRandom(seed);
  for (;;) {
    const n = 1 + Math.floor(random() * 5);
    yield Array.from({ length: n }, () => {
      const key = `key${Math.floor(random() * 40)}`;
      const tombstone = random() < 0.1;
      return { key, value: tombstone ? null : `${key}-${Math.floor(random() * 1e9)}`.padEnd(40, ".") };
    });
  }
}

async function main(): Promise<void> {
  const [dir, seedArg, mode, pointArg] = process.argv.slice(2);
  const seed = Number(seedArg);
  const point = Number(pointArg);
  const log = await Log.open({
    dir: path.join(dir!, "c-0"),
    topicPartition: { topic: "c", partition: 0 },
    config: CRASH_LOG_CONFIG,
  });
  let steps = 0;
  const cleaner = new LogCleaner({
    logDir: dir!,
    logs: () => [log],
    killAfterWorkerWrites: mode === "worker" ? point : undefined,
    onSwapStep:
      mode === "swap"
        ? () => {
            if (++steps >= point) process.kill(process.pid, "SIGKILL");
          }
        : undefined,
  });
  const stream = appendStream(seed);
  for (let round = 0; ; round++) {
    for (let i = 0; i < 15; i++) {
      const info = await log.append(kvBatch(stream.next().value!, { timestamp: BigInt(Date.now()) }));
      process.stdout.write(`acked ${info.lastOffset + 1n}\n`);
    }
    await cleaner.cleanFilthiestLog();
    if (round > 400) break;
  }
  process.stdout.write("done\n");
  await cleaner.shutdown();
  await log.close();
}

// Imported by the test for appendStream and the config; run only as the child.
if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
