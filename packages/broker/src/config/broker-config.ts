/**
 * The broker configs Samsa honours today, with Kafka's names and defaults. An unknown key is an
 * error (a typo must not silently fall back to a default). `dynamic` marks exactly the configs
 * Kafka's DynamicBrokerConfig can change without a restart (its reconfigurable sets: the first
 * broker synonym of every topic config, the log cleaner's, the thread pools'); all of Samsa's are
 * "cluster-wide" in Kafka's terms, so they may be set per broker and as the cluster default.
 */
import { readFile } from "node:fs/promises";
import { parseProperties } from "../util/java-properties.js";
import { type ConfigDef, ConfigError, type ConfigValue, DOUBLE_MAX, LONG_MAX, parseConfigValue } from "./config-def.js";

const MiB = 1024 * 1024;

export const BROKER_CONFIG_DEFS: readonly ConfigDef[] = [
  { name: "node.id", type: "int", default: 0, min: 0, doc: "This broker's id in the cluster." },
  { name: "log.dirs", type: "string", default: "./samsa-data", doc: "Directory holding the partition logs." },
  {
    name: "auto.create.topics.enable",
    type: "boolean",
    default: true,
    doc: "Create a topic when a client asks for its metadata.",
  },
  { name: "num.partitions", type: "int", default: 1, min: 1, doc: "Partitions of an automatically created topic." },
  {
    name: "default.replication.factor",
    type: "short",
    default: 1,
    min: 1,
    doc: "Replication factor of automatically created topics.",
  },
  { name: "delete.topic.enable", type: "boolean", default: true, doc: "Allow DeleteTopics." },
  {
    name: "message.max.bytes",
    type: "int",
    default: MiB + 12,
    min: 0,
    dynamic: true,
    doc: "Largest record batch a topic accepts (topic config max.message.bytes).",
  },
  {
    name: "log.segment.bytes",
    type: "int",
    default: 1024 * MiB,
    min: 14,
    dynamic: true,
    doc: "Size at which a log segment rolls.",
  },
  {
    name: "log.roll.ms",
    type: "long",
    default: null,
    min: 1,
    dynamic: true,
    doc: "Age at which a log segment rolls; overrides log.roll.hours.",
  },
  {
    name: "log.roll.hours",
    type: "int",
    default: 168,
    min: 1,
    doc: "Age in hours at which a log segment rolls, when log.roll.ms is not set.",
  },
  {
    name: "log.roll.jitter.ms",
    type: "long",
    default: null,
    dynamic: true,
    doc: "Largest random amount subtracted from a segment's roll deadline; overrides log.roll.jitter.hours.",
  },
  {
    name: "log.roll.jitter.hours",
    type: "int",
    default: 0,
    min: 0,
    doc: "log.roll.jitter.ms in hours, when log.roll.jitter.ms is not set.",
  },
  {
    name: "log.index.size.max.bytes",
    type: "int",
    default: 10 * MiB,
    min: 4,
    dynamic: true,
    doc: "Maximum size of an offset or time index file.",
  },
  {
    name: "log.index.interval.bytes",
    type: "int",
    default: 4096,
    min: 0,
    dynamic: true,
    doc: "Bytes between two offset index entries.",
  },
  {
    name: "log.flush.interval.messages",
    type: "long",
    default: LONG_MAX,
    min: 1,
    dynamic: true,
    doc: "fsync after this many unflushed records (1 = before every acknowledgement).",
  },
  {
    name: "log.flush.interval.ms",
    type: "long",
    default: null,
    min: 0,
    dynamic: true,
    doc: "fsync when the oldest unflushed data is this old.",
  },
  {
    name: "log.message.timestamp.type",
    type: "string",
    default: "CreateTime",
    oneOf: ["CreateTime", "LogAppendTime"],
    dynamic: true,
    doc: "Keep the producer's timestamps or stamp the append time.",
  },
  {
    name: "log.message.timestamp.before.max.ms",
    type: "long",
    default: LONG_MAX,
    min: 0,
    dynamic: true,
    doc: "How far in the past a CreateTime timestamp may be.",
  },
  {
    name: "log.message.timestamp.after.max.ms",
    type: "long",
    default: 3600000,
    min: 0,
    dynamic: true,
    doc: "How far in the future a CreateTime timestamp may be.",
  },
  {
    name: "log.cleanup.policy",
    type: "list",
    default: ["delete"],
    oneOf: ["delete", "compact"],
    dynamic: true,
    doc: "What happens to old segments: delete (retention), compact (keep the last record per key), or both.",
  },
  {
    name: "log.retention.ms",
    type: "long",
    default: null,
    dynamic: true,
    doc: "Delete a segment once its newest record is this old; overrides log.retention.minutes; negative keeps forever.",
  },
  {
    name: "log.retention.minutes",
    type: "int",
    default: null,
    doc: "log.retention.ms in minutes, when log.retention.ms is not set; overrides log.retention.hours.",
  },
  {
    name: "log.retention.hours",
    type: "int",
    default: 168,
    doc: "log.retention.ms in hours, when neither log.retention.ms nor log.retention.minutes is set.",
  },
  {
    name: "log.retention.bytes",
    type: "long",
    default: -1,
    dynamic: true,
    doc: "Delete the oldest segments while a partition is larger than this; negative means no size limit.",
  },
  {
    name: "log.retention.check.interval.ms",
    type: "long",
    default: 300_000,
    min: 1,
    doc: "How often logs are checked for segments to delete by retention.",
  },
  {
    name: "producer.id.expiration.ms",
    type: "int",
    default: 86_400_000,
    min: 1,
    doc: "How long a partition keeps an idle producer's state (sequences, epoch) after its last write; a transaction in progress keeps it.",
  },
  {
    name: "producer.id.expiration.check.interval.ms",
    type: "int",
    default: 600_000,
    min: 1,
    doc: "How often partitions drop producers idle for longer than producer.id.expiration.ms.",
  },
  {
    name: "log.segment.delete.delay.ms",
    type: "long",
    default: 60_000,
    min: 0,
    dynamic: true,
    doc: "A deleted segment's files are renamed .deleted and removed this long afterwards.",
  },
  {
    name: "log.cleaner.enable",
    type: "boolean",
    default: true,
    doc: "Run the log cleaner, which compacts topics whose cleanup.policy includes compact.",
  },
  {
    name: "log.cleaner.threads",
    type: "int",
    default: 1,
    min: 0,
    dynamic: true,
    doc: "Logs cleaned at the same time; a runtime change may at most halve or double it.",
  },
  {
    name: "log.cleaner.backoff.ms",
    type: "long",
    default: 15_000,
    min: 0,
    dynamic: true,
    doc: "How long the cleaner waits when no log needs cleaning.",
  },
  {
    name: "log.cleaner.dedupe.buffer.size",
    type: "long",
    default: 128 * MiB,
    dynamic: true,
    doc: "Memory for the key-to-offset map of all cleaner threads (at least 1 MiB per thread).",
  },
  {
    name: "log.cleaner.io.buffer.load.factor",
    type: "double",
    default: 0.9,
    dynamic: true,
    doc: "How full the dedupe buffer may get before a cleaning pass stops (Kafka's name, not io related).",
  },
  {
    name: "log.cleaner.io.buffer.size",
    type: "int",
    default: 512 * 1024,
    min: 0,
    dynamic: true,
    doc: "Memory for the read and write buffers of all cleaner threads.",
  },
  {
    name: "log.cleaner.io.max.bytes.per.second",
    type: "double",
    default: DOUBLE_MAX,
    dynamic: true,
    doc: "Throttle on the cleaner's combined read and write rate (default: unthrottled).",
  },
  {
    name: "log.cleaner.delete.retention.ms",
    type: "long",
    default: 86_400_000,
    min: 0,
    dynamic: true,
    doc: "How long a tombstone stays in a compacted log after the cleaner first sees it.",
  },
  {
    name: "log.cleaner.min.cleanable.ratio",
    type: "double",
    default: 0.5,
    min: 0,
    max: 1,
    dynamic: true,
    doc: "Share of uncleaned bytes above which a compacted log is cleaned.",
  },
  {
    name: "log.cleaner.min.compaction.lag.ms",
    type: "long",
    default: 0,
    min: 0,
    dynamic: true,
    doc: "Records younger than this are never compacted.",
  },
  {
    name: "log.cleaner.max.compaction.lag.ms",
    type: "long",
    default: LONG_MAX,
    min: 1,
    dynamic: true,
    doc: "A record older than this makes its log cleanable whatever the dirty ratio.",
  },
  {
    name: "compression.type",
    type: "string",
    default: "producer",
    oneOf: ["producer"],
    unsupportedValues: ["uncompressed", "zstd", "lz4", "snappy", "gzip"],
    dynamic: true,
    doc: "Batches are stored as the producer compressed them (producer); recompression is not supported.",
  },
  {
    name: "min.insync.replicas",
    type: "int",
    default: 1,
    min: 1,
    dynamic: true,
    noEffect:
      "not enforced: acks=all completes once this broker has the write (Kafka would answer NOT_ENOUGH_REPLICAS for a value above the 1 replica a single node has)",
    doc: "Replicas that must have a write before an acks=all produce succeeds.",
  },
  {
    name: "unclean.leader.election.enable",
    type: "boolean",
    default: false,
    dynamic: true,
    noEffect: "a single node has no other replica to elect",
    doc: "Allow an out-of-sync replica to become leader.",
  },
  {
    name: "num.recovery.threads.per.data.dir",
    type: "int",
    default: 1,
    min: 1,
    dynamic: true,
    doc: "Partitions recovered in parallel at start-up.",
  },
  {
    name: "socket.request.max.bytes",
    type: "int",
    default: 100 * MiB,
    min: 1,
    doc: "Largest request frame; a larger one closes the connection.",
  },
  {
    name: "connections.max.idle.ms",
    type: "long",
    default: 600000,
    min: 1,
    doc: "Close connections idle for this long.",
  },
  {
    name: "queued.max.requests",
    type: "int",
    default: 500,
    min: 1,
    doc: "Unanswered requests per connection before reading pauses.",
  },
  {
    name: "queued.max.request.bytes",
    type: "long",
    default: -1,
    min: -1,
    doc: "Unanswered request bytes per connection before reading pauses (-1: 16 MiB).",
  },
  {
    name: "group.initial.rebalance.delay.ms",
    type: "int",
    default: 3000,
    min: 0,
    doc: "How long the first rebalance of an empty group waits for more members to join.",
  },
  {
    name: "group.min.session.timeout.ms",
    type: "int",
    default: 6000,
    min: 0,
    doc: "Smallest session timeout a group member may ask for.",
  },
  {
    name: "group.max.session.timeout.ms",
    type: "int",
    default: 1_800_000,
    min: 0,
    doc: "Largest session timeout a group member may ask for.",
  },
  {
    name: "group.max.size",
    type: "int",
    default: 2_147_483_647,
    min: 1,
    doc: "Most members one consumer group may have.",
  },
  {
    name: "offsets.topic.num.partitions",
    type: "int",
    default: 50,
    min: 1,
    doc: "Partitions of __consumer_offsets (fixed once the topic exists).",
  },
  {
    name: "offsets.topic.segment.bytes",
    type: "int",
    default: 104_857_600,
    min: 1,
    doc: "Segment size of __consumer_offsets.",
  },
  {
    name: "offsets.retention.minutes",
    type: "int",
    default: 10_080,
    min: 1,
    doc: "How long the committed offsets of a group without members are kept.",
  },
  {
    name: "offsets.retention.check.interval.ms",
    type: "long",
    default: 600_000,
    min: 1,
    doc: "How often expired committed offsets are looked for.",
  },
  {
    name: "offset.metadata.max.bytes",
    type: "int",
    default: 4096,
    min: 0,
    doc: "Largest metadata string a committed offset may carry.",
  },
  {
    name: "transaction.state.log.num.partitions",
    type: "int",
    default: 50,
    min: 1,
    doc: "Partitions of __transaction_state (fixed once the topic exists).",
  },
  {
    name: "transaction.state.log.segment.bytes",
    type: "int",
    default: 104_857_600,
    min: 1,
    doc: "Segment size of __transaction_state.",
  },
  {
    name: "transaction.max.timeout.ms",
    type: "int",
    default: 900_000,
    min: 1,
    doc: "Largest transaction timeout a producer may ask for; a longer one gets INVALID_TRANSACTION_TIMEOUT.",
  },
  {
    name: "transactional.id.expiration.ms",
    type: "int",
    default: 604_800_000,
    min: 1,
    doc: "How long a transactional id without an open transaction is kept after its last use.",
  },
  {
    name: "transaction.abort.timed.out.transaction.cleanup.interval.ms",
    type: "int",
    default: 10_000,
    min: 1,
    doc: "How often transactions open longer than their timeout are looked for (and aborted).",
  },
  {
    name: "transaction.remove.expired.transaction.cleanup.interval.ms",
    type: "int",
    default: 3_600_000,
    min: 1,
    doc: "How often expired transactional ids are looked for (and removed).",
  },
];

