/**
 * Real clients driven at every request version they implement, so that each version the broker
 * advertises is exercised by someone else's encoder and decoder:
 *
 * - KafkaJS 2.2.4 negotiates the highest version both sides know; its internal Broker picks the
 *   version through a lookup table, which we pin to one version at a time (its request and
 *   response codecs are the ones its producer, consumer and admin use).
 * - @platformatic/kafka 1.35.0 ships one module per (API, version) — the current, flexible
 *   versions KafkaJS predates — each callable on its own connection.
 *
 * Each call must succeed by the client's own parsing; the broker's debug log then shows which
 * (API, version) pairs arrived.
 */
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import * as platformatic from "@platformatic/kafka";

const require = createRequire(import.meta.url);

// KafkaJS internals are untyped CommonJS; these are the modules its own Cluster wires together.
const KafkaJsBroker = require("kafkajs/src/broker");
const KafkaJsConnectionPool = require("kafkajs/src/network/connectionPool");
const kafkaJsSocketFactory = require("kafkajs/src/network/socketFactory");
const { createLogger, LEVELS } = require("kafkajs/src/loggers");
const { requests: kafkaJsRequests, lookup: kafkaJsLookup } = require("kafkajs/src/protocol/requests");
const kafkaJsApiKeys = require("kafkajs/src/protocol/requests/apiKeys");
const { Types: KafkaJsCompression } = require("kafkajs/src/protocol/message/compression");

export interface SweepStep {
  api: string;
  version: number;
}

/** The versions KafkaJS 2.2.4 implements, per API it can send (from its request modules). */
function kafkaJsVersions(name: string): number[] {
  return (kafkaJsRequests[name].versions as string[]).map(Number).sort((a, b) => a - b);
}

