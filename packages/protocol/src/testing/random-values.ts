/**
 * Seeded random values for any generated message, driven by the run-time field schema.
 * Used by the round-trip and fuzz tests; a failing seed reproduces exactly.
 */
import type { FieldSchema, MessageCodec } from "../primitives/api.js";
import type { RawTaggedField } from "../primitives/reader.js";

/** mulberry32: tiny, fast, good enough to drive tests; the seed is printed by every test that uses it. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Parses a schema version set such as "0-2, 5-13" or "none". */
export function versionSet(text: string | undefined): (v: number) => boolean {
  if (text === undefined || text === "none") return () => false;
  const runs = text.split(",").map((part) => {
    const [a, b] = part.trim().split("-");
    return [Number(a), Number(b ?? a)] as const;
  });
  return (v) => runs.some(([a, b]) => v >= a && v <= b);
}

const EDGE_INTS: Record<string, number[]> = {
  int8: [-128, 127, 0, -1],
  int16: [-32768, 32767, 0, -1],
  uint16: [0, 65535],
  int32: [-2147483648, 2147483647, 0, -1],
  uint32: [0, 4294967295],
};
const RANGES: Record<string, [number, number]> = {
  int8: [-128, 127],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
};
const ALPHABET = ["a", "Z", "0", ".", "-", "_", " ", "é", "漢", "😀"];

export class RandomValues {
  constructor(private readonly rng: () => number) {}

  int(lo: number, hi: number): number {
    return lo + Math.floor(this.rng() * (hi - lo + 1));
  }

  bytes(max: number): Buffer {
    const b = Buffer.alloc(this.int(0, max));
    for (let i = 0; i < b.length; i++) b[i] = this.int(0, 255);
    return b;
  }

  private primitive(type: string): unknown {
    const r = this.rng();
    switch (type) {
      case "bool":
        return r < 0.5;
      case "int8":
      case "int16":
      case "uint16":
      case "int32":
      case "uint32": {
        const edges = EDGE_INTS[type];
        if (r < 0.2) return edges[this.int(0, edges.length - 1)];
        const [lo, hi] = RANGES[type];
        return this.int(lo, hi);
      }
      case "int64": {
        if (r < 0.2) return [-(2n ** 63n), 2n ** 63n - 1n, 0n, -1n][this.int(0, 3)];
        return BigInt.asIntN(64, (BigInt(this.int(0, 0xffffffff)) << 32n) | BigInt(this.int(0, 0xffffffff)));
      }
      case "float64":
        return r < 0.1 ? 0 : (this.rng() - 0.5) * 10 ** this.int(-5, 300);
      case "string": {
        let s = "";
        const n = this.int(0, 8);
        for (let i = 0; i < n; i++) s += ALPHABET[this.int(0, ALPHABET.length - 1)];
        return s;
      }
      case "bytes":
      case "records":
        return this.bytes(16);
      case "uuid":
        return randomUuid(this);
    }
    throw new Error(`no random value for ${type}`);
  }

  /** A value for `fields` at `version`: every field present in the version gets a random value. */
  struct(fields: readonly FieldSchema[], version: number, depth = 0): Record<string, unknown> {
    const o: Record<string, unknown> = {};
    for (const f of fields) {
      if (!versionSet(f.versions)(version)) continue;
      if (versionSet(f.nullableVersions)(version) && this.rng() < 0.15) {
        o[f.name] = null;
        continue;
      }
      o[f.name] = this.value(f, version, depth);
    }
    return o;
  }

  private value(f: FieldSchema, version: number, depth: number): unknown {
    if (f.type.startsWith("[]")) {
      const n = depth > 3 ? 0 : this.int(0, 3);
      const out: unknown[] = [];
      for (let i = 0; i < n; i++) {
        out.push(f.fields !== undefined ? this.struct(f.fields, version, depth + 1) : this.primitive(f.type.slice(2)));
      }
      return out;
    }
    if (f.fields !== undefined) return this.struct(f.fields, version, depth + 1);
    return this.primitive(f.type);
  }

  /** Unknown tagged fields with tags far above any Kafka uses, in ascending order. */
  unknownTaggedFields(): RawTaggedField[] {
    const n = this.int(1, 2);
    const out: RawTaggedField[] = [];
    let tag = 10000;
    for (let i = 0; i < n; i++) {
      tag += this.int(1, 50);
      out.push({ tag, data: this.bytes(8) });
    }
    return out;
  }
}

function randomUuid(rv: RandomValues): string {
  const b = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) b[i] = rv.int(0, 255);
  return b.toString("base64url");
}

/** Keeps only the fields present at `version` (what a decoder can give back), recursively. */
export function project(value: unknown, fields: readonly FieldSchema[], version: number): unknown {
  if (value === null || typeof value !== "object") return value;
  const o = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    if (!versionSet(f.versions)(version)) continue;
    const x = o[f.name];
    if (f.fields !== undefined && Array.isArray(x)) out[f.name] = x.map((e) => project(e, f.fields!, version));
    else if (f.fields !== undefined) out[f.name] = project(x, f.fields, version);
    else out[f.name] = x;
  }
  return out;
}

export function isMessageCodec(x: unknown): x is MessageCodec<unknown> {
  return (
    typeof x === "object" &&
    x !== null &&
    "schema" in x &&
    "encode" in x &&
    "decode" in x &&
    typeof (x as { minVersion?: unknown }).minVersion === "number"
  );
}
