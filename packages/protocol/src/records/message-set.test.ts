import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { crc32 } from "@node-rs/crc32";
import { DecodeError, EncodeError } from "../primitives/index.js";
import { CompressionType, TimestampType, timestampTypeOf } from "./batch-header.js";
import { compress, decompress } from "./compression.js";
import { xxhash32 } from "./lz4.js";
import { decodeLegacyBatch, encodeMessageSet, readLegacyMessage } from "./message-set.js";
import { iterateBatches, type RecordInput } from "./record-batch.js";
import { decodeRecordSet } from "./record-set.js";

const LEGACY_CODECS = [CompressionType.None, CompressionType.Gzip, CompressionType.Snappy, CompressionType.Lz4];

/** An independent writer of one legacy message, straight from Kafka's LegacyRecord layout. */
function legacyMessage(m: {
  magic: 0 | 1;
  offset: bigint;
  attributes?: number;
  timestamp?: bigint;
  key?: Buffer | null;
  value: Buffer | null;
}): Buffer {
  const key = m.key ?? null;
  const body = Buffer.concat([
    Buffer.from([m.magic, m.attributes ?? 0]),
    m.magic === 1 ? int64(m.timestamp ?? -1n) : Buffer.alloc(0),
    int32(key === null ? -1 : key.length),
    key ?? Buffer.alloc(0),
    int32(m.value === null ? -1 : m.value.length),
    m.value ?? Buffer.alloc(0),
  ]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([int64(m.offset), int32(body.length + 4), crc, body]);
}

function int32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v);
  return b;
}

function int64(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(v);
  return b;
}

function records(n: number): RecordInput[] {
  return Array.from({ length: n }, (_, i) => ({
    key: i % 3 === 0 ? null : Buffer.from(`key-${i}`),
    value: i % 4 === 3 ? null : Buffer.from(`value-${i}-`.repeat(i + 1)),
    timestamp: 1_600_000_000_000n + BigInt(i * 10),
  }));
}

function expectDecodeError(fn: () => unknown, field?: string | RegExp): DecodeError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof DecodeError, `expected DecodeError, got ${String(e)}`);
    if (typeof field === "string") assert.equal(e.field, field, e.message);
    else if (field !== undefined) assert.match(e.field, field, e.message);
    return e;
  }
  assert.fail("expected a DecodeError");
}

