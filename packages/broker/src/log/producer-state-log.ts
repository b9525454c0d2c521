/**
 * Producer state over the segment files: the pieces `Log` and `LogLoader` share (Kafka's
 * UnifiedLog.rebuildProducerState / loadProducersFromRecords and the completed-transaction step of
 * UnifiedLog.append).
 *
 * - `completeTransactions`: after an append (or a recovered batch) is applied, each completed
 *   transaction gets its last stable offset, an aborted one an entry in the `.txnindex` of the
 *   segment holding its marker, then it is marked complete.
 * - `rebuildProducerState`: the newest readable snapshot at or below the log end offset, then the
 *   batches after it replayed (origin "replication": no checks), the `.txnindex` files untouched
 *   (they are recovered with their segments).
 */
import { NO_PRODUCER_ID } from "@samsa/protocol";
import type { Logger } from "pino";
import type { LogSegment } from "./log-segment.js";
import type { LogSegments } from "./log-segments.js";
import { type CompletedTxn, type ProducerBatch, type ProducerStateManager, producerBatchAt } from "./producer-state.js";
import type { ProducerSnapshots } from "./producer-state-snapshot.js";
import { BATCH_HEADER_SIZE, LOG_OVERHEAD } from "./records.js";
import type { AbortedTxn } from "./transaction-index.js";

/** Where the producer id sits in a batch header (Kafka's PRODUCER_ID_OFFSET). */
export const PRODUCER_ID_OFFSET = 43;
/** Replay reads the segment this much at a time (a larger batch is read whole). */
const REPLAY_CHUNK_BYTES = 4 * 1024 * 1024;
/** Batches handed to ProducerStateManager.replayBatches at once: bounds memory on a long replay. */
const REPLAY_GROUP = 4096;

/** Whether the batch at `position` carries a producer id, from its header bytes alone. */
export function hasProducerId(buf: Buffer, position: number): boolean {
  return buf.readBigInt64BE(position + PRODUCER_ID_OFFSET) > NO_PRODUCER_ID;
}

/**
 * Completes the transactions an applied append finished (Kafka: lastStableOffset →
 * segment.updateTxnIndex → completeTxn), writing aborted ones through `appendAborted`.
 */
export async function completeTransactions(
  state: ProducerStateManager,
  completed: readonly CompletedTxn[],
  appendAborted: (txn: AbortedTxn) => Promise<void>,
): Promise<void> {
  for (const txn of completed) {
    const lastStableOffset = state.lastStableOffset(txn);
    if (txn.isAborted)
      await appendAborted({
        producerId: txn.producerId,
        firstOffset: txn.firstOffset,
        lastOffset: txn.lastOffset,
        lastStableOffset,
      });
    state.completeTxn(txn);
  }
}

/**
 * Applies one already-written batch's producer fields with origin "replication" and completes its
 * transaction into `segment`'s `.txnindex` (recovery, where the index is rebuilt batch by batch).
 */
export async function replayBatchIntoIndex(
  state: ProducerStateManager,
  batch: ProducerBatch,
  segment: LogSegment,
): Promise<void> {
  const analysis = state.analyzeAppend([batch], "replication");
  state.applyAppend(analysis);
  if (analysis.duplicate === null)
    await completeTransactions(state, analysis.completedTxns, (t) => segment.txnIndex.append(t));
  state.updateMapEndOffset(batch.lastOffset + 1n);
}

/** The producer batches of `segment` from the batch holding `fromOffset` to its end, in order. */
export async function* producerBatchesOf(segment: LogSegment, fromOffset: bigint): AsyncGenerator<ProducerBatch> {
  await segment.ensureIndexes();
  let pos = fromOffset > segment.baseOffset ? segment.offsetIndex.lookup(fromOffset).position : 0;
  const end = segment.size;
  while (pos + BATCH_HEADER_SIZE <= end) {
    let chunk = await segment.log.readRaw(pos, Math.min(REPLAY_CHUNK_BYTES, end - pos));
    let rel = 0;
    while (rel + BATCH_HEADER_SIZE <= chunk.length) {
      const size = LOG_OVERHEAD + chunk.readInt32BE(rel + 8);
      if (size < BATCH_HEADER_SIZE) return;
      if (rel + size > chunk.length) {
        if (rel === 0) {
          if (pos + size > end) return;
          chunk = await segment.log.readRaw(pos, size);
          continue;
        }
        break;
      }
      const lastOffset = chunk.readBigInt64BE(rel) + BigInt(chunk.readInt32BE(rel + 23));
      if (lastOffset >= fromOffset && hasProducerId(chunk, rel)) {
        const batch = producerBatchAt(chunk, rel);
        if (batch !== null) yield batch;
      }
      rel += size;
      pos += size;
    }
  }
}

/**
 * Brings `state` to `logEndOffset` (Kafka's rebuildProducerState): snapshots out of range are
 * deleted, the newest readable one at or below the end loaded (unless the state already ends
 * there), and the batches from its offset replayed. Returns how many batches were replayed.
 */
export async function rebuildProducerState(
  state: ProducerStateManager,
  snapshots: ProducerSnapshots,
  segments: LogSegments,
  opts: { logStartOffset: bigint; logEndOffset: bigint; nowMs: number; logger: Logger },
): Promise<number> {
  await snapshots.truncateAndReload(state, {
    logStartOffset: opts.logStartOffset,
    logEndOffset: opts.logEndOffset,
    nowMs: opts.nowMs,
    onCorrupt: (e) => opts.logger.warn({ reason: e.message }, "corrupt producer snapshot deleted: replaying the log"),
  });
  let replayed = 0;
  const from = state.mapEndOffset;
  if (from >= opts.logEndOffset) return 0;
  let group: ProducerBatch[] = [];
  for (const segment of segments.range(from, opts.logEndOffset)) {
    for await (const batch of producerBatchesOf(segment, from)) {
      if (batch.baseOffset >= opts.logEndOffset) break;
      group.push(batch);
      if (group.length >= REPLAY_GROUP) {
        state.replayBatches(group);
        replayed += group.length;
        group = [];
      }
    }
  }
  state.replayBatches(group);
  replayed += group.length;
  state.updateMapEndOffset(opts.logEndOffset);
  return replayed;
}
