/**
 * Interop with a real client's record code: KafkaJS 2.2.4 (a dev dependency) encodes batches and
 * message sets that we decode, and decodes what we encode. KafkaJS ships only gzip, so the other
 * codecs are covered by our own round trips; captured fixtures from kcat and the Java client are
 * decoded the same way (decodeRecordSet on the `records` bytes).
 */
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { describe, it } from "node:test";
import { CompressionType, compressionTypeOf, isTransactional } from "./batch-header.js";
import { encodeMessageSet } from "./message-set.js";
import { decodeRecordBatch, encodeRecordBatch } from "./record-batch.js";
import { decodeRecordSet } from "./record-set.js";

// KafkaJS's internals are untyped CommonJS; these are the few shapes the test touches.
interface KafkaJsEncoder {
  readonly buffer: Buffer;
}
type KafkaJsDecoder = object;
interface KafkaJsRecord {
  offset: string;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: { [key: string]: Buffer | Buffer[] | null };
}
interface KafkaJsMessage {
  offset: string;
  timestamp?: string;
  key: Buffer | null;
  value: Buffer | null;
}

const require = createRequire(import.meta.url);
const { RecordBatch } = require("kafkajs/src/protocol/recordBatch/v0/index.js") as {
  RecordBatch(opts: object): Promise<KafkaJsEncoder>;
};
const Record = require("kafkajs/src/protocol/recordBatch/record/v0/index.js") as (opts: object) => KafkaJsEncoder;
const decodeKafkaJsBatch = require("kafkajs/src/protocol/recordBatch/v0/decoder.js") as (
  d: KafkaJsDecoder,
) => Promise<{ records: KafkaJsRecord[]; inTransaction: boolean }>;
const MessageSet = require("kafkajs/src/protocol/messageSet/index.js") as (opts: object) => KafkaJsEncoder;
const decodeKafkaJsMessageSet = require("kafkajs/src/protocol/messageSet/decoder.js") as (
  d: KafkaJsDecoder,
  size: number,
) => Promise<KafkaJsMessage[]>;
const Decoder = require("kafkajs/src/protocol/decoder.js") as new (buf: Buffer) => KafkaJsDecoder;
const gzipCodec = require("kafkajs/src/protocol/message/compression/gzip.js") as {
  compress(encoder: KafkaJsEncoder): Promise<Buffer>;
};

const KAFKAJS_GZIP = 1;
const T0 = 1_700_000_000_000;

describe("KafkaJS interop", () => {
  for (const compression of [CompressionType.None, CompressionType.Gzip]) {
    it(`decodes KafkaJS's record batch (${CompressionType[compression]})`, async () => {
      const records = [
        Record({
          offsetDelta: 0,
          timestampDelta: 0,
          key: Buffer.from("k0"),
          value: Buffer.from("v0"),
          headers: { a: Buffer.from("1") },
        }),
        Record({ offsetDelta: 1, timestampDelta: 7, key: null, value: Buffer.from("v1") }),
        Record({ offsetDelta: 2, timestampDelta: 3, key: Buffer.from("k2"), value: null }),
      ];
      const encoder = await RecordBatch({
        compression: compression === CompressionType.Gzip ? KAFKAJS_GZIP : 0,
        firstOffset: 100,
        firstTimestamp: T0,
        maxTimestamp: T0 + 7,
        lastOffsetDelta: 2,
        transactional: true,
        records,
      });
      const { header, records: out } = decodeRecordBatch(encoder.buffer); // CRC32C verified
      assert.equal(compressionTypeOf(header.attributes), compression);
      assert.equal(isTransactional(header.attributes), true);
      assert.deepEqual(
        out.map((r) => [r.offset, r.timestamp, r.key?.toString() ?? null, r.value?.toString() ?? null]),
        [
          [100n, BigInt(T0), "k0", "v0"],
          [101n, BigInt(T0 + 7), null, "v1"],
          [102n, BigInt(T0 + 3), "k2", null],
        ],
      );
      assert.deepEqual(out[0].headers, [{ key: "a", value: Buffer.from("1") }]);
    });

    it(`KafkaJS decodes our record batch (${CompressionType[compression]})`, async () => {
      const buf = encodeRecordBatch({
        baseOffset: 5n,
        compression,
        records: [
          {
            key: Buffer.from("k"),
            value: Buffer.from("v"),
            timestamp: BigInt(T0),
            headers: [{ key: "h", value: Buffer.from("x") }],
          },
          { key: null, value: null, timestamp: BigInt(T0 - 2) },
        ],
      });
      const { records } = await decodeKafkaJsBatch(new Decoder(buf));
      assert.deepEqual(
        records.map((r) => [r.offset, r.timestamp, r.key, r.value]),
        [
          ["5", String(T0), Buffer.from("k"), Buffer.from("v")],
          ["6", String(T0 - 2), null, null],
        ],
      );
      assert.deepEqual(records[0].headers, { h: Buffer.from("x") });
    });
  }

  it("decodes KafkaJS's legacy message sets, plain and gzip-wrapped (Produce v2)", async () => {
    const entries = [
      { key: Buffer.from("a"), value: Buffer.from("1"), timestamp: T0 },
      { key: null, value: Buffer.from("2"), timestamp: T0 + 1 },
    ];
    const plain = MessageSet({ messageVersion: 1, compression: 0, entries }).buffer;
    assert.deepEqual(
      decodeRecordSet(plain).flatMap((b) =>
        b.records.map((r) => [r.key?.toString() ?? null, r.value?.toString(), r.timestamp]),
      ),
      [
        ["a", "1", BigInt(T0)],
        [null, "2", BigInt(T0 + 1)],
      ],
    );
    // What KafkaJS's produce v2 request does: compress the inner set, wrap it in one message.
    const inner = MessageSet({ messageVersion: 1, compression: KAFKAJS_GZIP, entries });
    const wrapped = MessageSet({
      messageVersion: 1,
      compression: KAFKAJS_GZIP,
      entries: [{ compression: KAFKAJS_GZIP, timestamp: T0 + 1, value: await gzipCodec.compress(inner) }],
    }).buffer;
    const [batch] = decodeRecordSet(wrapped);
    assert.equal(compressionTypeOf(batch.header.attributes), CompressionType.Gzip);
    assert.deepEqual(
      batch.records.map((r) => [r.offset, r.value?.toString()]),
      [
        [-1n, "1"],
        [0n, "2"],
      ],
      "KafkaJS writes inner offsets 0, 1 and wrapper offset 0, so absolute offsets start at -1",
    );
  });

  it("KafkaJS decodes our legacy message sets, plain and gzip-wrapped", async () => {
    for (const compression of [CompressionType.None, CompressionType.Gzip]) {
      const buf = encodeMessageSet({
        magic: 1,
        compression,
        baseOffset: 40n,
        records: [
          { key: Buffer.from("a"), value: Buffer.from("1"), timestamp: BigInt(T0) },
          { key: null, value: Buffer.from("2"), timestamp: BigInt(T0 + 1) },
        ],
      });
      const messages = await decodeKafkaJsMessageSet(new Decoder(buf), buf.length);
      assert.deepEqual(
        messages.map((m) => [m.offset, m.key, m.value?.toString()]),
        [
          ["40", Buffer.from("a"), "1"],
          ["41", null, "2"],
        ],
      );
    }
  });
});
