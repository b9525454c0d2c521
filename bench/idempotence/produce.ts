/**
 * Idempotent against plain produce throughput on one broker, with the client held constant: the
 * same connections, the same pipelining (at most 5 requests in flight per connection, the
 * idempotent producer's limit, on both sides), the same batch bytes and the same per-request
 * client work. The only difference is the batch header: producer id -1 / epoch -1 / sequence -1
 * (plain) against the id and epoch from one InitProducerId v4, with each partition's sequence
 * advancing by the record count (idempotent). Sides alternate, the order flipped every round, so
 * drift on a shared machine lands on both. Figures only; nothing is asserted, but any error answer
 * stops the run (exit code 1), since a rate with rejected batches measures nothing.
 *
 *   node --conditions=samsa-source --import tsx bench/idempotence/produce.ts
 *   node --conditions=samsa-source --import tsx bench/idempotence/produce.ts --partitions 4 --records 1000 --rounds 5
 *
 * Options: --partitions 1,4 (one topic each)  --records 100,1000 (records per batch)
 * --record-bytes 100  --seconds 3 (counted per side)  --rounds 5  --warmup-seconds 2 (per side
 * and configuration, untimed)  --ramp-ms 300 (after a side starts, before it is counted)
 * --in-flight 5 (per connection)  --connections per-partition|one (per-partition: connection i
 * produces to partition i, one batch per request; one: a single connection whose requests carry
 * one batch for every partition, as a producer talking to a single broker sends)
 * --broker host:port (measure a running broker; no broker CPU then)  --profile-dir DIR (the started
 * broker writes a .cpuprofile there on exit).  See bench/idempotence/README.md.
 */
import { execFileSync } from "node:child_process";
import { parseArgs } from "node:util";
import {
  BASE_SEQUENCE_OFFSET,
  CRC_OFFSET,
  computeBatchCrc,
  type Encodable,
  ErrorCode,
  encodeRecordBatch,
  errorInfo,
  InitProducerIdApi,
  NO_SEQUENCE,
  ProduceApi,
  type ProduceRequest,
  type ProduceResponse,
  RECORDS_COUNT_OFFSET,
} from "@samsa/protocol";
import {
  type BenchBroker,
  checkApiVersions,
  createTopic,
  int,
  loadAverage,
  machineLines,
  median,
  ownCpuMs,
  parseList,
  processCpuMs,
  startBroker,
  WireConnection,
} from "../groups/support.js";

const PRODUCE_VERSION = 9;
const INIT_PRODUCER_ID_VERSION = 4;
/** acks=all: what an idempotent producer must use, so the plain side uses it too. */
const ACKS_ALL = -1;
const PRODUCE_TIMEOUT_MS = 30_000;

const { values } = parseArgs({
  options: {
    partitions: { type: "string", default: "1,4" },
    records: { type: "string", default: "100,1000" },
    "record-bytes": { type: "string", default: "100" },
    seconds: { type: "string", default: "3" },
    rounds: { type: "string", default: "5" },
    "warmup-seconds": { type: "string", default: "2" },
    "ramp-ms": { type: "string", default: "300" },
    "in-flight": { type: "string", default: "5" },
    connections: { type: "string", default: "per-partition" },
    broker: { type: "string" },
    "profile-dir": { type: "string" },
  },
});
const PARTITION_COUNTS = parseList(values.partitions);
const RECORD_COUNTS = parseList(values.records);
const RECORD_BYTES = Number(values["record-bytes"]);
const WINDOW_MS = Number(values.seconds) * 1000;
const ROUNDS = Number(values.rounds);
const WARMUP_MS = Number(values["warmup-seconds"]) * 1000;
const RAMP_MS = Number(values["ramp-ms"]);
const IN_FLIGHT = Number(values["in-flight"]);
const ONE_CONNECTION = values.connections === "one";
if (!ONE_CONNECTION && values.connections !== "per-partition") {
  throw new Error("--connections is per-partition or one");
}

type Side = "plain" | "idempotent";
const SIDES: readonly Side[] = ["plain", "idempotent"];

