/**
 * `samsa topic create|list|describe|delete|alter-config`: Kafka's kafka-topics.sh and
 * kafka-configs.sh for topics, over @samsa/client's Admin.
 */
import { Admin, ErrorCode } from "@samsa/client";
import type { Command } from "commander";
import { isKafkaError, UserError } from "../errors.js";
import { clientOptions, collect, collectKeyValue, parsePositiveInt, withBrokers } from "../options.js";
import { writeOut } from "../output.js";

/** Runs `fn` with a connected Admin and closes it whatever happens. */
export async function withAdmin<T>(brokers: string[], fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Admin(clientOptions(brokers));
  try {
    await admin.connect();
    return await fn(admin);
  } finally {
    await admin.close().catch(() => {});
  }
}

/** Throws "Topic 'x' does not exist." unless the cluster has the topic. */
export async function requireTopic(admin: Admin, topic: string): Promise<void> {
  const topics = await admin.listTopics({ includeInternal: true });
  if (!topics.includes(topic)) throw new UserError(`Topic '${topic}' does not exist.`);
}

interface CreateOptions {
  brokers: string[];
  topic: string;
  partitions?: number;
  replicationFactor?: number;
  config: [string, string][];
  ifNotExists?: boolean;
}

interface TopicOptions {
  brokers: string[];
  topic: string;
}

interface AlterOptions extends TopicOptions {
  set: [string, string][];
  delete: string[];
}

export function topicCommand(program: Command): void {
  const topic = program.command("topic").description("Create, list, describe, delete and configure topics.");

  withBrokers(
    topic
      .command("create")
      .description("Create a topic.")
      .requiredOption("--topic <name>", "the topic")
      .option("--partitions <n>", "number of partitions (default: the broker's num.partitions)", parsePositiveInt)
      .option("--replication-factor <n>", "replicas per partition (default: the broker's)", parsePositiveInt)
      .option("--config <key=value>", "a topic config, e.g. cleanup.policy=compact (repeatable)", collectKeyValue, [])
      .option("--if-not-exists", "succeed if the topic already exists"),
  ).action(async (opts: CreateOptions) => {
    await withAdmin(opts.brokers, async (admin) => {
      try {
        await admin.createTopics([
          {
            topic: opts.topic,
            numPartitions: opts.partitions,
            replicationFactor: opts.replicationFactor,
            configs: Object.fromEntries(opts.config),
          },
        ]);
      } catch (e) {
        if (isKafkaError(e, ErrorCode.TOPIC_ALREADY_EXISTS)) {
          if (opts.ifNotExists) return;
          throw new UserError(`Topic '${opts.topic}' already exists.`);
        }
        if (isKafkaError(e, ErrorCode.INVALID_TOPIC_EXCEPTION)) {
          throw new UserError(`'${opts.topic}' is not a valid topic name (letters, digits, '.', '_', '-').`);
        }
        throw e;
      }
      await writeOut(`Created topic ${opts.topic}.\n`);
    });
  });

  withBrokers(
    topic
      .command("list")
      .description("List topics, one a line.")
      .option("--include-internal", "include internal topics such as __consumer_offsets"),
  ).action(async (opts: { brokers: string[]; includeInternal?: boolean }) => {
    await withAdmin(opts.brokers, async (admin) => {
      const topics = await admin.listTopics({ includeInternal: opts.includeInternal === true });
      await writeOut(
        [...topics]
          .sort()
          .map((t) => `${t}\n`)
          .join(""),
      );
    });
  });

  withBrokers(
    topic
      .command("describe")
      .description("Show a topic's partitions, leaders, replicas and non-default configs.")
      .requiredOption("--topic <name>", "the topic"),
  ).action(async (opts: TopicOptions) => {
    await withAdmin(opts.brokers, async (admin) => {
      await requireTopic(admin, opts.topic);
      const [info] = await admin.describeTopics([opts.topic]);
      if (info === undefined || info.errorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION) {
        throw new UserError(`Topic '${opts.topic}' does not exist.`);
      }
      const configs = (await admin.describeConfigs({ type: "topic", name: opts.topic }))
        .filter((c) => !c.isDefault)
        .map((c) => `${c.name}=${c.sensitive ? "(sensitive)" : (c.value ?? "")}`);
      const partitions = [...info.partitions].sort((a, b) => a.partition - b.partition);
      const replicationFactor = partitions[0]?.replicas.length ?? 0;
      const lines = [
        `Topic: ${info.name}\tTopicId: ${info.topicId}\tPartitionCount: ${partitions.length}\tReplicationFactor: ${replicationFactor}\tConfigs: ${configs.join(",")}`,
        ...partitions.map(
          (p) =>
            `\tTopic: ${info.name}\tPartition: ${p.partition}\tLeader: ${p.leader}\tReplicas: ${p.replicas.join(",")}\tIsr: ${p.isr.join(",")}`,
        ),
      ];
      await writeOut(`${lines.join("\n")}\n`);
    });
  });

  withBrokers(
    topic
      .command("delete")
      .description("Delete a topic and its records.")
      .requiredOption("--topic <name>", "the topic"),
  ).action(async (opts: TopicOptions) => {
    await withAdmin(opts.brokers, async (admin) => {
      await requireTopic(admin, opts.topic);
      try {
        await admin.deleteTopics([opts.topic]);
      } catch (e) {
        if (isKafkaError(e, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.UNKNOWN_TOPIC_ID)) {
          throw new UserError(`Topic '${opts.topic}' does not exist.`);
        }
        throw e;
      }
      await writeOut(`Deleted topic ${opts.topic}.\n`);
    });
  });

  withBrokers(
    topic
      .command("alter-config")
      .description("Set or remove topic configs (the others keep their values).")
      .requiredOption("--topic <name>", "the topic")
      .option("--set <key=value>", "set a config (repeatable)", collectKeyValue, [])
      .option("--delete <key>", "remove a config, back to the broker default (repeatable)", collect, []),
  ).action(async (opts: AlterOptions) => {
    if (opts.set.length === 0 && opts.delete.length === 0) {
      throw new UserError("Nothing to change: give --set key=value or --delete key.");
    }
    await withAdmin(opts.brokers, async (admin) => {
      await requireTopic(admin, opts.topic);
      try {
        await admin.incrementalAlterConfigs({ type: "topic", name: opts.topic }, [
          ...opts.set.map(([name, value]) => ({ name, op: "set" as const, value })),
          ...opts.delete.map((name) => ({ name, op: "delete" as const })),
        ]);
      } catch (e) {
        if (isKafkaError(e, ErrorCode.INVALID_CONFIG, ErrorCode.INVALID_REQUEST, ErrorCode.POLICY_VIOLATION)) {
          throw new UserError(`The broker rejected the change: ${e.message.replace(/\.$/, "")}.`);
        }
        throw e;
      }
      const changes = [...opts.set.map(([k, v]) => `${k}=${v}`), ...opts.delete.map((k) => `${k} removed`)];
      await writeOut(`Updated topic ${opts.topic}: ${changes.join(", ")}.\n`);
    });
  });
}
