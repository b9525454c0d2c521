/**
 * Topic-level configs Samsa honours today: Kafka's names, each with the broker config that
 * supplies its default (its synonym, Kafka's ServerTopicConfigSynonyms), so DescribeConfigs can
 * say where a value comes from, and the LogConfig field it sets. Every topic config can change at
 * runtime, as in Kafka; TopicManager.alterConfigs re-applies them to the partition logs.
 */
import path from "node:path";
import type { CleanupPolicy, LogConfig } from "../log/config.js";
import { readJsonFile, writeJsonFile } from "../util/json-file.js";
import {
  type BrokerConfig,
  type BrokerConfigSource,
  brokerConfigDef,
  brokerConfigSynonyms,
  type ConfigSynonym,
} from "./broker-config.js";
import {
  type ConfigDef,
  ConfigError,
  type ConfigValue,
  formatConfigValue,
  LONG_MAX,
  normalizeConfigText,
  parseConfigValue,
} from "./config-def.js";

export interface TopicConfigDef extends ConfigDef {
  /** The broker config whose value is this topic config's default (the first of Kafka's synonyms). */
  brokerSynonym: string | null;
  /**
   * The broker synonyms in other units, used in order when brokerSynonym is unset, with the
   * factor to milliseconds: segment.ms falls back to log.roll.hours × 3,600,000.
   */
  fallbackSynonyms?: readonly { name: string; toMs: number }[];
  /** The LogConfig field this config sets in the partition logs (none: read by a handler, or no effect). */
  logConfig?: keyof LogConfig;
}

const MiB = 1024 * 1024;
const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;

