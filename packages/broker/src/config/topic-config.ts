/**
 * Topic-level configs Samsa honours today: Kafka's names, each with the broker config that
 * supplies its default (its synonym), so DescribeConfigs can say where a value comes from.
 */
import path from "node:path";
import type { LogConfig } from "../log/config.js";
import { readJsonFile, writeJsonFile } from "../util/json-file.js";
import { type BrokerConfig, type BrokerConfigSource, brokerConfigDef } from "./broker-config.js";
import { type ConfigDef, ConfigError, type ConfigValue, LONG_MAX, parseConfigValue } from "./config-def.js";

export interface TopicConfigDef extends ConfigDef {
  /** The broker config whose value is this topic config's default. */
  brokerSynonym: string | null;
}

const MiB = 1024 * 1024;

export const TOPIC_CONFIG_DEFS: readonly TopicConfigDef[] = [
  {
    name: "segment.bytes",
    type: "int",
    default: 1024 * MiB,
    min: 14,
    brokerSynonym: "log.segment.bytes",
    doc: "Size at which a segment rolls.",
  },
  {
    name: "segment.ms",
    type: "long",
    default: 604800000,
    min: 1,
    brokerSynonym: "log.roll.ms",
    doc: "Age at which a segment rolls.",
  },
  {
    name: "segment.index.bytes",
    type: "int",
    default: 10 * MiB,
    min: 4,
    brokerSynonym: "log.index.size.max.bytes",
    doc: "Size of each index file.",
  },
  {
    name: "index.interval.bytes",
    type: "int",
    default: 4096,
    min: 0,
    brokerSynonym: "log.index.interval.bytes",
    doc: "Bytes between offset index entries.",
  },
  {
    name: "flush.messages",
    type: "long",
    default: LONG_MAX,
    min: 1,
    brokerSynonym: "log.flush.interval.messages",
    doc: "fsync after this many records.",
  },
  {
    name: "flush.ms",
    type: "long",
    default: LONG_MAX,
    min: 0,
    brokerSynonym: "log.flush.interval.ms",
    doc: "fsync when unflushed data is this old.",
  },
  {
    name: "max.message.bytes",
    type: "int",
    default: MiB + 12,
    min: 0,
    brokerSynonym: "message.max.bytes",
    doc: "Largest record batch accepted.",
  },
  {
    name: "message.timestamp.type",
    type: "string",
    default: "CreateTime",
    oneOf: ["CreateTime", "LogAppendTime"],
    brokerSynonym: "log.message.timestamp.type",
    doc: "Producer timestamps or append time.",
  },
  {
    name: "message.timestamp.before.max.ms",
    type: "long",
    default: LONG_MAX,
    min: 0,
    brokerSynonym: "log.message.timestamp.before.max.ms",
    doc: "How old a CreateTime timestamp may be.",
  },
  {
    name: "message.timestamp.after.max.ms",
    type: "long",
    default: 3600000,
    min: 0,
    brokerSynonym: "log.message.timestamp.after.max.ms",
    doc: "How far ahead a CreateTime timestamp may be.",
  },
];

const BY_NAME = new Map(TOPIC_CONFIG_DEFS.map((d) => [d.name, d]));

export function topicConfigDef(name: string): TopicConfigDef | undefined {
  return BY_NAME.get(name);
}

/** The definition of a topic config; ConfigError naming the key and listing the known ones otherwise. */
export function requireTopicConfigDef(name: string): TopicConfigDef {
  const def = BY_NAME.get(name);
  if (def === undefined) {
    throw new ConfigError(
      name,
      `Unknown topic config "${name}"; topic configs are: ${TOPIC_CONFIG_DEFS.map((d) => d.name).join(", ")}.`,
    );
  }
  return def;
}

/** Validates a topic config override; throws ConfigError naming the key. */
export function parseTopicConfig(name: string, value: string | null): ConfigValue {
  const def = requireTopicConfigDef(name);
  if (value === null) throw new ConfigError(name, `Topic config ${name} needs a value.`);
  return parseConfigValue(def, value);
}

