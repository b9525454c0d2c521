import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { crc32c } from "@node-rs/crc32";
import fc from "fast-check";
import { DecodeError, EncodeError } from "../primitives/index.js";
import {
  ATTRIBUTES_OFFSET,
  CompressionType,
  CRC_OFFSET,
  compressionTypeOf,
  isControlBatch,
  isTransactional,
  LOG_OVERHEAD,
  RECORDS_OFFSET,
  readBatchHeader,
  TimestampType,
  timestampTypeOf,
} from "./batch-header.js";
import { compress } from "./compression.js";
import {
  decodeRecordBatch,
  decodeRecordBatchAsync,
  decodeRecordBatchInto,
  encodeRecordBatch,
  encodeRecordBatchAsync,
  iterateBatches,
  type Record,
  type RecordInput,
} from "./record-batch.js";

const SEED = Number(process.env.SAMSA_TEST_SEED ?? Date.now() % 1_000_000);
const CODECS = [
  CompressionType.None,
  CompressionType.Gzip,
  CompressionType.Snappy,
  CompressionType.Lz4,
  CompressionType.Zstd,
];

const T0 = 1_700_000_000_000n;

function sampleRecords(): RecordInput[] {
  return [
    { key: Buffer.from("key-0"), value: Buffer.from("value-0"), timestamp: T0 },
    { key: null, value: null, timestamp: T0 - 5n }, // a tombstone, timestamp before the base
    {
      key: Buffer.from("k"),
      value: Buffer.alloc(10_000, 0x61), // large enough for the Writer to splice it
      headers: [
        { key: "trace-id", value: Buffer.from("abc") },
        { key: "ünïcødé 🎉", value: null },
        { key: "", value: Buffer.alloc(0) },
      ],
      timestamp: T0 + 1_000_000n,
    },
    { value: Buffer.from("no key, default timestamp") },
  ];
}

/** What decoding `inputs` written at `baseOffset` must give back. */
function expected(inputs: RecordInput[], baseOffset: bigint, baseTimestamp: bigint): Record[] {
  return inputs.map((r, i) => ({
    offset: r.offset ?? baseOffset + BigInt(i),
    timestamp: r.timestamp ?? baseTimestamp,
    key: r.key ?? null,
    value: r.value,
    headers: (r.headers ?? []).map((h) => ({ key: h.key, value: h.value })),
  }));
}

function expectDecodeError(fn: () => unknown, field: string | RegExp, problem?: RegExp): DecodeError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof DecodeError, `expected DecodeError, got ${String(e)}`);
    if (typeof field === "string") assert.equal(e.field, field, e.message);
    else assert.match(e.field, field, e.message);
    if (problem !== undefined) assert.match(e.message, problem);
    return e;
  }
  assert.fail("expected a DecodeError");
}

/** Recomputes the CRC after a deliberate edit, so the record parser (not the CRC) sees the lie. */
function fixCrc(buf: Buffer, offset = 0): Buffer {
  const end = offset + LOG_OVERHEAD + buf.readInt32BE(offset + 8);
  buf.writeUInt32BE(crc32c(buf.subarray(offset + ATTRIBUTES_OFFSET, end)), offset + CRC_OFFSET);
  return buf;
}

/** An uncompressed batch whose records section is `body` (any bytes), with a valid CRC. */
function batchWithBody(body: Buffer, recordCount: number): Buffer {
  const buf = Buffer.concat([encodeRecordBatch({ records: [] }), body]);
  buf.writeInt32BE(buf.length - LOG_OVERHEAD, 8);
  buf.writeInt32BE(recordCount, 57);
  return fixCrc(buf);
}

function varint(v: number): number[] {
  let u = ((v << 1) ^ (v >> 31)) >>> 0;
  const out: number[] = [];
  while (u >= 0x80) {
    out.push((u & 0x7f) | 0x80);
    u >>>= 7;
  }
  out.push(u);
  return out;
}

