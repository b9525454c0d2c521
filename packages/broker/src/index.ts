export { Broker, type BrokerStartOptions } from "./broker.js";
export { BROKER_CONFIG_DEFS, BrokerConfig } from "./config/broker-config.js";
export { type ConfigDef, ConfigError } from "./config/config-def.js";
export * from "./log/index.js";
export { parseProperties } from "./util/java-properties.js";
