/**
 * Record-batch and codec micro-benchmark: the figures quoted in packages/protocol/README.md.
 *
 *   node --conditions=samsa-source --import tsx bench/protocol/records.ts
 *
 * Alternatives that are not our dependencies (snappyjs, lz4js, fflate, fzstd, @bokuweb/zstd-wasm)
 * are measured when SAMSA_BENCH_ALTERNATIVES names a node_modules folder holding them, e.g.
 *   (cd /tmp/alt && npm i snappyjs lz4js fflate fzstd @bokuweb/zstd-wasm)
 *   SAMSA_BENCH_ALTERNATIVES=/tmp/alt/node_modules node ... records.bench.ts
 */
import { createRequire } from "node:module";
import os from "node:os";
import * as zlib from "node:zlib";
import {
  CompressionType,
  compress,
  decodeRecordBatch,
  decompress,
  encodeRecordBatch,
  iterateBatches,
  LOG_OVERHEAD,
  RECORDS_OFFSET,
  readBatchHeader,
  verifyBatchCrc,
} from "@samsa/protocol";
import { compressFrameSync, decompressFrameSync } from "lz4-napi";

type Bytes = Uint8Array;

/** Runs `fn` for about `ms` (after a warm-up) and returns the median ns per call over 5 rounds. */
function measure(fn: () => number, ms = 300): number {
  let sink = 0;
  const warmEnd = performance.now() + ms / 2;
  let calls = 0;
  while (performance.now() < warmEnd) {
    sink += fn();
    calls++;
  }
  const perRound = Math.max(1, Math.round(calls / 2));
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < perRound; i++) sink += fn();
    rounds.push(Number(process.hrtime.bigint() - t0) / perRound);
  }
  if (sink === Number.MIN_VALUE) console.log(sink);
  rounds.sort((a, b) => a - b);
  return rounds[2];
}

function jsonRecords(totalBytes: number): { key: Buffer; value: Buffer; timestamp: bigint }[] {
  let s = 12345;
  const rnd = () => {
    s = (Math.imul(s, 1103515245) + 12345) & 0x7fffffff;
    return s;
  };
  const events = ["page_view", "add_to_cart", "purchase", "login", "search"];
  const records: { key: Buffer; value: Buffer; timestamp: bigint }[] = [];
  let n = 0;
  while (n < totalBytes) {
    const user = `user-${rnd() % 5000}`;
    const value = Buffer.from(
      JSON.stringify({
        event: events[rnd() % events.length],
        userId: user,
        sessionId: rnd().toString(16),
        ts: 1_700_000_000_000 + (rnd() % 1_000_000),
        amount: (rnd() % 100_000) / 100,
        page: `/products/${rnd() % 800}`,
        userAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0",
      }),
    );
    records.push({ key: Buffer.from(user), value, timestamp: 1_700_000_000_000n + BigInt(records.length) });
    n += value.length + user.length + 10;
  }
  return records;
}

function headerDecode(): void {
  console.log("\n## Header decode (batches of 1 KiB: 5 records of ~190 B)\n");
  const one = encodeRecordBatch({ records: jsonRecords(900).slice(0, 5), baseOffset: 0n });
  const count = 65_536;
  const buf = Buffer.alloc(one.length * count);
  for (let i = 0; i < count; i++) one.copy(buf, i * one.length);
  const positions = Array.from(iterateBatches(buf), (b) => b.position);
  let i = 0;
  const ns = measure(() => {
    const h = readBatchHeader(buf, positions[i]);
    i = (i + 1) & (count - 1);
    return h.recordCount;
  });
  const headersPerSec = 1e9 / ns;
  console.log("| what | time | rate | effective |\n| --- | --- | --- | --- |");
  console.log(
    `| readBatchHeader, 64 MiB of batches (cache-cold) | ${ns.toFixed(0)} ns | ${(headersPerSec / 1e6).toFixed(1)} M headers/s | ${((headersPerSec * one.length) / 1e9).toFixed(1)} GB/s |`,
  );
  // The broker reads a header right after the bytes arrived from the socket: cache-hot.
  const hotCount = 64;
  const hot = buf.subarray(0, one.length * hotCount);
  i = 0;
  const hotNs = measure(() => {
    const h = readBatchHeader(hot, positions[i]);
    i = (i + 1) & (hotCount - 1);
    return h.recordCount;
  });
  console.log(
    `| readBatchHeader, 64 KiB of batches (cache-hot) | ${hotNs.toFixed(0)} ns | ${(1e3 / hotNs).toFixed(1)} M headers/s | ${(one.length / hotNs).toFixed(1)} GB/s |`,
  );
  const walk = measure(() => {
    let n = 0;
    for (const b of iterateBatches(buf)) n += readBatchHeader(buf, b.position).recordCount;
    return n;
  }, 1000);
  console.log(
    `| iterateBatches + readBatchHeader (cold) | ${(walk / count).toFixed(0)} ns | ${((count / walk) * 1e3).toFixed(1)} M batches/s | ${(buf.length / walk).toFixed(1)} GB/s |`,
  );
  const crcNs = measure(() => (verifyBatchCrc(buf, positions[(i = (i + 1) & (count - 1))]) ? 1 : 0));
  console.log(
    `| verifyBatchCrc, 1 KiB batch (cold) | ${crcNs.toFixed(0)} ns | ${(1e3 / crcNs).toFixed(1)} M batches/s | ${(one.length / crcNs).toFixed(1)} GB/s |`,
  );
  const big = encodeRecordBatch({ records: jsonRecords(1 << 20) });
  const bigCrc = measure(() => (verifyBatchCrc(big) ? 1 : 0));
  console.log(
    `| verifyBatchCrc, 1 MiB batch | ${(bigCrc / 1000).toFixed(0)} µs | | ${(big.length / bigCrc).toFixed(1)} GB/s |`,
  );
  const fullNs = measure(() => decodeRecordBatch(buf, positions[(i = (i + 1) & (count - 1))]).records.length);
  console.log(
    `| decodeRecordBatch, 1 KiB batch (CRC + 5 records) | ${fullNs.toFixed(0)} ns | ${((5 * 1e9) / fullNs / 1e6).toFixed(2)} M records/s | ${(one.length / fullNs).toFixed(1)} GB/s |`,
  );
}

