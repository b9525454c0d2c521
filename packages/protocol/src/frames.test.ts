import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  decodeRequestFrame,
  decodeResponseFrame,
  encodeRequestFrame,
  encodeRequestFrameChunks,
  encodeResponseFrameChunks,
  peekRequestHeader,
} from "./frames.js";
import { ApiVersionsApi, FetchApi, ProduceApi } from "./messages/index.js";

describe("frames", () => {
  const batch = Buffer.alloc(1 << 20, 1);
  const produce = {
    acks: -1,
    timeoutMs: 1000,
    topicData: [{ name: "t", partitionData: [{ index: 0, records: batch }] }],
  };

  it("sends a large batch by reference in request chunks, and the same bytes as one buffer", () => {
    const chunks = encodeRequestFrameChunks(ProduceApi, 9, 42, "c", produce);
    assert.ok(chunks.includes(batch), "the batch is passed through, not copied");
    const whole = encodeRequestFrame(ProduceApi, 9, 42, "c", produce);
    assert.deepEqual(Buffer.concat(chunks), whole);
    assert.equal(whole.readInt32BE(0), whole.length - 4, "size prefix counts what follows it");
    const decoded = decodeRequestFrame(whole.subarray(4));
    assert.deepEqual(decoded.header, { apiKey: 0, apiVersion: 9, correlationId: 42, clientId: "c" });
    assert.equal(decoded.trailingBytes, 0);
    assert.deepEqual(peekRequestHeader(whole.subarray(4)), { apiKey: 0, apiVersion: 9, correlationId: 42 });
  });

  it("answers with the response header version Kafka uses (ApiVersions always v0)", () => {
    const chunks = encodeResponseFrameChunks(ApiVersionsApi, 3, 7, { errorCode: 0, apiKeys: [] });
    const frame = Buffer.concat(chunks).subarray(4);
    // Header v0: just the correlation id, even though ApiVersions v3 is flexible.
    assert.equal(frame.readInt32BE(0), 7);
    assert.equal(frame[4], 0, "the body starts right after the correlation id (error code 0)");
    assert.equal(decodeResponseFrame(ApiVersionsApi, 3, frame).correlationId, 7);
  });

  it("keeps fetched records as a separate chunk in a Fetch response", () => {
    const records = Buffer.alloc(64 * 1024, 2);
    const chunks = encodeResponseFrameChunks(FetchApi, 12, 1, {
      responses: [{ topic: "t", partitions: [{ partitionIndex: 0, records }] }],
    });
    assert.ok(chunks.includes(records));
    const { body } = decodeResponseFrame(FetchApi, 12, Buffer.concat(chunks).subarray(4));
    assert.deepEqual(body.responses[0].partitions[0].records, records);
  });
});
