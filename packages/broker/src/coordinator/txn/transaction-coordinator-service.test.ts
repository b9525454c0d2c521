/**
 * The transaction coordinator inside a real (in-process) broker, through the request handlers:
 * `__transaction_state` created on first use and written in Kafka's schemas, markers on every
 * partition of a transaction (and on `__consumer_offsets` for its offsets), fencing, timeouts, and
 * the recovery of PrepareCommit and Ongoing transactions after a restart, on an injected clock.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import {
  ControlRecordType,
  controlRecordTypeOf,
  decodeRecordBatch,
  ErrorCode,
  encodeRecordBatch,
  isControlBatch,
  iterateBatches,
  readBatchHeader,
} from "@samsa/protocol";
import { offsetFetchHandler } from "../../handlers/09-offset-fetch.js";
import { findCoordinatorHandler } from "../../handlers/10-find-coordinator.js";
import { addPartitionsToTxnHandler } from "../../handlers/24-add-partitions-to-txn.js";
import { addOffsetsToTxnHandler } from "../../handlers/25-add-offsets-to-txn.js";
import { endTxnHandler } from "../../handlers/26-end-txn.js";
import { txnOffsetCommitHandler } from "../../handlers/28-txn-offset-commit.js";
import { describeTransactionsHandler } from "../../handlers/65-describe-transactions.js";
import { listTransactionsHandler } from "../../handlers/66-list-transactions.js";
import { startTestBroker, type TestBroker } from "../../handlers/handler-test-support.js";
import { HANDLERS } from "../../handlers/registry.js";
import type { Partition } from "../../topics/partition.js";
import { consumerOffsetsPartitionFor } from "../group/consumer-offsets-records.js";
import { CONSUMER_OFFSETS_TOPIC } from "../group/group-coordinator-service.js";
import { snapshotToLogValue, type TransactionMetadataSnapshot } from "./transaction-coordinator.js";
import { TRANSACTION_STATE_TOPIC } from "./transaction-coordinator-service.js";
import { decodeTransactionLogRecord, transactionLogRecord } from "./transaction-log-records.js";

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
  await b.broker.context.topics.create("audit", 1);
  return b;
}

async function restart(b: TestBroker): Promise<TestBroker> {
  brokers.splice(brokers.indexOf(b), 1);
  const next = await b.restart();
  brokers.push(next);
  return next;
}

const service = (b: TestBroker) => {
  const s = b.broker.context.transactionCoordinator;
  assert.ok(s, "the broker has a transaction coordinator");
  return s;
};

async function init(b: TestBroker, transactionalId: string, timeoutMs = 60_000, apiVersion = 4) {
  for (;;) {
    const r = await service(b).initProducerId(
      { transactionalId, transactionTimeoutMs: timeoutMs, producerId: -1n, producerEpoch: -1 },
      apiVersion,
    );
    // Fencing an open transaction answers CONCURRENT_TRANSACTIONS until its abort completes.
    if (r.errorCode === ErrorCode.CONCURRENT_TRANSACTIONS) {
      await settle();
      continue;
    }
    assert.equal(r.errorCode, ErrorCode.NONE);
    return { producerId: r.producerId, producerEpoch: r.producerEpoch };
  }
}

type Producer = { producerId: bigint; producerEpoch: number };

async function addPartitions(b: TestBroker, id: string, p: Producer, topics: [string, number[]][], version = 3) {
  const res = await b.call(addPartitionsToTxnHandler, version, {
    transactions: [],
    v3AndBelowTransactionalId: id,
    v3AndBelowProducerId: p.producerId,
    v3AndBelowProducerEpoch: p.producerEpoch,
    v3AndBelowTopics: topics.map(([name, partitions]) => ({ name, partitions })),
  });
  return (res.resultsByTopicV3AndBelow ?? []).flatMap((t) =>
    (t.resultsByPartition ?? []).map((r) => [t.name, r.partitionIndex, r.partitionErrorCode]),
  );
}

async function endTxn(b: TestBroker, id: string, p: Producer, committed: boolean, version = 3) {
  const res = await b.call(endTxnHandler, version, {
    transactionalId: id,
    producerId: p.producerId,
    producerEpoch: p.producerEpoch,
    committed,
  });
  return res.errorCode;
}

async function describe(b: TestBroker, id: string) {
  const res = await b.call(describeTransactionsHandler, 0, { transactionalIds: [id] });
  return res.transactionStates?.[0];
}

/** Lets stores and markers in flight complete (they run on the real event loop). */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

