/**
 * Idempotence through the handlers, against an in-process broker: InitProducerId for idempotent
 * producers (ids unique across restarts), Produce with sequence checks and duplicates, Fetch and
 * ListOffsets with read_committed over transactions written by the coordinator's markers.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  decodeRecordBatch,
  defaultFetchRequest,
  defaultFetchRequestFetchPartition,
  defaultInitProducerIdRequest,
  defaultListOffsetsRequest,
  defaultListOffsetsRequestListOffsetsPartition,
  defaultProduceRequest,
  defaultProduceRequestTopicProduceData,
  ErrorCode,
  encodeEndTxnMarkerBatch,
  encodeRecordBatch,
} from "@samsa/protocol";
import { produceHandler } from "./00-produce.js";
import { fetchHandler } from "./01-fetch.js";
import { listOffsetsHandler } from "./02-list-offsets.js";
import { initProducerIdHandler } from "./22-init-producer-id.js";
import { startTestBroker, type TestBroker } from "./handler-test-support.js";

let b: TestBroker;

before(async () => {
  b = await startTestBroker();
});

after(async () => {
  await b?.close();
});

function idempotentBatch(producerId: bigint, epoch: number, seq: number, values: string[], transactional = false) {
  return encodeRecordBatch({
    records: values.map((v) => ({ value: Buffer.from(v), timestamp: BigInt(Date.now()) })),
    producerId,
    producerEpoch: epoch,
    baseSequence: seq,
    isTransactional: transactional,
  });
}

async function produce(topic: string, records: Buffer, transactionalId: string | null = null, version = 9) {
  const response = await b.call(produceHandler, version, {
    ...defaultProduceRequest(),
    transactionalId,
    acks: -1,
    timeoutMs: 1000,
    topicData: [{ ...defaultProduceRequestTopicProduceData(), name: topic, partitionData: [{ index: 0, records }] }],
  });
  return response.responses![0]!.partitionResponses![0]!;
}

async function initProducerId(
  version: number,
  producerId = -1n,
  producerEpoch = -1,
  transactionalId: string | null = null,
) {
  return b.call(initProducerIdHandler, version, {
    ...defaultInitProducerIdRequest(),
    transactionalId,
    transactionTimeoutMs: 60_000,
    producerId,
    producerEpoch,
  });
}

describe("InitProducerId", () => {
  it("gives an idempotent producer a new id with epoch 0 at every version, also for a KIP-360 request", async () => {
    const ids = new Set<bigint>();
    for (let v = 0; v <= 5; v++) {
      const r = await initProducerId(v);
      assert.equal(r.errorCode, ErrorCode.NONE);
      assert.equal(r.producerEpoch, 0);
      ids.add(r.producerId!);
    }
    const bumped = await initProducerId(4, [...ids][0]!, 0);
    assert.equal(bumped.errorCode, ErrorCode.NONE);
    assert.equal(bumped.producerEpoch, 0);
    assert.ok(!ids.has(bumped.producerId!), "a new producer id, as Kafka");
    assert.equal(ids.size, 6);
  });

  it("answers INVALID_REQUEST when only one of producer id and epoch is given", async () => {
    assert.equal((await initProducerId(3, 5n, -1)).errorCode, ErrorCode.INVALID_REQUEST);
    assert.equal((await initProducerId(3, -1n, 2)).errorCode, ErrorCode.INVALID_REQUEST);
  });

  it("never hands out an id twice across a restart", async () => {
    const before = (await initProducerId(4)).producerId!;
    b = await b.restart();
    const afterRestart = (await initProducerId(4)).producerId!;
    assert.ok(afterRestart > before, `${afterRestart} > ${before}`);
  });
});

describe("Produce with an idempotent producer", () => {
  it("answers a retried batch with its first offset and refuses gaps and stale epochs", async () => {
    await b.broker.context.topics.create("idem", 1);
    const { producerId } = await initProducerId(4);
    const pid = producerId!;
    const first = await produce("idem", idempotentBatch(pid, 0, 0, ["a", "b"]));
    assert.equal(first.errorCode, ErrorCode.NONE);
    assert.equal(first.baseOffset, 0n);
    await produce("idem", encodeRecordBatch({ records: [{ value: Buffer.from("plain") }] }));
    const second = await produce("idem", idempotentBatch(pid, 0, 2, ["c"]));
    assert.equal(second.baseOffset, 3n);
    const retry = await produce("idem", idempotentBatch(pid, 0, 0, ["a", "b"]));
    assert.deepEqual([retry.errorCode, retry.baseOffset], [ErrorCode.NONE, 0n]);
    const gap = await produce("idem", idempotentBatch(pid, 0, 9, ["x"]));
    assert.equal(gap.errorCode, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
    await produce("idem", idempotentBatch(pid, 1, 0, ["d"]));
    const stale = await produce("idem", idempotentBatch(pid, 0, 3, ["e"]));
    assert.equal(stale.errorCode, ErrorCode.INVALID_PRODUCER_EPOCH);
    assert.equal(b.broker.context.topics.partition("idem", 0)!.log.logEndOffset, 5n);
  });

  it("refuses a control batch from a client and transactional records without a transactional id", async () => {
    await b.broker.context.topics.create("idem-bad", 1);
    const control = encodeEndTxnMarkerBatch({
      producerId: 3n,
      producerEpoch: 0,
      commit: true,
      coordinatorEpoch: 0,
      timestamp: 1n,
    });
    assert.equal((await produce("idem-bad", control)).errorCode, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    const plainControl = encodeRecordBatch({ records: [{ value: Buffer.from("x") }], isControl: true });
    assert.equal((await produce("idem-bad", plainControl)).errorCode, ErrorCode.INVALID_RECORD);
    const txn = idempotentBatch(3n, 0, 0, ["t"], true);
    assert.equal((await produce("idem-bad", txn)).errorCode, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
  });
});

describe("read_committed", () => {
  const topic = "rc";
  async function fetch(fetchOffset: bigint, isolationLevel: number) {
    const topicId = b.broker.context.topics.get(topic)!.topicId;
    const r = await b.call(fetchHandler, 12, {
      ...defaultFetchRequest(),
      maxWaitMs: 0,
      minBytes: 0,
      maxBytes: 1 << 20,
      isolationLevel,
      topics: [
        {
          topic,
          topicId,
          partitions: [
            { ...defaultFetchRequestFetchPartition(), partition: 0, fetchOffset, partitionMaxBytes: 1 << 20 },
          ],
        },
      ],
    });
    return r.responses![0]!.partitions![0]!;
  }

  function lastOffsetOf(records: Buffer): bigint {
    let pos = 0;
    let last = -1n;
    while (pos < records.length) {
      const batch = decodeRecordBatch(records, pos);
      last = batch.header.baseOffset + BigInt(batch.header.lastOffsetDelta);
      pos += 12 + batch.header.batchLength;
    }
    return last;
  }

  it("reads up to the last stable offset, with the aborted transactions of the range", async () => {
    await b.broker.context.topics.create(topic, 1);
    const partition = b.broker.context.topics.partition(topic, 0)!;
    const marker = (producerId: bigint, commit: boolean) =>
      partition.append(
        encodeEndTxnMarkerBatch({ producerId, producerEpoch: 0, commit, coordinatorEpoch: 0, timestamp: 1n }),
        { leaderEpoch: partition.leaderEpoch, origin: "coordinator" },
      );
    await partition.append(encodeRecordBatch({ records: [{ value: Buffer.from("plain") }] })); // 0
    await partition.append(idempotentBatch(500n, 0, 0, ["a1", "a2"], true)); // 1-2 (aborted below)
    await partition.append(idempotentBatch(501n, 0, 0, ["c1"], true)); // 3 (committed below)
    await marker(500n, false); // 4
    await partition.append(idempotentBatch(502n, 0, 0, ["open"], true)); // 5 (open)
    await marker(501n, true); // 6
    assert.equal(partition.lastStableOffset, 5n);

    const uncommitted = await fetch(0n, 0);
    assert.equal(uncommitted.highWatermark, 7n);
    assert.equal(uncommitted.lastStableOffset, 5n);
    assert.equal(lastOffsetOf(uncommitted.records as Buffer), 6n);
    assert.deepEqual(uncommitted.abortedTransactions, []);

    const committed = await fetch(0n, 1);
    assert.equal(committed.highWatermark, 7n);
    assert.equal(committed.lastStableOffset, 5n);
    assert.equal(lastOffsetOf(committed.records as Buffer), 4n, "nothing at or past the LSO");
    assert.deepEqual(committed.abortedTransactions, [{ producerId: 500n, firstOffset: 1n }]);

    const past = await fetch(5n, 1);
    assert.equal((past.records as Buffer).length, 0);

    await marker(502n, false); // 7
    const all = await fetch(3n, 1);
    assert.equal(all.lastStableOffset, 8n);
    assert.equal(lastOffsetOf(all.records as Buffer), 7n);
    assert.deepEqual(all.abortedTransactions, [
      { producerId: 500n, firstOffset: 1n },
      { producerId: 502n, firstOffset: 5n },
    ]);
    const tail = await fetch(6n, 1);
    assert.deepEqual(tail.abortedTransactions, [{ producerId: 502n, firstOffset: 5n }]);
  });

  it("ListOffsets latest is the LSO for read_committed, the high watermark otherwise", async () => {
    const t = "rc-list";
    await b.broker.context.topics.create(t, 1);
    const partition = b.broker.context.topics.partition(t, 0)!;
    await partition.append(encodeRecordBatch({ records: [{ value: Buffer.from("x") }] }));
    await partition.append(idempotentBatch(600n, 0, 0, ["open"], true));
    const latest = async (isolationLevel: number) => {
      const r = await b.call(listOffsetsHandler, 5, {
        ...defaultListOffsetsRequest(),
        isolationLevel,
        topics: [{ name: t, partitions: [{ ...defaultListOffsetsRequestListOffsetsPartition(), timestamp: -1n }] }],
      });
      return r.topics![0]!.partitions![0]!.offset;
    };
    assert.equal(await latest(0), 2n);
    assert.equal(await latest(1), 1n);
  });
});
