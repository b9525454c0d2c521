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
 * (API, version) pairs arrived. The group APIs need a member's state, so each client drives one
 * member through a fresh group per round, every group API pinned to one of its versions per
 * round, and the answers are checked against what the member did.
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
const KafkaJsAssignerProtocol = require("kafkajs/src/consumer/assignerProtocol");

export interface SweepStep {
  api: string;
  version: number;
}

/** The versions KafkaJS 2.2.4 implements, per API it can send (from its request modules). */
function kafkaJsVersions(name: string): number[] {
  return (kafkaJsRequests[name].versions as string[]).map(Number).sort((a, b) => a - b);
}

/** Runs KafkaJS at every version of Produce, Fetch, ListOffsets, Metadata, ApiVersions, FindCoordinator, the admin and the group APIs. */
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
    await sweepKafkaJsGroups(broker, pool, advertised, topic, steps);
    for (const v of kafkaJsVersions("DeleteRecords")) {
      pin(kafkaJsApiKeys.DeleteRecords, v);
      // Offset 0: the log start offset does not move, the later steps still read from 0.
      await broker.deleteRecords({ topics: [{ topic, partitions: [{ partition: 0, offset: "0" }] }] });
      steps.push({ api: "DeleteRecords", version: v });
    }
    for (const v of kafkaJsVersions("DeleteTopics")) {
      pin(kafkaJsApiKeys.DeleteTopics, v);
      await broker.deleteTopics({ topics: [`${topic}-ct${v}`], timeout: 5000 });
      steps.push({ api: "DeleteTopics", version: v });
    }
    for (const v of kafkaJsVersions("InitProducerId")) {
      // An idempotent producer (no transactional id): a new producer id with epoch 0.
      pin(kafkaJsApiKeys.InitProducerId, v);
      const init = await broker.initProducerId({ transactionTimeout: 30_000 });
      assert.ok(Number(init.producerId) >= 0 && init.producerEpoch === 0, `InitProducerId v${v}`);
      recordStep(steps, "InitProducerId", v);
    }
    await sweepKafkaJsTransactions(broker, advertised, topic, steps);
  } finally {
    await broker.disconnect();
  }
  return steps;
}

/**
 * One committed transaction per round, each transaction API KafkaJS implements (AddPartitionsToTxn,
 * AddOffsetsToTxn, TxnOffsetCommit, EndTxn) pinned to its r-th version, or its last.
 */
async function sweepKafkaJsTransactions(
  // biome-ignore lint/suspicious/noExplicitAny: KafkaJS's Broker is untyped JavaScript.
  broker: any,
  advertised: Record<number, { minVersion: number; maxVersion: number }>,
  topic: string,
  steps: SweepStep[],
): Promise<void> {
  const apis = ["AddPartitionsToTxn", "AddOffsetsToTxn", "TxnOffsetCommit", "EndTxn"] as const;
  const rounds = Math.max(...apis.map((api) => kafkaJsVersions(api).length));
  for (let round = 0; round < rounds; round++) {
    const pinned = { ...advertised };
    const version = {} as Record<(typeof apis)[number], number>;
    for (const api of apis) {
      const versions = kafkaJsVersions(api);
      version[api] = versions[Math.min(round, versions.length - 1)]!;
      pinned[kafkaJsApiKeys[api]] = { minVersion: version[api], maxVersion: version[api] };
      recordStep(steps, api, version[api]);
    }
    broker.lookupRequest = kafkaJsLookup(pinned);
    const transactionalId = `${topic}-txn-${round}`;
    const groupId = `${topic}-txn-group-${round}`;
    const init = await broker.initProducerId({ transactionalId, transactionTimeout: 30_000 });
    const producer = { transactionalId, producerId: init.producerId, producerEpoch: init.producerEpoch };
    const added = await broker.addPartitionsToTxn({ ...producer, topics: [{ topic, partitions: [{ partition: 0 }] }] });
    assert.equal(added.errors[0].partitionErrors[0].errorCode, 0, `AddPartitionsToTxn v${version.AddPartitionsToTxn}`);
    await broker.addOffsetsToTxn({ ...producer, groupId });
    const committed = await broker.txnOffsetCommit({
      ...producer,
      groupId,
      topics: [{ topic, partitions: [{ partition: 0, offset: String(round + 1) }] }],
    });
    assert.equal(committed.topics[0].partitions[0].errorCode, 0, `TxnOffsetCommit v${version.TxnOffsetCommit}`);
    await broker.endTxn({ ...producer, transactionResult: true });
  }
}