export const TOPIC_CONFIG_DEFS: readonly TopicConfigDef[] = [
  {
    name: "segment.bytes",
    type: "int",
    default: 1024 * MiB,
    min: 14,
    brokerSynonym: "log.segment.bytes",
    logConfig: "segmentBytes",
    doc: "Size at which a segment rolls.",
  },
  {
    name: "segment.ms",
    type: "long",
    default: 604800000,
    min: 1,
    brokerSynonym: "log.roll.ms",
    fallbackSynonyms: [{ name: "log.roll.hours", toMs: HOUR_MS }],
    logConfig: "segmentMs",
    doc: "Age at which a segment rolls.",
  },
  {
    name: "segment.jitter.ms",
    type: "long",
    default: 0,
    min: 0,
    brokerSynonym: "log.roll.jitter.ms",
    fallbackSynonyms: [{ name: "log.roll.jitter.hours", toMs: HOUR_MS }],
    logConfig: "segmentJitterMs",
    doc: "Largest random amount by which a segment's roll deadline is brought forward.",
  },
  {
    name: "segment.index.bytes",
    type: "int",
    default: 10 * MiB,
    min: 4,
    brokerSynonym: "log.index.size.max.bytes",
    logConfig: "segmentIndexBytes",
    doc: "Size of each index file.",
  },
  {
    name: "index.interval.bytes",
    type: "int",
    default: 4096,
    min: 0,
    brokerSynonym: "log.index.interval.bytes",
    logConfig: "indexIntervalBytes",
    doc: "Bytes between offset index entries.",
  },
  {
    name: "flush.messages",
    type: "long",
    default: LONG_MAX,
    min: 1,
    brokerSynonym: "log.flush.interval.messages",
    logConfig: "flushMessages",
    doc: "fsync after this many records.",
  },
  {
    name: "flush.ms",
    type: "long",
    default: LONG_MAX,
    min: 0,
    brokerSynonym: "log.flush.interval.ms",
    logConfig: "flushMs",
    doc: "fsync when unflushed data is this old.",
  },
  {
    name: "max.message.bytes",
    type: "int",
    default: MiB + 12,
    min: 0,
    brokerSynonym: "message.max.bytes",
    logConfig: "maxMessageBytes",
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
  {
    name: "cleanup.policy",
    type: "list",
    default: ["delete"],
    oneOf: ["delete", "compact"],
    brokerSynonym: "log.cleanup.policy",
    logConfig: "cleanupPolicy",
    doc: "delete (retention), compact (keep the last record per key), or both.",
  },
  {
    name: "retention.ms",
    type: "long",
    default: 604800000,
    min: -1,
    brokerSynonym: "log.retention.ms",
    fallbackSynonyms: [
      { name: "log.retention.minutes", toMs: MINUTE_MS },
      { name: "log.retention.hours", toMs: HOUR_MS },
    ],
    logConfig: "retentionMs",
    doc: "Delete a segment once its newest record is this old; -1 keeps forever.",
  },
  {
    name: "retention.bytes",
    type: "long",
    default: -1,
    brokerSynonym: "log.retention.bytes",
    logConfig: "retentionBytes",
    doc: "Delete the oldest segments while a partition is larger than this; negative means no limit.",
  },
  {
    name: "delete.retention.ms",
    type: "long",
    default: 86400000,
    min: 0,
    brokerSynonym: "log.cleaner.delete.retention.ms",
    logConfig: "deleteRetentionMs",
    doc: "How long a tombstone stays in a compacted log after the cleaner first sees it.",
  },
  {
    name: "min.cleanable.dirty.ratio",
    type: "double",
    default: 0.5,
    min: 0,
    max: 1,
    brokerSynonym: "log.cleaner.min.cleanable.ratio",
    logConfig: "minCleanableDirtyRatio",
    doc: "Share of uncleaned bytes above which a compacted log is cleaned.",
  },
  {
    name: "min.compaction.lag.ms",
    type: "long",
    default: 0,
    min: 0,
    brokerSynonym: "log.cleaner.min.compaction.lag.ms",
    logConfig: "minCompactionLagMs",
    doc: "Records younger than this are never compacted.",
  },
  {
    name: "max.compaction.lag.ms",
    type: "long",
    default: LONG_MAX,
    min: 1,
    brokerSynonym: "log.cleaner.max.compaction.lag.ms",
    logConfig: "maxCompactionLagMs",
    doc: "A record older than this makes the log cleanable whatever its dirty ratio.",
  },
  {
    name: "file.delete.delay.ms",
    type: "long",
    default: 60000,
    min: 0,
    brokerSynonym: "log.segment.delete.delay.ms",
    logConfig: "fileDeleteDelayMs",
    doc: "A deleted segment's files are renamed .deleted and removed this long afterwards.",
  },
  {
    name: "compression.type",
    type: "string",
    default: "producer",
    oneOf: ["producer"],
    unsupportedValues: ["uncompressed", "zstd", "lz4", "snappy", "gzip"],
    brokerSynonym: "compression.type",
    doc: "Batches are stored as the producer compressed them (producer); recompression is not supported.",
  },
  {
    name: "min.insync.replicas",
    type: "int",
    default: 1,
    min: 1,
    brokerSynonym: "min.insync.replicas",
    noEffect:
      "not enforced: acks=all completes once this broker has the write (Kafka would answer NOT_ENOUGH_REPLICAS for a value above the 1 replica a single node has)",
    doc: "Replicas that must have a write before an acks=all produce succeeds.",
  },
  {
    name: "unclean.leader.election.enable",
    type: "boolean",
    default: false,
    brokerSynonym: "unclean.leader.election.enable",
    noEffect: "a single node has no other replica to elect",
    doc: "Allow an out-of-sync replica to become leader.",
  },
];

/**
 * Kafka topic configs Samsa does not implement: named in the error, so a user knows the key is
 * right but unsupported rather than misspelt.
 */
export const UNSUPPORTED_KAFKA_TOPIC_CONFIGS: readonly string[] = [
  "compression.gzip.level",
  "compression.lz4.level",
  "compression.zstd.level",
  "preallocate",
  "message.format.version",
  "message.timestamp.difference.max.ms",
  "message.downconversion.enable",
  "leader.replication.throttled.replicas",
  "follower.replication.throttled.replicas",
  "remote.storage.enable",
  "local.retention.ms",
  "local.retention.bytes",
  "remote.log.copy.disable",
  "remote.log.delete.on.disable",
];

const BY_NAME = new Map(TOPIC_CONFIG_DEFS.map((d) => [d.name, d]));

export function topicConfigDef(name: string): TopicConfigDef | undefined {
  return BY_NAME.get(name);
}

/** The definition of a topic config; ConfigError naming the key and listing the known ones otherwise. */
export function requireTopicConfigDef(name: string): TopicConfigDef {
  const def = BY_NAME.get(name);
  if (def === undefined) {
    if (UNSUPPORTED_KAFKA_TOPIC_CONFIGS.includes(name))
      throw new ConfigError(name, `Topic config ${name} is not supported by Samsa.`);
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
  const parsed = parseConfigValue(def, value);
  // Kafka takes an empty cleanup.policy as "neither"; Samsa's logs need at least one policy.
  if (Array.isArray(parsed) && def.name === "cleanup.policy" && parsed.length === 0)
    throw new ConfigError(
      name,
      `cleanup.policy must be delete, compact or both; an empty list is not supported by Samsa.`,
    );
  return parsed;
}

/** Where a topic config's value comes from: the topic's override, a broker layer, or Kafka's default. */
export type TopicConfigSource = "topic" | BrokerConfigSource;

/** The broker's value for a topic config in topic units (its first synonym set in any layer, else a fallback in other units), or null. */
function brokerValue(
  def: TopicConfigDef,
  broker: BrokerConfig,
): { value: ConfigValue; source: BrokerConfigSource } | null {
  if (def.brokerSynonym === null) return null;
  const chain = [{ name: def.brokerSynonym, toMs: 1 }, ...(def.fallbackSynonyms ?? [])];
  for (const { name, toMs } of chain) {
    const bdef = brokerConfigDef(name);
    if (bdef === undefined) continue;
    const entry = broker.entry(bdef);
    if (entry.value === null) continue;
    let value = entry.value;
    if (typeof value === "number") {
      value = Math.min(value * toMs, LONG_MAX);
      // Kafka's KafkaConfig.logRetentionTimeMillis: any negative broker retention means "forever".
      if (def.name === "retention.ms" && value < 0) value = -1;
    }
    return { value, source: entry.source };
  }
  return null;
}

/**
 * The effective value of a topic config: its override, else the broker's synonym (dynamic for
 * this broker, dynamic cluster default, static, Kafka's broker default — in other units where
 * the first synonym is unset, e.g. log.retention.hours), else the topic default.
 */
export function effectiveTopicConfig(
  def: TopicConfigDef,
  overrides: ReadonlyMap<string, string>,
  broker: BrokerConfig,
): { value: string; source: TopicConfigSource } {
  const own = overrides.get(def.name);
  if (own !== undefined) return { value: normalizeConfigText(def, own), source: "topic" };
  const b = brokerValue(def, broker);
  if (b !== null) return { value: formatConfigValue(def, b.value) ?? "", source: b.source };
  return { value: formatConfigValue(def, def.default) ?? "", source: "default" };
}

/**
 * DescribeConfigs synonyms of a topic config, highest precedence first: the topic override, then
 * the broker synonyms by layer (dynamic broker, dynamic default, static, default), each layer in
 * synonym order (log.retention.ms, .minutes, .hours). Values are the broker configs' own.
 */
export function topicConfigSynonyms(
  def: TopicConfigDef,
  overrides: ReadonlyMap<string, string>,
  broker: BrokerConfig,
): { name: string; value: string | null; source: TopicConfigSource }[] {
  const out: { name: string; value: string | null; source: TopicConfigSource }[] = [];
  const own = overrides.get(def.name);
  if (own !== undefined) out.push({ name: def.name, value: normalizeConfigText(def, own), source: "topic" });
  if (def.brokerSynonym !== null) {
    const names = new Set([def.brokerSynonym, ...brokerConfigSynonyms(def.brokerSynonym)]);
    const all: ConfigSynonym[] = [];
    for (const n of names)
      if (brokerConfigDef(n) !== undefined) all.push(...broker.synonyms(n).filter((s) => s.name === n));
    const order = ["dynamic-broker", "dynamic-default", "static", "default"];
    const rank = [...names];
    all.sort(
      (x, y) => order.indexOf(x.source) - order.indexOf(y.source) || rank.indexOf(x.name) - rank.indexOf(y.name),
    );
    for (const s of all) {
      const bdef = brokerConfigDef(s.name);
      out.push({ name: s.name, value: bdef === undefined ? null : formatConfigValue(bdef, s.value), source: s.source });
    }
  }
  return out;
}

/** A topic's effective config value by name (for handlers that apply topic configs, e.g. Produce). */
export function topicConfigValue(name: string, overrides: ReadonlyMap<string, string>, broker: BrokerConfig): string {
  const def = BY_NAME.get(name);
  if (def === undefined) throw new Error(`no topic config ${name}`);
  return effectiveTopicConfig(def, overrides, broker).value;
}

/** A parsed topic config value as its LogConfig field: Long.MAX_VALUE is "never" (Infinity); negative retention.bytes is -1. */
function toLogConfigValue(def: TopicConfigDef, value: ConfigValue): LogConfig[keyof LogConfig] {
  if (Array.isArray(value)) return Object.freeze([...value]) as readonly CleanupPolicy[];
  const n = value as number;
  if (n >= LONG_MAX) return Number.POSITIVE_INFINITY;
  if (def.name === "retention.bytes" && n < 0) return -1;
  return n;
}

function setLogConfig(out: Partial<LogConfig>, def: TopicConfigDef, value: ConfigValue): void {
  if (def.logConfig === undefined || value === null) return;
  (out as Record<keyof LogConfig, LogConfig[keyof LogConfig]>)[def.logConfig] = toLogConfigValue(def, value);
}

/** Topic overrides as LogConfig fields, for the partition logs of that topic. */
export function logConfigOverrides(overrides: ReadonlyMap<string, string>): Partial<LogConfig> {
  const out: Partial<LogConfig> = {};
  for (const [name, text] of overrides) {
    const def = BY_NAME.get(name);
    if (def === undefined) continue;
    let value: ConfigValue;
    try {
      value = parseTopicConfig(name, text);
    } catch {
      continue; // stored before a bound tightened: the broker default applies, as for an unknown key
    }
    setLogConfig(out, def, value);
  }
  return out;
}

/** The broker's log.* configs as LogConfig fields: the defaults of every partition log. */
export function logConfigDefaultsFromBroker(broker: BrokerConfig): Partial<LogConfig> {
  const out: Partial<LogConfig> = {};
  for (const def of TOPIC_CONFIG_DEFS) setLogConfig(out, def, brokerValue(def, broker)?.value ?? def.default);
  return out;
}

/** What a topic without overrides has: one shared map, so that its identity says "unchanged" to a cache. */
const NO_OVERRIDES: ReadonlyMap<string, string> = new Map();

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

  /** A topic's overrides; `set` replaces the map, so a map returned here is never changed afterwards. */
  get(topic: string): ReadonlyMap<string, string> {
    return this.overrides.get(topic) ?? NO_OVERRIDES;
  }

  async set(topic: string, configs: ReadonlyMap<string, string> | null): Promise<void> {
    if (configs === null || configs.size === 0) this.overrides.delete(topic);
    else this.overrides.set(topic, new Map(configs));
    const topics = Object.fromEntries([...this.overrides].map(([t, c]) => [t, Object.fromEntries(c)]));
    await writeJsonFile(this.file, { version: 1, topics });
  }
}
