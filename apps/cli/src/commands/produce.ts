/**
 * `samsa produce`: each stdin line becomes a record (Kafka's kafka-console-producer.sh). Exits 0
 * once every record is acknowledged; the first failed record stops reading and fails the command.
 */
import { once } from "node:events";
import { fstatSync } from "node:fs";
import { createInterface } from "node:readline";
import { Cluster, ErrorCode, Producer, type ProducerRecord } from "@samsa/client";
import { type Command, InvalidArgumentError, Option } from "commander";
import { UserError } from "../errors.js";
import { clientOptions, collectKeyValue, parseNonNegativeInt, withBrokers } from "../options.js";
import { Progress } from "../output.js";

/**
 * Records sent but not yet acknowledged, at most: bounds memory on a large input while keeping
 * enough in flight for the producer to fill its batches.
 */
const MAX_UNACKNOWLEDGED = 20_000;
/** Records handed to the producer in one sendBatch call, at most. */
const CHUNK_RECORDS = 1_000;

const COMPRESSIONS = ["none", "gzip", "snappy", "lz4", "zstd"] as const;
type Compression = (typeof COMPRESSIONS)[number];

interface ProduceOptions {
  brokers: string[];
  topic: string;
  keySeparator?: string;
  header: [string, string][];
  compression: Compression;
  acks: 0 | 1 | -1;
  partition?: number;
}

function parseAcks(text: string): 0 | 1 | -1 {
  switch (text) {
    case "0":
      return 0;
    case "1":
      return 1;
    case "-1":
    case "all":
      return -1;
    default:
      throw new InvalidArgumentError(`"${text}" is not 0, 1, -1 or all.`);
  }
}

/**
 * Makes sure the topic exists before reading input. The metadata request may create it when the
 * broker's auto.create.topics.enable allows, as Kafka's console producer does.
 */
async function requireTopicForProduce(brokers: string[], topic: string, partition: number | undefined): Promise<void> {
  const cluster = new Cluster(clientOptions(brokers));
  try {
    await cluster.connect();
    const metadata = await cluster.metadata([topic], { allowAutoTopicCreation: true, refresh: true });
    const info = metadata.topics.get(topic);
    if (info === undefined || info.errorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION) {
      throw new UserError(`Topic '${topic}' does not exist.`);
    }
    if (info.errorCode === ErrorCode.INVALID_TOPIC_EXCEPTION) {
      throw new UserError(`'${topic}' is not a valid topic name (letters, digits, '.', '_', '-').`);
    }
    if (partition !== undefined && !info.partitions.some((p) => p.partition === partition)) {
      throw new UserError(`Topic '${topic}' has no partition ${partition} (it has ${info.partitions.length}).`);
    }
  } finally {
    await cluster.close().catch(() => {});
  }
}

/** The size of stdin when it is a regular file (for a percentage), else null. */
function stdinFileBytes(): number | null {
  try {
    const stat = fstatSync(0);
    return stat.isFile() ? stat.size : null;
  } catch {
    return null;
  }
}

export function produceCommand(program: Command): void {
  withBrokers(
    program
      .command("produce")
      .description("Send each line of stdin as a record; exit once all are acknowledged.")
      .requiredOption("--topic <name>", "the topic")
      .option("--key-separator <s>", "split each line at the first <s> into key and value")
      .option("--header <key=value>", "add a header to every record (repeatable)", collectKeyValue, [])
      .addOption(new Option("--compression <codec>", "batch compression").choices(COMPRESSIONS).default("none"))
      .addOption(
        new Option("--acks <acks>", "acknowledgements to wait for: 0, 1 or all (-1)")
          .argParser(parseAcks)
          .default(-1, "all"),
      )
      .option("--partition <n>", "send every record to this partition (default: by key)", parseNonNegativeInt),
  ).action(async (opts: ProduceOptions) => {
    await requireTopicForProduce(opts.brokers, opts.topic, opts.partition);
    const producer = new Producer({
      ...clientOptions(opts.brokers),
      acks: opts.acks,
      // The idempotent producer needs acks=all; with weaker acks the user asked for less.
      idempotent: opts.acks === -1,
      compression: opts.compression,
    });
    await producer.connect();
    const headers = opts.header.map(([key, value]) => ({ key, value }));
    const toRecord = (line: string): ProducerRecord => {
      const record: ProducerRecord = { key: null, value: line };
      const separator = opts.keySeparator;
      if (separator !== undefined && separator !== "") {
        const at = line.indexOf(separator);
        // A line without the separator has no key (as kcat -K does).
        if (at >= 0) {
          record.key = line.slice(0, at);
          record.value = line.slice(at + separator.length);
        }
      }
      if (headers.length > 0) record.headers = headers;
      if (opts.partition !== undefined) record.partition = opts.partition;
      return record;
    };
    const totalBytes = stdinFileBytes();
    const progress = new Progress();
    let readBytes = 0;
    let sent = 0;
    let acknowledged = 0;
    let failure: unknown = null;
    const render = () => {
      const share = totalBytes ? ` (${Math.min(100, Math.floor((readBytes / totalBytes) * 100))}% of input)` : "";
      return `${acknowledged.toLocaleString("en-US")} of ${sent.toLocaleString("en-US")} records acknowledged${share}`;
    };
    try {
      const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
      const inFlight = new Set<Promise<void>>();
      let unacknowledged = 0;
      let paused = false;
      let chunk: ProducerRecord[] = [];
      let flushScheduled = false;
      // Lines read together (one chunk of input) go out in one sendBatch call; a line typed on a
      // terminal goes out on its own, at once.
      const flush = () => {
        flushScheduled = false;
        // While paused, lines of the input already read keep arriving; they wait here.
        if (chunk.length === 0 || failure !== null || paused) return;
        const records = chunk;
        chunk = [];
        sent += records.length;
        unacknowledged += records.length;
        const batch: Promise<void> = producer
          .sendBatch(opts.topic, records)
          .then(
            () => {
              acknowledged += records.length;
            },
            (e: unknown) => {
              failure ??= e;
              lines.close();
            },
          )
          .finally(() => {
            unacknowledged -= records.length;
            inFlight.delete(batch);
            if (paused && unacknowledged <= MAX_UNACKNOWLEDGED / 2) {
              paused = false;
              lines.resume();
              flush();
            }
            progress.update(render);
          });
        inFlight.add(batch);
        // The first batch waits for its acknowledgement before the next goes out: sendBatch
        // calls that each still have to load the topic's metadata could overtake one another.
        if (!paused && (sent === records.length || unacknowledged >= MAX_UNACKNOWLEDGED)) {
          paused = true;
          lines.pause();
        }
      };
      lines.on("line", (line) => {
        if (failure !== null) return;
        readBytes += Buffer.byteLength(line) + 1;
        chunk.push(toRecord(line));
        if (chunk.length >= CHUNK_RECORDS) flush();
        else if (!flushScheduled) {
          flushScheduled = true;
          setImmediate(flush);
        }
      });
      await once(lines, "close");
      flush();
      while (inFlight.size > 0) await Promise.all(inFlight);
      if (failure !== null) throw failure;
      await producer.flush();
      progress.done(`${acknowledged.toLocaleString("en-US")} records acknowledged.`);
    } finally {
      await producer.close().catch(() => {});
    }
  });
}