describe("encodeRecordBatch / decodeRecordBatch", () => {
  for (const compression of CODECS) {
    it(`round-trips every field (${CompressionType[compression]})`, async () => {
      const inputs = sampleRecords();
      const opts = {
        records: inputs,
        baseOffset: 1_000n,
        compression,
        producerId: 123_456_789_012n,
        producerEpoch: 7,
        baseSequence: 100,
        isTransactional: true,
        partitionLeaderEpoch: 12,
      };
      const buf = encodeRecordBatch(opts);
      const { header, records } = decodeRecordBatch(buf);
      assert.equal(header.baseOffset, 1_000n);
      assert.equal(header.batchLength, buf.length - LOG_OVERHEAD);
      assert.equal(header.partitionLeaderEpoch, 12);
      assert.equal(header.producerId, 123_456_789_012n);
      assert.equal(header.producerEpoch, 7);
      assert.equal(header.baseSequence, 100);
      assert.equal(header.recordCount, 4);
      assert.equal(header.lastOffsetDelta, 3);
      assert.equal(header.baseTimestamp, T0);
      assert.equal(header.maxTimestamp, T0 + 1_000_000n);
      assert.equal(compressionTypeOf(header.attributes), compression);
      assert.equal(isTransactional(header.attributes), true);
      assert.equal(isControlBatch(header.attributes), false);
      assert.deepEqual(records, expected(inputs, 1_000n, T0));

      const asyncBuf = await encodeRecordBatchAsync(opts);
      assert.deepEqual(asyncBuf, buf, "async encoding writes the same bytes");
      assert.deepEqual(await decodeRecordBatchAsync(buf), { header, records });
    });
  }

  it("keeps explicit offsets with gaps (a compacted batch) and a lastOffsetDelta past the last record", () => {
    const buf = encodeRecordBatch({
      baseOffset: 50n,
      records: [
        { value: Buffer.from("a"), offset: 50n },
        { value: Buffer.from("b"), offset: 53n },
        { value: Buffer.from("c"), offset: 60n },
      ],
      lastOffsetDelta: 12,
    });
    const { header, records } = decodeRecordBatch(buf);
    assert.deepEqual(
      records.map((r) => r.offset),
      [50n, 53n, 60n],
    );
    assert.equal(header.lastOffsetDelta, 12);
    assert.equal(header.recordCount, 3);
  });

  it("writes control batches and LogAppendTime, and applies LogAppendTime on read", () => {
    const buf = encodeRecordBatch({
      records: [
        { value: Buffer.from("x"), timestamp: 5n },
        { value: Buffer.from("y"), timestamp: 9n },
      ],
      isControl: true,
      isTransactional: true,
      timestampType: TimestampType.LogAppendTime,
    });
    const { header, records } = decodeRecordBatch(buf);
    assert.equal(isControlBatch(header.attributes), true);
    assert.equal(timestampTypeOf(header.attributes), TimestampType.LogAppendTime);
    assert.deepEqual(
      records.map((r) => r.timestamp),
      [9n, 9n],
    );
  });

  it("uses NO_TIMESTAMP when no timestamp is given anywhere, and baseTimestamp when given", () => {
    const none = decodeRecordBatch(encodeRecordBatch({ records: [{ value: null }] }));
    assert.equal(none.header.baseTimestamp, -1n);
    assert.equal(none.records[0].timestamp, -1n);
    const based = decodeRecordBatch(encodeRecordBatch({ records: [{ value: null }], baseTimestamp: 77n }));
    assert.equal(based.records[0].timestamp, 77n);
  });

  it("handles timestamps and offsets at the edges of int64", () => {
    const min = -(2n ** 63n);
    const max = 2n ** 63n - 1n;
    const buf = encodeRecordBatch({
      baseOffset: max - 10n,
      baseTimestamp: 0n,
      records: [
        { value: null, timestamp: max },
        { value: null, timestamp: min / 2n },
      ],
    });
    const { records } = decodeRecordBatch(buf);
    assert.deepEqual(
      records.map((r) => [r.offset, r.timestamp]),
      [
        [max - 10n, max],
        [max - 9n, min / 2n],
      ],
    );
  });

  it("rejects what does not fit its field with EncodeError", () => {
    const bad: Parameters<typeof encodeRecordBatch>[0][] = [
      { records: [], producerEpoch: 40_000 },
      { records: [], baseSequence: 2 ** 31 },
      { records: [], baseOffset: 2n ** 63n },
      { records: [], compression: 9 as CompressionType },
      { records: [{ value: null, timestamp: 2n ** 63n }] },
      { records: [{ value: null, timestamp: 2n ** 62n }], baseTimestamp: -(2n ** 62n) - 1n },
      {
        records: [
          { value: null, offset: 5n },
          { value: null, offset: 5n },
        ],
      },
      { records: [{ value: null, offset: 2n ** 31n }] },
      { records: [{ value: null, offset: 3n }, { value: null }] },
      { records: [{ value: null }], lastOffsetDelta: -1 },
    ];
    for (const opts of bad)
      assert.throws(
        () => encodeRecordBatch(opts),
        EncodeError,
        JSON.stringify(opts, (_, v) => (typeof v === "bigint" ? `${v}n` : v)),
      );
  });
});

