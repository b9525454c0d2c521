/**
 * The broker configs Samsa honours today, with Kafka's names and defaults. An unknown key is an
 * error (a typo must not silently fall back to a default).
 */
import { readFile } from "node:fs/promises";
import { parseProperties } from "../util/java-properties.js";
import { type ConfigDef, ConfigError, type ConfigValue, LONG_MAX, parseConfigValue } from "./config-def.js";

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
    dynamic: true,
    doc: "Age in hours at which a log segment rolls.",
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
];

const BY_NAME = new Map(BROKER_CONFIG_DEFS.map((d) => [d.name, d]));

export function brokerConfigDef(name: string): ConfigDef | undefined {
  return BY_NAME.get(name);
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
  if (def === undefined) throw new ConfigError(name, `Unknown broker config "${name}".`);
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

export class BrokerConfig {
  /** Text of the dynamic overrides per scope, as AlterConfigs sent them (what is persisted). */
  private readonly dynamicText: Record<DynamicScope, Map<string, string>> = {
    "dynamic-broker": new Map(),
    "dynamic-default": new Map(),
  };
  private readonly dynamic: Record<DynamicScope, Map<string, ConfigValue>> = {
    "dynamic-broker": new Map(),
    "dynamic-default": new Map(),
  };

  private constructor(private readonly staticValues: Map<string, ConfigValue>) {}

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
    return new BrokerConfig(values);
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

  bool(name: string): boolean {
    return this.get(name) as boolean;
  }

  string(name: string): string {
    return this.get(name) as string;
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
    this.dynamic[scope] = parsed;
    this.dynamicText[scope] = new Map(overrides);
  }
}
