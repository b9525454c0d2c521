import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DecodeError } from "./decode-error.js";
import { Reader } from "./reader.js";
import { parseUuid, ZERO_UUID } from "./uuid.js";
import { Writer } from "./writer.js";

function bytes(...b: number[]): Buffer {
  return Buffer.from(b);
}

describe("Reader and Writer", () => {
  it("round-trips unsigned varints at every length boundary", () => {
    for (const v of [0, 1, 127, 128, 16383, 16384, 2097151, 2097152, 268435455, 268435456, 0xffffffff]) {
      const w = new Writer();
      w.writeUVarint(v);
      const r = new Reader(w.toBuffer());
      assert.equal(r.readUVarint("v"), v);
      assert.equal(r.remaining, 0);
    }
  });

  it("round-trips zigzag varints and varlongs", () => {
    for (const v of [0, -1, 1, -64, 63, -65, 2147483647, -2147483648]) {
      const w = new Writer();
      w.writeVarint(v);
      assert.equal(new Reader(w.toBuffer()).readVarint("v"), v);
    }
    for (const v of [0n, -1n, 1n, 134217727n, -134217728n, 134217728n, 2n ** 62n, -(2n ** 63n), 2n ** 63n - 1n]) {
      const w = new Writer();
      w.writeVarlong(v);
      assert.equal(new Reader(w.toBuffer()).readVarlong("v"), v);
    }
  });

  it("matches Kafka's encoding of known values", () => {
    const w = new Writer();
    w.writeVarint(-1); // zigzag(-1) = 1
    w.writeUVarint(300); // 0xac 0x02
    w.writeCompactString("ab"); // length+1 = 3
    w.writeCompactNullableString(null);
    assert.deepEqual([...w.toBuffer()], [0x01, 0xac, 0x02, 0x03, 0x61, 0x62, 0x00]);
  });

  it("reports truncation and overlong varints as DecodeError naming the field", () => {
    assert.throws(
      () => new Reader(bytes(0x80, 0x80)).readUVarint("Foo.Bar"),
      (e: unknown) => {
        return e instanceof DecodeError && e.field === "Foo.Bar" && /truncated/.test(e.message);
      },
    );
    assert.throws(() => new Reader(bytes(0xff, 0xff, 0xff, 0xff, 0x7f)).readUVarint("x"), DecodeError);
    assert.throws(() => new Reader(bytes(0, 0, 0)).readInt32("x"), DecodeError);
    assert.throws(() => new Reader(bytes(0, 5, 0x61)).readString("x"), DecodeError);
    assert.throws(() => new Reader(bytes(0xff, 0xfe)).readNullableString("x"), DecodeError);
  });

  it("caps array counts by the bytes left, before allocating", () => {
    assert.throws(() => new Reader(bytes(0x7f, 0xff, 0xff, 0xff, 1, 2)).readArrayLength("big", false), DecodeError);
    assert.throws(() => new Reader(bytes(0xff, 0xff, 0xff, 0xfe)).readArrayLength("neg", true), DecodeError);
    assert.equal(new Reader(bytes(0xff, 0xff, 0xff, 0xff)).readArrayLength("null", true), -1);
    assert.throws(() => new Reader(bytes(0xff, 0xff, 0xff, 0xff)).readArrayLength("null", false), DecodeError);
    assert.throws(() => new Reader(bytes(0x00)).readCompactArrayLength("null", false), DecodeError);
  });

  it("splices large byte fields as chunks instead of copying them", () => {
    const big = Buffer.alloc(100_000, 7);
    const w = new Writer();
    w.writeInt32(1);
    w.writeBytes(big);
    w.writeInt16(2);
    const chunks = w.toChunks();
    assert.ok(chunks.includes(big), "the large buffer is passed through by reference");
    assert.equal(w.length, 4 + 4 + big.length + 2);
    const all = w.toBuffer();
    const r = new Reader(all);
    assert.equal(r.readInt32("a"), 1);
    assert.ok(r.readBytes("b").equals(big));
    assert.equal(r.readInt16("c"), 2);
  });

  it("prints UUIDs as Kafka does (22 chars of base64url)", () => {
    const w = new Writer();
    w.writeUuid(ZERO_UUID, "id");
    assert.deepEqual(w.toBuffer(), Buffer.alloc(16));
    assert.equal(parseUuid("AAAAAAAAAAAAAAAAAAAAAQ"), "AAAAAAAAAAAAAAAAAAAAAQ");
    assert.throws(() => parseUuid("not-a-uuid"), DecodeError);
  });
});
