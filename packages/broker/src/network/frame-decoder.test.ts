import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FrameDecoder, InvalidFrameError } from "./frame-decoder.js";

function frame(body: Buffer): Buffer {
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length);
  return Buffer.concat([size, body]);
}

describe("FrameDecoder", () => {
  it("splits a stream into frames however the bytes are chunked", () => {
    const bodies = [Buffer.from("a"), Buffer.alloc(0), Buffer.from("hello world"), Buffer.alloc(5000, 7)];
    const stream = Buffer.concat(bodies.map(frame));
    for (const chunkSize of [1, 2, 3, 5, 7, 64, 4096, stream.length]) {
      const d = new FrameDecoder(1 << 20);
      const out: Buffer[] = [];
      for (let i = 0; i < stream.length; i += chunkSize) out.push(...d.push(stream.subarray(i, i + chunkSize)));
      assert.deepEqual(out, bodies, `chunks of ${chunkSize}`);
      assert.equal(d.pendingBytes, 0);
    }
  });

  it("returns a frame inside one chunk as a view, without copying", () => {
    const chunk = frame(Buffer.from("zero-copy"));
    const [f] = new FrameDecoder(100).push(chunk);
    assert.equal(f.buffer, chunk.buffer);
  });

  it("rejects a size above socket.request.max.bytes before buffering it", () => {
    const d = new FrameDecoder(100);
    const header = Buffer.alloc(4);
    header.writeInt32BE(101);
    assert.throws(() => d.push(header), InvalidFrameError);
  });

  it("rejects a negative size", () => {
    assert.throws(() => new FrameDecoder(100).push(Buffer.from([0xff, 0xff, 0xff, 0xfe])), InvalidFrameError);
  });

  it("reports the bytes of an incomplete frame", () => {
    const d = new FrameDecoder(100);
    assert.deepEqual(d.push(frame(Buffer.from("abcdef")).subarray(0, 7)), []);
    assert.equal(d.pendingBytes, 3);
  });
});
