import assert from "node:assert/strict";
import fsp from "node:fs/promises";
import path from "node:path";
import { describe, test } from "node:test";
import { Log } from "../log.js";
import { makeTempDir, removeDir } from "../test-support.js";
import { cleanLog } from "./clean-log.js";
import { renameCleanedToSwap } from "./segment-swap.js";
import { checkAgainstModel, type KeyValue, kvBatch, readRecords } from "./test-support.js";

const TP = { topic: "s", partition: 0 };
const CONFIG = { segmentBytes: 1024, cleanupPolicy: ["compact" as const] };

/** A log of several segments, closed, with `.cleaned` files for a pass written next to them. */
async function preparePass(dir: string) {
  const log = await Log.open({ dir, topicPartition: TP, config: CONFIG });
  const written = new Map<bigint, KeyValue>();
  for (let i = 0; i < 40; i++) {
    const kvs = [{ key: `k${i % 4}`, value: `v${i}`.repeat(8) }];
    const info = await log.append(kvBatch(kvs));
    written.set(info.firstOffset, kvs[0]!);
  }
  await log.roll();
  const segments = log.logSegments().slice(0, -1);
  const before = await readRecords(log);
  await log.close();
  const result = await cleanLog({
    dir,
    segments: segments.map((s) => ({ baseOffset: s.baseOffset, size: s.size })),
    firstDirtyOffset: 0n,
    firstUncleanableOffset: segments.at(-1)!.baseOffset + 1000n,
    nowMs: Date.now(),
    deleteRetentionMs: 86_400_000,
    segmentBytes: 1024,
    segmentIndexBytes: 1024 * 1024,
    indexIntervalBytes: 4096,
    maxMapEntries: 1000,
    ioBufferBytes: 1 << 20,
  });
  assert.ok(result.groups.length >= 2, "several cleaned segments");
  return { written, before, groups: result.groups, bases: result.groups.map((g) => g.baseOffset) };
}

async function reopen(dir: string) {
  const log = await Log.open({ dir, topicPartition: TP, config: CONFIG });
  const records = await readRecords(log);
  const names = await fsp.readdir(dir);
  await log.close();
  return { records, leftovers: names.filter((n) => /\.(cleaned|swap|deleted)$/.test(n)), log };
}

const name = (base: bigint, suffix: string) => `${base.toString().padStart(20, "0")}${suffix}`;

describe("segment swap recovery", () => {
  test("only .cleaned files: the pass is discarded, the log is as before", async () => {
    const dir = await makeTempDir("samsa-swap-");
    try {
      const { before } = await preparePass(dir);
      const after = await reopen(dir);
      assert.deepEqual(after.records, before);
      assert.deepEqual(after.leftovers, []);
    } finally {
      await removeDir(dir);
    }
  });

  test("a crash during the .cleaned -> .swap renames discards the pass", async () => {
    const dir = await makeTempDir("samsa-swap-");
    try {
      const { before, bases } = await preparePass(dir);
      // The highest segment renamed, and the .log of the lowest not yet.
      await renameCleanedToSwap(dir, bases.slice(1));
      await fsp.rename(
        path.join(dir, name(bases[0]!, ".index.cleaned")),
        path.join(dir, name(bases[0]!, ".index.swap")),
      );
      const after = await reopen(dir);
      assert.deepEqual(after.records, before);
      assert.deepEqual(after.leftovers, []);
    } finally {
      await removeDir(dir);
    }
  });

  test("a crash after the commit point completes the swap", async () => {
    for (const oldRenamed of [0, 1, "all"] as const) {
      const dir = await makeTempDir("samsa-swap-");
      try {
        const { written, before, groups, bases } = await preparePass(dir);
        await renameCleanedToSwap(dir, bases);
        const old = groups.flatMap((g) => g.replaces);
        const renamed = oldRenamed === "all" ? old : old.slice(0, oldRenamed);
        for (const b of renamed)
          await fsp.rename(path.join(dir, name(b, ".log")), path.join(dir, name(b, ".log.deleted")));
        const after = await reopen(dir);
        assert.deepEqual(checkAgainstModel(after.records, written), []);
        assert.ok(after.records.length < before.length, "the cleaned segments are in");
        assert.equal(new Set(after.records.map((r) => r.offset)).size, after.records.length);
        assert.deepEqual(after.leftovers, []);
        // Recovery is idempotent: a second open sees the same log.
        assert.deepEqual((await reopen(dir)).records, after.records);
      } finally {
        await removeDir(dir);
      }
    }
  });
});
