import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { decodeRecordBatch, encodeRecordBatch, RECORDS_OFFSET, readBatchHeader } from "@samsa/protocol";
import { RecordCursor, walkRecords } from "./record-walk.js";

describe("RecordCursor", () => {
  test("reads every field as decodeRecordBatch does, across varint lengths of 1 to 10 bytes", () => {
    const base = 1_700_000_000_000n;
    // Timestamp deltas from 0 to beyond 2^53 (zigzag varlongs of 1..10 bytes), both signs.
    const deltas = [0n, 1n, -1n, 63n, -64n, 64n, 8191n, -8192n, 2n ** 27n - 1n, 2n ** 27n, -(2n ** 27n) - 1n];
    deltas.push(2n ** 31n, -(2n ** 31n), 2n ** 40n, -(2n ** 45n), 2n ** 52n, -(2n ** 52n));
    const records = deltas.map((d, i) => ({
      key: i % 5 === 4 ? null : Buffer.alloc(i * 37, i),
      value: i % 3 === 2 ? null : Buffer.alloc(i * 1000, i),
      timestamp: base + d,
    }));
    const batch = encodeRecordBatch({ records, baseOffset: 1000n, baseTimestamp: base });
    const header = readBatchHeader(batch);
    const decoded = decodeRecordBatch(batch);
    const cursor = new RecordCursor();
    cursor.reset(batch, RECORDS_OFFSET, batch.length, header.recordCount);
    let i = 0;
    while (cursor.next()) {
      const want = decoded.records[i]!;
      assert.equal(cursor.index, i);
      assert.equal(1000n + BigInt(cursor.offsetDelta), want.offset);
      assert.equal(base + BigInt(cursor.timestampDelta), want.timestamp, `record ${i}`);
      if (want.key === null) assert.equal(cursor.keyStart, -1);
      else assert.deepEqual(batch.subarray(cursor.keyStart, cursor.keyStart + cursor.keyLength), want.key);
      assert.equal(cursor.valueLength, want.value === null ? -1 : want.value.length);
      i++;
    }
    assert.equal(i, records.length);
  });

  test("a record that overruns the batch, and bytes left over, are errors", () => {
    const batch = encodeRecordBatch({ records: [{ key: Buffer.from("k"), value: Buffer.from("v") }] });
    assert.throws(() => walkRecords(batch, RECORDS_OFFSET, batch.length - 1, 1, () => {}), RangeError);
    assert.throws(
      () => walkRecords(batch, RECORDS_OFFSET, batch.length, 0, () => {}),
      /bytes left after the 0 records/,
    );
  });
});
