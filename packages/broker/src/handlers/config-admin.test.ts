/** AlterConfigs, IncrementalAlterConfigs, DescribeConfigs and DescribeLogDirs against an in-process broker. */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import { ErrorCode, encodeRecordBatch } from "@samsa/protocol";
import { CONFIG_SOURCE } from "../config/config-source.js";
import { DYNAMIC_BROKER_CONFIG_FILE } from "../config/dynamic-broker-config-store.js";
import { createTopicsHandler } from "./19-create-topics.js";
import { describeConfigsHandler } from "./32-describe-configs.js";
import { alterConfigsHandler } from "./33-alter-configs.js";
import { describeLogDirsHandler } from "./35-describe-log-dirs.js";
import { CONFIG_OP, incrementalAlterConfigsHandler } from "./44-incremental-alter-configs.js";
import { RESOURCE_BROKER, RESOURCE_TOPIC } from "./config-admin.js";
import { startTestBroker, type TestBroker } from "./handler-test-support.js";

let b: TestBroker;

before(async () => {
  b = await startTestBroker();
  await b.broker.context.topics.create("t", 2, new Map([["flush.messages", "10"]]));
});

after(async () => {
  await b?.close();
});

type Outcome = { errorCode: number; errorMessage: string | null };

async function alter(type: number, name: string, configs: [string, string | null][], validateOnly = false) {
  const r = (await b.call(alterConfigsHandler, 2, {
    resources: [{ resourceType: type, resourceName: name, configs: configs.map(([n, value]) => ({ name: n, value })) }],
    validateOnly,
  })) as { responses: Outcome[] };
  return r.responses[0];
}

async function incremental(type: number, name: string, ops: [string, number, string | null][], validateOnly = false) {
  const r = (await b.call(incrementalAlterConfigsHandler, 1, {
    resources: [
      {
        resourceType: type,
        resourceName: name,
        configs: ops.map(([n, configOperation, value]) => ({ name: n, configOperation, value })),
      },
    ],
    validateOnly,
  })) as { responses: Outcome[] };
  return r.responses[0];
}

async function describe(type: number, name: string, version = 4) {
  const r = (await b.call(describeConfigsHandler, version, {
    resources: [{ resourceType: type, resourceName: name, configurationKeys: null }],
    includeSynonyms: true,
    includeDocumentation: false,
  })) as {
    results: {
      errorCode: number;
      configs: { name: string; value: string | null; configSource: number; synonyms: { source: number }[] }[];
    }[];
  };
  return new Map(r.results[0].configs.map((c) => [c.name, c]));
}

const log = (p = 0) => b.broker.context.topics.partition("t", p)!.log;

test("AlterConfigs replaces a topic's whole set of overrides and applies it to the running logs", async () => {
  assert.equal(log().config.flushMessages, 10);
  assert.deepEqual(await alter(RESOURCE_TOPIC, "t", [["segment.bytes", "1048576"]]), {
    errorCode: ErrorCode.NONE,
    errorMessage: null,
    resourceType: RESOURCE_TOPIC,
    resourceName: "t",
  });
  const configs = await describe(RESOURCE_TOPIC, "t");
  assert.equal(configs.get("segment.bytes")?.value, "1048576");
  assert.equal(configs.get("segment.bytes")?.configSource, CONFIG_SOURCE.DYNAMIC_TOPIC_CONFIG);
  assert.equal(configs.get("flush.messages")?.configSource, CONFIG_SOURCE.DEFAULT_CONFIG, "left out, so removed");
  assert.equal(log(1).config.segmentBytes, 1048576);
  assert.equal(log(1).config.flushMessages, Number.POSITIVE_INFINITY);
  const stored = JSON.parse(await readFile(path.join(b.dataDir, "topic-configs.json"), "utf8"));
  assert.deepEqual(stored.topics.t, { "segment.bytes": "1048576" });
});

