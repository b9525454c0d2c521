/**
 * One partition's Fetch response data → the records the application sees, as Kafka's
 * CompletedFetch does: batches of any magic (legacy message sets from old logs included, any
 * codec), records before the fetch offset dropped (a batch may start earlier), control batches
 * (transaction markers) never delivered, and under read_committed the batches of aborted
 * transactions skipped using the response's abortedTransactions list. A partial trailing batch
 * (the size limit cut it) is left for the next fetch.
 */
import {
  ControlRecordType,
  controlRecordTypeOf,
  decodeLegacyBatch,
  decodeRecordBatch,
  decodeRecordBatchInto,
  isControlBatch,
  isTransactional,
  iterateBatches,
  lastOffsetOf,
  MAGIC_V2,
  readBatchHeader,
} from "@samsa/protocol";
import type { ConsumerRecord } from "./types.js";

export interface AbortedTransaction {
  producerId: bigint;
  firstOffset: bigint;
}

export interface DecodedPartition {
  records: ConsumerRecord[];
  /** Where the next fetch starts: past every complete batch seen, delivered or skipped. */
  nextOffset: bigint;
}

/**
 * Decodes the `records` of one FetchResponse partition.
 *
 * @example
 * const { records, nextOffset } = decodeFetchedRecords("orders", 0, data.records, 42n, true, data.abortedTransactions);
 */
export function decodeFetchedRecords(
  topic: string,
  partition: number,
  buf: Buffer | null,
  fetchOffset: bigint,
  readCommitted: boolean,
  abortedTransactions: readonly AbortedTransaction[] | null,
): DecodedPartition {
  const records: ConsumerRecord[] = [];
  let nextOffset = fetchOffset;
  if (buf === null || buf.length === 0) return { records, nextOffset };
  // Aborted transactions by first offset; a producer's data is skipped from its abort's first
  // offset until its ABORT marker (Kafka's abortedProducerIds).
  const pending =
    readCommitted && abortedTransactions !== null
      ? [...abortedTransactions].sort((a, b) =>
          a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0,
        )
      : [];
  const abortedProducers = new Set<bigint>();
  const make = (
    offset: bigint,
    timestampMs: number,
    key: Buffer | null,
    value: Buffer | null,
    headers: { key: string; value: Buffer | null }[],
  ): ConsumerRecord => ({ topic, partition, offset, timestampMs, key, value, headers });

  for (const { position, magic } of iterateBatches(buf)) {
    if (magic !== MAGIC_V2) {
      const legacy = decodeLegacyBatch(buf, position);
      for (const r of legacy.records) {
        if (r.offset < fetchOffset) continue;
        records.push(toConsumerRecord(topic, partition, r));
      }
      const last = lastOffsetOf(legacy.header);
      if (last + 1n > nextOffset) nextOffset = last + 1n;
      continue;
    }
    const header = readBatchHeader(buf, position);
    const last = lastOffsetOf(header);
    if (last < fetchOffset) continue;
    const advance = () => {
      if (last + 1n > nextOffset) nextOffset = last + 1n;
    };
    if (readCommitted && header.producerId >= 0n) {
      while (pending.length > 0 && pending[0].firstOffset <= last) abortedProducers.add(pending.shift()!.producerId);
    }
    if (isControlBatch(header.attributes)) {
      if (readCommitted && abortedProducers.has(header.producerId)) {
        const batch = decodeRecordBatch(buf, position);
        if (batch.records.length > 0 && controlRecordTypeOf(batch) === ControlRecordType.Abort) {
          abortedProducers.delete(header.producerId);
        }
      }
      advance();
      continue;
    }
    if (readCommitted && isTransactional(header.attributes) && abortedProducers.has(header.producerId)) {
      advance();
      continue;
    }
    decodeRecordBatchInto(buf, position, fetchOffset, records, make);
    advance();
  }
  return { records, nextOffset };
}

/**
 * Where the fetch after this one starts: exactly `decodeFetchedRecords(...).nextOffset`, from the
 * batch headers alone (no record is decoded), so the consumer can send the next Fetch before it
 * decodes this one.
 *
 * @example
 * state.position = nextFetchOffset(data.records, 42n);
 */
export function nextFetchOffset(buf: Buffer | null, fetchOffset: bigint): bigint {
  let nextOffset = fetchOffset;
  if (buf === null || buf.length === 0) return nextOffset;
  for (const { position, magic } of iterateBatches(buf)) {
    // A legacy wrapper's offsets need its inner messages; legacy logs are rare, so decode it.
    const last = lastOffsetOf(
      magic === MAGIC_V2 ? readBatchHeader(buf, position) : decodeLegacyBatch(buf, position).header,
    );
    if (last + 1n > nextOffset) nextOffset = last + 1n;
  }
  return nextOffset;
}

function toConsumerRecord(
  topic: string,
  partition: number,
  r: {
    offset: bigint;
    timestamp: bigint;
    key: Buffer | null;
    value: Buffer | null;
    headers: { key: string; value: Buffer | null }[];
  },
): ConsumerRecord {
  return {
    topic,
    partition,
    offset: r.offset,
    timestampMs: Number(r.timestamp),
    key: r.key,
    value: r.value,
    headers: r.headers,
  };
}