describe("seeded randomized round trips", () => {
  const bytes = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));
  const recordArb = fc.record(
    {
      key: fc.option(bytes, { nil: null }),
      value: fc.option(bytes, { nil: null }),
      headers: fc.array(
        fc.record({ key: fc.string({ unit: "grapheme", maxLength: 20 }), value: fc.option(bytes, { nil: null }) }),
        {
          maxLength: 4,
        },
      ),
      timestamp: fc.bigInt({ min: -(2n ** 40n), max: 2n ** 45n }),
    },
    { requiredKeys: ["value"] },
  );

  it(`any records, any codec, any producer fields (seed ${SEED})`, () => {
    console.log(`record-batch property seed: ${SEED} (set SAMSA_TEST_SEED to replay)`);
    fc.assert(
      fc.property(
        fc.array(recordArb, { maxLength: 40 }),
        fc.constantFrom(...CODECS),
        fc.bigInt({ min: 0n, max: 2n ** 62n }),
        fc.bigInt({ min: -1n, max: 2n ** 62n }),
        fc.integer({ min: -1, max: 32767 }),
        fc.integer({ min: -1, max: 2 ** 31 - 1 }),
        fc.boolean(),
        (inputs, compression, baseOffset, producerId, producerEpoch, baseSequence, isTransactional) => {
          const buf = encodeRecordBatch({
            records: inputs,
            compression,
            baseOffset,
            producerId,
            producerEpoch,
            baseSequence,
            isTransactional,
          });
          const { header, records } = decodeRecordBatch(buf);
          const baseTimestamp = inputs[0]?.timestamp ?? -1n;
          assert.deepEqual(records, expected(inputs, baseOffset, baseTimestamp));
          assert.equal(header.producerId, producerId);
          assert.equal(header.producerEpoch, producerEpoch);
          assert.equal(header.baseSequence, baseSequence);
          assert.equal(header.recordCount, inputs.length);
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
  });
});

describe("truncation", () => {
  for (const compression of [CompressionType.None, CompressionType.Gzip, CompressionType.Lz4]) {
    it(`every prefix of a batch is a DecodeError for the decoder and a clean stop for the iterator (${CompressionType[compression]})`, () => {
      const first = encodeRecordBatch({ records: sampleRecords().slice(0, 2), compression, baseOffset: 0n });
      const second = encodeRecordBatch({ records: sampleRecords(), compression, baseOffset: 2n });
      const both = Buffer.concat([first, second]);
      for (let cut = 0; cut < first.length; cut++) {
        const torn = both.subarray(0, cut);
        expectDecodeError(() => decodeRecordBatch(torn), /^RecordBatch/);
        assert.deepEqual([...iterateBatches(torn)], [], `cut at ${cut}`);
      }
      for (let cut = first.length; cut < both.length; cut++) {
        const torn = both.subarray(0, cut);
        const found = [...iterateBatches(torn)];
        assert.deepEqual(found, [{ position: 0, sizeInBytes: first.length, magic: 2 }], `cut at ${cut}`);
        expectDecodeError(() => decodeRecordBatch(torn, first.length), /^RecordBatch/);
      }
      assert.equal([...iterateBatches(both)].length, 2);
    });
  }
});

describe("lying fields", () => {
  it("negative and impossible record counts", () => {
    const buf = encodeRecordBatch({ records: sampleRecords().slice(0, 2) });
    const negative = Buffer.from(buf);
    negative.writeInt32BE(-1, 57);
    expectDecodeError(() => decodeRecordBatch(fixCrc(negative)), "RecordBatch.recordCount", /negative/);
    const huge = Buffer.from(buf);
    huge.writeInt32BE(0x7fffffff, 57);
    expectDecodeError(() => decodeRecordBatch(fixCrc(huge)), "RecordBatch.recordCount", /cannot fit/);
    const oneMore = Buffer.from(buf);
    oneMore.writeInt32BE(3, 57);
    expectDecodeError(() => decodeRecordBatch(fixCrc(oneMore)), /^RecordBatch\.records\[2\]/);
    const oneLess = Buffer.from(buf);
    oneLess.writeInt32BE(1, 57);
    expectDecodeError(
      () => decodeRecordBatch(fixCrc(oneLess)),
      "RecordBatch.records[1].length",
      /bytes left after the 1 records/,
    );
    // The same lie inside a compressed batch is caught after decompression.
    const zipped = encodeRecordBatch({ records: sampleRecords().slice(0, 2), compression: CompressionType.Zstd });
    zipped.writeInt32BE(1000, 57);
    expectDecodeError(() => decodeRecordBatch(fixCrc(zipped)), "RecordBatch.recordCount", /cannot fit/);
  });

  it("record length, key/value lengths and header counts that lie", () => {
    // length 6: attributes, tsDelta, offsetDelta, keyLen -1, valueLen, headers ... but valueLen says 100.
    const lyingValue = batchWithBody(Buffer.from([...varint(6), 0, 0, 0, ...varint(-1), ...varint(100), 0, 0]), 1);
    expectDecodeError(() => decodeRecordBatch(lyingValue), "RecordBatch.records[0].value");
    const lyingLength = batchWithBody(
      Buffer.from([...varint(9), 0, 0, 0, ...varint(-1), ...varint(-1), 0, 0, 0, 0]),
      1,
    );
    expectDecodeError(() => decodeRecordBatch(lyingLength), "RecordBatch.records[0].length", /used 6/);
    const negativeLength = batchWithBody(Buffer.from([...varint(-3), 0, 0, 0, 0, 0, 0, 0]), 1);
    expectDecodeError(() => decodeRecordBatch(negativeLength), "RecordBatch.records[0].length");
    const negativeHeaders = batchWithBody(
      Buffer.from([...varint(6), 0, 0, 0, ...varint(-1), ...varint(-1), ...varint(-2)]),
      1,
    );
    expectDecodeError(() => decodeRecordBatch(negativeHeaders), "RecordBatch.records[0].headerCount", /negative/);
    const manyHeaders = batchWithBody(
      Buffer.from([...varint(7), 0, 0, 0, ...varint(-1), ...varint(-1), ...varint(1000), 0]),
      1,
    );
    expectDecodeError(() => decodeRecordBatch(manyHeaders), "RecordBatch.records[0].headerCount", /cannot fit/);
    const nullHeaderKey = batchWithBody(
      Buffer.from([...varint(8), 0, 0, 0, ...varint(-1), ...varint(-1), ...varint(1), ...varint(-1), ...varint(-1)]),
      1,
    );
    expectDecodeError(
      () => decodeRecordBatch(nullHeaderKey),
      "RecordBatch.records[0].headers.keyLength",
      /null header key/,
    );
    const endlessVarint = batchWithBody(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), 1);
    expectDecodeError(() => decodeRecordBatch(endlessVarint), "RecordBatch.records[0].length");
  });

  it("a corrupt compressed payload is a DecodeError naming the records", () => {
    const buf = encodeRecordBatch({ records: sampleRecords(), compression: CompressionType.Snappy });
    buf.fill(0x41, RECORDS_OFFSET + 20, RECORDS_OFFSET + 40);
    const e = expectDecodeError(() => decodeRecordBatch(fixCrc(buf)), "RecordBatch.records");
    assert.ok(e.offset >= RECORDS_OFFSET);
  });

  it("records of a compressed batch that lie are reported within the decompressed records", () => {
    const body = Buffer.from([...varint(6), 0, 0, 0, ...varint(-1), ...varint(100), 0, 0]);
    const plain = batchWithBody(body, 1);
    const zipped = Buffer.concat([plain.subarray(0, RECORDS_OFFSET), compress(CompressionType.Gzip, body)]);
    zipped.writeInt32BE(zipped.length - LOG_OVERHEAD, 8);
    zipped.writeInt16BE(CompressionType.Gzip, ATTRIBUTES_OFFSET);
    const e = expectDecodeError(() => decodeRecordBatch(fixCrc(zipped)), "RecordBatch.records[0].value");
    assert.match(e.message, /decompressed records/);
  });

  it("verifyCrc: false skips only the CRC", () => {
    const buf = encodeRecordBatch({ records: sampleRecords() });
    buf[buf.length - 3] ^= 1; // inside the last record's value
    expectDecodeError(() => decodeRecordBatch(buf), "RecordBatch.crc");
    assert.equal(decodeRecordBatch(buf, 0, { verifyCrc: false }).records.length, 4);
  });

  it("maxDecompressedBytes is applied to a batch's records", () => {
    const buf = encodeRecordBatch({ records: [{ value: Buffer.alloc(100_000) }], compression: CompressionType.Zstd });
    expectDecodeError(
      () => decodeRecordBatch(buf, 0, { maxDecompressedBytes: 50_000 }),
      "RecordBatch.records",
      /limit/,
    );
    assert.equal(decodeRecordBatch(buf, 0, { maxDecompressedBytes: 200_000 }).records.length, 1);
  });
});

