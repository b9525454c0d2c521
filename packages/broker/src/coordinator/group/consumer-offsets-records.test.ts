import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DecodeError, GroupMetadataValue, type MessageCodec, OffsetCommitValue, Writer } from "@samsa/protocol";
import fc from "fast-check";
import {
  type ConsumerOffsetsRecord,
  consumerOffsetsPartitionFor,
  decodeConsumerOffsetsRecord,
  type GroupMetadataRecordValue,
  groupMetadataRecord,
  javaStringHashCode,
  type OffsetCommitRecordValue,
  offsetCommitRecord,
} from "./consumer-offsets-records.js";

const SEED = Number(process.env.SAMSA_TEST_SEED ?? Date.now() % 1_000_000);

// The documented layout, written out by hand so the expected bytes do not come from the codecs under test.
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
const str = (s: string | null) =>
  s === null ? int16(-1) : Buffer.concat([int16(Buffer.byteLength(s)), Buffer.from(s)]);
const bytes = (b: Buffer) => Buffer.concat([int32(b.length), b]);
/** Flexible versions: unsigned varint length + 1 (all lengths here are below 127: one byte). */
const compactStr = (s: string) => Buffer.concat([Buffer.from([Buffer.byteLength(s) + 1]), Buffer.from(s)]);
const NO_TAGGED_FIELDS = Buffer.from([0]);

const T = 1_700_000_000_000n;

const OFFSET_VALUE: OffsetCommitRecordValue = {
  offset: 42n,
  leaderEpoch: 5,
  metadata: "meta",
  commitTimestampMs: T,
  expireTimestampMs: -1n,
};

const GROUP_VALUE: GroupMetadataRecordValue = {
  protocolType: "consumer",
  generationId: 7,
  protocolName: "range",
  leaderId: "m1",
  currentStateTimestampMs: T,
  members: [
    {
      memberId: "m1",
      groupInstanceId: "instance-1",
      clientId: "c1",
      clientHost: "/127.0.0.1",
      rebalanceTimeoutMs: 300_000,
      sessionTimeoutMs: 45_000,
      subscription: Buffer.from([1, 2, 3]),
      assignment: Buffer.from([4, 5]),
    },
    {
      memberId: "m2",
      groupInstanceId: null,
      clientId: "c2",
      clientHost: "/10.0.0.2",
      rebalanceTimeoutMs: 60_000,
      sessionTimeoutMs: 10_000,
      subscription: Buffer.alloc(0),
      assignment: Buffer.from([9]),
    },
  ],
};

/** A value at any version, as another writer (an older Kafka) would have produced it. */
function valueAt<T>(codec: MessageCodec<T>, version: number, value: Parameters<MessageCodec<T>["encode"]>[1]): Buffer {
  const w = new Writer();
  w.writeInt16(version);
  codec.encode(w, value, version);
  return w.toBuffer();
}

function offsetValueFields(v: OffsetCommitRecordValue) {
  return {
    offset: v.offset,
    leaderEpoch: v.leaderEpoch,
    metadata: v.metadata,
    commitTimestamp: v.commitTimestampMs,
    expireTimestamp: v.expireTimestampMs,
  };
}

function groupValueFields(v: GroupMetadataRecordValue) {
  return {
    protocolType: v.protocolType,
    generation: v.generationId,
    protocol: v.protocolName,
    leader: v.leaderId,
    currentStateTimestamp: v.currentStateTimestampMs,
    members: v.members.map((m) => ({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId,
      clientId: m.clientId,
      clientHost: m.clientHost,
      rebalanceTimeout: m.rebalanceTimeoutMs,
      sessionTimeout: m.sessionTimeoutMs,
      subscription: m.subscription,
      assignment: m.assignment,
    })),
  };
}