/** Text-like bytes, so a record is not all zeros (no compression is used, so it matters little). */
const VALUE = Buffer.from(
  "the quick brown fox jumps over the lazy dog 0123456789 ".repeat(Math.ceil(RECORD_BYTES / 55)),
).subarray(0, RECORD_BYTES);

/** One partition's batch template: encoded once, baseSequence and CRC rewritten before each request. */
interface PartitionBatch {
  index: number;
  batch: Buffer;
  records: number;
}

/** What one side of one configuration sends: per connection, the partitions its requests carry. */
interface SideLoad {
  side: Side;
  topic: string;
  perConnection: PartitionBatch[][];
  /**
   * Next base sequence per partition (idempotent side), shared by every batch size sent to the
   * topic, since the broker keeps one sequence per producer and partition; null on the plain side.
   */
  sequences: number[] | null;
}

interface Producer {
  producerId: bigint;
  producerEpoch: number;
}

function buildLoad(
  side: Side,
  topic: string,
  partitions: number,
  records: number,
  producer: Producer,
  sequences: number[],
): SideLoad {
  const baseTimestamp = BigInt(Date.now());
  const recordInputs = Array.from({ length: records }, () => ({ key: null, value: VALUE }));
  const states: PartitionBatch[] = [];
  for (let p = 0; p < partitions; p++) {
    const batch =
      side === "idempotent"
        ? encodeRecordBatch({
            records: recordInputs,
            baseTimestamp,
            producerId: producer.producerId,
            producerEpoch: producer.producerEpoch,
            baseSequence: 0,
          })
        : encodeRecordBatch({ records: recordInputs, baseTimestamp });
    if (batch.readInt32BE(RECORDS_COUNT_OFFSET) !== records) throw new Error("batch record count mismatch");
    states.push({ index: p, batch, records });
  }
  return {
    side,
    topic,
    perConnection: ONE_CONNECTION ? [states] : states.map((s) => [s]),
    sequences: side === "idempotent" ? sequences : null,
  };
}

/**
 * The request for one connection's partitions. Both sides do the same client work: write the
 * base sequence (the plain side rewrites -1), recompute the CRC32C (it covers the sequence) and
 * write it; `WireConnection.request` then copies the batch into the frame synchronously, so the
 * template can be patched again for the next request while this one is in flight.
 */
function nextRequest(
  load: SideLoad,
  partitions: PartitionBatch[],
): { body: Encodable<ProduceRequest>; records: number } {
  let records = 0;
  const partitionData = partitions.map((s) => {
    const sequences = load.sequences;
    s.batch.writeInt32BE(sequences === null ? NO_SEQUENCE : sequences[s.index]!, BASE_SEQUENCE_OFFSET);
    s.batch.writeUInt32BE(computeBatchCrc(s.batch, 0), CRC_OFFSET);
    if (sequences !== null) sequences[s.index]! += s.records;
    records += s.records;
    return { index: s.index, records: s.batch };
  });
  return {
    body: {
      transactionalId: null,
      acks: ACKS_ALL,
      timeoutMs: PRODUCE_TIMEOUT_MS,
      topicData: [{ name: load.topic, partitionData }],
    },
    records,
  };
}

/** The first error in a Produce answer, as one line, or null. */
function firstError(res: ProduceResponse, expectedPartitions: number): string | null {
  let seen = 0;
  for (const t of res.responses) {
    for (const p of t.partitionResponses) {
      seen++;
      if (p.errorCode !== ErrorCode.NONE) {
        const message = p.errorMessage === null ? "" : `: ${p.errorMessage}`;
        return `${t.name}-${p.index}: ${errorInfo(p.errorCode).name}${message}`;
      }
    }
  }
  return seen === expectedPartitions ? null : `answer for ${seen} partitions, ${expectedPartitions} sent`;
}

interface SideResult {
  recordsPerSecond: number;
  /** % of one core over the counted window (null: broker not started here). */
  brokerCpuPct: number | null;
  benchCpuPct: number;
  /** Broker CPU per 1,000 acknowledged records, in microseconds. */
  brokerCpuUsPerKRecords: number | null;
}