const BY_NAME = new Map(BROKER_CONFIG_DEFS.map((d) => [d.name, d]));

export function brokerConfigDef(name: string): ConfigDef | undefined {
  return BY_NAME.get(name);
}

/**
 * Configs that one value may be given in several units, highest precedence first (Kafka's
 * DynamicBrokerConfig.brokerConfigSynonyms): DescribeConfigs lists them as each other's synonyms.
 */
const SYNONYM_GROUPS: readonly (readonly string[])[] = [
  ["log.roll.ms", "log.roll.hours"],
  ["log.roll.jitter.ms", "log.roll.jitter.hours"],
  ["log.retention.ms", "log.retention.minutes", "log.retention.hours"],
];

/** The broker configs that give `name`'s value, highest precedence first (`name` alone for most). */
export function brokerConfigSynonyms(name: string): readonly string[] {
  return SYNONYM_GROUPS.find((g) => g.includes(name)) ?? [name];
}

/** One DescribeConfigs synonym: a config name, its value in one layer, and that layer. */
export interface ConfigSynonym {
  name: string;
  value: ConfigValue;
  source: BrokerConfigSource;
}

/**
 * Where a broker config's value comes from, highest precedence first (Kafka's DescribeConfigs
 * sources): a dynamic config for this broker, a dynamic cluster-wide default, server.properties
 * or --set, Kafka's default.
 */
