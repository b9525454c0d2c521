/**
 * One description per config: Kafka's name, type, default, validation and a one-line doc.
 * Validation, `samsa start` flags and (later) DescribeConfigs and the docs page all read these.
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
  /** Allowed values for string configs. */
  oneOf?: readonly string[];
  /** Can change without a restart (Kafka's dynamic broker configs / topic configs). */
  dynamic?: boolean;
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
/** Kafka's Long.MAX_VALUE defaults ("never"); JS numbers hold it only approximately, so it is "infinite". */
export const LONG_MAX = Number.MAX_SAFE_INTEGER;

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
      if (t !== "true" && t !== "false")
        throw new ConfigError(def.name, `${def.name} must be true or false, not "${t}".`);
      value = t === "true";
      break;
    case "short":
    case "int":
    case "long": {
      if (!/^-?\d+$/.test(t)) throw new ConfigError(def.name, `${def.name} must be a whole number, not "${t}".`);
      const n = Number(t);
      const [lo, hi] =
        def.type === "short"
          ? [-32768, 32767]
          : def.type === "int"
            ? [INT_MIN, INT_MAX]
            : [-LONG_MAX, Number.MAX_VALUE];
      if (n < lo || n > hi) throw new ConfigError(def.name, `${def.name} is out of range for a ${def.type}: ${t}.`);
      value = Math.min(n, LONG_MAX);
      break;
    }
    case "double": {
      const n = Number(t);
      if (t === "" || !Number.isFinite(n)) throw new ConfigError(def.name, `${def.name} must be a number, not "${t}".`);
      value = n;
      break;
    }
    case "list":
      value = t === "" ? [] : t.split(",").map((s) => s.trim());
      break;
    default:
      value = t;
  }
  checkConfigValue(def, value);
  return value;
}

export function checkConfigValue(def: ConfigDef, value: ConfigValue): void {
  if (typeof value === "number") {
    if (def.min !== undefined && value < def.min) {
      throw new ConfigError(def.name, `${def.name} must be at least ${def.min}, not ${value}.`);
    }
    if (def.max !== undefined && value > def.max) {
      throw new ConfigError(def.name, `${def.name} must be at most ${def.max}, not ${value}.`);
    }
  }
  if (typeof value === "string" && def.oneOf !== undefined && !def.oneOf.includes(value)) {
    throw new ConfigError(def.name, `${def.name} must be one of ${def.oneOf.join(", ")}, not "${value}".`);
  }
}
