/**
 * KafkaJS 2.2.4 (a pure JavaScript client nobody here wrote) against a real broker process: the
 * admin API end to end and a gzip producer. KafkaJS's only consumer is a group consumer, which
 * needs the group coordinator (a later issue), so what it produced is read back with kcat.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import kafkajs, { type Admin } from "kafkajs";
import { BrokerProcess } from "./support/broker-process.js";
import { CODEC_IDS, storedBatches } from "./support/log-files.js";
import { requireClient, runOk } from "./support/run.js";

// KafkaJS is CommonJS whose exports Node cannot list statically: take them from the default export.
const { CompressionTypes, ConfigResourceTypes, Kafka, logLevel } = kafkajs;

let broker: BrokerProcess;
let kafka: InstanceType<typeof Kafka>;
let admin: Admin;

before(async () => {
  requireClient("kcat");
  broker = await BrokerProcess.start({ set: ["num.partitions=2", "message.max.bytes=2000000"] });
  kafka = new Kafka({
    clientId: "samsa-e2e-kafkajs",
    brokers: [broker.bootstrap],
    logLevel: logLevel.NOTHING,
    retry: { retries: 2, initialRetryTime: 50 },
  });
  admin = kafka.admin();
  await admin.connect();
});

after(async () => {
  await admin?.disconnect();
  await broker?.stop();
  await broker?.dispose();
});

/** The Kafka error type (e.g. "INVALID_CONFIG") KafkaJS reports, wherever it nests it (errors, cause). */
async function kafkaErrorType(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    const queue: unknown[] = [e];
    while (queue.length > 0) {
      const x = queue.shift() as { type?: string; errors?: unknown[]; cause?: unknown; originalError?: unknown };
      if (x === undefined || x === null) continue;
      if (typeof x.type === "string") return x.type;
      queue.push(...(x.errors ?? []), x.cause, x.originalError);
    }
    return String((e as Error).message);
  }
  throw new Error("expected the request to fail");
}

