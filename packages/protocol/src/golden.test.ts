/**
 * Golden bytes: request frames real clients sent (captured by scripts/golden/capture.ts, listed in
 * test/golden/manifest.json). Every frame must decode completely and re-encode to the same bytes,
 * and what it carries must be what the client was told to send: the records and their codec, the
 * topic configs, the consumer-group subscriptions. A failure here is a codec bug (or a client
 * doing something new worth knowing about), never a reason to edit a fixture.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { type DecodedRequest, decodeRequestFrame, encodeRequestFrame } from "./frames.js";
import {
  type ApiVersionsRequest,
  ConsumerProtocolAssignment,
  ConsumerProtocolSubscription,
  type CreatePartitionsRequest,
  type CreateTopicsRequest,
  type DeleteTopicsRequest,
  type DescribeConfigsRequest,
  type FetchRequest,
  type JoinGroupRequest,
  type ListOffsetsRequest,
  type MetadataRequest,
  type ProduceRequest,
  type SyncGroupRequest,
} from "./messages/index.js";
import type { MessageCodec } from "./primitives/api.js";
import type { Encodable } from "./primitives/generated-support.js";
import { Reader } from "./primitives/reader.js";
import { Writer } from "./primitives/writer.js";
import {
  CompressionType,
  compressionTypeOf,
  type DecodedRecordBatch,
  decodeRecordSet,
  type Record as KafkaRecord,
  MAGIC_V0,
  MAGIC_V1,
  MAGIC_V2,
} from "./records/index.js";

const GOLDEN_DIR = new URL("../test/golden/", import.meta.url);
const CLIENTS = ["kcat", "kafkajs", "confluent-kafka-python", "kafka-python", "sarama"];
/** The timestamp the capture's kcat -Q step asks for. */
const KCAT_QUERY_TIMESTAMP_MS = 1_700_000_000_000n;
const RESOURCE_TYPE_TOPIC = 2;
const CODEC_BY_NAME: Readonly<Record<string, CompressionType>> = {
  none: CompressionType.None,
  gzip: CompressionType.Gzip,
  snappy: CompressionType.Snappy,
  lz4: CompressionType.Lz4,
  zstd: CompressionType.Zstd,
};

// --- the manifest, as scripts/golden/capture.ts writes it -----------------------------------------

interface GivenRecord {
  key: string;
  value: string;
  headers: [string, string][];
}

type StepInput =
  | { kind: "produce"; topic: string; compression: string; records: GivenRecord[] }
  | {
      kind: "createTopics";
      topics: { name: string; numPartitions: number; replicationFactor: number; configs: Record<string, string> }[];
    }
  | { kind: "topic"; topic: string };

interface Step {
  id: string;
  client: string;
  command: string;
  inputs?: StepInput[];
}

interface Fixture {
  file: string;
  client: string;
  clientVersion: string;
  step: string;
  command: string;
  apiKey: number;
  api: string;
  version: number;
  clientId: string | null;
  capturedAt: string;
}

interface Manifest {
  clients: Record<string, string>;
  steps: Step[];
  fixtures: Fixture[];
}

function listFixtureFiles(dir: URL, prefix = ""): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.isDirectory()) return listFixtureFiles(new URL(`${e.name}/`, dir), `${prefix}${e.name}/`);
    return e.name.endsWith(".bin") ? [`${prefix}${e.name}`] : [];
  });
}

const files = listFixtureFiles(GOLDEN_DIR).sort();
const manifestUrl = new URL("manifest.json", GOLDEN_DIR);
const manifest: Manifest = existsSync(manifestUrl)
  ? (JSON.parse(readFileSync(manifestUrl, "utf8")) as Manifest)
  : { clients: {}, steps: [], fixtures: [] };

const frames = new Map<string, Buffer>();
function frameOf(f: Fixture): Buffer {
  let b = frames.get(f.file);
  if (b === undefined) frames.set(f.file, (b = readFileSync(new URL(f.file, GOLDEN_DIR))));
  return b;
}

const decodedFrames = new Map<string, DecodedRequest>();
function decoded(f: Fixture): DecodedRequest {
  let d = decodedFrames.get(f.file);
  if (d === undefined) decodedFrames.set(f.file, (d = decodeRequestFrame(frameOf(f))));
  return d;
}

function bodyOf<T>(f: Fixture): T {
  return decoded(f).body as T;
}

