import { seededRandom } from "@samsa/protocol/testing";
/**
 * Deterministic inputs for the codec benchmark. Record batches are built by KafkaJS's own
 * encoder, so every benchmark reads bytes a real client sends, and both implementations are
 * measured on the very same bytes.
 */
import type Encoder from "kafkajs/src/protocol/encoder.js";
import Record from "kafkajs/src/protocol/recordBatch/record/v0/index.js";
import recordBatchV0 from "kafkajs/src/protocol/recordBatch/v0/index.js";
import type { KafkaJSProduceMessage } from "kafkajs/src/protocol/requests/produce/v7/request.js";

/** Fixed so that two runs encode identical bytes (KafkaJS would otherwise stamp Date.now()). */
export const BASE_TIMESTAMP_MS = 1_700_000_000_000;
const SEED = 0x5a35a;
/** baseOffset int64 + batchLength int32, the part of a batch its length does not count. */
const LOG_OVERHEAD = 12;

/** Uint32s from the shared seeded PRNG: record values incompressible and reproducible. */
const fraction = seededRandom(SEED);
const random = (): number => Math.floor(fraction() * 2 ** 32) >>> 0;

function randomBytes(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i += 4) {
    const r = random();
    for (let j = 0; j < 4 && i + j < n; j++) b[i + j] = (r >>> (8 * j)) & 0xff;
  }
  return b;
}

export interface MessageShape {
  count: number;
  keyBytes: number;
  valueBytes: number;
}

/** Messages as a KafkaJS producer is given them: key, value, timestamp one millisecond apart. */
export function makeMessages(shape: MessageShape): KafkaJSProduceMessage[] {
  const messages: KafkaJSProduceMessage[] = [];
  for (let i = 0; i < shape.count; i++) {
    messages.push({
      key: randomBytes(shape.keyBytes),
      value: randomBytes(shape.valueBytes),
      timestamp: BASE_TIMESTAMP_MS + i,
    });
  }
  return messages;
}

/**
 * Encodes one uncompressed batch exactly as KafkaJS's produce request does (produce/v3/request.js
 * partitionsEncoder), so the result is byte-identical to what its real encode path produces.
 */
export async function kafkaJsBatch(messages: readonly KafkaJSProduceMessage[], baseOffset = 0n): Promise<Encoder> {
  const timestamps = messages.map((m) => m.timestamp ?? BASE_TIMESTAMP_MS).sort((a, b) => a - b);
  const firstTimestamp = timestamps[0];
  const records = messages.map((m, i) =>
    Record({ ...m, offsetDelta: i, timestampDelta: (m.timestamp ?? BASE_TIMESTAMP_MS) - firstTimestamp }),
  );
  return recordBatchV0.RecordBatch({
    firstOffset: baseOffset,
    records,
    firstTimestamp,
    maxTimestamp: timestamps[timestamps.length - 1],
    lastOffsetDelta: records.length - 1,
  });
}

/**
 * Messages whose single batch is as close to `targetBytes` as whole bytes of value allow
 * (never above it): one batch built with a guess, then the value size corrected by the error.
 */
export async function messagesForBatchSize(
  targetBytes: number,
  count: number,
  keyBytes: number,
): Promise<{ messages: KafkaJSProduceMessage[]; batch: Buffer }> {
  let valueBytes = Math.floor(targetBytes / count);
  for (;;) {
    const messages = makeMessages({ count, keyBytes, valueBytes });
    const batch = Buffer.from((await kafkaJsBatch(messages)).buffer);
    const excess = batch.length - targetBytes;
    if (excess <= 0 && excess > -count) return { messages, batch };
    valueBytes -= Math.ceil(excess / count);
  }
}

/** `count` copies of one batch, back to back, with consecutive base offsets as in a log segment. */
export function repeatBatch(batch: Buffer, count: number, recordsPerBatch: number): Buffer {
  const out = Buffer.allocUnsafe(batch.length * count);
  for (let i = 0; i < count; i++) {
    batch.copy(out, i * batch.length);
    // baseOffset is outside the CRC's range, so each copy stays a valid batch.
    out.writeBigInt64BE(BigInt(i * recordsPerBatch), i * batch.length);
  }
  return out;
}

/** Number of whole batches in a buffer of back-to-back batches (walks the length fields only). */
export function countBatches(buf: Buffer): number {
  let n = 0;
  for (let p = 0; p + LOG_OVERHEAD <= buf.length; p += LOG_OVERHEAD + buf.readInt32BE(p + 8)) n++;
  return n;
}
