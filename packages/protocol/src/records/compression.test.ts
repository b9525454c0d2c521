import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as zlib from "node:zlib";
import fc from "fast-check";
import { compressFrameSync } from "lz4-napi";
import { compressSync as snappyRaw } from "snappy";
import { DecodeError } from "../primitives/index.js";
import { CompressionType } from "./batch-header.js";
import {
  compress,
  compressAsync,
  DEFAULT_MAX_DECOMPRESSED_BYTES,
  type DecompressOptions,
  decompress,
  decompressAsync,
} from "./compression.js";
import { lz4CompressFrame, xxhash32 } from "./lz4.js";
import { isXerialFramed, XERIAL_MAGIC } from "./snappy.js";

const SEED = Number(process.env.SAMSA_TEST_SEED ?? Date.now() % 1_000_000);
const CODECS = [CompressionType.Gzip, CompressionType.Snappy, CompressionType.Lz4, CompressionType.Zstd];

/** JSON-ish records: compressible like real payloads, not trivially so. */
function jsonish(bytes: number, seed = 1): Buffer {
  let s = seed;
  const rnd = () => {
    s = (Math.imul(s, 1103515245) + 12345) & 0x7fffffff;
    return s;
  };
  const parts: string[] = [];
  let n = 0;
  while (n < bytes) {
    const line = JSON.stringify({ id: rnd(), user: `user-${rnd() % 1000}`, amount: (rnd() % 100000) / 100 });
    parts.push(line);
    n += line.length + 1;
  }
  return Buffer.from(parts.join("\n")).subarray(0, bytes);
}

function expectDecodeError(fn: () => unknown, pattern?: RegExp): DecodeError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof DecodeError, `expected DecodeError, got ${String(e)}`);
    if (pattern !== undefined) assert.match(e.message, pattern);
    return e;
  }
  assert.fail("expected a DecodeError");
}

async function expectDecodeErrorAsync(fn: () => Promise<unknown>, pattern?: RegExp): Promise<void> {
  try {
    await fn();
  } catch (e) {
    assert.ok(e instanceof DecodeError, `expected DecodeError, got ${String(e)}`);
    if (pattern !== undefined) assert.match(e.message, pattern);
    return;
  }
  assert.fail("expected a DecodeError");
}

describe("codec round trips", () => {
  const sizes = [0, 1, 100, 32 * 1024, 32 * 1024 + 1, 64 * 1024, 64 * 1024 + 1, 300_000];
  for (const codec of CODECS) {
    it(`${CompressionType[codec]} sync and async, sizes around block boundaries`, async () => {
      for (const size of sizes) {
        const data = jsonish(size, size + 1);
        const c = compress(codec, data);
        assert.deepEqual(decompress(codec, c), data, `size ${size}`);
        assert.deepEqual(await decompressAsync(codec, c), data, `size ${size} async`);
        const ca = await compressAsync(codec, data);
        assert.deepEqual(ca, c, `async compression writes the same bytes (size ${size})`);
      }
      const random = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (Math.imul(i, 2654435761) >>> 13) & 0xff));
      assert.deepEqual(decompress(codec, compress(codec, random)), random);
    });
  }

  it("None passes the bytes through", () => {
    const data = Buffer.from("abc");
    assert.equal(compress(CompressionType.None, data), data);
    assert.equal(decompress(CompressionType.None, data), data);
  });

  it("rejects unknown codecs and zstd below magic 2", () => {
    assert.throws(() => compress(7 as CompressionType, Buffer.alloc(1)), { name: "EncodeError" });
    assert.throws(() => compress(CompressionType.Zstd, Buffer.alloc(1), { magic: 1 }), { name: "EncodeError" });
    expectDecodeError(() => decompress(5 as CompressionType, Buffer.alloc(1)), /unknown compression type 5/);
    expectDecodeError(() => decompress(CompressionType.Zstd, Buffer.alloc(1), { magic: 0 }), /zstd/);
  });
});

