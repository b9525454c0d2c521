import assert from "node:assert/strict";
import fsp from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import { CorruptIndexError } from "./errors.js";
import { nodeFileSystem } from "./file-system.js";
import { OffsetIndex } from "./offset-index.js";
import { makeTempDir, removeDir } from "./test-support.js";

let dir: string;
before(async () => {
  dir = await makeTempDir();
});
after(async () => removeDir(dir));

test("lookup finds the largest entry <= target, or the segment start", async () => {
  const index = new OffsetIndex(nodeFileSystem, path.join(dir, "a.index"), 100n, 800);
  await index.createEmpty();
  assert.deepEqual(index.lookup(150n), { offset: 100n, position: 0 });
  for (let i = 1; i <= 50; i++) index.append(100n + BigInt(i * 10), i * 1000);
  assert.deepEqual(index.lookup(99n), { offset: 100n, position: 0 });
  assert.deepEqual(index.lookup(109n), { offset: 100n, position: 0 });
  assert.deepEqual(index.lookup(110n), { offset: 110n, position: 1000 });
  assert.deepEqual(index.lookup(255n), { offset: 250n, position: 15000 });
  assert.deepEqual(index.lookup(10_000n), { offset: 600n, position: 50000 });
  assert.throws(() => index.append(600n, 60000), /not above/);
  assert.equal(index.canAppendOffset(100n + 2n ** 31n - 1n), true);
  assert.equal(index.canAppendOffset(100n + 2n ** 31n), false);
  await index.closeHandle();
});

test("truncateTo keeps entries below the offset (Kafka's three cases)", async () => {
  const index = new OffsetIndex(nodeFileSystem, path.join(dir, "b.index"), 0n, 800);
  await index.createEmpty();
  for (let i = 1; i <= 10; i++) index.append(BigInt(i * 10), i * 100);
  index.truncateTo(55n);
  assert.equal(index.entries, 5);
  index.truncateTo(50n);
  assert.equal(index.entries, 4);
  assert.equal(index.lastOffset, 40n);
  index.truncateTo(5n);
  assert.equal(index.entries, 0);
  assert.equal(index.lastOffset, 0n);
  await index.closeHandle();
});

test("the file holds 8-byte big-endian (relative offset, position) entries; preallocated, then trimmed", async () => {
  const file = path.join(dir, "c.index");
  const index = new OffsetIndex(nodeFileSystem, file, 1000n, 80);
  await index.createEmpty();
  assert.equal((await fsp.stat(file)).size, 80);
  index.append(1005n, 4096);
  index.append(1010n, 8192);
  await index.sync();
  await index.trimToValidSize();
  await index.closeHandle();
  assert.deepEqual(await fsp.readFile(file), Buffer.from("00000005000010000000000a00002000", "hex"));
  assert.ok(index.isFull() && index.maxEntries === 2, "a trimmed index is full, as in Kafka");

  const reloaded = new OffsetIndex(nodeFileSystem, file, 1000n, 80);
  reloaded.markLazy();
  await reloaded.ensureLoaded();
  assert.deepEqual(reloaded.lookup(1012n), { offset: 1010n, position: 8192 });
});

test("loading rejects a file that is not a valid index", async () => {
  const cases: [string, Buffer][] = [
    ["odd size", Buffer.alloc(12)],
    ["offsets not ascending", Buffer.from("00000005000000100000000300000020", "hex")],
    ["zero-filled preallocation", Buffer.alloc(32)],
  ];
  for (const [name, bytes] of cases) {
    const file = path.join(dir, `${name}.index`);
    await fsp.writeFile(file, bytes);
    const index = new OffsetIndex(nodeFileSystem, file, 0n, 800);
    index.markLazy();
    await assert.rejects(index.ensureLoaded(), CorruptIndexError, name);
  }
});

test("the in-memory buffer grows with the entries, not with segment.index.bytes", async () => {
  const index = new OffsetIndex(nodeFileSystem, path.join(dir, "d.index"), 0n, 10 * 1024 * 1024);
  await index.createEmpty();
  index.append(1n, 1);
  assert.ok(
    (index as unknown as { buf: Buffer }).buf.length <= 1024,
    "(index as unknown as { buf: Buffer }).buf.length <= 1024",
  );
  for (let i = 2; i < 1000; i++) index.append(BigInt(i), i);
  assert.ok(
    (index as unknown as { buf: Buffer }).buf.length <= 16 * 1024,
    "(index as unknown as { buf: Buffer }).buf.length <= 16 * 1024",
  );
  await index.closeHandle();
});
