/**
 * Every advertised (API, version) answers a well-formed request without closing the connection
 * or reporting an error, against a real broker process. Requests come from @samsa/protocol, so
 * this is not interoperability evidence (api-coverage.test.ts is): it catches handlers that build
 * a response the codec cannot write at some version — e.g. a field set that the version lacks,
 * which closed the connection of KafkaJS's DescribeConfigs v2, sarama's ListOffsets v0 and
 * kafka-python's FindCoordinator v0 until fixed — including versions no installable client sends.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  AlterConfigsApi,
  type ApiDescriptor,
  ApiVersionsApi,
  CreatePartitionsApi,
  CreateTopicsApi,
  DeleteTopicsApi,
  DescribeClusterApi,
  DescribeConfigsApi,
  DescribeLogDirsApi,
  encodeMessageSet,
  encodeRecordBatch,
  FetchApi,
  type FieldSchema,
  FindCoordinatorApi,
  IncrementalAlterConfigsApi,
  ListOffsetsApi,
  MetadataApi,
  OffsetForLeaderEpochApi,
  ProduceApi,
} from "@samsa/protocol";
import { HANDLERS } from "../../packages/broker/src/handlers/registry.js";
import { BrokerProcess } from "./support/broker-process.js";
import { RawConnection } from "./support/raw-client.js";

const TOPIC = "sweep";

let broker: BrokerProcess;
let c: RawConnection;
let topicId = "";

before(async () => {
  broker = await BrokerProcess.start();
  c = await RawConnection.connect(broker.port);
  const meta = await c.request(MetadataApi, 12, { topics: [{ name: TOPIC }], allowAutoTopicCreation: true });
  topicId = meta.topics[0].topicId;
});

after(async () => {
  c?.close();
  await broker?.stop();
  await broker?.dispose();
});

/** Whether a field's version set ("3+", "0-5", "6", "0-2, 5-13") holds `version`. */
function inVersions(spec: string, version: number): boolean {
  return spec.split(",").some((part) => {
    const p = part.trim();
    if (p.endsWith("+")) return version >= Number(p.slice(0, -1));
    const [lo, hi] = p.split("-").map(Number);
    return version >= lo && version <= (hi ?? lo);
  });
}

/** Drops the fields a version does not have, so one body describes the request at every version. */
function forVersion(schema: readonly FieldSchema[], value: Record<string, unknown>, version: number): object {
  const out: Record<string, unknown> = {};
  for (const field of schema) {
    if (!(field.name in value) || !inVersions(field.versions, version)) continue;
    const v = value[field.name];
    if (field.fields !== undefined && Array.isArray(v)) {
      out[field.name] = v.map((x) => forVersion(field.fields!, x as Record<string, unknown>, version));
    } else if (field.fields !== undefined && v !== null && typeof v === "object" && !Buffer.isBuffer(v)) {
      out[field.name] = forVersion(field.fields, v as Record<string, unknown>, version);
    } else {
      out[field.name] = v;
    }
  }
  return out;
}

/** Every non-zero errorCode in a decoded response, with its path. */
function errorsIn(value: unknown, path = ""): string[] {
  if (Array.isArray(value)) return value.flatMap((x, i) => errorsIn(x, `${path}[${i}]`));
  if (value === null || typeof value !== "object" || Buffer.isBuffer(value)) return [];
  return Object.entries(value).flatMap(([k, v]) =>
    k === "errorCode" || k === "topicConfigErrorCode"
      ? v === 0
        ? []
        : [`${path}.${k}=${v}`]
      : errorsIn(v, `${path}.${k}`),
  );
}