function fixtures(filter: { client?: string; step?: string; apiKey?: number; version?: number }): Fixture[] {
  return manifest.fixtures.filter(
    (f) =>
      (filter.client === undefined || f.client === filter.client) &&
      (filter.step === undefined || f.step === filter.step) &&
      (filter.apiKey === undefined || f.apiKey === filter.apiKey) &&
      (filter.version === undefined || f.version === filter.version),
  );
}

function stepInputs<K extends StepInput["kind"]>(kind: K): { step: Step; input: Extract<StepInput, { kind: K }> }[] {
  return manifest.steps.flatMap((step) =>
    (step.inputs ?? [])
      .filter((i): i is Extract<StepInput, { kind: K }> => i.kind === kind)
      .map((input) => ({ step, input })),
  );
}

/** The topic a step works on (its produce or topic input), for the group and fetch checks. */
function topicOfStep(stepId: string): string | undefined {
  for (const i of manifest.steps.find((s) => s.id === stepId)?.inputs ?? []) {
    if (i.kind === "produce" || i.kind === "topic") return i.topic;
  }
  return undefined;
}

/** Records as comparable strings, order-free: a client may spread them over partitions. */
function normalizeGiven(records: GivenRecord[]): string[] {
  return records.map((r) => JSON.stringify([r.key, r.value, r.headers])).sort();
}

function normalizeDecoded(records: KafkaRecord[]): string[] {
  return records
    .map((r) =>
      JSON.stringify([
        r.key?.toString("utf8") ?? null,
        r.value?.toString("utf8") ?? null,
        r.headers.map((h) => [h.key, h.value?.toString("utf8") ?? null]),
      ]),
    )
    .sort();
}

/** Every batch a Produce request carries for `topic`. */
function producedBatches(f: Fixture, topic: string): DecodedRecordBatch[] {
  return bodyOf<ProduceRequest>(f)
    .topicData.filter((t) => t.name === topic)
    .flatMap((t) => t.partitionData.flatMap((p) => (p.records === null ? [] : decodeRecordSet(p.records))));
}

/**
 * Embedded consumer-protocol data (JoinGroup metadata, SyncGroup assignment): an int16 version,
 * then the struct. Decodes it and checks it re-encodes to the same bytes.
 */
function decodeEmbedded<T>(codec: MessageCodec<T>, bytes: Buffer): T {
  const r = new Reader(bytes);
  const version = r.readInt16(`${codec.name}.version`);
  assert.ok(version >= codec.minVersion && version <= codec.maxVersion, `${codec.name} version ${version}`);
  const value = codec.decode(r, version);
  assert.equal(r.remaining, 0, `${codec.name} v${version} has ${r.remaining} bytes left over`);
  const w = new Writer();
  w.writeInt16(version);
  codec.encode(w, value as Encodable<T>, version);
  assert.deepEqual(w.toBuffer(), bytes, `${codec.name} v${version} re-encodes to different bytes`);
  return value;
}

/** "kcat 1.7.1 (librdkafka 2.0.2)" -> "2.0.2" */
function librdkafkaVersion(client: string): string {
  const v = /librdkafka (\S+?)[,)]/.exec(manifest.clients[client] ?? "")?.[1];
  assert.ok(v, `no librdkafka version in the manifest for ${client}`);
  return v;
}

// --- the tests ------------------------------------------------------------------------------------

