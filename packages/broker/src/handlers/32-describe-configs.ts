/**
 * DescribeConfigs v0-4 for topics (resource type 2) and this broker (type 4), from the config
 * definitions: value, source, read-only flag, synonyms (v1+), type and documentation (v3+).
 * Sources follow Kafka: a topic override is DYNAMIC_TOPIC_CONFIG; a broker value is
 * DYNAMIC_BROKER_CONFIG (AlterConfigs on "<node id>"), DYNAMIC_DEFAULT_BROKER_CONFIG (on ""),
 * STATIC_BROKER_CONFIG (server.properties / --set) or DEFAULT_CONFIG. The broker resource ""
 * describes only the cluster-wide dynamic defaults that are set, as Kafka does.
 */
import {
  DescribeConfigsApi,
  type DescribeConfigsResponse,
  type DescribeConfigsResponseDescribeConfigsResourceResult,
  type Encodable,
  ErrorCode,
} from "@samsa/protocol";
import type { BrokerConfigEntry } from "../config/broker-config.js";
import type { ConfigType } from "../config/config-def.js";
import { CONFIG_SOURCE, configSourceCode } from "../config/config-source.js";
import { effectiveTopicConfig, TOPIC_CONFIG_DEFS } from "../config/topic-config.js";
import { RESOURCE_BROKER, RESOURCE_TOPIC } from "./config-admin.js";
import { defineHandler } from "./handler.js";

/** DescribeConfigsResponse ConfigType codes. */
const CONFIG_TYPE: Record<ConfigType, number> = {
  boolean: 1,
  string: 2,
  int: 3,
  short: 4,
  long: 5,
  double: 6,
  list: 7,
  password: 9,
};

function show(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  return Array.isArray(value) ? value.join(",") : String(value);
}

/** A broker config's synonyms: every layer that sets it, highest precedence first, then its default. */
function brokerSynonyms(e: BrokerConfigEntry): { name: string; value: string | null; source: number }[] {
  const out = e.layers.map((l) => ({ name: e.def.name, value: show(l.value), source: configSourceCode(l.source) }));
  if (e.def.default !== null)
    out.push({ name: e.def.name, value: show(e.def.default), source: CONFIG_SOURCE.DEFAULT_CONFIG });
  return out;
}

export const describeConfigsHandler = defineHandler({
  api: DescribeConfigsApi,
  minVersion: 0,
  maxVersion: 4,
  handle(ctx, request): Encodable<DescribeConfigsResponse> {
    const { broker } = ctx;
    // IsDefault exists only in v0; v1+ carry the same fact as ConfigSource, and the codec refuses
    // a true IsDefault in a version that lacks the field.
    const isDefaultField = ctx.header.apiVersion === 0;
    const results = request.resources.map((res) => {
      const wanted = (name: string) => res.configurationKeys === null || res.configurationKeys.includes(name);
      const base = { resourceType: res.resourceType, resourceName: res.resourceName };
      if (res.resourceType === RESOURCE_TOPIC) {
        const topic = broker.topics.get(res.resourceName);
        if (topic === undefined) {
          return {
            ...base,
            errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
            errorMessage: `Topic '${res.resourceName}' does not exist.`,
            configs: [],
          };
        }
        const overrides = broker.topics.configs.get(topic.name);
        const configs = TOPIC_CONFIG_DEFS.filter((d) => wanted(d.name)).map(
          (def): Encodable<DescribeConfigsResponseDescribeConfigsResourceResult> => {
            const { value, source } = effectiveTopicConfig(def, overrides, broker.config);
            const synonyms = [];
            if (request.includeSynonyms) {
              if (source === "topic")
                synonyms.push({ name: def.name, value, source: CONFIG_SOURCE.DYNAMIC_TOPIC_CONFIG });
              const synonym = broker.config.entries().find((e) => e.def.name === def.brokerSynonym);
              if (synonym !== undefined) synonyms.push(...brokerSynonyms(synonym));
            }
            return {
              name: def.name,
              value,
              readOnly: false,
              isDefault: isDefaultField && source === "default",
              configSource: configSourceCode(source),
              isSensitive: false,
              synonyms,
              configType: CONFIG_TYPE[def.type],
              documentation: request.includeDocumentation ? def.doc : null,
            };
          },
        );
        return { ...base, errorCode: ErrorCode.NONE, errorMessage: null, configs };
      }
      if (res.resourceType === RESOURCE_BROKER) {
        const clusterDefaults = res.resourceName === "";
        if (!clusterDefaults && res.resourceName !== String(broker.nodeId)) {
          return {
            ...base,
            errorCode: ErrorCode.INVALID_REQUEST,
            errorMessage: `This is broker ${broker.nodeId}.`,
            configs: [],
          };
        }
        const dynamicDefaults = broker.config.dynamicOverrides("dynamic-default");
        const configs = broker.config
          .entries()
          .filter((e) => wanted(e.def.name) && (!clusterDefaults || dynamicDefaults.has(e.def.name)))
          .map((e) => {
            const layer = clusterDefaults ? e.layers.find((l) => l.source === "dynamic-default") : undefined;
            const source = layer?.source ?? e.source;
            return {
              name: e.def.name,
              value: show(layer === undefined ? e.value : layer.value),
              readOnly: e.def.dynamic !== true,
              isDefault: isDefaultField && source === "default",
              configSource: configSourceCode(source),
              isSensitive: e.def.type === "password",
              synonyms: request.includeSynonyms ? brokerSynonyms(e) : [],
              configType: CONFIG_TYPE[e.def.type],
              documentation: request.includeDocumentation ? e.def.doc : null,
            };
          });
        return { ...base, errorCode: ErrorCode.NONE, errorMessage: null, configs };
      }
      return {
        ...base,
        errorCode: ErrorCode.INVALID_REQUEST,
        errorMessage: `Unsupported resource type ${res.resourceType}.`,
        configs: [],
      };
    });
    return { throttleTimeMs: 0, results };
  },
});