describe("snappy framing", () => {
  it("writes the xerial framing snappy-java writes, in 32 KiB blocks", () => {
    const data = jsonish(100_000);
    const c = compress(CompressionType.Snappy, data);
    assert.ok(isXerialFramed(c));
    assert.deepEqual(c.subarray(0, 8), XERIAL_MAGIC);
    assert.equal(c.readInt32BE(8), 1, "version");
    assert.equal(c.readInt32BE(12), 1, "compatible version");
    let blocks = 0;
    for (let pos = 16; pos < c.length; blocks++) pos += 4 + c.readInt32BE(pos);
    assert.equal(blocks, Math.ceil(100_000 / 32768));
  });

  it("decodes raw snappy, as librdkafka and Sarama send it", () => {
    const data = jsonish(50_000);
    assert.deepEqual(decompress(CompressionType.Snappy, snappyRaw(data)), data);
  });

  it("decodes xerial framing built by hand from raw blocks of any size", () => {
    // What snappy-java's SnappyOutputStream emits: header, then [int32 BE length, raw block]...
    const data = jsonish(90_000);
    const header = Buffer.concat([XERIAL_MAGIC, Buffer.from([0, 0, 0, 1, 0, 0, 0, 1])]);
    const pieces = [data.subarray(0, 10), data.subarray(10, 50_000), data.subarray(50_000)];
    const framed = Buffer.concat([
      header,
      ...pieces.flatMap((p) => {
        const block = snappyRaw(p);
        const len = Buffer.alloc(4);
        len.writeInt32BE(block.length);
        return [len, block];
      }),
    ]);
    assert.deepEqual(decompress(CompressionType.Snappy, framed), data);
    // A header with no blocks is an empty payload.
    assert.equal(decompress(CompressionType.Snappy, header).length, 0);
  });

  it("rejects broken xerial framing and raw garbage", () => {
    const c = compress(CompressionType.Snappy, jsonish(70_000));
    const lying = Buffer.from(c);
    lying.writeInt32BE(0x7fffffff, 16);
    expectDecodeError(() => decompress(CompressionType.Snappy, lying), /xerial block length/);
    expectDecodeError(() => decompress(CompressionType.Snappy, c.subarray(0, c.length - 3)));
    expectDecodeError(() => decompress(CompressionType.Snappy, c.subarray(0, 18)), /truncated xerial block length/);
    const future = Buffer.from(c);
    future.writeInt32BE(9, 12);
    expectDecodeError(() => decompress(CompressionType.Snappy, future), /compatible version 9/);
    expectDecodeError(() => decompress(CompressionType.Snappy, Buffer.alloc(0)), /preamble/);
  });
});

