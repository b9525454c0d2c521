/**
 * DeleteRecords through the handler against an in-process broker, and what it changes for
 * ListOffsets (earliest) and Fetch (OFFSET_OUT_OF_RANGE below the log start offset), across a
 * restart; Kafka's per-partition errors.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, test } from "node:test";
import {
  type DeleteRecordsRequest,
  defaultFetchRequest,
  defaultFetchRequestFetchPartition,
  defaultListOffsetsRequest,
  defaultListOffsetsRequestListOffsetsPartition,
  ErrorCode,
  encodeRecordBatch,
} from "@samsa/protocol";
import { OffsetCheckpointFile } from "../log/checkpoint-file.js";
import { LOG_START_OFFSET_CHECKPOINT_FILE } from "../log/file-names.js";
import { fetchHandler } from "./01-fetch.js";
import { listOffsetsHandler } from "./02-list-offsets.js";
import { deleteRecordsHandler } from "./21-delete-records.js";
import { startTestBroker, type TestBroker } from "./handler-test-support.js";

let b: TestBroker;

before(async () => {
  b = await startTestBroker();
});

after(async () => {
  await b?.close();
});

async function createTopic(name: string, partitions: number, configs: Record<string, string> = {}) {
  await b.broker.context.topics.create(
    name,
    partitions,
    new Map(Object.entries({ "segment.bytes": "2048", ...configs })),
  );
}

async function produce(topic: string, partition: number, records: number): Promise<void> {
  for (let i = 0; i < records; i++)
    await b.broker.context.topics
      .partition(topic, partition)!
      .append(encodeRecordBatch({ records: [{ key: Buffer.from(`k${i}`), value: Buffer.alloc(100, i) }] }));
}

function deleteRequest(topics: [string, [number, bigint][]][]): DeleteRecordsRequest {
  return {
    timeoutMs: 30_000,
    topics: topics.map(([name, partitions]) => ({
      name,
      partitions: partitions.map(([partitionIndex, offset]) => ({ partitionIndex, offset })),
    })),
  };
}

async function deleteRecords(version: number, topics: [string, [number, bigint][]][]) {
  const response = await b.call(deleteRecordsHandler, version, deleteRequest(topics));
  return response.topics!.flatMap((t) =>
    t.partitions!.map((p) => ({
      topic: t.name,
      partition: p.partitionIndex,
      lowWatermark: p.lowWatermark,
      errorCode: p.errorCode,
    })),
  );
}

async function earliest(topic: string, partition: number): Promise<bigint> {
  const response = await b.call(listOffsetsHandler, 7, {
    ...defaultListOffsetsRequest(),
    replicaId: -1,
    topics: [
      {
        name: topic,
        partitions: [{ ...defaultListOffsetsRequestListOffsetsPartition(), partitionIndex: partition, timestamp: -2n }],
      },
    ],
  });
  const p = response.topics![0]!.partitions![0]!;
  assert.equal(p.errorCode, ErrorCode.NONE);
  return p.offset!;
}

async function fetchAt(topic: string, partition: number, fetchOffset: bigint) {
  const response = await b.call(fetchHandler, 12, {
    ...defaultFetchRequest(),
    replicaId: -1,
    maxWaitMs: 0,
    minBytes: 0,
    maxBytes: 1 << 20,
    sessionEpoch: -1,
    topics: [
      {
        topic,
        topicId: b.broker.context.topics.get(topic)!.topicId,
        partitions: [{ ...defaultFetchRequestFetchPartition(), partition, fetchOffset, partitionMaxBytes: 1 << 20 }],
      },
    ],
  });
  const p = response.responses![0]!.partitions![0]!;
  return { errorCode: p.errorCode, logStartOffset: p.logStartOffset, bytes: p.records?.length ?? 0 };
}

for (const version of [0, 1, 2]) {
  test(`v${version}: moves the log start offset; ListOffsets earliest and Fetch follow it`, async () => {
    const topic = `records-v${version}`;
    await createTopic(topic, 2);
    await produce(topic, 0, 30);
    await produce(topic, 1, 5);
    const results = await deleteRecords(version, [[topic, [[0, 10n]]]]);
    assert.deepEqual(results, [{ topic, partition: 0, lowWatermark: 10n, errorCode: ErrorCode.NONE }]);
    assert.equal(await earliest(topic, 0), 10n);
    assert.equal(await earliest(topic, 1), 0n, "the other partition is untouched");
    assert.deepEqual(await fetchAt(topic, 0, 9n), {
      errorCode: ErrorCode.OFFSET_OUT_OF_RANGE,
      logStartOffset: 10n,
      bytes: 0,
    });
    const at10 = await fetchAt(topic, 0, 10n);
    assert.equal(at10.errorCode, ErrorCode.NONE);
    assert.ok(at10.bytes > 0);
    // Persisted before the answer.
    const checkpoint = new OffsetCheckpointFile(path.join(b.dataDir, LOG_START_OFFSET_CHECKPOINT_FILE));
    assert.equal((await checkpoint.read())?.get(`${topic}-0`), 10n);
  });
}

test("-1 deletes up to the high watermark; an offset below the start is a no-op; past the high watermark or negative is OFFSET_OUT_OF_RANGE", async () => {
  const topic = "records-hw";
  await createTopic(topic, 1);
  await produce(topic, 0, 12);
  assert.deepEqual(await deleteRecords(2, [[topic, [[0, 5n]]]]), [
    { topic, partition: 0, lowWatermark: 5n, errorCode: ErrorCode.NONE },
  ]);
  assert.deepEqual(await deleteRecords(2, [[topic, [[0, 3n]]]]), [
    { topic, partition: 0, lowWatermark: 5n, errorCode: ErrorCode.NONE },
  ]);
  for (const offset of [13n, -2n]) {
    assert.deepEqual(await deleteRecords(2, [[topic, [[0, offset]]]]), [
      { topic, partition: 0, lowWatermark: -1n, errorCode: ErrorCode.OFFSET_OUT_OF_RANGE },
    ]);
  }
  assert.deepEqual(await deleteRecords(2, [[topic, [[0, -1n]]]]), [
    { topic, partition: 0, lowWatermark: 12n, errorCode: ErrorCode.NONE },
  ]);
  assert.equal(await earliest(topic, 0), 12n);
  // The log goes on at the high watermark.
  await produce(topic, 0, 1);
  assert.equal((await fetchAt(topic, 0, 12n)).errorCode, ErrorCode.NONE);
});

test("unknown topic or partition, internal topic, cleanup.policy=compact: Kafka's errors, per partition", async () => {
  await createTopic("records-ok", 1);
  await createTopic("records-compact", 1, { "cleanup.policy": "compact" });
  await produce("records-ok", 0, 3);
  await produce("records-compact", 0, 3);
  await b.broker.context.groupCoordinator.ensureOffsetsTopic();
  const results = await deleteRecords(2, [
    ["records-ok", [[0, 2n]]],
    ["records-ok", [[7, 0n]]],
    ["no-such-topic", [[0, 0n]]],
    ["__consumer_offsets", [[0, 0n]]],
    ["records-compact", [[0, 1n]]],
  ]);
  assert.deepEqual(results, [
    { topic: "records-ok", partition: 0, lowWatermark: 2n, errorCode: ErrorCode.NONE },
    { topic: "records-ok", partition: 7, lowWatermark: -1n, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION },
    { topic: "no-such-topic", partition: 0, lowWatermark: -1n, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION },
    { topic: "__consumer_offsets", partition: 0, lowWatermark: -1n, errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION },
    { topic: "records-compact", partition: 0, lowWatermark: -1n, errorCode: ErrorCode.POLICY_VIOLATION },
  ]);
  assert.equal(await earliest("records-compact", 0), 0n);
});

test("the log start offset survives a restart, and the next retention pass deletes the segments below it", async () => {
  const topic = "records-restart";
  await createTopic(topic, 1);
  await produce(topic, 0, 60); // ~20 records per 2 KiB segment
  const log = b.broker.context.topics.partition(topic, 0)!.log;
  const segmentsBefore = log.segmentBaseOffsets().length;
  assert.ok(segmentsBefore >= 3, `${segmentsBefore} segments`);
  await deleteRecords(2, [[topic, [[0, 45n]]]]);
  b = await b.restart();
  assert.equal(await earliest(topic, 0), 45n);
  assert.equal((await fetchAt(topic, 0, 44n)).errorCode, ErrorCode.OFFSET_OUT_OF_RANGE);
  const reopened = b.broker.context.topics.partition(topic, 0)!.log;
  assert.ok(await reopened.deleteOldSegments(), "segments wholly below 45 are deleted");
  assert.ok(reopened.segmentBaseOffsets()[0]! <= 45n);
  assert.ok(reopened.segmentBaseOffsets().length < segmentsBefore);
  assert.equal(await earliest(topic, 0), 45n, "retention never moves the start offset back to a segment base");
});
