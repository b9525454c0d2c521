/** Broker configs: which are dynamic (Kafka's reconfigurable sets), synonyms, and Kafka's cross-config rules. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { BROKER_CONFIG_DEFS, BrokerConfig } from "./broker-config.js";
import { ConfigError, describeAllowed, formatConfigValue, parseConfigValue } from "./config-def.js";

test("exactly the configs Kafka can change at runtime are dynamic", () => {
  const dynamic = BROKER_CONFIG_DEFS.filter((d) => d.dynamic === true)
    .map((d) => d.name)
    .sort();
  assert.deepEqual(dynamic, [
    "compression.type",
    "log.cleaner.backoff.ms",
    "log.cleaner.dedupe.buffer.size",
    "log.cleaner.delete.retention.ms",
    "log.cleaner.io.buffer.load.factor",
    "log.cleaner.io.buffer.size",
    "log.cleaner.io.max.bytes.per.second",
    "log.cleaner.max.compaction.lag.ms",
    "log.cleaner.min.cleanable.ratio",
    "log.cleaner.min.compaction.lag.ms",
    "log.cleaner.threads",
    "log.cleanup.policy",
    "log.flush.interval.messages",
    "log.flush.interval.ms",
    "log.index.interval.bytes",
    "log.index.size.max.bytes",
    "log.message.timestamp.after.max.ms",
    "log.message.timestamp.before.max.ms",
    "log.message.timestamp.type",
    "log.retention.bytes",
    "log.retention.ms",
    "log.roll.jitter.ms",
    "log.roll.ms",
    "log.segment.bytes",
    "log.segment.delete.delay.ms",
    "message.max.bytes",
    "min.insync.replicas",
    "num.recovery.threads.per.data.dir",
    "unclean.leader.election.enable",
  ]);
  // The unit synonyms and the schedulers' intervals need a restart in Kafka too.
  for (const name of ["log.retention.hours", "log.retention.minutes", "log.roll.hours", "log.cleaner.enable"]) {
    assert.notEqual(BROKER_CONFIG_DEFS.find((d) => d.name === name)?.dynamic, true, name);
  }
});

test("Kafka's broker defaults for the retention and cleaner configs", () => {
  const c = BrokerConfig.from(null, []);
  assert.equal(c.get("log.retention.check.interval.ms"), 300_000);
  assert.equal(c.get("log.cleaner.enable"), true);
  assert.equal(c.get("log.cleaner.threads"), 1);
  assert.equal(c.get("log.cleaner.backoff.ms"), 15_000);
  assert.equal(c.get("log.cleaner.dedupe.buffer.size"), 134_217_728);
  assert.equal(c.get("log.cleaner.io.buffer.size"), 524_288);
  assert.equal(c.get("log.cleaner.io.max.bytes.per.second"), Number.MAX_VALUE);
  assert.equal(c.get("log.retention.ms"), null);
  assert.equal(c.get("log.retention.hours"), 168);
  assert.deepEqual(c.get("log.cleanup.policy"), ["delete"]);
});

test("synonyms: by layer, each in unit precedence, dropping the higher-precedence ones before the name (as Kafka)", () => {
  const c = BrokerConfig.from(null, ["log.retention.ms=1000", "log.retention.hours=2"]);
  c.setDynamic("dynamic-broker", new Map([["log.retention.ms", "5"]]));
  assert.deepEqual(c.synonyms("log.retention.ms"), [
    { name: "log.retention.ms", value: 5, source: "dynamic-broker" },
    { name: "log.retention.ms", value: 1000, source: "static" },
    { name: "log.retention.hours", value: 2, source: "static" },
    { name: "log.retention.hours", value: 168, source: "default" },
  ]);
  assert.deepEqual(c.synonyms("log.retention.hours"), [
    { name: "log.retention.hours", value: 2, source: "static" },
    { name: "log.retention.hours", value: 168, source: "default" },
  ]);
  assert.deepEqual(BrokerConfig.from(null, []).synonyms("log.retention.minutes"), []);
  assert.deepEqual(BrokerConfig.from(null, []).synonyms("log.cleaner.threads"), [
    { name: "log.cleaner.threads", value: 1, source: "default" },
  ]);
});

test("log.cleaner.threads may at most halve or double at runtime; the dedupe buffer needs > 1 MiB per thread", () => {
  const c = BrokerConfig.from(null, ["log.cleaner.threads=4"]);
  const check = (k: string, v: string) => () => c.checkDynamicUpdate("dynamic-broker", new Map([[k, v]]));
  check("log.cleaner.threads", "8")();
  check("log.cleaner.threads", "2")();
  assert.throws(
    check("log.cleaner.threads", "9"),
    /log.cleaner.threads must be at most double the current value 4 at runtime, got 9/,
  );
  assert.throws(check("log.cleaner.threads", "1"), /log.cleaner.threads must be at least half the current value 4/);
  assert.throws(check("log.cleaner.threads", "0"), /log.cleaner.threads must be at least 1 at runtime/);
  assert.throws(check("log.cleaner.dedupe.buffer.size", "4194304"), /more than 1 MiB per cleaner thread/);
  assert.equal(c.get("log.cleaner.threads"), 4, "a check changes nothing");
  assert.throws(
    () => BrokerConfig.from(null, ["log.cleaner.dedupe.buffer.size=1048576"]),
    (e: unknown) => e instanceof ConfigError && e.key === "log.cleaner.dedupe.buffer.size",
  );
});

test("listeners hear which dynamic configs changed", () => {
  const c = BrokerConfig.from(null, []);
  const heard: (readonly string[])[] = [];
  const off = c.onDynamicChange((names) => heard.push(names));
  c.setDynamic("dynamic-default", new Map([["log.cleaner.backoff.ms", "100"]]));
  c.setDynamic("dynamic-default", new Map([["log.cleaner.backoff.ms", "100"]]));
  c.setDynamic("dynamic-default", new Map());
  off();
  c.setDynamic("dynamic-default", new Map([["log.cleaner.threads", "2"]]));
  assert.deepEqual(heard, [["log.cleaner.backoff.ms"], ["log.cleaner.backoff.ms"]]);
});

test("values parse and print as Kafka's ConfigDef does", () => {
  const long = { name: "x.ms", type: "long", default: 0, doc: "" } as const;
  assert.equal(formatConfigValue(long, parseConfigValue(long, "9223372036854775807")), "9223372036854775807");
  assert.throws(() => parseConfigValue(long, "9223372036854775808"), /x.ms must be a long, got 9223372036854775808/);
  const ratio = { name: "r", type: "double", default: 0.5, min: 0, max: 1, doc: "" } as const;
  assert.equal(formatConfigValue(ratio, 1), "1.0");
  assert.equal(formatConfigValue(ratio, 0.5), "0.5");
  assert.equal(formatConfigValue(ratio, Number.MAX_VALUE), "1.7976931348623157E308");
  assert.equal(describeAllowed(ratio), "a double in [0.0, 1.0]");
  const flag = { name: "b", type: "boolean", default: false, doc: "" } as const;
  assert.equal(parseConfigValue(flag, "False"), false);
});
