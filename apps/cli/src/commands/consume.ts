/**
 * `samsa consume`: print a topic's records (Kafka's kafka-console-consumer.sh).
 *
 * Without --group the consumer assigns itself the topic's partitions and starts at the end (or
 * where --from-beginning, --offset or --from-time say). With --group it joins the group through
 * Kafka's standard consumer protocol, so other tools can describe it, and starts at the group's
 * committed offsets; --from-beginning applies only to partitions without one. It stops on
 * SIGINT/SIGTERM, --max-messages or --exit-on-idle, commits what it printed, leaves the group
 * and exits 0.
 */
import {
  Admin,
  Consumer,
  type ConsumerBatch,
  type ConsumerRecord,
  ErrorCode,
  type TopicPartition,
} from "@samsa/client";
import { type Command, InvalidArgumentError, Option } from "commander";
import { UserError } from "../errors.js";
import { clientOptions, parseNonNegativeInt, parsePositiveInt, parseTimestamp, withBrokers } from "../options.js";
import { isStdoutClosed, writeOut } from "../output.js";

interface ConsumeOptions {
  brokers: string[];
  topic: string;
  group?: string;
  partition?: number;
  fromBeginning?: boolean;
  offset?: bigint | "earliest" | "latest";
  fromTime?: number;
  maxMessages?: number;
  exitOnIdle?: number;
  format: "text" | "json";
  binary?: boolean;
  printKey?: boolean;
}

function parseStartOffset(text: string): bigint | "earliest" | "latest" {
  if (text === "earliest" || text === "latest") return text;
  if (!/^\d+$/.test(text)) throw new InvalidArgumentError(`"${text}" is not an offset, earliest or latest.`);
  return BigInt(text);
}

/** Headers as an object name → value, or as [{key, value}] when a name repeats (an object would lose one). */
function headersJson(
  headers: ConsumerRecord["headers"],
  decode: (b: Buffer | null) => string | null,
): Record<string, string | null> | { key: string; value: string | null }[] {
  const names = new Set(headers.map((h) => h.key));
  if (names.size < headers.length) return headers.map((h) => ({ key: h.key, value: decode(h.value) }));
  return Object.fromEntries(headers.map((h) => [h.key, decode(h.value)]));
}

/** Renders one record as a line of the chosen format. */
function formatter(opts: ConsumeOptions): (r: ConsumerRecord) => string {
  const decode = (b: Buffer | null): string | null =>
    b === null ? null : opts.binary ? b.toString("base64") : b.toString("utf8");
  if (opts.format === "json") {
    return (r) =>
      `${JSON.stringify({
        topic: r.topic,
        partition: r.partition,
        // Offsets stay below 2^53 in practice; a number keeps `jq '.offset + 1'` working.
        offset: r.offset <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(r.offset) : r.offset.toString(),
        timestamp: r.timestampMs,
        key: decode(r.key),
        value: decode(r.value),
        headers: headersJson(r.headers, decode),
      })}\n`;
  }
  // Text: the value alone (Kafka's console consumer prints "null" for a null value).
  return (r) => `${opts.printKey ? `${decode(r.key) ?? "null"}\t` : ""}${decode(r.value) ?? "null"}\n`;
}

/** The topic's partitions (or the one asked for), checking that they exist. */
async function partitionsOf(brokers: string[], topic: string, partition: number | undefined): Promise<number[]> {
  const admin = new Admin(clientOptions(brokers));
  try {
    await admin.connect();
    const topics = await admin.listTopics({ includeInternal: true });
    if (!topics.includes(topic)) throw new UserError(`Topic '${topic}' does not exist.`);
    const [info] = await admin.describeTopics([topic]);
    if (info === undefined || info.errorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION) {
      throw new UserError(`Topic '${topic}' does not exist.`);
    }
    const all = info.partitions.map((p) => p.partition).sort((a, b) => a - b);
    if (partition === undefined) return all;
    if (!all.includes(partition)) {
      throw new UserError(`Topic '${topic}' has no partition ${partition} (it has ${all.length}).`);
    }
    return [partition];
  } finally {
    await admin.close().catch(() => {});
  }
}