describe("__consumer_offsets offset commit records", () => {
  it("key: int16 version 1, group, topic, int32 partition", () => {
    const { key } = offsetCommitRecord("g1", "orders", 3, OFFSET_VALUE);
    assert.deepEqual(key, Buffer.concat([int16(1), str("g1"), str("orders"), int32(3)]));
  });

  it("value without an expire timestamp: version 3 with the leader epoch", () => {
    const { value } = offsetCommitRecord("g1", "orders", 3, OFFSET_VALUE);
    assert.deepEqual(value, Buffer.concat([int16(3), int64(42n), int32(5), str("meta"), int64(T)]));
  });

  it("value with an expire timestamp: version 1, which has no leader epoch", () => {
    const withExpire = { ...OFFSET_VALUE, metadata: "", expireTimestampMs: T + 86_400_000n };
    const { key, value } = offsetCommitRecord("g1", "orders", 3, withExpire);
    assert.deepEqual(value, Buffer.concat([int16(1), int64(42n), str(""), int64(T), int64(T + 86_400_000n)]));
    const decoded = decodeConsumerOffsetsRecord(key, value);
    assert.deepEqual(decoded, {
      type: "offsetCommit",
      groupId: "g1",
      topic: "orders",
      partition: 3,
      value: { ...withExpire, leaderEpoch: -1 },
    });
  });

  it("round-trips what it writes", () => {
    for (const v of [OFFSET_VALUE, { ...OFFSET_VALUE, leaderEpoch: -1, metadata: "ünïcödé €" }]) {
      const { key, value } = offsetCommitRecord("group-ä", "tópic", 2_147_483_647, v);
      assert.deepEqual(decodeConsumerOffsetsRecord(key, value), {
        type: "offsetCommit",
        groupId: "group-ä",
        topic: "tópic",
        partition: 2_147_483_647,
        value: v,
      });
    }
  });

  it("reads every value version, absent fields taking Kafka's defaults", () => {
    const { key } = offsetCommitRecord("g", "t", 0, null);
    const full = { ...OFFSET_VALUE, expireTimestampMs: T + 1n };
    const expected: Record<number, OffsetCommitRecordValue> = {
      0: { ...full, leaderEpoch: -1, expireTimestampMs: -1n },
      1: { ...full, leaderEpoch: -1 },
      2: { ...full, leaderEpoch: -1, expireTimestampMs: -1n },
      3: { ...full, expireTimestampMs: -1n },
      4: { ...full, expireTimestampMs: -1n },
    };
    for (let version = 0; version <= 4; version++) {
      const value = valueAt(OffsetCommitValue, version, offsetValueFields(full));
      const decoded = decodeConsumerOffsetsRecord(key, value);
      assert.deepEqual(decoded, {
        type: "offsetCommit",
        groupId: "g",
        topic: "t",
        partition: 0,
        value: expected[version],
      });
    }
  });

  it("reads a flexible (v4) value laid out by hand, skipping tagged fields it does not know", () => {
    const { key } = offsetCommitRecord("g", "t", 0, null);
    const unknownTag = Buffer.from([1, 7, 2, 0xab, 0xcd]); // one tagged field: tag 7, 2 bytes
    for (const tagged of [NO_TAGGED_FIELDS, unknownTag]) {
      const value = Buffer.concat([int16(4), int64(42n), int32(5), compactStr("meta"), int64(T), tagged]);
      const decoded = decodeConsumerOffsetsRecord(key, value);
      assert.deepEqual(decoded, { type: "offsetCommit", groupId: "g", topic: "t", partition: 0, value: OFFSET_VALUE });
    }
  });

  it("reads the legacy key version 0 as an offset commit", () => {
    const key = Buffer.concat([int16(0), str("g"), str("t"), int32(1)]);
    const value = Buffer.concat([int16(0), int64(7n), str("m"), int64(T)]);
    assert.deepEqual(decodeConsumerOffsetsRecord(key, value), {
      type: "offsetCommit",
      groupId: "g",
      topic: "t",
      partition: 1,
      value: { offset: 7n, leaderEpoch: -1, metadata: "m", commitTimestampMs: T, expireTimestampMs: -1n },
    });
  });

  it("a null value is a tombstone, both ways", () => {
    const { key, value } = offsetCommitRecord("g1", "orders", 3, null);
    assert.equal(value, null);
    assert.deepEqual(decodeConsumerOffsetsRecord(key, null), {
      type: "offsetCommit",
      groupId: "g1",
      topic: "orders",
      partition: 3,
      value: null,
    });
  });
});

