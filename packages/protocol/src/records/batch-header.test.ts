import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { crc32c } from "@node-rs/crc32";
import { DecodeError } from "../primitives/index.js";
import {
  ATTRIBUTES_OFFSET,
  BATCH_HEADER_SIZE,
  CompressionType,
  CRC_OFFSET,
  compressionTypeOf,
  hasDeleteHorizon,
  isControlBatch,
  isTransactional,
  LOG_OVERHEAD,
  lastOffsetOf,
  makeAttributes,
  readBatchHeader,
  setBaseOffset,
  setMaxTimestampLogAppendTime,
  setPartitionLeaderEpoch,
  TimestampType,
  timestampTypeOf,
  verifyBatchCrc,
} from "./batch-header.js";
import { decodeRecordBatch, encodeRecordBatch } from "./record-batch.js";

function sampleBatch(compression = CompressionType.None): Buffer {
  return encodeRecordBatch({
    records: [
      { key: Buffer.from("k1"), value: Buffer.from("v1"), timestamp: 1_700_000_000_000n },
      { key: null, value: Buffer.from("v2"), timestamp: 1_700_000_000_005n, headers: [{ key: "h", value: null }] },
      { value: null, timestamp: 1_699_999_999_990n },
    ],
    baseOffset: 42n,
    compression,
    producerId: 7n,
    producerEpoch: 3,
    baseSequence: 11,
    isTransactional: true,
    partitionLeaderEpoch: 5,
  });
}

function expectDecodeError(fn: () => unknown, field: string | RegExp): DecodeError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof DecodeError, `expected DecodeError, got ${String(e)}`);
    if (typeof field === "string") assert.equal(e.field, field, e.message);
    else assert.match(e.field, field, e.message);
    return e;
  }
  assert.fail("expected a DecodeError");
}

describe("readBatchHeader", () => {
  it("reads every field of an encoded batch", () => {
    const buf = sampleBatch();
    const h = readBatchHeader(buf);
    assert.equal(h.baseOffset, 42n);
    assert.equal(h.batchLength, buf.length - LOG_OVERHEAD);
    assert.equal(h.partitionLeaderEpoch, 5);
    assert.equal(h.magic, 2);
    assert.equal(h.crc, buf.readUInt32BE(CRC_OFFSET));
    assert.equal(h.lastOffsetDelta, 2);
    assert.equal(h.baseTimestamp, 1_700_000_000_000n);
    assert.equal(h.maxTimestamp, 1_700_000_000_005n);
    assert.equal(h.producerId, 7n);
    assert.equal(h.producerEpoch, 3);
    assert.equal(h.baseSequence, 11);
    assert.equal(h.recordCount, 3);
    assert.equal(isTransactional(h.attributes), true);
    assert.equal(isControlBatch(h.attributes), false);
    assert.equal(compressionTypeOf(h.attributes), CompressionType.None);
    assert.equal(timestampTypeOf(h.attributes), TimestampType.CreateTime);
    assert.equal(lastOffsetOf(h), 44n);
  });

  it("reads a batch at an offset inside a larger (pooled) buffer", () => {
    const one = sampleBatch(CompressionType.Gzip);
    const buf = Buffer.concat([Buffer.alloc(7), one, one]);
    const h = readBatchHeader(buf, 7 + one.length);
    assert.equal(h.baseOffset, 42n);
    assert.equal(verifyBatchCrc(buf, 7 + one.length), true);
    // A view with a non-zero byteOffset into its ArrayBuffer.
    const view = buf.subarray(7);
    assert.equal(readBatchHeader(view, one.length).recordCount, 3);
  });

  it("rejects short buffers, legacy magic, bad lengths and unknown codecs, naming the field", () => {
    const buf = sampleBatch();
    expectDecodeError(() => readBatchHeader(buf.subarray(0, 60)), "RecordBatch");
    expectDecodeError(() => readBatchHeader(buf.subarray(0, 10)), "RecordBatch");
    expectDecodeError(() => readBatchHeader(buf, buf.length + 1), "RecordBatch");

    const legacy = Buffer.from(buf);
    legacy[16] = 1;
    const e = expectDecodeError(() => readBatchHeader(legacy), "RecordBatch.magic");
    assert.match(e.message, /expected magic 2, found 1/);
    // Even when the buffer is shorter than a v2 header, a legacy magic is reported as such.
    expectDecodeError(() => readBatchHeader(legacy.subarray(0, 30)), "RecordBatch.magic");

    const short = Buffer.from(buf);
    short.writeInt32BE(48, 8);
    expectDecodeError(() => readBatchHeader(short), "RecordBatch.batchLength");
    const negative = Buffer.from(buf);
    negative.writeInt32BE(-1, 8);
    expectDecodeError(() => readBatchHeader(negative), "RecordBatch.batchLength");
    const long = Buffer.from(buf);
    long.writeInt32BE(buf.length - LOG_OVERHEAD + 1, 8);
    expectDecodeError(() => readBatchHeader(long), "RecordBatch.batchLength");

    const codec = Buffer.from(buf);
    codec.writeInt16BE(5, ATTRIBUTES_OFFSET);
    expectDecodeError(() => readBatchHeader(codec), "RecordBatch.attributes");
  });

  it("accepts an empty batch of exactly 61 bytes", () => {
    const buf = encodeRecordBatch({ records: [] });
    assert.equal(buf.length, BATCH_HEADER_SIZE);
    assert.equal(readBatchHeader(buf).recordCount, 0);
    assert.equal(verifyBatchCrc(buf), true);
    assert.deepEqual(decodeRecordBatch(buf).records, []);
  });
});

