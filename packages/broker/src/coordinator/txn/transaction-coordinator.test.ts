import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ErrorCode, KafkaError } from "@samsa/protocol";
import { consumerOffsetsPartitionFor } from "../group/consumer-offsets-records.js";
import { TxnHarness } from "./test-support.js";
import {
  errorCodeForVersion,
  type ListTransactionsFilter,
  MARKER_RETRY_BACKOFF_MS,
  snapshotToLogValue,
  TransactionCoordinator,
  type TransactionMetadataSnapshot,
} from "./transaction-coordinator.js";
import { transactionLogRecord } from "./transaction-log-records.js";

const ORDERS0 = { topic: "orders", partition: 0 };
const ORDERS1 = { topic: "orders", partition: 1 };
const AUDIT0 = { topic: "audit", partition: 0 };

type Producer = { producerId: bigint; producerEpoch: number };

function ok<T extends { errorCode: number }>(holder: { result?: T }): T {
  assert.ok(holder.result, "no answer yet");
  assert.equal(holder.result.errorCode, ErrorCode.NONE, `error ${holder.result.errorCode}`);
  return holder.result;
}

function initialized(h: TxnHarness, id = "t", timeoutMs = 60_000): Producer {
  const { producerId, producerEpoch } = ok(h.init(id, { timeoutMs }));
  return { producerId, producerEpoch };
}

function ongoing(h: TxnHarness, id = "t", timeoutMs = 60_000): Producer {
  const p = initialized(h, id, timeoutMs);
  assert.equal(h.add(id, p, [ORDERS0, AUDIT0]).errorCode, ErrorCode.NONE);
  return p;
}