/** Where a topic config's value comes from: the topic's override, a broker layer, or Kafka's default. */
export type TopicConfigSource = "topic" | BrokerConfigSource;

/**
 * The effective value of a topic config: its override, else the broker's synonym (dynamic for
 * this broker, dynamic cluster default, static), else the default.
 */
export function effectiveTopicConfig(
  def: TopicConfigDef,
  overrides: ReadonlyMap<string, string>,
  broker: BrokerConfig,
): { value: string; source: TopicConfigSource } {
  const own = overrides.get(def.name);
  if (own !== undefined) return { value: own, source: "topic" };
  const synonym = def.brokerSynonym === null ? undefined : brokerConfigDef(def.brokerSynonym);
  if (synonym !== undefined) {
    const b = broker.entry(synonym);
    if (!b.isDefault && b.value !== null) return { value: String(b.value), source: b.source };
  }
  if (def.name === "segment.ms") {
    // log.roll.ms is unset by default; the default comes from log.roll.hours.
    const hours = broker.entry(brokerConfigDef("log.roll.hours")!);
    return { value: String(broker.int("log.roll.hours") * 3_600_000), source: hours.source };
  }
  return { value: String(def.default), source: "default" };
}

/** A topic's effective config value by name (for handlers that apply topic configs, e.g. Produce). */
export function topicConfigValue(name: string, overrides: ReadonlyMap<string, string>, broker: BrokerConfig): string {
  const def = BY_NAME.get(name);
  if (def === undefined) throw new Error(`no topic config ${name}`);
  return effectiveTopicConfig(def, overrides, broker).value;
}

/** Topic overrides as LogConfig fields, for the partition logs of that topic. */
export function logConfigOverrides(overrides: ReadonlyMap<string, string>): Partial<LogConfig> {
  const num = (k: string) => {
    const v = overrides.get(k);
    return v === undefined ? undefined : Number(v);
  };
  const out: Partial<LogConfig> = {};
  const set = <K extends keyof LogConfig>(key: K, v: number | undefined) => {
    if (v !== undefined) out[key] = (v >= LONG_MAX ? Number.POSITIVE_INFINITY : v) as LogConfig[K];
  };
  set("segmentBytes", num("segment.bytes"));
  set("segmentMs", num("segment.ms"));
  set("segmentIndexBytes", num("segment.index.bytes"));
  set("indexIntervalBytes", num("index.interval.bytes"));
  set("flushMessages", num("flush.messages"));
  set("flushMs", num("flush.ms"));
  set("maxMessageBytes", num("max.message.bytes"));
  return out;
}

/**
 * Per-topic overrides, persisted as one JSON file in the data directory (written atomically), so
 * a topic created with configs keeps them across restarts.
 */
export class TopicConfigStore {
  private readonly file: string;
  private overrides = new Map<string, Map<string, string>>();

  constructor(dataDir: string) {
    this.file = path.join(dataDir, "topic-configs.json");
  }

  async load(): Promise<void> {
    const parsed = await readJsonFile<{ version: number; topics: Record<string, Record<string, string>> }>(this.file);
    if (parsed === null) return;
    this.overrides = new Map(Object.entries(parsed.topics).map(([t, c]) => [t, new Map(Object.entries(c))]));
  }

  get(topic: string): ReadonlyMap<string, string> {
    return this.overrides.get(topic) ?? new Map();
  }

  async set(topic: string, configs: ReadonlyMap<string, string> | null): Promise<void> {
    if (configs === null || configs.size === 0) this.overrides.delete(topic);
    else this.overrides.set(topic, new Map(configs));
    const topics = Object.fromEntries([...this.overrides].map(([t, c]) => [t, Object.fromEntries(c)]));
    await writeJsonFile(this.file, { version: 1, topics });
  }
}
