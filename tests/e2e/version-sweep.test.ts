/**
 * Every advertised (API, version) answers a well-formed request without closing the connection
 * or reporting an error, against a real broker process. Requests come from @samsa/protocol, so
 * this is not interoperability evidence (api-coverage.test.ts is): it catches handlers that build
 * a response the codec cannot write at some version — e.g. a field set that the version lacks,
 * which closed the connection of KafkaJS's DescribeConfigs v2, sarama's ListOffsets v0 and
 * kafka-python's FindCoordinator v0 until fixed — including versions no installable client sends.
 *
 * The group APIs need a member's state (a member id, a generation), so they are swept as one
 * member's life in a fresh group per round, each API at its r-th version (or its last) in round
 * r, and their answers are checked against what the member did — errors included (a new member
 * on JoinGroup v4+ is told MEMBER_ID_REQUIRED, a wrong generation ILLEGAL_GENERATION).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  AddOffsetsToTxnApi,
  AddPartitionsToTxnApi,
  AlterConfigsApi,
  type ApiDescriptor,
  ApiVersionsApi,
  ConsumerProtocolAssignment,
  ConsumerProtocolSubscription,
  CreatePartitionsApi,
  CreateTopicsApi,
  DeleteGroupsApi,
  DeleteRecordsApi,
  DeleteTopicsApi,
  DescribeClusterApi,
  DescribeConfigsApi,
  DescribeGroupsApi,
  DescribeLogDirsApi,
  DescribeTransactionsApi,
  EndTxnApi,
  ErrorCode,
  encodeMessageSet,
  encodeRecordBatch,
  FetchApi,
  type FieldSchema,
  FindCoordinatorApi,
  HeartbeatApi,
  IncrementalAlterConfigsApi,
  InitProducerIdApi,
  JoinGroupApi,
  LeaveGroupApi,
  ListGroupsApi,
  ListOffsetsApi,
  ListTransactionsApi,
  MetadataApi,
  OffsetCommitApi,
  OffsetDeleteApi,
  OffsetFetchApi,
  OffsetForLeaderEpochApi,
  ProduceApi,
  SyncGroupApi,
  TxnOffsetCommitApi,
  Writer,
} from "@samsa/protocol";
import { HANDLERS } from "../../packages/broker/src/handlers/registry.js";
import { BrokerProcess } from "./support/broker-process.js";
import { RawConnection } from "./support/raw-client.js";

const TOPIC = "sweep";

let broker: BrokerProcess;
let c: RawConnection;
let topicId = "";

before(async () => {
  // No wait for more members before a new group's first rebalance: each group round is a new group.
  broker = await BrokerProcess.start({ set: ["group.initial.rebalance.delay.ms=0"] });
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
    case DeleteRecordsApi.apiKey:
      return { topics: [{ name: TOPIC, partitions: [{ partitionIndex: 0, offset: 0n }] }], timeoutMs: 5000 };
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
    case InitProducerIdApi.apiKey:
      // An idempotent producer; v3+ as a KIP-360 retry (Kafka answers with a new producer id).
      return {
        transactionalId: null,
        transactionTimeoutMs: 60_000,
        producerId: version >= 3 ? 1000n + BigInt(version) : -1n,
        producerEpoch: version >= 3 ? 0 : -1,
      };
    default:
      throw new Error(`no request body for API ${apiKey}: add one to the sweep`);
  }
}

/** The group APIs, swept by the group rounds below rather than one request at a time. */
const GROUP_APIS = [
  OffsetCommitApi,
  OffsetFetchApi,
  JoinGroupApi,
  HeartbeatApi,
  LeaveGroupApi,
  SyncGroupApi,
  DescribeGroupsApi,
  ListGroupsApi,
  DeleteGroupsApi,
  OffsetDeleteApi,
] as const;
const GROUP_API_KEYS = new Set<number>(GROUP_APIS.map((a) => a.apiKey));
/** The transaction APIs need a producer and an open transaction: swept by the transaction rounds below. */
const TXN_APIS = [
  AddPartitionsToTxnApi,
  AddOffsetsToTxnApi,
  EndTxnApi,
  TxnOffsetCommitApi,
  DescribeTransactionsApi,
  ListTransactionsApi,
] as const;
for (const api of TXN_APIS) GROUP_API_KEYS.add(api.apiKey);

