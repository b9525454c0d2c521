/**
 * Reads what the broker wrote, straight from the segment files (Kafka's record batch v2 layout),
 * so a test can check that compressed batches were kept as the client sent them.
 */
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";

export interface StoredBatch {
  baseOffset: bigint;
  lastOffsetDelta: number;
  magic: number;
  /** The codec id in the batch attributes: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd. */
  compression: number;
  recordCount: number;
}

/** Record batch v2: baseOffset int64, batchLength int32, leaderEpoch int32, magic int8, crc, attributes int16 ... */
const BATCH_LENGTH_AT = 8;
const MAGIC_AT = 16;
const ATTRIBUTES_AT = 21;
const LAST_OFFSET_DELTA_AT = 23;
const RECORD_COUNT_AT = 57;
const LOG_OVERHEAD = 12;

export async function storedBatches(dataDir: string, topic: string, partition: number): Promise<StoredBatch[]> {
  const dir = path.join(dataDir, `${topic}-${partition}`);
  const segments = (await readdir(dir)).filter((f) => f.endsWith(".log")).sort();
  const batches: StoredBatch[] = [];
  for (const segment of segments) {
    const bytes = await readFile(path.join(dir, segment));
    for (let at = 0; at + LOG_OVERHEAD <= bytes.length; ) {
      const batchLength = bytes.readInt32BE(at + BATCH_LENGTH_AT);
      if (batchLength <= 0 || at + LOG_OVERHEAD + batchLength > bytes.length) break;
      batches.push({
        baseOffset: bytes.readBigInt64BE(at),
        magic: bytes.readInt8(at + MAGIC_AT),
        compression: bytes.readInt16BE(at + ATTRIBUTES_AT) & 0x7,
        lastOffsetDelta: bytes.readInt32BE(at + LAST_OFFSET_DELTA_AT),
        recordCount: bytes.readInt32BE(at + RECORD_COUNT_AT),
      });
      at += LOG_OVERHEAD + batchLength;
    }
  }
  return batches;
}

export const CODEC_IDS = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 } as const;
export type Codec = keyof typeof CODEC_IDS;
export const CODECS = Object.keys(CODEC_IDS) as Codec[];