/** Runs KafkaJS at every version of Produce, Fetch, ListOffsets, Metadata, ApiVersions, FindCoordinator and the admin APIs. */
export async function sweepKafkaJs(port: number, topicPrefix: string): Promise<SweepStep[]> {
  const logger = createLogger({ level: LEVELS.NOTHING, logCreator: () => () => {} });
  const pool = new KafkaJsConnectionPool({
    host: "127.0.0.1",
    port,
    logger,
    socketFactory: kafkaJsSocketFactory(),
    clientId: "kafkajs-version-sweep",
    requestTimeout: 15_000,
    connectionTimeout: 5_000,
  });
  const broker = new KafkaJsBroker({ connectionPool: pool, logger, allowAutoTopicCreation: true });
  const steps: SweepStep[] = [];
  try {
    await broker.connect(); // ApiVersions at KafkaJS's best version, which fills broker.versions
    const advertised = broker.versions as Record<number, { minVersion: number; maxVersion: number }>;
    const pin = (apiKey: number, version: number) => {
      broker.lookupRequest = kafkaJsLookup({ ...advertised, [apiKey]: { minVersion: version, maxVersion: version } });
    };
    const topic = `${topicPrefix}-kafkajs`;

    for (const v of kafkaJsVersions("ApiVersions")) {
      const response = await pool.send(kafkaJsRequests.ApiVersions.protocol({ version: v })());
      assert.equal(response.errorCode, 0);
      assert.ok(response.apiVersions.length > 0);
      steps.push({ api: "ApiVersions", version: v });
    }
    for (const v of kafkaJsVersions("Metadata")) {
      pin(kafkaJsApiKeys.Metadata, v);
      const response = await broker.metadata([topic]);
      assert.equal(response.topicMetadata[0].topic, topic, `Metadata v${v}`);
      steps.push({ api: "Metadata", version: v });
    }
    let produced = 0;
    for (const v of kafkaJsVersions("Produce")) {
      pin(kafkaJsApiKeys.Produce, v);
      const response = await broker.produce({
        acks: -1,
        timeout: 5000,
        compression: v % 2 === 0 ? KafkaJsCompression.None : KafkaJsCompression.GZIP,
        topicData: [
          {
            topic,
            partitions: [
              {
                partition: 0,
                messages: [
                  { key: `k${v}`, value: `produce v${v}`, headers: v >= 3 ? { v: String(v) } : undefined },
                  { key: null, value: `second v${v}` },
                ],
              },
            ],
          },
        ],
      });
      const partition = response.topics[0].partitions[0];
      assert.equal(partition.errorCode, 0, `Produce v${v}`);
      assert.equal(String(partition.baseOffset ?? partition.offset), String(produced), `Produce v${v} base offset`);
      produced += 2;
      steps.push({ api: "Produce", version: v });
    }
    for (const v of kafkaJsVersions("Fetch")) {
      pin(kafkaJsApiKeys.Fetch, v);
      const response = await broker.fetch({
        maxWaitTime: 50,
        minBytes: 1,
        maxBytes: 1 << 20,
        topics: [{ topic, partitions: [{ partition: 0, fetchOffset: "0", maxBytes: 1 << 20 }] }],
      });
      const partition = response.responses[0].partitions[0];
      assert.equal(partition.errorCode, 0, `Fetch v${v}`);
      const values = partition.messages.map((m: { value: Buffer }) => m.value.toString());
      assert.equal(values.length, produced, `Fetch v${v} returns every record (down-converted below v4)`);
      assert.equal(values[0], "produce v0");
      assert.equal(String(partition.highWatermark), String(produced));
      steps.push({ api: "Fetch", version: v });
    }
    for (const v of kafkaJsVersions("ListOffsets")) {
      pin(kafkaJsApiKeys.ListOffsets, v);
      const response = await broker.listOffsets({
        topics: [{ topic, partitions: [{ partition: 0, timestamp: -1 }] }],
      });
      const partition = response.responses[0].partitions[0];
      assert.equal(String(partition.offset ?? partition.offsets?.[0]), String(produced), `ListOffsets v${v}`);
      steps.push({ api: "ListOffsets", version: v });
    }
    for (const v of kafkaJsVersions("GroupCoordinator")) {
      pin(kafkaJsApiKeys.GroupCoordinator, v);
      const response = await broker.findGroupCoordinator({ groupId: "sweep-group", coordinatorType: 0 });
      assert.equal(response.coordinator.nodeId, 0, `FindCoordinator v${v}`);
      steps.push({ api: "FindCoordinator", version: v });
    }
    for (const v of kafkaJsVersions("CreateTopics")) {
      pin(kafkaJsApiKeys.CreateTopics, v);
      await broker.createTopics({
        topics: [{ topic: `${topic}-ct${v}`, numPartitions: 1, replicationFactor: 1 }],
        timeout: 5000,
      });
      steps.push({ api: "CreateTopics", version: v });
    }
    for (const v of kafkaJsVersions("CreatePartitions")) {
      pin(kafkaJsApiKeys.CreatePartitions, v);
      await broker.createPartitions({ topicPartitions: [{ topic: `${topic}-ct0`, count: 2 + v }], timeout: 5000 });
      steps.push({ api: "CreatePartitions", version: v });
    }
    for (const v of kafkaJsVersions("DescribeConfigs")) {
      pin(kafkaJsApiKeys.DescribeConfigs, v);
      const response = await broker.describeConfigs({
        resources: [{ type: 2, name: topic }],
        includeSynonyms: v >= 1,
      });
      assert.equal(response.resources[0].errorCode, 0, `DescribeConfigs v${v}`);
      assert.ok(
        response.resources[0].configEntries.some((e: { configName: string }) => e.configName === "segment.bytes"),
      );
      steps.push({ api: "DescribeConfigs", version: v });
    }
    for (const v of kafkaJsVersions("AlterConfigs")) {
      pin(kafkaJsApiKeys.AlterConfigs, v);
      const response = await broker.alterConfigs({
        resources: [{ type: 2, name: topic, configEntries: [{ name: "segment.bytes", value: String(1048576 + v) }] }],
        validateOnly: false,
      });
      assert.equal(response.resources[0].errorCode, 0, `AlterConfigs v${v}`);
      steps.push({ api: "AlterConfigs", version: v });
    }
    for (const v of kafkaJsVersions("DeleteTopics")) {
      pin(kafkaJsApiKeys.DeleteTopics, v);
      await broker.deleteTopics({ topics: [`${topic}-ct${v}`], timeout: 5000 });
      steps.push({ api: "DeleteTopics", version: v });
    }
  } finally {
    await broker.disconnect();
  }
  return steps;
}

// biome-ignore lint/suspicious/noExplicitAny: responses are untyped JavaScript objects, read field by field under assertions.
type PlatformaticApi = ((...args: unknown[]) => void) & { async: (...args: unknown[]) => Promise<any> };

/** The API function of one @platformatic/kafka module, e.g. ("produce", 9). */
function platformaticApi(name: string, version: number): PlatformaticApi | undefined {
  const mod = (platformatic as unknown as Record<string, { api?: PlatformaticApi } | undefined>)[`${name}V${version}`];
  return mod?.api;
}

/** API keys of the modules swept below. */
const PLATFORMATIC_API_KEYS: Record<string, number> = {
  produce: 0,
  fetch: 1,
  listOffsets: 2,
  metadata: 3,
  findCoordinator: 10,
  apiVersions: 18,
  createTopics: 19,
  deleteTopics: 20,
  offsetForLeaderEpoch: 23,
  describeConfigs: 32,
  alterConfigs: 33,
  describeLogDirs: 35,
  createPartitions: 37,
  incrementalAlterConfigs: 44,
  describeCluster: 60,
};