describe("every advertised version answers a well-formed request", () => {
  for (const handler of HANDLERS.filter((h) => !GROUP_API_KEYS.has(h.api.apiKey))) {
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

/** A request at one version, its body given with every version's fields (forVersion drops the rest). */
function send<Req, Res>(api: ApiDescriptor<Req, Res>, version: number, value: Record<string, unknown>): Promise<Res> {
  const request = forVersion(api.request.schema, value, version) as Parameters<typeof c.request<Req, Res>>[2];
  return c.request(api, version, request).catch((e: Error) => {
    throw new Error(`${api.name} v${version}: ${e.message}\n${broker.logTail(5)}`);
  });
}

function subscription(...topics: string[]): Buffer {
  const w = new Writer();
  w.writeInt16(0);
  ConsumerProtocolSubscription.encode(w, { topics, userData: null, ownedPartitions: [] }, 0);
  return w.toBuffer();
}

function assignment(topic: string, ...partitions: number[]): Buffer {
  const w = new Writer();
  w.writeInt16(0);
  ConsumerProtocolAssignment.encode(w, { assignedPartitions: [{ topic, partitions }], userData: null }, 0);
  return w.toBuffer();
}

/** Kafka's "authorized operations not asked for" (Integer.MIN_VALUE). */
const AUTHORIZED_OPERATIONS_OMITTED = -2147483648;

describe("group APIs: one member's life in a fresh group, each API at every version it has", () => {
  const ranges = HANDLERS.filter((h) => GROUP_API_KEYS.has(h.api.apiKey) || h.api === FindCoordinatorApi);
  const rounds = Math.max(...ranges.map((h) => h.maxVersion - h.minVersion + 1));
  const versionIn = (api: ApiDescriptor<object, object>, round: number) => {
    const h = ranges.find((x) => x.api.apiKey === api.apiKey)!;
    return Math.min(h.minVersion + round, h.maxVersion);
  };

  for (let round = 0; round < rounds; round++) {
    const v = {
      findCoordinator: versionIn(FindCoordinatorApi, round),
      join: versionIn(JoinGroupApi, round),
      sync: versionIn(SyncGroupApi, round),
      heartbeat: versionIn(HeartbeatApi, round),
      commit: versionIn(OffsetCommitApi, round),
      fetch: versionIn(OffsetFetchApi, round),
      describe: versionIn(DescribeGroupsApi, round),
      list: versionIn(ListGroupsApi, round),
      leave: versionIn(LeaveGroupApi, round),
      deleteGroups: versionIn(DeleteGroupsApi, round),
      offsetDelete: versionIn(OffsetDeleteApi, round),
    };
    const title = Object.entries(v)
      .map(([k, x]) => `${k} v${x}`)
      .join(", ");
    test(`round ${round}: ${title}`, async () => {
      const groupId = `sweep-group-${round}`;
      const metadata = subscription(TOPIC);
      const assigned = assignment(TOPIC, 0);
      const committedOffset = BigInt(500 + round);
      const committedMetadata = `sweep round ${round}`;
      // Only v6+ commits carry a leader epoch; OffsetFetch v5+ gives it back (-1 when none).
      const committedLeaderEpoch = v.commit >= 6 ? 3 : -1;

      const found = await send(FindCoordinatorApi, v.findCoordinator, {
        key: groupId,
        keyType: 0,
        coordinatorKeys: [groupId],
      });
      const coordinator = v.findCoordinator >= 4 ? found.coordinators[0] : found;
      assert.deepEqual([coordinator.errorCode, coordinator.nodeId, coordinator.port], [0, 0, broker.port]);

      const join = (memberId: string) =>
        send(JoinGroupApi, v.join, {
          groupId,
          sessionTimeoutMs: 10_000,
          rebalanceTimeoutMs: 10_000,
          memberId,
          groupInstanceId: null,
          protocolType: "consumer",
          protocols: [{ name: "range", metadata }],
          reason: "sweep",
        });
      let joined = await join("");
      if (v.join >= 4) {
        assert.equal(joined.errorCode, ErrorCode.MEMBER_ID_REQUIRED, `JoinGroup v${v.join}: a new member`);
        assert.ok(joined.memberId.length > 0, `JoinGroup v${v.join}: MEMBER_ID_REQUIRED carries the id`);
        const given = joined.memberId;
        joined = await join(given);
        assert.equal(joined.memberId, given);
      }
      const memberId = joined.memberId;
      const generationId = joined.generationId;
      assert.deepEqual(
        [joined.errorCode, joined.leader, joined.protocolName, generationId >= 1],
        [0, memberId, "range", true],
        `JoinGroup v${v.join}`,
      );
      if (v.join >= 7) assert.equal(joined.protocolType, "consumer", `JoinGroup v${v.join}`);
      if (v.join >= 9) assert.equal(joined.skipAssignment, false, `JoinGroup v${v.join}`);
      assert.deepEqual(
        joined.members.map((m) => [m.memberId, Buffer.from(m.metadata)]),
        [[memberId, metadata]],
        `JoinGroup v${v.join}: the leader gets every member's subscription`,
      );

      const synced = await send(SyncGroupApi, v.sync, {
        groupId,
        generationId,
        memberId,
        groupInstanceId: null,
        protocolType: "consumer",
        protocolName: "range",
        assignments: [{ memberId, assignment: assigned }],
      });
      assert.deepEqual([synced.errorCode, Buffer.from(synced.assignment)], [0, assigned], `SyncGroup v${v.sync}`);
      if (v.sync >= 5) assert.deepEqual([synced.protocolType, synced.protocolName], ["consumer", "range"]);

      const heartbeat = (generation: number) =>
        send(HeartbeatApi, v.heartbeat, { groupId, generationId: generation, memberId, groupInstanceId: null });
      assert.equal((await heartbeat(generationId)).errorCode, 0, `Heartbeat v${v.heartbeat}`);
      assert.equal(
        (await heartbeat(generationId + 1)).errorCode,
        ErrorCode.ILLEGAL_GENERATION,
        `Heartbeat v${v.heartbeat}: a wrong generation`,
      );

      const commit = async (asMember: boolean) => {
        const response = await send(OffsetCommitApi, v.commit, {
          groupId,
          generationIdOrMemberEpoch: asMember ? generationId : -1,
          memberId: asMember ? memberId : "",
          groupInstanceId: null,
          retentionTimeMs: -1n,
          topics: [
            {
              name: TOPIC,
              topicId,
              partitions: [
                { partitionIndex: 0, committedOffset, committedLeaderEpoch, commitTimestamp: -1n, committedMetadata },
              ],
            },
          ],
        });
        assert.deepEqual(
          response.topics.map((t) => [t.name, t.partitions.map((p) => [p.partitionIndex, p.errorCode])]),
          [[TOPIC, [[0, 0]]]],
          `OffsetCommit v${v.commit}`,
        );
      };
      /** The committed offset, leader epoch (v5+) and metadata of partition 0, as the member (v9) or not. */
      const fetchCommitted = async (asMember = false) => {
        const topics = [{ name: TOPIC, topicId, partitionIndexes: [0] }];
        const response = await send(OffsetFetchApi, v.fetch, {
          groupId,
          topics,
          groups: [
            {
              groupId,
              memberId: asMember ? memberId : null,
              memberEpoch: asMember ? generationId : -1,
              topics,
            },
          ],
          requireStable: true,
        });
        const group = v.fetch >= 8 ? response.groups[0] : response;
        if (v.fetch >= 2) assert.equal(group.errorCode, 0, `OffsetFetch v${v.fetch}`);
        const p = group.topics[0].partitions[0];
        assert.equal(p.errorCode, 0, `OffsetFetch v${v.fetch}`);
        return [p.committedOffset, v.fetch >= 5 ? p.committedLeaderEpoch : -1, p.metadata];
      };
      const expected = [committedOffset, v.fetch >= 5 ? committedLeaderEpoch : -1, committedMetadata];
      // v0 carries no generation: Kafka takes it only from a group without members.
      if (v.commit >= 1) {
        await commit(true);
        assert.deepEqual(await fetchCommitted(), expected, `OffsetFetch v${v.fetch} after OffsetCommit v${v.commit}`);
        if (v.fetch >= 9)
          assert.deepEqual(await fetchCommitted(true), expected, `OffsetFetch v${v.fetch} as the member`);
      }

      const describeGroup = async () => {
        const response = await send(DescribeGroupsApi, v.describe, {
          groups: [groupId],
          includeAuthorizedOperations: true,
        });
        assert.equal(response.groups.length, 1);
        return response.groups[0];
      };
      const stable = await describeGroup();
      assert.deepEqual(
        [stable.errorCode, stable.groupId, stable.groupState, stable.protocolType, stable.protocolData],
        [0, groupId, "Stable", "consumer", "range"],
        `DescribeGroups v${v.describe}`,
      );
      assert.deepEqual(
        stable.members.map((m) => [
          m.memberId,
          m.clientId,
          Buffer.from(m.memberMetadata),
          Buffer.from(m.memberAssignment),
        ]),
        [[memberId, "samsa-e2e-raw", metadata, assigned]],
        `DescribeGroups v${v.describe}: the member, its subscription and assignment`,
      );
      if (v.describe >= 3) assert.notEqual(stable.authorizedOperations, AUTHORIZED_OPERATIONS_OMITTED);

      const listed = await send(ListGroupsApi, v.list, { statesFilter: ["Stable"], typesFilter: ["classic"] });
      assert.equal(listed.errorCode, 0, `ListGroups v${v.list}`);
      assert.deepEqual(
        listed.groups
          .filter((g) => g.groupId === groupId)
          .map((g) => [g.protocolType, ...(v.list >= 4 ? [g.groupState] : []), ...(v.list >= 5 ? [g.groupType] : [])]),
        [["consumer", ...(v.list >= 4 ? ["Stable"] : []), ...(v.list >= 5 ? ["classic"] : [])]],
        `ListGroups v${v.list}`,
      );
      if (v.list >= 4) {
        const empties = await send(ListGroupsApi, v.list, { statesFilter: ["Empty"], typesFilter: [] });
        assert.ok(!empties.groups.some((g) => g.groupId === groupId), `ListGroups v${v.list}: the state filter`);
      }

      const offsetDelete = () =>
        send(OffsetDeleteApi, v.offsetDelete, {
          groupId,
          topics: [{ name: TOPIC, partitions: [{ partitionIndex: 0 }] }],
        });
      const refused = await offsetDelete();
      assert.deepEqual(
        [refused.errorCode, refused.topics[0].partitions[0].errorCode],
        [0, ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC],
        `OffsetDelete v${v.offsetDelete}: the member still subscribes to the topic`,
      );

      const leave = () =>
        send(LeaveGroupApi, v.leave, {
          groupId,
          memberId,
          members: [{ memberId, groupInstanceId: null, reason: "sweep" }],
        });
      const left = await leave();
      assert.equal(left.errorCode, 0, `LeaveGroup v${v.leave}`);
      if (v.leave >= 3)
        assert.deepEqual(
          left.members.map((m) => [m.memberId, m.errorCode]),
          [[memberId, 0]],
        );
      const again = await leave();
      if (v.leave >= 3) {
        assert.deepEqual(
          [again.errorCode, again.members.map((m) => [m.memberId, m.errorCode])],
          [0, [[memberId, ErrorCode.UNKNOWN_MEMBER_ID]]],
          `LeaveGroup v${v.leave}: leaving twice`,
        );
      } else {
        assert.equal(again.errorCode, ErrorCode.UNKNOWN_MEMBER_ID, `LeaveGroup v${v.leave}: leaving twice`);
      }
      const empty = await describeGroup();
      assert.deepEqual([empty.errorCode, empty.groupState, empty.members], [0, "Empty", []], "after LeaveGroup");

      if (v.commit === 0) {
        await commit(false);
        assert.deepEqual(await fetchCommitted(), expected, `OffsetFetch v${v.fetch} after OffsetCommit v0`);
      }

      const removed = await offsetDelete();
      assert.deepEqual([removed.errorCode, removed.topics[0].partitions[0].errorCode], [0, 0], "OffsetDelete");
      assert.deepEqual(await fetchCommitted(), [-1n, -1, ""], `OffsetFetch v${v.fetch} after OffsetDelete`);

      const deleted = await send(DeleteGroupsApi, v.deleteGroups, { groupsNames: [groupId] });
      assert.deepEqual(
        deleted.results.map((r) => [r.groupId, r.errorCode]),
        [[groupId, 0]],
        `DeleteGroups v${v.deleteGroups}`,
      );
      const twice = await send(DeleteGroupsApi, v.deleteGroups, { groupsNames: [groupId] });
      assert.deepEqual(
        twice.results.map((r) => r.errorCode),
        [ErrorCode.GROUP_ID_NOT_FOUND],
        "deleting twice",
      );
      const dead = await describeGroup();
      // KIP-1043: v6 answers GROUP_ID_NOT_FOUND for a group that does not exist; before, Dead with no error.
      assert.deepEqual(
        [dead.errorCode, dead.groupState, dead.members],
        [v.describe >= 6 ? ErrorCode.GROUP_ID_NOT_FOUND : 0, "Dead", []],
        `DescribeGroups v${v.describe} after DeleteGroups`,
      );
    });
  }
});

describe("transaction APIs: one transaction per round, each API at its r-th version (or its last)", () => {
  const ranges = HANDLERS.filter((h) => TXN_APIS.some((a) => a.apiKey === h.api.apiKey));
  const rounds = Math.max(...ranges.map((h) => h.maxVersion - h.minVersion + 1));
  const versionIn = (api: ApiDescriptor<object, object>, round: number) => {
    const h = ranges.find((x) => x.api.apiKey === api.apiKey)!;
    return Math.min(h.minVersion + round, h.maxVersion);
  };
  for (let round = 0; round < rounds; round++) {
    const v = {
      addPartitions: versionIn(AddPartitionsToTxnApi, round),
      addOffsets: versionIn(AddOffsetsToTxnApi, round),
      txnOffsetCommit: versionIn(TxnOffsetCommitApi, round),
      endTxn: versionIn(EndTxnApi, round),
      describe: versionIn(DescribeTransactionsApi, round),
      list: versionIn(ListTransactionsApi, round),
    };
    const title = Object.entries(v)
      .map(([k, x]) => `${k} v${x}`)
      .join(", ");
    test(`round ${round}: ${title}`, async () => {
      const transactionalId = `sweep-txn-${round}`;
      const groupId = `sweep-txn-group-${round}`;
      const found = await send(FindCoordinatorApi, 4, { key: "", keyType: 1, coordinatorKeys: [transactionalId] });
      assert.equal(found.coordinators[0]!.errorCode, 0);
      const init = await send(InitProducerIdApi, 4, {
        transactionalId,
        transactionTimeoutMs: 60_000,
        producerId: -1n,
        producerEpoch: -1,
      });
      assert.equal(init.errorCode, 0, "InitProducerId");
      const producer = { producerId: init.producerId, producerEpoch: init.producerEpoch };
      const topics = [{ name: TOPIC, partitions: [0] }];
      // v4+ is the batched form: add, then verify (VerifyOnly) what was added.
      const added = await send(AddPartitionsToTxnApi, v.addPartitions, {
        v3AndBelowTransactionalId: transactionalId,
        v3AndBelowProducerId: producer.producerId,
        v3AndBelowProducerEpoch: producer.producerEpoch,
        v3AndBelowTopics: topics,
        transactions: [{ transactionalId, ...producer, verifyOnly: false, topics }],
      });
      assert.deepEqual(errorsIn(added), [], `AddPartitionsToTxn v${v.addPartitions}`);
      if (v.addPartitions >= 4) {
        const verified = await send(AddPartitionsToTxnApi, v.addPartitions, {
          transactions: [{ transactionalId, ...producer, verifyOnly: true, topics }],
        });
        assert.deepEqual(errorsIn(verified), [], `AddPartitionsToTxn v${v.addPartitions} VerifyOnly`);
        assert.equal(verified.resultsByTransaction[0]!.topicResults[0]!.resultsByPartition[0]!.partitionErrorCode, 0);
      }
      const offsets = await send(AddOffsetsToTxnApi, v.addOffsets, { transactionalId, ...producer, groupId });
      assert.equal(offsets.errorCode, 0, `AddOffsetsToTxn v${v.addOffsets}`);
      const committed = await send(TxnOffsetCommitApi, v.txnOffsetCommit, {
        transactionalId,
        groupId,
        ...producer,
        generationId: -1,
        memberId: "",
        groupInstanceId: null,
        topics: [
          {
            name: TOPIC,
            partitions: [
              { partitionIndex: 0, committedOffset: 7n, committedLeaderEpoch: -1, committedMetadata: "sweep" },
            ],
          },
        ],
      });
      assert.deepEqual(errorsIn(committed), [], `TxnOffsetCommit v${v.txnOffsetCommit}`);
      const described = await send(DescribeTransactionsApi, v.describe, { transactionalIds: [transactionalId] });
      assert.deepEqual(errorsIn(described), [], `DescribeTransactions v${v.describe}`);
      assert.equal(described.transactionStates[0]!.transactionState, "Ongoing");
      const listed = await send(ListTransactionsApi, v.list, {
        stateFilters: ["Ongoing"],
        producerIdFilters: [producer.producerId],
        durationFilter: -1n,
        transactionalIdPattern: "sweep-txn-.*",
      });
      assert.deepEqual(
        [listed.errorCode, listed.transactionStates.map((t) => t.transactionalId)],
        [0, [transactionalId]],
        `ListTransactions v${v.list}`,
      );
      const ended = await send(EndTxnApi, v.endTxn, { transactionalId, ...producer, committed: true });
      assert.equal(ended.errorCode, 0, `EndTxn v${v.endTxn}`);
    });
  }
});