export type BrokerConfigSource = "dynamic-broker" | "dynamic-default" | "static" | "default";

/** The two dynamic layers: AlterConfigs on resource "<node id>" and on resource "" (cluster default). */
export type DynamicScope = "dynamic-broker" | "dynamic-default";

export interface BrokerConfigEntry {
  def: ConfigDef;
  value: ConfigValue;
  source: BrokerConfigSource;
  /** No layer sets it: Kafka's default. */
  isDefault: boolean;
  /** Every layer that sets it, highest precedence first (DescribeConfigs synonyms). */
  layers: { source: BrokerConfigSource; value: ConfigValue }[];
}

/** The definition of a broker config that may change without a restart; ConfigError naming the key otherwise. */
export function requireDynamicBrokerConfigDef(name: string): ConfigDef {
  const def = BY_NAME.get(name);
  if (def === undefined)
    throw new ConfigError(name, `Unknown broker config "${name}" (not a Kafka config, or not supported by Samsa).`);
  if (def.dynamic !== true) {
    const dynamic = BROKER_CONFIG_DEFS.filter((d) => d.dynamic === true).map((d) => d.name);
    throw new ConfigError(
      name,
      `Broker config ${name} cannot be updated dynamically (it needs a restart); dynamic broker configs are: ${dynamic.join(", ")}.`,
    );
  }
  return def;
}

