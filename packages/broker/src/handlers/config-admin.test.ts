/** AlterConfigs, IncrementalAlterConfigs, DescribeConfigs and DescribeLogDirs against an in-process broker. */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import { ErrorCode, encodeRecordBatch } from "@samsa/protocol";
import { CONFIG_SOURCE } from "../config/config-source.js";
import { DYNAMIC_BROKER_CONFIG_FILE } from "../config/dynamic-broker-config-store.js";
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
  assert.match(small.errorMessage!, /segment.bytes must be at least 14/);
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
