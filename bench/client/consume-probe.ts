/**
 * Consume only, longer runs, and a ceiling: how fast can anything read this topic from this broker
 * on this machine. The topics are filled once into a data directory that survives between runs
 * (as throughput.ts fills them: Samsa producer, 16 KiB batches), then a fresh broker (optionally
 * under `node --cpu-prof`, so its profile holds only the reads) serves every reader in turn.
 *
 *   node --conditions=samsa-source --import tsx bench/client/consume-probe.ts --sizes 1024 --clients samsa,raw,raw-pipe
 *
 * Options: --sizes 100,1024  --records 4000000,800000  --clients samsa,raw,raw-pipe,raw-decode
 * (also kafkajs, platformatic: throughput.ts's children)  --repeat 3  --partitions 4
 * --data-dir /tmp/samsa-consume-probe  --broker-profile DIR  --client-profile DIR
 * --child-node-args="--trace-gc" (node flags for every reader child; NODE_OPTIONS refuses some)
 *
 * Readers beside the clients:
 * - raw: one Fetch of every partition at a time on one BrokerConnection, the next one when the
 *   answer is in; records are not decoded (the next offset comes from the last batch header).
 * - raw-pipe: the same, one Fetch per partition, each partition its own loop (up to one Fetch per
 *   partition in flight): what a client that always keeps a fetch outstanding could reach.
 * - raw-decode: raw plus the consumer's record decoder (decodeFetchedRecords) on every partition.
 */
import { type ChildProcess, fork } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { BrokerConnection } from "@samsa/client";
import { FetchApi, iterateBatches, lastOffsetOf, readBatchHeader } from "@samsa/protocol";
import { decodeFetchedRecords } from "../../packages/client/src/consumer/records.js";
import { BrokerProcess } from "../../tests/e2e/support/broker-process.js";
import {
  createTopic,
  int,
  loadAverage,
  machineLines,
  median,
  processCpuMs,
  startBroker,
  WireConnection,
} from "../groups/support.js";

const THROUGHPUT = path.join(path.dirname(fileURLToPath(import.meta.url)), "throughput.ts");
const FETCH_MAX_BYTES = 52_428_800;
const FETCH_PARTITION_MAX_BYTES = 1_048_576;
const FETCH_MAX_WAIT_MS = 500;
const FILL_BATCH_BYTES = 16_384;
const BROKER_SETS = ["group.initial.rebalance.delay.ms=0"];
const RAW_READERS = ["raw", "raw-pipe", "raw-decode"];

interface RawTask {
  reader: string;
  bootstrap: string;
  topic: string;
  partitions: number;
  records: number;
}

