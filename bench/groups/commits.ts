/**
 * OffsetCommit throughput beside Produce throughput, on the same broker, the same connections and
 * the same pipelining: a commit of one partition's offset (OffsetCommit v8, a simple commit:
 * generation -1, no member id) against a produce of one small record (Produce v9, acks=all), so
 * their ratio says what a commit costs relative to a produce. Phases alternate (commit, produce,
 * then produce, commit in the next round) so drift on a shared machine lands on both. Figures
 * only; nothing is asserted.
 *
 *   node --conditions=samsa-source --import tsx bench/groups/commits.ts
 *   node --conditions=samsa-source --import tsx bench/groups/commits.ts --connections 4 --depth 64 --seconds 5
 *
 * Options: --connections 1,4,16  --depth 64 (requests in flight per connection)  --seconds 3 (per
 * phase)  --rounds 3  --warmup-seconds 2  --ramp-ms 300 (after a phase starts, before it is
 * counted)  --groups per-connection|shared  --record-bytes 100  --broker host:port (measure a
 * running broker)  --profile-dir DIR (the started broker writes a .cpuprofile there on exit)
 * --only commit|produce (profile one side).
 * See bench/groups/README.md for what each figure means.
 */
import { parseArgs } from "node:util";
import {
  ErrorCode,
  type ErrorCodeName,
  encodeRecordBatch,
  errorInfo,
  OffsetCommitApi,
  ProduceApi,
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
  quantile,
  startBroker,
  WireConnection,
} from "./support.js";

const OFFSET_COMMIT_VERSION = 8;
const PRODUCE_VERSION = 9;
const TOPIC = "bench-commits";
/** acks=all: the answer waits for the in-sync replicas (here the one broker), as for a commit. */
const ACKS_ALL = -1;
const PRODUCE_TIMEOUT_MS = 30_000;

const { values } = parseArgs({
  options: {
    connections: { type: "string", default: "1,4,16" },
    depth: { type: "string", default: "64" },
    seconds: { type: "string", default: "3" },
    rounds: { type: "string", default: "3" },
    "warmup-seconds": { type: "string", default: "2" },
    "ramp-ms": { type: "string", default: "300" },
    groups: { type: "string", default: "per-connection" },
    "record-bytes": { type: "string", default: "100" },
    broker: { type: "string" },
    "profile-dir": { type: "string" },
    only: { type: "string" },
  },
});
const CONNECTIONS = parseList(values.connections);
const DEPTH = Number(values.depth);
const PHASE_MS = Number(values.seconds) * 1000;
const ROUNDS = Number(values.rounds);
const WARMUP_MS = Number(values["warmup-seconds"]) * 1000;
const RAMP_MS = Number(values["ramp-ms"]);
const SHARED_GROUP = values.groups === "shared";
if (!SHARED_GROUP && values.groups !== "per-connection") throw new Error("--groups is per-connection or shared");
const RECORD_BYTES = Number(values["record-bytes"]);
const KINDS: Kind[] =
  values.only === undefined ? ["commit", "produce"] : values.only === "commit" ? ["commit"] : ["produce"];
const MAX_CONNECTIONS = Math.max(...CONNECTIONS);

type Kind = "commit" | "produce";

/** Connection i commits and produces to partition i, so connections never share a partition. */
const PARTITIONS = MAX_CONNECTIONS;

/** Text-like bytes, so the record is not all zeros (no compression is used, so it does not matter much). */
const VALUE = Buffer.from(
  "the quick brown fox jumps over the lazy dog 0123456789 ".repeat(Math.ceil(RECORD_BYTES / 55)),
).subarray(0, RECORD_BYTES);

/** Each connection's next committed offset: every commit moves it forward, as a consumer's do. */
const nextOffset: bigint[] = Array.from({ length: MAX_CONNECTIONS }, () => 0n);

function commit(conn: WireConnection, i: number): Promise<number> {
  const offset = nextOffset[i]!++;
  return conn
    .request(OffsetCommitApi, OFFSET_COMMIT_VERSION, {
      groupId: SHARED_GROUP ? "bench-commits" : `bench-commits-${i}`,
      generationIdOrMemberEpoch: -1,
      memberId: "",
      groupInstanceId: null,
      topics: [
        {
          name: TOPIC,
          partitions: [
            {
              partitionIndex: i % PARTITIONS,
              committedOffset: offset,
              committedLeaderEpoch: -1,
              committedMetadata: "",
            },
          ],
        },
      ],
    })
    .then((res) => res.topics[0]?.partitions[0]?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR);
}

