/** DescribeConfigs' ConfigSource codes (org.apache.kafka.common.requests.DescribeConfigsResponse.ConfigSource). */
import type { BrokerConfigSource } from "./broker-config.js";
import type { TopicConfigSource } from "./topic-config.js";

export const CONFIG_SOURCE = {
  UNKNOWN: 0,
  DYNAMIC_TOPIC_CONFIG: 1,
  DYNAMIC_BROKER_CONFIG: 2,
  DYNAMIC_DEFAULT_BROKER_CONFIG: 3,
  STATIC_BROKER_CONFIG: 4,
  DEFAULT_CONFIG: 5,
} as const;

export function configSourceCode(source: TopicConfigSource | BrokerConfigSource): number {
  switch (source) {
    case "topic":
      return CONFIG_SOURCE.DYNAMIC_TOPIC_CONFIG;
    case "dynamic-broker":
      return CONFIG_SOURCE.DYNAMIC_BROKER_CONFIG;
    case "dynamic-default":
      return CONFIG_SOURCE.DYNAMIC_DEFAULT_BROKER_CONFIG;
    case "static":
      return CONFIG_SOURCE.STATIC_BROKER_CONFIG;
    default:
      return CONFIG_SOURCE.DEFAULT_CONFIG;
  }
}