describe("lz4 frames", () => {
  it("writes what Kafka's Lz4BlockOutputStream writes: FLG 0x60, BD 0x40, blocks of at most 64 KiB", () => {
    const data = jsonish(200_000);
    const c = compress(CompressionType.Lz4, data);
    assert.equal(c.readUInt32LE(0), 0x184d2204);
    assert.equal(c[4], 0x60);
    assert.equal(c[5], 0x40);
    assert.equal(c[6], (xxhash32(c, 4, 6) >>> 8) & 0xff);
    let pos = 7;
    let blocks = 0;
    for (;;) {
      const word = c.readUInt32LE(pos);
      pos += 4;
      if (word === 0) break;
      pos += word & 0x7fffffff;
      blocks++;
    }
    assert.equal(pos, c.length, "nothing after the end mark");
    assert.equal(blocks, Math.ceil(200_000 / 65536));
  });

  it("xxhash32 matches the reference vectors", () => {
    assert.equal(xxhash32(Buffer.from("")), 0x02cc5d05);
    assert.equal(xxhash32(Buffer.from("a")), 0x550d7456);
    assert.equal(xxhash32(Buffer.from("abc")), 0x32d153ff);
    assert.equal(xxhash32(Buffer.from("Nobody inspects the spammish repetition")), 0xe2293b2f);
  });

  it("KAFKA-3160: magic 0 writes the broken header checksum and reads either; magic 1+ insists on the right one", () => {
    const data = jsonish(1000);
    const broken = compress(CompressionType.Lz4, data, { magic: 0 });
    assert.equal(broken[6], (xxhash32(broken, 0, 6) >>> 8) & 0xff, "HC computed over magic + descriptor");
    assert.notEqual(broken[6], (xxhash32(broken, 4, 6) >>> 8) & 0xff);
    assert.deepEqual(decompress(CompressionType.Lz4, broken, { magic: 0 }), data);
    expectDecodeError(() => decompress(CompressionType.Lz4, broken, { magic: 1 }), /descriptor checksum/);
    expectDecodeError(() => decompress(CompressionType.Lz4, broken), /descriptor checksum/);
    const correct = compress(CompressionType.Lz4, data, { magic: 1 });
    assert.deepEqual(decompress(CompressionType.Lz4, correct, { magic: 0 }), data);
  });

  it("decodes lz4-napi's own frames: automatic block size up to 4 MiB, optional checksums", () => {
    for (const size of [60_000, 200_000, 1_500_000]) {
      const data = jsonish(size);
      assert.deepEqual(decompress(CompressionType.Lz4, compressFrameSync(data)), data, `size ${size}`);
    }
    const small = jsonish(60_000);
    const checked = compressFrameSync(small, { contentChecksum: true, blockChecksums: true });
    assert.deepEqual(decompress(CompressionType.Lz4, checked), small);
    const badContent = Buffer.from(checked);
    badContent[badContent.length - 1] ^= 1;
    expectDecodeError(() => decompress(CompressionType.Lz4, badContent), /content checksum/);
    const badBlock = Buffer.from(checked);
    badBlock[12] ^= 1;
    expectDecodeError(() => decompress(CompressionType.Lz4, badBlock), /block checksum/);
  });

  it("refuses a block that decodes to more than the frame's block size, as a Java consumer would", () => {
    // Java's Lz4BlockInputStream decodes each block into a buffer of the declared maximum.
    const frame = Buffer.from(compressFrameSync(Buffer.alloc(200_000, 0x61))); // one small block of 200,000 bytes
    assert.equal(frame[5], 0x50);
    frame[5] = 0x40; // now claims 64 KiB blocks
    frame[6] = (xxhash32(frame, 4, 6) >>> 8) & 0xff;
    expectDecodeError(() => decompress(CompressionType.Lz4, frame), /corrupt block/);
  });

  it("rejects what Kafka rejects: dependent blocks, reserved bits, bad BD, missing end mark", () => {
    const c = lz4CompressFrame(jsonish(1000));
    const withFlg = (flg: number, bd = 0x40) => {
      const b = Buffer.from(c);
      b[4] = flg;
      b[5] = bd;
      b[6] = (xxhash32(b, 4, 6) >>> 8) & 0xff;
      return b;
    };
    expectDecodeError(() => decompress(CompressionType.Lz4, withFlg(0x40)), /dependent blocks/);
    expectDecodeError(() => decompress(CompressionType.Lz4, withFlg(0x61)), /reserved/);
    expectDecodeError(() => decompress(CompressionType.Lz4, withFlg(0x80 | 0x20)), /version/);
    expectDecodeError(() => decompress(CompressionType.Lz4, withFlg(0x60, 0x30)), /BD/);
    expectDecodeError(() => decompress(CompressionType.Lz4, c.subarray(0, c.length - 4)), /end mark/);
    expectDecodeError(() => decompress(CompressionType.Lz4, c.subarray(0, 5)), /truncated/);
    const magic = Buffer.from(c);
    magic[0] ^= 1;
    expectDecodeError(() => decompress(CompressionType.Lz4, magic), /magic/);
    // Bytes after the end mark are ignored, as Kafka's input stream ignores them.
    assert.equal(decompress(CompressionType.Lz4, Buffer.concat([c, Buffer.from([1, 2, 3])])).length, 1000);
  });
});

