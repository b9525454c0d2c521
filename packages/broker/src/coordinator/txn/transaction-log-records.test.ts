import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DecodeError } from "@samsa/protocol";
import fc from "fast-check";
import { consumerOffsetsPartitionFor } from "../group/consumer-offsets-records.js";
import {
  decodeTransactionLogRecord,
  TRANSACTION_STATE_IDS,
  type TransactionLogRecordValue,
  type TransactionState,
  transactionLogKey,
  transactionLogRecord,
  transactionStateFromId,
  transactionStateFromName,
  transactionStatePartitionFor,
} from "./transaction-log-records.js";

const SEED = Number(process.env.SAMSA_TEST_SEED ?? Date.now() % 1_000_000);

// The documented layout, written out by hand so the expected bytes do not come from the codecs under test.
const int8 = (n: number) => Buffer.from([n & 0xff]);
const int16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
};
const int32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const int64 = (n: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(n);
  return b;
};
const str = (s: string) => Buffer.concat([int16(Buffer.byteLength(s)), Buffer.from(s)]);
/** Flexible versions: unsigned varint length + 1 (all lengths here are below 127: one byte). */
const uvarint1 = (n: number) => {
  assert.ok(n < 128);
  return Buffer.from([n]);
};
const compactStr = (s: string) => Buffer.concat([uvarint1(Buffer.byteLength(s) + 1), Buffer.from(s)]);
const NO_TAGGED_FIELDS = Buffer.from([0]);

const T = 1_700_000_000_000n;

const ONGOING: TransactionLogRecordValue = {
  producerId: 4000n,
  previousProducerId: -1n,
  nextProducerId: -1n,
  producerEpoch: 3,
  transactionTimeoutMs: 60_000,
  state: "Ongoing",
  // Deliberately unsorted: the writer groups by topic and sorts.
  partitions: [
    { topic: "orders", partition: 2 },
    { topic: "audit", partition: 0 },
    { topic: "orders", partition: 0 },
  ],
  lastUpdateTimestampMs: T + 5n,
  startTimestampMs: T,
  clientTransactionVersion: 0,
};