describe("KafkaJS 2.2.4 admin", () => {
  test("createTopics with configs; validateOnly creates nothing; listTopics and fetchTopicMetadata see it", async () => {
    // waitForLeaders (KafkaJS's default) would then wait for a topic that validateOnly never creates.
    const created = await admin.createTopics({
      validateOnly: true,
      waitForLeaders: false,
      topics: [
        { topic: "kjs-validate-only", numPartitions: 3, configEntries: [{ name: "segment.bytes", value: "1048576" }] },
      ],
    });
    assert.equal(created, true);
    assert.ok(!(await admin.listTopics()).includes("kjs-validate-only"), "validateOnly must not create");

    assert.equal(
      await admin.createTopics({
        waitForLeaders: true,
        topics: [
          {
            topic: "kjs-admin",
            numPartitions: 3,
            configEntries: [
              { name: "max.message.bytes", value: "500000" },
              { name: "message.timestamp.type", value: "LogAppendTime" },
            ],
          },
        ],
      }),
      true,
    );
    assert.ok((await admin.listTopics()).includes("kjs-admin"));
    const { topics } = await admin.fetchTopicMetadata({ topics: ["kjs-admin"] });
    assert.equal(topics.length, 1);
    assert.deepEqual(topics[0].partitions.map((p) => [p.partitionId, p.leader, p.replicas, p.isr]).sort(), [
      [0, 0, [0], [0]],
      [1, 0, [0], [0]],
      [2, 0, [0], [0]],
    ]);
    // Creating it again: KafkaJS reports false (TOPIC_ALREADY_EXISTS) rather than throwing.
    assert.equal(await admin.createTopics({ topics: [{ topic: "kjs-admin" }] }), false);
  });

  test("createTopics rejects a bad name, an unknown config and a bad value with Kafka's error codes", async () => {
    assert.equal(
      await kafkaErrorType(admin.createTopics({ topics: [{ topic: "bad/name" }] })),
      "INVALID_TOPIC_EXCEPTION",
    );
    assert.equal(
      await kafkaErrorType(
        admin.createTopics({
          topics: [{ topic: "kjs-bad-config", configEntries: [{ name: "no.such.config", value: "1" }] }],
        }),
      ),
      "INVALID_CONFIG",
    );
    assert.equal(
      await kafkaErrorType(
        admin.createTopics({
          topics: [{ topic: "kjs-bad-value", configEntries: [{ name: "segment.bytes", value: "x" }] }],
        }),
      ),
      "INVALID_CONFIG",
    );
    assert.equal(
      await kafkaErrorType(admin.createTopics({ topics: [{ topic: "kjs-bad-partitions", numPartitions: 0 }] })),
      "INVALID_PARTITIONS",
    );
    assert.ok(!(await admin.listTopics()).some((t) => t.startsWith("kjs-bad")));
  });

  test("createPartitions grows a topic; shrinking is INVALID_PARTITIONS", async () => {
    await admin.createTopics({ topics: [{ topic: "kjs-grow", numPartitions: 1 }] });
    await admin.createPartitions({ topicPartitions: [{ topic: "kjs-grow", count: 4 }] });
    const { topics } = await admin.fetchTopicMetadata({ topics: ["kjs-grow"] });
    assert.equal(topics[0].partitions.length, 4);
    assert.equal(
      await kafkaErrorType(admin.createPartitions({ topicPartitions: [{ topic: "kjs-grow", count: 2 }] })),
      "INVALID_PARTITIONS",
    );
  });

  test("describeConfigs for a topic (overrides and defaults) and for the broker", async () => {
    const topicConfigs = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: "kjs-admin" }],
    });
    const entries = new Map(topicConfigs.resources[0].configEntries.map((e) => [e.configName, e]));
    assert.equal(topicConfigs.resources[0].errorCode, 0);
    assert.equal(entries.get("max.message.bytes")?.configValue, "500000");
    assert.equal(entries.get("max.message.bytes")?.isDefault, false);
    assert.equal(entries.get("message.timestamp.type")?.configValue, "LogAppendTime");
    // Not overridden: the broker's log.segment.bytes (its default) is the topic's value.
    const segmentBytes = entries.get("segment.bytes");
    assert.equal(segmentBytes?.configValue, String(1024 * 1024 * 1024));

    const brokerConfigs = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [
        { type: ConfigResourceTypes.BROKER, name: "0", configNames: ["num.partitions", "message.max.bytes"] },
      ],
    });
    const b = new Map(brokerConfigs.resources[0].configEntries.map((e) => [e.configName, e.configValue]));
    assert.deepEqual(Object.fromEntries(b), { "num.partitions": "2", "message.max.bytes": "2000000" });

    assert.equal(
      await kafkaErrorType(
        admin.describeConfigs({
          includeSynonyms: false,
          resources: [{ type: ConfigResourceTypes.TOPIC, name: "kjs-nope" }],
        }),
      ),
      "UNKNOWN_TOPIC_OR_PARTITION",
    );
  });

  test("alterConfigs replaces a topic's overrides, takes effect on the running broker, and is described", async () => {
    await admin.createTopics({
      topics: [{ topic: "kjs-alter", numPartitions: 1, configEntries: [{ name: "flush.messages", value: "7" }] }],
    });
    // validateOnly: accepted, nothing changes.
    await admin.alterConfigs({
      validateOnly: true,
      resources: [
        {
          type: ConfigResourceTypes.TOPIC,
          name: "kjs-alter",
          configEntries: [{ name: "max.message.bytes", value: "1000" }],
        },
      ],
    });
    const topicEntries = async () => {
      const r = await admin.describeConfigs({
        includeSynonyms: true,
        resources: [{ type: ConfigResourceTypes.TOPIC, name: "kjs-alter" }],
      });
      return new Map(r.resources[0].configEntries.map((e) => [e.configName, e]));
    };
    assert.equal((await topicEntries()).get("max.message.bytes")?.configValue, "2000000");

    await admin.alterConfigs({
      validateOnly: false,
      resources: [
        {
          type: ConfigResourceTypes.TOPIC,
          name: "kjs-alter",
          configEntries: [{ name: "max.message.bytes", value: "1000" }],
        },
      ],
    });
    const entries = await topicEntries();
    assert.equal(entries.get("max.message.bytes")?.configValue, "1000");
    assert.equal(entries.get("max.message.bytes")?.configSource, 1, "DYNAMIC_TOPIC_CONFIG");
    // AlterConfigs replaces the whole set: flush.messages, left out, is back to the default.
    assert.equal(entries.get("flush.messages")?.configSource, 5, "DEFAULT_CONFIG");

    // Live: the running partition now refuses a 2000-byte batch.
    const producer = kafka.producer({ retry: { retries: 0 } });
    await producer.connect();
    try {
      const type = await kafkaErrorType(
        producer.send({ topic: "kjs-alter", acks: -1, messages: [{ value: Buffer.alloc(2000, 1) }] }),
      );
      assert.equal(type, "MESSAGE_TOO_LARGE");
    } finally {
      await producer.disconnect();
    }

    assert.equal(
      await kafkaErrorType(
        admin.alterConfigs({
          validateOnly: false,
          resources: [
            {
              type: ConfigResourceTypes.TOPIC,
              name: "kjs-alter",
              configEntries: [{ name: "segment.bytes", value: "1" }],
            },
          ],
        }),
      ),
      "INVALID_CONFIG",
    );
    assert.equal(
      await kafkaErrorType(
        admin.alterConfigs({
          validateOnly: false,
          resources: [{ type: ConfigResourceTypes.TOPIC, name: "kjs-nope", configEntries: [] }],
        }),
      ),
      "UNKNOWN_TOPIC_OR_PARTITION",
    );
  });

  test("alterConfigs on the broker: dynamic configs are described, kept across a restart; static ones refused", async () => {
    // KafkaJS refuses the cluster-default resource name "" itself; broker "0" is this broker's own layer.
    await admin.alterConfigs({
      validateOnly: false,
      resources: [
        {
          type: ConfigResourceTypes.BROKER,
          name: "0",
          configEntries: [{ name: "log.segment.bytes", value: "4194304" }],
        },
      ],
    });
    const describeBroker = async () => {
      const r = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: ConfigResourceTypes.BROKER, name: "0", configNames: ["log.segment.bytes"] }],
      });
      return r.resources[0].configEntries[0];
    };
    assert.equal((await describeBroker()).configValue, "4194304");
    assert.equal((await describeBroker()).configSource, 2, "DYNAMIC_BROKER_CONFIG");
    assert.equal(
      await kafkaErrorType(
        admin.alterConfigs({
          validateOnly: false,
          resources: [
            { type: ConfigResourceTypes.BROKER, name: "0", configEntries: [{ name: "num.partitions", value: "5" }] },
          ],
        }),
      ),
      "INVALID_CONFIG",
    );

    await admin.disconnect();
    await broker.stop();
    broker = await broker.restart();
    kafka = new Kafka({
      clientId: "samsa-e2e-kafkajs",
      brokers: [broker.bootstrap],
      logLevel: logLevel.NOTHING,
      retry: { retries: 2, initialRetryTime: 50 },
    });
    admin = kafka.admin();
    await admin.connect();
    assert.equal((await describeBroker()).configValue, "4194304", "persisted in dynamic-broker-configs.json");
    await admin.alterConfigs({
      validateOnly: false,
      resources: [{ type: ConfigResourceTypes.BROKER, name: "0", configEntries: [] }],
    });
    assert.equal((await describeBroker()).configSource, 5, "DEFAULT_CONFIG again");
  });

  test("deleteTopics removes the topic and its data", async () => {
    await admin.createTopics({ topics: [{ topic: "kjs-doomed", numPartitions: 2 }] });
    assert.ok((await admin.listTopics()).includes("kjs-doomed"));
    await admin.deleteTopics({ topics: ["kjs-doomed"], timeout: 5000 });
    assert.ok(!(await admin.listTopics()).includes("kjs-doomed"));
    assert.equal(
      await kafkaErrorType(admin.deleteTopics({ topics: ["kjs-doomed"], timeout: 5000 })),
      "UNKNOWN_TOPIC_OR_PARTITION",
    );
  });
});

