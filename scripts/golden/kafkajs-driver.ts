/**
 * Drives KafkaJS, with its default settings, through one flow against the capture's fake broker.
 * Run by capture.ts:
 *
 *   node --import tsx scripts/golden/kafkajs-driver.ts <broker> admin '{"topic": {...}}'
 *   node --import tsx scripts/golden/kafkajs-driver.ts <broker> produce '{"topic": "t", "records": [...]}'
 *   node --import tsx scripts/golden/kafkajs-driver.ts <broker> consume '{"topic": "t", "group": "g", "count": 3}'
 */
import KafkaJS from "kafkajs";

// KafkaJS is CommonJS, and Node's named-export detection misses some of its exports.
const { CompressionTypes, ConfigResourceTypes, Kafka, logLevel } = KafkaJS;

interface GivenRecord {
  key: string;
  value: string;
  headers: [string, string][];
}

const [broker, mode, json] = process.argv.slice(2);
if (json === undefined) throw new Error("usage: kafkajs-driver.ts <broker> admin|produce|consume <json>");
const plan = JSON.parse(json);
const kafka = new Kafka({ brokers: [broker], logLevel: logLevel.WARN });

async function admin(topic: {
  name: string;
  numPartitions: number;
  replicationFactor: number;
  configs: Record<string, string>;
}): Promise<void> {
  const a = kafka.admin();
  await a.connect();
  await a.createTopics({
    topics: [
      {
        topic: topic.name,
        numPartitions: topic.numPartitions,
        replicationFactor: topic.replicationFactor,
        configEntries: Object.entries(topic.configs).map(([name, value]) => ({ name, value })),
      },
    ],
  });
  console.log("topics:", await a.listTopics());
  console.log("metadata:", JSON.stringify(await a.fetchTopicMetadata({ topics: [topic.name] })));
  await a.createPartitions({ topicPartitions: [{ topic: topic.name, count: topic.numPartitions + 1 }] });
  const configs = await a.describeConfigs({
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topic.name, configNames: Object.keys(topic.configs) }],
    includeSynonyms: false,
  });
  console.log("configs:", JSON.stringify(configs));
  await a.deleteTopics({ topics: [topic.name] });
  await a.disconnect();
}

async function produce(topic: string, records: GivenRecord[]): Promise<void> {
  const p = kafka.producer();
  await p.connect();
  const result = await p.send({
    topic,
    compression: CompressionTypes.GZIP,
    messages: records.map((r) => ({ key: r.key, value: r.value, headers: Object.fromEntries(r.headers) })),
  });
  console.log("sent:", JSON.stringify(result));
  await p.disconnect();
}

async function consume(topic: string, group: string, count: number): Promise<void> {
  const c = kafka.consumer({ groupId: group });
  await c.connect();
  await c.subscribe({ topics: [topic], fromBeginning: true });
  let seen = 0;
  const done = new Promise<void>((resolve) => {
    void c.run({
      eachMessage: async ({ partition, message }) => {
        console.log(`consumed ${partition}@${message.offset}: ${message.key?.toString()}=${message.value?.toString()}`);
        if (++seen >= count) resolve();
      },
    });
  });
  await done;
  // Disconnecting commits the consumed offsets and leaves the group.
  await c.disconnect();
}

switch (mode) {
  case "admin":
    await admin(plan.topic);
    break;
  case "produce":
    await produce(plan.topic, plan.records);
    break;
  case "consume":
    await consume(plan.topic, plan.group, plan.count);
    break;
  default:
    throw new Error(`unknown mode ${mode}`);
}