/**
 * Every connection keeps IN_FLIGHT requests outstanding for RAMP_MS + `windowMs`; records in
 * answers that arrive inside the window are counted, then sending stops and what is in flight is
 * drained (so the idempotent side's sequences stay contiguous into the next phase).
 */
function runSide(load: SideLoad, broker: BenchBroker, conns: WireConnection[], windowMs: number): Promise<SideResult> {
  let counting = false;
  let stopping = false;
  let counted = 0;
  let windowStart = 0;
  let brokerCpu0: number | null = null;
  let benchCpu0 = 0;
  let result: SideResult | undefined;

  return new Promise<SideResult>((resolve, reject) => {
    let open = conns.length;
    let failed = false;
    const fail = (e: Error) => {
      stopping = true;
      if (!failed) reject(e);
      failed = true;
    };
    conns.forEach((conn, c) => {
      const partitions = load.perConnection[c]!;
      let inFlight = 0;
      const one = () => {
        const { body, records } = nextRequest(load, partitions);
        inFlight++;
        conn.request(ProduceApi, PRODUCE_VERSION, body).then(
          (res) => {
            inFlight--;
            const error = firstError(res, partitions.length);
            if (error !== null) {
              fail(new Error(`${load.side} Produce v${PRODUCE_VERSION} answered an error: ${error}`));
              return;
            }
            if (counting) counted += records;
            if (!stopping) one();
            else if (inFlight === 0 && --open === 0 && !failed) resolve(result!);
          },
          (e: Error) => fail(e),
        );
      };
      for (let d = 0; d < IN_FLIGHT; d++) one();
    });
    setTimeout(() => {
      counting = true;
      windowStart = performance.now();
      brokerCpu0 = processCpuMs(broker.pid);
      benchCpu0 = ownCpuMs();
      setTimeout(() => {
        counting = false;
        stopping = true;
        const elapsedMs = performance.now() - windowStart;
        const brokerCpu1 = processCpuMs(broker.pid);
        const brokerCpuMs = brokerCpu0 === null || brokerCpu1 === null ? null : brokerCpu1 - brokerCpu0;
        result = {
          recordsPerSecond: (counted * 1000) / elapsedMs,
          brokerCpuPct: brokerCpuMs === null ? null : (brokerCpuMs * 100) / elapsedMs,
          benchCpuPct: ((ownCpuMs() - benchCpu0) * 100) / elapsedMs,
          brokerCpuUsPerKRecords: brokerCpuMs === null || counted === 0 ? null : (brokerCpuMs * 1e6) / counted,
        };
      }, windowMs);
    }, RAMP_MS);
  });
}

/**
 * That the idempotent side is measured as such: a batch whose sequence skips ahead must be refused
 * with OUT_OF_ORDER_SEQUENCE_NUMBER, which only a broker tracking this producer's sequences does.
 * Sent once, after the timed rounds; a refused batch changes no state.
 */
async function checkSequencesAreEnforced(cfg: Config): Promise<void> {
  const load = cfg.loads.get("idempotent")!;
  const partition = load.perConnection[0]![0]!;
  const sequences = load.sequences!;
  const expected = sequences[partition.index]!;
  sequences[partition.index] = expected + partition.records;
  const { body } = nextRequest({ ...load, perConnection: [[partition]] }, [partition]);
  sequences[partition.index] = expected;
  const res = await cfg.conns[0]!.request(ProduceApi, PRODUCE_VERSION, body);
  const code = res.responses[0]?.partitionResponses[0]?.errorCode;
  if (code !== ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER) {
    const got = code === undefined ? "no answer" : errorInfo(code).name;
    throw new Error(`a batch with a sequence gap was answered ${got}, not OUT_OF_ORDER_SEQUENCE_NUMBER`);
  }
}

function uptime(): string {
  try {
    return execFileSync("uptime", { encoding: "utf8" }).trim();
  } catch {
    return `load average: ${loadAverage()}`;
  }
}