/** The consumer protocol's range assignor name; any name works, the broker only matches it across members. */
const ASSIGNOR = "range";
/** Group session and rebalance timeouts: within the broker's group.min/max.session.timeout.ms. */
const SESSION_TIMEOUT_MS = 10_000;

/** The (API, version) pairs a sweep drove, each once. */
function recordStep(steps: SweepStep[], api: string, version: number): void {
  if (!steps.some((s) => s.api === api && s.version === version)) steps.push({ api, version });
}

/**
 * One member's whole life in a fresh group, once per round, every group API pinned to a version
 * per round (round r uses each API's r-th version, or its last): FindCoordinator, JoinGroup
 * (v4+ first answered MEMBER_ID_REQUIRED), SyncGroup with an assignment, Heartbeat (and one with
 * a wrong generation), OffsetCommit, OffsetFetch, DescribeGroups, ListGroups, LeaveGroup,
 * DeleteGroups — each answer checked against what the member did.
 */
async function sweepKafkaJsGroups(
  // biome-ignore lint/suspicious/noExplicitAny: KafkaJS's internal Broker and ConnectionPool are untyped.
  broker: any,
  // biome-ignore lint/suspicious/noExplicitAny: see above.
  pool: any,
  advertised: Record<number, { minVersion: number; maxVersion: number }>,
  topic: string,
  steps: SweepStep[],
): Promise<void> {
  const apis = {
    FindCoordinator: "GroupCoordinator",
    JoinGroup: "JoinGroup",
    SyncGroup: "SyncGroup",
    Heartbeat: "Heartbeat",
    OffsetCommit: "OffsetCommit",
    OffsetFetch: "OffsetFetch",
    DescribeGroups: "DescribeGroups",
    ListGroups: "ListGroups",
    LeaveGroup: "LeaveGroup",
    DeleteGroups: "DeleteGroups",
  } as const;
  type Api = keyof typeof apis;
  const rounds = Math.max(...Object.values(apis).map((name) => kafkaJsVersions(name).length));
  const metadata = KafkaJsAssignerProtocol.MemberMetadata.encode({ version: 0, topics: [topic] });
  const assignment = KafkaJsAssignerProtocol.MemberAssignment.encode({ version: 0, assignment: { [topic]: [0] } });

  for (let round = 0; round < rounds; round++) {
    const version = {} as Record<Api, number>;
    const pins: Record<number, { minVersion: number; maxVersion: number }> = { ...advertised };
    for (const [api, name] of Object.entries(apis) as [Api, string][]) {
      const versions = kafkaJsVersions(name);
      version[api] = versions[Math.min(round, versions.length - 1)];
      pins[kafkaJsApiKeys[name]] = { minVersion: version[api], maxVersion: version[api] };
      recordStep(steps, api, version[api]);
    }
    broker.lookupRequest = kafkaJsLookup(pins);
    const at = (api: Api) => `${api} v${version[api]}`;
    const groupId = `${topic}-group-${round}`;
    const offset = String(100 + round);
    const commitMetadata = `kafkajs round ${round}`;

    const coordinator = await broker.findGroupCoordinator({ groupId, coordinatorType: 0 });
    assert.equal(coordinator.coordinator.nodeId, 0, at("FindCoordinator"));

    const join = {
      groupId,
      sessionTimeout: SESSION_TIMEOUT_MS,
      rebalanceTimeout: SESSION_TIMEOUT_MS,
      protocolType: "consumer",
      groupProtocols: [{ name: ASSIGNOR, metadata }],
    };
    let memberId = "";
    if (version.JoinGroup >= 4) {
      // KIP-394: a member without an id is given one and must join again with it.
      const request = kafkaJsRequests.JoinGroup.protocol({ version: version.JoinGroup })({ ...join, memberId: "" });
      await assert.rejects(
        pool.send(request),
        (e: { name: string; memberId?: string }) => {
          assert.equal(e.name, "KafkaJSMemberIdRequired", at("JoinGroup"));
          memberId = e.memberId ?? "";
          return true;
        },
        `${at("JoinGroup")}: a new member gets MEMBER_ID_REQUIRED`,
      );
      assert.ok(memberId.length > 0, `${at("JoinGroup")}: MEMBER_ID_REQUIRED carries the member id`);
    }
    const joined = await broker.joinGroup({ ...join, memberId });
    if (memberId !== "") assert.equal(joined.memberId, memberId, `${at("JoinGroup")}: joins with the given id`);
    memberId = joined.memberId;
    assert.ok(memberId.length > 0, at("JoinGroup"));
    assert.equal(joined.leaderId, memberId, `${at("JoinGroup")}: the only member leads`);
    assert.equal(joined.groupProtocol, ASSIGNOR, at("JoinGroup"));
    assert.ok(joined.generationId >= 1, `${at("JoinGroup")}: generation ${joined.generationId}`);
    assert.deepEqual(
      joined.members.map((m: { memberId: string; memberMetadata: Buffer }) => [
        m.memberId,
        KafkaJsAssignerProtocol.MemberMetadata.decode(m.memberMetadata).topics,
      ]),
      [[memberId, [topic]]],
      `${at("JoinGroup")}: the leader sees every member's subscription`,
    );
    const generationId = joined.generationId;

    const synced = await broker.syncGroup({
      groupId,
      generationId,
      memberId,
      groupAssignment: [{ memberId, memberAssignment: assignment }],
    });
    assert.deepEqual(
      KafkaJsAssignerProtocol.MemberAssignment.decode(synced.memberAssignment)?.assignment,
      { [topic]: [0] },
      `${at("SyncGroup")}: the member gets the leader's assignment`,
    );

    const beat = await broker.heartbeat({ groupId, groupGenerationId: generationId, memberId });
    assert.equal(beat.errorCode, 0, at("Heartbeat"));
    await assert.rejects(
      broker.heartbeat({ groupId, groupGenerationId: generationId + 1, memberId }),
      (e: { type?: string }) => e.type === "ILLEGAL_GENERATION",
      `${at("Heartbeat")}: a wrong generation is ILLEGAL_GENERATION`,
    );

    const commit = (extra: object) =>
      broker.offsetCommit({
        groupId,
        topics: [{ topic, partitions: [{ partition: 0, offset, metadata: commitMetadata }] }],
        ...extra,
      });
    const fetchCommitted = async () => {
      const fetched = await broker.offsetFetch({ groupId, topics: [{ topic, partitions: [{ partition: 0 }] }] });
      const p = fetched.responses[0].partitions[0];
      return { offset: p.offset as string, metadata: p.metadata as string | null };
    };
    // v0 has no generation: Kafka takes it only from a group without members (a simple consumer).
    if (version.OffsetCommit >= 1) {
      const committed = await commit({ groupGenerationId: generationId, memberId });
      assert.equal(committed.responses[0].partitions[0].errorCode, 0, at("OffsetCommit"));
      assert.deepEqual(
        await fetchCommitted(),
        { offset, metadata: commitMetadata },
        `${at("OffsetFetch")} returns what ${at("OffsetCommit")} committed`,
      );
    }

    const described = await broker.describeGroups({ groupIds: [groupId] });
    const group = described.groups[0];
    assert.deepEqual(
      [group.errorCode, group.groupId, group.state, group.protocolType, group.protocol],
      [0, groupId, "Stable", "consumer", ASSIGNOR],
      at("DescribeGroups"),
    );
    assert.equal(group.members.length, 1, at("DescribeGroups"));
    assert.equal(group.members[0].memberId, memberId, at("DescribeGroups"));
    assert.equal(group.members[0].clientId, "kafkajs-version-sweep", at("DescribeGroups"));
    assert.deepEqual(
      KafkaJsAssignerProtocol.MemberMetadata.decode(group.members[0].memberMetadata).topics,
      [topic],
      `${at("DescribeGroups")}: member metadata`,
    );
    assert.deepEqual(
      KafkaJsAssignerProtocol.MemberAssignment.decode(group.members[0].memberAssignment)?.assignment,
      { [topic]: [0] },
      `${at("DescribeGroups")}: member assignment`,
    );

    const listed = await broker.listGroups();
    assert.deepEqual(
      listed.groups.filter((g: { groupId: string }) => g.groupId === groupId),
      [{ groupId, protocolType: "consumer" }],
      at("ListGroups"),
    );

    await broker.leaveGroup({ groupId, memberId });
    const afterLeave = (await broker.describeGroups({ groupIds: [groupId] })).groups[0];
    assert.deepEqual(
      [afterLeave.state, afterLeave.members.length],
      ["Empty", 0],
      `${at("LeaveGroup")}: the group is Empty after its only member left`,
    );

    if (version.OffsetCommit === 0) {
      const committed = await commit({});
      assert.equal(committed.responses[0].partitions[0].errorCode, 0, at("OffsetCommit"));
      assert.deepEqual(
        await fetchCommitted(),
        { offset, metadata: commitMetadata },
        `${at("OffsetFetch")} returns what ${at("OffsetCommit")} committed for the Empty group`,
      );
    }

    const deleted = await broker.deleteGroups([groupId]);
    assert.deepEqual(
      deleted.results.map((r: { groupId: string; errorCode: number }) => [r.groupId, r.errorCode]),
      [[groupId, 0]],
      at("DeleteGroups"),
    );
    const gone = (await broker.describeGroups({ groupIds: [groupId] })).groups[0];
    assert.equal(gone.state, "Dead", `${at("DeleteGroups")}: a deleted group is described as Dead`);
    assert.deepEqual(
      await fetchCommitted(),
      { offset: "-1", metadata: "" },
      `${at("DeleteGroups")}: the group's committed offsets are gone`,
    );
  }
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
  deleteRecords: 21,
  offsetForLeaderEpoch: 23,
  describeConfigs: 32,
  alterConfigs: 33,
  describeLogDirs: 35,
  createPartitions: 37,
  incrementalAlterConfigs: 44,
  describeCluster: 60,
  initProducerId: 22,
  addPartitionsToTxn: 24,
  addOffsetsToTxn: 25,
  endTxn: 26,
  txnOffsetCommit: 28,
  describeTransactions: 65,
  listTransactions: 66,
  offsetCommit: 8,
  offsetFetch: 9,
  joinGroup: 11,
  heartbeat: 12,
  leaveGroup: 13,
  syncGroup: 14,
  describeGroups: 15,
  listGroups: 16,
  deleteGroups: 42,
  offsetDelete: 47,
};

