import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DecodeError } from "../primitives/index.js";
import { isControlBatch, isTransactional, readBatchHeader } from "./batch-header.js";
import {
  ControlRecordType,
  controlRecordTypeOf,
  decodeControlRecordKey,
  decodeEndTxnMarker,
  encodeControlRecordKey,
  encodeEndTxnMarker,
  encodeEndTxnMarkerBatch,
} from "./control-record.js";
import { decodeRecordBatch } from "./record-batch.js";

describe("control records", () => {
  it("encodes the key as version int16, type int16", () => {
    assert.deepEqual(encodeControlRecordKey(ControlRecordType.Abort), Buffer.from([0, 0, 0, 0]));
    assert.deepEqual(encodeControlRecordKey(ControlRecordType.Commit), Buffer.from([0, 0, 0, 1]));
    assert.deepEqual(decodeControlRecordKey(Buffer.from([0, 0, 0, 1])), { version: 0, type: ControlRecordType.Commit });
  });

  it("encodes the end-transaction marker as version int16, coordinatorEpoch int32", () => {
    assert.deepEqual(encodeEndTxnMarker(258), Buffer.from([0, 0, 0, 0, 1, 2]));
    assert.deepEqual(decodeEndTxnMarker(Buffer.from([0, 0, 0xff, 0xff, 0xff, 0xff])), {
      version: 0,
      coordinatorEpoch: -1,
    });
  });

  it("reads newer versions as version 0, as Kafka does, and rejects short, null or negative-version input", () => {
    assert.deepEqual(decodeControlRecordKey(Buffer.from([0, 3, 0, 1, 9, 9])), { version: 3, type: 1 });
    assert.deepEqual(decodeEndTxnMarker(Buffer.from([0, 1, 0, 0, 0, 5, 7])), { version: 1, coordinatorEpoch: 5 });
    for (const bad of [null, Buffer.from([0, 0, 0]), Buffer.from([0xff, 0xff, 0, 0])]) {
      assert.throws(() => decodeControlRecordKey(bad), DecodeError);
    }
    for (const bad of [null, Buffer.from([0, 0, 0, 0, 0]), Buffer.from([0x80, 0, 0, 0, 0, 0])]) {
      assert.throws(() => decodeEndTxnMarker(bad), DecodeError);
    }
  });

  it("builds the marker batch Kafka's WriteTxnMarkers appends", () => {
    for (const commit of [true, false]) {
      const buf = encodeEndTxnMarkerBatch({
        producerId: 4000n,
        producerEpoch: 2,
        commit,
        coordinatorEpoch: 17,
        timestamp: 1_700_000_000_000n,
        baseOffset: 99n,
        partitionLeaderEpoch: 3,
      });
      const header = readBatchHeader(buf);
      assert.equal(isControlBatch(header.attributes), true);
      assert.equal(isTransactional(header.attributes), true);
      assert.equal(header.baseSequence, -1);
      assert.equal(header.producerId, 4000n);
      assert.equal(header.producerEpoch, 2);
      assert.equal(header.recordCount, 1);
      const batch = decodeRecordBatch(buf);
      assert.equal(controlRecordTypeOf(batch), commit ? ControlRecordType.Commit : ControlRecordType.Abort);
      assert.deepEqual(decodeEndTxnMarker(batch.records[0].value), { version: 0, coordinatorEpoch: 17 });
      assert.equal(batch.records[0].offset, 99n);
      assert.equal(batch.records[0].timestamp, 1_700_000_000_000n);
    }
  });
});
