/**
 * The in-memory tail of the active segment: reads served from it equal reads from the file, across
 * multi-batch appends, rolls, truncation and a restart; it is bounded and never serves a stale end.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { FileSystem } from "./file-system.js";
import { nodeFileSystem } from "./file-system.js";
import { Log, type LogOptions } from "./log.js";
import type { FetchDataInfo, ReadOptions } from "./partition-log.js";
import { MAX_CACHED_APPEND_BYTES, SegmentTail } from "./segment-tail.js";
import { makeBatch, makeTempDir, removeDir } from "./test-support.js";

let root: string;
let n = 0;
before(async () => {
  root = await makeTempDir();
});
after(async () => removeDir(root));

/** node's file system, counting positional reads of .log files. */
function countingFileSystem(counter: { logReads: number }): FileSystem {
  return {
    async open(file, flags) {
      const fh = await nodeFileSystem.open(file, flags);
      if (!file.endsWith(".log")) return fh;
      return {
        write: (b, o, l, p) => fh.write(b, o, l, p),
        read: (b, o, l, p) => {
          counter.logReads++;
          return fh.read(b, o, l, p);
        },
        truncate: (l) => fh.truncate(l),
        sync: () => fh.sync(),
        datasync: () => fh.datasync(),
        stat: () => fh.stat(),
        close: () => fh.close(),
      };
    },
  };
}

function options(extra: Partial<LogOptions> = {}): LogOptions {
  const tp = { topic: "tail", partition: n++ };
  return { dir: path.join(root, `tail-${tp.partition}`), topicPartition: tp, ...extra };
}

/** Every fetch offset from `from` to the log end, with limits that cut between and inside batches. */
function queries(log: Log, from: bigint): [bigint, ReadOptions][] {
  const out: [bigint, ReadOptions][] = [];
  for (let o = from; o <= log.logEndOffset; o++)
    for (const maxBytes of [1, 100, 250, 1000, 100_000])
      for (const minOneBatch of [true, false])
        for (const maxOffset of [undefined, log.logEndOffset - 3n, o + 1n])
          out.push([o, { maxBytes, minOneBatch, ...(maxOffset === undefined ? {} : { maxOffset }) }]);
  return out;
}

async function readAll(log: Log, qs: [bigint, ReadOptions][]): Promise<FetchDataInfo[]> {
  const out: FetchDataInfo[] = [];
  for (const [o, opts] of qs) out.push(await log.read(o, opts));
  return out;
}

/** Two batches in one append, as a producer sends them. */
const twoBatches = (seed: number) =>
  Buffer.concat([makeBatch({ count: 2, seed }), makeBatch({ count: 3, seed: seed + 1000 })]);

describe("segment tail", () => {
  test("reads at the log end come from memory and equal the file's, across rolls, truncation and a restart", async () => {
    const counter = { logReads: 0 };
    const opts = options({ fs: countingFileSystem(counter), config: { segmentBytes: 1200, indexIntervalBytes: 200 } });
    const log = await Log.open(opts);
    for (let i = 0; i < 40; i++)
      await log.append(i % 3 === 0 ? twoBatches(i) : makeBatch({ count: 1 + (i % 4), seed: i }));
    assert.ok(log.segmentBaseOffsets().length > 3, "rolled several times");
    const activeBase = log.segmentBaseOffsets().at(-1)!;

    // The active segment's batches: no file read at all.
    const atEnd = queries(log, activeBase);
    counter.logReads = 0;
    const fromMemory = await readAll(log, atEnd);
    assert.equal(counter.logReads, 0, "the active segment is read from memory");
    assert.ok(fromMemory.some((r) => r.records.length > 0));

    // Everything, including rolled segments (read from their files).
    const everything = queries(log, 0n);
    const before = await readAll(log, everything);

    // Truncate inside the active segment and in an older one, then append again.
    await log.truncateTo(log.logEndOffset - 2n);
    for (let i = 0; i < 3; i++) await log.append(twoBatches(100 + i));
    const afterTruncate = await readAll(log, queries(log, 0n));
    await log.truncateTo(activeBase - 1n);
    for (let i = 0; i < 5; i++) await log.append(makeBatch({ count: 2, seed: 200 + i }));
    const afterDeepTruncate = await readAll(log, queries(log, 0n));
    const endQueries = queries(log, 0n);
    await log.close();

    // A restarted log has an empty tail: the same reads come from the files.
    const reopened = await Log.open({ ...opts, hadCleanShutdown: true });
    counter.logReads = 0;
    assert.deepEqual(await readAll(reopened, endQueries), afterDeepTruncate);
    assert.ok(counter.logReads > 0, "read from the files after a restart");
    await reopened.close();

    // And the earlier snapshots equal what the files held then: rebuild them in a fresh log.
    const replay = await Log.open(options({ config: { segmentBytes: 1200, indexIntervalBytes: 200 } }));
    for (let i = 0; i < 40; i++)
      await replay.append(i % 3 === 0 ? twoBatches(i) : makeBatch({ count: 1 + (i % 4), seed: i }));
    for (const s of replay.logSegments()) (s as unknown as { tail: SegmentTail }).tail.clear();
    assert.deepEqual(await readAll(replay, everything), before, "memory and file agree before truncation");
    await replay.truncateTo(replay.logEndOffset - 2n);
    for (let i = 0; i < 3; i++) await replay.append(twoBatches(100 + i));
    for (const s of replay.logSegments()) (s as unknown as { tail: SegmentTail }).tail.clear();
    assert.deepEqual(await readAll(replay, queries(replay, 0n)), afterTruncate, "and after truncation");
    await replay.close();
  });

  test("bounded: old batches are evicted, a large append clears it, a size mismatch falls back to the file", () => {
    const tail = new SegmentTail(1000);
    let position = 0;
    let offset = 0n;
    const add = (records: Buffer, count: number) => {
      records.writeBigInt64BE(offset, 0);
      const lastOffset = offset + BigInt(count - 1);
      tail.append(position, records, [{ position: 0, sizeInBytes: records.length, lastOffset, maxTimestamp: 0n }]);
      position += records.length;
      offset = lastOffset + 1n;
    };
    for (let i = 0; i < 20; i++) add(makeBatch({ count: 2, seed: i }), 2);
    assert.ok(tail.bytes <= 1000, `bounded: ${tail.bytes}`);
    assert.ok(tail.firstOffset! > 0n, "the oldest batches were evicted");
    assert.equal(tail.read(0n, 1000, position, position, true, undefined), undefined, "evicted: read the file");
    assert.ok(tail.read(offset - 1n, 1000, position, position, true, undefined)?.records.length);
    assert.equal(tail.read(offset - 1n, 1000, position + 1, position + 1, true, undefined), undefined, "stale end");
    assert.equal(tail.read(offset, 1000, position, position, true, undefined), null, "past the end");

    const big = new SegmentTail(10 * MAX_CACHED_APPEND_BYTES);
    const small = makeBatch({ count: 1 });
    big.append(0, small, [{ position: 0, sizeInBytes: small.length, lastOffset: 0n, maxTimestamp: 0n }]);
    assert.equal(big.firstOffset, 0n);
    big.append(small.length, Buffer.alloc(MAX_CACHED_APPEND_BYTES + 1), []);
    assert.equal(big.firstOffset, null, "a large append is not cached and clears the tail");
  });
});
