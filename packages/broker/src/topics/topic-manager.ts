/**
 * The topics of this broker: names, IDs and partitions, over the LogManager's logs. A topic
 * exists when its partition directories do; its ID lives in each partition's
 * `partition.metadata`, so everything survives a restart with nothing else to keep.
 */

import { randomBytes } from "node:crypto";
import path from "node:path";
import { ErrorCode, KafkaError, type Uuid } from "@samsa/protocol";
import type { Logger } from "pino";
import type { TopicConfigStore } from "../config/topic-config.js";
import { partitionDirName } from "../log/file-names.js";
import type { Log } from "../log/log.js";
import type { LogManager } from "../log/log-manager.js";
import { Partition } from "./partition.js";
import { readPartitionMetadata, writePartitionMetadata } from "./partition-metadata.js";
import { invalidTopicNameReason, isInternalTopic } from "./topic-name.js";

export interface Topic {
  readonly name: string;
  readonly topicId: Uuid;
  readonly partitions: Partition[];
  readonly isInternal: boolean;
}

/** Kafka caps partitions per CreateTopics/CreatePartitions far above this; we keep a sane bound. */
export const MAX_PARTITIONS_PER_TOPIC = 10_000;

export function newTopicId(): Uuid {
  // Kafka never hands out the zero UUID or IDs whose base64 starts with '-' (they read as flags).
  for (;;) {
    const id = randomBytes(16).toString("base64url");
    if (!id.startsWith("-") && id !== "AAAAAAAAAAAAAAAAAAAAAA") return id;
  }
}

export class TopicManager {
  private readonly topics = new Map<string, Topic>();
  private readonly byId = new Map<Uuid, Topic>();
  /** Serializes creations and deletions so two requests never build the same topic at once. */
  private changes: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly logs: LogManager,
    readonly configs: TopicConfigStore,
    private readonly log: Logger,
  ) {}

  /** Builds the topic table from the logs the LogManager loaded. */
  async load(): Promise<void> {
    const byTopic = new Map<string, Map<number, Log>>();
    for (const l of this.logs.allLogs()) {
      const { topic, partition } = l.topicPartition;
      let m = byTopic.get(topic);
      if (m === undefined) byTopic.set(topic, (m = new Map()));
      m.set(partition, l);
    }
    for (const [name, logs] of byTopic) {
      const count = Math.max(...logs.keys()) + 1;
      let topicId: Uuid | null = null;
      for (const l of logs.values()) {
        topicId ??= await readPartitionMetadata(path.join(this.logs.logDir, partitionDirName(l.topicPartition)));
      }
      topicId ??= newTopicId();
      const partitions: Partition[] = [];
      for (let i = 0; i < count; i++) {
        const log = logs.get(i) ?? (await this.logs.getOrCreateLog({ topic: name, partition: i }));
        await this.ensureMetadata(name, i, topicId);
        partitions.push(new Partition(name, i, topicId, log));
      }
      this.add({ name, topicId, partitions, isInternal: isInternalTopic(name) });
    }
  }

  private add(topic: Topic): void {
    this.topics.set(topic.name, topic);
    this.byId.set(topic.topicId, topic);
  }

  private async ensureMetadata(topic: string, partition: number, topicId: Uuid): Promise<void> {
    const dir = path.join(this.logs.logDir, partitionDirName({ topic, partition }));
    if ((await readPartitionMetadata(dir)) !== topicId) await writePartitionMetadata(dir, topicId);
  }

  get(name: string): Topic | undefined {
    return this.topics.get(name);
  }

  getById(topicId: Uuid): Topic | undefined {
    return this.byId.get(topicId);
  }

  all(): Topic[] {
    return [...this.topics.values()];
  }

  partition(topic: string, index: number): Partition | undefined {
    return this.topics.get(topic)?.partitions[index];
  }

  /** Creates a topic; KafkaError TOPIC_ALREADY_EXISTS, INVALID_TOPIC_EXCEPTION or INVALID_PARTITIONS otherwise. */
  create(name: string, numPartitions: number, configs: ReadonlyMap<string, string> = new Map()): Promise<Topic> {
    const reason = invalidTopicNameReason(name);
    if (reason !== null) return Promise.reject(new KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION, reason));
    if (!Number.isInteger(numPartitions) || numPartitions < 1 || numPartitions > MAX_PARTITIONS_PER_TOPIC) {
      return Promise.reject(
        new KafkaError(
          ErrorCode.INVALID_PARTITIONS,
          `Number of partitions must be between 1 and ${MAX_PARTITIONS_PER_TOPIC}.`,
        ),
      );
    }
    return this.serialize(async () => {
      if (this.topics.has(name))
        throw new KafkaError(ErrorCode.TOPIC_ALREADY_EXISTS, `Topic '${name}' already exists.`);
      const topicId = newTopicId();
      // Configs first: the logs read them when they open.
      await this.configs.set(name, configs);
      const partitions: Partition[] = [];
      for (let i = 0; i < numPartitions; i++) partitions.push(await this.openPartition(name, i, topicId));
      const topic: Topic = { name, topicId, partitions, isInternal: isInternalTopic(name) };
      this.add(topic);
      this.log.info({ topic: name, topicId, partitions: numPartitions }, "topic created");
      return topic;
    });
  }

  private async openPartition(name: string, index: number, topicId: Uuid): Promise<Partition> {
    const log = await this.logs.getOrCreateLog({ topic: name, partition: index });
    await this.ensureMetadata(name, index, topicId);
    return new Partition(name, index, topicId, log);
  }

  /** Grows a topic to `total` partitions (Kafka never shrinks one). */
  createPartitions(name: string, total: number): Promise<Topic> {
    return this.serialize(async () => {
      const topic = this.topics.get(name);
      if (topic === undefined)
        throw new KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Topic '${name}' does not exist.`);
      const current = topic.partitions.length;
      if (!Number.isInteger(total) || total <= current || total > MAX_PARTITIONS_PER_TOPIC) {
        throw new KafkaError(
          ErrorCode.INVALID_PARTITIONS,
          `Topic currently has ${current} partitions, ${total} would not be an increase.`,
        );
      }
      for (let i = current; i < total; i++) topic.partitions.push(await this.openPartition(name, i, topic.topicId));
      this.log.info({ topic: name, partitions: total }, "partitions added");
      return topic;
    });
  }

  /**
   * Replaces a topic's config overrides (persisted first, then applied to its open partition
   * logs; Produce reads the timestamp configs per request, so every topic config is live).
   */
  alterConfigs(name: string, configs: ReadonlyMap<string, string>): Promise<void> {
    return this.serialize(async () => {
      if (!this.topics.has(name))
        throw new KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Topic '${name}' does not exist.`);
      await this.configs.set(name, configs);
      this.logs.reconfigure(name);
      this.log.info({ topic: name, configs: Object.fromEntries(configs) }, "topic configs altered");
    });
  }

  /** Deletes a topic and its data. */
  delete(name: string): Promise<void> {
    return this.serialize(async () => {
      const topic = this.topics.get(name);
      if (topic === undefined)
        throw new KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Topic '${name}' does not exist.`);
      this.topics.delete(name);
      this.byId.delete(topic.topicId);
      for (const p of topic.partitions) await this.logs.deleteLog(p.log.topicPartition);
      await this.configs.set(name, null);
      this.log.info({ topic: name, topicId: topic.topicId }, "topic deleted");
    });
  }

  private serialize<T>(task: () => Promise<T>): Promise<T> {
    const run = this.changes.then(task);
    this.changes = run.catch(() => undefined);
    return run;
  }
}