describe("__transaction_state records", () => {
  it("uses Kafka's state ids", () => {
    assert.deepEqual(TRANSACTION_STATE_IDS, {
      Empty: 0,
      Ongoing: 1,
      PrepareCommit: 2,
      PrepareAbort: 3,
      CompleteCommit: 4,
      CompleteAbort: 5,
      Dead: 6,
      PrepareEpochFence: 7,
    });
    for (const [name, id] of Object.entries(TRANSACTION_STATE_IDS)) {
      assert.equal(transactionStateFromId(id), name);
      assert.equal(transactionStateFromName(name), name);
    }
    assert.equal(transactionStateFromId(8), undefined);
    assert.equal(transactionStateFromName("ongoing"), undefined, "names are case-sensitive, as Kafka's fromName");
    assert.equal(transactionStateFromName("toString"), undefined);
  });

  it("writes the key as int16 version 0 + int16-length transactional id", () => {
    assert.deepEqual(transactionLogKey("txn-1"), Buffer.concat([int16(0), str("txn-1")]));
    assert.deepEqual(transactionLogKey("ü"), Buffer.concat([int16(0), int16(2), Buffer.from([0xc3, 0xbc])]));
  });

  it("writes value v0 byte for byte: partitions grouped by topic, sorted", () => {
    const { key, value } = transactionLogRecord("txn-1", ONGOING);
    assert.deepEqual(key, Buffer.concat([int16(0), str("txn-1")]));
    const expected = Buffer.concat([
      int16(0),
      int64(4000n),
      int16(3),
      int32(60_000),
      int8(1),
      int32(2),
      str("audit"),
      int32(1),
      int32(0),
      str("orders"),
      int32(2),
      int32(0),
      int32(2),
      int64(T + 5n),
      int64(T),
    ]);
    assert.deepEqual(value, expected);
  });

  it("writes an Empty value with a null partition list (v0: int32 -1)", () => {
    const empty = { ...ONGOING, state: "Empty" as const, partitions: [], startTimestampMs: -1n };
    const { value } = transactionLogRecord("t", empty);
    const expected = Buffer.concat([
      int16(0),
      int64(4000n),
      int16(3),
      int32(60_000),
      int8(0),
      int32(-1),
      int64(T + 5n),
      int64(-1n),
    ]);
    assert.deepEqual(value, expected);
    assert.throws(() => transactionLogRecord("t", { ...ONGOING, state: "Empty" }), /no partitions/);
  });

  it("writes value v1 (flexible) with the KIP-890 tagged fields when set", () => {
    const v1 = {
      ...ONGOING,
      state: "PrepareCommit" as const,
      partitions: [{ topic: "orders", partition: 7 }],
      previousProducerId: 3999n,
      clientTransactionVersion: 2,
    };
    const { value } = transactionLogRecord("txn-1", v1, 1);
    const expected = Buffer.concat([
      int16(1),
      int64(4000n),
      int16(3),
      int32(60_000),
      int8(2),
      uvarint1(2), // one topic
      compactStr("orders"),
      uvarint1(2), // one partition id
      int32(7),
      NO_TAGGED_FIELDS, // of the PartitionsSchema struct
      int64(T + 5n),
      int64(T),
      uvarint1(2), // two tagged fields, in tag order
      uvarint1(0),
      uvarint1(8),
      int64(3999n),
      uvarint1(2),
      uvarint1(2),
      int16(2),
    ]);
    assert.deepEqual(value, expected);
    const empty = { ...ONGOING, state: "CompleteAbort" as const, partitions: [] };
    const bytes = transactionLogRecord("t", empty, 1).value!;
    assert.deepEqual(
      bytes.subarray(2 + 8 + 2 + 4 + 1, 2 + 8 + 2 + 4 + 1 + 1),
      uvarint1(1),
      "an empty (not null) array",
    );
    assert.deepEqual(bytes.subarray(-1), NO_TAGGED_FIELDS, "defaults are not written");
  });

  it("refuses tagged fields in v0, like Kafka's writer", () => {
    assert.throws(() => transactionLogRecord("t", { ...ONGOING, previousProducerId: 1n }, 0));
  });

  it("writes a tombstone as a null value", () => {
    const { key, value } = transactionLogRecord("txn-1", null);
    assert.deepEqual(key, transactionLogKey("txn-1"));
    assert.equal(value, null);
    assert.deepEqual(decodeTransactionLogRecord(key, null), {
      type: "transaction",
      transactionalId: "txn-1",
      value: null,
    });
  });

  it("reads back what it writes, in both value versions", () => {
    const sorted = {
      ...ONGOING,
      partitions: [
        { topic: "audit", partition: 0 },
        { topic: "orders", partition: 0 },
        { topic: "orders", partition: 2 },
      ],
    };
    for (const version of [0, 1]) {
      const { key, value } = transactionLogRecord("txn-1", ONGOING, version);
      assert.deepEqual(decodeTransactionLogRecord(key, value), {
        type: "transaction",
        transactionalId: "txn-1",
        value: sorted,
      });
    }
  });

  it("reads a hand-built v0 value", () => {
    const value = Buffer.concat([
      int16(0),
      int64(9n),
      int16(0),
      int32(1000),
      int8(5),
      int32(1),
      str("t"),
      int32(1),
      int32(4),
      int64(T),
      int64(T - 1n),
    ]);
    const record = decodeTransactionLogRecord(Buffer.concat([int16(0), str("x")]), value);
    assert.deepEqual(record, {
      type: "transaction",
      transactionalId: "x",
      value: {
        producerId: 9n,
        previousProducerId: -1n,
        nextProducerId: -1n,
        producerEpoch: 0,
        transactionTimeoutMs: 1000,
        state: "CompleteAbort",
        partitions: [{ topic: "t", partition: 4 }],
        lastUpdateTimestampMs: T,
        startTimestampMs: T - 1n,
        clientTransactionVersion: 0,
      },
    });
  });

  it("ignores the partitions of an Empty value, as Kafka's reader", () => {
    const value = Buffer.concat([
      int16(0),
      int64(9n),
      int16(0),
      int32(1000),
      int8(0),
      int32(1),
      str("t"),
      int32(1),
      int32(4),
      int64(T),
      int64(-1n),
    ]);
    const record = decodeTransactionLogRecord(transactionLogKey("x"), value);
    assert.equal(record.type, "transaction");
    assert.deepEqual(record.type === "transaction" && record.value?.partitions, []);
  });

  it("skips unknown key versions and rejects unknown value versions, state ids and garbage", () => {
    assert.deepEqual(decodeTransactionLogRecord(Buffer.concat([int16(1), str("x")]), Buffer.alloc(4)), {
      type: "unknown",
      keyVersion: 1,
    });
    const key = transactionLogKey("x");
    const good = transactionLogRecord("x", ONGOING).value!;
    const badVersion = Buffer.from(good);
    badVersion.writeInt16BE(2, 0);
    assert.throws(() => decodeTransactionLogRecord(key, badVersion), DecodeError);
    const badState = Buffer.from(good);
    badState.writeInt8(8, 2 + 8 + 2 + 4);
    assert.throws(() => decodeTransactionLogRecord(key, badState), /unknown state id 8/);
    assert.throws(() => decodeTransactionLogRecord(key, good.subarray(0, good.length - 1)), DecodeError);
    assert.throws(() => decodeTransactionLogRecord(null, good), DecodeError);
  });

  it("places transactional ids as Kafka's partitionFor (the groups' hash)", () => {
    // Java: Utils.abs("my-txn".hashCode) % 50, worked out separately: "my-txn".hashCode = -1061187895 → 45.
    assert.equal(transactionStatePartitionFor("my-txn", 50), 45);
    // "polygenelubricants".hashCode() == Integer.MIN_VALUE: Utils.abs maps it to 0.
    assert.equal(transactionStatePartitionFor("polygenelubricants", 50), 0);
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 1, max: 1000 }), (id, n) => {
        assert.equal(transactionStatePartitionFor(id, n), consumerOffsetsPartitionFor(id, n));
      }),
      { seed: SEED },
    );
  });

  it(`round-trips random values (seed ${SEED})`, () => {
    const states = Object.keys(TRANSACTION_STATE_IDS) as TransactionState[];
    const value = fc
      .record({
        producerId: fc.bigInt({ min: 0n, max: (1n << 63n) - 1n }),
        producerEpoch: fc.integer({ min: -1, max: 32767 }),
        transactionTimeoutMs: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        state: fc.constantFrom(...states),
        partitions: fc.uniqueArray(fc.record({ topic: fc.constantFrom("a", "b", "orders"), partition: fc.nat(1000) }), {
          selector: (tp) => `${tp.topic}/${tp.partition}`,
          maxLength: 8,
        }),
        lastUpdateTimestampMs: fc.bigInt({ min: -1n, max: 1n << 50n }),
        startTimestampMs: fc.bigInt({ min: -1n, max: 1n << 50n }),
        previousProducerId: fc.bigInt({ min: -1n, max: 1n << 40n }),
        nextProducerId: fc.bigInt({ min: -1n, max: 1n << 40n }),
        clientTransactionVersion: fc.integer({ min: 0, max: 2 }),
      })
      // fast-check's records have no prototype; the decoder's are plain objects.
      .map((v) => ({ ...v, partitions: v.state === "Empty" ? [] : v.partitions.map((tp) => ({ ...tp })) }));
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), value, (id, v) => {
        const { key, value: bytes } = transactionLogRecord(id, v, 1);
        const back = decodeTransactionLogRecord(key, bytes);
        assert.equal(back.type, "transaction");
        const sorted = [...v.partitions].sort((a, b) =>
          a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition,
        );
        assert.deepEqual(back, { type: "transaction", transactionalId: id, value: { ...v, partitions: sorted } });
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});
