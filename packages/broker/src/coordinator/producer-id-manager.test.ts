import assert from "node:assert/strict";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { ErrorCode, KafkaError } from "@samsa/protocol";
import { PRODUCER_ID_BLOCK_FILE, ProducerIdManager } from "./producer-id-manager.js";

const settle = () => new Promise((r) => setTimeout(r, 20));

test("ids are unique across restarts: a block is persisted before its first id is handed out", async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "samsa-pid-"));
  try {
    const seen = new Set<bigint>();
    for (let run = 0; run < 3; run++) {
      const ids = new ProducerIdManager({ blockSize: 10 });
      await ids.start(dir);
      for (let i = 0; i < 25; i++) {
        try {
          seen.add(ids.nextProducerId());
        } catch (e) {
          assert.equal((e as KafkaError).code, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS);
          await settle();
          i--;
        }
      }
      await ids.close(); // a "crash" would lose the rest of the block, never reuse it
    }
    assert.equal(seen.size, 75);
    const stored = JSON.parse(await fsp.readFile(path.join(dir, PRODUCER_ID_BLOCK_FILE), "utf8"));
    assert.ok(BigInt(stored.nextBlockStart) >= 80n);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test("prefetches the next block at 90%, and answers COORDINATOR_LOAD_IN_PROGRESS while none is ready", async () => {
  const persisted: bigint[] = [];
  let release: (() => void) | null = null;
  const ids = new ProducerIdManager({
    blockSize: 10,
    persist: async (_file, next) => {
      if (persisted.length > 0) await new Promise<void>((r) => (release = r));
      persisted.push(next);
    },
  });
  await ids.start(await fsp.mkdtemp(path.join(os.tmpdir(), "samsa-pid-")));
  for (let i = 0; i < 10; i++) assert.equal(ids.nextProducerId(), BigInt(i));
  assert.throws(
    () => ids.nextProducerId(),
    (e) => e instanceof KafkaError && e.code === ErrorCode.COORDINATOR_LOAD_IN_PROGRESS,
  );
  assert.ok(release !== null, "the prefetch started at 90%");
  (release as () => void)();
  await settle();
  assert.equal(ids.nextProducerId(), 10n);
  assert.deepEqual(persisted, [10n, 20n]);
});
