/**
 * The consumer's record decoding alone, no sockets: one partition's Fetch data (1 MiB of 16 KiB
 * batches, as the consume bench's topic holds them) decoded by `decodeFetchedRecords` again and
 * again, every record's value length summed (as throughput.ts's consume loop does). Prints ns per
 * record for each round and the median; CRC32C is checked as in the consumer.
 *
 *   node --conditions=samsa-source --import tsx bench/client/decode-micro.ts [--size 100] [--rounds 7] [--ms 1000]
 */
import { parseArgs } from "node:util";
import { encodeRecordBatch, type RecordInput } from "@samsa/protocol";
import { decodeFetchedRecords } from "../../packages/client/src/consumer/records.js";

const { values } = parseArgs({
  options: {
    size: { type: "string", default: "100" },
    rounds: { type: "string", default: "7" },
    ms: { type: "string", default: "1000" },
    "partition-bytes": { type: "string", default: String(1024 * 1024) },
    "batch-bytes": { type: "string", default: String(16 * 1024) },
  },
});
const size = Number(values.size);
const partitionBytes = Number(values["partition-bytes"]);
const batchBytes = Number(values["batch-bytes"]);

const value = Buffer.from(
  "the quick brown fox jumps over the lazy dog 0123456789 ".repeat(Math.ceil(size / 55)),
).subarray(0, size);
// ~size + 10 bytes a record on the wire; fill batches of batchBytes, then batches up to partitionBytes.
const perBatch = Math.max(1, Math.floor((batchBytes - 61) / (size + 10)));
const batches: Buffer[] = [];
let bytes = 0;
let baseOffset = 0n;
const now = BigInt(Date.now());
while (true) {
  const records: RecordInput[] = Array.from({ length: perBatch }, () => ({ value, timestamp: now }));
  const batch = encodeRecordBatch({ records, baseOffset, baseTimestamp: now });
  if (bytes + batch.length > partitionBytes) break;
  batches.push(batch);
  bytes += batch.length;
  baseOffset += BigInt(perBatch);
}
const data = Buffer.concat(batches);
const recordsPerPass = Number(baseOffset);

function pass(): number {
  const { records } = decodeFetchedRecords("bench", 0, data, 0n, false, null);
  let sum = 0;
  for (let i = 0; i < records.length; i++) sum += records[i]!.value?.length ?? 0;
  if (sum !== recordsPerPass * size) throw new Error(`decoded ${sum} value bytes, expected ${recordsPerPass * size}`);
  return records.length;
}

for (let i = 0; i < 50; i++) pass(); // warm-up: let V8 optimize
const results: number[] = [];
for (let round = 0; round < Number(values.rounds); round++) {
  let n = 0;
  const start = process.hrtime.bigint();
  const until = start + BigInt(Number(values.ms)) * 1_000_000n;
  let t = start;
  while (t < until) {
    n += pass();
    t = process.hrtime.bigint();
  }
  const ns = Number(t - start) / n;
  results.push(ns);
  process.stderr.write(`round ${round + 1}: ${ns.toFixed(1)} ns/record\n`);
}
results.sort((a, b) => a - b);
console.log(
  `decode ${size} B records (${recordsPerPass} per ${bytes} B partition, ${batches.length} batches): ` +
    `median ${results[results.length >> 1]!.toFixed(1)} ns/record, min ${results[0]!.toFixed(1)}, max ${results[results.length - 1]!.toFixed(1)}`,
);
