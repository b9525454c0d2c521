import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { crc32, crc32c } from "@node-rs/crc32";
import fc from "fast-check";
import { DecodeError, EncodeError } from "../primitives/index.js";
import { CompressionType, compressionTypeOf, readBatchHeader, TimestampType, timestampTypeOf } from "./batch-header.js";
import { encodeEndTxnMarkerBatch } from "./control-record.js";
import { encodeMessageSet, readLegacyMessage } from "./message-set.js";
import { decodeRecordBatch, encodeRecordBatch, iterateBatches, type RecordInput } from "./record-batch.js";
import { decodeRecordSet, downConvertRecordSet, upConvertToRecordBatch } from "./record-set.js";

const SEED = Number(process.env.SAMSA_TEST_SEED ?? Date.now() % 1_000_000);

function records(n: number, from = 0): RecordInput[] {
  return Array.from({ length: n }, (_, i) => ({
    key: Buffer.from(`key-${from + i}`),
    value: (from + i) % 5 === 4 ? null : Buffer.from(`value-${from + i}`),
    timestamp: 1_650_000_000_000n + BigInt(from + i),
  }));
}

const strip = (rs: RecordInput[]) => rs.map((r) => ({ key: r.key ?? null, value: r.value }));

describe("decodeRecordSet", () => {
  it("decodes v2 batches and legacy messages side by side, and leaves a partial tail out", () => {
    const v2 = encodeRecordBatch({ records: records(3), baseOffset: 10n, compression: CompressionType.Zstd });
    const v1 = encodeMessageSet({
      magic: 1,
      records: records(2, 3),
      baseOffset: 13n,
      compression: CompressionType.Gzip,
    });
    const v0 = encodeMessageSet({ magic: 0, records: records(1, 5), baseOffset: 15n });
    const tail = encodeRecordBatch({ records: records(4, 6), baseOffset: 16n }).subarray(0, 70);
    const batches = decodeRecordSet(Buffer.concat([v2, v1, v0, tail]));
    assert.deepEqual(
      batches.map((b) => b.header.magic),
      [2, 1, 0],
    );
    assert.deepEqual(
      batches.flatMap((b) => b.records.map((r) => r.offset)),
      [10n, 11n, 12n, 13n, 14n, 15n],
    );
    assert.deepEqual(
      batches.flatMap((b) => b.records.map((r) => r.key?.toString())),
      ["key-0", "key-1", "key-2", "key-3", "key-4", "key-5"],
    );
  });

  it("honours offset and end", () => {
    const a = encodeRecordBatch({ records: records(1) });
    const b = encodeRecordBatch({ records: records(2), baseOffset: 1n });
    const buf = Buffer.concat([Buffer.from([7, 7]), a, b]);
    assert.equal(decodeRecordSet(buf, 2, 2 + a.length).length, 1);
    assert.equal(decodeRecordSet(buf, 2 + a.length)[0].records.length, 2);
  });
});

describe("up-conversion (Produce v0-2 into the log)", () => {
  for (const magic of [0, 1] as const) {
    for (const compression of [CompressionType.None, CompressionType.Snappy, CompressionType.Lz4]) {
      it(`magic ${magic} ${CompressionType[compression]} → one v2 batch with consecutive offsets`, () => {
        const inputs = records(6);
        // Producers write whatever offsets; the conversion assigns its own.
        const legacy = encodeMessageSet({ magic, records: inputs, compression, baseOffset: 0n });
        const converted = upConvertToRecordBatch(legacy, { baseOffset: 100n });
        assert.equal([...iterateBatches(converted)].length, 1);
        const { header, records: out } = decodeRecordBatch(converted);
        assert.equal(compressionTypeOf(header.attributes), compression, "keeps the producer's codec by default");
        assert.deepEqual(
          out.map((r) => r.offset),
          [100n, 101n, 102n, 103n, 104n, 105n],
        );
        assert.deepEqual(
          out.map((r) => ({ key: r.key, value: r.value })),
          strip(inputs),
        );
        assert.deepEqual(
          out.map((r) => r.timestamp),
          inputs.map((r) => (magic === 0 ? -1n : r.timestamp)),
        );
      });
    }
  }

  it("merges several legacy messages and wrappers, can change codec, keeps LogAppendTime", () => {
    const legacy = Buffer.concat([
      encodeMessageSet({ magic: 1, records: records(2), baseOffset: 0n }),
      encodeMessageSet({
        magic: 1,
        records: records(3, 2),
        compression: CompressionType.Gzip,
        timestampType: TimestampType.LogAppendTime,
        logAppendTime: 5n,
      }),
    ]);
    const converted = upConvertToRecordBatch(legacy, { compression: CompressionType.Zstd });
    const { header, records: out } = decodeRecordBatch(converted);
    assert.equal(compressionTypeOf(header.attributes), CompressionType.Zstd);
    assert.equal(timestampTypeOf(header.attributes), TimestampType.LogAppendTime);
    assert.equal(out.length, 5);
  });

  it("refuses v2 input and returns nothing for no complete message", () => {
    assert.throws(() => upConvertToRecordBatch(encodeRecordBatch({ records: records(1) })), EncodeError);
    assert.equal(upConvertToRecordBatch(Buffer.alloc(0)).length, 0);
  });
});

