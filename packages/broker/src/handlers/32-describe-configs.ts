/**
 * DescribeConfigs v0-4 for topics (resource type 2) and this broker (type 4), from the config
 * definitions: value, source, read-only flag, synonyms (v1+), type and documentation (v3+).
 * Sources follow Kafka: a topic override is DYNAMIC_TOPIC_CONFIG; a broker value is
 * DYNAMIC_BROKER_CONFIG (AlterConfigs on "<node id>"), DYNAMIC_DEFAULT_BROKER_CONFIG (on ""),
 * STATIC_BROKER_CONFIG (server.properties / --set) or DEFAULT_CONFIG. The broker resource ""
 * describes only the cluster-wide dynamic defaults that are set, as Kafka does. Synonyms list
 * every layer that sets the config or its broker synonyms, highest precedence first (see
 * BrokerConfig.synonyms and topicConfigSynonyms); a broker config is read-only unless Kafka can
 * change it at runtime.
 */
import {
  DescribeConfigsApi,
  type DescribeConfigsResponse,
  type DescribeConfigsResponseDescribeConfigsResourceResult,
  type Encodable,
  ErrorCode,
} from "@samsa/protocol";
import type { BrokerConfig } from "../config/broker-config.js";
import { type ConfigDef, type ConfigType, formatConfigValue } from "../config/config-def.js";
import { CONFIG_SOURCE, configSourceCode } from "../config/config-source.js";
import { effectiveTopicConfig, TOPIC_CONFIG_DEFS, topicConfigSynonyms } from "../config/topic-config.js";
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

/** A broker config's synonyms (itself in every layer that sets it, then its lower-precedence unit synonyms). */
function brokerSynonyms(config: BrokerConfig, def: ConfigDef, clusterDefaults: boolean) {
  return config
    .synonyms(def.name)
    .filter((s) => !clusterDefaults || s.source === "dynamic-default")
    .map((s) => ({
      name: s.name,
      value: def.type === "password" ? null : formatConfigValue(def, s.value),
      source: configSourceCode(s.source),
    }));
}

/** The documentation of a config: its doc line, and why it does nothing on a single node when so. */
function documentation(def: ConfigDef): string {
  return def.noEffect === undefined ? def.doc : `${def.doc} Accepted for compatibility: ${def.noEffect}.`;
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
      // Kafka treats an empty key list like null: every config.
      const keys = res.configurationKeys;
      const wanted = (name: string) => keys === null || keys.length === 0 || keys.includes(name);
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
            const synonyms = request.includeSynonyms
              ? topicConfigSynonyms(def, overrides, broker.config).map((s) => ({
                  name: s.name,
                  value: s.value,
                  source: configSourceCode(s.source),
                }))
              : [];
            return {
              name: def.name,
              value,
              readOnly: false,
              isDefault: isDefaultField && source === "default",
              configSource: configSourceCode(source),
              isSensitive: false,
              synonyms,
              configType: CONFIG_TYPE[def.type],
              documentation: request.includeDocumentation ? documentation(def) : null,
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
            const synonyms = brokerSynonyms(broker.config, e.def, clusterDefaults);
            // Kafka: the source is the first synonym's (so log.retention.hours is DEFAULT_CONFIG
            // even when log.retention.ms, which wins, is set).
            const configSource = synonyms[0]?.source ?? CONFIG_SOURCE.DEFAULT_CONFIG;
            const sensitive = e.def.type === "password";
            return {
              name: e.def.name,
              value: sensitive ? null : formatConfigValue(e.def, layer === undefined ? e.value : layer.value),
              readOnly: e.def.dynamic !== true,
              isDefault: isDefaultField && configSource === CONFIG_SOURCE.DEFAULT_CONFIG,
              configSource,
              isSensitive: sensitive,
              synonyms: request.includeSynonyms ? synonyms : [],
              configType: CONFIG_TYPE[e.def.type],
              documentation: request.includeDocumentation ? documentation(e.def) : null,
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