/** Validates a dynamic broker config update; throws ConfigError naming the key and what is allowed. */
export function parseDynamicBrokerConfig(name: string, value: string | null): ConfigValue {
  return parseConfigValue(requireDynamicBrokerConfigDef(name), value);
}

/** The smallest dedupe buffer per cleaner thread Kafka allows (KafkaConfig's validation). */
const MIN_DEDUPE_BUFFER_PER_THREAD_BYTES = MiB;

export class BrokerConfig {
  private readonly listeners = new Set<(names: readonly string[]) => void>();
  /** Text of the dynamic overrides per scope, as AlterConfigs sent them (what is persisted). */
  private readonly dynamicText: Record<DynamicScope, Map<string, string>> = {
    "dynamic-broker": new Map(),
    "dynamic-default": new Map(),
  };
  private readonly dynamic: Record<DynamicScope, Map<string, ConfigValue>> = {
    "dynamic-broker": new Map(),
    "dynamic-default": new Map(),
  };

  private generationValue = 0;

  private constructor(private readonly staticValues: Map<string, ConfigValue>) {}

  /** Moves at every dynamic update: what a cache of values derived from this config checks. */
  get generation(): number {
    return this.generationValue;
  }

  /** Kafka's checks across configs, at start-up and for every dynamic update. */
  private checkConsistency(): void {
    const threads = this.int("log.cleaner.threads");
    const dedupe = this.int("log.cleaner.dedupe.buffer.size");
    if (threads > 0 && dedupe / threads <= MIN_DEDUPE_BUFFER_PER_THREAD_BYTES) {
      throw new ConfigError(
        "log.cleaner.dedupe.buffer.size",
        `log.cleaner.dedupe.buffer.size must be more than 1 MiB per cleaner thread (log.cleaner.threads=${threads}), got ${dedupe}.`,
      );
    }
  }