describe("KafkaJS 2.2.4 producer", () => {
  test("gzip batches with keys and headers, acks=all, read back by kcat; stored gzip-compressed", async () => {
    const producer = kafka.producer({ allowAutoTopicCreation: true });
    await producer.connect();
    try {
      const messages = Array.from({ length: 50 }, (_, i) => ({
        key: `k${i}`,
        value: `gzip value ${i} ${"x".repeat(100)}`,
        headers: { n: String(i) },
        partition: 0,
      }));
      const [first] = await producer.send({
        topic: "kjs-gzip",
        compression: CompressionTypes.GZIP,
        acks: -1,
        messages: messages.slice(0, 25),
      });
      assert.equal(first.errorCode, 0);
      assert.equal(first.baseOffset, "0");
      const [second] = await producer.send({
        topic: "kjs-gzip",
        compression: CompressionTypes.GZIP,
        acks: 1,
        messages: messages.slice(25),
      });
      assert.equal(second.baseOffset, "25");

      const out = await runOk(
        "kcat",
        ["-b", broker.bootstrap, "-C", "-t", "kjs-gzip", "-p", "0", "-o", "beginning", "-e", "-q", "-J"],
        { timeoutMs: 30_000 },
      );
      const got = out.stdout
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as { offset: number; key: string; payload: string; headers: string[] });
      assert.deepEqual(
        got.map((m) => [m.offset, m.key, m.payload, m.headers]),
        messages.map((m, i) => [i, m.key, m.value, ["n", String(i)]]),
      );
      const batches = await storedBatches(broker.dataDir, "kjs-gzip", 0);
      assert.deepEqual(
        batches.map((b) => [b.baseOffset, b.compression]),
        [
          [0n, CODEC_IDS.gzip],
          [25n, CODEC_IDS.gzip],
        ],
      );
    } finally {
      await producer.disconnect();
    }
  });

  test("a record larger than the topic's max.message.bytes is MESSAGE_TOO_LARGE", async () => {
    const producer = kafka.producer({ retry: { retries: 0 } });
    await producer.connect();
    try {
      const type = await kafkaErrorType(
        producer.send({ topic: "kjs-admin", acks: -1, messages: [{ value: Buffer.alloc(600_000, 1) }] }),
      );
      assert.equal(type, "MESSAGE_TOO_LARGE");
    } finally {
      await producer.disconnect();
    }
  });
});