let created = 0;
/** A request body (all versions' fields) for one API at one version. */
function body(apiKey: number, version: number): Record<string, unknown> {
  const now = BigInt(Date.now());
  switch (apiKey) {
    case ProduceApi.apiKey: {
      const records =
        version <= 2
          ? encodeMessageSet({
              magic: version === 2 ? 1 : 0,
              records: [{ value: Buffer.from(`v${version}`), timestamp: now }],
            })
          : encodeRecordBatch({ records: [{ value: Buffer.from(`v${version}`) }], baseTimestamp: now });
      return {
        transactionalId: null,
        acks: -1,
        timeoutMs: 5000,
        topicData: [{ name: TOPIC, topicId, partitionData: [{ index: 0, records }] }],
      };
    }
    case FetchApi.apiKey:
      return {
        replicaId: -1,
        maxWaitMs: 0,
        minBytes: 0,
        maxBytes: 1 << 20,
        isolationLevel: 0,
        sessionId: 0,
        sessionEpoch: -1,
        topics: [
          {
            topic: TOPIC,
            topicId,
            partitions: [
              {
                partition: 0,
                currentLeaderEpoch: -1,
                fetchOffset: 0n,
                lastFetchedEpoch: -1,
                logStartOffset: -1n,
                partitionMaxBytes: 1 << 20,
              },
            ],
          },
        ],
        forgottenTopicsData: [],
        rackId: "",
      };
    case ListOffsetsApi.apiKey:
      return {
        replicaId: -1,
        isolationLevel: 0,
        topics: [
          {
            name: TOPIC,
            partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -2n, maxNumOffsets: 1 }],
          },
        ],
      };
    case MetadataApi.apiKey:
      return { topics: [{ name: TOPIC }], allowAutoTopicCreation: true, includeTopicAuthorizedOperations: true };
    case FindCoordinatorApi.apiKey:
      return { key: "sweep-group", keyType: 0, coordinatorKeys: ["sweep-group"] };
    case ApiVersionsApi.apiKey:
      return { clientSoftwareName: "samsa-sweep", clientSoftwareVersion: "0" };
    case CreateTopicsApi.apiKey:
      return {
        topics: [
          {
            name: `${TOPIC}-ct-${version}-${++created}`,
            numPartitions: 1,
            replicationFactor: 1,
            assignments: [],
            configs: [{ name: "segment.bytes", value: "1048576" }],
          },
        ],
        timeoutMs: 5000,
        validateOnly: false,
      };
    case DeleteTopicsApi.apiKey:
      return { topicNames: [`${TOPIC}-doomed`], topics: [{ name: `${TOPIC}-doomed` }], timeoutMs: 5000 };
    case OffsetForLeaderEpochApi.apiKey:
      return {
        replicaId: -1,
        topics: [{ topic: TOPIC, partitions: [{ partition: 0, currentLeaderEpoch: -1, leaderEpoch: 0 }] }],
      };
    case DescribeConfigsApi.apiKey:
      return {
        resources: [
          { resourceType: 2, resourceName: TOPIC, configurationKeys: null },
          { resourceType: 4, resourceName: "0", configurationKeys: null },
        ],
        includeSynonyms: true,
        includeDocumentation: true,
      };
    case AlterConfigsApi.apiKey:
      return {
        resources: [
          { resourceType: 2, resourceName: TOPIC, configs: [{ name: "segment.bytes", value: "1048576" }] },
          { resourceType: 4, resourceName: "0", configs: [{ name: "log.flush.interval.messages", value: "1000000" }] },
        ],
        validateOnly: version % 2 === 0,
      };
    case IncrementalAlterConfigsApi.apiKey:
      return {
        resources: [
          {
            resourceType: 2,
            resourceName: TOPIC,
            configs: [
              { name: "flush.messages", configOperation: 0, value: "1000000" },
              { name: "segment.bytes", configOperation: 1, value: null },
            ],
          },
          {
            resourceType: 4,
            resourceName: "",
            configs: [{ name: "log.flush.interval.messages", configOperation: 1, value: null }],
          },
        ],
        validateOnly: false,
      };
    case DescribeLogDirsApi.apiKey:
      return { topics: version % 2 === 0 ? null : [{ topic: TOPIC, partitions: [0] }] };
    case CreatePartitionsApi.apiKey:
      return { topics: [{ name: TOPIC, count: 2 + version, assignments: null }], timeoutMs: 5000, validateOnly: false };
    case DescribeClusterApi.apiKey:
      return { includeClusterAuthorizedOperations: true, endpointType: 1 };
    default:
      throw new Error(`no request body for API ${apiKey}: add one to the sweep`);
  }
}

describe("every advertised version answers a well-formed request", () => {
  for (const handler of HANDLERS) {
    test(`${handler.api.name} v${handler.minVersion}-${handler.maxVersion}`, async () => {
      const api = handler.api as ApiDescriptor<object, object>;
      for (let v = handler.minVersion; v <= handler.maxVersion; v++) {
        if (api.apiKey === DeleteTopicsApi.apiKey) {
          await c.request(MetadataApi, 4, { topics: [{ name: `${TOPIC}-doomed` }], allowAutoTopicCreation: true });
        }
        const request = forVersion(api.request.schema, body(api.apiKey, v), v);
        let response: object;
        try {
          response = await c.request(api, v, request);
        } catch (e) {
          throw new Error(`${api.name} v${v}: ${(e as Error).message}\n${broker.logTail(5)}`);
        }
        assert.deepEqual(errorsIn(response), [], `${api.name} v${v}`);
      }
    });
  }
});