// biome-ignore lint/suspicious/noExplicitAny: responses are untyped JavaScript objects, read field by field under assertions.
type PlatformaticCall = (name: string, version: number, ...args: unknown[]) => Promise<any>;
/** A call whose answer carries error codes: the codes by response path (e.g. "/" or "/groups/0"), and the response. */
type PlatformaticFailingCall = (
  name: string,
  version: number,
  ...args: unknown[]
  // biome-ignore lint/suspicious/noExplicitAny: see above.
) => Promise<{ errors: Record<string, string>; response: any }>;

/** Like sweepKafkaJsGroups, with @platformatic/kafka's flexible-version modules, plus OffsetDelete. */
async function sweepPlatformaticGroups(
  call: PlatformaticCall,
  callFailing: PlatformaticFailingCall,
  versionsOf: (name: string) => number[],
  topic: string,
  steps: SweepStep[],
): Promise<void> {
  const apis = {
    JoinGroup: "joinGroup",
    SyncGroup: "syncGroup",
    Heartbeat: "heartbeat",
    OffsetCommit: "offsetCommit",
    OffsetFetch: "offsetFetch",
    DescribeGroups: "describeGroups",
    ListGroups: "listGroups",
    OffsetDelete: "offsetDelete",
    LeaveGroup: "leaveGroup",
    DeleteGroups: "deleteGroups",
  } as const;
  type Api = keyof typeof apis;
  const rounds = Math.max(...Object.values(apis).map((name) => versionsOf(name).length));
  const metadata = KafkaJsAssignerProtocol.MemberMetadata.encode({ version: 0, topics: [topic] }) as Buffer;
  const assignment = KafkaJsAssignerProtocol.MemberAssignment.encode({
    version: 0,
    assignment: { [topic]: [0] },
  }) as Buffer;
  const partitionsOf = (fetched: { groups: { topics: { partitions: unknown[] }[] }[] }) =>
    fetched.groups[0].topics[0].partitions[0] as {
      committedOffset: bigint;
      metadata: string | null;
      errorCode: number;
    };

  for (let round = 0; round < rounds; round++) {
    const version = {} as Record<Api, number>;
    for (const [api, name] of Object.entries(apis) as [Api, string][]) {
      const versions = versionsOf(name);
      assert.ok(versions.length > 0, `@platformatic/kafka has a ${name} module the broker advertises`);
      version[api] = versions[Math.min(round, versions.length - 1)];
      recordStep(steps, api, version[api]);
    }
    const at = (api: Api) => `${api} v${version[api]}`;
    const groupId = `${topic}-group-${round}`;
    const offset = BigInt(200 + round);
    const commitMetadata = `platformatic round ${round}`;
    const join = (memberId: string) =>
      [
        groupId,
        SESSION_TIMEOUT_MS,
        SESSION_TIMEOUT_MS,
        memberId,
        null,
        "consumer",
        [{ name: ASSIGNOR, metadata }],
      ] as const;

    const required = await callFailing("joinGroup", version.JoinGroup, ...join(""));
    assert.deepEqual(required.errors, { "/": "MEMBER_ID_REQUIRED" }, at("JoinGroup"));
    const memberId: string = required.response.memberId;
    assert.ok(memberId.length > 0, `${at("JoinGroup")}: MEMBER_ID_REQUIRED carries the member id`);
    const joined = await call("joinGroup", version.JoinGroup, ...join(memberId));
    assert.equal(joined.memberId, memberId, at("JoinGroup"));
    assert.equal(joined.leader, memberId, `${at("JoinGroup")}: the only member leads`);
    assert.equal(joined.protocolName, ASSIGNOR, at("JoinGroup"));
    if (version.JoinGroup >= 7) assert.equal(joined.protocolType, "consumer", at("JoinGroup"));
    if (version.JoinGroup >= 9) assert.equal(joined.skipAssignment, false, at("JoinGroup"));
    assert.deepEqual(
      joined.members.map((m: { memberId: string; metadata: Buffer }) => [m.memberId, Buffer.from(m.metadata)]),
      [[memberId, metadata]],
      `${at("JoinGroup")}: the leader sees every member's subscription`,
    );
    const generationId: number = joined.generationId;
    assert.ok(generationId >= 1, `${at("JoinGroup")}: generation ${generationId}`);

    const synced = await call(
      "syncGroup",
      version.SyncGroup,
      groupId,
      generationId,
      memberId,
      null,
      "consumer",
      ASSIGNOR,
      [{ memberId, assignment }],
    );
    assert.deepEqual(Buffer.from(synced.assignment), assignment, `${at("SyncGroup")}: the leader's assignment`);
    if (version.SyncGroup >= 5) {
      assert.deepEqual([synced.protocolType, synced.protocolName], ["consumer", ASSIGNOR], at("SyncGroup"));
      const mismatch = await callFailing(
        "syncGroup",
        version.SyncGroup,
        groupId,
        generationId,
        memberId,
        null,
        "consumer",
        "other",
        [{ memberId, assignment }],
      );
      assert.deepEqual(
        mismatch.errors,
        { "/": "INCONSISTENT_GROUP_PROTOCOL" },
        `${at("SyncGroup")}: another protocol name`,
      );
    }

    const beat = await call("heartbeat", version.Heartbeat, groupId, generationId, memberId, null);
    assert.equal(beat.errorCode, 0, at("Heartbeat"));
    const stale = await callFailing("heartbeat", version.Heartbeat, groupId, generationId + 1, memberId, null);
    assert.deepEqual(stale.errors, { "/": "ILLEGAL_GENERATION" }, `${at("Heartbeat")}: a wrong generation`);

    const committed = await call("offsetCommit", version.OffsetCommit, groupId, generationId, memberId, null, [
      {
        name: topic,
        partitions: [
          { partitionIndex: 0, committedOffset: offset, committedLeaderEpoch: -1, committedMetadata: commitMetadata },
        ],
      },
    ]);
    assert.equal(committed.topics[0].partitions[0].errorCode, 0, at("OffsetCommit"));
    const fetchArgs = (member: boolean) => [
      [
        {
          groupId,
          memberId: member ? memberId : null,
          memberEpoch: member ? generationId : -1,
          topics: [{ name: topic, partitionIndexes: [0] }],
        },
      ],
      false,
    ];
    for (const member of version.OffsetFetch >= 9 ? [false, true] : [false]) {
      const fetched = partitionsOf(await call("offsetFetch", version.OffsetFetch, ...fetchArgs(member)));
      assert.deepEqual(
        [fetched.committedOffset, fetched.metadata],
        [offset, commitMetadata],
        `${at("OffsetFetch")}${member ? " as the member" : ""} returns what ${at("OffsetCommit")} committed`,
      );
    }

    const described = (await call("describeGroups", version.DescribeGroups, [groupId], true)).groups[0];
    assert.deepEqual(
      [described.errorCode, described.groupId, described.groupState, described.protocolType, described.protocolData],
      [0, groupId, "Stable", "consumer", ASSIGNOR],
      at("DescribeGroups"),
    );
    assert.deepEqual(
      described.members.map(
        (m: { memberId: string; clientId: string; memberMetadata: Buffer; memberAssignment: Buffer }) => [
          m.memberId,
          m.clientId,
          Buffer.from(m.memberMetadata),
          Buffer.from(m.memberAssignment),
        ],
      ),
      [[memberId, "platformatic-version-sweep", metadata, assignment]],
      `${at("DescribeGroups")}: the member, its subscription and assignment`,
    );
    assert.notEqual(
      described.authorizedOperations,
      -2147483648,
      `${at("DescribeGroups")}: authorized operations asked for`,
    );

    const listed = await call("listGroups", version.ListGroups, ["STABLE"], ["classic"]);
    assert.deepEqual(
      listed.groups
        .filter((g: { groupId: string }) => g.groupId === groupId)
        .map((g: { protocolType: string; groupState: string; groupType?: string }) => [
          g.protocolType,
          g.groupState,
          ...(version.ListGroups >= 5 ? [g.groupType] : []),
        ]),
      [["consumer", "Stable", ...(version.ListGroups >= 5 ? ["classic"] : [])]],
      `${at("ListGroups")}: filtered to Stable${version.ListGroups >= 5 ? " classic" : ""} groups`,
    );
    const empties = await call("listGroups", version.ListGroups, ["EMPTY"], []);
    assert.ok(
      !empties.groups.some((g: { groupId: string }) => g.groupId === groupId),
      `${at("ListGroups")}: a Stable group is not listed as Empty`,
    );

    const offsetDelete = [groupId, [{ name: topic, partitions: [{ partitionIndex: 0 }] }]] as const;
    const subscribed = await callFailing("offsetDelete", version.OffsetDelete, ...offsetDelete);
    assert.deepEqual(
      subscribed.errors,
      { "/topics/0/partitions/0": "GROUP_SUBSCRIBED_TO_TOPIC" },
      `${at("OffsetDelete")}: the group's member still subscribes to the topic`,
    );

    const left = await call("leaveGroup", version.LeaveGroup, groupId, [{ memberId }]);
    assert.deepEqual(
      left.members.map((m: { memberId: string; errorCode: number }) => [m.memberId, m.errorCode]),
      [[memberId, 0]],
      at("LeaveGroup"),
    );
    const empty = (await call("describeGroups", version.DescribeGroups, [groupId], false)).groups[0];
    assert.deepEqual([empty.groupState, empty.members.length], ["Empty", 0], `${at("LeaveGroup")}: the group is Empty`);
    const unknown = await callFailing("leaveGroup", version.LeaveGroup, groupId, [{ memberId }]);
    assert.deepEqual(
      unknown.response.members.map((m: { memberId: string; errorCode: number }) => [m.memberId, m.errorCode]),
      [[memberId, 25]],
      `${at("LeaveGroup")}: leaving twice is UNKNOWN_MEMBER_ID for that member`,
    );

    const removed = await call("offsetDelete", version.OffsetDelete, ...offsetDelete);
    assert.equal(removed.topics[0].partitions[0].errorCode, 0, at("OffsetDelete"));
    const afterDelete = partitionsOf(await call("offsetFetch", version.OffsetFetch, ...fetchArgs(false)));
    assert.equal(afterDelete.committedOffset, -1n, `${at("OffsetDelete")}: the committed offset is gone`);

    const deleted = await call("deleteGroups", version.DeleteGroups, [groupId]);
    assert.deepEqual(
      deleted.results.map((r: { groupId: string; errorCode: number }) => [r.groupId, r.errorCode]),
      [[groupId, 0]],
      at("DeleteGroups"),
    );
    const again = await callFailing("deleteGroups", version.DeleteGroups, [groupId]);
    assert.deepEqual(again.errors, { "/results/0": "GROUP_ID_NOT_FOUND" }, `${at("DeleteGroups")}: deleting twice`);
    const dead = (await call("describeGroups", version.DescribeGroups, [groupId], false)).groups[0];
    assert.equal(dead.groupState, "Dead", `${at("DeleteGroups")}: a deleted group is described as Dead`);
  }
}

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
  const callFailing: PlatformaticFailingCall = async (name, version, ...args) => {
    try {
      await platformaticApi(name, version)!.async(connection, ...args);
    } catch (e) {
      const error = e as { response?: unknown; errors?: { path?: string; apiId?: string }[] };
      if (error.response === undefined || error.errors === undefined) throw e;
      return {
        errors: Object.fromEntries(error.errors.map((x) => [x.path ?? "", x.apiId ?? ""])),
        response: error.response,
      };
    }
    throw new Error(`@platformatic/kafka ${name} v${version}: succeeded where an error answer was expected`);
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
      const response = await call("findCoordinator", v, 0, [`${topic}-group`]);
      assert.deepEqual(
        response.coordinators.map((c: { key: string; nodeId: number; port: number; errorCode: number }) => [
          c.key,
          c.nodeId,
          c.port,
          c.errorCode,
        ]),
        [[`${topic}-group`, 0, port, 0]],
        `FindCoordinator v${v}`,
      );
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
    await sweepPlatformaticGroups(call, callFailing, platformaticVersions, topic, steps);
    for (const v of platformaticVersions("deleteRecords")) {
      const response = await call(
        "deleteRecords",
        v,
        [{ name: topic, partitions: [{ partitionIndex: 0, offset: 0n }] }],
        5000,
      );
      assert.equal(response.topics[0].partitions[0].errorCode, 0, `DeleteRecords v${v}`);
      steps.push({ api: "DeleteRecords", version: v });
    }
    for (const v of platformaticVersions("deleteTopics")) {
      const response = await call("deleteTopics", v, [{ name: `${topic}-ct7`, topicId: null }], 5000);
      assert.equal(response.responses[0].errorCode, 0, `DeleteTopics v${v}`);
      steps.push({ api: "DeleteTopics", version: v });
    }
    await sweepPlatformaticTransactions(call, platformaticVersions, topic, steps);
  } finally {
    await new Promise<void>((resolve) => connection.close(() => resolve()));
  }
  return steps;
}

