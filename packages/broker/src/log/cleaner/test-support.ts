/**
 * Helpers for the cleaner tests (and the crash-test child and the bench): key/value batches, a log
 * read back record by record, and the model a compacted log must match.
 */
import { type CompressionType, decodeRecordBatch, encodeRecordBatch, iterateBatches } from "@samsa/protocol";
import type { Log } from "../log.js";

export interface KeyValue {
  key: string | null;
  /** null: a tombstone. */
  value: string | null;
}

export interface ReadRecord {
  offset: bigint;
  key: string | null;
  value: string | null;
  timestamp: bigint;
}

/** One batch of key/value records, timestamps from `timestamp` one ms apart. */
export function kvBatch(
  records: readonly KeyValue[],
  opts: {
    timestamp?: bigint;
    compression?: CompressionType;
    producerId?: bigint;
    producerEpoch?: number;
    baseSequence?: number;
    isTransactional?: boolean;
  } = {},
): Buffer {
  const ts = opts.timestamp ?? 1_700_000_000_000n;
  return encodeRecordBatch({
    records: records.map((r, i) => ({
      key: r.key === null ? null : Buffer.from(r.key),
      value: r.value === null ? null : Buffer.from(r.value),
      timestamp: ts + BigInt(i),
    })),
    compression: opts.compression,
    producerId: opts.producerId,
    producerEpoch: opts.producerEpoch,
    baseSequence: opts.baseSequence,
    isTransactional: opts.isTransactional,
  });
}

/** Every batch of the log from its start, as stored (header and records). */
export async function readBatches(log: Log) {
  const out: ReturnType<typeof decodeRecordBatch>[] = [];
  let offset = log.logStartOffset;
  while (offset < log.logEndOffset) {
    const r = await log.read(offset, { maxBytes: 64 * 1024 * 1024 });
    if (r.records.length === 0) break;
    for (const b of iterateBatches(r.records)) {
      const decoded = decodeRecordBatch(r.records, b.position);
      out.push(decoded);
      offset = decoded.header.baseOffset + BigInt(decoded.header.lastOffsetDelta) + 1n;
    }
  }
  return out;
}

export async function readRecords(log: Log): Promise<ReadRecord[]> {
  return (await readBatches(log)).flatMap((b) =>
    b.records.map((r) => ({
      offset: r.offset,
      key: r.key === null ? null : r.key.toString(),
      value: r.value === null ? null : r.value.toString(),
      timestamp: r.timestamp,
    })),
  );
}

/** The latest record of each key among `written` (offset -> record). */
export function latestByKey(
  written: ReadonlyMap<bigint, KeyValue>,
): Map<string, { offset: bigint; value: string | null }> {
  const latest = new Map<string, { offset: bigint; value: string | null }>();
  for (const [offset, r] of written) if (r.key !== null) latest.set(r.key, { offset, value: r.value });
  return latest;
}

/**
 * What every compacted log must satisfy against the model of what was written: offsets strictly
 * ascending, each record exactly as written at its offset, and the latest record of every key
 * present (a tombstone may be gone, but then no older value of its key is left).
 */
export function checkAgainstModel(records: readonly ReadRecord[], written: ReadonlyMap<bigint, KeyValue>): string[] {
  const problems: string[] = [];
  let previous = -1n;
  const present = new Map<bigint, ReadRecord>();
  for (const r of records) {
    if (r.offset <= previous) problems.push(`offset ${r.offset} after ${previous}`);
    previous = r.offset;
    present.set(r.offset, r);
    const w = written.get(r.offset);
    if (w === undefined) {
      problems.push(`offset ${r.offset} was never written`);
      continue;
    }
    if (w.key !== r.key || w.value !== r.value)
      problems.push(`offset ${r.offset}: ${r.key}=${r.value}, written ${w.key}=${w.value}`);
  }
  for (const [key, latest] of latestByKey(written)) {
    const r = present.get(latest.offset);
    if (r !== undefined) continue;
    if (latest.value !== null) problems.push(`latest value of ${key} (offset ${latest.offset}) is gone`);
    else if (records.some((x) => x.key === key && x.offset < latest.offset))
      problems.push(`tombstone of ${key} (offset ${latest.offset}) is gone but an older value is left`);
  }
  return problems;
}