function produce(conn: WireConnection, i: number): Promise<number> {
  // A new batch per request (timestamp, CRC), as a producer with linger.ms=0 sends one record.
  const records = encodeRecordBatch({ records: [{ key: null, value: VALUE }], baseTimestamp: BigInt(Date.now()) });
  return conn
    .request(ProduceApi, PRODUCE_VERSION, {
      transactionalId: null,
      acks: ACKS_ALL,
      timeoutMs: PRODUCE_TIMEOUT_MS,
      topicData: [{ name: TOPIC, partitionData: [{ index: i % PARTITIONS, records }] }],
    })
    .then((res) => res.responses[0]?.partitionResponses[0]?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR);
}

interface PhaseResult {
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Broker and benchmark CPU over the counted window, in % of one core (null: broker not started here). */
  brokerCpuPct: number | null;
  clientCpuPct: number;
  errors: Map<ErrorCodeName, number>;
}

/**
 * `connections` each keep `DEPTH` requests in flight for RAMP_MS + `windowMs`; answers that
 * arrive inside the window are counted (and their latencies kept), then sending stops and the
 * requests still in flight are drained.
 */
function phase(kind: Kind, broker: BenchBroker, conns: WireConnection[], windowMs: number): Promise<PhaseResult> {
  const send = kind === "commit" ? commit : produce;
  const latencies: number[] = [];
  const errors = new Map<ErrorCodeName, number>();
  let counting = false;
  let stopping = false;
  let windowStart = 0;
  let brokerCpu0: number | null = null;
  let clientCpu0 = 0;
  let result: Omit<PhaseResult, "errors" | "p50Ms" | "p99Ms" | "perSecond"> & { elapsedMs: number; count: number };

  return new Promise<PhaseResult>((resolve, reject) => {
    let open = conns.length;
    let failed = false;
    const finish = () => {
      resolve({
        perSecond: (result.count * 1000) / result.elapsedMs,
        p50Ms: quantile(latencies, 0.5),
        p99Ms: quantile(latencies, 0.99),
        brokerCpuPct: result.brokerCpuPct,
        clientCpuPct: result.clientCpuPct,
        errors,
      });
    };
    conns.forEach((conn, i) => {
      let inFlight = 0;
      const one = () => {
        inFlight++;
        const sentAt = performance.now();
        send(conn, i).then(
          (code) => {
            inFlight--;
            if (counting) latencies.push(performance.now() - sentAt);
            if (code !== ErrorCode.NONE) {
              const name = errorInfo(code).name;
              errors.set(name, (errors.get(name) ?? 0) + 1);
            }
            if (!stopping) one();
            else if (inFlight === 0 && --open === 0) finish();
          },
          (e: Error) => {
            if (!failed) reject(e);
            failed = true;
          },
        );
      };
      for (let d = 0; d < DEPTH; d++) one();
    });
    setTimeout(() => {
      counting = true;
      windowStart = performance.now();
      brokerCpu0 = processCpuMs(broker.pid);
      clientCpu0 = ownCpuMs();
      latencies.length = 0;
      setTimeout(() => {
        counting = false;
        stopping = true;
        const elapsedMs = performance.now() - windowStart;
        const brokerCpu1 = processCpuMs(broker.pid);
        result = {
          elapsedMs,
          count: latencies.length,
          brokerCpuPct:
            brokerCpu0 === null || brokerCpu1 === null ? null : ((brokerCpu1 - brokerCpu0) * 100) / elapsedMs,
          clientCpuPct: ((ownCpuMs() - clientCpu0) * 100) / elapsedMs,
        };
      }, windowMs);
    }, RAMP_MS);
  });
}

function pct(p: number | null): string {
  return p === null ? "—" : `${p.toFixed(0)}%`;
}

function errorsText(errors: Map<ErrorCodeName, number>): string {
  return [...errors].map(([name, n]) => `${n} × ${name}`).join(", ");
}