/**
 * One transaction per round with @platformatic/kafka's transaction modules, each at its r-th
 * version (or its last): AddPartitionsToTxn (v4+ also VerifyOnly), AddOffsetsToTxn,
 * TxnOffsetCommit, DescribeTransactions, ListTransactions, EndTxn.
 */
async function sweepPlatformaticTransactions(
  call: PlatformaticCall,
  versionsOf: (name: string) => number[],
  topic: string,
  steps: SweepStep[],
): Promise<void> {
  const apis = {
    AddPartitionsToTxn: "addPartitionsToTxn",
    AddOffsetsToTxn: "addOffsetsToTxn",
    TxnOffsetCommit: "txnOffsetCommit",
    DescribeTransactions: "describeTransactions",
    ListTransactions: "listTransactions",
    EndTxn: "endTxn",
  } as const;
  type Api = keyof typeof apis;
  const rounds = Math.max(...Object.values(apis).map((name) => versionsOf(name).length));
  const initVersion = versionsOf("initProducerId").at(-1);
  assert.ok(initVersion !== undefined, "@platformatic/kafka has an InitProducerId module the broker advertises");
  for (let round = 0; round < rounds; round++) {
    const version = {} as Record<Api, number>;
    for (const [api, name] of Object.entries(apis) as [Api, string][]) {
      const versions = versionsOf(name);
      assert.ok(versions.length > 0, `@platformatic/kafka has a ${name} module the broker advertises`);
      version[api] = versions[Math.min(round, versions.length - 1)]!;
      recordStep(steps, api, version[api]);
    }
    recordStep(steps, "InitProducerId", initVersion);
    const transactionalId = `${topic}-txn-${round}`;
    const groupId = `${topic}-txn-group-${round}`;
    await call("findCoordinator", 4, 1, [transactionalId]);
    const init = await call("initProducerId", initVersion, transactionalId, 30_000, -1n, -1);
    const { producerId, producerEpoch } = init as { producerId: bigint; producerEpoch: number };
    const topics = [{ name: topic, partitions: [0] }];
    await call("addPartitionsToTxn", version.AddPartitionsToTxn, [
      { transactionalId, producerId, producerEpoch, verifyOnly: false, topics },
    ]);
    if (version.AddPartitionsToTxn >= 4) {
      const verified = await call("addPartitionsToTxn", version.AddPartitionsToTxn, [
        { transactionalId, producerId, producerEpoch, verifyOnly: true, topics },
      ]);
      assert.equal(verified.resultsByTransaction[0].topicResults[0].resultsByPartition[0].partitionErrorCode, 0);
    }
    await call("addOffsetsToTxn", version.AddOffsetsToTxn, transactionalId, producerId, producerEpoch, groupId);
    await call(
      "txnOffsetCommit",
      version.TxnOffsetCommit,
      transactionalId,
      groupId,
      producerId,
      producerEpoch,
      -1,
      "",
      null,
      [
        {
          name: topic,
          partitions: [
            {
              partitionIndex: 0,
              committedOffset: BigInt(round + 1),
              committedLeaderEpoch: -1,
              committedMetadata: null,
            },
          ],
        },
      ],
    );
    const described = await call("describeTransactions", version.DescribeTransactions, [transactionalId]);
    assert.equal(
      described.transactionStates[0].transactionState,
      "Ongoing",
      `DescribeTransactions v${version.DescribeTransactions}`,
    );
    if (version.ListTransactions >= 2) {
      // Sent for coverage, answer not read: @platformatic/kafka 1.35's v2 parser expects an
      // ErrorMessage field that Kafka's ListTransactionsResponse v2 does not have (KIP-1152 adds
      // only the request's TransactionalIdPattern), so it misreads a correct answer.
      await call("listTransactions", version.ListTransactions, [], [producerId], -1n, null).catch(() => undefined);
    } else {
      const listed = await call("listTransactions", version.ListTransactions, [], [producerId], -1n, null);
      assert.deepEqual(
        listed.transactionStates.map((t: { transactionalId: string }) => t.transactionalId),
        [transactionalId],
        `ListTransactions v${version.ListTransactions}`,
      );
    }
    await call("endTxn", version.EndTxn, transactionalId, producerId, producerEpoch, true);
  }
}
