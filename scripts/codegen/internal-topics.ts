/**
 * Record schemas of Kafka's internal topics, in the shape of Kafka's JSON message definitions, for
 * the same generator as the protocol messages.
 *
 * Derived from Apache Kafka's group-coordinator definitions
 * (group-coordinator/src/main/resources/common/message/{OffsetCommit,GroupMetadata}{Key,Value}.json)
 * and transaction-coordinator definitions
 * (transaction-coordinator/src/main/resources/common/message/TransactionLog{Key,Value}.json),
 * Apache-2.0, which are not among the client protocol files in ../shared/kafka-protocol. Names,
 * types, version ranges, tags, defaults and nullability must stay exactly Kafka's: tools such as
 * Burrow, kafka-console-consumer's formatters and kafka-dump-log read these topics directly, and a
 * Kafka broker taking over the log must load them.
 *
 * Record layout: key = int16 key version + key struct, value = int16 value version + value struct
 * (a null value is a tombstone). The key version doubles as the record type: 0 and 1 are offset
 * commits, 2 group metadata; 3 and up are the KIP-848 consumer, share and streams group records,
 * which a reader skips. Kafka 4 describes the keys as "coordinator-key" types (OffsetCommitKey
 * record type 1, GroupMetadataKey record type 2, each key struct at version 0); the bytes are the
 * same as with the older description below, where the key struct's version is the record type.
 */
import type { SpecMessage } from "./spec.js";

export interface InternalTopicSchema {
  /** The internal topic whose records this schema describes. */
  topic: string;
  /** Whether it describes record keys or record values. */
  part: "key" | "value";
  spec: SpecMessage;
}

const OffsetCommitKey: SpecMessage = {
  type: "data",
  name: "OffsetCommitKey",
  validVersions: "0-1",
  flexibleVersions: "none",
  fields: [
    { name: "group", type: "string", versions: "0-1", about: "The group id." },
    { name: "topic", type: "string", versions: "0-1", about: "The topic the committed offset belongs to." },
    { name: "partition", type: "int32", versions: "0-1", about: "The partition index." },
  ],
};

const OffsetCommitValue: SpecMessage = {
  type: "data",
  name: "OffsetCommitValue",
  validVersions: "0-4",
  flexibleVersions: "4+",
  fields: [
    { name: "offset", type: "int64", versions: "0+", about: "The committed offset." },
    {
      name: "leaderEpoch",
      type: "int32",
      versions: "3+",
      default: -1,
      ignorable: true,
      about: "The leader epoch of the last consumed record, or -1.",
    },
    { name: "metadata", type: "string", versions: "0+", about: "The metadata string the client committed." },
    { name: "commitTimestamp", type: "int64", versions: "0+", about: "When the offset was committed (ms)." },
    {
      name: "expireTimestamp",
      type: "int64",
      versions: "1",
      default: -1,
      ignorable: true,
      about: "When the offset expires (ms), set only by an explicit retention time; -1 otherwise.",
    },
  ],
};

const GroupMetadataKey: SpecMessage = {
  type: "data",
  name: "GroupMetadataKey",
  validVersions: "2",
  flexibleVersions: "none",
  fields: [{ name: "group", type: "string", versions: "2", about: "The group id." }],
};

const GroupMetadataValue: SpecMessage = {
  type: "data",
  name: "GroupMetadataValue",
  validVersions: "0-4",
  flexibleVersions: "4+",
  fields: [
    { name: "protocolType", type: "string", versions: "0+", about: "The protocol type, e.g. consumer." },
    { name: "generation", type: "int32", versions: "0+", about: "The generation id." },
    {
      name: "protocol",
      type: "string",
      versions: "0+",
      nullableVersions: "0+",
      about: "The selected protocol (assignor) name, or null.",
    },
    {
      name: "leader",
      type: "string",
      versions: "0+",
      nullableVersions: "0+",
      about: "The leader's member id, or null.",
    },
    {
      name: "currentStateTimestamp",
      type: "int64",
      versions: "2+",
      default: -1,
      ignorable: true,
      about: "When the group entered its current state (ms), or -1.",
    },
    { name: "members", type: "[]MemberMetadata", versions: "0+", about: "The group's members." },
  ],
  commonStructs: [
    {
      name: "MemberMetadata",
      versions: "0+",
      fields: [
        { name: "memberId", type: "string", versions: "0+", about: "The member id." },
        {
          name: "groupInstanceId",
          type: "string",
          versions: "3+",
          nullableVersions: "3+",
          default: "null",
          ignorable: true,
          about: "The static member's group.instance.id, or null.",
        },
        { name: "clientId", type: "string", versions: "0+", about: "The member's client id." },
        { name: "clientHost", type: "string", versions: "0+", about: "The member's host." },
        {
          name: "rebalanceTimeout",
          type: "int32",
          versions: "1+",
          default: -1,
          ignorable: true,
          about: "The rebalance timeout (ms), or -1 when not recorded.",
        },
        { name: "sessionTimeout", type: "int32", versions: "0+", about: "The session timeout (ms)." },
        {
          name: "subscription",
          type: "bytes",
          versions: "0+",
          about: "The member's metadata for the selected protocol.",
        },
        { name: "assignment", type: "bytes", versions: "0+", about: "The member's assignment." },
      ],
    },
  ],
};