export function consumeCommand(program: Command): void {
  withBrokers(
    program
      .command("consume")
      .description("Print a topic's records; with --group, as a member of a consumer group.")
      .requiredOption("--topic <name>", "the topic")
      .addOption(
        new Option("--group <id>", "consume as a member of this group, from its committed offsets").conflicts([
          "partition",
          "offset",
          "fromTime",
        ]),
      )
      .option("--partition <n>", "only this partition (without --group)", parseNonNegativeInt)
      .addOption(
        new Option(
          "--from-beginning",
          "start at the earliest offset (with --group: only where the group has no committed offset)",
        ).conflicts(["offset", "fromTime"]),
      )
      .addOption(
        new Option("--offset <offset>", "start at this offset in every partition read, or earliest/latest")
          .argParser(parseStartOffset)
          .conflicts(["fromTime"]),
      )
      .addOption(
        new Option("--from-time <time>", "start at the first record at or after this time (ms or ISO 8601)").argParser(
          parseTimestamp,
        ),
      )
      .option("--max-messages <n>", "exit after printing this many records", parsePositiveInt)
      .option("--exit-on-idle <ms>", "exit after this long without a record", parsePositiveInt)
      .addOption(
        new Option("--format <format>", "text (the value) or json (one object a line)")
          .choices(["text", "json"])
          .default("text"),
      )
      .option("--binary", "print keys, values and header values as base64, not UTF-8")
      .option("--print-key", "text format: print the key and a tab before the value"),
  ).action(async (opts: ConsumeOptions) => {
    const partitions = await partitionsOf(opts.brokers, opts.topic, opts.partition);
    const consumer = new Consumer({
      ...clientOptions(opts.brokers),
      groupId: opts.group,
      // What was printed is committed explicitly, on revocation and at exit.
      autoCommit: false,
      autoOffsetReset: opts.fromBeginning ? "earliest" : "latest",
    });
    const format = formatter(opts);
    /** Next offset to commit per partition: one past the last record printed. */
    const printed = new Map<string, { topic: string; partition: number; offset: bigint }>();
    const keyOf = (tp: TopicPartition) => `${tp.topic}:${tp.partition}`;
    let count = 0;
    let stopping = false;
    let stop: (why: string) => void = () => {};
    const stopped = new Promise<string>((resolve) => {
      stop = (why) => {
        stopping = true;
        resolve(why);
      };
    });
    let idleTimer: NodeJS.Timeout | undefined;
    const resetIdle = () => {
      if (opts.exitOnIdle === undefined || stopping) return;
      clearTimeout(idleTimer);
      idleTimer = setTimeout(() => stop("idle"), opts.exitOnIdle);
    };
    const commitPrinted = async (only?: TopicPartition[]) => {
      if (opts.group === undefined) return;
      const keys = only === undefined ? [...printed.keys()] : only.map(keyOf).filter((k) => printed.has(k));
      const offsets = keys.map((k) => printed.get(k)!);
      if (offsets.length === 0) return;
      await consumer.commit(offsets);
      for (const k of keys) printed.delete(k);
    };
    const onSignal = () => stop("signal");
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    try {
      await consumer.connect();
      if (opts.group !== undefined) {
        consumer.subscribe([opts.topic], {
          onPartitionsRevoked: (tps) => commitPrinted(tps),
          // Idleness counts from the end of each rebalance: joining the group (which waits
          // group.initial.rebalance.delay.ms, 3 s by default) is not time without records.
          onPartitionsAssigned: () => resetIdle(),
          onPartitionsLost: (tps) => {
            for (const tp of tps) printed.delete(keyOf(tp));
          },
        });
      } else {
        const tps = partitions.map((partition) => ({ topic: opts.topic, partition }));
        consumer.assign(tps);
        if (opts.fromBeginning || opts.offset === "earliest") consumer.seekToBeginning(tps);
        else if (typeof opts.offset === "bigint") for (const tp of tps) consumer.seek(tp, opts.offset);
        else if (opts.fromTime !== undefined) for (const tp of tps) await consumer.seekToTimestamp(tp, opts.fromTime);
        else consumer.seekToEnd(tps);
        resetIdle();
      }
      const eachBatch = async (batch: ConsumerBatch) => {
        if (stopping || batch.records.length === 0) return;
        let out = "";
        let last: ConsumerRecord | undefined;
        for (const record of batch.records) {
          if (opts.maxMessages !== undefined && count >= opts.maxMessages) break;
          out += format(record);
          last = record;
          count++;
        }
        if (last !== undefined) {
          printed.set(keyOf(last), { topic: last.topic, partition: last.partition, offset: last.offset + 1n });
          await writeOut(out);
          resetIdle();
        }
        if (isStdoutClosed()) stop("stdout closed");
        if (opts.maxMessages !== undefined && count >= opts.maxMessages) stop("max-messages");
      };
      const running = consumer.run({ eachBatch });
      await Promise.race([running, stopped]);
      stopping = true;
      clearTimeout(idleTimer);
      await commitPrinted();
      await consumer.close();
      await running;
    } finally {
      clearTimeout(idleTimer);
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      await consumer.close().catch(() => {});
    }
  });
}