describe("iterateBatches", () => {
  it("walks batches of mixed magic and rejects impossible sizes and unknown magic", () => {
    const v2 = encodeRecordBatch({ records: sampleRecords() });
    // A minimal magic-1 message: offset, size 22+2, crc, magic 1, attributes, timestamp, key -1, value "hi".
    const legacy = Buffer.alloc(12 + 24);
    legacy.writeInt32BE(24, 8);
    legacy.writeInt8(1, 16);
    legacy.writeInt32BE(-1, 26);
    legacy.writeInt32BE(2, 30);
    legacy.write("hi", 34);
    const buf = Buffer.concat([v2, legacy, v2]);
    assert.deepEqual(
      [...iterateBatches(buf)].map((b) => [b.position, b.magic]),
      [
        [0, 2],
        [v2.length, 1],
        [v2.length + legacy.length, 2],
      ],
    );
    assert.equal(readBatchHeader(buf, v2.length + legacy.length).recordCount, 4);
    const tiny = Buffer.from(v2);
    tiny.writeInt32BE(13, 8);
    assert.throws(() => [...iterateBatches(tiny)], DecodeError);
    const v2TooShort = Buffer.from(v2);
    v2TooShort.writeInt32BE(30, 8);
    assert.throws(() => [...iterateBatches(v2TooShort)], /minimum 49 for magic 2/);
    const magic = Buffer.from(v2);
    magic[16] = 3;
    assert.throws(() => [...iterateBatches(magic)], /unknown magic 3/);
    // A batch whose size says more than is there is a partial trailing batch, not an error.
    const partial = Buffer.from(v2);
    partial.writeInt32BE(0x7fffffff, 8);
    assert.deepEqual([...iterateBatches(partial)], []);
  });
});