/** Runs @platformatic/kafka's module for each version of each API the broker serves. */
export async function sweepPlatformatic(port: number, topicPrefix: string): Promise<SweepStep[]> {
  const connection = new platformatic.Connection("platformatic-version-sweep");
  await new Promise<void>((resolve, reject) =>
    connection.connect("127.0.0.1", port, (e?: Error | null) => (e ? reject(e) : resolve())),
  );
  const steps: SweepStep[] = [];
  const call = async (name: string, version: number, ...args: unknown[]) => {
    try {
      return await platformaticApi(name, version)!.async(connection, ...args);
    } catch (e) {
      throw new Error(`@platformatic/kafka ${name} v${version}: ${(e as Error).message}`, { cause: e });
    }
  };
  const topic = `${topicPrefix}-platformatic`;
  // The versions @platformatic/kafka implements that the broker advertises, per API.
  const advertised = new Map<number, { minVersion: number; maxVersion: number }>();
  const platformaticVersions = (name: string): number[] => {
    const range = advertised.get(PLATFORMATIC_API_KEYS[name]);
    const versions: number[] = [];
    for (let v = range?.minVersion ?? 0; v <= (range?.maxVersion ?? -1); v++) {
      if (platformaticApi(name, v) !== undefined) versions.push(v);
    }
    return versions;
  };
  try {
    const first = await call("apiVersions", 3, "platformatic-sweep", "1.35.0");
    for (const k of first.apiKeys as { apiKey: number; minVersion: number; maxVersion: number }[]) {
      advertised.set(k.apiKey, k);
    }
    for (const v of platformaticVersions("apiVersions")) {
      const response = await call("apiVersions", v, "platformatic-sweep", "1.35.0");
      assert.equal(response.errorCode, 0);
      steps.push({ api: "ApiVersions", version: v });
    }
    let topicId = "";
    for (const v of platformaticVersions("metadata")) {
      const response = await call("metadata", v, [topic], true, false);
      assert.equal(response.topics[0].name, topic, `Metadata v${v}`);
      topicId = response.topics[0].topicId;
      steps.push({ api: "Metadata", version: v });
    }
    let produced = 0;
    for (const v of platformaticVersions("produce")) {
      const messages = [
        { topic, partition: 0, key: Buffer.from(`k${v}`), value: Buffer.from(`produce v${v}`) },
        { topic, partition: 0, key: Buffer.from(`j${v}`), value: Buffer.from(`again v${v}`) },
      ];
      const response = await call("produce", v, -1, 5000, messages, { compression: v % 2 === 0 ? "none" : "gzip" });
      const partition = response.responses[0].partitionResponses[0];
      assert.equal(partition.errorCode, 0, `Produce v${v}`);
      assert.equal(partition.baseOffset, BigInt(produced), `Produce v${v} base offset`);
      produced += messages.length;
      steps.push({ api: "Produce", version: v });
    }
    for (const v of platformaticVersions("fetch")) {
      const response = await call(
        "fetch",
        v,
        50,
        1,
        1 << 20,
        0,
        0,
        -1,
        [
          {
            // v12 names the topic; platformatic writes that name from the topicId property.
            topicId: v <= 12 ? topic : topicId,
            partitions: [
              {
                partition: 0,
                currentLeaderEpoch: -1,
                fetchOffset: 0n,
                lastFetchedEpoch: -1,
                partitionMaxBytes: 1 << 20,
              },
            ],
          },
        ],
        [],
        "",
      );
      const partition = response.responses[0].partitions[0];
      assert.equal(partition.errorCode, 0, `Fetch v${v}`);
      assert.equal(partition.highWatermark, BigInt(produced), `Fetch v${v} high watermark`);
      const records = partition.records.flatMap((batch: { records: unknown[] }) => batch.records);
      assert.equal(records.length, produced, `Fetch v${v} returns every record`);
      steps.push({ api: "Fetch", version: v });
    }
    for (const v of platformaticVersions("listOffsets")) {
      const response = await call("listOffsets", v, -1, 0, [
        { name: topic, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1n }] },
      ]);
      assert.equal(response.topics[0].partitions[0].offset, BigInt(produced), `ListOffsets v${v}`);
      steps.push({ api: "ListOffsets", version: v });
    }
    for (const v of platformaticVersions("offsetForLeaderEpoch")) {
      const response = await call("offsetForLeaderEpoch", v, -1, [
        { name: topic, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, leaderEpoch: 0 }] },
      ]);
      const partition = response.topics[0].partitions[0];
      assert.equal(partition.errorCode, 0, `OffsetForLeaderEpoch v${v}`);
      assert.equal(partition.endOffset, BigInt(produced));
      steps.push({ api: "OffsetForLeaderEpoch", version: v });
    }
    for (const v of platformaticVersions("findCoordinator")) {
      const response = await call("findCoordinator", v, 0, ["sweep-group"]);
      assert.equal(response.coordinators[0].nodeId, 0, `FindCoordinator v${v}`);
      steps.push({ api: "FindCoordinator", version: v });
    }
    for (const v of platformaticVersions("createTopics")) {
      const response = await call(
        "createTopics",
        v,
        [
          {
            name: `${topic}-ct${v}`,
            numPartitions: 1,
            replicationFactor: 1,
            assignments: [],
            configs: [{ name: "segment.bytes", value: "1048576" }],
          },
        ],
        5000,
        false,
      );
      assert.equal(response.topics[0].errorCode, 0, `CreateTopics v${v}`);
      steps.push({ api: "CreateTopics", version: v });
    }
    for (const v of platformaticVersions("createPartitions")) {
      const response = await call("createPartitions", v, [{ name: topic, count: 1 + v, assignments: [] }], 5000, false);
      assert.equal(response.results[0].errorCode, 0, `CreatePartitions v${v}`);
      steps.push({ api: "CreatePartitions", version: v });
    }
    // Its v2 module reads v3's ConfigType and Documentation fields, which a v2 response (Kafka's
    // too) does not have; KafkaJS and kafka-python cover v0-2.
    for (const v of platformaticVersions("describeConfigs").filter((x) => x >= 3)) {
      const response = await call(
        "describeConfigs",
        v,
        [
          { resourceType: 2, resourceName: topic, configurationKeys: ["segment.bytes"] },
          { resourceType: 4, resourceName: "0", configurationKeys: null },
        ],
        true,
        true,
      );
      assert.deepEqual(
        response.results.map((r: { errorCode: number }) => r.errorCode),
        [0, 0],
        `DescribeConfigs v${v}`,
      );
      steps.push({ api: "DescribeConfigs", version: v });
    }
    for (const v of platformaticVersions("alterConfigs")) {
      const response = await call(
        "alterConfigs",
        v,
        [{ resourceType: 2, resourceName: topic, configs: [{ name: "segment.bytes", value: "2097152" }] }],
        false,
      );
      assert.equal(response.responses[0].errorCode, 0, `AlterConfigs v${v}`);
      steps.push({ api: "AlterConfigs", version: v });
    }
    for (const v of platformaticVersions("incrementalAlterConfigs")) {
      const response = await call(
        "incrementalAlterConfigs",
        v,
        [
          {
            resourceType: 2,
            resourceName: topic,
            configs: [
              { name: "flush.messages", configOperation: 0, value: "1000" },
              { name: "segment.bytes", configOperation: 1 },
            ],
          },
        ],
        false,
      );
      assert.equal(response.responses[0].errorCode, 0, `IncrementalAlterConfigs v${v}`);
      steps.push({ api: "IncrementalAlterConfigs", version: v });
    }
    for (const v of platformaticVersions("describeLogDirs")) {
      const response = await call("describeLogDirs", v, [{ name: topic, partitions: [0] }]);
      assert.equal(response.results[0].errorCode, 0, `DescribeLogDirs v${v}`);
      const partition = response.results[0].topics[0].partitions[0];
      assert.ok(partition.partitionSize > 0n, `DescribeLogDirs v${v} partition size`);
      if (v >= 4) assert.ok(response.results[0].totalBytes > 0n, `DescribeLogDirs v${v} total bytes`);
      steps.push({ api: "DescribeLogDirs", version: v });
    }
    for (const v of platformaticVersions("describeCluster")) {
      const response = await call("describeCluster", v, false, 1);
      assert.equal(response.controllerId, 0, `DescribeCluster v${v}`);
      assert.deepEqual(
        response.brokers.map((b: { brokerId: number; port: number }) => [b.brokerId, b.port]),
        [[0, port]],
      );
      steps.push({ api: "DescribeCluster", version: v });
    }
    for (const v of platformaticVersions("deleteTopics")) {
      const response = await call("deleteTopics", v, [{ name: `${topic}-ct7`, topicId: null }], 5000);
      assert.equal(response.responses[0].errorCode, 0, `DeleteTopics v${v}`);
      steps.push({ api: "DeleteTopics", version: v });
    }
  } finally {
    await new Promise<void>((resolve) => connection.close(() => resolve()));
  }
  return steps;
}
