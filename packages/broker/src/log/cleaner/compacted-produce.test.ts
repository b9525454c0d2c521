import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { CompressionType, ErrorCode } from "@samsa/protocol";
import { InvalidRecordError } from "../errors.js";
import { Log } from "../log.js";
import { makeTempDir, removeDir } from "../test-support.js";
import { groupSegmentsBySize } from "./clean-log.js";
import { kvBatch } from "./test-support.js";

test("a compacted topic rejects records without a key, compressed or not; a delete topic accepts them", async () => {
  const dir = await makeTempDir("samsa-keyless-");
  const compacted = await Log.open({
    dir: path.join(dir, "c-0"),
    topicPartition: { topic: "c", partition: 0 },
    config: { cleanupPolicy: ["compact", "delete"] },
  });
  const plain = await Log.open({ dir: path.join(dir, "d-0"), topicPartition: { topic: "d", partition: 0 } });
  try {
    for (const compression of [CompressionType.None, CompressionType.Gzip, CompressionType.Zstd]) {
      const batch = kvBatch(
        [
          { key: "k", value: "v" },
          { key: null, value: "no key" },
        ],
        { compression },
      );
      await assert.rejects(compacted.append(Buffer.from(batch)), (e: unknown) => {
        assert.ok(e instanceof InvalidRecordError);
        assert.equal(e.code, ErrorCode.INVALID_RECORD);
        assert.equal(e.message, "Compacted topic cannot accept message without key in topic partition c-0.");
        return true;
      });
      await plain.append(Buffer.from(batch));
    }
    assert.equal(compacted.logEndOffset, 0n);
    await compacted.append(kvBatch([{ key: "k", value: "v" }], { compression: CompressionType.Lz4 }));
    assert.equal(compacted.logEndOffset, 1n);
  } finally {
    await compacted.close();
    await plain.close();
    await removeDir(dir);
  }
});

test("groupSegmentsBySize groups runs that fit segment.bytes and the index size", () => {
  const seg = (baseOffset: bigint, size: number, index = 8) => ({
    baseOffset,
    size,
    offsetIndexBytes: index,
    timeIndexBytes: (index / 8) * 12,
  });
  const segments = [seg(0n, 400), seg(10n, 400), seg(20n, 400), seg(30n, 900), seg(40n, 50), seg(50n, 0)];
  const groups = groupSegmentsBySize(segments, 1000, 1000, 60n).map((g) => g.map((s) => s.baseOffset));
  assert.deepEqual(groups, [[0n, 10n], [20n], [30n, 40n, 50n]]);
  // The index bound.
  const byIndex = groupSegmentsBySize([seg(0n, 1, 600), seg(1n, 1, 600)], 1000, 1000, 2n);
  assert.equal(byIndex.length, 2);
  // Offsets must stay within a relative offset of the group's base.
  const far = groupSegmentsBySize([seg(0n, 1), seg(2n ** 31n + 5n, 1)], 1000, 1000, 2n ** 32n);
  assert.equal(far.length, 2);
});