/**
 * The key of `__transaction_state`: int16 key version (0, the only one) + the transactional id.
 * Kafka never made it flexible, so the bytes are a plain int16-length string.
 */
const TransactionLogKey: SpecMessage = {
  type: "data",
  name: "TransactionLogKey",
  validVersions: "0",
  flexibleVersions: "none",
  fields: [{ name: "TransactionalId", type: "string", versions: "0", about: "The transactional id." }],
};

/**
 * The value of `__transaction_state`. Version 0 is what a broker writes while the cluster's
 * `transaction.version` feature is 0; version 1 (flexible, KIP-890) adds tagged fields only, so
 * older readers of v1 skip what they do not know (KIP-915). Kafka's JSON leaves `versions` out of
 * the tagged fields (its generator then takes `taggedVersions`); ours needs it spelled out.
 */
const TransactionLogValue: SpecMessage = {
  type: "data",
  name: "TransactionLogValue",
  validVersions: "0-1",
  flexibleVersions: "1+",
  fields: [
    { name: "ProducerId", type: "int64", versions: "0+", about: "The producer id the transactional id uses." },
    {
      name: "PreviousProducerId",
      type: "int64",
      versions: "1+",
      taggedVersions: "1+",
      tag: 0,
      default: -1,
      about: "The producer id of the last committed transaction, or -1.",
    },
    {
      name: "NextProducerId",
      type: "int64",
      versions: "1+",
      taggedVersions: "1+",
      tag: 1,
      default: -1,
      about: "The producer id handed to the producer after an epoch overflow (transactions v2), or -1.",
    },
    { name: "ProducerEpoch", type: "int16", versions: "0+", about: "The epoch of the producer id." },
    { name: "TransactionTimeoutMs", type: "int32", versions: "0+", about: "The transaction timeout (ms)." },
    {
      name: "TransactionStatus",
      type: "int8",
      versions: "0+",
      about: "The transaction state: 0 Empty ... 7 PrepareEpochFence.",
    },
    {
      name: "TransactionPartitions",
      type: "[]PartitionsSchema",
      versions: "0+",
      nullableVersions: "0+",
      about: "The partitions in the transaction; null when the state is Empty.",
      fields: [
        { name: "Topic", type: "string", versions: "0+", about: "The topic name." },
        { name: "PartitionIds", type: "[]int32", versions: "0+", about: "The partition indexes." },
      ],
    },
    {
      name: "TransactionLastUpdateTimestampMs",
      type: "int64",
      versions: "0+",
      about: "When the transaction state last changed (ms); transactional id expiration counts from it.",
    },
    {
      name: "TransactionStartTimestampMs",
      type: "int64",
      versions: "0+",
      about: "When the transaction's first partition was added (ms), or -1.",
    },
    {
      name: "ClientTransactionVersion",
      type: "int16",
      default: 0,
      versions: "1+",
      taggedVersions: "1+",
      tag: 2,
      about: "The transaction version (the transaction.version feature level) the client used.",
    },
  ],
};

/** Every internal-topic schema the generator emits to messages/data/. */
export const INTERNAL_TOPIC_SCHEMAS: readonly InternalTopicSchema[] = [
  { topic: "__consumer_offsets", part: "key", spec: OffsetCommitKey },
  { topic: "__consumer_offsets", part: "value", spec: OffsetCommitValue },
  { topic: "__consumer_offsets", part: "key", spec: GroupMetadataKey },
  { topic: "__consumer_offsets", part: "value", spec: GroupMetadataValue },
  { topic: "__transaction_state", part: "key", spec: TransactionLogKey },
  { topic: "__transaction_state", part: "value", spec: TransactionLogValue },
];