describe("down-conversion (the log to Fetch v0-3)", () => {
  it("v2 → magic 1: offsets, codec (one wrapper per compressed batch), timestamps kept; headers dropped", () => {
    const withHeaders = records(3).map((r) => ({ ...r, headers: [{ key: "h", value: Buffer.from("x") }] }));
    const log = Buffer.concat([
      encodeRecordBatch({ records: withHeaders, baseOffset: 0n }),
      encodeRecordBatch({ records: records(4, 3), baseOffset: 3n, compression: CompressionType.Lz4 }),
    ]);
    const legacy = downConvertRecordSet(log, 1);
    const entries = [...iterateBatches(legacy)];
    assert.deepEqual(
      entries.map((e) => e.magic),
      [1, 1, 1, 1],
      "three plain messages and one wrapper",
    );
    assert.equal(compressionTypeOf(readLegacyMessage(legacy, entries[3].position).attributes), CompressionType.Lz4);
    const out = decodeRecordSet(legacy).flatMap((b) => b.records);
    assert.deepEqual(
      out.map((r) => [r.offset, r.timestamp, r.key?.toString() ?? null, r.value?.toString() ?? null, r.headers.length]),
      records(7).map((r, i) => [BigInt(i), r.timestamp, r.key?.toString() ?? null, r.value?.toString() ?? null, 0]),
    );
  });

  it("v2 → magic 0 drops timestamps; magic 0/1 input at or below the target is copied as is", () => {
    const old = encodeMessageSet({ magic: 0, records: records(2), baseOffset: 0n });
    const log = Buffer.concat([
      old,
      encodeRecordBatch({ records: records(2, 2), baseOffset: 2n, compression: CompressionType.Gzip }),
    ]);
    const legacy = downConvertRecordSet(log, 0);
    assert.deepEqual(legacy.subarray(0, old.length), old);
    const out = decodeRecordSet(legacy).flatMap((b) => b.records);
    assert.deepEqual(
      out.map((r) => [r.offset, r.timestamp]),
      [
        [0n, -1n],
        [1n, -1n],
        [2n, -1n],
        [3n, -1n],
      ],
    );
    // A magic 1 message is above magic 0: it is rewritten.
    const v1 = encodeMessageSet({ magic: 1, records: records(1), baseOffset: 9n });
    const down = downConvertRecordSet(v1, 0);
    assert.equal(readLegacyMessage(down).magic, 0);
  });

  it("skips control batches and records before firstOffset; drops a partial tail", () => {
    const log = Buffer.concat([
      encodeRecordBatch({
        records: records(4),
        baseOffset: 0n,
        isTransactional: true,
        producerId: 1n,
        producerEpoch: 0,
      }),
      encodeEndTxnMarkerBatch({
        producerId: 1n,
        producerEpoch: 0,
        commit: true,
        coordinatorEpoch: 0,
        timestamp: 1n,
        baseOffset: 4n,
      }),
      encodeRecordBatch({ records: records(2, 5), baseOffset: 5n }),
    ]);
    const torn = Buffer.concat([log, encodeRecordBatch({ records: records(1, 7), baseOffset: 7n }).subarray(0, 30)]);
    const out = decodeRecordSet(downConvertRecordSet(torn, 1, { firstOffset: 2n })).flatMap((b) => b.records);
    assert.deepEqual(
      out.map((r) => r.offset),
      [2n, 3n, 5n, 6n],
    );
  });

  it("keeps LogAppendTime for magic 1", () => {
    const batch = encodeRecordBatch({
      records: records(2),
      compression: CompressionType.Snappy,
      timestampType: TimestampType.LogAppendTime,
    });
    const legacy = downConvertRecordSet(batch, 1);
    const [decoded] = decodeRecordSet(legacy);
    assert.equal(timestampTypeOf(decoded.header.attributes), TimestampType.LogAppendTime);
    const maxTimestamp = readBatchHeader(batch).maxTimestamp;
    assert.deepEqual(
      decoded.records.map((r) => r.timestamp),
      [maxTimestamp, maxTimestamp],
    );
  });

  it("a zstd batch cannot go to an old client", () => {
    const log = encodeRecordBatch({ records: records(1), compression: CompressionType.Zstd });
    assert.throws(() => downConvertRecordSet(log, 1), /zstd/);
  });

  it(`v2 → legacy → v2 keeps keys, values and (magic 1) timestamps for any codec (seed ${SEED})`, () => {
    console.log(`conversion property seed: ${SEED} (set SAMSA_TEST_SEED to replay)`);
    const bytes = fc.option(
      fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
      { nil: null },
    );
    fc.assert(
      fc.property(
        fc.array(fc.record({ key: bytes, value: bytes, timestamp: fc.bigInt({ min: 0n, max: 2n ** 50n }) }), {
          minLength: 1,
          maxLength: 20,
        }),
        fc.constantFrom(CompressionType.None, CompressionType.Gzip, CompressionType.Snappy, CompressionType.Lz4),
        fc.constantFrom(0 as const, 1 as const),
        (inputs, compression, magic) => {
          const batch = encodeRecordBatch({ records: inputs, compression, baseOffset: 1000n });
          const back = decodeRecordBatch(
            upConvertToRecordBatch(downConvertRecordSet(batch, magic), { baseOffset: 1000n }),
          );
          assert.deepEqual(
            back.records.map((r) => [r.offset, r.key, r.value, r.timestamp]),
            inputs.map((r, i) => [1000n + BigInt(i), r.key, r.value, magic === 1 ? r.timestamp : -1n]),
          );
        },
      ),
      { seed: SEED, numRuns: 200 },
    );
  });
});

