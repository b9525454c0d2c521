/**
 * The cleaner's offset map (Kafka's SkimpyOffsetMap): key -> offset of its latest record, as one
 * fixed table of 24-byte entries, so that mapping millions of records allocates nothing.
 *
 * A key is stored as its 128-bit MurmurHash3 (x86_128), not its bytes: like Kafka's MD5 of the
 * key, two keys colliding in 128 bits is a chance we accept (the older of the two records would be
 * dropped). Entry layout, in one ArrayBuffer: four int32 words of the hash, then the offset + 1 as
 * a float64 (0 marks an empty slot, so `clear()` is a memset and the all-zero hash, which is that
 * of the empty key, stays a valid key). Open addressing with linear probing from the first hash
 * word modulo the slot count; there are no deletes.
 *
 * The table is sized per pass (`reset`): for the keys the pass may hold at most, divided by
 * MAX_LOAD_FACTOR; the next pass of the thread reuses it when it is big enough.
 */

/**
 * The fullest a table gets: log.cleaner.io.buffer.load.factor's default. The map's entry limit
 * (maxMapEntries) already applies the configured factor to log.cleaner.dedupe.buffer.size; this
 * one turns that limit back into slots.
 */
const MAX_LOAD_FACTOR = 0.9;
/** 16 bytes of hash + an 8-byte offset, as Kafka's SkimpyOffsetMap with MD5. */
export const OFFSET_MAP_ENTRY_BYTES = 24;
const WORDS_PER_ENTRY = OFFSET_MAP_ENTRY_BYTES / 4;
const OFFSETS_PER_ENTRY = OFFSET_MAP_ENTRY_BYTES / 8;

const C1 = 0x239b961b;
const C2 = 0xab0e9789;
const C3 = 0x38b34ae5;
const C4 = 0xa1e38b93;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

function int32LE(buf: Uint8Array, i: number): number {
  return buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24);
}

/**
 * MurmurHash3_x86_128 (Austin Appleby, public domain) of buf[start, start + length) with `seed`,
 * into out[0..3] as int32 words h1..h4 (the reference's output order). Hand-written because no
 * kept library hashes a Buffer range without copying it.
 */
export function murmur3x86128(buf: Uint8Array, start: number, length: number, seed: number, out: Int32Array): void {
  let h1 = seed | 0;
  let h2 = h1;
  let h3 = h1;
  let h4 = h1;
  const blocksEnd = start + (length & ~15);
  let i = start;
  for (; i < blocksEnd; i += 16) {
    let k1 = int32LE(buf, i);
    let k2 = int32LE(buf, i + 4);
    let k3 = int32LE(buf, i + 8);
    let k4 = int32LE(buf, i + 12);
    k1 = Math.imul(rotl(Math.imul(k1, C1), 15), C2);
    h1 ^= k1;
    h1 = (Math.imul(rotl(h1, 19) + h2, 5) + 0x561ccd1b) | 0;
    k2 = Math.imul(rotl(Math.imul(k2, C2), 16), C3);
    h2 ^= k2;
    h2 = (Math.imul(rotl(h2, 17) + h3, 5) + 0x0bcaa747) | 0;
    k3 = Math.imul(rotl(Math.imul(k3, C3), 17), C4);
    h3 ^= k3;
    h3 = (Math.imul(rotl(h3, 15) + h4, 5) + 0x96cd1c35) | 0;
    k4 = Math.imul(rotl(Math.imul(k4, C4), 18), C1);
    h4 ^= k4;
    h4 = (Math.imul(rotl(h4, 13) + h1, 5) + 0x32ac3b17) | 0;
  }
  const tail = length & 15;
  let k1 = 0;
  let k2 = 0;
  let k3 = 0;
  let k4 = 0;
  // The reference's fall-through switch, as conditions on the tail length.
  if (tail >= 15) k4 ^= buf[i + 14]! << 16;
  if (tail >= 14) k4 ^= buf[i + 13]! << 8;
  if (tail >= 13) {
    k4 ^= buf[i + 12]!;
    h4 ^= Math.imul(rotl(Math.imul(k4, C4), 18), C1);
  }
  if (tail >= 12) k3 ^= buf[i + 11]! << 24;
  if (tail >= 11) k3 ^= buf[i + 10]! << 16;
  if (tail >= 10) k3 ^= buf[i + 9]! << 8;
  if (tail >= 9) {
    k3 ^= buf[i + 8]!;
    h3 ^= Math.imul(rotl(Math.imul(k3, C3), 17), C4);
  }
  if (tail >= 8) k2 ^= buf[i + 7]! << 24;
  if (tail >= 7) k2 ^= buf[i + 6]! << 16;
  if (tail >= 6) k2 ^= buf[i + 5]! << 8;
  if (tail >= 5) {
    k2 ^= buf[i + 4]!;
    h2 ^= Math.imul(rotl(Math.imul(k2, C2), 16), C3);
  }
  if (tail >= 4) k1 ^= buf[i + 3]! << 24;
  if (tail >= 3) k1 ^= buf[i + 2]! << 16;
  if (tail >= 2) k1 ^= buf[i + 1]! << 8;
  if (tail >= 1) {
    k1 ^= buf[i]!;
    h1 ^= Math.imul(rotl(Math.imul(k1, C1), 15), C2);
  }
  h1 ^= length;
  h2 ^= length;
  h3 ^= length;
  h4 ^= length;
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  h1 = fmix(h1);
  h2 = fmix(h2);
  h3 = fmix(h3);
  h4 = fmix(h4);
  h1 = (h1 + h2 + h3 + h4) | 0;
  out[0] = h1;
  out[1] = (h2 + h1) | 0;
  out[2] = (h3 + h1) | 0;
  out[3] = (h4 + h1) | 0;
}