  /** Kafka's properties defaults, overridden by a properties file's text and then by --set pairs. */
  static from(fileText: string | null, overrides: readonly string[]): BrokerConfig {
    const values = new Map<string, ConfigValue>();
    const apply = (key: string, text: string) => {
      const def = BY_NAME.get(key);
      if (def === undefined) throw new ConfigError(key, `Unknown config "${key}".`);
      values.set(key, parseConfigValue(def, text));
    };
    if (fileText !== null) for (const [k, v] of parseProperties(fileText)) apply(k, v);
    for (const pair of overrides) {
      const eq = pair.indexOf("=");
      if (eq <= 0) throw new ConfigError(pair, `--set expects key=value, not "${pair}".`);
      apply(pair.slice(0, eq).trim(), pair.slice(eq + 1));
    }
    const config = new BrokerConfig(values);
    config.checkConsistency();
    return config;
  }

  static async load(path: string | null, overrides: readonly string[]): Promise<BrokerConfig> {
    let text: string | null = null;
    if (path !== null) {
      try {
        text = await readFile(path, "utf8");
      } catch (e) {
        throw new ConfigError(
          path,
          `Cannot read config file ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}.`,
        );
      }
    }
    return BrokerConfig.from(text, overrides);
  }

  get(name: string): ConfigValue {
    const def = BY_NAME.get(name);
    if (def === undefined) throw new Error(`no broker config ${name}`);
    return this.layers(def)[0]?.value ?? def.default;
  }

  int(name: string): number {
    return this.get(name) as number;
  }

  /** A `double` config (log.cleaner.io.buffer.load.factor, log.cleaner.io.max.bytes.per.second ...). */
  double(name: string): number {
    return this.get(name) as number;
  }

  bool(name: string): boolean {
    return this.get(name) as boolean;
  }

  string(name: string): string {
    return this.get(name) as string;
  }