describe("mutation fuzzing of every decoder", () => {
  /** Recomputes the CRC of whatever batch or message starts at 0, so the lie reaches the parser. */
  function fixCrc(buf: Buffer): void {
    if (buf.length < 21) return;
    const end = Math.min(buf.length, 12 + Math.max(0, buf.readInt32BE(8)));
    if (buf[16] === 2) buf.writeUInt32BE(crc32c(buf.subarray(21, end)), 17);
    else buf.writeUInt32BE(crc32(buf.subarray(16, end)), 12);
  }

  it(`mutated record sets of every magic and codec only ever throw DecodeError (seed ${SEED})`, () => {
    console.log(`decoder fuzz seed: ${SEED} (set SAMSA_TEST_SEED to replay)`);
    const samples: Buffer[] = [];
    for (const compression of [0, 1, 2, 3, 4] as CompressionType[]) {
      samples.push(encodeRecordBatch({ records: records(4), compression, producerId: 3n, producerEpoch: 1 }));
      if (compression !== CompressionType.Zstd) {
        samples.push(encodeMessageSet({ magic: 1, records: records(3), compression }));
        samples.push(encodeMessageSet({ magic: 0, records: records(3), compression }));
      }
    }
    const lies = [0, 1, -1, 0x7f, 0x80, 0xff, 0x7fffffff, -0x80000000];
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: samples.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.constantFrom(...lies), fc.constantFrom(1, 4)), { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        fc.nat(),
        (which, edits, keepCrcValid, cut) => {
          const buf = Buffer.from(samples[which]);
          for (const [at, value, width] of edits) {
            const pos = at % buf.length;
            if (width === 4 && pos + 4 <= buf.length) buf.writeInt32BE(value, pos);
            else buf[pos] = value & 0xff;
          }
          if (keepCrcValid) fixCrc(buf);
          const input = cut % 5 === 0 ? buf.subarray(0, cut % (buf.length + 1)) : buf;
          try {
            decodeRecordSet(input, 0, input.length, { maxDecompressedBytes: 1 << 20 });
          } catch (e) {
            if (!(e instanceof DecodeError)) throw e;
          }
        },
      ),
      { seed: SEED, numRuns: Number(process.env.SAMSA_RECORDS_FUZZ_RUNS ?? 5000) },
    );
  });
});