async function main(): Promise<void> {
  for (const l of machineLines()) console.log(l);
  const broker = await startBroker({
    external: values.broker,
    sets: ["group.initial.rebalance.delay.ms=0"],
    profileDir: values["profile-dir"],
  });
  console.log(`Broker: ${broker.description}`);
  console.log(
    `Workload: OffsetCommit v${OFFSET_COMMIT_VERSION} of 1 partition (${SHARED_GROUP ? "one group shared by all connections" : "one group per connection"}) vs Produce v${PRODUCE_VERSION} acks=all of 1 record of ${RECORD_BYTES} B; ${DEPTH} in flight per connection; ${PHASE_MS / 1000} s counted per phase after ${RAMP_MS} ms of ramp; ${ROUNDS} rounds`,
  );
  const roundRows: string[] = [];
  const byConnections = new Map<number, { commit: number[]; produce: number[]; ratio: number[] }>();
  const errorLines: string[] = [];
  const conns: WireConnection[] = [];
  try {
    for (let i = 0; i < MAX_CONNECTIONS; i++) {
      conns.push(await WireConnection.connect(broker.host, broker.port, `bench-commits-${i}`));
    }
    await checkApiVersions(conns[0]!, [
      [OffsetCommitApi, OFFSET_COMMIT_VERSION],
      [ProduceApi, PRODUCE_VERSION],
    ]);
    await createTopic(conns[0]!, TOPIC, PARTITIONS);

    // Untimed: creates __consumer_offsets and the groups, and lets both processes' JITs settle.
    for (const kind of KINDS) {
      process.stderr.write(`warm-up: ${kind}, ${MAX_CONNECTIONS} connections, ${WARMUP_MS} ms\n`);
      const w = await phase(kind, broker, conns, WARMUP_MS);
      if (w.errors.size > 0) errorLines.push(`warm-up ${kind}: ${errorsText(w.errors)}`);
    }

    for (let round = 1; round <= ROUNDS; round++) {
      for (const p of CONNECTIONS) {
        const order = round % 2 === 1 ? KINDS : [...KINDS].reverse();
        const got = new Map<Kind, PhaseResult>();
        const loadBefore = loadAverage().split(" ")[0];
        for (const kind of order) {
          const r = await phase(kind, broker, conns.slice(0, p), PHASE_MS);
          got.set(kind, r);
          if (r.errors.size > 0) errorLines.push(`round ${round}, ${p} connections, ${kind}: ${errorsText(r.errors)}`);
          process.stderr.write(
            `round ${round}, ${p} connections, ${kind}: ${int(r.perSecond)}/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, broker CPU ${pct(r.brokerCpuPct)}\n`,
          );
        }
        const c = got.get("commit");
        const pr = got.get("produce");
        const ratio = c !== undefined && pr !== undefined ? c.perSecond / pr.perSecond : Number.NaN;
        const cell = (r: PhaseResult | undefined) =>
          r === undefined
            ? "— | — | — |"
            : `${int(r.perSecond)} | ${r.p50Ms.toFixed(2)} / ${r.p99Ms.toFixed(2)} ms | ${pct(r.brokerCpuPct)} / ${pct(r.clientCpuPct)} |`;
        roundRows.push(
          `| ${round} | ${p} | ${DEPTH} | ${cell(c)} ${cell(pr)} ${Number.isFinite(ratio) ? ratio.toFixed(2) : "—"} | ${loadBefore} |`,
        );
        const agg = byConnections.get(p) ?? { commit: [], produce: [], ratio: [] };
        if (c !== undefined) agg.commit.push(c.perSecond);
        if (pr !== undefined) agg.produce.push(pr.perSecond);
        if (Number.isFinite(ratio)) agg.ratio.push(ratio);
        byConnections.set(p, agg);
      }
    }
  } finally {
    for (const c of conns) c.close();
    await broker.dispose();
  }

  console.log("");
  console.log(
    "| Round | Connections | In flight each | Commits/s | Commit p50 / p99 | CPU broker / bench | Produces/s | Produce p50 / p99 | CPU broker / bench | Commit/produce | Load (1 min) |",
  );
  console.log("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
  for (const r of roundRows) console.log(r);
  console.log("");
  console.log(`Median over ${ROUNDS} rounds:`);
  console.log("");
  console.log(
    "| Connections | In flight each | Commits/s | Produces/s | Commit/produce (median of the rounds' ratios) |",
  );
  console.log("|--:|--:|--:|--:|--:|");
  for (const [p, a] of byConnections) {
    const r = median(a.ratio);
    console.log(
      `| ${p} | ${DEPTH} | ${int(median(a.commit))} | ${int(median(a.produce))} | ${Number.isFinite(r) ? r.toFixed(2) : "—"} |`,
    );
  }
  console.log("");
  console.log("CPU is % of one core over the counted window; the machine line above gives the number of cores.");
  console.log(`Load average at the end: ${loadAverage()}`);
  if (errorLines.length > 0) {
    console.log("\nError answers (counted in the rates above):");
    for (const l of errorLines) console.log(`- ${l}`);
  }
}

await main();
