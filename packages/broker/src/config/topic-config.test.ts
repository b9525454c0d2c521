/** Topic configs: validation of every config, their mapping into LogConfig, and the broker synonyms behind their defaults. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_LOG_CONFIG, logConfig } from "../log/config.js";
import { BrokerConfig } from "./broker-config.js";
import { ConfigError } from "./config-def.js";
import {
  effectiveTopicConfig,
  logConfigDefaultsFromBroker,
  logConfigOverrides,
  parseTopicConfig,
  requireTopicConfigDef,
  TOPIC_CONFIG_DEFS,
  topicConfigSynonyms,
} from "./topic-config.js";

function rejects(name: string, value: string, message: RegExp): void {
  assert.throws(
    () => parseTopicConfig(name, value),
    (e: unknown) => e instanceof ConfigError && e.key === name && message.test(e.message),
    `${name}=${value}`,
  );
}

test("every new topic config accepts Kafka's range and rejects outside it, naming the key and what is allowed", () => {
  assert.deepEqual(parseTopicConfig("cleanup.policy", "compact"), ["compact"]);
  assert.deepEqual(parseTopicConfig("cleanup.policy", "compact, delete"), ["compact", "delete"]);
  rejects(
    "cleanup.policy",
    "forever",
    /^cleanup.policy must be a comma-separated list of delete, compact, got forever\.$/,
  );
  rejects(
    "cleanup.policy",
    "",
    /cleanup.policy must be delete, compact or both; an empty list is not supported by Samsa/,
  );

  assert.equal(parseTopicConfig("retention.ms", "-1"), -1);
  assert.equal(parseTopicConfig("retention.ms", "86400000"), 86400000);
  rejects("retention.ms", "abc", /^retention.ms must be a long >= -1, got abc\.$/);
  rejects("retention.ms", "-2", /^retention.ms must be a long >= -1, got -2\.$/);
  rejects("retention.ms", "9223372036854775808", /retention.ms must be a long >= -1/);

  // Kafka has no lower bound on retention.bytes: any negative means no limit.
  assert.equal(parseTopicConfig("retention.bytes", "-5"), -5);
  rejects("retention.bytes", "1.5", /^retention.bytes must be a long, got 1.5\.$/);

  assert.equal(parseTopicConfig("delete.retention.ms", "0"), 0);
  rejects("delete.retention.ms", "-1", /^delete.retention.ms must be a long >= 0, got -1\.$/);

  assert.equal(parseTopicConfig("min.cleanable.dirty.ratio", "0.1"), 0.1);
  assert.equal(parseTopicConfig("min.cleanable.dirty.ratio", "1"), 1);
  rejects(
    "min.cleanable.dirty.ratio",
    "1.5",
    /^min.cleanable.dirty.ratio must be a double in \[0\.0, 1\.0\], got 1.5\.$/,
  );
  rejects("min.cleanable.dirty.ratio", "half", /min.cleanable.dirty.ratio must be a double/);

  assert.equal(parseTopicConfig("min.compaction.lag.ms", "1000"), 1000);
  rejects("min.compaction.lag.ms", "-1", /min.compaction.lag.ms must be a long >= 0/);
  assert.equal(parseTopicConfig("max.compaction.lag.ms", "60000"), 60000);
  rejects("max.compaction.lag.ms", "0", /max.compaction.lag.ms must be a long >= 1, got 0/);
  assert.equal(parseTopicConfig("file.delete.delay.ms", "0"), 0);
  rejects("file.delete.delay.ms", "-1", /file.delete.delay.ms must be a long >= 0/);
  assert.equal(parseTopicConfig("segment.jitter.ms", "1000"), 1000);
  rejects("segment.jitter.ms", "-1", /segment.jitter.ms must be a long >= 0/);

  assert.equal(parseTopicConfig("min.insync.replicas", "2"), 2);
  rejects("min.insync.replicas", "0", /min.insync.replicas must be an int >= 1, got 0/);
  assert.equal(parseTopicConfig("unclean.leader.election.enable", "TRUE"), true);
  rejects("unclean.leader.election.enable", "yes", /unclean.leader.election.enable must be true or false, got yes/);

  assert.equal(parseTopicConfig("compression.type", "producer"), "producer");
  rejects(
    "compression.type",
    "lz4",
    /^compression.type=lz4 is not supported by Samsa; compression.type must be one of producer\.$/,
  );
  rejects("compression.type", "brotli", /compression.type must be one of producer, got brotli/);
});

test("Kafka topic configs Samsa does not implement are rejected as unsupported; typos as unknown", () => {
  rejects("preallocate", "true", /^Topic config preallocate is not supported by Samsa\.$/);
  rejects("remote.storage.enable", "false", /not supported by Samsa/);
  rejects("retention.msec", "1", /^Unknown topic config "retention.msec"; topic configs are: segment.bytes, /);
});

test("topic overrides map into LogConfig fields, and the result passes LogConfig's own validation", () => {
  const overrides = logConfigOverrides(
    new Map([
      ["cleanup.policy", "compact,delete"],
      ["retention.ms", "-1"],
      ["retention.bytes", "-7"],
      ["delete.retention.ms", "1000"],
      ["min.cleanable.dirty.ratio", "0.25"],
      ["min.compaction.lag.ms", "5"],
      ["max.compaction.lag.ms", "9223372036854775807"],
      ["file.delete.delay.ms", "0"],
      ["segment.jitter.ms", "10"],
      ["min.insync.replicas", "2"],
      ["compression.type", "producer"],
    ]),
  );
  assert.deepEqual(overrides, {
    cleanupPolicy: ["compact", "delete"],
    retentionMs: -1,
    retentionBytes: -1,
    deleteRetentionMs: 1000,
    minCleanableDirtyRatio: 0.25,
    minCompactionLagMs: 5,
    maxCompactionLagMs: Number.POSITIVE_INFINITY,
    fileDeleteDelayMs: 0,
    segmentJitterMs: 10,
  });
  logConfig(overrides);
  assert.deepEqual(logConfigOverrides(new Map([["retention.ms", "junk"]])), {}, "an invalid stored value is skipped");
});

test("broker defaults map into LogConfig: Kafka's defaults equal DEFAULT_LOG_CONFIG", () => {
  const defaults = logConfigDefaultsFromBroker(BrokerConfig.from(null, []));
  assert.deepEqual(logConfig(defaults), { ...DEFAULT_LOG_CONFIG });
  for (const def of TOPIC_CONFIG_DEFS) {
    if (def.logConfig !== undefined) assert.ok(def.logConfig in defaults, `${def.name} -> ${def.logConfig}`);
  }
});

test("log.retention.ms falls back to log.retention.minutes, then log.retention.hours; negative means forever", () => {
  const retention = (sets: string[]) => logConfigDefaultsFromBroker(BrokerConfig.from(null, sets)).retentionMs;
  assert.equal(retention([]), 168 * 3_600_000);
  assert.equal(retention(["log.retention.hours=1"]), 3_600_000);
  assert.equal(retention(["log.retention.hours=1", "log.retention.minutes=5"]), 300_000);
  assert.equal(retention(["log.retention.minutes=5", "log.retention.ms=1234"]), 1234);
  assert.equal(retention(["log.retention.hours=-1"]), -1);
  assert.equal(retention(["log.retention.ms=-100"]), -1);
  const config = logConfigDefaultsFromBroker(
    BrokerConfig.from(null, [
      "log.cleanup.policy=compact",
      "log.retention.bytes=1000",
      "log.cleaner.delete.retention.ms=1",
      "log.cleaner.min.cleanable.ratio=0.75",
      "log.cleaner.min.compaction.lag.ms=2",
      "log.cleaner.max.compaction.lag.ms=3",
      "log.segment.delete.delay.ms=4",
      "log.roll.jitter.hours=1",
    ]),
  );
  assert.deepEqual(config.cleanupPolicy, ["compact"]);
  assert.equal(config.retentionBytes, 1000);
  assert.equal(config.deleteRetentionMs, 1);
  assert.equal(config.minCleanableDirtyRatio, 0.75);
  assert.equal(config.minCompactionLagMs, 2);
  assert.equal(config.maxCompactionLagMs, 3);
  assert.equal(config.fileDeleteDelayMs, 4);
  assert.equal(config.segmentJitterMs, 3_600_000);
});

test("a topic's effective value and synonyms: override, then broker layers in synonym order", () => {
  const broker = BrokerConfig.from(null, ["log.retention.hours=24"]);
  const def = requireTopicConfigDef("retention.ms");
  assert.deepEqual(effectiveTopicConfig(def, new Map(), broker), { value: "86400000", source: "static" });
  assert.deepEqual(topicConfigSynonyms(def, new Map(), broker), [
    { name: "log.retention.hours", value: "24", source: "static" },
    { name: "log.retention.hours", value: "168", source: "default" },
  ]);
  broker.setDynamic("dynamic-default", new Map([["log.retention.ms", "1000"]]));
  const overrides = new Map([["retention.ms", " 5000"]]);
  assert.deepEqual(effectiveTopicConfig(def, overrides, broker), { value: "5000", source: "topic" });
  assert.deepEqual(
    topicConfigSynonyms(def, overrides, broker).map((s) => [s.name, s.value, s.source]),
    [
      ["retention.ms", "5000", "topic"],
      ["log.retention.ms", "1000", "dynamic-default"],
      ["log.retention.hours", "24", "static"],
      ["log.retention.hours", "168", "default"],
    ],
  );
  const ratio = requireTopicConfigDef("min.cleanable.dirty.ratio");
  assert.equal(effectiveTopicConfig(ratio, new Map([["min.cleanable.dirty.ratio", "1"]]), broker).value, "1.0");
  const lag = requireTopicConfigDef("max.compaction.lag.ms");
  assert.equal(effectiveTopicConfig(lag, new Map(), broker).value, "9223372036854775807");
  const policy = requireTopicConfigDef("cleanup.policy");
  assert.equal(
    effectiveTopicConfig(policy, new Map([["cleanup.policy", "compact, delete"]]), broker).value,
    "compact,delete",
  );
});