describe("InitProducerId", () => {
  it("gives an idempotent producer a new producer id at epoch 0, storing nothing", () => {
    const h = new TxnHarness();
    assert.deepEqual(ok(h.init(null)), { errorCode: 0, producerId: 1000n, producerEpoch: 0 });
    assert.deepEqual(ok(h.init(null)), { errorCode: 0, producerId: 1001n, producerEpoch: 0 });
    assert.equal(h.log.length, 0);
  });

  it("validates the request as Kafka", () => {
    const h = new TxnHarness({ transactionMaxTimeoutMs: 10_000 });
    assert.equal(h.init("").result?.errorCode, ErrorCode.INVALID_REQUEST);
    assert.equal(h.init("t", { timeoutMs: 0 }).result?.errorCode, ErrorCode.INVALID_TRANSACTION_TIMEOUT);
    assert.equal(h.init("t", { timeoutMs: 10_001 }).result?.errorCode, ErrorCode.INVALID_TRANSACTION_TIMEOUT);
    assert.equal(h.init("t", { timeoutMs: 10_000 }).result?.errorCode, ErrorCode.NONE);
    assert.equal(h.init("t", { producerId: 5n }).result?.errorCode, ErrorCode.INVALID_REQUEST, "id without epoch");
    assert.equal(h.init(null, { producerEpoch: 5 }).result?.errorCode, ErrorCode.INVALID_REQUEST, "epoch without id");
  });

  it("stores Empty with epoch 0 for a new transactional id, then bumps the epoch", () => {
    const h = new TxnHarness();
    assert.deepEqual(ok(h.init("t")), { errorCode: 0, producerId: 1000n, producerEpoch: 0 });
    assert.deepEqual(ok(h.init("t")), { errorCode: 0, producerId: 1000n, producerEpoch: 1 });
    assert.deepEqual(h.storedStates("t"), ["Empty", "Empty"]);
    const meta = h.coordinator.transactionMetadata("t")!;
    assert.equal(meta.lastProducerEpoch, -1, "no expected epoch: the last epoch is forgotten");
  });

  it("answers once the record is stored, and CONCURRENT_TRANSACTIONS meanwhile", () => {
    const h = new TxnHarness();
    h.holdStores = true;
    const first = h.init("t");
    assert.equal(first.result, undefined);
    assert.equal(h.init("t").result?.errorCode, ErrorCode.CONCURRENT_TRANSACTIONS);
    h.heldStores.shift()!.succeed();
    assert.equal(ok(first).producerEpoch, 0);
  });

  it("maps a failed store as Kafka and leaves the state as it was", () => {
    const h = new TxnHarness();
    const p = initialized(h);
    h.holdStores = true;
    const bump = h.init("t");
    h.heldStores.shift()!.fail(ErrorCode.NOT_ENOUGH_REPLICAS);
    assert.equal(bump.result?.errorCode, ErrorCode.COORDINATOR_NOT_AVAILABLE);
    assert.equal(h.coordinator.transactionMetadata("t")!.producerEpoch, p.producerEpoch);
    assert.equal(h.coordinator.transactionMetadata("t")!.pendingState, null);
    const again = h.init("t");
    h.heldStores.shift()!.fail(ErrorCode.NOT_LEADER_OR_FOLLOWER);
    assert.equal(again.result?.errorCode, ErrorCode.NOT_COORDINATOR);
    const third = h.init("t");
    h.heldStores.shift()!.fail(ErrorCode.MESSAGE_TOO_LARGE);
    assert.equal(third.result?.errorCode, ErrorCode.UNKNOWN_SERVER_ERROR);
  });

  it("passes on the producer id allocator's error", () => {
    const c = new TransactionCoordinator({
      clock: () => 0,
      config: { transactionStatePartitions: 1 },
      allocateProducerId: () => {
        throw new KafkaError(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS);
      },
    });
    c.beginLoading(0, 0);
    c.completeLoading(0);
    const results: number[] = [];
    c.handleInitProducerId(
      { transactionalId: null, transactionTimeoutMs: 1, producerId: -1n, producerEpoch: -1 },
      (r) => results.push(r.errorCode),
    );
    c.handleInitProducerId({ transactionalId: "t", transactionTimeoutMs: 1, producerId: -1n, producerEpoch: -1 }, (r) =>
      results.push(r.errorCode),
    );
    assert.deepEqual(results, [ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS]);
    assert.equal(c.describeTransaction("t").errorCode, ErrorCode.TRANSACTIONAL_ID_NOT_FOUND);
  });

  it("KIP-360: bumps a producer that names its current epoch, answers a retry the same, fences older ones", () => {
    const h = new TxnHarness();
    const p = initialized(h); // epoch 0
    initialized(h); // epoch 1 (the producer restarted without an id)
    const current = { producerId: p.producerId, producerEpoch: 1 };
    const bumped = ok(h.init("t", current));
    assert.equal(bumped.producerEpoch, 2);
    assert.equal(h.coordinator.transactionMetadata("t")!.lastProducerEpoch, 1);
    const retry = ok(h.init("t", current));
    assert.equal(retry.producerEpoch, 2, "a retry whose answer was lost gets the same epoch");
    assert.equal(
      h.init("t", { producerId: p.producerId, producerEpoch: 0 }).result?.errorCode,
      ErrorCode.PRODUCER_FENCED,
    );
    assert.equal(h.init("t", { producerId: 77n, producerEpoch: 2 }).result?.errorCode, ErrorCode.PRODUCER_FENCED);
    assert.equal(errorCodeForVersion(ErrorCode.PRODUCER_FENCED, "InitProducerId", 3), ErrorCode.INVALID_PRODUCER_EPOCH);
    assert.equal(errorCodeForVersion(ErrorCode.PRODUCER_FENCED, "InitProducerId", 4), ErrorCode.PRODUCER_FENCED);
    assert.equal(errorCodeForVersion(ErrorCode.PRODUCER_FENCED, "EndTxn", 1), ErrorCode.INVALID_PRODUCER_EPOCH);
  });

  it("accepts an expected producer id for an id it just created (the producer lost its state)", () => {
    const h = new TxnHarness();
    assert.equal(h.init("t", { producerId: 5n, producerEpoch: 3 }).result?.producerEpoch, 0);
  });

  it("rotates to a new producer id when the epoch is exhausted, and recognises the retry", () => {
    const h = new TxnHarness();
    h.log.push(...recordsOf({ ...emptySnapshot("t"), producerId: 7n, producerEpoch: 32764 }));
    h.start();
    assert.deepEqual(ok(h.init("t")), { errorCode: 0, producerId: 7n, producerEpoch: 32765 });
    const last = ok(h.init("t", { producerId: 7n, producerEpoch: 32765 }));
    assert.deepEqual(last, { errorCode: 0, producerId: 7n, producerEpoch: 32766 });
    const rotated = ok(h.init("t", { producerId: 7n, producerEpoch: 32766 }));
    assert.deepEqual(rotated, { errorCode: 0, producerId: 1000n, producerEpoch: 0 });
    const meta = h.coordinator.transactionMetadata("t")!;
    assert.equal(meta.previousProducerId, 7n);
    assert.equal(meta.lastProducerEpoch, 32766);
    assert.deepEqual(ok(h.init("t", { producerId: 7n, producerEpoch: 32766 })), rotated, "retry of the rotation");
    assert.equal(h.nextProducerId, 1001n, "the retry allocated nothing");
  });

  it("fences an ongoing transaction: aborts it with a bumped epoch, answers CONCURRENT_TRANSACTIONS, bumps again on retry", () => {
    const h = new TxnHarness();
    const old = ongoing(h);
    const fence = h.init("t");
    assert.equal(fence.result?.errorCode, ErrorCode.CONCURRENT_TRANSACTIONS);
    assert.deepEqual(
      h.markers.map((m) => [m.topic, m.partition, m.commit, m.producerEpoch]),
      [
        ["audit", 0, false, 1],
        ["orders", 0, false, 1],
      ],
    );
    assert.deepEqual(h.storedStates("t"), ["Empty", "Ongoing", "PrepareAbort", "CompleteAbort"]);
    assert.equal(h.end("t", old, true).result?.errorCode, ErrorCode.PRODUCER_FENCED);
    assert.equal(h.add("t", old, [ORDERS1]).errorCode, ErrorCode.PRODUCER_FENCED);
    assert.deepEqual(ok(h.init("t")), { errorCode: 0, producerId: old.producerId, producerEpoch: 2 });
  });

  it("does not bump twice when the fencing record could not be stored", () => {
    const h = new TxnHarness();
    ongoing(h);
    h.holdStores = true;
    const first = h.init("t");
    h.heldStores.shift()!.fail(ErrorCode.REQUEST_TIMED_OUT);
    assert.equal(first.result?.errorCode, ErrorCode.COORDINATOR_NOT_AVAILABLE);
    assert.equal(
      h.coordinator.transactionMetadata("t")!.producerEpoch,
      1,
      "bumped in memory: the old producer is fenced",
    );
    assert.equal(h.state("t"), "Ongoing");
    h.holdStores = false;
    assert.equal(h.init("t").result?.errorCode, ErrorCode.CONCURRENT_TRANSACTIONS);
    assert.ok(
      h.markers.every((m) => m.producerEpoch === 1),
      "the second fence reused epoch 1",
    );
    assert.equal(ok(h.init("t")).producerEpoch, 2);
  });

  it("regression (model seed 88): fences again after a failed fence at the last epoch, then rotates", () => {
    const h = new TxnHarness();
    h.log.push(...recordsOf({ ...emptySnapshot("t"), producerId: 7n, producerEpoch: 32765 }));
    h.start();
    const p = ok(h.init("t")); // 32766, the last epoch a client gets
    assert.equal(p.producerEpoch, 32766);
    assert.equal(h.add("t", p, [ORDERS0]).errorCode, ErrorCode.NONE);
    h.holdStores = true;
    const fence = h.init("t");
    h.heldStores.shift()!.fail(ErrorCode.REQUEST_TIMED_OUT);
    assert.equal(fence.result?.errorCode, ErrorCode.COORDINATOR_NOT_AVAILABLE);
    h.holdStores = false;
    assert.equal(h.init("t").result?.errorCode, ErrorCode.CONCURRENT_TRANSACTIONS, "the second fence reuses 32767");
    assert.ok(h.markers.every((m) => m.producerEpoch === 32767 && !m.commit));
    assert.deepEqual(ok(h.init("t")), { errorCode: 0, producerId: 1000n, producerEpoch: 0 });
  });

  it("answers CONCURRENT_TRANSACTIONS while a transaction completes", () => {
    const h = new TxnHarness();
    const p = ongoing(h);
    h.holdMarkers = true;
    ok(h.end("t", p, true));
    assert.equal(h.state("t"), "PrepareCommit");
    assert.equal(h.init("t").result?.errorCode, ErrorCode.CONCURRENT_TRANSACTIONS);
    assert.equal(h.add("t", p, [ORDERS1]).errorCode, ErrorCode.CONCURRENT_TRANSACTIONS);
    assert.equal(h.end("t", p, true).result?.errorCode, ErrorCode.CONCURRENT_TRANSACTIONS);
    h.heldMarkers.shift()!.answer();
    assert.equal(h.state("t"), "CompleteCommit");
    assert.equal(ok(h.init("t")).producerEpoch, 1);
  });
});

