import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as messages from "./messages/index.js";
import { APIS } from "./messages/index.js";
import type { MessageCodec } from "./primitives/api.js";
import { DecodeError, EncodeError } from "./primitives/decode-error.js";
import { Reader } from "./primitives/reader.js";
import { Writer } from "./primitives/writer.js";
import { isMessageCodec, project, RandomValues, seededRandom } from "./testing/random-values.js";

const SEED = Number(process.env.SAMSA_TEST_SEED ?? Date.now() % 1_000_000);
const ROUNDS_PER_VERSION = 25;

/** Every generated codec: API requests and responses, headers and data schemas. */
const CODECS: MessageCodec<unknown>[] = (Object.values(messages) as unknown[]).filter(isMessageCodec);

function roundTrip(codec: MessageCodec<unknown>, version: number, rv: RandomValues): void {
  const value = rv.struct(codec.schema, version);
  if (codec.flexibleMin !== null && version >= codec.flexibleMin && rv.int(0, 3) === 0) {
    value._unknownTaggedFields = rv.unknownTaggedFields();
  }
  const w1 = new Writer();
  codec.encode(w1, value, version);
  const bytes1 = w1.toBuffer();

  const r = new Reader(bytes1);
  const decoded = codec.decode(r, version) as Record<string, unknown>;
  assert.equal(r.remaining, 0, "decode consumed every byte");
  assert.deepStrictEqual(project(decoded, codec.schema, version), project(value, codec.schema, version));
  assert.deepStrictEqual(decoded._unknownTaggedFields, value._unknownTaggedFields);

  const w2 = new Writer();
  codec.encode(w2, decoded, version);
  assert.ok(w2.toBuffer().equals(bytes1), "re-encoding the decoded value gives the same bytes");
}

describe(`message codecs round-trip (seed ${SEED})`, () => {
  it("covers every API in both spec releases", () => {
    assert.ok(APIS.length >= 90, `only ${APIS.length} APIs`);
    assert.ok(CODECS.length >= APIS.length * 2 + 2, "requests, responses, both headers and the data schemas");
    const keys = APIS.map((a) => a.apiKey);
    // Regression: Kafka 4 renamed key 74; merging by name once produced two APIs with that key.
    assert.equal(new Set(keys).size, keys.length, "one API per key");
    for (const k of [0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 18, 19, 20, 22, 24, 25, 26, 32, 60, 68]) {
      assert.ok(keys.includes(k), `API key ${k} is generated`);
    }
    // The union: v0 of Produce and Fetch come from 3.9.1, the newest from 4.1.1.
    assert.equal(messages.ProduceRequest.minVersion, 0);
    assert.equal(messages.ProduceRequest.maxVersion, 13);
    assert.equal(messages.FetchRequest.minVersion, 0);
    assert.equal(messages.FetchRequest.maxVersion, 18);
  });

  for (const codec of CODECS) {
    it(`${codec.name} v${codec.minVersion}-${codec.maxVersion}`, () => {
      const rv = new RandomValues(seededRandom(SEED ^ hash(codec.name)));
      for (let version = codec.minVersion; version <= codec.maxVersion; version++) {
        for (let i = 0; i < ROUNDS_PER_VERSION; i++) {
          try {
            roundTrip(codec, version, rv);
          } catch (e) {
            throw new Error(`${codec.name} v${version} round ${i} (seed ${SEED}): ${(e as Error).message}`, {
              cause: e,
            });
          }
        }
      }
    });
  }

  it("rejects versions outside the generated range", () => {
    const r = new Reader(Buffer.alloc(64));
    assert.throws(() => messages.ProduceRequest.decode(r, 14), DecodeError);
    assert.throws(() => messages.ProduceRequest.decode(r, -1), DecodeError);
    assert.throws(() => messages.ProduceRequest.encode(new Writer(), {}, 99), EncodeError);
  });

  it("refuses a non-default value in a version that lacks a non-ignorable field", () => {
    // TransactionalId exists from Produce v3; Kafka refuses to silently drop it.
    assert.throws(() => messages.ProduceRequest.encode(new Writer(), { transactionalId: "tx" }, 2), EncodeError);
    messages.ProduceRequest.encode(new Writer(), { transactionalId: null }, 2);
    // An ignorable field is dropped quietly (ThrottleTimeMs is ignorable in Produce responses).
    messages.ProduceResponse.encode(new Writer(), { throttleTimeMs: 5 }, 0);
  });

  it("refuses null where the version does not allow it", () => {
    assert.throws(
      () => messages.MetadataRequest.encode(new Writer(), { topics: null }, 0),
      (e: unknown) => e instanceof EncodeError && e.field === "MetadataRequest.Topics",
    );
    messages.MetadataRequest.encode(new Writer(), { topics: null }, 1);
  });

  it("fills absent fields with the spec's defaults", () => {
    const w = new Writer();
    messages.FetchRequest.encode(w, { replicaId: -1, topics: [] }, 3);
    const decoded = messages.FetchRequest.decode(new Reader(w.toBuffer()), 3);
    assert.equal(decoded.isolationLevel, 0);
    assert.equal(decoded.sessionEpoch, -1);
    assert.equal(decoded.rackId, "");
    const meta = messages.MetadataResponse.decode(new Reader(encodeMetadataV0()), 0);
    assert.equal(meta.clusterId, null);
    assert.equal(meta.controllerId, -1);
  });

  it("writes tagged fields only when they differ from the default", () => {
    const base = { responses: [{ topic: "t", partitions: [{ partitionIndex: 0, records: null }] }] };
    const plain = new Writer();
    messages.FetchResponse.encode(plain, base, 12);
    const withLeader = new Writer();
    messages.FetchResponse.encode(
      withLeader,
      {
        responses: [
          {
            topic: "t",
            partitions: [{ partitionIndex: 0, records: null, currentLeader: { leaderId: 3, leaderEpoch: 7 } }],
          },
        ],
      },
      12,
    );
    assert.ok(withLeader.length > plain.length);
    const d = messages.FetchResponse.decode(new Reader(withLeader.toBuffer()), 12);
    assert.deepEqual(
      {
        leaderId: d.responses[0].partitions[0].currentLeader.leaderId,
        leaderEpoch: d.responses[0].partitions[0].currentLeader.leaderEpoch,
      },
      { leaderId: 3, leaderEpoch: 7 },
    );
    const p = messages.FetchResponse.decode(new Reader(plain.toBuffer()), 12).responses[0].partitions[0];
    assert.equal(p.currentLeader.leaderId, -1, "absent tagged struct decodes to its default");
  });
});

function encodeMetadataV0(): Buffer {
  const w = new Writer();
  messages.MetadataResponse.encode(w, { brokers: [], topics: [] }, 0);
  return w.toBuffer();
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}