describe("legacy message sets", () => {
  for (const magic of [0, 1] as const) {
    for (const compression of LEGACY_CODECS) {
      it(`round-trips magic ${magic}, ${CompressionType[compression]}`, () => {
        const inputs = records(7);
        const buf = encodeMessageSet({ magic, records: inputs, compression, baseOffset: 500n });
        const batches = decodeRecordSet(buf);
        assert.equal(batches.length, compression === CompressionType.None ? 7 : 1);
        const decoded = batches.flatMap((b) => b.records);
        assert.deepEqual(
          decoded,
          inputs.map((r, i) => ({
            offset: 500n + BigInt(i),
            timestamp: magic === 0 ? -1n : r.timestamp,
            key: r.key,
            value: r.value,
            headers: [],
          })),
        );
        for (const b of batches) {
          assert.equal(b.header.magic, magic);
          assert.equal(b.header.producerId, -1n);
        }
        if (compression !== CompressionType.None) {
          const h = batches[0].header;
          assert.equal(h.baseOffset, 500n);
          assert.equal(h.lastOffsetDelta, 6);
          assert.equal(h.recordCount, 7);
          assert.equal(h.maxTimestamp, magic === 1 ? 1_600_000_000_060n : -1n);
        }
      });
    }
  }

  it("writes the exact bytes of Kafka's layout", () => {
    const key = Buffer.from("k");
    const value = Buffer.from("value");
    assert.deepEqual(
      encodeMessageSet({ magic: 1, records: [{ key, value, timestamp: 42n }], baseOffset: 3n }),
      legacyMessage({ magic: 1, offset: 3n, timestamp: 42n, key, value }),
    );
    assert.deepEqual(
      encodeMessageSet({ magic: 0, records: [{ key: null, value }], baseOffset: 3n }),
      legacyMessage({ magic: 0, offset: 3n, value }),
    );
  });

  it("magic 1 wrappers: relative inner offsets, the wrapper at the last absolute offset (gaps kept)", () => {
    const buf = encodeMessageSet({
      magic: 1,
      compression: CompressionType.Gzip,
      records: [10n, 12n, 15n].map((offset) => ({ value: Buffer.from(`at ${offset}`), offset, timestamp: 1n })),
    });
    const wrapper = readLegacyMessage(buf);
    assert.equal(wrapper.offset, 15n);
    assert.equal(wrapper.key, null);
    const inner = decompress(CompressionType.Gzip, wrapper.value!);
    assert.deepEqual(
      [...iterateBatches(inner)].map((b) => readLegacyMessage(inner, b.position).offset),
      [0n, 2n, 5n],
    );
    assert.deepEqual(
      decodeLegacyBatch(buf).records.map((r) => r.offset),
      [10n, 12n, 15n],
    );
  });

  it("magic 0 wrappers: absolute inner offsets", () => {
    const buf = encodeMessageSet({
      magic: 0,
      compression: CompressionType.Snappy,
      baseOffset: 1000n,
      records: records(3),
    });
    const wrapper = readLegacyMessage(buf);
    assert.equal(wrapper.offset, 1002n);
    const inner = decompress(CompressionType.Snappy, wrapper.value!);
    assert.deepEqual(
      [...iterateBatches(inner)].map((b) => readLegacyMessage(inner, b.position).offset),
      [1000n, 1001n, 1002n],
    );
  });

  it("decodes a wrapper as a 0.10 producer sends it (inner 0..n-1, wrapper n-1)", () => {
    const inner = Buffer.concat(
      [0n, 1n, 2n].map((offset) =>
        legacyMessage({ magic: 1, offset, timestamp: 100n + offset, value: Buffer.from("v") }),
      ),
    );
    const wrapper = legacyMessage({
      magic: 1,
      offset: 2n,
      attributes: CompressionType.Lz4,
      timestamp: 102n,
      value: compress(CompressionType.Lz4, inner),
    });
    const { header, records: decoded } = decodeLegacyBatch(wrapper);
    assert.deepEqual(
      decoded.map((r) => [r.offset, r.timestamp]),
      [
        [0n, 100n],
        [1n, 101n],
        [2n, 102n],
      ],
    );
    assert.equal(header.maxTimestamp, 102n);
  });

  it("a LogAppendTime wrapper gives its timestamp to every inner message", () => {
    const buf = encodeMessageSet({
      magic: 1,
      compression: CompressionType.Gzip,
      timestampType: TimestampType.LogAppendTime,
      logAppendTime: 9_999n,
      records: records(3),
    });
    const { header, records: decoded } = decodeLegacyBatch(buf);
    assert.equal(timestampTypeOf(header.attributes), TimestampType.LogAppendTime);
    assert.deepEqual(
      decoded.map((r) => r.timestamp),
      [9_999n, 9_999n, 9_999n],
    );
    // Even when the inner messages say otherwise (as a CreateTime producer wrote them).
    const inner = Buffer.concat([legacyMessage({ magic: 1, offset: 0n, timestamp: 5n, value: null })]);
    const hand = legacyMessage({
      magic: 1,
      offset: 0n,
      attributes: CompressionType.Gzip | 0x08,
      timestamp: 77n,
      value: compress(CompressionType.Gzip, inner),
    });
    assert.equal(decodeLegacyBatch(hand).records[0].timestamp, 77n);
  });

  it("KAFKA-3160: magic 0 lz4 wrappers carry the broken header checksum", () => {
    const buf = encodeMessageSet({ magic: 0, compression: CompressionType.Lz4, records: records(4) });
    const frame = readLegacyMessage(buf).value!;
    assert.equal(frame[6], (xxhash32(frame, 0, 6) >>> 8) & 0xff);
    assert.equal(decodeLegacyBatch(buf).records.length, 4);
    // The same frame in a magic 1 wrapper is rejected: only magic 0 gets the leniency.
    const inner = Buffer.concat([legacyMessage({ magic: 1, offset: 0n, value: Buffer.from("x") })]);
    const brokenFrame = compress(CompressionType.Lz4, inner, { magic: 0 });
    const wrapper = legacyMessage({ magic: 1, offset: 0n, attributes: CompressionType.Lz4, value: brokenFrame });
    expectDecodeError(() => decodeLegacyBatch(wrapper), "Message.value");
  });

  it("refuses zstd and headers before magic 2", () => {
    assert.throws(
      () => encodeMessageSet({ magic: 1, compression: CompressionType.Zstd, records: records(1) }),
      EncodeError,
    );
    assert.throws(
      () => encodeMessageSet({ magic: 1, records: [{ value: null, headers: [{ key: "h", value: null }] }] }),
      EncodeError,
    );
    const zstd = legacyMessage({ magic: 1, offset: 0n, attributes: CompressionType.Zstd, value: Buffer.from("x") });
    expectDecodeError(() => readLegacyMessage(zstd), "Message.attributes");
  });
});