export class OffsetMap {
  private words: Int32Array;
  private offsets: Float64Array;
  private slots = 0;
  private entries = 0;
  private maxEntries = 0;
  private readonly hash = new Int32Array(4);

  constructor(maxEntries: number) {
    this.words = new Int32Array(0);
    this.offsets = new Float64Array(0);
    this.reset(maxEntries);
  }

  /** Entries put (distinct keys). */
  get size(): number {
    return this.entries;
  }

  /** Bytes of the table in use by this pass. */
  get bytes(): number {
    return this.slots * OFFSET_MAP_ENTRY_BYTES;
  }

  /**
   * Empties the map and makes it hold up to `maxEntries` keys: the table grows (a new buffer) when
   * it is too small, and only the slots in use are cleared.
   */
  reset(maxEntries: number): void {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError(`offset map of ${maxEntries} entries`);
    const slots = Math.max(maxEntries + 1, Math.ceil(maxEntries / MAX_LOAD_FACTOR));
    if (slots * WORDS_PER_ENTRY > this.words.length) {
      const buffer = new ArrayBuffer(slots * OFFSET_MAP_ENTRY_BYTES);
      this.words = new Int32Array(buffer);
      this.offsets = new Float64Array(buffer);
    } else {
      this.words.fill(0, 0, slots * WORDS_PER_ENTRY);
    }
    this.slots = slots;
    this.maxEntries = maxEntries;
    this.entries = 0;
  }

  clear(): void {
    this.words.fill(0, 0, this.slots * WORDS_PER_ENTRY);
    this.entries = 0;
  }

  /**
   * Maps the key buf[start, start + length) to `offset` (>= 0). False, and nothing changes, when
   * the key is new and the map already holds its maximum.
   */
  put(buf: Uint8Array, start: number, length: number, offset: number): boolean {
    const slot = this.find(buf, start, length);
    const at = slot * OFFSETS_PER_ENTRY + 2;
    if (this.offsets[at] === 0) {
      if (this.entries >= this.maxEntries) return false;
      const w = slot * WORDS_PER_ENTRY;
      const hash = this.hash;
      this.words[w] = hash[0]!;
      this.words[w + 1] = hash[1]!;
      this.words[w + 2] = hash[2]!;
      this.words[w + 3] = hash[3]!;
      this.entries++;
    }
    this.offsets[at] = offset + 1;
    return true;
  }

  /** The offset of the key buf[start, start + length), or -1 when it is not in the map. */
  get(buf: Uint8Array, start: number, length: number): number {
    return this.offsets[this.find(buf, start, length) * OFFSETS_PER_ENTRY + 2]! - 1;
  }

  /** The slot holding the key's hash, or the empty slot where it would go (there always is one). */
  private find(buf: Uint8Array, start: number, length: number): number {
    const hash = this.hash;
    murmur3x86128(buf, start, length, 0, hash);
    const h0 = hash[0]!;
    const h1 = hash[1]!;
    const h2 = hash[2]!;
    const h3 = hash[3]!;
    const words = this.words;
    const offsets = this.offsets;
    const slots = this.slots;
    let slot = (h0 >>> 0) % slots;
    for (;;) {
      if (offsets[slot * OFFSETS_PER_ENTRY + 2] === 0) return slot;
      const w = slot * WORDS_PER_ENTRY;
      if (words[w] === h0 && words[w + 1] === h1 && words[w + 2] === h2 && words[w + 3] === h3) return slot;
      if (++slot === slots) slot = 0;
    }
  }
}
