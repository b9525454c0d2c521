/**
 * Mutation fuzzing of every request decoder, as a broker meets bytes: whole frames through
 * decodeRequestFrame. Anything other than a DecodeError (a RangeError from Buffer, a TypeError,
 * an allocation sized by a lying length) fails the test and prints the seed and the frame.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeRequestFrame, encodeRequestFrame } from "./frames.js";
import { APIS } from "./messages/index.js";
import type { ApiDescriptor } from "./primitives/api.js";
import { DecodeError } from "./primitives/decode-error.js";
import { Reader } from "./primitives/reader.js";
import { Writer } from "./primitives/writer.js";
import { RandomValues, seededRandom } from "./testing/random-values.js";

const SEED = Number(process.env.SAMSA_TEST_SEED ?? Date.now() % 1_000_000);
/** The issue asks for at least 100,000 mutated frames per CI run. */
const REQUEST_FRAMES = Math.max(100_000, Number(process.env.SAMSA_FUZZ_FRAMES ?? 0));
const RESPONSE_FRAMES = 30_000;
const SEEDS_PER_VERSION = 2;
const MAX_RSS_GROWTH_BYTES = 256 * 1024 * 1024;

type Mutation = (b: Buffer, rv: RandomValues) => Buffer;

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];

const MUTATIONS: Mutation[] = [
  // Flip one bit.
  (b, rv) => {
    if (b.length === 0) return b;
    const c = Buffer.from(b);
    c[rv.int(0, c.length - 1)] ^= 1 << rv.int(0, 7);
    return c;
  },
  // Set a byte to a boundary value (lengths become -1, huge, or varints never end).
  (b, rv) => {
    if (b.length === 0) return b;
    const c = Buffer.from(b);
    c[rv.int(0, c.length - 1)] = INTERESTING[rv.int(0, INTERESTING.length - 1)];
    return c;
  },
  // Overwrite 4 bytes with a lying int32 length or count.
  (b, rv) => {
    if (b.length < 4) return b;
    const c = Buffer.from(b);
    const lies = [0x7fffffff, -2, -1, 0x10000000, c.length, c.length + 1];
    c.writeInt32BE(lies[rv.int(0, lies.length - 1)], rv.int(0, c.length - 4));
    return c;
  },
  // Truncate anywhere.
  (b, rv) => b.subarray(0, rv.int(0, b.length)),
  // Insert random bytes.
  (b, rv) => {
    const at = rv.int(0, b.length);
    return Buffer.concat([b.subarray(0, at), rv.bytes(6), b.subarray(at)]);
  },
  // Delete a run of bytes.
  (b, rv) => {
    const at = rv.int(0, b.length);
    return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + rv.int(1, 8)))]);
  },
  // Append continuation bytes (an unterminated varint at the end).
  (b, rv) => Buffer.concat([b, Buffer.alloc(rv.int(1, 10), 0xff)]),
];

function mutate(frame: Buffer, rv: RandomValues): Buffer {
  let out = frame;
  const n = rv.int(1, 4);
  for (let i = 0; i < n; i++) out = MUTATIONS[rv.int(0, MUTATIONS.length - 1)](out, rv);
  return out;
}

/** Valid request frames (size prefix stripped) for every API and version. */
function requestSeeds(rv: RandomValues): Buffer[][] {
  return APIS.map((api) => {
    const seeds: Buffer[] = [];
    for (let v = api.request.minVersion; v <= api.request.maxVersion; v++) {
      for (let i = 0; i < SEEDS_PER_VERSION; i++) {
        const body = rv.struct(api.request.schema, v);
        seeds.push(encodeRequestFrame(api, v, rv.int(0, 1 << 30), "fuzz", body).subarray(4));
      }
    }
    return seeds;
  });
}

function expectOnlyDecodeErrors(what: string, frame: Buffer, decode: () => void): "ok" | "error" {
  try {
    decode();
    return "ok";
  } catch (e) {
    if (e instanceof DecodeError) return "error";
    assert.fail(
      `${what} (seed ${SEED}) threw ${(e as Error).name}: ${(e as Error).message}\nframe: ${frame.toString("hex")}`,
    );
  }
}

describe(`fuzzing decoders with mutated frames (seed ${SEED})`, { timeout: 10 * 60_000 }, () => {
  it(`${REQUEST_FRAMES} mutated request frames, spread over every API: only DecodeError`, () => {
    const rv = new RandomValues(seededRandom(SEED));
    const seeds = requestSeeds(rv);
    const rssBefore = process.memoryUsage().rss;
    let maxRss = rssBefore;
    const outcomes = { ok: 0, error: 0 };
    for (let i = 0; i < REQUEST_FRAMES; i++) {
      const perApi = seeds[i % seeds.length];
      const seed = perApi[rv.int(0, perApi.length - 1)];
      // One frame in 50 is pure noise with a plausible header start, to reach the header paths too.
      const frame = i % 50 === 0 ? Buffer.concat([seed.subarray(0, 4), rv.bytes(64)]) : mutate(seed, rv);
      outcomes[expectOnlyDecodeErrors("decodeRequestFrame", frame, () => decodeRequestFrame(frame))]++;
      if (i % 5000 === 0) maxRss = Math.max(maxRss, process.memoryUsage().rss);
    }
    maxRss = Math.max(maxRss, process.memoryUsage().rss);
    assert.ok(
      maxRss - rssBefore < MAX_RSS_GROWTH_BYTES,
      `memory grew by ${((maxRss - rssBefore) / 2 ** 20).toFixed(0)} MiB while fuzzing`,
    );
    // Both outcomes must be common, or the mutations are not reaching the decoders.
    assert.ok(outcomes.error > REQUEST_FRAMES / 10, `only ${outcomes.error} frames were rejected`);
    assert.ok(outcomes.ok > REQUEST_FRAMES / 100, `only ${outcomes.ok} frames decoded`);
  });

  it(`${RESPONSE_FRAMES} mutated response bodies (what a client meets): only DecodeError`, () => {
    const rv = new RandomValues(seededRandom(SEED + 1));
    const seeds: { api: ApiDescriptor; version: number; body: Buffer }[] = [];
    for (const api of APIS) {
      for (let v = api.response.minVersion; v <= api.response.maxVersion; v++) {
        const w = new Writer();
        api.response.encode(w, rv.struct(api.response.schema, v), v);
        seeds.push({ api, version: v, body: w.toBuffer() });
      }
    }
    for (let i = 0; i < RESPONSE_FRAMES; i++) {
      const s = seeds[i % seeds.length];
      const frame = mutate(s.body, rv);
      expectOnlyDecodeErrors(`${s.api.response.name} v${s.version}`, frame, () =>
        s.api.response.decode(new Reader(frame), s.version),
      );
    }
  });
});