function pct(p: number | null): string {
  return p === null ? "—" : `${p.toFixed(0)}%`;
}

function fixed(n: number | null, digits: number): string {
  return n === null || !Number.isFinite(n) ? "—" : n.toFixed(digits);
}

interface Config {
  partitions: number;
  records: number;
  conns: WireConnection[];
  loads: Map<Side, SideLoad>;
  results: Map<Side, SideResult[]>;
  ratios: number[];
}

async function main(): Promise<void> {
  for (const l of machineLines()) console.log(l);
  console.log(`uptime at start: ${uptime()}`);
  const broker = await startBroker({ external: values.broker, sets: [], profileDir: values["profile-dir"] });
  console.log(`Broker: ${broker.description}`);
  console.log(
    `Workload: Produce v${PRODUCE_VERSION} acks=all, uncompressed batches of N records × ${RECORD_BYTES} B, ${ONE_CONNECTION ? "1 connection carrying one batch per partition per request" : "1 connection per partition, one batch per request"}, ≤ ${IN_FLIGHT} requests in flight per connection on both sides; ${WINDOW_MS / 1000} s counted per side after ${RAMP_MS} ms of ramp; ${ROUNDS} rounds, order flipped each round`,
  );

  const allConns: WireConnection[] = [];
  const configs: Config[] = [];
  const roundRows: string[] = [];
  let failure: Error | null = null;
  try {
    const admin = await WireConnection.connect(broker.host, broker.port, "bench-idempotence-admin");
    allConns.push(admin);
    await checkApiVersions(admin, [
      [ProduceApi, PRODUCE_VERSION],
      [InitProducerIdApi, INIT_PRODUCER_ID_VERSION],
    ]);
    const init = await admin.request(InitProducerIdApi, INIT_PRODUCER_ID_VERSION, {
      transactionalId: null,
      transactionTimeoutMs: 60_000,
      producerId: -1n,
      producerEpoch: -1,
    });
    if (init.errorCode !== ErrorCode.NONE) throw new Error(`InitProducerId: ${errorInfo(init.errorCode).name}`);
    const producer: Producer = { producerId: init.producerId, producerEpoch: init.producerEpoch };
    console.log(`Idempotent producer: id ${producer.producerId}, epoch ${producer.producerEpoch}`);

    for (const partitions of PARTITION_COUNTS) {
      // One topic per partition count, shared by both sides and every batch size: a partition's log
      // then holds plain and idempotent batches alike, and its producer state one producer.
      const topic = `bench-idempotence-p${partitions}`;
      await createTopic(admin, topic, partitions);
      const conns: WireConnection[] = [];
      for (let c = 0; c < (ONE_CONNECTION ? 1 : partitions); c++) {
        conns.push(await WireConnection.connect(broker.host, broker.port, `bench-idempotence-${partitions}-${c}`));
      }
      allConns.push(...conns);
      const sequences = Array.from({ length: partitions }, () => 0);
      for (const records of RECORD_COUNTS) {
        configs.push({
          partitions,
          records,
          conns,
          loads: new Map(SIDES.map((side) => [side, buildLoad(side, topic, partitions, records, producer, sequences)])),
          results: new Map([
            ["plain", []],
            ["idempotent", []],
          ]),
          ratios: [],
        });
      }
    }

    for (let round = 0; round <= ROUNDS; round++) {
      for (const cfg of configs) {
        const order = round % 2 === 1 ? SIDES : [...SIDES].reverse();
        const loadBefore = loadAverage().split(" ")[0];
        const got = new Map<Side, SideResult>();
        for (const side of order) {
          const r = await runSide(cfg.loads.get(side)!, broker, cfg.conns, round === 0 ? WARMUP_MS : WINDOW_MS);
          got.set(side, r);
          process.stderr.write(
            `${round === 0 ? "warm-up" : `round ${round}`}, ${cfg.partitions} partitions × ${cfg.records} records, ${side}: ${int(r.recordsPerSecond)} records/s, broker CPU ${pct(r.brokerCpuPct)}, bench CPU ${pct(r.benchCpuPct)}\n`,
          );
        }
        if (round === 0) continue;
        const p = got.get("plain")!;
        const i = got.get("idempotent")!;
        const ratio = i.recordsPerSecond / p.recordsPerSecond;
        cfg.results.get("plain")!.push(p);
        cfg.results.get("idempotent")!.push(i);
        cfg.ratios.push(ratio);
        roundRows.push(
          `| ${round} | ${cfg.partitions} | ${cfg.records} | ${order[0]} first | ${int(p.recordsPerSecond)} | ${int(i.recordsPerSecond)} | ${ratio.toFixed(3)} | ${pct(p.brokerCpuPct)} / ${pct(i.brokerCpuPct)} | ${fixed(p.brokerCpuUsPerKRecords, 0)} / ${fixed(i.brokerCpuUsPerKRecords, 0)} | ${pct(p.benchCpuPct)} / ${pct(i.benchCpuPct)} | ${loadBefore} |`,
        );
      }
    }
    await checkSequencesAreEnforced(configs[0]!);
  } catch (e) {
    failure = e as Error;
  } finally {
    for (const c of allConns) c.close();
    await broker.dispose();
  }
  if (failure !== null) {
    console.error(`\nRun failed: ${failure.message}`);
    process.exitCode = 1;
    return;
  }

  const medianOf = (xs: (number | null)[]) => {
    const known = xs.filter((x): x is number => x !== null);
    return known.length === 0 ? null : median(known);
  };
  console.log("");
  console.log(
    "| Round | Partitions | Records/batch | Order | Plain records/s | Idempotent records/s | Idem/plain | Broker CPU plain / idem | Broker CPU µs per 1k records plain / idem | Bench CPU plain / idem | Load (1 min) |",
  );
  console.log("|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|");
  for (const r of roundRows) console.log(r);
  console.log("");
  console.log(`Medians over ${ROUNDS} rounds:`);
  console.log("");
  console.log(
    "| Partitions | Records/batch | Plain records/s | Idempotent records/s | Idem/plain (median of rounds; min–max) | Broker CPU plain / idem | Broker CPU µs per 1k records plain / idem | Bench CPU plain / idem |",
  );
  console.log("|--:|--:|--:|--:|--:|--:|--:|--:|");
  for (const cfg of configs) {
    const p = cfg.results.get("plain")!;
    const i = cfg.results.get("idempotent")!;
    const m = (rs: SideResult[], f: (r: SideResult) => number | null) => medianOf(rs.map(f));
    const rate = `${int(m(p, (r) => r.recordsPerSecond)!)} | ${int(m(i, (r) => r.recordsPerSecond)!)}`;
    const ratio = `${median(cfg.ratios).toFixed(3)} (${Math.min(...cfg.ratios).toFixed(2)}–${Math.max(...cfg.ratios).toFixed(2)})`;
    const brokerCpu = `${pct(m(p, (r) => r.brokerCpuPct))} / ${pct(m(i, (r) => r.brokerCpuPct))}`;
    const perRecords = `${fixed(
      m(p, (r) => r.brokerCpuUsPerKRecords),
      0,
    )} / ${fixed(
      m(i, (r) => r.brokerCpuUsPerKRecords),
      0,
    )}`;
    const benchCpu = `${pct(m(p, (r) => r.benchCpuPct))} / ${pct(m(i, (r) => r.benchCpuPct))}`;
    console.log(
      `| ${cfg.partitions} | ${cfg.records} | ${rate} | ${ratio} | ${brokerCpu} | ${perRecords} | ${benchCpu} |`,
    );
  }
  console.log("");
  console.log("CPU is % of one core over the counted window; the machine line above gives the number of cores.");
  console.log("Every Produce answer of every phase (warm-up included) was checked: no errors.");
  console.log("A batch with a sequence gap sent afterwards was refused with OUT_OF_ORDER_SEQUENCE_NUMBER.");
  console.log(`uptime at the end: ${uptime()}`);
}

await main();