describe("AddPartitionsToTxn, AddOffsetsToTxn", () => {
  it("starts a transaction, adds partitions, and answers at once for partitions already in it", () => {
    const h = new TxnHarness();
    const p = initialized(h);
    h.nowMs += 5;
    assert.equal(h.add("t", p, [ORDERS0]).errorCode, ErrorCode.NONE);
    const started = h.nowMs;
    h.nowMs += 5;
    assert.equal(h.add("t", p, [ORDERS1, ORDERS0]).errorCode, ErrorCode.NONE);
    const records = h.log.length;
    assert.equal(h.add("t", p, [ORDERS1]).errorCode, ErrorCode.NONE);
    assert.equal(h.log.length, records, "nothing new to store");
    const meta = h.coordinator.transactionMetadata("t")!;
    assert.equal(meta.state, "Ongoing");
    assert.equal(meta.transactionStartTimestampMs, started, "the start is the first add");
    assert.deepEqual(meta.partitions, [ORDERS0, ORDERS1]);
  });

  it("answers Kafka's errors", () => {
    const h = new TxnHarness();
    const p = initialized(h);
    assert.equal(h.add("", p, [ORDERS0]).errorCode, ErrorCode.INVALID_REQUEST);
    assert.equal(h.add("other", p, [ORDERS0]).errorCode, ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    assert.equal(h.add("t", { ...p, producerId: 1n }, [ORDERS0]).errorCode, ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    assert.equal(h.add("t", { ...p, producerEpoch: 1 }, [ORDERS0]).errorCode, ErrorCode.PRODUCER_FENCED);
    assert.equal(
      errorCodeForVersion(ErrorCode.PRODUCER_FENCED, "AddPartitionsToTxn", 1),
      ErrorCode.INVALID_PRODUCER_EPOCH,
    );
    h.holdStores = true;
    const pending = h.add("t", p, [ORDERS0]);
    assert.equal(h.add("t", p, [ORDERS1]).errorCode, ErrorCode.CONCURRENT_TRANSACTIONS);
    h.heldStores.shift()!.fail(ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND);
    assert.equal(pending.errorCode, ErrorCode.COORDINATOR_NOT_AVAILABLE);
    assert.equal(h.state("t"), "Empty");
  });

  it("adds the group's __consumer_offsets partition for AddOffsetsToTxn", async () => {
    const h = new TxnHarness();
    const p = initialized(h);
    const errorCode = await h.coordinator.addOffsetsToTxn({ transactionalId: "t", ...p, groupId: "my-group" });
    assert.equal(errorCode, ErrorCode.NONE);
    assert.deepEqual(h.coordinator.transactionMetadata("t")!.partitions, [
      { topic: "__consumer_offsets", partition: consumerOffsetsPartitionFor("my-group", 50) },
    ]);
  });

  it("verify-only (v4+): NONE for partitions in the transaction, TRANSACTION_ABORTABLE for others", () => {
    const h = new TxnHarness();
    const p = ongoing(h);
    const verify = (producer: Producer, id = "t") =>
      h.coordinator
        .verifyPartitionsInTxn({ transactionalId: id, ...producer, partitions: [ORDERS0, ORDERS1] })
        .map((r) => r.errorCode);
    assert.deepEqual(verify(p), [ErrorCode.NONE, ErrorCode.TRANSACTION_ABORTABLE]);
    assert.deepEqual(verify({ ...p, producerEpoch: 9 }), [ErrorCode.PRODUCER_FENCED, ErrorCode.PRODUCER_FENCED]);
    assert.deepEqual(verify({ ...p, producerId: 9n }), [
      ErrorCode.INVALID_PRODUCER_ID_MAPPING,
      ErrorCode.INVALID_PRODUCER_ID_MAPPING,
    ]);
    assert.deepEqual(verify(p, "nobody"), [
      ErrorCode.INVALID_PRODUCER_ID_MAPPING,
      ErrorCode.INVALID_PRODUCER_ID_MAPPING,
    ]);
    assert.deepEqual(verify(p, ""), [ErrorCode.INVALID_REQUEST, ErrorCode.INVALID_REQUEST]);
    h.holdMarkers = true;
    ok(h.end("t", p, false));
    assert.deepEqual(verify(p), [ErrorCode.CONCURRENT_TRANSACTIONS, ErrorCode.CONCURRENT_TRANSACTIONS]);
    assert.deepEqual(h.storedStates("t"), ["Empty", "Ongoing", "PrepareAbort"], "verification stores nothing");
  });
});

describe("EndTxn", () => {
  it("commits: PrepareCommit stored, answered, commit markers on every partition, CompleteCommit stored", () => {
    const h = new TxnHarness();
    const p = ongoing(h);
    h.holdMarkers = true;
    assert.deepEqual(ok(h.end("t", p, true)), { errorCode: 0, ...p });
    assert.deepEqual(h.storedStates("t"), ["Empty", "Ongoing", "PrepareCommit"]);
    const sent = h.heldMarkers.shift()!;
    assert.deepEqual(
      [sent.producerId, sent.producerEpoch, sent.commit, sent.coordinatorEpoch, sent.partitions],
      [p.producerId, p.producerEpoch, true, 0, [AUDIT0, ORDERS0]],
    );
    sent.answer();
    assert.deepEqual(h.storedStates("t"), ["Empty", "Ongoing", "PrepareCommit", "CompleteCommit"]);
    const meta = h.coordinator.transactionMetadata("t")!;
    assert.deepEqual([meta.state, meta.pendingState, meta.partitions], ["CompleteCommit", null, []]);
    // The next transaction starts from CompleteCommit with the same epoch.
    assert.equal(h.add("t", p, [ORDERS1]).errorCode, ErrorCode.NONE);
    assert.equal(h.state("t"), "Ongoing");
  });

  it("aborts with abort markers", () => {
    const h = new TxnHarness();
    const p = ongoing(h);
    ok(h.end("t", p, false));
    assert.ok(h.markers.length === 2 && h.markers.every((m) => !m.commit));
    assert.equal(h.state("t"), "CompleteAbort");
  });

  it("answers a retry of a completed EndTxn with NONE, and the other outcome INVALID_TXN_STATE", () => {
    const h = new TxnHarness();
    const p = ongoing(h);
    ok(h.end("t", p, true));
    assert.deepEqual(ok(h.end("t", p, true)), { errorCode: 0, ...p });
    assert.equal(h.end("t", p, false).result?.errorCode, ErrorCode.INVALID_TXN_STATE);
    assert.deepEqual(
      h.end("t", p, false).result,
      { errorCode: ErrorCode.INVALID_TXN_STATE, producerId: -1n, producerEpoch: -1 },
      "errors carry no producer",
    );
  });

  it("answers Kafka's errors", () => {
    const h = new TxnHarness();
    const p = initialized(h);
    assert.equal(h.end("t", p, true).result?.errorCode, ErrorCode.INVALID_TXN_STATE, "nothing to end");
    assert.equal(h.end("", p, true).result?.errorCode, ErrorCode.INVALID_REQUEST);
    assert.equal(h.end("x", p, true).result?.errorCode, ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    h.add("t", p, [ORDERS0]);
    assert.equal(h.end("t", { ...p, producerId: 3n }, true).result?.errorCode, ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    assert.equal(h.end("t", { ...p, producerEpoch: 5 }, true).result?.errorCode, ErrorCode.PRODUCER_FENCED);
    h.holdMarkers = true;
    ok(h.end("t", p, true));
    h.heldMarkers.length = 0;
    // In PrepareCommit with markers pending: the pending state answers first.
    assert.equal(h.end("t", p, false).result?.errorCode, ErrorCode.CONCURRENT_TRANSACTIONS);
  });

  it("retries markers that failed with a retriable error after a backoff, and drops deleted partitions", () => {
    const h = new TxnHarness();
    const p = ongoing(h);
    h.holdMarkers = true;
    ok(h.end("t", p, true));
    h.heldMarkers.shift()!.answer(new Map([["orders-0", ErrorCode.NOT_LEADER_OR_FOLLOWER]]));
    assert.deepEqual(h.coordinator.describeTransaction("t").topics, [{ topic: "orders", partitions: [0] }]);
    assert.equal(h.heldMarkers.length, 0);
    h.advance(MARKER_RETRY_BACKOFF_MS - 1);
    assert.equal(h.heldMarkers.length, 0);
    h.advance(1);
    const retry = h.heldMarkers.shift()!;
    assert.deepEqual(retry.partitions, [ORDERS0]);
    retry.answer(new Map([["orders-0", ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT]]));
    assert.equal(h.state("t"), "CompleteCommit");
  });

  it("stops writing markers when a newer producer epoch or coordinator owns the partition", () => {
    const h = new TxnHarness();
    const p = ongoing(h);
    h.holdMarkers = true;
    ok(h.end("t", p, true));
    h.heldMarkers.shift()!.answer(new Map([["orders-0", ErrorCode.TRANSACTION_COORDINATOR_FENCED]]));
    h.advance(10 * MARKER_RETRY_BACKOFF_MS);
    assert.equal(h.heldMarkers.length, 0);
    assert.deepEqual(
      [h.state("t"), h.coordinator.transactionMetadata("t")!.pendingState],
      ["PrepareCommit", "CompleteCommit"],
    );
  });

  it("retries storing CompleteCommit until it is stored", () => {
    const h = new TxnHarness();
    const p = ongoing(h);
    h.holdStores = true;
    const end = h.end("t", p, true);
    h.heldStores.shift()!.succeed();
    ok(end);
    h.heldStores.shift()!.fail(ErrorCode.NOT_ENOUGH_REPLICAS);
    assert.equal(h.coordinator.transactionMetadata("t")!.pendingState, "CompleteCommit", "kept for the retry");
    h.advance(MARKER_RETRY_BACKOFF_MS);
    h.heldStores.shift()!.succeed();
    assert.equal(h.state("t"), "CompleteCommit");
  });

  it("regression (model seed 4): retries CompleteCommit after NOT_COORDINATOR while it still owns the partition", () => {
    const h = new TxnHarness();
    const p = ongoing(h);
    h.holdStores = true;
    const end = h.end("t", p, true);
    h.heldStores.shift()!.succeed();
    ok(end);
    h.heldStores.shift()!.fail(ErrorCode.NOT_LEADER_OR_FOLLOWER);
    h.advance(MARKER_RETRY_BACKOFF_MS);
    h.heldStores.shift()!.succeed();
    assert.equal(h.state("t"), "CompleteCommit");
  });

  it("fails with NOT_COORDINATOR when the partition moved while the record was stored", () => {
    const h = new TxnHarness();
    const p = ongoing(h);
    h.holdStores = true;
    const end = h.end("t", p, true);
    h.coordinator.unloadPartition(h.coordinator.partitionFor("t"));
    h.heldStores.shift()!.succeed();
    assert.equal(end.result?.errorCode, ErrorCode.NOT_COORDINATOR);
    assert.equal(h.add("t", p, [ORDERS0]).errorCode, ErrorCode.NOT_COORDINATOR);
  });
});

describe("timeouts and expiration", () => {
  it("aborts a transaction open longer than its timeout at the next scan, fencing its producer", () => {
    const h = new TxnHarness({ abortTimedOutTransactionsIntervalMs: 10_000 });
    const p = ongoing(h, "t", 15_000);
    h.advance(10_000);
    assert.equal(h.state("t"), "Ongoing", "not timed out at the first scan");
    h.advance(5_000); // start + timeout == now: not yet (Kafka compares strictly)
    assert.equal(h.state("t"), "Ongoing");
    h.advance(5_000);
    assert.equal(h.state("t"), "CompleteAbort");
    assert.ok(h.markers.every((m) => !m.commit && m.producerEpoch === p.producerEpoch + 1));
    assert.equal(h.end("t", p, true).result?.errorCode, ErrorCode.PRODUCER_FENCED);
    assert.equal(ok(h.init("t")).producerEpoch, p.producerEpoch + 2);
  });

  it("does not abort a transaction with a pending transition", () => {
    const h = new TxnHarness({ abortTimedOutTransactionsIntervalMs: 1_000 });
    const p = ongoing(h, "t", 1_000);
    h.holdStores = true;
    const end = h.end("t", p, true);
    h.advance(5_000);
    assert.equal(h.heldStores.length, 1, "only the PrepareCommit record");
    h.holdStores = false;
    h.heldStores.shift()!.succeed();
    ok(end);
    assert.equal(h.state("t"), "CompleteCommit");
  });

  it("expires idle transactional ids with a tombstone after transactional.id.expiration.ms", () => {
    const h = new TxnHarness({ transactionalIdExpirationMs: 60_000, removeExpiredTransactionalIdsIntervalMs: 10_000 });
    initialized(h, "idle");
    ongoing(h, "busy", 900_000);
    h.holdStores = true;
    h.advance(60_000);
    const tombstone = h.heldStores.find((s) => s.transactionalId === "idle")!;
    assert.equal(tombstone.snapshot, null);
    assert.equal(h.coordinator.describeTransaction("idle").transactionState, "Empty", "still there while pending");
    tombstone.fail(ErrorCode.NOT_ENOUGH_REPLICAS);
    assert.equal(h.coordinator.transactionMetadata("idle")!.pendingState, null, "kept after a failed tombstone");
    h.heldStores.length = 0;
    h.holdStores = false;
    h.advance(10_000);
    assert.equal(h.coordinator.describeTransaction("idle").errorCode, ErrorCode.TRANSACTIONAL_ID_NOT_FOUND);
    assert.deepEqual(h.storedStates("idle"), ["Empty", "tombstone"]);
    assert.equal(h.state("busy"), "Ongoing", "an open transaction never expires");
    assert.equal(ok(h.init("idle")).producerEpoch, 0, "a new start with a new producer id");
  });
});

describe("loading and recovery", () => {
  it("answers COORDINATOR_LOAD_IN_PROGRESS while loading and NOT_COORDINATOR for partitions it does not own", () => {
    const c = new TransactionCoordinator({ clock: () => 0, allocateProducerId: () => 1n });
    const answer = (id: string) => {
      let code = -2;
      c.handleInitProducerId(
        { transactionalId: id, transactionTimeoutMs: 1000, producerId: -1n, producerEpoch: -1 },
        (r) => {
          code = r.errorCode;
        },
      );
      return code;
    };
    assert.equal(answer("t"), ErrorCode.NOT_COORDINATOR);
    c.beginLoading(c.partitionFor("t"), 3);
    assert.equal(answer("t"), ErrorCode.COORDINATOR_LOAD_IN_PROGRESS);
    assert.equal(c.describeTransaction("t").errorCode, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS);
    assert.equal(c.listTransactions(noFilter()).errorCode, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS);
    c.completeLoading(c.partitionFor("t"));
    assert.equal(answer("t"), ErrorCode.NONE);
    c.shutdown();
    assert.equal(answer("t"), ErrorCode.NOT_COORDINATOR);
    assert.equal(c.describeTransaction("t").errorCode, ErrorCode.COORDINATOR_NOT_AVAILABLE);
    assert.equal(c.nextDeadlineMs(), undefined);
  });

  for (const crashIn of [
    "Empty",
    "Ongoing",
    "PrepareCommit",
    "PrepareAbort",
    "CompleteCommit",
    "CompleteAbort",
  ] as const) {
    it(`recovers a transaction after a crash in ${crashIn}`, () => {
      const h = new TxnHarness({ abortTimedOutTransactionsIntervalMs: 1_000 });
      const p = initialized(h, "t", 5_000);
      if (crashIn !== "Empty") h.add("t", p, [ORDERS0, ORDERS1]);
      h.holdMarkers = true;
      if (crashIn !== "Empty" && crashIn !== "Ongoing") ok(h.end("t", p, crashIn.endsWith("Commit")));
      if (crashIn.startsWith("Complete")) h.heldMarkers.shift()!.answer();
      assert.equal(h.state("t"), crashIn);
      h.holdMarkers = false;
      h.crash();
      const expected: Record<typeof crashIn, string> = {
        Empty: "Empty",
        Ongoing: "Ongoing",
        PrepareCommit: "CompleteCommit", // markers written again at load
        PrepareAbort: "CompleteAbort",
        CompleteCommit: "CompleteCommit",
        CompleteAbort: "CompleteAbort",
      };
      assert.equal(h.state("t"), expected[crashIn]);
      if (crashIn.startsWith("Prepare")) {
        assert.ok(h.markers.every((m) => m.coordinatorEpoch === 1 && m.commit === crashIn.endsWith("Commit")));
        assert.equal(h.markers.length, 2);
      }
      h.advance(10_000);
      if (crashIn === "Ongoing") {
        assert.equal(h.state("t"), "CompleteAbort", "the loaded transaction timed out");
        assert.ok(h.markers.every((m) => !m.commit && m.producerEpoch === p.producerEpoch + 1));
      } else {
        assert.equal(h.state("t"), expected[crashIn]);
      }
      // The producer carries on (after re-initialising if it was fenced).
      const next = ok(h.init("t", { timeoutMs: 5_000 }));
      assert.equal(h.add("t", next, [ORDERS0]).errorCode, ErrorCode.NONE);
    });
  }

  it("forgets a transition whose record was not stored before the crash, keeps one that was", () => {
    const h = new TxnHarness();
    const p = ongoing(h);
    h.holdStores = true;
    h.end("t", p, true);
    h.crash(); // PrepareCommit never made it
    assert.equal(h.state("t"), "Ongoing");
    const p2 = h.coordinator.transactionMetadata("t")!;
    h.end("t", { producerId: p2.producerId, producerEpoch: p2.producerEpoch }, true);
    h.holdStores = false;
    h.crash(() => true); // this time it did, unacknowledged
    assert.equal(h.state("t"), "CompleteCommit");
    assert.equal(h.markers.filter((m) => m.commit).length, 2);
  });

  it("ignores stores and markers that complete after the partition was reloaded", () => {
    const h = new TxnHarness();
    const p = ongoing(h);
    h.holdMarkers = true;
    ok(h.end("t", p, true));
    const stale = h.heldMarkers.shift()!;
    const partition = h.coordinator.partitionFor("t");
    h.coordinator.beginLoading(partition, 5);
    assert.equal(h.coordinator.describeTransaction("t").errorCode, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS);
    stale.answer();
    h.coordinator.loadTransaction("t", { ...emptySnapshot("t"), producerId: p.producerId });
    h.coordinator.completeLoading(partition);
    assert.equal(h.state("t"), "Empty", "the stale markers changed nothing");
  });
});

describe("DescribeTransactions, ListTransactions", () => {
  it("describes a transaction as Kafka", () => {
    const h = new TxnHarness();
    const p = initialized(h, "t", 30_000);
    const start = h.nowMs;
    h.add("t", p, [ORDERS1, AUDIT0, ORDERS0]);
    assert.deepEqual(h.coordinator.describeTransaction("t"), {
      errorCode: 0,
      transactionalId: "t",
      transactionState: "Ongoing",
      transactionTimeoutMs: 30_000,
      transactionStartTimeMs: start,
      producerId: p.producerId,
      producerEpoch: 0,
      topics: [
        { topic: "audit", partitions: [0] },
        { topic: "orders", partitions: [0, 1] },
      ],
    });
    assert.equal(h.coordinator.describeTransaction("nobody").errorCode, ErrorCode.TRANSACTIONAL_ID_NOT_FOUND);
    assert.equal(h.coordinator.describeTransaction("").errorCode, ErrorCode.INVALID_REQUEST);
  });

  it("lists with Kafka's filters", () => {
    const h = new TxnHarness();
    const a = ongoing(h, "a");
    h.nowMs += 10_000;
    initialized(h, "b");
    const c = ongoing(h, "c");
    ok(h.end("c", c, true));
    const ids = (filter: Partial<ListTransactionsFilter>) =>
      h.coordinator
        .listTransactions({ ...noFilter(), ...filter })
        .transactionStates.map((t) => t.transactionalId)
        .sort();
    assert.deepEqual(ids({}), ["a", "b", "c"]);
    assert.deepEqual(ids({ stateFilters: ["Ongoing"] }), ["a"]);
    assert.deepEqual(ids({ producerIdFilters: [a.producerId] }), ["a"]);
    assert.deepEqual(
      ids({ durationFilterMs: 5_000 }),
      ["a", "b"],
      "b never started: -1 counts as long ago, as in Kafka",
    );
    assert.deepEqual(ids({ transactionalIdPattern: "[ab]" }), ["a", "b"]);
    assert.deepEqual(ids({ transactionalIdPattern: "a|c" }), ["a", "c"]);
    const unknown = h.coordinator.listTransactions({ ...noFilter(), stateFilters: ["Ongoing", "Bogus"] });
    assert.deepEqual(unknown.unknownStateFilters, ["Bogus"]);
    assert.equal(
      h.coordinator.listTransactions({ ...noFilter(), transactionalIdPattern: "(" }).errorCode,
      ErrorCode.INVALID_REGULAR_EXPRESSION,
    );
  });
});

function noFilter(): ListTransactionsFilter {
  return { stateFilters: [], producerIdFilters: [], durationFilterMs: -1, transactionalIdPattern: null };
}

function emptySnapshot(transactionalId: string): TransactionMetadataSnapshot {
  return {
    transactionalId,
    producerId: 1n,
    previousProducerId: -1n,
    nextProducerId: -1n,
    producerEpoch: 0,
    lastProducerEpoch: -1,
    transactionTimeoutMs: 60_000,
    state: "Empty",
    partitions: [],
    transactionStartTimestampMs: -1,
    transactionLastUpdateTimestampMs: 1_000_000,
    clientTransactionVersion: 0,
  };
}

function recordsOf(snapshot: TransactionMetadataSnapshot) {
  return [transactionLogRecord(snapshot.transactionalId, snapshotToLogValue(snapshot))];
}
