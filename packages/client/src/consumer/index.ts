export {
  CooperativeStickyAssignor,
  type PartitionAssignor,
  RangeAssignor,
  type RebalanceProtocol,
  RoundRobinAssignor,
} from "./assignors.js";
export { Consumer } from "./consumer.js";
export { CommitFailedError, GroupMembershipError } from "./coordinator.js";
export type {
  AssignorName,
  ConsumerBatch,
  ConsumerGroupMetadata,
  ConsumerOptions,
  ConsumerRecord,
  RebalanceListener,
  TopicPartition,
} from "./types.js";