interface Codec {
  name: string;
  compress: (b: Buffer) => Bytes;
  decompress: (b: Bytes) => Bytes;
}

function loadAlternatives(): Promise<Codec[]> {
  const dir = process.env.SAMSA_BENCH_ALTERNATIVES;
  if (dir === undefined) return Promise.resolve([]);
  const req = createRequire(`${dir}/`);
  const load = <T>(name: string): T | undefined => {
    try {
      return req(name) as T;
    } catch {
      console.error(`(${name} not found under ${dir})`);
      return undefined;
    }
  };
  const alts: Codec[] = [];
  const snappyjs = load<{ compress(b: Bytes): Bytes; uncompress(b: Bytes): Bytes }>("snappyjs");
  if (snappyjs)
    alts.push({
      name: "snappy: snappyjs (pure JS, raw)",
      compress: (b) => snappyjs.compress(b),
      decompress: (b) => snappyjs.uncompress(b),
    });
  const lz4js = load<{ compress(b: Bytes): Bytes; decompress(b: Bytes): Bytes }>("lz4js");
  if (lz4js)
    alts.push({
      name: "lz4: lz4js (pure JS, frame)",
      compress: (b) => lz4js.compress(b),
      decompress: (b) => lz4js.decompress(b),
    });
  const fflate = load<{ gzipSync(b: Bytes, o: { level: number }): Bytes; gunzipSync(b: Bytes): Bytes }>("fflate");
  if (fflate)
    alts.push({
      name: "gzip: fflate (pure JS, level 6)",
      compress: (b) => fflate.gzipSync(b, { level: 6 }),
      decompress: (b) => fflate.gunzipSync(b),
    });
  const fzstd = load<{ decompress(b: Bytes): Bytes }>("fzstd");
  if (fzstd)
    alts.push({
      name: "zstd: fzstd (pure JS, decode only; ours encodes)",
      compress: (b) => compress(CompressionType.Zstd, b),
      decompress: (b) => fzstd.decompress(b),
    });
  const wasm = load<{ init(): Promise<void>; compress(b: Bytes, level: number): Bytes; decompress(b: Bytes): Bytes }>(
    "@bokuweb/zstd-wasm",
  );
  if (!wasm) return Promise.resolve(alts);
  return wasm.init().then(() => {
    alts.push({
      name: "zstd: @bokuweb/zstd-wasm (level 3)",
      compress: (b) => wasm.compress(b, 3),
      decompress: (b) => wasm.decompress(b),
    });
    return alts;
  });
}

async function codecs(): Promise<void> {
  const batch = encodeRecordBatch({ records: jsonRecords(1 << 20) });
  const data = batch.subarray(RECORDS_OFFSET); // the records section, as a producer compresses it
  console.log(
    `\n## Codecs on ${(data.length / 1048576).toFixed(2)} MiB of JSON-ish records (one v2 records section)\n`,
  );
  console.log("| codec | ratio | compress MB/s | decompress MB/s |\n| --- | --- | --- | --- |");
  const ours: Codec[] = [
    {
      name: "gzip: node:zlib (level 6, ours)",
      compress: (b) => compress(CompressionType.Gzip, b),
      decompress: (b) => decompress(CompressionType.Gzip, Buffer.from(b.buffer, b.byteOffset, b.length)),
    },
    {
      name: "snappy: snappy napi, xerial 32 KiB (ours)",
      compress: (b) => compress(CompressionType.Snappy, b),
      decompress: (b) => decompress(CompressionType.Snappy, b as Buffer),
    },
    {
      name: "lz4: lz4-napi blocks, 64 KiB frame (ours)",
      compress: (b) => compress(CompressionType.Lz4, b),
      decompress: (b) => decompress(CompressionType.Lz4, b as Buffer),
    },
    {
      name: "lz4: lz4-napi compressFrame/decompressFrame",
      compress: (b) => compressFrameSync(b),
      decompress: (b) => decompressFrameSync(b as Buffer),
    },
    {
      name: "zstd: zstd-napi level 3 (ours)",
      compress: (b) => compress(CompressionType.Zstd, b),
      decompress: (b) => decompress(CompressionType.Zstd, b as Buffer),
    },
    {
      name: "gzip: node:zlib level 1",
      compress: (b) => zlib.gzipSync(b, { level: 1 }),
      decompress: (b) => zlib.gunzipSync(b),
    },
  ];
  for (const c of [...ours, ...(await loadAlternatives())]) {
    const packed = c.compress(data);
    const roundTrip = Buffer.from(c.decompress(packed));
    if (!roundTrip.equals(data)) throw new Error(`${c.name} does not round-trip`);
    const cNs = measure(() => c.compress(data).length);
    const dNs = measure(() => c.decompress(packed).length);
    console.log(
      `| ${c.name} | ${(data.length / packed.length).toFixed(2)} | ${((data.length / cNs) * 1e3).toFixed(0)} | ${((data.length / dNs) * 1e3).toFixed(0)} |`,
    );
  }
}

console.log(
  `node ${process.version}, ${os.cpus()[0]?.model ?? "unknown cpu"} x${os.cpus().length}; LOG_OVERHEAD ${LOG_OVERHEAD}`,
);
headerDecode();
await codecs();