test("validateOnly checks everything and changes nothing; bad keys and values name the key", async () => {
  assert.equal((await alter(RESOURCE_TOPIC, "t", [["segment.bytes", "2000000"]], true)).errorCode, ErrorCode.NONE);
  assert.equal((await describe(RESOURCE_TOPIC, "t")).get("segment.bytes")?.value, "1048576");
  const unknown = await alter(RESOURCE_TOPIC, "t", [["segment.byte", "1"]]);
  assert.equal(unknown.errorCode, ErrorCode.INVALID_CONFIG);
  assert.match(unknown.errorMessage!, /Unknown topic config "segment.byte"; topic configs are: segment.bytes, /);
  const bad = await incremental(RESOURCE_TOPIC, "t", [["message.timestamp.type", CONFIG_OP.SET, "Never"]]);
  assert.equal(bad.errorCode, ErrorCode.INVALID_CONFIG);
  assert.match(bad.errorMessage!, /message.timestamp.type must be one of CreateTime, LogAppendTime/);
  const small = await alter(RESOURCE_TOPIC, "t", [["segment.bytes", "3"]]);
  assert.match(small.errorMessage!, /^segment.bytes must be an int >= 14, got 3\.$/);
  assert.equal((await alter(RESOURCE_TOPIC, "nope", [])).errorCode, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  assert.equal((await alter(RESOURCE_TOPIC, "t", [["segment.bytes", null]])).errorCode, ErrorCode.INVALID_REQUEST);
  assert.equal((await describe(RESOURCE_TOPIC, "t")).get("segment.bytes")?.value, "1048576", "nothing changed");
});

test("IncrementalAlterConfigs: SET and DELETE in order, APPEND/SUBTRACT only for list configs", async () => {
  const ok = await incremental(RESOURCE_TOPIC, "t", [
    ["message.timestamp.type", CONFIG_OP.SET, "LogAppendTime"],
    ["segment.bytes", CONFIG_OP.DELETE, null],
  ]);
  assert.equal(ok.errorCode, ErrorCode.NONE);
  const configs = await describe(RESOURCE_TOPIC, "t");
  assert.equal(configs.get("message.timestamp.type")?.value, "LogAppendTime");
  assert.equal(configs.get("segment.bytes")?.configSource, CONFIG_SOURCE.DEFAULT_CONFIG);
  assert.equal(log().config.segmentBytes, 1024 * 1024 * 1024);
  const append = await incremental(RESOURCE_TOPIC, "t", [["segment.ms", CONFIG_OP.APPEND, "1"]]);
  assert.equal(append.errorCode, ErrorCode.INVALID_CONFIG);
  assert.match(append.errorMessage!, /segment.ms is a long config: APPEND and SUBTRACT apply only to list configs/);
  const op = await incremental(RESOURCE_TOPIC, "t", [["segment.ms", 9, "1"]]);
  assert.equal(op.errorCode, ErrorCode.INVALID_REQUEST);
});

test("dynamic broker configs: cluster default and per broker, their sources, live effect, and restart", async () => {
  const readOnly = await alter(RESOURCE_BROKER, "", [["num.partitions", "3"]]);
  assert.equal(readOnly.errorCode, ErrorCode.INVALID_CONFIG);
  assert.match(
    readOnly.errorMessage!,
    /num.partitions cannot be updated dynamically .* dynamic broker configs are: message.max.bytes/,
  );
  assert.equal((await alter(RESOURCE_BROKER, "7", [])).errorCode, ErrorCode.INVALID_REQUEST);

  assert.equal((await alter(RESOURCE_BROKER, "", [["log.segment.bytes", "2097152"]])).errorCode, ErrorCode.NONE);
  assert.equal(
    (await incremental(RESOURCE_BROKER, "0", [["log.flush.interval.messages", CONFIG_OP.SET, "5"]])).errorCode,
    ErrorCode.NONE,
  );
  const brokerConfigs = await describe(RESOURCE_BROKER, "0");
  assert.equal(brokerConfigs.get("log.segment.bytes")?.configSource, CONFIG_SOURCE.DYNAMIC_DEFAULT_BROKER_CONFIG);
  assert.equal(brokerConfigs.get("log.flush.interval.messages")?.configSource, CONFIG_SOURCE.DYNAMIC_BROKER_CONFIG);
  const defaults = await describe(RESOURCE_BROKER, "");
  assert.deepEqual([...defaults.keys()], ["log.segment.bytes"], 'resource "" lists only the cluster defaults set');
  // Topics without their own override inherit them, at once.
  const topicConfigs = await describe(RESOURCE_TOPIC, "t");
  assert.equal(topicConfigs.get("segment.bytes")?.value, "2097152");
  assert.equal(topicConfigs.get("segment.bytes")?.configSource, CONFIG_SOURCE.DYNAMIC_DEFAULT_BROKER_CONFIG);
  assert.deepEqual(
    topicConfigs.get("segment.bytes")?.synonyms.map((s) => s.source),
    [CONFIG_SOURCE.DYNAMIC_DEFAULT_BROKER_CONFIG, CONFIG_SOURCE.DEFAULT_CONFIG],
  );
  assert.equal(log().config.segmentBytes, 2097152);
  assert.equal(log().config.flushMessages, 5);

  const stored = JSON.parse(await readFile(path.join(b.dataDir, DYNAMIC_BROKER_CONFIG_FILE), "utf8"));
  assert.deepEqual(stored, {
    version: 1,
    clusterDefault: { "log.segment.bytes": "2097152" },
    broker: { "log.flush.interval.messages": "5" },
  });
  b = await b.restart();
  const after = await describe(RESOURCE_BROKER, "0");
  assert.equal(after.get("log.segment.bytes")?.value, "2097152");
  assert.equal(after.get("log.flush.interval.messages")?.configSource, CONFIG_SOURCE.DYNAMIC_BROKER_CONFIG);
  assert.equal((await describe(RESOURCE_TOPIC, "t")).get("message.timestamp.type")?.value, "LogAppendTime");
  assert.equal(log().config.segmentBytes, 2097152, "reopened logs get the dynamic defaults");
  // Deleting falls back to the static/default value.
  assert.equal((await alter(RESOURCE_BROKER, "", [])).errorCode, ErrorCode.NONE);
  assert.equal(
    (await describe(RESOURCE_BROKER, "0")).get("log.segment.bytes")?.configSource,
    CONFIG_SOURCE.DEFAULT_CONFIG,
  );
  assert.equal(log().config.segmentBytes, 1024 * 1024 * 1024);
});

test("DescribeLogDirs: the data dir, partition sizes from the segments, disk space from v4", async () => {
  await b.broker.context.topics
    .partition("t", 1)!
    .append(encodeRecordBatch({ records: [{ value: Buffer.alloc(100) }] }));
  for (const version of [0, 4]) {
    const r = (await b.call(describeLogDirsHandler, version, { topics: null })) as {
      results: {
        logDir: string;
        totalBytes: bigint;
        usableBytes: bigint;
        topics: { name: string; partitions: { partitionIndex: number; partitionSize: bigint; offsetLag: bigint }[] }[];
      }[];
    };
    const dir = r.results[0];
    assert.equal(dir.logDir, b.dataDir);
    const t = dir.topics.find((x) => x.name === "t")!;
    assert.deepEqual(
      t.partitions.map((p) => [p.partitionIndex, p.partitionSize, p.offsetLag]),
      [
        [0, 0n, 0n],
        [1, BigInt(log(1).size), 0n],
      ],
    );
    assert.ok(log(1).size > 100);
    if (version === 4) assert.ok(dir.totalBytes > 0n && dir.usableBytes > 0n && dir.usableBytes <= dir.totalBytes);
    else assert.equal(dir.totalBytes ?? -1n, -1n);
  }
  const one = (await b.call(describeLogDirsHandler, 4, {
    topics: [
      { topic: "t", partitions: [1] },
      { topic: "x", partitions: [0] },
    ],
  })) as {
    results: { topics: { name: string; partitions: unknown[] }[] }[];
  };
  assert.deepEqual(
    one.results[0].topics.map((t) => [t.name, t.partitions.length]),
    [["t", 1]],
  );
});

interface DescribedConfig {
  name: string;
  value: string | null;
  readOnly: boolean;
  configSource: number;
  isSensitive: boolean;
  configType: number;
  documentation: string | null;
  synonyms: { name: string; value: string | null; source: number }[];
}

async function describeFull(type: number, name: string, keys: string[] | null, version = 4) {
  const r = (await b.call(describeConfigsHandler, version, {
    resources: [{ resourceType: type, resourceName: name, configurationKeys: keys }],
    includeSynonyms: true,
    includeDocumentation: true,
  })) as { results: { errorCode: number; configs: DescribedConfig[] }[] };
  return new Map(r.results[0].configs.map((c) => [c.name, c]));
}

async function createTopic(name: string, configs: [string, string][], validateOnly = false) {
  const r = (await b.call(createTopicsHandler, 7, {
    topics: [
      {
        name,
        numPartitions: 1,
        replicationFactor: 1,
        assignments: [],
        configs: configs.map(([n, value]) => ({ name: n, value })),
      },
    ],
    timeoutMs: 1000,
    validateOnly,
  })) as {
    topics: { errorCode: number; errorMessage: string | null; configs: { name: string; value: string }[] | null }[];
  };
  return r.topics[0];
}

const clog = () => b.broker.context.topics.partition("c", 0)!.log;

test("CreateTopics takes the retention and cleaner configs and applies them to the new logs", async () => {
  const bad = await createTopic("c", [["retention.ms", "abc"]]);
  assert.equal(bad.errorCode, ErrorCode.INVALID_CONFIG);
  assert.equal(bad.errorMessage, "retention.ms must be a long >= -1, got abc.");
  const unsupported = await createTopic("c", [["preallocate", "true"]]);
  assert.equal(unsupported.errorCode, ErrorCode.INVALID_CONFIG);
  assert.equal(unsupported.errorMessage, "Topic config preallocate is not supported by Samsa.");
  const ok = await createTopic("c", [
    ["cleanup.policy", "compact"],
    ["retention.ms", "3600000"],
    ["min.cleanable.dirty.ratio", "0.1"],
    ["min.insync.replicas", "2"],
  ]);
  assert.equal(ok.errorCode, ErrorCode.NONE);
  const returned = new Map(ok.configs!.map((c) => [c.name, c.value]));
  assert.equal(returned.get("cleanup.policy"), "compact");
  assert.equal(returned.get("retention.bytes"), "-1");
  assert.equal(returned.get("max.compaction.lag.ms"), "9223372036854775807");
  assert.deepEqual(clog().config.cleanupPolicy, ["compact"]);
  assert.equal(clog().config.retentionMs, 3_600_000);
  assert.equal(clog().config.minCleanableDirtyRatio, 0.1);
});

test("IncrementalAlterConfigs APPEND and SUBTRACT on cleanup.policy, starting from Kafka's default", async () => {
  // No override yet on "t": APPEND starts from the topic default, delete.
  assert.equal(
    (await incremental(RESOURCE_TOPIC, "t", [["cleanup.policy", CONFIG_OP.APPEND, "compact"]])).errorCode,
    0,
  );
  assert.equal((await describe(RESOURCE_TOPIC, "t")).get("cleanup.policy")?.value, "delete,compact");
  assert.deepEqual(log().config.cleanupPolicy, ["delete", "compact"]);
  assert.equal(
    (await incremental(RESOURCE_TOPIC, "t", [["cleanup.policy", CONFIG_OP.APPEND, "compact"]])).errorCode,
    0,
  );
  assert.equal((await describe(RESOURCE_TOPIC, "t")).get("cleanup.policy")?.value, "delete,compact", "no duplicates");
  assert.equal(
    (await incremental(RESOURCE_TOPIC, "t", [["cleanup.policy", CONFIG_OP.SUBTRACT, "delete"]])).errorCode,
    0,
  );
  assert.deepEqual(log().config.cleanupPolicy, ["compact"]);
  const empty = await incremental(RESOURCE_TOPIC, "t", [["cleanup.policy", CONFIG_OP.SUBTRACT, "compact"]]);
  assert.equal(empty.errorCode, ErrorCode.INVALID_CONFIG);
  assert.match(empty.errorMessage!, /cleanup.policy must be delete, compact or both; an empty list is not supported/);
  const badItem = await incremental(RESOURCE_TOPIC, "t", [["cleanup.policy", CONFIG_OP.APPEND, "archive"]]);
  assert.equal(
    badItem.errorMessage,
    "cleanup.policy must be a comma-separated list of delete, compact, got compact,archive.",
  );
  const notList = await incremental(RESOURCE_TOPIC, "t", [["retention.ms", CONFIG_OP.SUBTRACT, "1"]]);
  assert.equal(notList.errorCode, ErrorCode.INVALID_CONFIG);
  assert.deepEqual(log().config.cleanupPolicy, ["compact"], "failed requests changed nothing");
  // Broker list configs too: the cluster default.
  assert.equal(
    (await incremental(RESOURCE_BROKER, "", [["log.cleanup.policy", CONFIG_OP.APPEND, "compact"]])).errorCode,
    0,
  );
  assert.deepEqual(clog().config.cleanupPolicy, ["compact"], "a topic override wins over the broker default");
  assert.equal((await describe(RESOURCE_BROKER, "")).get("log.cleanup.policy")?.value, "delete,compact");
  assert.equal((await incremental(RESOURCE_BROKER, "", [["log.cleanup.policy", CONFIG_OP.DELETE, null]])).errorCode, 0);
});

test("dynamic retention and cleaner configs take effect on the running logs; their unit synonyms need a restart", async () => {
  const hours = await incremental(RESOURCE_BROKER, "0", [["log.retention.hours", CONFIG_OP.SET, "1"]]);
  assert.equal(hours.errorCode, ErrorCode.INVALID_CONFIG);
  assert.match(hours.errorMessage!, /log.retention.hours cannot be updated dynamically/);
  assert.equal(
    (
      await incremental(RESOURCE_BROKER, "0", [
        ["log.retention.ms", CONFIG_OP.SET, "60000"],
        ["log.retention.bytes", CONFIG_OP.SET, "1048576"],
        ["log.segment.delete.delay.ms", CONFIG_OP.SET, "0"],
        ["log.cleaner.min.compaction.lag.ms", CONFIG_OP.SET, "10"],
      ])
    ).errorCode,
    ErrorCode.NONE,
  );
  assert.equal(log().config.retentionMs, 60_000);
  assert.equal(log().config.retentionBytes, 1_048_576);
  assert.equal(log().config.fileDeleteDelayMs, 0);
  assert.equal(clog().config.minCompactionLagMs, 10);
  assert.equal(clog().config.retentionMs, 3_600_000, "the topic override still wins");
  const threads = await incremental(RESOURCE_BROKER, "0", [["log.cleaner.threads", CONFIG_OP.SET, "3"]]);
  assert.equal(threads.errorCode, ErrorCode.INVALID_CONFIG);
  assert.equal(
    threads.errorMessage,
    "log.cleaner.threads must be at most double the current value 1 at runtime, got 3.",
  );
  const ratio = await incremental(RESOURCE_BROKER, "", [["log.cleaner.min.cleanable.ratio", CONFIG_OP.SET, "2"]]);
  assert.equal(ratio.errorMessage, "log.cleaner.min.cleanable.ratio must be a double in [0.0, 1.0], got 2.");
});

test("DescribeConfigs: sources, synonym chains, documentation, types and read-only flags", async () => {
  const topic = await describeFull(RESOURCE_TOPIC, "c", []);
  const retention = topic.get("retention.ms")!;
  assert.equal(retention.value, "3600000");
  assert.equal(retention.configSource, CONFIG_SOURCE.DYNAMIC_TOPIC_CONFIG);
  assert.equal(retention.readOnly, false);
  assert.equal(retention.configType, 5, "LONG");
  assert.match(retention.documentation!, /-1 keeps forever/);
  assert.deepEqual(
    retention.synonyms.map((s) => [s.name, s.value, s.source]),
    [
      ["retention.ms", "3600000", CONFIG_SOURCE.DYNAMIC_TOPIC_CONFIG],
      ["log.retention.ms", "60000", CONFIG_SOURCE.DYNAMIC_BROKER_CONFIG],
      ["log.retention.hours", "168", CONFIG_SOURCE.DEFAULT_CONFIG],
    ],
  );
  const bytes = topic.get("retention.bytes")!;
  assert.equal(bytes.value, "1048576");
  assert.equal(bytes.configSource, CONFIG_SOURCE.DYNAMIC_BROKER_CONFIG);
  assert.equal(topic.get("cleanup.policy")?.configType, 7, "LIST");
  assert.equal(topic.get("min.cleanable.dirty.ratio")?.configType, 6, "DOUBLE");
  assert.match(topic.get("min.insync.replicas")!.documentation!, /Accepted for compatibility: not enforced/);
  assert.equal(topic.get("max.compaction.lag.ms")?.value, "9223372036854775807");

  const brokerConfigs = await describeFull(RESOURCE_BROKER, "0", [
    "log.retention.ms",
    "log.retention.hours",
    "log.cleaner.enable",
  ]);
  assert.deepEqual([...brokerConfigs.keys()].sort(), ["log.cleaner.enable", "log.retention.hours", "log.retention.ms"]);
  const ms = brokerConfigs.get("log.retention.ms")!;
  assert.equal(ms.readOnly, false);
  assert.equal(ms.configSource, CONFIG_SOURCE.DYNAMIC_BROKER_CONFIG);
  assert.deepEqual(
    ms.synonyms.map((s) => [s.name, s.source]),
    [
      ["log.retention.ms", CONFIG_SOURCE.DYNAMIC_BROKER_CONFIG],
      ["log.retention.hours", CONFIG_SOURCE.DEFAULT_CONFIG],
    ],
  );
  const hours = brokerConfigs.get("log.retention.hours")!;
  assert.equal(hours.readOnly, true);
  assert.equal(hours.configSource, CONFIG_SOURCE.DEFAULT_CONFIG);
  assert.deepEqual(
    hours.synonyms.map((s) => s.name),
    ["log.retention.hours"],
  );
  assert.equal(brokerConfigs.get("log.cleaner.enable")?.readOnly, true);
  assert.equal(brokerConfigs.get("log.cleaner.enable")?.configType, 1, "BOOLEAN");
  assert.ok(brokerConfigs.get("log.cleaner.enable")?.documentation);

  // The cluster-default resource shows only what is set there, with only that layer as synonym.
  assert.equal((await alter(RESOURCE_BROKER, "", [["log.retention.bytes", "5000000"]])).errorCode, ErrorCode.NONE);
  const defaults = await describeFull(RESOURCE_BROKER, "", null);
  assert.deepEqual([...defaults.keys()], ["log.retention.bytes"]);
  assert.deepEqual(
    defaults.get("log.retention.bytes")!.synonyms.map((s) => [s.value, s.source]),
    [["5000000", CONFIG_SOURCE.DYNAMIC_DEFAULT_BROKER_CONFIG]],
  );
  // v0-2 have no documentation or type.
  const v2 = await describeFull(RESOURCE_TOPIC, "c", ["retention.ms"], 2);
  assert.equal(v2.get("retention.ms")?.value, "3600000");
});

test("topic and broker configs persist across a restart and apply to the reopened logs", async () => {
  b = await b.restart();
  assert.deepEqual(clog().config.cleanupPolicy, ["compact"]);
  assert.equal(clog().config.retentionMs, 3_600_000);
  assert.equal(clog().config.retentionBytes, 1_048_576, "this broker's dynamic value wins over the cluster default");
  assert.deepEqual(log().config.cleanupPolicy, ["compact"]);
  assert.equal(log().config.retentionMs, 60_000);
  assert.equal(log().config.minCompactionLagMs, 10);
  const configs = await describeFull(RESOURCE_TOPIC, "c", ["min.insync.replicas", "cleanup.policy"]);
  assert.equal(configs.get("min.insync.replicas")?.value, "2");
  assert.equal(configs.get("cleanup.policy")?.configSource, CONFIG_SOURCE.DYNAMIC_TOPIC_CONFIG);
  // Deleting the broker overrides brings back Kafka's defaults, live.
  assert.equal((await alter(RESOURCE_BROKER, "0", [])).errorCode, ErrorCode.NONE);
  assert.equal((await alter(RESOURCE_BROKER, "", [])).errorCode, ErrorCode.NONE);
  assert.equal(log().config.retentionMs, 7 * 24 * 3_600_000);
  assert.equal(log().config.retentionBytes, -1);
});