describe("__consumer_offsets group metadata records", () => {
  it("key: int16 version 2, group", () => {
    const { key } = groupMetadataRecord("my-group", GROUP_VALUE);
    assert.deepEqual(key, Buffer.concat([int16(2), str("my-group")]));
  });

  it("value: version 3, members with group instance ids", () => {
    const { value } = groupMetadataRecord("my-group", GROUP_VALUE);
    const expected = Buffer.concat([
      int16(3),
      str("consumer"),
      int32(7),
      str("range"),
      str("m1"),
      int64(T),
      int32(2),
      ...[str("m1"), str("instance-1"), str("c1"), str("/127.0.0.1"), int32(300_000), int32(45_000)],
      ...[bytes(Buffer.from([1, 2, 3])), bytes(Buffer.from([4, 5]))],
      ...[str("m2"), str(null), str("c2"), str("/10.0.0.2"), int32(60_000), int32(10_000)],
      ...[bytes(Buffer.alloc(0)), bytes(Buffer.from([9]))],
    ]);
    assert.deepEqual(value, expected);
  });

  it("round-trips what it writes, including an empty group with no protocol or leader", () => {
    const empty: GroupMetadataRecordValue = {
      protocolType: "",
      generationId: 0,
      protocolName: null,
      leaderId: null,
      currentStateTimestampMs: T,
      members: [],
    };
    for (const v of [GROUP_VALUE, empty]) {
      const { key, value } = groupMetadataRecord("my-group", v);
      assert.deepEqual(decodeConsumerOffsetsRecord(key, value), {
        type: "groupMetadata",
        groupId: "my-group",
        value: v,
      });
    }
  });

  it("reads every value version, absent fields taking Kafka's defaults", () => {
    const { key } = groupMetadataRecord("g", null);
    const at = (version: number): GroupMetadataRecordValue => ({
      ...GROUP_VALUE,
      currentStateTimestampMs: version >= 2 ? T : -1n,
      members: GROUP_VALUE.members.map((m) => ({
        ...m,
        groupInstanceId: version >= 3 ? m.groupInstanceId : null,
        rebalanceTimeoutMs: version >= 1 ? m.rebalanceTimeoutMs : -1,
      })),
    });
    for (let version = 0; version <= 4; version++) {
      const value = valueAt(GroupMetadataValue, version, groupValueFields(GROUP_VALUE));
      assert.deepEqual(decodeConsumerOffsetsRecord(key, value), {
        type: "groupMetadata",
        groupId: "g",
        value: at(version),
      });
    }
  });

  it("decoded bytes are copies, not views of the input", () => {
    const { key, value } = groupMetadataRecord("g", GROUP_VALUE);
    const decoded = decodeConsumerOffsetsRecord(key, value);
    assert.equal(decoded.type, "groupMetadata");
    const member = (decoded as Extract<ConsumerOffsetsRecord, { type: "groupMetadata" }>).value!.members[0];
    value!.fill(0);
    assert.deepEqual(member.subscription, Buffer.from([1, 2, 3]));
    assert.deepEqual(member.assignment, Buffer.from([4, 5]));
  });

  it("a null value is a tombstone, both ways", () => {
    const { key, value } = groupMetadataRecord("g", null);
    assert.equal(value, null);
    assert.deepEqual(decodeConsumerOffsetsRecord(key, null), { type: "groupMetadata", groupId: "g", value: null });
  });

  it(`round-trips any group (seed ${SEED})`, () => {
    console.log(`consumer-offsets-records property seed: ${SEED} (set SAMSA_TEST_SEED to replay)`);
    const int32Arb = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
    const text = fc.string({ unit: "binary", maxLength: 20 });
    const buf = fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a));
    const member = fc.record(
      {
        memberId: text,
        groupInstanceId: fc.option(text, { nil: null }),
        clientId: text,
        clientHost: text,
        rebalanceTimeoutMs: int32Arb,
        sessionTimeoutMs: int32Arb,
        subscription: buf,
        assignment: buf,
      },
      { noNullPrototype: true },
    );
    const group = fc.record(
      {
        protocolType: text,
        generationId: int32Arb,
        protocolName: fc.option(text, { nil: null }),
        leaderId: fc.option(text, { nil: null }),
        currentStateTimestampMs: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
        members: fc.array(member, { maxLength: 5 }),
      },
      { noNullPrototype: true },
    );
    fc.assert(
      fc.property(text, group, (groupId, v) => {
        const { key, value } = groupMetadataRecord(groupId, v);
        assert.deepEqual(decodeConsumerOffsetsRecord(key, value), { type: "groupMetadata", groupId, value: v });
      }),
      { seed: SEED, numRuns: 200 },
    );
  });
});