interface ChildResult {
  records: number;
  elapsedMs: number;
  cpuMs: number;
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

// ---------------------------------------------------------------------------------------------
// Raw child
// ---------------------------------------------------------------------------------------------

async function rawChild(task: RawTask): Promise<ChildResult> {
  const [host, port] = task.bootstrap.split(":");
  const conn = new BrokerConnection({ host: host!, port: Number(port), nodeId: 1 });
  await conn.connect();
  const version = Math.min(conn.versionFor(FetchApi), 12);
  const next = Array.from({ length: task.partitions }, () => 0n);
  const ends = Array.from({ length: task.partitions }, () => -1n);
  let total = 0n;
  const target = BigInt(task.records);
  let t0 = 0;
  let c0 = 0;
  const fetch = async (partitions: number[]): Promise<void> => {
    const res = await conn.send(
      FetchApi,
      {
        replicaId: -1,
        maxWaitMs: FETCH_MAX_WAIT_MS,
        minBytes: 1,
        maxBytes: FETCH_MAX_BYTES,
        isolationLevel: 0,
        sessionId: 0,
        sessionEpoch: -1,
        topics: [
          {
            topic: task.topic,
            partitions: partitions.map((p) => ({
              partition: p,
              currentLeaderEpoch: -1,
              fetchOffset: next[p]!,
              lastFetchedEpoch: -1,
              logStartOffset: -1n,
              partitionMaxBytes: FETCH_PARTITION_MAX_BYTES,
            })),
          },
        ],
        forgottenTopicsData: [],
        rackId: "",
      },
      { version },
    );
    if (t0 === 0) {
      t0 = performance.now();
      c0 = cpuMs();
      process.send!({ type: "start" });
    }
    for (const t of res.responses) {
      for (const p of t.partitions) {
        if (p.errorCode !== 0) throw new Error(`Fetch error ${p.errorCode}`);
        ends[p.partitionIndex] = p.highWatermark;
        const buf = p.records;
        if (buf === null || buf.length === 0) continue;
        let nextOffset = next[p.partitionIndex]!;
        if (task.reader === "raw-decode") {
          nextOffset = decodeFetchedRecords(t.topic, p.partitionIndex, buf, nextOffset, false, null).nextOffset;
        } else {
          for (const { position } of iterateBatches(buf)) {
            const last = lastOffsetOf(readBatchHeader(buf, position)) + 1n;
            if (last > nextOffset) nextOffset = last;
          }
        }
        total += nextOffset - next[p.partitionIndex]!;
        next[p.partitionIndex] = nextOffset;
      }
    }
  };
  const all = Array.from({ length: task.partitions }, (_, p) => p);
  if (task.reader === "raw-pipe") {
    await Promise.all(
      all.map(async (p) => {
        while (next[p]! < ends[p]! || ends[p]! < 0n) await fetch([p]);
      }),
    );
  } else {
    while (total < target) await fetch(all);
  }
  const result = { records: Number(total), elapsedMs: performance.now() - t0, cpuMs: cpuMs() - c0 };
  conn.close();
  return result;
}

// ---------------------------------------------------------------------------------------------
// Parent
// ---------------------------------------------------------------------------------------------

function runChild(
  child: ChildProcess,
  brokerPid: number,
): Promise<{ result: ChildResult; brokerCpuMs: number | null }> {
  return new Promise((resolve, reject) => {
    let brokerStart: number | null = null;
    let result: ChildResult | null = null;
    let brokerCpuMs: number | null = null;
    child.on("message", (m: { type: string; result?: ChildResult; error?: string }) => {
      if (m.type === "start") brokerStart = processCpuMs(brokerPid);
      else if (m.type === "result") {
        const end = processCpuMs(brokerPid);
        brokerCpuMs = brokerStart !== null && end !== null ? end - brokerStart : null;
        result = m.result!;
      } else if (m.type === "error") reject(new Error(m.error));
    });
    child.on("exit", (code) => {
      if (result !== null && code === 0) resolve({ result, brokerCpuMs });
      else reject(new Error(`child exited with code ${code}`));
    });
  });
}

async function parent(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: "string", default: "100,1024" },
      records: { type: "string", default: "4000000,800000" },
      clients: { type: "string", default: "samsa,raw,raw-pipe" },
      repeat: { type: "string", default: "3" },
      partitions: { type: "string", default: "4" },
      "data-dir": { type: "string", default: "/tmp/samsa-consume-probe" },
      "broker-profile": { type: "string" },
      "client-profile": { type: "string" },
      "child-node-args": { type: "string", default: "" },
    },
  });
  const sizes = values.sizes.split(",").map(Number);
  const counts = values.records.split(",").map(Number);
  const partitions = Number(values.partitions);
  const clients = values.clients.split(",");
  const dataDir = values["data-dir"];
  await mkdir(dataDir, { recursive: true });
  for (const l of machineLines()) console.log(`${l}  `);

  // Fill what is missing, on a broker of its own so a profiled broker sees only reads.
  const topicOf = (size: number, records: number): string => `probe-${size}-${records}-p${partitions}`;
  const missing = sizes
    .map((s, i) => [s, counts[i]!] as const)
    .filter(([s, n]) => !existsSync(path.join(dataDir, `${topicOf(s, n)}.filled`)));
  if (missing.length > 0) {
    const b = await BrokerProcess.start({ dataDir, set: BROKER_SETS, logLevel: "info" });
    const conn = await WireConnection.connect("127.0.0.1", b.port, "probe-setup");
    for (const [size, records] of missing) {
      const topic = topicOf(size, records);
      console.error(`filling ${topic}`);
      await createTopic(conn, topic, partitions);
      const task = {
        client: "samsa",
        op: "produce",
        bootstrap: `127.0.0.1:${b.port}`,
        topic,
        partitions,
        records,
        valueBytes: size,
        batch: 1000,
        outstanding: 64,
        samsaBatchBytes: FILL_BATCH_BYTES,
      };
      const child = fork(THROUGHPUT, ["--child", JSON.stringify(task)], {
        execArgv: ["--conditions=samsa-source", "--import", "tsx"],
      });
      await runChild(child, b.pid!);
      await writeFile(path.join(dataDir, `${topicOf(size, records)}.filled`), "");
    }
    conn.close();
    await b.stop();
  }

  const broker = await startBroker({ sets: BROKER_SETS, profileDir: values["broker-profile"], dataDir });
  const bootstrap = `127.0.0.1:${broker.port}`;
  console.log(
    `\n| Size | Reader | records/s (median) | min–max | MB/s | reader CPU | broker CPU | µs CPU/record reader | broker |`,
  );
  console.log("|--:|---|--:|--:|--:|--:|--:|--:|--:|");
  try {
    for (const [i, size] of sizes.entries()) {
      const records = counts[i]!;
      const topic = topicOf(size, records);
      for (const reader of clients) {
        const rows: { rate: number; cpu: number; bcpu: number }[] = [];
        for (let r = 0; r < Number(values.repeat); r++) {
          const execArgv = [
            ...values["child-node-args"].split(" ").filter((a) => a !== ""),
            "--conditions=samsa-source",
            "--import",
            "tsx",
          ];
          if (values["client-profile"] !== undefined)
            execArgv.unshift("--cpu-prof", `--cpu-prof-dir=${values["client-profile"]}`);
          const child = RAW_READERS.includes(reader)
            ? fork(
                fileURLToPath(import.meta.url),
                ["--raw", JSON.stringify({ reader, bootstrap, topic, partitions, records })],
                { execArgv },
              )
            : fork(
                THROUGHPUT,
                [
                  "--child",
                  JSON.stringify({
                    client: reader,
                    op: "consume",
                    bootstrap,
                    topic,
                    partitions,
                    records,
                    valueBytes: size,
                    batch: 1000,
                    outstanding: 64,
                    samsaBatchBytes: 1_048_576,
                  }),
                ],
                { execArgv },
              );
          const { result, brokerCpuMs } = await runChild(child, broker.pid!);
          if (result.records < records) throw new Error(`${reader}: ${result.records} records, expected ${records}`);
          const rate = (result.records * 1000) / result.elapsedMs;
          rows.push({
            rate,
            cpu: result.cpuMs / result.elapsedMs,
            bcpu: (brokerCpuMs ?? Number.NaN) / result.elapsedMs,
          });
          console.error(
            `  ${size} B ${reader}: ${int(rate)} records/s, reader CPU ${Math.round((result.cpuMs / result.elapsedMs) * 100)}%, broker CPU ${Math.round(((brokerCpuMs ?? Number.NaN) / result.elapsedMs) * 100)}%`,
          );
        }
        const rate = median(rows.map((x) => x.rate));
        const cpu = median(rows.map((x) => x.cpu));
        const bcpu = median(rows.map((x) => x.bcpu));
        console.log(
          `| ${size} B | ${reader} | ${int(rate)} | ${int(Math.min(...rows.map((x) => x.rate)))}–${int(Math.max(...rows.map((x) => x.rate)))} | ` +
            `${((rate * size) / 1e6).toFixed(1)} | ${Math.round(cpu * 100)}% | ${Math.round(bcpu * 100)}% | ${((cpu / rate) * 1e6).toFixed(2)} | ${((bcpu / rate) * 1e6).toFixed(2)} |`,
        );
      }
    }
  } finally {
    await broker.dispose();
  }
  console.log(`\nLoad average (1/5/15 min) at the end: ${loadAverage()}`);
}

const rawAt = process.argv.indexOf("--raw");
if (rawAt >= 0) {
  rawChild(JSON.parse(process.argv[rawAt + 1]!) as RawTask).then(
    (result) => process.send!({ type: "result", result }, () => process.exit(0)),
    (e: unknown) =>
      process.send!({ type: "error", error: e instanceof Error ? (e.stack ?? e.message) : String(e) }, () =>
        process.exit(1),
      ),
  );
} else {
  parent().catch((e: unknown) => {
    console.error(e instanceof Error ? e.stack : e);
    process.exitCode = 1;
  });
}
