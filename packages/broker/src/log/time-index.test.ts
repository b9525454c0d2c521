import assert from "node:assert/strict";
import fsp from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import { nodeFileSystem } from "./file-system.js";
import { makeTempDir, removeDir } from "./test-support.js";
import { TimeIndex } from "./time-index.js";

let dir: string;
before(async () => {
  dir = await makeTempDir();
});
after(async () => removeDir(dir));

test("entries are added only when the timestamp grows; lookup finds the largest <= target", async () => {
  const file = path.join(dir, "a.timeindex");
  const index = new TimeIndex(nodeFileSystem, file, 50n, 120);
  await index.createEmpty();
  assert.deepEqual(index.lookup(5n), { timestamp: -1n, offset: 50n });
  index.maybeAppend(1000n, 55n);
  index.maybeAppend(1000n, 56n); // same timestamp: ignored
  index.maybeAppend(900n, 57n); // older: ignored
  index.maybeAppend(2000n, 60n);
  assert.equal(index.entries, 2);
  assert.deepEqual(index.lookup(999n), { timestamp: -1n, offset: 50n });
  assert.deepEqual(index.lookup(1500n), { timestamp: 1000n, offset: 55n });
  assert.deepEqual(index.lookup(2000n), { timestamp: 2000n, offset: 60n });
  assert.deepEqual(index.lastEntry(), { timestamp: 2000n, offset: 60n });
  assert.throws(() => index.maybeAppend(3000n, 59n), /below/);
  index.truncateTo(60n);
  assert.deepEqual(index.lastEntry(), { timestamp: 1000n, offset: 55n });
  await index.trimToValidSize();
  await index.closeHandle();
  // 12-byte entries: int64 timestamp, int32 relative offset.
  assert.deepEqual(await fsp.readFile(file), Buffer.from("00000000000003e800000005", "hex"));
});
