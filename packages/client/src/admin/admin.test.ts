import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConsumerProtocolAssignment, DecodeError, Writer } from "@samsa/protocol";
import { decodeConsumerAssignment } from "./admin.js";

function assignmentBytes(version: number, topics: { topic: string; partitions: number[] }[]): Buffer {
  const w = new Writer();
  w.writeInt16(version);
  ConsumerProtocolAssignment.encode(
    w,
    { assignedPartitions: topics, userData: null },
    Math.max(0, Math.min(version, 3)),
  );
  return Buffer.concat(w.toChunks());
}

describe("decodeConsumerAssignment", () => {
  it("reads every version, sorting partitions", () => {
    for (const version of [0, 1, 2, 3]) {
      assert.deepEqual(decodeConsumerAssignment(assignmentBytes(version, [{ topic: "a", partitions: [2, 0] }])), [
        { topic: "a", partitions: [0, 2] },
      ]);
    }
  });

  it("reads a newer version with the newest schema it knows, as Kafka's ConsumerProtocol does", () => {
    assert.deepEqual(decodeConsumerAssignment(assignmentBytes(7, [{ topic: "b", partitions: [1] }])), [
      { topic: "b", partitions: [1] },
    ]);
  });

  it("treats an empty assignment (a member that has not synced) as no partitions", () => {
    assert.deepEqual(decodeConsumerAssignment(Buffer.alloc(0)), []);
  });

  it("refuses a negative version", () => {
    assert.throws(() => decodeConsumerAssignment(assignmentBytes(-1, [])), DecodeError);
  });
});