describe("attributes", () => {
  it("builds and reads every flag", () => {
    for (const codec of [0, 1, 2, 3, 4]) {
      for (const ts of [TimestampType.CreateTime, TimestampType.LogAppendTime]) {
        for (const txn of [false, true]) {
          for (const control of [false, true]) {
            for (const horizon of [false, true]) {
              const a = makeAttributes(codec, ts, txn, control, horizon);
              assert.equal(compressionTypeOf(a), codec);
              assert.equal(timestampTypeOf(a), ts);
              assert.equal(isTransactional(a), txn);
              assert.equal(isControlBatch(a), control);
              assert.equal(hasDeleteHorizon(a), horizon);
            }
          }
        }
      }
    }
  });
});

describe("CRC32C coverage", () => {
  for (const codec of [CompressionType.None, CompressionType.Zstd]) {
    it(`detects a change to any byte from attributes to the end (${CompressionType[codec]})`, () => {
      const buf = sampleBatch(codec);
      for (let i = ATTRIBUTES_OFFSET; i < buf.length; i++) {
        for (const flip of [0x01, 0x80, 0xff]) {
          const bad = Buffer.from(buf);
          bad[i] ^= flip;
          // The header read may already fail (an unknown codec in attributes); otherwise the CRC must.
          let valid: boolean;
          try {
            valid = verifyBatchCrc(bad);
          } catch (e) {
            assert.ok(e instanceof DecodeError);
            valid = false;
          }
          assert.equal(valid, false, `byte ${i} ^ 0x${flip.toString(16)} went unnoticed`);
          expectDecodeError(() => decodeRecordBatch(bad), /^RecordBatch\.(crc|attributes)$/);
        }
      }
    });
  }

  it("reports a CRC mismatch with a distinct message", () => {
    const bad = sampleBatch();
    bad[bad.length - 1] ^= 1;
    const e = expectDecodeError(() => decodeRecordBatch(bad), "RecordBatch.crc");
    assert.match(e.message, /CRC32C mismatch: stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}/);
  });

  it("detects a corrupted batchLength, by range or by CRC", () => {
    const one = sampleBatch();
    // Followed by another batch, so a longer length still fits in the buffer.
    const buf = Buffer.concat([one, sampleBatch(CompressionType.Gzip)]);
    const length = one.length - LOG_OVERHEAD;
    for (const wrong of [-1, 0, 48, 49, length - 1, length + 1, length + 7, buf.length - LOG_OVERHEAD, 0x7fffffff]) {
      const bad = Buffer.from(buf);
      bad.writeInt32BE(wrong, 8);
      expectDecodeError(() => decodeRecordBatch(bad), /^RecordBatch\.(batchLength|crc)$/);
    }
    for (let bit = 0; bit < 32; bit++) {
      const bad = Buffer.from(buf);
      bad.writeInt32BE(length ^ (1 << bit), 8);
      expectDecodeError(() => decodeRecordBatch(bad), /^RecordBatch\.(batchLength|crc)$/);
    }
  });

  it("detects a corrupted magic", () => {
    const buf = sampleBatch();
    for (let m = -128; m < 128; m++) {
      if (m === 2) continue;
      const bad = Buffer.from(buf);
      bad.writeInt8(m, 16);
      expectDecodeError(() => decodeRecordBatch(bad), "RecordBatch.magic");
    }
  });

  it("does not cover baseOffset and partitionLeaderEpoch, by Kafka's design", () => {
    // The leader assigns both on append without recomputing the CRC, so flipping them keeps it valid:
    // their corruption on disk is not detectable from the batch alone.
    const buf = sampleBatch();
    for (let i = 0; i < 8; i++) {
      const bad = Buffer.from(buf);
      bad[i] ^= 0xff;
      assert.equal(verifyBatchCrc(bad), true);
    }
    for (let i = 12; i < 16; i++) {
      const bad = Buffer.from(buf);
      bad[i] ^= 0xff;
      assert.equal(verifyBatchCrc(bad), true);
    }
  });
});

