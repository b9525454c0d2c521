export { defaultPartition, murmur2, toPositive } from "./partitioner.js";
export * from "./producer.js";
