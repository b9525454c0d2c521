/**
 * Client throughput: Samsa's `Producer`/`Consumer` against KafkaJS 2.2.4 and @platformatic/kafka
 * 1.35, produce and consume, against one Samsa broker in one run. Each client runs in a child
 * process of its own (its own heap and GC), in an order that rotates every round, so drift on a
 * shared machine lands on all three. Figures only; nothing is asserted, but a run that did not
 * deliver or read exactly N records stops the benchmark (exit code 1).
 *
 *   node --conditions=samsa-source --import tsx bench/client/throughput.ts
 *   node --conditions=samsa-source --import tsx bench/client/throughput.ts --sizes 100 --rounds 1 --clients samsa
 *
 * Options: --sizes 100,1024 (record value bytes)  --records 1000000,200000 (N per size, same order)
 * --rounds 3  --clients samsa,kafkajs,platformatic  --ops produce,consume  --partitions 4
 * --batch 1000 (records per send call)  --outstanding 64 (send calls not yet acknowledged)
 * --samsa-batch-bytes 1048576 (Samsa's batch.size; see README)  --broker host:port (a running
 * broker; no broker CPU then)  --profile-dir DIR (children of --profile-clients write a
 * .cpuprofile there)  --profile-clients samsa  --child-node-args=--trace-gc (flags for every child).  See bench/client/README.md.
 *
 * The child mode (`--child '<json>'`) is internal: one client, one operation, one topic.
 */
import { execFileSync, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Consumer as PltConsumer, Producer as PltProducer } from "@platformatic/kafka";
import { Admin, Consumer as SamsaConsumer, Producer as SamsaProducer } from "@samsa/client";
import { CompressionTypes, Kafka, logLevel } from "kafkajs";
import {
  createTopic,
  int,
  machineLines,
  median,
  processCpuMs,
  startBroker,
  WireConnection,
} from "../groups/support.js";

type ClientName = "samsa" | "kafkajs" | "platformatic";
type Op = "produce" | "consume";
const ALL_CLIENTS: readonly ClientName[] = ["samsa", "kafkajs", "platformatic"];

/** acks=all on every client, idempotence off on every client (see README: platformatic caps an idempotent producer at 1 in flight). */
const ACKS_ALL = -1;
/** The same fetch limits for every consumer: Kafka's fetch.max.bytes and max.partition.fetch.bytes defaults. */
const FETCH_MAX_BYTES = 52_428_800;
const FETCH_PARTITION_MAX_BYTES = 1_048_576;
const FETCH_MAX_WAIT_MS = 500;
/** Kafka's batch.size default: the batches the consume topic is written in, as a Java producer would. */
const FILL_BATCH_BYTES = 16_384;
/** A child that neither finishes nor fails in this long is killed and the run fails. */
const CHILD_TIMEOUT_MS = 300_000;

interface ChildTask {
  client: ClientName;
  op: Op;
  bootstrap: string;
  topic: string;
  partitions: number;
  records: number;
  valueBytes: number;
  batch: number;
  outstanding: number;
  samsaBatchBytes: number;
}

interface ChildResult {
  records: number;
  elapsedMs: number;
  cpuMs: number;
}

/** Text-like bytes, so a record is not all zeros (no compression is used, so it matters little). */
function recordValue(bytes: number): Buffer {
  return Buffer.from("the quick brown fox jumps over the lazy dog 0123456789 ".repeat(Math.ceil(bytes / 55))).subarray(
    0,
    bytes,
  );
}

// ---------------------------------------------------------------------------------------------
// Child: one client, one operation.
// ---------------------------------------------------------------------------------------------

/** Tells the parent the timed section starts (it samples the broker's CPU then). */
function markStart(): void {
  process.send!({ type: "start" });
}

/**
 * Sends `records` records with at most `outstanding` send calls unanswered; call i goes to
 * partition i mod partitions, `batch` records each. Resolves with the records acknowledged.
 */
async function produceLoop(
  task: ChildTask,
  send: (partition: number, count: number) => Promise<number>,
): Promise<number> {
  const total = task.records - 1; // the first, untimed record is already in
  let started = 0;
  let acknowledged = 0;
  let call = 0;
  let failure: unknown = null;
  await new Promise<void>((resolve) => {
    let running = 0;
    const next = (): void => {
      while (failure === null && running < task.outstanding && started < total) {
        const count = Math.min(task.batch, total - started);
        started += count;
        running++;
        send(call++ % task.partitions, count).then(
          (n) => {
            acknowledged += n;
            running--;
            next();
          },
          (e: unknown) => {
            failure ??= e;
            running--;
            next();
          },
        );
      }
      if (running === 0) resolve();
    };
    next();
  });
  if (failure !== null) throw failure;
  return acknowledged;
}