  /**
   * Every layer of `name` and of its unit synonyms (log.retention.ms/minutes/hours), as Kafka's
   * DescribeConfigs lists them: by layer (dynamic broker, dynamic default, static, default), each
   * layer in synonym precedence, starting at `name` itself (the higher-precedence synonyms set
   * above it are dropped, as Kafka does).
   */
  synonyms(name: string): ConfigSynonym[] {
    const names = brokerConfigSynonyms(name);
    const out: ConfigSynonym[] = [];
    for (const source of ["dynamic-broker", "dynamic-default", "static", "default"] as const) {
      for (const n of names) {
        const def = BY_NAME.get(n);
        if (def === undefined) continue;
        if (source === "default") {
          if (def.default !== null) out.push({ name: n, value: def.default, source });
        } else {
          const layer = this.layers(def).find((l) => l.source === source);
          if (layer !== undefined) out.push({ name: n, value: layer.value, source });
        }
      }
    }
    const first = out.findIndex((s) => s.name === name);
    return first < 0 ? [] : out.slice(first);
  }

  /**
   * Checks a dynamic update of `scope` without applying it: every key and value, Kafka's
   * cross-config rules, and the cleaner's rule that a runtime change of log.cleaner.threads may at
   * most halve or double it. Throws ConfigError naming the key.
   */
  checkDynamicUpdate(scope: DynamicScope, overrides: ReadonlyMap<string, string>): void {
    const next = new BrokerConfig(this.staticValues);
    for (const s of ["dynamic-broker", "dynamic-default"] as const) {
      next.dynamic[s] = this.dynamic[s];
      next.dynamicText[s] = this.dynamicText[s];
    }
    next.setDynamic(scope, overrides);
    next.checkConsistency();
    const current = this.int("log.cleaner.threads");
    const threads = next.int("log.cleaner.threads");
    if (threads !== current) {
      const problem =
        threads < 1
          ? "at least 1"
          : threads < Math.floor(current / 2)
            ? `at least half the current value ${current}`
            : threads > current * 2
              ? `at most double the current value ${current}`
              : null;
      if (problem !== null)
        throw new ConfigError(
          "log.cleaner.threads",
          `log.cleaner.threads must be ${problem} at runtime, got ${threads}.`,
        );
    }
  }

  /** Calls `listener` with the names whose dynamic value changed, after each dynamic update; returns an unsubscribe. */
  onDynamicChange(listener: (names: readonly string[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private layers(def: ConfigDef): { source: BrokerConfigSource; value: ConfigValue }[] {
    const out: { source: BrokerConfigSource; value: ConfigValue }[] = [];
    for (const scope of ["dynamic-broker", "dynamic-default"] as const) {
      if (this.dynamic[scope].has(def.name))
        out.push({ source: scope, value: this.dynamic[scope].get(def.name) ?? null });
    }
    if (this.staticValues.has(def.name)) out.push({ source: "static", value: this.staticValues.get(def.name) ?? null });
    return out;
  }

  /** Every config with its current value and where that comes from. */
  entries(): BrokerConfigEntry[] {
    return BROKER_CONFIG_DEFS.map((def) => this.entry(def));
  }

  entry(def: ConfigDef): BrokerConfigEntry {
    const layers = this.layers(def);
    const top = layers[0];
    return {
      def,
      value: top === undefined ? def.default : top.value,
      source: top?.source ?? "default",
      isDefault: top === undefined,
      layers,
    };
  }

  /** The dynamic overrides of one scope, as text. */
  dynamicOverrides(scope: DynamicScope): ReadonlyMap<string, string> {
    return this.dynamicText[scope];
  }

  /**
   * Replaces every dynamic override of `scope` (AlterConfigs semantics; IncrementalAlterConfigs
   * computes the whole new set first). Validates everything before changing anything.
   */
  setDynamic(scope: DynamicScope, overrides: ReadonlyMap<string, string>): void {
    const parsed = new Map<string, ConfigValue>();
    for (const [k, v] of overrides) parsed.set(k, parseDynamicBrokerConfig(k, v));
    const previous = this.dynamicText[scope];
    this.dynamic[scope] = parsed;
    this.dynamicText[scope] = new Map(overrides);
    this.generationValue++;
    const changed = [...new Set([...previous.keys(), ...overrides.keys()])].filter(
      (k) => previous.get(k) !== overrides.get(k),
    );
    if (changed.length > 0) for (const listener of this.listeners) listener(changed);
  }
}
