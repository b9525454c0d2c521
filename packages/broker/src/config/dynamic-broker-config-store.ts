/**
 * Dynamic broker configs (AlterConfigs on the BROKER resource) survive restarts in
 * `<data-dir>/dynamic-broker-configs.json`, written atomically. Kafka keeps them in its metadata
 * log (ConfigRecords); a single node has no metadata log yet, so a small file plays its part.
 *
 * Layout (JSON): { "version": 1, "clusterDefault": { "<key>": "<value>" }, "broker": { ... } }
 * — "clusterDefault" is resource name "" (DYNAMIC_DEFAULT_BROKER_CONFIG), "broker" is this
 * broker's id (DYNAMIC_BROKER_CONFIG).
 */
import path from "node:path";
import type { Logger } from "pino";
import { readJsonFile, writeJsonFile } from "../util/json-file.js";
import type { BrokerConfig, DynamicScope } from "./broker-config.js";

export const DYNAMIC_BROKER_CONFIG_FILE = "dynamic-broker-configs.json";

interface StoredDynamicConfigs {
  version: 1;
  clusterDefault: Record<string, string>;
  broker: Record<string, string>;
}

export class DynamicBrokerConfigStore {
  readonly file: string;

  constructor(dataDir: string) {
    this.file = path.join(dataDir, DYNAMIC_BROKER_CONFIG_FILE);
  }

  /**
   * Applies the stored overrides to `config`. An override that no longer validates (a key that
   * stopped being dynamic, a bound that tightened) is skipped with a warning, as Kafka does,
   * rather than stopping the broker.
   */
  async load(config: BrokerConfig, log: Logger): Promise<void> {
    const stored = await readJsonFile<StoredDynamicConfigs>(this.file);
    if (stored === null) return;
    const scopes: [DynamicScope, Record<string, string> | undefined][] = [
      ["dynamic-default", stored.clusterDefault],
      ["dynamic-broker", stored.broker],
    ];
    for (const [scope, values] of scopes) {
      const valid = new Map<string, string>();
      for (const [k, v] of Object.entries(values ?? {})) {
        try {
          config.setDynamic(scope, new Map([[k, v]]));
          valid.set(k, v);
        } catch (e) {
          log.warn({ key: k, value: v, reason: (e as Error).message }, "ignoring a stored dynamic broker config");
        }
      }
      config.setDynamic(scope, valid);
    }
  }

  async save(config: BrokerConfig): Promise<void> {
    const stored: StoredDynamicConfigs = {
      version: 1,
      clusterDefault: Object.fromEntries(config.dynamicOverrides("dynamic-default")),
      broker: Object.fromEntries(config.dynamicOverrides("dynamic-broker")),
    };
    await writeJsonFile(this.file, stored);
  }
}