describe("golden request bytes from real clients", () => {
  it("has fixtures, from every client, each listed once in the manifest", () => {
    assert.ok(files.length > 0, `no fixtures under ${GOLDEN_DIR.pathname}: run scripts/golden/capture.ts`);
    assert.deepEqual(manifest.fixtures.map((f) => f.file).sort(), files, "manifest.json and the .bin files disagree");
    for (const client of CLIENTS) {
      assert.ok(manifest.clients[client], `manifest has no version for ${client}`);
      assert.ok(fixtures({ client }).length > 0, `no fixtures from ${client}`);
    }
    for (const f of manifest.fixtures) {
      assert.equal(f.clientVersion, manifest.clients[f.client], `${f.file}: client version`);
      assert.ok(
        manifest.steps.some((s) => s.id === f.step && s.command === f.command),
        `${f.file}: unknown step`,
      );
      const name = `${String(f.apiKey).padStart(2, "0")}-`;
      assert.ok(f.file.startsWith(`${f.client}/${name}`) && f.file.includes(`-v${f.version}`), `${f.file}: name`);
    }
  });

  describe("every frame decodes completely and re-encodes to the same bytes", () => {
    for (const f of manifest.fixtures) {
      it(`${f.file} (${f.api} v${f.version}, ${f.clientVersion})`, () => {
        const frame = frameOf(f);
        const d = decoded(f);
        assert.equal(d.trailingBytes, 0, "bytes left after the body");
        assert.equal(d.header.apiKey, f.apiKey);
        assert.equal(d.header.apiVersion, f.version);
        assert.equal(d.api.name, f.api);
        assert.equal(d.header.clientId, f.clientId);
        const again = encodeRequestFrame(
          d.api,
          d.header.apiVersion,
          d.header.correlationId,
          d.header.clientId,
          d.body as Encodable<unknown>,
        );
        assert.equal(again.readInt32BE(0), frame.length, "size prefix");
        assert.deepEqual(again.subarray(4), frame);
      });
    }
  });

  describe("Produce: the record batches hold exactly what the client was given", () => {
    for (const { step, input } of stepInputs("produce")) {
      it(`${step.id}: ${input.records.length} records to ${input.topic}, ${input.compression}`, () => {
        const produces = fixtures({ step: step.id, apiKey: 0 });
        assert.ok(produces.length > 0, "no Produce fixture");
        const batches = produces.flatMap((f) => producedBatches(f, input.topic));
        assert.ok(batches.length > 0, `no batches for ${input.topic}`);
        for (const b of batches) {
          assert.equal(compressionTypeOf(b.header.attributes), CODEC_BY_NAME[input.compression], "codec");
          assert.equal(b.header.recordCount, b.records.length);
        }
        assert.deepEqual(normalizeDecoded(batches.flatMap((b) => b.records)), normalizeGiven(input.records));
      });
    }

    it("each Produce version carries the magic Kafka requires: v0-1 magic 0, v2 magic 1, v3+ magic 2", () => {
      const produces = fixtures({ apiKey: 0 });
      assert.ok(produces.length > 0);
      for (const f of produces) {
        const want = f.version <= 1 ? MAGIC_V0 : f.version === 2 ? MAGIC_V1 : MAGIC_V2;
        for (const t of bodyOf<ProduceRequest>(f).topicData) {
          for (const p of t.partitionData) {
            for (const b of p.records === null ? [] : decodeRecordSet(p.records)) {
              assert.equal(b.header.magic, want, `${f.file} ${t.name}[${p.index}]`);
            }
          }
        }
      }
    });

    it("sarama's default (Kafka 0.8.2) sends legacy magic-0 message sets, which decode", () => {
      const legacy = fixtures({ client: "sarama", apiKey: 0 }).flatMap((f) =>
        bodyOf<ProduceRequest>(f).topicData.flatMap((t) =>
          t.partitionData.flatMap((p) => (p.records === null ? [] : decodeRecordSet(p.records))),
        ),
      );
      assert.ok(legacy.length > 0);
      for (const b of legacy) {
        assert.equal(b.header.magic, MAGIC_V0);
        for (const r of b.records) {
          assert.equal(r.timestamp, -1n, "magic 0 has no timestamp");
          assert.deepEqual(r.headers, []);
        }
      }
    });
  });

  describe("librdkafka", () => {
    it("kcat's ApiVersions v3 names the client software: librdkafka and its version", () => {
      const [f] = fixtures({ client: "kcat", apiKey: 18, version: 3 });
      assert.ok(f, "no ApiVersions v3 from kcat");
      const body = bodyOf<ApiVersionsRequest>(f);
      assert.equal(body.clientSoftwareName, "librdkafka");
      assert.equal(body.clientSoftwareVersion, librdkafkaVersion("kcat"));
    });

    it("confluent-kafka-python's ApiVersions v3 names itself and the librdkafka under it", () => {
      const [f] = fixtures({ client: "confluent-kafka-python", apiKey: 18, version: 3 });
      assert.ok(f, "no ApiVersions v3 from confluent-kafka-python");
      const body = bodyOf<ApiVersionsRequest>(f);
      const pythonVersion = /^confluent-kafka-python (\S+)/.exec(manifest.clients["confluent-kafka-python"])?.[1];
      assert.equal(body.clientSoftwareName, "confluent-kafka-python");
      assert.equal(
        body.clientSoftwareVersion,
        `${pythonVersion}-rdkafka-${librdkafkaVersion("confluent-kafka-python")}`,
      );
    });

    it("kcat -P asks Metadata for the topic it produces to", () => {
      for (const { step, input } of stepInputs("produce").filter((s) => s.step.client === "kcat")) {
        const names = fixtures({ step: step.id, apiKey: 3 }).flatMap((f) =>
          (bodyOf<MetadataRequest>(f).topics ?? []).map((t) => t.name),
        );
        assert.ok(names.includes(input.topic), `${step.id}: Metadata asked for ${names.join(", ")}`);
      }
    });

    it("kcat -L asks Metadata for every topic (a null topic list)", () => {
      const lists = fixtures({ step: "kcat-list", apiKey: 3 });
      assert.ok(lists.length > 0);
      assert.ok(lists.some((f) => bodyOf<MetadataRequest>(f).topics === null));
    });

    it("kcat -Q asks ListOffsets for the offset of its timestamp", () => {
      const queries = fixtures({ step: "kcat-query-offsets", apiKey: 2 });
      assert.ok(queries.length > 0);
      const partitions = queries.flatMap((f) => bodyOf<ListOffsetsRequest>(f).topics.flatMap((t) => t.partitions));
      assert.deepEqual(
        partitions.map((p) => [p.partitionIndex, p.timestamp]),
        [[0, KCAT_QUERY_TIMESTAMP_MS]],
      );
    });
  });

  describe("KafkaJS admin", () => {
    const [{ step, input } = { step: undefined, input: undefined }] = stepInputs("createTopics");
    const topic = input?.topics[0];
    const one = <T>(apiKey: number): T => {
      const found = fixtures({ step: step?.id, apiKey });
      assert.equal(found.length, 1, `one fixture of API ${apiKey} from ${step?.id}`);
      return bodyOf<T>(found[0]);
    };

    it("CreateTopics carries the partitions, replication factor and configs it was given", () => {
      assert.ok(topic, "no createTopics step in the manifest");
      const body = one<CreateTopicsRequest>(19);
      assert.equal(body.topics.length, 1);
      const [t] = body.topics;
      assert.equal(t.name, topic.name);
      assert.equal(t.numPartitions, topic.numPartitions);
      assert.equal(t.replicationFactor, topic.replicationFactor);
      assert.deepEqual(Object.fromEntries(t.configs.map((c) => [c.name, c.value])), topic.configs);
    });

    it("CreatePartitions, DescribeConfigs and DeleteTopics name that topic", () => {
      assert.ok(topic);
      const create = one<CreatePartitionsRequest>(37);
      assert.deepEqual(
        create.topics.map((t) => [t.name, t.count]),
        [[topic.name, topic.numPartitions + 1]],
      );
      const describe = one<DescribeConfigsRequest>(32);
      assert.deepEqual(
        describe.resources.map((r) => [r.resourceType, r.resourceName, r.configurationKeys]),
        [[RESOURCE_TYPE_TOPIC, topic.name, Object.keys(topic.configs)]],
      );
      const del = one<DeleteTopicsRequest>(20);
      assert.deepEqual([...del.topicNames, ...del.topics.map((t) => t.name)], [topic.name]);
    });
  });

  describe("consumers", () => {
    it("every Fetch asks for the topic its step consumes", () => {
      for (const f of fixtures({ apiKey: 1 })) {
        const topic = topicOfStep(f.step);
        assert.ok(topic, `${f.file}: step ${f.step} names no topic`);
        const topics = bodyOf<FetchRequest>(f).topics.map((t) => t.topic);
        assert.ok(topics.length > 0 && topics.every((t) => t === topic), `${f.file}: fetches ${topics.join(", ")}`);
      }
    });

    it("JoinGroup subscriptions decode, re-encode, and name the consumed topic", () => {
      const joins = fixtures({ apiKey: 11 });
      assert.deepEqual([...new Set(joins.map((f) => f.client))].sort(), ["kafka-python", "kafkajs", "kcat"]);
      for (const f of joins) {
        const body = bodyOf<JoinGroupRequest>(f);
        assert.equal(body.protocolType, "consumer", f.file);
        assert.ok(body.protocols.length > 0, f.file);
        for (const p of body.protocols) {
          const subscription = decodeEmbedded(ConsumerProtocolSubscription, p.metadata);
          assert.deepEqual(subscription.topics, [topicOfStep(f.step)], `${f.file} ${p.name}`);
        }
      }
    });

    it("the leader's SyncGroup assignments decode, re-encode, and give out the consumed topic", () => {
      const syncs = fixtures({ apiKey: 14 });
      assert.ok(syncs.length > 0);
      for (const f of syncs) {
        const body = bodyOf<SyncGroupRequest>(f);
        assert.equal(body.assignments.length, 1, `${f.file}: one member, the leader`);
        const assignment = decodeEmbedded(ConsumerProtocolAssignment, body.assignments[0].assignment);
        assert.deepEqual(
          assignment.assignedPartitions.map((tp) => [tp.topic, [...tp.partitions].sort()]),
          [[topicOfStep(f.step), [0, 1]]],
          f.file,
        );
      }
    });
  });
});