describe("reading __consumer_offsets", () => {
  it("skips record types it does not know (KIP-848 consumer, share and streams group records)", () => {
    const garbage = Buffer.from([0xff, 0x00, 0x13]);
    for (const keyVersion of [3, 4, 8, 9, 15, 16, 17, 24, 1000, 32767, -1, -32768]) {
      const key = Buffer.concat([int16(keyVersion), str("g"), garbage]);
      for (const value of [null, Buffer.concat([int16(0), garbage])]) {
        assert.deepEqual(decodeConsumerOffsetsRecord(key, value), { type: "unknown", keyVersion });
      }
    }
  });

  it("refuses a value version it does not know for a known record type", () => {
    const offsetKey = offsetCommitRecord("g", "t", 0, null).key;
    const groupKey = groupMetadataRecord("g", null).key;
    for (const key of [offsetKey, groupKey]) {
      for (const version of [5, 6, 32767, -1]) {
        const value = Buffer.concat([int16(version), Buffer.alloc(64)]);
        assert.throws(() => decodeConsumerOffsetsRecord(key, value), DecodeError);
      }
    }
  });

  it("refuses a record without a key", () => {
    assert.throws(() => decodeConsumerOffsetsRecord(null, null), DecodeError);
  });

  it("refuses every truncation of a key or a value", () => {
    const records = [
      offsetCommitRecord("group", "topic", 1, OFFSET_VALUE),
      offsetCommitRecord("group", "topic", 1, { ...OFFSET_VALUE, expireTimestampMs: T }),
      groupMetadataRecord("group", GROUP_VALUE),
      {
        key: groupMetadataRecord("group", null).key,
        value: valueAt(GroupMetadataValue, 4, groupValueFields(GROUP_VALUE)),
      },
    ];
    for (const { key, value } of records) {
      for (let n = 0; n < key.length; n++) {
        assert.throws(() => decodeConsumerOffsetsRecord(key.subarray(0, n), value), DecodeError, `key cut at ${n}`);
      }
      for (let n = 0; n < value!.length; n++) {
        assert.throws(() => decodeConsumerOffsetsRecord(key, value!.subarray(0, n)), DecodeError, `value cut at ${n}`);
      }
    }
  });

  it("refuses a negative length in a non-nullable string", () => {
    const key = Buffer.concat([int16(1), int16(-1), str("t"), int32(0)]);
    assert.throws(() => decodeConsumerOffsetsRecord(key, null), DecodeError);
  });
});

describe("consumerOffsetsPartitionFor", () => {
  // Values printed by Java (OpenJDK 17): s.hashCode(), and Utils.abs(s.hashCode()) % 50.
  const JAVA: [string, number, number][] = [
    ["", 0, 0],
    ["group", 98629247, 47],
    ["polygenelubricants", -2147483648, 0],
    ["Aa", 2112, 12],
    ["BB", 2112, 12],
    ["my-consumer-group", 1513705513, 13],
    ["console-consumer-12345", 158455506, 6],
    ["é", 233, 33],
    ["日本", 835047, 47],
    ["\u{1F600}", 1772899, 49], // a surrogate pair: two UTF-16 code units
    ["grüppe-€-\u{1F600}", -115573507, 7],
  ];

  it("hashes as Java's String.hashCode over UTF-16 code units", () => {
    for (const [s, hash] of JAVA) assert.equal(javaStringHashCode(s), hash, JSON.stringify(s));
  });

  it("maps a group to Utils.abs(hashCode) % partitions, Integer.MIN_VALUE to partition 0", () => {
    for (const [s, , p50] of JAVA) assert.equal(consumerOffsetsPartitionFor(s, 50), p50, JSON.stringify(s));
    assert.equal(consumerOffsetsPartitionFor("polygenelubricants", 7), 0);
    assert.equal(consumerOffsetsPartitionFor("grüppe-€-\u{1F600}", 7), 0);
    assert.equal(consumerOffsetsPartitionFor("group", 1), 0);
  });

  it("agrees with the hashCode definition computed in exact arithmetic", () => {
    // Any UTF-16 code units, lone surrogates included: Java hashes those too.
    const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((u) => String.fromCharCode(u));
    fc.assert(
      fc.property(fc.string({ unit: codeUnit, maxLength: 200 }), (s) => {
        let h = 0n;
        for (let i = 0; i < s.length; i++) h = (h * 31n + BigInt(s.charCodeAt(i))) % 2n ** 32n;
        assert.equal(javaStringHashCode(s), Number(BigInt.asIntN(32, h)));
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  it("refuses a partition count that is not a positive integer", () => {
    for (const n of [0, -1, 1.5, Number.NaN, 2 ** 31])
      assert.throws(() => consumerOffsetsPartitionFor("g", n), RangeError);
  });
});
