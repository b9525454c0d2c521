import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  CompressionType,
  encodeEndTxnMarkerBatch,
  encodeMessageSet,
  encodeRecordBatch,
  MAGIC_V1,
} from "@samsa/protocol";
import { decodeFetchedRecords } from "./records.js";

function batch(
  baseOffset: bigint,
  values: string[],
  opts: { producerId?: bigint; transactional?: boolean; compression?: CompressionType } = {},
): Buffer {
  return encodeRecordBatch({
    baseOffset,
    baseTimestamp: 1_700_000_000_000n,
    records: values.map((v, i) => ({
      key: Buffer.from(`k${v}`),
      value: Buffer.from(v),
      headers: [{ key: "h", value: Buffer.from(String(i)) }],
      timestamp: 1_700_000_000_000n + BigInt(i),
    })),
    producerId: opts.producerId ?? -1n,
    producerEpoch: opts.producerId === undefined ? -1 : 0,
    baseSequence: opts.producerId === undefined ? -1 : 0,
    isTransactional: opts.transactional ?? false,
    compression: opts.compression ?? CompressionType.None,
  });
}

function marker(baseOffset: bigint, producerId: bigint, commit: boolean): Buffer {
  return encodeEndTxnMarkerBatch({
    producerId,
    producerEpoch: 0,
    commit,
    coordinatorEpoch: 0,
    timestamp: 1n,
    baseOffset,
  });
}

const values = (r: ReturnType<typeof decodeFetchedRecords>) => r.records.map((x) => x.value?.toString());

describe("decodeFetchedRecords", () => {
  test("records become ConsumerRecords with topic, partition, offset, timestamp, key, headers", () => {
    const r = decodeFetchedRecords("t", 3, batch(10n, ["a", "b"]), 10n, false, null);
    assert.deepEqual(r.records[1], {
      topic: "t",
      partition: 3,
      offset: 11n,
      timestampMs: 1_700_000_000_001,
      key: Buffer.from("kb"),
      value: Buffer.from("b"),
      headers: [{ key: "h", value: Buffer.from("1") }],
    });
    assert.equal(r.nextOffset, 12n);
  });

  test("records before the fetch offset are dropped; compressed batches decode; a partial tail waits", () => {
    const whole = Buffer.concat([
      batch(0n, ["a", "b", "c"]),
      batch(3n, ["d", "e"], { compression: CompressionType.Gzip }),
    ]);
    const cut = Buffer.concat([whole, batch(5n, ["f"]).subarray(0, 20)]);
    const r = decodeFetchedRecords("t", 0, cut, 1n, false, []);
    assert.deepEqual(values(r), ["b", "c", "d", "e"]);
    assert.equal(r.nextOffset, 5n);
  });

  test("legacy message sets (magic 1) decode too", () => {
    const set = encodeMessageSet({
      magic: MAGIC_V1,
      baseOffset: 4n,
      records: [
        { value: Buffer.from("x"), timestamp: 5n },
        { value: Buffer.from("y"), timestamp: 6n },
      ],
    });
    const r = decodeFetchedRecords("t", 0, set, 4n, false, null);
    assert.deepEqual(values(r), ["x", "y"]);
    assert.equal(r.nextOffset, 6n);
  });

  test("control batches are never delivered; read_committed skips aborted transactions only", () => {
    // producer 7: aborted at 0..1 (marker 2); producer 8: committed at 3..4 (marker 5); plain at 6.
    const log = Buffer.concat([
      batch(0n, ["abort-1", "abort-2"], { producerId: 7n, transactional: true }),
      marker(2n, 7n, false),
      batch(3n, ["commit-1", "commit-2"], { producerId: 8n, transactional: true }),
      marker(5n, 8n, true),
      batch(6n, ["plain"]),
    ]);
    const aborted = [{ producerId: 7n, firstOffset: 0n }];
    const committed = decodeFetchedRecords("t", 0, log, 0n, true, aborted);
    assert.deepEqual(values(committed), ["commit-1", "commit-2", "plain"]);
    assert.equal(committed.nextOffset, 7n);
    const uncommitted = decodeFetchedRecords("t", 0, log, 0n, false, aborted);
    assert.deepEqual(values(uncommitted), ["abort-1", "abort-2", "commit-1", "commit-2", "plain"]);
  });

  test("an aborted producer's later transaction (after its ABORT marker) is delivered", () => {
    const log = Buffer.concat([
      batch(0n, ["a1"], { producerId: 7n, transactional: true }),
      marker(1n, 7n, false),
      batch(2n, ["c1"], { producerId: 7n, transactional: true }),
      marker(3n, 7n, true),
    ]);
    const r = decodeFetchedRecords("t", 0, log, 0n, true, [{ producerId: 7n, firstOffset: 0n }]);
    assert.deepEqual(values(r), ["c1"]);
    assert.equal(r.nextOffset, 4n);
  });

  test("empty and null record sets keep the position", () => {
    assert.deepEqual(decodeFetchedRecords("t", 0, null, 9n, false, null), { records: [], nextOffset: 9n });
    assert.deepEqual(decodeFetchedRecords("t", 0, Buffer.alloc(0), 9n, false, null), { records: [], nextOffset: 9n });
  });
});
