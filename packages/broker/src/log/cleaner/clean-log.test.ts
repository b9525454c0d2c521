import assert from "node:assert/strict";
import fsp from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { Log } from "../log.js";
import { makeTempDir, removeDir } from "../test-support.js";
import { type CleanTask, cleanLog } from "./clean-log.js";
import { kvBatch } from "./test-support.js";

/** A closed log of several segments, keys overwritten many times; the task of a pass over all of it. */
async function dirtyLog(dir: string, keys: number): Promise<CleanTask> {
  const log = await Log.open({ dir, topicPartition: { topic: "c", partition: 0 }, config: { segmentBytes: 4096 } });
  for (let i = 0; i < 200; i++)
    await log.append(kvBatch([0, 1, 2].map((j) => ({ key: `k${(i * 3 + j) % keys}`, value: `v${i}-${j}`.repeat(5) }))));
  await log.roll();
  const segments = log.logSegments().slice(0, -1);
  const firstUncleanableOffset = log.logSegments().at(-1)!.baseOffset;
  await log.close();
  return {
    dir,
    segments: segments.map((s) => ({ baseOffset: s.baseOffset, size: s.size })),
    firstDirtyOffset: 0n,
    firstUncleanableOffset,
    nowMs: Date.now(),
    deleteRetentionMs: 86_400_000,
    segmentBytes: 4096 * 4,
    segmentIndexBytes: 1024 * 1024,
    indexIntervalBytes: 512,
    maxMapEntries: 1000,
    ioBufferBytes: 1000,
  };
}

async function cleanedFiles(dir: string): Promise<Map<string, Buffer>> {
  const names = (await fsp.readdir(dir)).filter((n) => n.endsWith(".cleaned")).sort();
  return new Map(await Promise.all(names.map(async (n) => [n, await fsp.readFile(path.join(dir, n))] as const)));
}

// A pass reuses the thread's buffers and offset map; two passes at once must not share them.
test("two passes at once in one thread write what each writes alone", async () => {
  const root = await makeTempDir("samsa-clean-log-");
  try {
    const [a, b] = await Promise.all([dirtyLog(path.join(root, "a"), 7), dirtyLog(path.join(root, "b"), 50)]);
    await fsp.cp(a.dir, path.join(root, "a2"), { recursive: true });
    await fsp.cp(b.dir, path.join(root, "b2"), { recursive: true });
    const alone = [
      await cleanLog({ ...a, dir: path.join(root, "a2") }),
      await cleanLog({ ...b, dir: path.join(root, "b2") }),
    ];
    const together = await Promise.all([cleanLog(a), cleanLog(b)]);
    for (const [i, dir] of [a.dir, b.dir].entries()) {
      assert.equal(together[i]!.endOffset, alone[i]!.endOffset);
      assert.equal(together[i]!.stats.recordsRetained, alone[i]!.stats.recordsRetained);
      const files = await cleanedFiles(dir);
      assert.ok(files.size > 0);
      assert.deepEqual(files, await cleanedFiles(path.join(root, i === 0 ? "a2" : "b2")));
    }
  } finally {
    await removeDir(root);
  }
});
