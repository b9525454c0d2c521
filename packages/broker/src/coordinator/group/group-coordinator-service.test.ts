/**
 * The group coordinator inside a real (in-process) broker, through the request handlers:
 * offsets and group metadata written to `__consumer_offsets` in Kafka's schemas, replayed after a
 * restart, expired on an injected clock, deleted with tombstones.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { decodeRecordBatch, ErrorCode, encodeRecordBatch, iterateBatches } from "@samsa/protocol";
import { produceHandler } from "../../handlers/00-produce.js";
import { offsetCommitHandler } from "../../handlers/08-offset-commit.js";
import { offsetFetchHandler } from "../../handlers/09-offset-fetch.js";
import { findCoordinatorHandler } from "../../handlers/10-find-coordinator.js";
import { joinGroupHandler } from "../../handlers/11-join-group.js";
import { heartbeatHandler } from "../../handlers/12-heartbeat.js";
import { syncGroupHandler } from "../../handlers/14-sync-group.js";
import { describeGroupsHandler } from "../../handlers/15-describe-groups.js";
import { listGroupsHandler } from "../../handlers/16-list-groups.js";
import { deleteTopicsHandler } from "../../handlers/20-delete-topics.js";
import { deleteGroupsHandler } from "../../handlers/42-delete-groups.js";
import { offsetDeleteHandler } from "../../handlers/47-offset-delete.js";
import { startTestBroker, type TestBroker } from "../../handlers/handler-test-support.js";
import { consumerOffsetsPartitionFor, decodeConsumerOffsetsRecord } from "./consumer-offsets-records.js";
import { CONSUMER_OFFSETS_TOPIC } from "./group-coordinator-service.js";

let clockMs = 1_700_000_000_000;
const nowMs = () => clockMs;
const brokers: TestBroker[] = [];

after(async () => {
  for (const b of brokers) await b.close().catch(() => undefined);
});

async function start(sets: string[] = []): Promise<TestBroker> {
  const b = await startTestBroker(undefined, ["group.initial.rebalance.delay.ms=0", ...sets], nowMs);
  brokers.push(b);
  await b.broker.context.topics.create("orders", 3);
  return b;
}

async function restart(b: TestBroker): Promise<TestBroker> {
  brokers.splice(brokers.indexOf(b), 1);
  const next = await b.restart();
  brokers.push(next);
  return next;
}

function commit(
  b: TestBroker,
  groupId: string,
  offsets: [string, number, bigint, string][],
  generationId = -1,
  memberId = "",
) {
  return b.call(offsetCommitHandler, 8, {
    groupId,
    generationIdOrMemberEpoch: generationId,
    memberId,
    groupInstanceId: null,
    retentionTimeMs: -1n,
    topics: offsets.map(([name, partitionIndex, committedOffset, committedMetadata]) => ({
      name,
      topicId: "AAAAAAAAAAAAAAAAAAAAAA",
      partitions: [
        { partitionIndex, committedOffset, committedLeaderEpoch: 7, commitTimestamp: -1n, committedMetadata },
      ],
    })),
  });
}

async function fetchAll(b: TestBroker, groupId: string) {
  const res = await b.call(offsetFetchHandler, 8, {
    groupId: "",
    topics: null,
    groups: [{ groupId, memberId: null, memberEpoch: -1, topics: null }],
    requireStable: false,
  });
  const group = res.groups?.[0];
  assert.equal(group?.errorCode, ErrorCode.NONE);
  return (group?.topics ?? []).flatMap((t) =>
    (t.partitions ?? []).map((p) => [t.name, p.partitionIndex, p.committedOffset, p.metadata, p.committedLeaderEpoch]),
  );
}

async function consumerOffsetsRecords(b: TestBroker, groupId: string) {
  const topic = b.broker.context.topics.get(CONSUMER_OFFSETS_TOPIC);
  assert.ok(topic, "__consumer_offsets exists");
  const partition = topic.partitions[consumerOffsetsPartitionFor(groupId, topic.partitions.length)]!;
  const info = await partition.log.read(0n, { maxBytes: 1 << 20 });
  const out = [];
  for (const pos of iterateBatches(info.records)) {
    const batch = decodeRecordBatch(info.records.subarray(pos.position, pos.position + pos.sizeInBytes));
    for (const r of batch.records) out.push(decodeConsumerOffsetsRecord(r.key, r.value));
  }
  return out;
}

test("a commit is written to __consumer_offsets in Kafka's schema and survives a restart", async () => {
  let b = await start();
  const res = await commit(b, "g1", [
    ["orders", 0, 42n, "meta-0"],
    ["orders", 2, 7n, ""],
  ]);
  assert.deepEqual(
    res.topics?.flatMap((t) => (t.partitions ?? []).map((p) => p.errorCode)),
    [ErrorCode.NONE, ErrorCode.NONE],
  );
  assert.equal(b.broker.context.topics.get(CONSUMER_OFFSETS_TOPIC)?.partitions.length, 50);
  const records = await consumerOffsetsRecords(b, "g1");
  assert.deepEqual(
    records.map((r) => (r.type === "offsetCommit" ? [r.groupId, r.topic, r.partition, r.value?.offset] : r.type)),
    [
      ["g1", "orders", 0, 42n],
      ["g1", "orders", 2, 7n],
    ],
  );
  const expected = [
    ["orders", 0, 42n, "meta-0", 7],
    ["orders", 2, 7n, "", 7],
  ];
  assert.deepEqual(await fetchAll(b, "g1"), expected);
  b = await restart(b);
  assert.deepEqual(await fetchAll(b, "g1"), expected);
});

test("commits to unknown partitions and oversized metadata fail alone", async () => {
  const b = await start(["offset.metadata.max.bytes=8"]);
  const res = await commit(b, "g2", [
    ["orders", 1, 5n, "ok"],
    ["nope", 0, 5n, ""],
    ["orders", 9, 5n, ""],
    ["orders", 2, 5n, "far too long metadata"],
  ]);
  assert.deepEqual(
    res.topics?.flatMap((t) => (t.partitions ?? []).map((p) => p.errorCode)),
    [
      ErrorCode.NONE,
      ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
      ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
      ErrorCode.OFFSET_METADATA_TOO_LARGE,
    ],
  );
  assert.deepEqual(await fetchAll(b, "g2"), [["orders", 1, 5n, "ok", 7]]);
});

test("clients cannot produce to __consumer_offsets", async () => {
  const b = await start();
  await b.call(findCoordinatorHandler, 4, { key: "", keyType: 0, coordinatorKeys: ["g"] });
  const res = await b.call(produceHandler, 8, {
    transactionalId: null,
    acks: -1,
    timeoutMs: 1000,
    topicData: [
      {
        name: CONSUMER_OFFSETS_TOPIC,
        topicId: "AAAAAAAAAAAAAAAAAAAAAA",
        partitionData: [{ index: 0, records: encodeRecordBatch({ records: [{ value: Buffer.from("x") }] }) }],
      },
    ],
  });
  assert.equal(res.responses?.[0]?.partitionResponses?.[0]?.errorCode, ErrorCode.INVALID_TOPIC_EXCEPTION);
});

async function joinAndSync(b: TestBroker, groupId: string, instanceId: string | null = null) {
  const join = (memberId: string) =>
    b.call(joinGroupHandler, 7, {
      groupId,
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 10_000,
      memberId,
      groupInstanceId: instanceId,
      protocolType: "consumer",
      protocols: [{ name: "range", metadata: Buffer.from("sub") }],
      reason: null,
    });
  let joined = await join("");
  if (joined.errorCode === ErrorCode.MEMBER_ID_REQUIRED) joined = await join(joined.memberId ?? "");
  assert.equal(joined.errorCode, ErrorCode.NONE);
  const memberId = joined.memberId ?? "";
  const synced = await b.call(syncGroupHandler, 5, {
    groupId,
    generationId: joined.generationId ?? -1,
    memberId,
    groupInstanceId: instanceId,
    protocolType: "consumer",
    protocolName: "range",
    assignments: [{ memberId, assignment: Buffer.from("assignment") }],
  });
  assert.equal(synced.errorCode, ErrorCode.NONE);
  assert.deepEqual(synced.assignment, Buffer.from("assignment"));
  return { memberId, generationId: joined.generationId ?? -1 };
}

test("a Stable group is restored after a restart: members keep heartbeating without a rebalance", async () => {
  let b = await start();
  const { memberId, generationId } = await joinAndSync(b, "g3", "instance-1");
  const metadata = (await consumerOffsetsRecords(b, "g3")).filter((r) => r.type === "groupMetadata");
  assert.equal(metadata.length, 1);
  b = await restart(b);
  const described = await b.call(describeGroupsHandler, 5, { groups: ["g3"], includeAuthorizedOperations: false });
  const group = described.groups?.[0];
  assert.equal(group?.groupState, "Stable");
  assert.equal(group?.protocolData, "range");
  assert.deepEqual(
    group?.members?.map((m) => [m.memberId, m.groupInstanceId, m.memberAssignment]),
    [[memberId, "instance-1", Buffer.from("assignment")]],
  );
  const hb = await b.call(heartbeatHandler, 4, {
    groupId: "g3",
    generationId,
    memberId,
    groupInstanceId: "instance-1",
  });
  assert.equal(hb.errorCode, ErrorCode.NONE);
});

test("offsets of an empty group expire after offsets.retention.minutes, then the group goes", async () => {
  let b = await start(["offsets.retention.minutes=1"]);
  await commit(b, "g4", [["orders", 0, 1n, ""]]);
  await commit(b, "g5", [["orders", 0, 2n, ""]]);
  clockMs += 30_000;
  await commit(b, "g5", [["orders", 0, 3n, ""]]);
  clockMs += 30_000;
  await b.broker.context.groupCoordinator.expireOffsets();
  assert.deepEqual(await fetchAll(b, "g4"), []);
  assert.deepEqual(await fetchAll(b, "g5"), [["orders", 0, 3n, "", 7]]);
  const listed = await b.call(listGroupsHandler, 4, { statesFilter: [], typesFilter: [] });
  assert.deepEqual(
    listed.groups?.map((g) => g.groupId),
    ["g5"],
  );
  b = await restart(b);
  assert.deepEqual(await fetchAll(b, "g4"), []);
  assert.deepEqual(await fetchAll(b, "g5"), [["orders", 0, 3n, "", 7]]);
});

test("DeleteGroups removes an empty group and its offsets for good; OffsetDelete one partition", async () => {
  let b = await start();
  await commit(b, "g6", [
    ["orders", 0, 1n, ""],
    ["orders", 1, 2n, ""],
  ]);
  await commit(b, "g7", [["orders", 0, 9n, ""]]);
  const del = await b.call(offsetDeleteHandler, 0, {
    groupId: "g6",
    topics: [{ name: "orders", partitions: [{ partitionIndex: 1 }] }],
  });
  assert.equal(del.errorCode, ErrorCode.NONE);
  assert.deepEqual(await fetchAll(b, "g6"), [["orders", 0, 1n, "", 7]]);
  const res = await b.call(deleteGroupsHandler, 2, { groupsNames: ["g7", "missing"] });
  assert.deepEqual(
    res.results?.map((r) => [r.groupId, r.errorCode]),
    [
      ["g7", ErrorCode.NONE],
      ["missing", ErrorCode.GROUP_ID_NOT_FOUND],
    ],
  );
  b = await restart(b);
  assert.deepEqual(await fetchAll(b, "g7"), []);
  assert.deepEqual(await fetchAll(b, "g6"), [["orders", 0, 1n, "", 7]]);
  const listed = await b.call(listGroupsHandler, 4, { statesFilter: ["empty"], typesFilter: [] });
  assert.deepEqual(
    listed.groups?.map((g) => g.groupId),
    ["g6"],
  );
});

test("deleting a topic removes its committed offsets; __consumer_offsets cannot be deleted", async () => {
  let b = await start();
  await b.broker.context.topics.create("gone", 1);
  await commit(b, "g8", [
    ["orders", 0, 1n, ""],
    ["gone", 0, 5n, ""],
  ]);
  const res = await b.call(deleteTopicsHandler, 5, {
    topicNames: ["gone", CONSUMER_OFFSETS_TOPIC],
    topics: [],
    timeoutMs: 1000,
  });
  assert.deepEqual(
    res.responses?.map((r) => [r.name, r.errorCode]),
    [
      ["gone", ErrorCode.NONE],
      [CONSUMER_OFFSETS_TOPIC, ErrorCode.INVALID_TOPIC_EXCEPTION],
    ],
  );
  assert.deepEqual(await fetchAll(b, "g8"), [["orders", 0, 1n, "", 7]]);
  b = await restart(b);
  assert.deepEqual(await fetchAll(b, "g8"), [["orders", 0, 1n, "", 7]]);
});
