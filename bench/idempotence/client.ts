/**
 * Idempotent against plain produce throughput through a real high-level producer: Samsa's own
 * `Producer` (`@samsa/client`) with `idempotent: true` against `idempotent: false`, every other
 * setting equal (acks=all, linger 5 ms, batchBytes, ≤ 5 batches in flight per partition on both
 * sides, no compression), one broker, one process. Where produce.ts holds the wire traffic
 * constant, this measures what a user of a producer that is idempotent by default pays: the
 * broker's sequence checks plus the client's own bookkeeping (sequence numbers, ordered retries).
 * Sides alternate, the order flipped every round; the ratio is idempotent / plain within a round.
 * Figures only; nothing is asserted.
 *
 *   node --conditions=samsa-source --import tsx bench/idempotence/client.ts
 *   node --conditions=samsa-source --import tsx bench/idempotence/client.ts --records 500000 --rounds 9
 *
 * Options: --records 1000000 (per side and round)  --record-bytes 100  --partitions 4
 * --batch 1000 (records per sendBatch call, each call to one partition, rotating)  --outstanding 64
 * (sendBatch calls unacknowledged at most)  --batch-bytes 16384 (the producer's batch.size)
 * --rounds 7  --broker host:port (a running broker; no broker CPU then).  See README.md here.
 */
import { parseArgs } from "node:util";
import { Admin, Producer, type ProducerRecord } from "@samsa/client";
import {
  type BenchBroker,
  int,
  loadAverage,
  machineLines,
  median,
  ownCpuMs,
  processCpuMs,
  startBroker,
} from "../groups/support.js";

const { values } = parseArgs({
  options: {
    records: { type: "string", default: "1000000" },
    "record-bytes": { type: "string", default: "100" },
    partitions: { type: "string", default: "4" },
    batch: { type: "string", default: "1000" },
    outstanding: { type: "string", default: "64" },
    "batch-bytes": { type: "string", default: "16384" },
    rounds: { type: "string", default: "7" },
    broker: { type: "string" },
  },
});
const RECORDS = Number(values.records);
const RECORD_BYTES = Number(values["record-bytes"]);
const PARTITIONS = Number(values.partitions);
const BATCH = Number(values.batch);
const OUTSTANDING = Number(values.outstanding);
const BATCH_BYTES = Number(values["batch-bytes"]);
const ROUNDS = Number(values.rounds);
const TOPIC = "bench-idempotence-client";

type Side = "plain" | "idempotent";

interface SideResult {
  recordsPerSec: number;
  brokerCpuPct: number | null;
  benchCpuPct: number;
}

const VALUE = Buffer.from(
  "the quick brown fox jumps over the lazy dog 0123456789 ".repeat(Math.ceil(RECORD_BYTES / 55)),
).subarray(0, RECORD_BYTES);

/** One reusable array of records per partition: the same objects on both sides. */
const perPartition: ProducerRecord[][] = Array.from({ length: PARTITIONS }, (_, p) =>
  Array.from({ length: BATCH }, () => ({ value: VALUE, partition: p })),
);

async function runSide(broker: BenchBroker, side: Side): Promise<SideResult> {
  const producer = new Producer({
    brokers: [`${broker.host}:${broker.port}`],
    acks: -1,
    idempotent: side === "idempotent",
    compression: "none",
    batchBytes: BATCH_BYTES,
  });
  await producer.connect();
  // Connections, metadata and (idempotent side) the producer id before the clock starts.
  await producer.sendBatch(TOPIC, [{ value: VALUE, partition: 0 }]);
  const calls = Math.ceil(RECORDS / BATCH);
  let next = 0;
  let acknowledged = 0;
  const brokerCpu0 = processCpuMs(broker.pid);
  const ownCpu0 = ownCpuMs();
  const t0 = performance.now();
  // OUTSTANDING workers, each sending its next call when the previous one is acknowledged.
  await Promise.all(
    Array.from({ length: Math.min(OUTSTANDING, calls) }, async () => {
      while (next < calls) {
        const call = next++;
        const count = Math.min(BATCH, RECORDS - call * BATCH);
        const records = perPartition[call % PARTITIONS]!;
        // Read acknowledged after the await: `acknowledged += await ...` would read it before.
        const sent = await producer.sendBatch(TOPIC, count === BATCH ? records : records.slice(0, count));
        acknowledged += sent.length;
      }
    }),
  );
  const elapsedMs = performance.now() - t0;
  const brokerCpu1 = processCpuMs(broker.pid);
  const ownCpu1 = ownCpuMs();
  await producer.close();
  if (acknowledged !== RECORDS) throw new Error(`${side}: ${acknowledged} of ${RECORDS} records acknowledged`);
  return {
    recordsPerSec: (RECORDS / elapsedMs) * 1000,
    brokerCpuPct: brokerCpu0 === null || brokerCpu1 === null ? null : ((brokerCpu1 - brokerCpu0) / elapsedMs) * 100,
    benchCpuPct: ((ownCpu1 - ownCpu0) / elapsedMs) * 100,
  };
}

