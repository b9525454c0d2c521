import assert from "node:assert/strict";
import fsp from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import { LeaderEpochCheckpointFile, OffsetCheckpointFile } from "./checkpoint-file.js";
import { CorruptCheckpointError } from "./errors.js";
import { LeaderEpochFileCache } from "./leader-epoch-cache.js";
import { formatMetaProperties, parseMetaProperties } from "./meta-properties.js";
import { makeTempDir, removeDir } from "./test-support.js";

let dir: string;
before(async () => {
  dir = await makeTempDir();
});
after(async () => removeDir(dir));

test("offset checkpoints: version line, count line, `topic partition offset` lines; atomic replace", async () => {
  const file = path.join(dir, "recovery-point-offset-checkpoint");
  const cp = new OffsetCheckpointFile(file);
  assert.equal(await cp.read(), null);
  await cp.write([
    { tp: { topic: "a", partition: 0 }, offset: 10n },
    { tp: { topic: "b-c", partition: 7 }, offset: 9007199254740993n },
  ]);
  assert.equal(await fsp.readFile(file, "utf8"), "0\n2\na 0 10\nb-c 7 9007199254740993\n");
  assert.deepEqual(
    await cp.read(),
    new Map([
      ["a-0", 10n],
      ["b-c-7", 9007199254740993n],
    ]),
  );
  assert.deepEqual(await fsp.readdir(dir).then((f) => f.filter((x) => x.endsWith(".tmp"))), []);
  await fsp.writeFile(file, "");
  assert.deepEqual(await cp.read(), new Map());
});

test("a checkpoint that does not parse is CorruptCheckpointError", async () => {
  const file = path.join(dir, "bad");
  const cp = new OffsetCheckpointFile(file);
  for (const text of ["1\n0\n", "0\n2\na 0 1\n", "0\n1\na 0\n", "0\nx\n", "0\n1\na zero 1\n"]) {
    await fsp.writeFile(file, text);
    await assert.rejects(cp.read(), CorruptCheckpointError, JSON.stringify(text));
  }
});

test("leader-epoch cache: assign, endOffsetFor, truncation, checkpoint text", async () => {
  const file = new LeaderEpochCheckpointFile(path.join(dir, "leader-epoch-checkpoint"));
  const cache = new LeaderEpochFileCache(file);
  assert.equal(cache.assign(1, 0n), true);
  assert.equal(cache.assign(1, 5n), false, "same epoch, later offset: no change");
  cache.assign(3, 10n);
  cache.assign(5, 20n);
  assert.deepEqual(cache.endOffsetFor(0, 30n), { epoch: 0, endOffset: 0n });
  assert.deepEqual(cache.endOffsetFor(1, 30n), { epoch: 1, endOffset: 10n });
  assert.deepEqual(cache.endOffsetFor(4, 30n), { epoch: 3, endOffset: 20n });
  assert.deepEqual(cache.endOffsetFor(5, 30n), { epoch: 5, endOffset: 30n });
  assert.deepEqual(cache.endOffsetFor(6, 30n), { epoch: -1, endOffset: -1n });
  await cache.flush();
  assert.equal(await fsp.readFile(file.file, "utf8"), "0\n3\n1 0\n3 10\n5 20\n");
  cache.assign(4, 15n); // a new leader rewrote from 15: epoch 5 is gone
  assert.deepEqual(
    cache.entries().map((e) => e.epoch),
    [1, 3, 4],
  );
  cache.truncateFromEnd(12n);
  assert.deepEqual(
    cache.entries().map((e) => e.epoch),
    [1, 3],
  );
  cache.truncateFromStart(11n);
  assert.deepEqual(cache.entries(), [{ epoch: 3, startOffset: 11n }]);
  await cache.flush();
  assert.deepEqual(await file.read(), [{ epoch: 3, startOffset: 11n }]);
});

test("meta.properties round-trips in java.util.Properties form", () => {
  const text = formatMetaProperties({ version: 1, clusterId: "abc", nodeId: 3, directoryId: "AAAAAAAAAAAAAAAAAAAAAQ" });
  assert.match(text, /^#\n#.+\ncluster\.id=abc\ndirectory\.id=AAAAAAAAAAAAAAAAAAAAAQ\nnode\.id=3\nversion=1\n$/);
  assert.deepEqual(parseMetaProperties(text), {
    version: 1,
    clusterId: "abc",
    nodeId: 3,
    directoryId: "AAAAAAAAAAAAAAAAAAAAAQ",
  });
  // As Kafka 3.x ZooKeeper-mode brokers wrote it.
  assert.deepEqual(parseMetaProperties("#\n#Tue\nbroker.id=0\nversion=0\ncluster.id=xyz\n"), {
    version: 0,
    clusterId: "xyz",
    nodeId: 0,
  });
  assert.throws(() => parseMetaProperties("version=1\ncluster.id=x\n"));
});