describe("in-place patches", () => {
  it("setBaseOffset and setPartitionLeaderEpoch keep the CRC valid", () => {
    const buf = sampleBatch(CompressionType.Snappy);
    setBaseOffset(buf, 0, 1_000_000_000_000n);
    setPartitionLeaderEpoch(buf, 0, 99);
    assert.equal(verifyBatchCrc(buf), true);
    const { header, records } = decodeRecordBatch(buf);
    assert.equal(header.baseOffset, 1_000_000_000_000n);
    assert.equal(header.partitionLeaderEpoch, 99);
    assert.deepEqual(
      records.map((r) => r.offset),
      [1_000_000_000_000n, 1_000_000_000_001n, 1_000_000_000_002n],
    );
  });

  it("setMaxTimestampLogAppendTime sets the type bit and maxTimestamp and recomputes the CRC", () => {
    const one = sampleBatch(CompressionType.Lz4);
    const buf = Buffer.concat([Buffer.from([9, 9, 9]), one]);
    setMaxTimestampLogAppendTime(buf, 3, 1_800_000_000_000n);
    assert.equal(verifyBatchCrc(buf, 3), true);
    assert.equal(buf.readUInt32BE(3 + CRC_OFFSET), crc32c(buf.subarray(3 + ATTRIBUTES_OFFSET)));
    const { header, records } = decodeRecordBatch(buf, 3);
    assert.equal(timestampTypeOf(header.attributes), TimestampType.LogAppendTime);
    assert.equal(isTransactional(header.attributes), true, "other attribute bits are kept");
    assert.equal(compressionTypeOf(header.attributes), CompressionType.Lz4);
    assert.equal(header.maxTimestamp, 1_800_000_000_000n);
    // With LogAppendTime every record's timestamp is the batch's maxTimestamp.
    for (const r of records) assert.equal(r.timestamp, 1_800_000_000_000n);
    // Idempotent.
    const before = Buffer.from(buf);
    setMaxTimestampLogAppendTime(buf, 3, 1_800_000_000_000n);
    assert.deepEqual(buf, before);
  });
});