function pct(x: number | null): string {
  return x === null ? "–" : `${Math.round(x)}%`;
}

async function main(): Promise<void> {
  const out: string[] = [];
  const print = (line: string): void => {
    out.push(line);
    process.stdout.write(`${line}\n`);
  };
  for (const line of machineLines()) print(line);
  const broker = await startBroker({ external: values.broker, sets: [] });
  try {
    print(`Broker: ${broker.description}`);
    print(
      `Workload: @samsa/client Producer, acks=all, ${int(RECORDS)} records × ${RECORD_BYTES} B per side and round, ` +
        `sendBatch of ${BATCH} records to one partition of ${PARTITIONS} (rotating), ≤ ${OUTSTANDING} calls outstanding, ` +
        `batchBytes ${BATCH_BYTES}, lingerMs 5, ≤ 5 batches in flight per partition; ${ROUNDS} rounds after one warm-up round, order flipped each round`,
    );
    const admin = new Admin({ brokers: [`${broker.host}:${broker.port}`] });
    await admin.connect();
    await admin.createTopics([{ topic: TOPIC, numPartitions: PARTITIONS }]);
    await admin.close();

    process.stderr.write("warm-up round\n");
    await runSide(broker, "plain");
    await runSide(broker, "idempotent");

    print("");
    print(
      "| Round | Order | Plain records/s | Idempotent records/s | Idem/plain | Broker CPU plain / idem | Bench CPU plain / idem | Load (1 min) |",
    );
    print("|--:|---|--:|--:|--:|--:|--:|--:|");
    const rows: { plain: SideResult; idempotent: SideResult; ratio: number }[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const order: Side[] = round % 2 === 1 ? ["plain", "idempotent"] : ["idempotent", "plain"];
      const results = new Map<Side, SideResult>();
      for (const side of order) {
        const r = await runSide(broker, side);
        results.set(side, r);
        process.stderr.write(`round ${round}, ${side}: ${int(r.recordsPerSec)} records/s\n`);
      }
      const plain = results.get("plain")!;
      const idempotent = results.get("idempotent")!;
      const ratio = idempotent.recordsPerSec / plain.recordsPerSec;
      rows.push({ plain, idempotent, ratio });
      print(
        `| ${round} | ${order[0]} first | ${int(plain.recordsPerSec)} | ${int(idempotent.recordsPerSec)} | ${ratio.toFixed(3)} | ` +
          `${pct(plain.brokerCpuPct)} / ${pct(idempotent.brokerCpuPct)} | ${pct(plain.benchCpuPct)} / ${pct(idempotent.benchCpuPct)} | ${loadAverage().split(" ")[0]} |`,
      );
    }
    const ratios = rows.map((r) => r.ratio);
    const geomean = Math.exp(ratios.reduce((s, r) => s + Math.log(r), 0) / ratios.length);
    print("");
    print(
      `Median plain ${int(median(rows.map((r) => r.plain.recordsPerSec)))} records/s, idempotent ` +
        `${int(median(rows.map((r) => r.idempotent.recordsPerSec)))}; idem/plain median ${median(ratios).toFixed(3)} ` +
        `(min ${Math.min(...ratios).toFixed(3)}, max ${Math.max(...ratios).toFixed(3)}, geometric mean ${geomean.toFixed(3)}) over ${ROUNDS} rounds.`,
    );
    print(`Load average at the end: ${loadAverage()}`);
  } finally {
    await broker.dispose();
  }
}

await main();
