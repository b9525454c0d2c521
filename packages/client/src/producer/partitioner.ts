/**
 * Kafka's default partitioner, as the Java client (BuiltInPartitioner, Utils.murmur2) and
 * librdkafka's `murmur2_random` choose partitions:
 *
 * - a record with a key goes to `toPositive(murmur2(key)) % partitionCount`;
 * - a record without a key goes to the topic's current "sticky" partition, which changes only
 *   after about `batchBytes` bytes were sent to it (KIP-480 / KIP-794), so null-key records fill
 *   whole batches instead of spreading one-record batches over every partition.
 *
 * murmur2 is hand-written on purpose: it is twenty lines and must match Java bit for bit,
 * including Java's int overflow (Math.imul) and its signed `byte & 0xff` reads; no package on
 * npm is known to reproduce Kafka's variant (seed 0x9747b28c, Kafka's tail handling) exactly.
 */

const SEED = 0x9747b28c;
const M = 0x5bd1e995;
const R = 24;

/**
 * Kafka's `Utils.murmur2`: the 32-bit MurmurHash2 of `data`, as a signed int32, identical to Java's.
 *
 * @example
 * murmur2(Buffer.from("21")); // -973932308, as Kafka's UtilsTest expects
 */
export function murmur2(data: Buffer): number {
  const length = data.length;
  let h = (SEED ^ length) | 0;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = data[i4]! | (data[i4 + 1]! << 8) | (data[i4 + 2]! << 16) | (data[i4 + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> R;
    k = Math.imul(k, M);
    h = Math.imul(h, M);
    h ^= k;
  }
  const tail = length & ~3;
  const rest = length & 3;
  // Java's switch falls through 3 -> 2 -> 1 and multiplies once; written out without fallthrough.
  if (rest === 3) h ^= data[tail + 2]! << 16;
  if (rest >= 2) h ^= data[tail + 1]! << 8;
  if (rest >= 1) {
    h ^= data[tail]!;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/**
 * Kafka's `Utils.toPositive`: clears the sign bit (not `Math.abs`, which fails for INT32_MIN).
 *
 * @example
 * toPositive(-973932308); // 1173551340
 */
export function toPositive(n: number): number {
  return n & 0x7fffffff;
}

/**
 * The partition Kafka's default partitioner picks for a keyed record.
 *
 * @example
 * defaultPartition(Buffer.from("user-42"), 12); // same partition as the Java client and kcat -X partitioner=murmur2_random
 */
export function defaultPartition(key: Buffer, partitionCount: number): number {
  if (!Number.isInteger(partitionCount) || partitionCount <= 0) {
    throw new RangeError(`partitionCount must be a positive integer, got ${partitionCount}`);
  }
  return toPositive(murmur2(key)) % partitionCount;
}

/**
 * Sticky partition choice for records without a key: one partition per topic until `batchBytes`
 * bytes went to it, then another one chosen at random (a different one when there are several),
 * as Java's BuiltInPartitioner does with `batch.size` (it also weighs partitions by queue size;
 * we do not).
 */
export class StickyPartitioner {
  private readonly current = new Map<string, { partition: number; bytes: number }>();

  constructor(
    private readonly batchBytes: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** The partition for the next null-key record of `topic`; `recordBytes` counts toward the switch. */
  partition(topic: string, partitionCount: number, recordBytes: number): number {
    let sticky = this.current.get(topic);
    if (sticky === undefined || sticky.partition >= partitionCount) {
      sticky = { partition: Math.floor(this.random() * partitionCount), bytes: 0 };
      this.current.set(topic, sticky);
    } else if (sticky.bytes >= this.batchBytes) {
      let next = Math.floor(this.random() * partitionCount);
      if (partitionCount > 1 && next === sticky.partition) next = (next + 1) % partitionCount;
      sticky = { partition: next, bytes: 0 };
      this.current.set(topic, sticky);
    }
    sticky.bytes += recordBytes;
    return sticky.partition;
  }
}