async function until(what: string, check: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function batchesOf(partition: Partition) {
  const info = await partition.log.read(partition.log.logStartOffset, { maxBytes: 1 << 24 });
  return [...iterateBatches(info.records)].map((pos) => {
    const bytes = info.records.subarray(pos.position, pos.position + pos.sizeInBytes);
    return { header: readBatchHeader(bytes), batch: decodeRecordBatch(bytes) };
  });
}

/** The transaction markers of a partition: [COMMIT|ABORT, producer id, epoch]. */
async function markersOf(b: TestBroker, topic: string, index: number) {
  const partition = b.broker.context.topics.get(topic)?.partitions[index];
  assert.ok(partition);
  return (await batchesOf(partition))
    .filter((x) => isControlBatch(x.header.attributes))
    .map((x) => [
      controlRecordTypeOf(x.batch) === ControlRecordType.Commit ? "COMMIT" : "ABORT",
      x.header.producerId,
      x.header.producerEpoch,
    ]);
}

async function stateRecordsOf(b: TestBroker, transactionalId: string) {
  const topic = b.broker.context.topics.get(TRANSACTION_STATE_TOPIC);
  assert.ok(topic);
  const partition = topic.partitions[service(b).coordinator.partitionFor(transactionalId)]!;
  const out: string[] = [];
  for (const { batch } of await batchesOf(partition)) {
    for (const r of batch.records) {
      const record = decodeTransactionLogRecord(r.key, r.value);
      if (record.type === "transaction" && record.transactionalId === transactionalId) {
        out.push(record.value === null ? "tombstone" : record.value.state);
      }
    }
  }
  return out;
}

async function fetchOffsets(b: TestBroker, groupId: string, requireStable: boolean) {
  const res = await b.call(offsetFetchHandler, 7, {
    groupId,
    topics: [{ name: "orders", partitionIndexes: [0, 1] }],
    groups: [],
    requireStable,
  });
  return (res.topics ?? []).flatMap((t) =>
    (t.partitions ?? []).map((p) => [p.partitionIndex, p.committedOffset, p.errorCode]),
  );
}

async function txnOffsetCommit(
  b: TestBroker,
  id: string,
  p: Producer,
  groupId: string,
  offsets: bigint[],
  version = 3,
) {
  const res = await b.call(txnOffsetCommitHandler, version, {
    transactionalId: id,
    groupId,
    producerId: p.producerId,
    producerEpoch: p.producerEpoch,
    generationId: -1,
    memberId: "",
    groupInstanceId: null,
    topics: [
      {
        name: "orders",
        partitions: offsets.map((committedOffset, partitionIndex) => ({
          partitionIndex,
          committedOffset,
          committedLeaderEpoch: -1,
          committedMetadata: "m",
        })),
      },
    ],
  });
  return (res.topics ?? []).flatMap((t) => (t.partitions ?? []).map((x) => x.errorCode));
}

test("FindCoordinator for a transactional id creates __transaction_state, compacted, with 50 partitions", async () => {
  const b = await start(["transaction.state.log.segment.bytes=1048576"]);
  assert.equal(b.broker.context.topics.get(TRANSACTION_STATE_TOPIC), undefined);
  const res = await b.call(findCoordinatorHandler, 4, { key: "", keyType: 1, coordinatorKeys: ["tx"] });
  assert.equal(res.coordinators?.[0]?.errorCode, ErrorCode.NONE);
  const topic = b.broker.context.topics.get(TRANSACTION_STATE_TOPIC);
  assert.equal(topic?.partitions.length, 50);
  assert.equal(topic?.isInternal, true);
  assert.deepEqual(topic?.partitions[0]?.log.config.cleanupPolicy, ["compact"]);
  assert.equal(topic?.partitions[0]?.log.config.segmentBytes, 1_048_576);
});

test("the transaction APIs are advertised at the versions implemented (EndTxn v5 and TxnOffsetCommit v5, transactions v2, are not)", () => {
  const versions = new Map(HANDLERS.map((h) => [h.api.name, [h.minVersion, h.maxVersion]]));
  assert.deepEqual(versions.get("AddPartitionsToTxn"), [0, 5]);
  assert.deepEqual(versions.get("AddOffsetsToTxn"), [0, 4]);
  assert.deepEqual(versions.get("EndTxn"), [0, 4]);
  assert.deepEqual(versions.get("TxnOffsetCommit"), [0, 4]);
  assert.deepEqual(versions.get("DescribeTransactions"), [0, 0]);
  assert.deepEqual(versions.get("ListTransactions"), [0, 2]);
});

test("a committed transaction: records in __transaction_state, a COMMIT marker on every partition", async () => {
  const b = await start();
  const p = await init(b, "tx-commit");
  assert.deepEqual(
    await addPartitions(b, "tx-commit", p, [
      ["orders", [0, 2]],
      ["audit", [0]],
    ]),
    [
      ["orders", 0, ErrorCode.NONE],
      ["orders", 2, ErrorCode.NONE],
      ["audit", 0, ErrorCode.NONE],
    ],
  );
  const ongoing = await describe(b, "tx-commit");
  assert.equal(ongoing?.transactionState, "Ongoing");
  assert.equal(ongoing?.transactionStartTimeMs, BigInt(clockMs));
  assert.deepEqual(ongoing?.topics, [
    { topic: "audit", partitions: [0] },
    { topic: "orders", partitions: [0, 2] },
  ]);
  assert.equal(await endTxn(b, "tx-commit", p, true), ErrorCode.NONE);
  await until("CompleteCommit", async () => (await describe(b, "tx-commit"))?.transactionState === "CompleteCommit");
  const marker = ["COMMIT", p.producerId, p.producerEpoch];
  assert.deepEqual(await markersOf(b, "orders", 0), [marker]);
  assert.deepEqual(await markersOf(b, "orders", 1), []);
  assert.deepEqual(await markersOf(b, "orders", 2), [marker]);
  assert.deepEqual(await markersOf(b, "audit", 0), [marker]);
  assert.deepEqual(await stateRecordsOf(b, "tx-commit"), ["Empty", "Ongoing", "PrepareCommit", "CompleteCommit"]);
  // A retried EndTxn of the completed transaction succeeds; the other outcome is INVALID_TXN_STATE.
  assert.equal(await endTxn(b, "tx-commit", p, true), ErrorCode.NONE);
  assert.equal(await endTxn(b, "tx-commit", p, false), ErrorCode.INVALID_TXN_STATE);
});

test("AddPartitionsToTxn fails the whole transaction for an unknown partition", async () => {
  const b = await start();
  const p = await init(b, "tx-unknown");
  assert.deepEqual(
    await addPartitions(b, "tx-unknown", p, [
      ["orders", [0, 7]],
      ["nope", [0]],
    ]),
    [
      ["orders", 0, ErrorCode.OPERATION_NOT_ATTEMPTED],
      ["orders", 7, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION],
      ["nope", 0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION],
    ],
  );
  assert.equal((await describe(b, "tx-unknown"))?.transactionState, "Empty");
  assert.deepEqual(await addPartitions(b, "no-such-id", p, [["orders", [0]]]), [
    ["orders", 0, ErrorCode.INVALID_PRODUCER_ID_MAPPING],
  ]);
});

test("AddPartitionsToTxn v4: batched transactions, verify-only answers without adding", async () => {
  const b = await start();
  const p = await init(b, "tx-v4");
  const q = await init(b, "tx-v4-other");
  await addPartitions(b, "tx-v4", p, [["orders", [0]]]);
  const res = await b.call(addPartitionsToTxnHandler, 5, {
    transactions: [
      {
        transactionalId: "tx-v4",
        producerId: p.producerId,
        producerEpoch: p.producerEpoch,
        verifyOnly: true,
        topics: [{ name: "orders", partitions: [0, 1] }],
      },
      {
        transactionalId: "tx-v4-other",
        producerId: q.producerId,
        producerEpoch: q.producerEpoch,
        verifyOnly: false,
        topics: [{ name: "audit", partitions: [0] }],
      },
    ],
    v3AndBelowTransactionalId: "",
    v3AndBelowProducerId: 0n,
    v3AndBelowProducerEpoch: 0,
    v3AndBelowTopics: [],
  });
  assert.equal(res.errorCode, ErrorCode.NONE);
  const results = (res.resultsByTransaction ?? []).map((t) => [
    t.transactionalId,
    (t.topicResults ?? []).flatMap((x) =>
      (x.resultsByPartition ?? []).map((r) => [x.name, r.partitionIndex, r.partitionErrorCode]),
    ),
  ]);
  assert.deepEqual(results, [
    [
      "tx-v4",
      [
        ["orders", 0, ErrorCode.NONE],
        ["orders", 1, ErrorCode.TRANSACTION_ABORTABLE],
      ],
    ],
    ["tx-v4-other", [["audit", 0, ErrorCode.NONE]]],
  ]);
  // Verify-only added nothing; the other transaction started.
  assert.deepEqual((await describe(b, "tx-v4"))?.topics, [{ topic: "orders", partitions: [0] }]);
  assert.equal((await describe(b, "tx-v4-other"))?.transactionState, "Ongoing");
});

test("a new producer with the same transactional id fences the old one and aborts its transaction", async () => {
  const b = await start();
  const old = await init(b, "tx-fence");
  await addPartitions(b, "tx-fence", old, [["orders", [1]]]);
  const fresh = await init(b, "tx-fence");
  assert.equal(fresh.producerId, old.producerId);
  // The open transaction was aborted with a bumped epoch, then the new producer got the next one.
  assert.equal(fresh.producerEpoch, old.producerEpoch + 2);
  assert.deepEqual(await markersOf(b, "orders", 1), [["ABORT", old.producerId, old.producerEpoch + 1]]);
  assert.deepEqual(await addPartitions(b, "tx-fence", old, [["orders", [0]]], 2), [
    ["orders", 0, ErrorCode.PRODUCER_FENCED],
  ]);
  assert.deepEqual(await addPartitions(b, "tx-fence", old, [["orders", [0]]], 1), [
    ["orders", 0, ErrorCode.INVALID_PRODUCER_EPOCH],
  ]);
  assert.equal(await endTxn(b, "tx-fence", old, true, 2), ErrorCode.PRODUCER_FENCED);
  assert.equal(await endTxn(b, "tx-fence", old, true, 1), ErrorCode.INVALID_PRODUCER_EPOCH);
  const addOffsets = await b.call(addOffsetsToTxnHandler, 1, {
    transactionalId: "tx-fence",
    producerId: old.producerId,
    producerEpoch: old.producerEpoch,
    groupId: "g",
  });
  assert.equal(addOffsets.errorCode, ErrorCode.INVALID_PRODUCER_EPOCH);
  // The contract's InitProducerId answers a fenced KIP-360 retry by version, too.
  const retry = (v: number) =>
    service(b).initProducerId(
      { transactionalId: "tx-fence", transactionTimeoutMs: 60_000, producerId: old.producerId, producerEpoch: 0 },
      v,
    );
  assert.equal((await retry(4)).errorCode, ErrorCode.PRODUCER_FENCED);
  assert.equal((await retry(3)).errorCode, ErrorCode.INVALID_PRODUCER_EPOCH);
  assert.equal(
    (
      await service(b).initProducerId(
        { transactionalId: "tx-fence", transactionTimeoutMs: 15 * 60_000 + 1, producerId: -1n, producerEpoch: -1 },
        4,
      )
    ).errorCode,
    ErrorCode.INVALID_TRANSACTION_TIMEOUT,
  );
});

test("a transaction open longer than its timeout is aborted and its producer fenced", async () => {
  const b = await start(["transaction.abort.timed.out.transaction.cleanup.interval.ms=1000"]);
  const p = await init(b, "tx-timeout", 5_000);
  await addPartitions(b, "tx-timeout", p, [["orders", [2]]]);
  clockMs += 5_001;
  service(b).tick();
  clockMs += 1_000;
  service(b).tick();
  await until("CompleteAbort", async () => (await describe(b, "tx-timeout"))?.transactionState === "CompleteAbort");
  assert.deepEqual(await markersOf(b, "orders", 2), [["ABORT", p.producerId, p.producerEpoch + 1]]);
  assert.equal(await endTxn(b, "tx-timeout", p, true), ErrorCode.PRODUCER_FENCED);
});

test("TxnOffsetCommit: pending until the marker, UNSTABLE_OFFSET_COMMIT with requireStable, visible after commit", async () => {
  let b = await start();
  const p = await init(b, "tx-offsets");
  const group = "g-txn";
  // Without AddOffsetsToTxn the group's partition is not in the transaction.
  assert.deepEqual(await txnOffsetCommit(b, "tx-offsets", p, group, [5n], 3), [ErrorCode.INVALID_TXN_STATE]);
  assert.deepEqual(await txnOffsetCommit(b, "tx-offsets", p, group, [5n], 4), [ErrorCode.TRANSACTION_ABORTABLE]);
  const added = await b.call(addOffsetsToTxnHandler, 3, { transactionalId: "tx-offsets", ...p, groupId: group });
  assert.equal(added.errorCode, ErrorCode.NONE);
  const offsetsPartition = consumerOffsetsPartitionFor(group, 50);
  assert.deepEqual((await describe(b, "tx-offsets"))?.topics, [
    { topic: CONSUMER_OFFSETS_TOPIC, partitions: [offsetsPartition] },
  ]);
  assert.deepEqual(await txnOffsetCommit(b, "tx-offsets", p, group, [10n, 20n]), [ErrorCode.NONE, ErrorCode.NONE]);
  assert.deepEqual(await fetchOffsets(b, group, false), [
    [0, -1n, ErrorCode.NONE],
    [1, -1n, ErrorCode.NONE],
  ]);
  assert.deepEqual(await fetchOffsets(b, group, true), [
    [0, -1n, ErrorCode.UNSTABLE_OFFSET_COMMIT],
    [1, -1n, ErrorCode.UNSTABLE_OFFSET_COMMIT],
  ]);
  // Still pending after a restart: replay keeps a transactional batch without its marker pending.
  b = await restart(b);
  assert.deepEqual(await fetchOffsets(b, group, true), [
    [0, -1n, ErrorCode.UNSTABLE_OFFSET_COMMIT],
    [1, -1n, ErrorCode.UNSTABLE_OFFSET_COMMIT],
  ]);
  assert.equal(await endTxn(b, "tx-offsets", p, true), ErrorCode.NONE);
  await until("offsets visible", async () => (await fetchOffsets(b, group, true))[0]?.[1] === 10n);
  assert.deepEqual(await fetchOffsets(b, group, true), [
    [0, 10n, ErrorCode.NONE],
    [1, 20n, ErrorCode.NONE],
  ]);
  assert.deepEqual(await markersOf(b, CONSUMER_OFFSETS_TOPIC, offsetsPartition), [
    ["COMMIT", p.producerId, p.producerEpoch],
  ]);
  // Replay materializes them from the transactional batch and the marker.
  b = await restart(b);
  assert.deepEqual(await fetchOffsets(b, group, true), [
    [0, 10n, ErrorCode.NONE],
    [1, 20n, ErrorCode.NONE],
  ]);
  // An aborted transaction's offsets are dropped, the committed ones stay.
  await until("CompleteCommit", async () => (await describe(b, "tx-offsets"))?.transactionState === "CompleteCommit");
  await b.call(addOffsetsToTxnHandler, 3, { transactionalId: "tx-offsets", ...p, groupId: group });
  assert.deepEqual(await txnOffsetCommit(b, "tx-offsets", p, group, [99n]), [ErrorCode.NONE]);
  assert.equal(await endTxn(b, "tx-offsets", p, false), ErrorCode.NONE);
  await until("abort", async () => (await fetchOffsets(b, group, true))[0]?.[2] === ErrorCode.NONE);
  assert.deepEqual(await fetchOffsets(b, group, true), [
    [0, 10n, ErrorCode.NONE],
    [1, 20n, ErrorCode.NONE],
  ]);
  b = await restart(b);
  assert.deepEqual(await fetchOffsets(b, group, true), [
    [0, 10n, ErrorCode.NONE],
    [1, 20n, ErrorCode.NONE],
  ]);
});

/** Appends a record to `__transaction_state` as a coordinator that crashed right after would have left it. */
async function appendStateRecord(b: TestBroker, snapshot: TransactionMetadataSnapshot): Promise<void> {
  const partition =
    b.broker.context.topics.get(TRANSACTION_STATE_TOPIC)?.partitions[
      service(b).coordinator.partitionFor(snapshot.transactionalId)
    ];
  assert.ok(partition);
  const record = transactionLogRecord(snapshot.transactionalId, snapshotToLogValue(snapshot));
  await partition.append(encodeRecordBatch({ records: [record], baseTimestamp: BigInt(clockMs) }));
}

test("after a restart, a transaction found in PrepareCommit writes its markers and completes", async () => {
  let b = await start();
  const p = await init(b, "tx-crash-commit");
  await addPartitions(b, "tx-crash-commit", p, [["orders", [0, 1]]]);
  const meta = service(b).coordinator.transactionMetadata("tx-crash-commit");
  assert.ok(meta);
  // The coordinator stored PrepareCommit, then crashed before any marker.
  await appendStateRecord(b, { ...meta, state: "PrepareCommit", transactionLastUpdateTimestampMs: clockMs });
  b = await restart(b);
  await until(
    "CompleteCommit",
    async () => (await describe(b, "tx-crash-commit"))?.transactionState === "CompleteCommit",
  );
  assert.deepEqual(await markersOf(b, "orders", 0), [["COMMIT", p.producerId, p.producerEpoch]]);
  assert.deepEqual(await markersOf(b, "orders", 1), [["COMMIT", p.producerId, p.producerEpoch]]);
  assert.deepEqual(await stateRecordsOf(b, "tx-crash-commit"), ["Empty", "Ongoing", "PrepareCommit", "CompleteCommit"]);
  // The producer carries on with the next transaction.
  assert.deepEqual(await addPartitions(b, "tx-crash-commit", p, [["audit", [0]]]), [["audit", 0, ErrorCode.NONE]]);
});

test("after a restart, an Ongoing transaction is aborted once its timeout has passed", async () => {
  let b = await start(["transaction.abort.timed.out.transaction.cleanup.interval.ms=1000"]);
  const p = await init(b, "tx-crash-ongoing", 10_000);
  await addPartitions(b, "tx-crash-ongoing", p, [["orders", [2]]]);
  b = await restart(b);
  const loaded = await describe(b, "tx-crash-ongoing");
  assert.equal(loaded?.transactionState, "Ongoing");
  assert.deepEqual(loaded?.topics, [{ topic: "orders", partitions: [2] }]);
  // Not yet timed out: the producer may still commit it.
  service(b).tick();
  assert.equal((await describe(b, "tx-crash-ongoing"))?.transactionState, "Ongoing");
  clockMs += 11_000;
  service(b).tick();
  await until(
    "CompleteAbort",
    async () => (await describe(b, "tx-crash-ongoing"))?.transactionState === "CompleteAbort",
  );
  assert.deepEqual(await markersOf(b, "orders", 2), [["ABORT", p.producerId, p.producerEpoch + 1]]);
  assert.equal(await endTxn(b, "tx-crash-ongoing", p, true), ErrorCode.PRODUCER_FENCED);
});

test("DescribeTransactions and ListTransactions", async () => {
  const b = await start();
  assert.equal((await describe(b, "never"))?.errorCode, ErrorCode.TRANSACTIONAL_ID_NOT_FOUND);
  const a = await init(b, "list-a");
  await init(b, "list-b");
  await addPartitions(b, "list-a", a, [["orders", [0]]]);
  const list = async (
    version: number,
    request: Partial<{
      stateFilters: string[];
      producerIdFilters: bigint[];
      durationFilter: bigint;
      transactionalIdPattern: string | null;
    }>,
  ) => {
    const res = await b.call(listTransactionsHandler, version, {
      stateFilters: [],
      producerIdFilters: [],
      durationFilter: -1n,
      transactionalIdPattern: null,
      ...request,
    });
    return {
      errorCode: res.errorCode,
      unknown: res.unknownStateFilters,
      ids: (res.transactionStates ?? []).map((t) => `${t.transactionalId}:${t.transactionState}`).sort(),
    };
  };
  assert.deepEqual((await list(0, {})).ids, ["list-a:Ongoing", "list-b:Empty"]);
  assert.deepEqual(await list(0, { stateFilters: ["Ongoing", "Bogus"] }), {
    errorCode: ErrorCode.NONE,
    unknown: ["Bogus"],
    ids: ["list-a:Ongoing"],
  });
  assert.deepEqual((await list(0, { producerIdFilters: [a.producerId] })).ids, ["list-a:Ongoing"]);
  clockMs += 5_000;
  assert.deepEqual((await list(1, { durationFilter: 4_000n, stateFilters: ["Ongoing"] })).ids, ["list-a:Ongoing"]);
  assert.deepEqual((await list(1, { durationFilter: 6_000n, stateFilters: ["Ongoing"] })).ids, []);
  assert.deepEqual((await list(2, { transactionalIdPattern: "list-[b-z]" })).ids, ["list-b:Empty"]);
  assert.equal((await list(2, { transactionalIdPattern: "(" })).errorCode, ErrorCode.INVALID_REGULAR_EXPRESSION);
  const described = await describe(b, "list-a");
  assert.equal(described?.errorCode, ErrorCode.NONE);
  assert.equal(described?.producerId, a.producerId);
  assert.equal(described?.transactionTimeoutMs, 60_000);
});