describe("decompression bombs and garbage", () => {
  const cap: DecompressOptions = { maxDecompressedBytes: 1024 * 1024 };

  for (const codec of CODECS) {
    it(`${CompressionType[codec]}: output over the cap is a DecodeError, sync and async`, async () => {
      const bomb = compress(codec, Buffer.alloc(4 * 1024 * 1024));
      expectDecodeError(() => decompress(codec, bomb, cap), /exceeds the limit|declares/);
      await expectDecodeErrorAsync(() => decompressAsync(codec, bomb, cap), /exceeds the limit|declares/);
      // Exactly at the cap is fine.
      const fits = compress(codec, Buffer.alloc(1024 * 1024));
      assert.equal(decompress(codec, fits, cap).length, 1024 * 1024);
    });
  }

  it("the default cap stops a gzip bomb", () => {
    const bomb = zlib.gzipSync(Buffer.alloc(DEFAULT_MAX_DECOMPRESSED_BYTES + 1), { level: 1 });
    expectDecodeError(() => decompress(CompressionType.Gzip, bomb), /exceeds the limit of 67108864 bytes/);
  });

  it("zstd: a header declaring 2^40 bytes is refused before any allocation", () => {
    // magic | FHD: 8-byte content size, single segment | FCS = 2^40 | one empty raw last block
    const frame = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0xe0, 0, 0, 0, 0, 0, 1, 0, 0, 0x01, 0, 0]);
    expectDecodeError(() => decompress(CompressionType.Zstd, frame), /declares 1099511627776 bytes/);
  });

  it("zstd: a streamed frame of RLE blocks (4 bytes -> 128 KiB each) stops at the cap", () => {
    // magic | FHD: no content size, not single segment | window 128 KiB | RLE blocks of 128 KiB ...
    const blockHeader = (last: boolean) => {
      const v = 128 * 1024 * 8 + (1 << 1) + (last ? 1 : 0);
      return [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, 0x61];
    };
    const blocks: number[] = [];
    for (let i = 0; i < 4096; i++) blocks.push(...blockHeader(i === 4095)); // 512 MiB of 'a'
    const frame = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38, ...blocks]);
    expectDecodeError(() => decompress(CompressionType.Zstd, frame), /exceeds the limit/);
    // The same frame, shortened to fit, decodes.
    const small = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38, ...blockHeader(false), ...blockHeader(true)]);
    assert.equal(decompress(CompressionType.Zstd, small).length, 256 * 1024);
  });

  it("snappy: a lying length preamble is refused before decoding", () => {
    const lie = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]); // claims 4 GiB
    expectDecodeError(() => decompress(CompressionType.Snappy, lie), /exceeds the limit/);
    const short = Buffer.from(snappyRaw(Buffer.from("hello hello hello")));
    short[0] = 100; // claims 100 bytes, holds 17
    expectDecodeError(() => decompress(CompressionType.Snappy, short), /corrupt block/);
  });

  it(`random and mutated input never throws anything but DecodeError (seed ${SEED})`, () => {
    console.log(`compression fuzz seed: ${SEED} (set SAMSA_TEST_SEED to replay)`);
    const samples = CODECS.map((codec) => ({ codec, bytes: compress(codec, jsonish(5000)) }));
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: samples.length - 1 }),
        fc.uint8Array({ minLength: 0, maxLength: 64 }),
        fc.nat(),
        fc.constantFrom("replace", "truncate", "random"),
        (which, noise, at, mode) => {
          const { codec, bytes } = samples[which];
          let input: Buffer;
          if (mode === "random") input = Buffer.from(noise);
          else if (mode === "truncate") input = bytes.subarray(0, at % (bytes.length + 1));
          else {
            input = Buffer.from(bytes);
            Buffer.from(noise).copy(input, at % input.length);
          }
          for (const magic of codec === CompressionType.Zstd ? [2] : [0, 1, 2]) {
            try {
              decompress(codec, input, { ...cap, magic });
            } catch (e) {
              if (!(e instanceof DecodeError)) throw e;
            }
          }
        },
      ),
      { seed: SEED, numRuns: 2000 },
    );
  });
});
