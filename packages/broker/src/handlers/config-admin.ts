/**
 * What AlterConfigs and IncrementalAlterConfigs share (Kafka's ConfigAdminManager): resolve a
 * resource to its current overrides, let the request compute the whole new set, validate every
 * key and value, then — unless validateOnly — persist and apply it.
 *
 * - TOPIC (2): the topic's overrides (topic-configs.json), applied to its partition logs at once.
 * - BROKER (4), name "": the cluster-wide dynamic defaults (DYNAMIC_DEFAULT_BROKER_CONFIG);
 *   name "<node id>": this broker's dynamic configs (DYNAMIC_BROKER_CONFIG). Only configs Kafka
 *   can change without a restart (BROKER_CONFIG_DEFS' `dynamic`) are accepted, and Kafka's
 *   cross-config rules are checked (BrokerConfig.checkDynamicUpdate) before anything changes.
 *
 * Either way the change is persisted before it is applied and takes effect without a restart:
 * the partition logs are reconfigured (LogManager.reconfigure / setDefaultConfig), and handlers
 * read the configs per request.
 */
import { ErrorCode, KafkaError } from "@samsa/protocol";
import { type DynamicScope, parseDynamicBrokerConfig, requireDynamicBrokerConfigDef } from "../config/broker-config.js";
import { type ConfigDef, ConfigError } from "../config/config-def.js";
import { parseTopicConfig, requireTopicConfigDef } from "../config/topic-config.js";
import { errorCodeOf } from "./errors.js";
import type { BrokerContext } from "./handler.js";

export const RESOURCE_TOPIC = 2;
export const RESOURCE_BROKER = 4;

/** Computes a resource's new overrides from its current ones; `def` throws ConfigError for a key it may not hold. */
export type ComputeOverrides = (
  current: ReadonlyMap<string, string>,
  def: (name: string) => ConfigDef,
) => Map<string, string>;

export interface ResourceOutcome {
  errorCode: number;
  errorMessage: string | null;
}

/** Kafka rejects a request naming one key twice for a resource before looking at anything else. */
export function checkNoDuplicateKeys(names: readonly string[]): void {
  if (new Set(names).size !== names.length) {
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    throw new KafkaError(ErrorCode.INVALID_REQUEST, `Error due to duplicate config keys: ${dup}.`);
  }
}

export function requireValue(name: string, value: string | null): string {
  if (value === null) throw new KafkaError(ErrorCode.INVALID_REQUEST, `Null value not supported for: ${name}.`);
  return value.trim();
}

function brokerScope(broker: BrokerContext, name: string): DynamicScope {
  if (name === "") return "dynamic-default";
  if (name === String(broker.nodeId)) return "dynamic-broker";
  throw new KafkaError(ErrorCode.INVALID_REQUEST, `This is broker ${broker.nodeId}, not ${name}.`);
}

export async function alterResourceConfigs(
  broker: BrokerContext,
  resourceType: number,
  resourceName: string,
  compute: ComputeOverrides,
  validateOnly: boolean,
): Promise<ResourceOutcome> {
  try {
    if (resourceType === RESOURCE_TOPIC) {
      if (broker.topics.get(resourceName) === undefined) {
        throw new KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Topic '${resourceName}' does not exist.`);
      }
      const next = compute(broker.topics.configs.get(resourceName), requireTopicConfigDef);
      for (const [k, v] of next) parseTopicConfig(k, v);
      if (!validateOnly) await broker.topics.alterConfigs(resourceName, next);
    } else if (resourceType === RESOURCE_BROKER) {
      const scope = brokerScope(broker, resourceName);
      const next = compute(broker.config.dynamicOverrides(scope), requireDynamicBrokerConfigDef);
      for (const [k, v] of next) parseDynamicBrokerConfig(k, v);
      broker.config.checkDynamicUpdate(scope, next);
      if (!validateOnly) await broker.alterBrokerConfigs(scope, next);
    } else {
      throw new KafkaError(ErrorCode.INVALID_REQUEST, `Unsupported resource type ${resourceType}.`);
    }
    return { errorCode: ErrorCode.NONE, errorMessage: null };
  } catch (e) {
    if (e instanceof ConfigError) return { errorCode: ErrorCode.INVALID_CONFIG, errorMessage: e.message };
    if (e instanceof KafkaError) return { errorCode: e.code, errorMessage: e.message };
    return { errorCode: errorCodeOf(e, broker.log), errorMessage: null };
  }
}