async function runChild(task: ChildTask): Promise<ChildResult> {
  const value = recordValue(task.valueBytes);
  const brokers = [task.bootstrap];
  let t0 = 0;
  let cpu0 = 0;
  const begin = (): void => {
    markStart();
    cpu0 = cpuMs();
    t0 = performance.now();
  };
  const result = (records: number): ChildResult => ({
    records,
    elapsedMs: performance.now() - t0,
    cpuMs: cpuMs() - cpu0,
  });

  if (task.op === "produce") {
    if (task.client === "samsa") {
      const producer = new SamsaProducer({
        brokers,
        acks: ACKS_ALL,
        idempotent: false,
        compression: "none",
        batchBytes: task.samsaBatchBytes,
      });
      await producer.connect();
      // Metadata for the topic before the clock starts, as the other two do in connect/first send.
      await producer.sendBatch(task.topic, [{ value, partition: 0 }]);
      const batches = perPartition(task, (p) => ({ value, partition: p }));
      begin();
      const n = await produceLoop(task, async (p, count) => {
        const recs = count === task.batch ? batches[p]! : batches[p]!.slice(0, count);
        return (await producer.sendBatch(task.topic, recs)).length;
      });
      const r = result(n);
      await producer.close();
      return r;
    }
    if (task.client === "kafkajs") {
      const kafka = new Kafka({ clientId: "bench-kafkajs", brokers, logLevel: logLevel.NOTHING });
      const producer = kafka.producer({ idempotent: false, allowAutoTopicCreation: false });
      await producer.connect();
      await producer.send({ topic: task.topic, acks: ACKS_ALL, messages: [{ value, partition: 0 }] });
      const batches = perPartition(task, (p) => ({ value, partition: p }));
      begin();
      const n = await produceLoop(task, async (p, count) => {
        const messages = count === task.batch ? batches[p]! : batches[p]!.slice(0, count);
        await producer.send({ topic: task.topic, acks: ACKS_ALL, compression: CompressionTypes.None, messages });
        return messages.length;
      });
      const r = result(n);
      await producer.disconnect();
      return r;
    }
    const producer = new PltProducer({
      clientId: "bench-platformatic",
      bootstrapBrokers: brokers,
      acks: ACKS_ALL,
      idempotent: false,
      autocreateTopics: false,
    });
    await producer.send({ messages: [{ topic: task.topic, value, partition: 0 }] });
    const batches = perPartition(task, (p) => ({ topic: task.topic, value, partition: p }));
    begin();
    const n = await produceLoop(task, async (p, count) => {
      const messages = count === task.batch ? batches[p]! : batches[p]!.slice(0, count);
      await producer.send({ messages });
      return messages.length;
    });
    const r = result(n);
    await producer.close();
    return r;
  }

  // consume: the clock starts at the first record, so group joins and offset lookups are not counted.
  const seen = new Map<number, { count: number; lastOffset: bigint }>();
  let total = 0;
  // Every loop below reads each record's value (its length, summed), so that no client gains by
  // decoding lazily what the others decode eagerly; check() compares the sum with the size read.
  let valueBytesRead = 0;
  const count = (partition: number, n: number, lastOffset: bigint): void => {
    if (total === 0) begin();
    total += n;
    const s = seen.get(partition);
    if (s === undefined) seen.set(partition, { count: n, lastOffset });
    else {
      s.count += n;
      s.lastOffset = lastOffset;
    }
  };
  const check = (): void => {
    if (valueBytesRead !== total * task.valueBytes) {
      throw new Error(`${valueBytesRead} value bytes read, expected ${total} × ${task.valueBytes}`);
    }
    // Offsets start at 0 and every record was read once: per partition, count = last offset + 1.
    for (const [p, s] of seen) {
      if (BigInt(s.count) !== s.lastOffset + 1n) {
        throw new Error(`partition ${p}: ${s.count} records read, last offset ${s.lastOffset}`);
      }
    }
  };
  if (task.client === "samsa") {
    const consumer = new SamsaConsumer({
      brokers,
      autoOffsetReset: "earliest",
      maxBytes: FETCH_MAX_BYTES,
      maxPartitionBytes: FETCH_PARTITION_MAX_BYTES,
      maxWaitMs: FETCH_MAX_WAIT_MS,
    });
    await consumer.connect();
    consumer.assign(Array.from({ length: task.partitions }, (_, p) => ({ topic: task.topic, partition: p })));
    for await (const batch of consumer) {
      const records = batch.records;
      for (let i = 0; i < records.length; i++) valueBytesRead += records[i]!.value?.length ?? 0;
      const last = records[records.length - 1];
      if (last !== undefined) count(batch.partition, records.length, last.offset);
      if (total >= task.records) break;
    }
    const r = result(total);
    await consumer.close();
    check();
    return r;
  }
  const groupId = `bench-${task.client}-${process.pid}-${Date.now()}`;
  if (task.client === "kafkajs") {
    const kafka = new Kafka({ clientId: "bench-kafkajs", brokers, logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({
      groupId,
      maxBytes: FETCH_MAX_BYTES,
      maxBytesPerPartition: FETCH_PARTITION_MAX_BYTES,
      maxWaitTimeInMs: FETCH_MAX_WAIT_MS,
    });
    await consumer.connect();
    await consumer.subscribe({ topic: task.topic, fromBeginning: true });
    let r: ChildResult | null = null;
    const done = new Promise<void>((resolve) => {
      void consumer.run({
        autoCommit: false,
        partitionsConsumedConcurrently: task.partitions,
        eachBatch: async ({ batch }) => {
          const messages = batch.messages;
          const n = messages.length;
          for (let i = 0; i < n; i++) valueBytesRead += messages[i]!.value?.length ?? 0;
          if (n > 0) count(batch.partition, n, BigInt(batch.messages[n - 1]!.offset));
          if (total >= task.records && r === null) {
            r = result(total);
            resolve();
          }
        },
      });
    });
    await done;
    await consumer.disconnect();
    check();
    return r!;
  }
  const consumer = new PltConsumer({
    clientId: "bench-platformatic",
    bootstrapBrokers: brokers,
    groupId,
    maxBytes: FETCH_MAX_BYTES,
    maxWaitTime: FETCH_MAX_WAIT_MS,
  });
  const stream = await consumer.consume({
    topics: [task.topic],
    mode: "earliest",
    autocommit: false,
    maxBytesPerPartition: FETCH_PARTITION_MAX_BYTES,
  });
  let r: ChildResult | null = null;
  await new Promise<void>((resolve, reject) => {
    stream.on("error", reject);
    stream.on("data", (m: { partition: number; offset: bigint; value: Buffer | null | undefined }) => {
      valueBytesRead += m.value?.length ?? 0;
      count(m.partition, 1, m.offset);
      if (total >= task.records && r === null) {
        r = result(total);
        resolve();
      }
    });
  });
  await stream.close();
  await consumer.close(true);
  check();
  return r!;
}

function perPartition<T>(task: ChildTask, make: (partition: number) => T): T[][] {
  return Array.from({ length: task.partitions }, (_, p) => Array.from({ length: task.batch }, () => make(p)));
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

// ---------------------------------------------------------------------------------------------
// Parent: broker, topics, rounds, report.
// ---------------------------------------------------------------------------------------------

interface Measurement {
  client: ClientName;
  op: Op;
  valueBytes: number;
  round: number;
  records: number;
  elapsedMs: number;
  clientCpuMs: number;
  brokerCpuMs: number | null;
}

/** `--child-node-args`: extra node flags for every child (e.g. `--trace-gc`, which NODE_OPTIONS refuses). */
let childNodeArgs: string[] = [];

/** Runs one child; samples the broker's CPU between the child's "start" and its result. */
function spawnChild(
  task: ChildTask,
  brokerPid: number | null,
  profileDir: string | undefined,
): Promise<{ result: ChildResult; brokerCpuMs: number | null }> {
  const execArgv = [...childNodeArgs, "--conditions=samsa-source", "--import", "tsx"];
  if (profileDir !== undefined) execArgv.unshift("--cpu-prof", `--cpu-prof-dir=${profileDir}`);
  const child = fork(fileURLToPath(import.meta.url), ["--child", JSON.stringify(task)], { execArgv });
  return new Promise((resolve, reject) => {
    let brokerStart: number | null = null;
    let result: ChildResult | null = null;
    let brokerCpuMs: number | null = null;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${task.client} ${task.op} did not finish within ${CHILD_TIMEOUT_MS} ms`));
    }, CHILD_TIMEOUT_MS);
    child.on("message", (m: { type: string; result?: ChildResult; error?: string }) => {
      if (m.type === "start") brokerStart = processCpuMs(brokerPid);
      else if (m.type === "result") {
        const end = processCpuMs(brokerPid);
        brokerCpuMs = brokerStart !== null && end !== null ? end - brokerStart : null;
        result = m.result!;
      } else if (m.type === "error") {
        reject(new Error(`${task.client} ${task.op}: ${m.error}`));
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      if (result !== null && code === 0) resolve({ result, brokerCpuMs });
      else reject(new Error(`${task.client} ${task.op} child exited with code ${code}`));
    });
  });
}

async function parent(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: "string", default: "100,1024" },
      records: { type: "string", default: "1000000,200000" },
      rounds: { type: "string", default: "3" },
      clients: { type: "string", default: ALL_CLIENTS.join(",") },
      ops: { type: "string", default: "produce,consume" },
      partitions: { type: "string", default: "4" },
      batch: { type: "string", default: "1000" },
      outstanding: { type: "string", default: "64" },
      "samsa-batch-bytes": { type: "string", default: "1048576" },
      broker: { type: "string" },
      "profile-dir": { type: "string" },
      "profile-clients": { type: "string", default: "samsa" },
      "child-node-args": { type: "string", default: "" },
    },
  });
  const sizes = values.sizes.split(",").map(Number);
  const counts = values.records.split(",").map(Number);
  if (counts.length !== sizes.length) throw new Error("--records needs one count per --sizes entry");
  const clients = values.clients.split(",") as ClientName[];
  for (const c of clients) if (!ALL_CLIENTS.includes(c)) throw new Error(`unknown client ${c}`);
  const ops = values.ops.split(",") as Op[];
  const rounds = Number(values.rounds);
  const partitions = Number(values.partitions);
  const profiled = new Set(values["profile-clients"].split(","));
  childNodeArgs = values["child-node-args"].split(" ").filter((a) => a !== "");

  const header = [...machineLines(), `uptime: ${execFileSync("uptime").toString().trim()}`];
  for (const l of header) console.error(l);
  const broker = await startBroker({ external: values.broker, sets: ["group.initial.rebalance.delay.ms=0"] });
  const bootstrap = `${broker.host}:${broker.port}`;
  const conn = await WireConnection.connect(broker.host, broker.port, "bench-client-setup");
  const admin = new Admin({ brokers: [bootstrap] });
  await admin.connect();
  const measurements: Measurement[] = [];
  const base = {
    bootstrap,
    partitions,
    batch: Number(values.batch),
    outstanding: Number(values.outstanding),
    samsaBatchBytes: Number(values["samsa-batch-bytes"]),
  };
  const endOffsetsSum = async (topic: string): Promise<number> =>
    (await admin.listOffsets(topic, "latest")).reduce((s, o) => s + Number(o.offset), 0);
  const run = async (task: ChildTask, round: number): Promise<void> => {
    const profileDir =
      values["profile-dir"] !== undefined && profiled.has(task.client) ? values["profile-dir"] : undefined;
    const { result, brokerCpuMs } = await spawnChild(task, broker.pid, profileDir);
    // A produce child reports the timed records, one fewer than the task (the first is untimed).
    const expected = task.op === "produce" ? task.records - 1 : task.records;
    if (result.records !== expected) {
      throw new Error(
        `${task.client} ${task.op} ${task.valueBytes} B: ${result.records} records, expected ${expected}`,
      );
    }
    const m: Measurement = {
      client: task.client,
      op: task.op,
      valueBytes: task.valueBytes,
      round,
      records: result.records,
      elapsedMs: result.elapsedMs,
      clientCpuMs: result.cpuMs,
      brokerCpuMs,
    };
    measurements.push(m);
    console.error(
      `  round ${round + 1} ${task.op} ${task.valueBytes} B ${task.client}: ${int((m.records * 1000) / m.elapsedMs)} records/s, ` +
        `client CPU ${pct(m.clientCpuMs, m.elapsedMs)}, broker CPU ${m.brokerCpuMs === null ? "—" : pct(m.brokerCpuMs, m.elapsedMs)}`,
    );
  };
  const order = (round: number): ClientName[] => clients.map((_, i) => clients[(i + round) % clients.length]!);

  try {
    for (let s = 0; s < sizes.length; s++) {
      const valueBytes = sizes[s]!;
      const records = counts[s]!;
      if (ops.includes("produce")) {
        for (let round = 0; round < rounds; round++) {
          for (const client of order(round)) {
            const topic = `bench-produce-${valueBytes}-${client}-${round}`;
            await createTopic(conn, topic, partitions);
            // The child sends one untimed record first (metadata), then N timed ones.
            await run({ ...base, client, op: "produce", topic, records: records + 1, valueBytes }, round);
            const written = await endOffsetsSum(topic);
            if (written !== records + 1)
              throw new Error(`${topic}: ${written} records in the log, expected ${records + 1}`);
            await admin.deleteTopics([topic]);
          }
        }
      }
      if (ops.includes("consume")) {
        const topic = `bench-consume-${valueBytes}`;
        await createTopic(conn, topic, partitions);
        console.error(
          `  filling ${topic} with ${int(records)} records (Samsa producer, batch.size ${FILL_BATCH_BYTES})`,
        );
        const fill: ChildTask = {
          ...base,
          client: "samsa",
          op: "produce",
          topic,
          records,
          valueBytes,
          samsaBatchBytes: FILL_BATCH_BYTES,
        };
        await spawnChild(fill, null, undefined);
        if ((await endOffsetsSum(topic)) !== records) throw new Error(`${topic} does not hold ${records} records`);
        for (let round = 0; round < rounds; round++) {
          for (const client of order(round)) {
            await run({ ...base, client, op: "consume", topic, records, valueBytes }, round);
          }
        }
        await admin.deleteTopics([topic]);
      }
    }
  } finally {
    await admin.close().catch(() => {});
    conn.close();
    await broker.dispose();
  }
  report(header, measurements, clients, sizes, ops, values, rounds);
}

function pct(part: number, whole: number): string {
  return `${Math.round((part / whole) * 100)}%`;
}

function report(
  header: string[],
  ms: Measurement[],
  clients: ClientName[],
  sizes: number[],
  ops: Op[],
  values: Record<string, string | undefined>,
  rounds: number,
): void {
  const out: string[] = [];
  out.push(...header.map((l) => `${l}  `));
  out.push(`uptime at end: ${execFileSync("uptime").toString().trim()}  `);
  out.push(
    `Settings: ${values.partitions} partitions, acks=all, idempotence off, compression none; produce: ${values.batch} records per send call, ` +
      `≤ ${values.outstanding} calls outstanding, Samsa batchBytes ${values["samsa-batch-bytes"]}; ${rounds} rounds, order rotated each round.`,
  );
  out.push("");
  out.push(
    "| Op | Size | Client | records/s (median) | min–max | MB/s | ×KafkaJS | ×platformatic | client CPU | broker CPU |",
  );
  out.push("|---|--:|---|--:|--:|--:|--:|--:|--:|--:|");
  for (const op of ops) {
    for (const size of sizes) {
      const rate = (c: ClientName): number[] =>
        ms
          .filter((m) => m.op === op && m.valueBytes === size && m.client === c)
          .map((m) => (m.records * 1000) / m.elapsedMs);
      const kjs = median(rate("kafkajs"));
      const plt = median(rate("platformatic"));
      for (const c of clients) {
        const mine = ms.filter((m) => m.op === op && m.valueBytes === size && m.client === c);
        const rates = rate(c);
        if (rates.length === 0) continue;
        const med = median(rates);
        const cpu = median(mine.map((m) => (m.clientCpuMs / m.elapsedMs) * 100));
        const bcpuList = mine.filter((m) => m.brokerCpuMs !== null).map((m) => (m.brokerCpuMs! / m.elapsedMs) * 100);
        const bcpu = bcpuList.length === 0 ? "—" : `${Math.round(median(bcpuList))}%`;
        out.push(
          `| ${op} | ${size} B | ${c} | ${int(med)} | ${int(Math.min(...rates))}–${int(Math.max(...rates))} | ${((med * size) / 1e6).toFixed(1)} | ` +
            `${ratio(med, kjs)} | ${ratio(med, plt)} | ${Math.round(cpu)}% | ${bcpu} |`,
        );
      }
    }
  }
  out.push("");
  out.push(
    "MB/s counts record values only (MB = 10^6 bytes). CPU is user + system time over the timed section (100% = one core). Consume timing starts at the first record.",
  );
  console.log(out.join("\n"));
}

function ratio(a: number, b: number): string {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : "—";
}

// ---------------------------------------------------------------------------------------------

const childAt = process.argv.indexOf("--child");
if (childAt >= 0) {
  const task = JSON.parse(process.argv[childAt + 1]!) as ChildTask;
  runChild(task).then(
    (result) => {
      process.send!({ type: "result", result }, () => process.exit(0));
    },
    (e: unknown) => {
      process.send!({ type: "error", error: e instanceof Error ? (e.stack ?? e.message) : String(e) }, () =>
        process.exit(1),
      );
    },
  );
} else {
  parent().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exitCode = 1;
  });
}
