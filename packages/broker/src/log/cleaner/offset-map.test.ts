import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { murmur3x86128, OffsetMap } from "./offset-map.js";

function hashHex(key: Buffer, seed: number): string {
  const out = new Int32Array(4);
  // At an offset inside a bigger buffer, as the cleaner hashes keys in place.
  const buf = Buffer.concat([Buffer.from([0xaa, 0xbb, 0xcc]), key, Buffer.from([0xdd])]);
  murmur3x86128(buf, 3, key.length, seed, out);
  return Array.from(out, (w) => (w >>> 0).toString(16).padStart(8, "0")).join(" ");
}

function key(s: string): Buffer {
  return Buffer.from(s);
}

describe("MurmurHash3 x86_128", () => {
  // h1 h2 h3 h4 from a C implementation of the published algorithm (smhasher's MurmurHash3_x86_128),
  // which agreed with this one on 400 random keys of 0..40 bytes.
  const vectors: [seed: number, keyHex: string, hash: string][] = [
    [0, "", "00000000 00000000 00000000 00000000"],
    [
      0,
      Buffer.from("The quick brown fox jumps over the lazy dog").toString("hex"),
      "2f1583c3 ecee2c67 5d7bf66c e5e91d2c",
    ],
    [123, Buffer.from("Hello, world!").toString("hex"), "61c9129e 5a1aacd7 a4162162 9e37c886"],
    [2538058380, "e7", "a5aca94f 281ee48d 281ee48d 281ee48d"],
    [4294967295, "4fa593", "fa105ffd c6062329 c6062329 c6062329"],
    [1, "0074cc11bfee80e58917a88610bebc", "81a886fc 89752bdb a5e19a6c 65f01fc5"],
    [0, "89eb83927eb35316470eccb02e6ce512", "f97a74f7 30f91c77 3fde4372 881c826c"],
    [0, "a216cd42159bdb381143dc1f740256fe8d", "bac8f188 2172e2db 1986ed2e 6900e80b"],
    [
      0,
      "95f587dac027a8e4b7c8e19863c353b8fc7e2648b99ea4250bd3d5b7e483a06dbbb3cf8123e886c0",
      "b6cf9e1b 3c97159c ee59e4ac e20fe7e1",
    ],
  ];
  for (const [seed, hex, hash] of vectors)
    test(`${hex.length / 2} bytes, seed ${seed}`, () => assert.equal(hashHex(Buffer.from(hex, "hex"), seed), hash));
});

describe("OffsetMap", () => {
  test("put, get, overwrite; absent keys are -1", () => {
    const map = new OffsetMap(10);
    const buf = key("xxkey-1yy");
    assert.equal(map.get(buf, 2, 5), -1);
    assert.equal(map.put(buf, 2, 5, 7), true);
    assert.equal(map.get(key("key-1"), 0, 5), 7);
    assert.equal(map.put(key("key-1"), 0, 5, 0), true);
    assert.equal(map.get(buf, 2, 5), 0);
    assert.equal(map.size, 1);
    assert.equal(map.get(key("key-2"), 0, 5), -1);
    assert.equal(map.get(buf, 2, 4), -1, "a prefix is another key");
  });

  test("the empty key is a key like any other", () => {
    const map = new OffsetMap(4);
    const buf = key("abc");
    assert.equal(map.get(buf, 1, 0), -1);
    map.put(buf, 1, 0, 42);
    assert.equal(map.get(buf, 3, 0), 42);
    assert.equal(map.get(buf, 0, 1), -1);
    assert.equal(map.size, 1);
  });

  test("200 000 keys, none lost", () => {
    const n = 200_000;
    const map = new OffsetMap(n);
    const buf = Buffer.alloc(16);
    const write = (i: number) => buf.write(`k${i.toString(36).padStart(8, "0")}`, 0, "latin1");
    for (let i = 0; i < n; i++) assert.equal(map.put(buf, 0, write(i), i * 3), true);
    for (let i = 0; i < n; i += 2) map.put(buf, 0, write(i), i * 3 + 1);
    assert.equal(map.size, n);
    for (let i = 0; i < n; i++) assert.equal(map.get(buf, 0, write(i)), i % 2 === 0 ? i * 3 + 1 : i * 3);
    assert.equal(map.get(buf, 0, write(n)), -1);
  });

  test("full: a new key is refused, known keys still update", () => {
    const map = new OffsetMap(3);
    for (let i = 0; i < 3; i++) assert.equal(map.put(key(`k${i}`), 0, 2, i), true);
    assert.equal(map.put(key("k3"), 0, 2, 3), false);
    assert.equal(map.get(key("k3"), 0, 2), -1);
    assert.equal(map.size, 3);
    assert.equal(map.put(key("k1"), 0, 2, 10), true);
    assert.equal(map.get(key("k1"), 0, 2), 10);
  });

  test("clear empties it", () => {
    const map = new OffsetMap(3);
    map.put(key("a"), 0, 1, 1);
    map.put(key("b"), 0, 1, 2);
    map.clear();
    assert.equal(map.size, 0);
    assert.equal(map.get(key("a"), 0, 1), -1);
    map.put(key("b"), 0, 1, 5);
    assert.equal(map.get(key("b"), 0, 1), 5);
  });

  test("reset empties it for a smaller pass, and grows the table for a bigger one", () => {
    const map = new OffsetMap(1000);
    const bytes = map.bytes;
    for (let i = 0; i < 1000; i++) map.put(key(`k${i}`), 0, `k${i}`.length, i);
    map.reset(10);
    assert.ok(map.bytes < bytes, "only the slots a pass needs are cleared");
    assert.equal(map.size, 0);
    for (let i = 0; i < 1000; i++) assert.equal(map.get(key(`k${i}`), 0, `k${i}`.length), -1);
    for (let i = 0; i < 10; i++) assert.equal(map.put(key(`k${i}`), 0, 2, i), true);
    assert.equal(map.put(key("kx"), 0, 2, 99), false);
    map.reset(5000);
    assert.ok(map.bytes > bytes);
    assert.equal(map.size, 0);
    for (let i = 0; i < 5000; i++) assert.equal(map.put(key(`k${i}`), 0, `k${i}`.length, i), true);
    assert.equal(map.get(key("k4999"), 0, 5), 4999);
    assert.equal(map.size, 5000);
  });

  test("offsets up to 2^53 - 2 round-trip", () => {
    const map = new OffsetMap(1);
    map.put(key("a"), 0, 1, Number.MAX_SAFE_INTEGER - 1);
    assert.equal(map.get(key("a"), 0, 1), Number.MAX_SAFE_INTEGER - 1);
  });
});
