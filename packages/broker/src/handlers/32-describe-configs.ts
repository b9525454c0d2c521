/**
 * DescribeConfigs v0-4 for topics (resource type 2) and this broker (type 4), from the config
 * definitions: value, source, read-only flag, synonyms (v1+), type and documentation (v3+).
 */
import {
  DescribeConfigsApi,
  type DescribeConfigsResponse,
  type DescribeConfigsResponseDescribeConfigsResourceResult,
  type Encodable,
  ErrorCode,
} from "@samsa/protocol";
import type { ConfigType } from "../config/config-def.js";
import { effectiveTopicConfig, TOPIC_CONFIG_DEFS } from "../config/topic-config.js";
import { CONFIG_SOURCE } from "./19-create-topics.js";
import { defineHandler } from "./handler.js";

const RESOURCE_TOPIC = 2;
const RESOURCE_BROKER = 4;
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
            const configSource =
              source === "topic"
                ? CONFIG_SOURCE.DYNAMIC_TOPIC_CONFIG
                : source === "broker"
                  ? CONFIG_SOURCE.STATIC_BROKER_CONFIG
                  : CONFIG_SOURCE.DEFAULT_CONFIG;
            const synonyms = [];
            if (request.includeSynonyms) {
              if (source === "topic")
                synonyms.push({ name: def.name, value, source: CONFIG_SOURCE.DYNAMIC_TOPIC_CONFIG });
              if (def.brokerSynonym !== null) {
                const b = broker.config.entries().find((e) => e.def.name === def.brokerSynonym);
                if (b !== undefined && b.value !== null) {
                  synonyms.push({
                    name: b.def.name,
                    value: show(b.value),
                    source: b.isDefault ? CONFIG_SOURCE.DEFAULT_CONFIG : CONFIG_SOURCE.STATIC_BROKER_CONFIG,
                  });
                }
              }
            }
            return {
              name: def.name,
              value,
              readOnly: false,
              isDefault: isDefaultField && source === "default",
              configSource,
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
        if (res.resourceName !== "" && res.resourceName !== String(broker.nodeId)) {
          return {
            ...base,
            errorCode: ErrorCode.INVALID_REQUEST,
            errorMessage: `This is broker ${broker.nodeId}.`,
            configs: [],
          };
        }
        const configs = broker.config
          .entries()
          .filter((e) => wanted(e.def.name))
          .map((e) => ({
            name: e.def.name,
            value: show(e.value),
            readOnly: e.def.dynamic !== true,
            isDefault: isDefaultField && e.isDefault,
            configSource: e.isDefault ? CONFIG_SOURCE.DEFAULT_CONFIG : CONFIG_SOURCE.STATIC_BROKER_CONFIG,
            isSensitive: e.def.type === "password",
            synonyms: [],
            configType: CONFIG_TYPE[e.def.type],
            documentation: request.includeDocumentation ? e.def.doc : null,
          }));
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