describe("decodeRecordBatchInto", () => {
  const make = (offset: bigint, timestampMs: number, key: Buffer | null, value: Buffer | null, headers: unknown[]) => ({
    offset,
    timestampMs,
    key: key?.toString() ?? null,
    value: value?.toString() ?? null,
    headers: headers.length,
  });
  const expected = (records: Record[], from: bigint) =>
    records.filter((r) => r.offset >= from).map((r) => make(r.offset, Number(r.timestamp), r.key, r.value, r.headers));

  for (const codec of [CompressionType.None, CompressionType.Gzip]) {
    it(`gives what decodeRecordBatch gives, from minOffset on (${CompressionType[codec]})`, () => {
      const buf = encodeRecordBatch({
        baseOffset: 1_000n,
        compression: codec,
        records: [
          { key: Buffer.from("a"), value: Buffer.from("1"), timestamp: 1_700_000_000_000n },
          { value: null, timestamp: 1_700_000_000_000n - 5n, headers: [{ key: "h", value: null }] },
          { value: Buffer.from("3"), timestamp: 1_700_000_000_000n + 2n ** 40n, offset: 1_005n },
        ],
      });
      const all = decodeRecordBatch(buf).records;
      for (const from of [0n, 1_000n, 1_001n, 1_005n, 1_006n]) {
        const out: ReturnType<typeof make>[] = [];
        decodeRecordBatchInto(buf, 0, from, out, make);
        assert.deepEqual(out, expected(all, from), `from ${from}`);
      }
    });
  }

  it("LogAppendTime batches give the batch's max timestamp; offsets beyond 2^53 stay exact", () => {
    const base = 2n ** 60n;
    const buf = encodeRecordBatch({
      baseOffset: base,
      timestampType: TimestampType.LogAppendTime,
      records: [
        { value: Buffer.from("x"), timestamp: 5n },
        { value: Buffer.from("y"), timestamp: 9n },
      ],
    });
    const out: ReturnType<typeof make>[] = [];
    const header = decodeRecordBatchInto(buf, 0, 0n, out, make);
    assert.deepEqual(
      out.map((r) => [r.offset, r.timestampMs]),
      [
        [base, Number(header.maxTimestamp)],
        [base + 1n, Number(header.maxTimestamp)],
      ],
    );
  });

  it("a corrupt batch throws DecodeError, as decodeRecordBatch does", () => {
    const buf = Buffer.from(encodeRecordBatch({ records: [{ value: Buffer.from("x") }] }));
    buf[buf.length - 1] ^= 0xff;
    assert.throws(() => decodeRecordBatchInto(buf, 0, 0n, [], make), DecodeError);
  });

  /** Both decoders on `buf`: the same records, or the same DecodeError (field, position, message). */
  function assertSameOutcome(buf: Buffer, what: string): void {
    let expectedOutcome: unknown;
    try {
      const { header, records } = decodeRecordBatch(buf);
      // A (corrupt) negative offset delta puts a record before the batch: the consumer's decoder skips it.
      expectedOutcome = records
        .filter((r) => r.offset >= header.baseOffset)
        .map((r) => ({
          offset: r.offset,
          timestampMs: Number(r.timestamp),
          key: r.key,
          value: r.value,
          headers: r.headers,
        }));
    } catch (e) {
      assert.ok(e instanceof DecodeError, `${what}: ${String(e)}`);
      expectedOutcome = { field: e.field, message: e.message };
    }
    let outcome: unknown;
    try {
      const out: unknown[] = [];
      decodeRecordBatchInto(buf, 0, 0n, out, (offset, timestampMs, key, value, headers) => ({
        offset,
        timestampMs,
        key,
        value,
        headers: [...headers],
      }));
      outcome = out;
    } catch (e) {
      assert.ok(e instanceof DecodeError, `${what}: ${String(e)}`);
      outcome = { field: e.field, message: e.message };
    }
    assert.deepEqual(outcome, expectedOutcome, what);
  }

  it(`any records: the same records as decodeRecordBatch (seed ${SEED})`, () => {
    const bytes = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));
    const recordArb = fc.record(
      {
        key: fc.option(bytes, { nil: null }),
        value: fc.option(bytes, { nil: null }),
        headers: fc.array(fc.record({ key: fc.string({ maxLength: 20 }), value: fc.option(bytes, { nil: null }) }), {
          maxLength: 3,
        }),
        timestamp: fc.bigInt({ min: -(2n ** 40n), max: 2n ** 45n }),
      },
      { requiredKeys: ["value"] },
    );
    fc.assert(
      fc.property(
        fc.array(recordArb, { maxLength: 40 }),
        fc.constantFrom(CompressionType.None, CompressionType.Lz4),
        fc.bigInt({ min: 0n, max: 2n ** 62n }),
        (records, compression, baseOffset) => {
          assertSameOutcome(encodeRecordBatch({ records, compression, baseOffset }), "round trip");
        },
      ),
      { seed: SEED, numRuns: 200 },
    );
  });

  it(`records whose fields lie: the same DecodeError as decodeRecordBatch (seed ${SEED})`, () => {
    const bodies = [
      [...varint(6), 0, 0, 0, ...varint(-1), ...varint(100), 0, 0],
      [...varint(9), 0, 0, 0, ...varint(-1), ...varint(-1), 0, 0, 0, 0],
      [...varint(-3), 0, 0, 0, 0, 0, 0, 0],
      [...varint(6), 0, 0, 0, ...varint(-1), ...varint(-1), ...varint(-2)],
      [...varint(7), 0, 0, 0, ...varint(-1), ...varint(-1), ...varint(1000), 0],
      [...varint(8), 0, 0, 0, ...varint(-1), ...varint(-1), ...varint(1), ...varint(-1), ...varint(-1)],
      [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
      [...varint(2), 0, 0, 0, 0, 0, 0, 0],
      [...varint(6), 0, 0, 0, ...varint(5), ...varint(-1), 0, 0],
    ];
    for (const [i, body] of bodies.entries()) assertSameOutcome(batchWithBody(Buffer.from(body), 1), `body ${i}`);
    // Every byte of a valid batch's records, changed to values that matter to a varint parser.
    const valid = encodeRecordBatch({
      baseOffset: 7n,
      records: [
        { value: Buffer.alloc(200, 0x62), timestamp: T0 },
        {
          key: Buffer.from("k"),
          value: Buffer.from("v"),
          timestamp: T0 + 100_000n,
          headers: [{ key: "h", value: null }],
        },
        { value: null, timestamp: T0 - 1n },
      ],
    });
    const random = fc.sample(fc.integer({ min: 0, max: 255 }), { seed: SEED, numRuns: 4 });
    for (let at = RECORDS_OFFSET; at < valid.length; at++) {
      for (const v of [0x00, 0x01, 0x7f, 0x80, 0xff, ...random]) {
        const buf = Buffer.from(valid);
        buf[at] = v;
        assertSameOutcome(fixCrc(buf), `byte ${at} = ${v}`);
      }
    }
  });
});