describe("legacy corruption", () => {
  it("any change from the CRC to the end is detected", () => {
    for (const compression of [CompressionType.None, CompressionType.Gzip]) {
      const buf = encodeMessageSet({
        magic: 1,
        compression,
        records: records(compression === CompressionType.None ? 1 : 3),
      });
      for (let i = 12; i < buf.length; i++) {
        const bad = Buffer.from(buf);
        bad[i] ^= 0x10;
        expectDecodeError(() => decodeLegacyBatch(bad), /^Message\.(crc|magic|messageSize)$/);
      }
    }
  });

  it("every truncation is a DecodeError for the decoder and a clean stop for the iterator", () => {
    for (const magic of [0, 1] as const) {
      const buf = encodeMessageSet({ magic, compression: CompressionType.Snappy, records: records(3) });
      for (let cut = 0; cut < buf.length; cut++) {
        expectDecodeError(() => decodeLegacyBatch(buf.subarray(0, cut)), /^Message/);
        assert.deepEqual([...iterateBatches(buf.subarray(0, cut))], []);
        assert.deepEqual(decodeRecordSet(buf.subarray(0, cut)), []);
      }
    }
  });

  it("rejects lying lengths, wrong magic, trailing bytes", () => {
    const ok = legacyMessage({ magic: 1, offset: 0n, key: Buffer.from("key"), value: Buffer.from("value") });
    const fix = (b: Buffer) => {
      b.writeUInt32BE(crc32(b.subarray(16)), 12);
      return b;
    };
    const keyLie = Buffer.from(ok);
    keyLie.writeInt32BE(1000, 26);
    expectDecodeError(() => readLegacyMessage(fix(keyLie)), "Message.key");
    const keyNegative = Buffer.from(ok);
    keyNegative.writeInt32BE(-7, 26);
    expectDecodeError(() => readLegacyMessage(fix(keyNegative)), "Message.key");
    const valueLie = Buffer.from(ok);
    valueLie.writeInt32BE(6, 33);
    expectDecodeError(() => readLegacyMessage(fix(valueLie)), "Message.value");
    const trailing = Buffer.concat([ok, Buffer.from([1, 2])]);
    trailing.writeInt32BE(ok.length - 12 + 2, 8);
    expectDecodeError(() => readLegacyMessage(fix(trailing)), "Message.messageSize");
    const tooSmall = Buffer.from(ok);
    tooSmall.writeInt32BE(21, 8);
    expectDecodeError(() => readLegacyMessage(tooSmall), "Message.messageSize");
    const magic2 = Buffer.from(ok);
    magic2[16] = 2;
    expectDecodeError(() => readLegacyMessage(magic2), "Message.magic");
    const crcBad = Buffer.from(ok);
    crcBad[12] ^= 1;
    const e = expectDecodeError(() => readLegacyMessage(crcBad), "Message.crc");
    assert.match(e.message, /CRC32 mismatch/);
    assert.equal(readLegacyMessage(crcBad, 0, { verifyCrc: false }).value?.toString(), "value");
  });

  it("rejects malformed wrappers as Kafka's deep iterator does", () => {
    const inner1 = legacyMessage({ magic: 1, offset: 0n, value: Buffer.from("x") });
    const wrap = (value: Buffer | null, magic: 0 | 1 = 1) =>
      legacyMessage({ magic, offset: 0n, attributes: CompressionType.Gzip, value });
    expectDecodeError(() => decodeLegacyBatch(wrap(null)), "Message.value");
    expectDecodeError(() => decodeLegacyBatch(wrap(compress(CompressionType.Gzip, Buffer.alloc(0)))), "Message.value");
    // Nested compression.
    const nested = wrap(compress(CompressionType.Gzip, wrap(compress(CompressionType.Gzip, inner1))));
    expectDecodeError(() => decodeLegacyBatch(nested), "Message.value(inner).Message.attributes");
    // Inner magic differs from the wrapper's.
    expectDecodeError(
      () => decodeLegacyBatch(wrap(compress(CompressionType.Gzip, inner1), 0)),
      "Message.value(inner).Message.magic",
    );
    // A truncated inner message.
    const torn = wrap(compress(CompressionType.Gzip, Buffer.concat([inner1, inner1.subarray(0, 20)])));
    const e = expectDecodeError(() => decodeLegacyBatch(torn), /^Message\.value\(inner\)/);
    assert.match(e.message, /decompressed message set/);
    // Garbage that is not gzip.
    expectDecodeError(() => decodeLegacyBatch(wrap(Buffer.from("not gzip at all"))), "Message.value");
  });
});
