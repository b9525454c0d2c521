/**
 * One description per config: Kafka's name, type, default, validation and a one-line doc.
 * Validation, `samsa start` flags, DescribeConfigs and docs/configs.md (scripts/docs/) all read these.
 */

export type ConfigType = "boolean" | "int" | "long" | "short" | "double" | "string" | "list" | "password";

export type ConfigValue = boolean | number | string | string[] | null;

export interface ConfigDef {
  name: string;
  type: ConfigType;
  /** null means "not set" (Kafka's null default), e.g. log.roll.ms falls back to log.roll.hours. */
  default: ConfigValue;
  doc: string;
  /** Inclusive bounds for numeric configs. */
  min?: number;
  max?: number;
  /** Allowed values for string configs, or for each item of a list config. */
  oneOf?: readonly string[];
  /** Values Kafka accepts that Samsa does not implement: rejected with "not supported by Samsa". */
  unsupportedValues?: readonly string[];
  /** Can change without a restart (Kafka's dynamic broker configs / topic configs). */
  dynamic?: boolean;
  /**
   * Accepted and described for compatibility, but nothing reads it on a single node yet
   * (e.g. min.insync.replicas): the reason, for the docs page.
   */
  noEffect?: string;
}

/** A config problem, phrased as one sentence naming the key, for the CLI and INVALID_CONFIG. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(message);
  }
}

const INT_MIN = -(2 ** 31);
const INT_MAX = 2 ** 31 - 1;
const LONG_MIN_BIG = -(2n ** 63n);
const LONG_MAX_BIG = 2n ** 63n - 1n;
/** Kafka's Long.MAX_VALUE defaults ("never"); JS numbers hold it only approximately, so it is "infinite". */
export const LONG_MAX = Number.MAX_SAFE_INTEGER;
/** How Kafka prints Long.MAX_VALUE; LONG_MAX is shown this way. */
export const LONG_MAX_TEXT = "9223372036854775807";
/** Java's Double.MAX_VALUE (log.cleaner.io.max.bytes.per.second's "unthrottled" default). */
export const DOUBLE_MAX = Number.MAX_VALUE;

const TYPE_RANGE: Partial<Record<ConfigType, [number, number]>> = {
  short: [-32768, 32767],
  int: [INT_MIN, INT_MAX],
};

/** What a config accepts, as a phrase: "a long >= -1", "one of CreateTime, LogAppendTime". */
export function describeAllowed(def: ConfigDef): string {
  switch (def.type) {
    case "boolean":
      return "true or false";
    case "list":
      return def.oneOf === undefined ? "a comma-separated list" : `a comma-separated list of ${def.oneOf.join(", ")}`;
    case "string":
    case "password":
      return def.oneOf === undefined ? "a string" : `one of ${def.oneOf.join(", ")}`;
    default: {
      const article = def.type === "int" ? "an" : "a";
      const min = def.min === undefined ? undefined : formatNumber(def, def.min);
      const max = def.max === undefined ? undefined : formatNumber(def, def.max);
      if (min !== undefined && max !== undefined) return `${article} ${def.type} in [${min}, ${max}]`;
      if (min !== undefined) return `${article} ${def.type} >= ${min}`;
      if (max !== undefined) return `${article} ${def.type} <= ${max}`;
      return `${article} ${def.type}`;
    }
  }
}

function invalid(def: ConfigDef, text: string): ConfigError {
  return new ConfigError(def.name, `${def.name} must be ${describeAllowed(def)}, got ${text === "" ? '""' : text}.`);
}

/** Parses a textual value (from a properties file, --set or AlterConfigs) by the def's type and checks it. */
export function parseConfigValue(def: ConfigDef, text: string | null): ConfigValue {
  if (text === null) {
    if (def.default !== null) throw new ConfigError(def.name, `${def.name} cannot be empty.`);
    return null;
  }
  const t = text.trim();
  let value: ConfigValue;
  switch (def.type) {
    case "boolean":
      // Kafka's ConfigDef accepts any case.
      if (t.toLowerCase() !== "true" && t.toLowerCase() !== "false") throw invalid(def, t);
      value = t.toLowerCase() === "true";
      break;
    case "short":
    case "int":
    case "long": {
      if (!/^[-+]?\d+$/.test(t)) throw invalid(def, t);
      if (def.type === "long") {
        const big = BigInt(t);
        if (big < LONG_MIN_BIG || big > LONG_MAX_BIG) throw invalid(def, t);
        value = Math.max(Math.min(Number(big), LONG_MAX), -LONG_MAX);
      } else {
        const n = Number(t);
        const [lo, hi] = TYPE_RANGE[def.type] ?? [INT_MIN, INT_MAX];
        if (n < lo || n > hi) throw invalid(def, t);
        value = n;
      }
      break;
    }
    case "double": {
      const n = Number(t);
      if (t === "" || Number.isNaN(n) || !/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t)) throw invalid(def, t);
      value = Number.isFinite(n) ? n : Math.sign(n) * DOUBLE_MAX;
      break;
    }
    case "list":
      value = t === "" ? [] : t.split(",").map((s) => s.trim());
      break;
    default:
      value = t;
  }
  checkConfigValue(def, value, t);
  return value;
}

/** Checks a parsed value against the def's range, allowed values and Samsa's support; `text` is what was given. */
export function checkConfigValue(def: ConfigDef, value: ConfigValue, text = formatConfigValue(def, value) ?? ""): void {
  const items = typeof value === "string" ? [value] : Array.isArray(value) ? value : [];
  const unsupported = items.find((v) => def.unsupportedValues?.includes(v));
  if (unsupported !== undefined) {
    throw new ConfigError(
      def.name,
      `${def.name}=${unsupported} is not supported by Samsa; ${def.name} must be ${describeAllowed(def)}.`,
    );
  }
  if (typeof value === "number") {
    if ((def.min !== undefined && value < def.min) || (def.max !== undefined && value > def.max))
      throw invalid(def, text);
  }
  if (def.oneOf !== undefined && items.some((v) => !def.oneOf?.includes(v))) throw invalid(def, text);
}

/** Java's Double.toString for the values configs hold: 0.5, 1.0, 1.7976931348623157E308. */
function javaDouble(n: number): string {
  if (Number.isInteger(n) && Math.abs(n) < 1e7) return `${n}.0`;
  if (n !== 0 && (Math.abs(n) >= 1e7 || Math.abs(n) < 1e-3)) {
    const [mantissa, exponent] = n.toExponential().split("e");
    return `${mantissa.includes(".") ? mantissa : `${mantissa}.0`}E${Number(exponent)}`;
  }
  return String(n);
}

function formatNumber(def: ConfigDef, n: number): string {
  if (def.type === "double") return javaDouble(n);
  if (def.type === "long" && n >= LONG_MAX) return LONG_MAX_TEXT;
  return String(n);
}

/** A value as Kafka prints it (DescribeConfigs, docs): lists comma-joined, Long.MAX_VALUE in full, doubles as Java. */
export function formatConfigValue(def: ConfigDef, value: ConfigValue): string | null {
  if (value === null) return null;
  if (Array.isArray(value)) return value.join(",");
  if (typeof value === "number") return formatNumber(def, value);
  return String(value);
}

/** A textual value in the form Kafka would describe it (e.g. " 0.50" as "0.5"); the text itself when it does not parse. */
export function normalizeConfigText(def: ConfigDef, text: string): string {
  try {
    return formatConfigValue(def, parseConfigValue(def, text)) ?? text;
  } catch {
    return text;
  }
}
