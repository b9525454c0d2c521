/**
 * Every Kafka protocol error code, as of Apache Kafka 4.1 (org.apache.kafka.common.protocol.Errors).
 *
 * Names and codes are Kafka's, byte for byte: clients match on them. `retriable` is true exactly
 * where the Java exception class behind the code extends RetriableException, because that is what
 * the Java, librdkafka and franz-go clients retry on; a broker that flags it differently changes
 * client behaviour. The one-line meanings are ours.
 *
 * Codes are dense from -1 to 133; a new Kafka code goes into both ErrorCode and DETAILS (the type
 * of DETAILS makes a missing or extra entry a compile error).
 */

export const ErrorCode = {
  UNKNOWN_SERVER_ERROR: -1,
  NONE: 0,
  OFFSET_OUT_OF_RANGE: 1,
  CORRUPT_MESSAGE: 2,
  UNKNOWN_TOPIC_OR_PARTITION: 3,
  INVALID_FETCH_SIZE: 4,
  LEADER_NOT_AVAILABLE: 5,
  NOT_LEADER_OR_FOLLOWER: 6,
  REQUEST_TIMED_OUT: 7,
  BROKER_NOT_AVAILABLE: 8,
  REPLICA_NOT_AVAILABLE: 9,
  MESSAGE_TOO_LARGE: 10,
  STALE_CONTROLLER_EPOCH: 11,
  OFFSET_METADATA_TOO_LARGE: 12,
  NETWORK_EXCEPTION: 13,
  COORDINATOR_LOAD_IN_PROGRESS: 14,
  COORDINATOR_NOT_AVAILABLE: 15,
  NOT_COORDINATOR: 16,
  INVALID_TOPIC_EXCEPTION: 17,
  RECORD_LIST_TOO_LARGE: 18,
  NOT_ENOUGH_REPLICAS: 19,
  NOT_ENOUGH_REPLICAS_AFTER_APPEND: 20,
  INVALID_REQUIRED_ACKS: 21,
  ILLEGAL_GENERATION: 22,
  INCONSISTENT_GROUP_PROTOCOL: 23,
  INVALID_GROUP_ID: 24,
  UNKNOWN_MEMBER_ID: 25,
  INVALID_SESSION_TIMEOUT: 26,
  REBALANCE_IN_PROGRESS: 27,
  INVALID_COMMIT_OFFSET_SIZE: 28,
  TOPIC_AUTHORIZATION_FAILED: 29,
  GROUP_AUTHORIZATION_FAILED: 30,
  CLUSTER_AUTHORIZATION_FAILED: 31,
  INVALID_TIMESTAMP: 32,
  UNSUPPORTED_SASL_MECHANISM: 33,
  ILLEGAL_SASL_STATE: 34,
  UNSUPPORTED_VERSION: 35,
  TOPIC_ALREADY_EXISTS: 36,
  INVALID_PARTITIONS: 37,
  INVALID_REPLICATION_FACTOR: 38,
  INVALID_REPLICA_ASSIGNMENT: 39,
  INVALID_CONFIG: 40,
  NOT_CONTROLLER: 41,
  INVALID_REQUEST: 42,
  UNSUPPORTED_FOR_MESSAGE_FORMAT: 43,
  POLICY_VIOLATION: 44,
  OUT_OF_ORDER_SEQUENCE_NUMBER: 45,
  DUPLICATE_SEQUENCE_NUMBER: 46,
  INVALID_PRODUCER_EPOCH: 47,
  INVALID_TXN_STATE: 48,
  INVALID_PRODUCER_ID_MAPPING: 49,
  INVALID_TRANSACTION_TIMEOUT: 50,
  CONCURRENT_TRANSACTIONS: 51,
  TRANSACTION_COORDINATOR_FENCED: 52,
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: 53,
  SECURITY_DISABLED: 54,
  OPERATION_NOT_ATTEMPTED: 55,
  KAFKA_STORAGE_ERROR: 56,
  LOG_DIR_NOT_FOUND: 57,
  SASL_AUTHENTICATION_FAILED: 58,
  UNKNOWN_PRODUCER_ID: 59,
  REASSIGNMENT_IN_PROGRESS: 60,
  DELEGATION_TOKEN_AUTH_DISABLED: 61,
  DELEGATION_TOKEN_NOT_FOUND: 62,
  DELEGATION_TOKEN_OWNER_MISMATCH: 63,
  DELEGATION_TOKEN_REQUEST_NOT_ALLOWED: 64,
  DELEGATION_TOKEN_AUTHORIZATION_FAILED: 65,
  DELEGATION_TOKEN_EXPIRED: 66,
  INVALID_PRINCIPAL_TYPE: 67,
  NON_EMPTY_GROUP: 68,
  GROUP_ID_NOT_FOUND: 69,
  FETCH_SESSION_ID_NOT_FOUND: 70,
  INVALID_FETCH_SESSION_EPOCH: 71,
  LISTENER_NOT_FOUND: 72,
  TOPIC_DELETION_DISABLED: 73,
  FENCED_LEADER_EPOCH: 74,
  UNKNOWN_LEADER_EPOCH: 75,
  UNSUPPORTED_COMPRESSION_TYPE: 76,
  STALE_BROKER_EPOCH: 77,
  OFFSET_NOT_AVAILABLE: 78,
  MEMBER_ID_REQUIRED: 79,
  PREFERRED_LEADER_NOT_AVAILABLE: 80,
  GROUP_MAX_SIZE_REACHED: 81,
  FENCED_INSTANCE_ID: 82,
  ELIGIBLE_LEADERS_NOT_AVAILABLE: 83,
  ELECTION_NOT_NEEDED: 84,
  NO_REASSIGNMENT_IN_PROGRESS: 85,
  GROUP_SUBSCRIBED_TO_TOPIC: 86,
  INVALID_RECORD: 87,
  UNSTABLE_OFFSET_COMMIT: 88,
  THROTTLING_QUOTA_EXCEEDED: 89,
  PRODUCER_FENCED: 90,
  RESOURCE_NOT_FOUND: 91,
  DUPLICATE_RESOURCE: 92,
  UNACCEPTABLE_CREDENTIAL: 93,
  INCONSISTENT_VOTER_SET: 94,
  INVALID_UPDATE_VERSION: 95,
  FEATURE_UPDATE_FAILED: 96,
  PRINCIPAL_DESERIALIZATION_FAILURE: 97,
  SNAPSHOT_NOT_FOUND: 98,
  POSITION_OUT_OF_RANGE: 99,
  UNKNOWN_TOPIC_ID: 100,
  DUPLICATE_BROKER_REGISTRATION: 101,
  BROKER_ID_NOT_REGISTERED: 102,
  INCONSISTENT_TOPIC_ID: 103,
  INCONSISTENT_CLUSTER_ID: 104,
  TRANSACTIONAL_ID_NOT_FOUND: 105,
  FETCH_SESSION_TOPIC_ID_ERROR: 106,
  INELIGIBLE_REPLICA: 107,
  NEW_LEADER_ELECTED: 108,
  OFFSET_MOVED_TO_TIERED_STORAGE: 109,
  FENCED_MEMBER_EPOCH: 110,
  UNRELEASED_INSTANCE_ID: 111,
  UNSUPPORTED_ASSIGNOR: 112,
  STALE_MEMBER_EPOCH: 113,
  MISMATCHED_ENDPOINT_TYPE: 114,
  UNSUPPORTED_ENDPOINT_TYPE: 115,
  UNKNOWN_CONTROLLER_ID: 116,
  UNKNOWN_SUBSCRIPTION_ID: 117,
  TELEMETRY_TOO_LARGE: 118,
  INVALID_REGISTRATION: 119,
  TRANSACTION_ABORTABLE: 120,
  INVALID_RECORD_STATE: 121,
  SHARE_SESSION_NOT_FOUND: 122,
  INVALID_SHARE_SESSION_EPOCH: 123,
  FENCED_STATE_EPOCH: 124,
  INVALID_VOTER_KEY: 125,
  DUPLICATE_VOTER: 126,
  VOTER_NOT_FOUND: 127,
  INVALID_REGULAR_EXPRESSION: 128,
  REBOOTSTRAP_REQUIRED: 129,
  STREAMS_INVALID_TOPOLOGY: 130,
  STREAMS_INVALID_TOPOLOGY_EPOCH: 131,
  STREAMS_TOPOLOGY_FENCED: 132,
  SHARE_SESSION_LIMIT_REACHED: 133,
} as const;

export type ErrorCodeName = keyof typeof ErrorCode;

export interface KafkaErrorInfo {
  readonly code: number;
  readonly name: ErrorCodeName;
  readonly retriable: boolean;
  readonly message: string;
}

/** Per name: [retriable, one-line meaning]. */
const DETAILS: { readonly [N in ErrorCodeName]: readonly [retriable: boolean, meaning: string] } = {
  UNKNOWN_SERVER_ERROR: [false, "The broker hit an unexpected failure while handling the request."],
  NONE: [false, "No error."],
  OFFSET_OUT_OF_RANGE: [false, "The requested offset lies outside the range of offsets the partition currently holds."],
  CORRUPT_MESSAGE: [
    true,
    "A record failed validation: bad CRC, bad size, a null key on a compacted topic, or other corruption.",
  ],
  UNKNOWN_TOPIC_OR_PARTITION: [true, "This broker does not host the requested topic partition."],
  INVALID_FETCH_SIZE: [false, "The fetch size in the request is not valid."],
  LEADER_NOT_AVAILABLE: [true, "The partition has no leader right now, usually because an election is under way."],
  NOT_LEADER_OR_FOLLOWER: [
    true,
    "This broker is not the partition's leader (or, for requests any replica may serve, not one of its replicas).",
  ],
  REQUEST_TIMED_OUT: [true, "The request did not complete within its timeout."],
  BROKER_NOT_AVAILABLE: [false, "The target broker is not alive or not reachable."],
  REPLICA_NOT_AVAILABLE: [true, "A replica the request depends on is not available for the partition."],
  MESSAGE_TOO_LARGE: [false, "A record batch is larger than the maximum message size the broker or topic accepts."],
  STALE_CONTROLLER_EPOCH: [false, "The request came from a controller whose epoch is no longer current."],
  OFFSET_METADATA_TOO_LARGE: [false, "The metadata string attached to a committed offset is too long."],
  NETWORK_EXCEPTION: [true, "The connection was closed before a response arrived."],
  COORDINATOR_LOAD_IN_PROGRESS: [true, "The coordinator is still loading its state and cannot serve requests yet."],
  COORDINATOR_NOT_AVAILABLE: [true, "No coordinator is available for this group or transactional id right now."],
  NOT_COORDINATOR: [true, "This broker is not the coordinator for the given group or transactional id."],
  INVALID_TOPIC_EXCEPTION: [false, "The topic name is not valid, or the operation is not allowed on this topic."],
  RECORD_LIST_TOO_LARGE: [false, "A record batch is larger than the configured log segment size."],
  NOT_ENOUGH_REPLICAS: [true, "Rejected because fewer replicas are in sync than min.insync.replicas requires."],
  NOT_ENOUGH_REPLICAS_AFTER_APPEND: [
    true,
    "The records were written, but the in-sync replica set shrank below the minimum before they were acknowledged.",
  ],
  INVALID_REQUIRED_ACKS: [false, "The produce request's acks value is not one of -1, 0 or 1."],
  ILLEGAL_GENERATION: [false, "The group generation id in the request is not the current one."],
  INCONSISTENT_GROUP_PROTOCOL: [false, "The member's protocol type or protocols do not match those of the group."],
  INVALID_GROUP_ID: [false, "The group id is empty or otherwise not valid."],
  UNKNOWN_MEMBER_ID: [false, "The coordinator does not know this member id."],
  INVALID_SESSION_TIMEOUT: [
    false,
    "The session timeout is outside the range the broker allows (group.min/max.session.timeout.ms).",
  ],
  REBALANCE_IN_PROGRESS: [false, "The group is rebalancing; the member has to rejoin."],
  INVALID_COMMIT_OFFSET_SIZE: [false, "The size of the offset commit data is not valid."],
  TOPIC_AUTHORIZATION_FAILED: [false, "The principal is not authorized to access the topic."],
  GROUP_AUTHORIZATION_FAILED: [false, "The principal is not authorized to access the group."],
  CLUSTER_AUTHORIZATION_FAILED: [false, "The principal is not authorized for this cluster-level operation."],
  INVALID_TIMESTAMP: [false, "A record timestamp is outside the range the topic accepts."],
  UNSUPPORTED_SASL_MECHANISM: [false, "The broker does not offer the requested SASL mechanism."],
  ILLEGAL_SASL_STATE: [false, "The request is not allowed at this point of the SASL exchange."],
  UNSUPPORTED_VERSION: [false, "The broker does not support this API version."],
  TOPIC_ALREADY_EXISTS: [false, "A topic with this name already exists."],
  INVALID_PARTITIONS: [false, "The requested number of partitions is not valid."],
  INVALID_REPLICATION_FACTOR: [false, "The replication factor is below 1 or above the number of available brokers."],
  INVALID_REPLICA_ASSIGNMENT: [false, "The explicit replica assignment is not valid."],
  INVALID_CONFIG: [false, "A configuration value in the request is not valid."],
  NOT_CONTROLLER: [true, "This broker is not the active controller."],
  INVALID_REQUEST: [false, "The request is malformed or breaks a protocol rule; the broker log has the details."],
  UNSUPPORTED_FOR_MESSAGE_FORMAT: [false, "The operation needs a newer message format than the topic uses."],
  POLICY_VIOLATION: [false, "A broker-side policy rejected the request's parameters."],
  OUT_OF_ORDER_SEQUENCE_NUMBER: [false, "A producer batch arrived with a sequence number out of order."],
  DUPLICATE_SEQUENCE_NUMBER: [false, "A producer batch repeats a sequence number the broker already has."],
  INVALID_PRODUCER_EPOCH: [false, "The producer epoch is older than the current one for this producer id."],
  INVALID_TXN_STATE: [false, "The transactional operation is not allowed in the transaction's current state."],
  INVALID_PRODUCER_ID_MAPPING: [false, "The producer id is not the one currently assigned to this transactional id."],
  INVALID_TRANSACTION_TIMEOUT: [false, "The transaction timeout exceeds the broker's transaction.max.timeout.ms."],
  CONCURRENT_TRANSACTIONS: [
    true,
    "A previous operation on this transaction (such as a commit or abort) is still running.",
  ],
  TRANSACTION_COORDINATOR_FENCED: [
    false,
    "The transaction coordinator that sent these markers has been replaced by a newer one.",
  ],
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: [false, "The principal is not authorized for this transactional id."],
  SECURITY_DISABLED: [false, "The request needs security features that are not enabled on the broker."],
  OPERATION_NOT_ATTEMPTED: [
    false,
    "The broker skipped this operation because another part of the same batched request failed.",
  ],
  KAFKA_STORAGE_ERROR: [true, "The broker hit a disk error on the log directory holding the partition."],
  LOG_DIR_NOT_FOUND: [false, "The requested log directory is not one the broker is configured with."],
  SASL_AUTHENTICATION_FAILED: [false, "The SASL credentials were rejected."],
  UNKNOWN_PRODUCER_ID: [
    false,
    "The broker has no state for this producer id, e.g. because its records were removed by retention.",
  ],
  REASSIGNMENT_IN_PROGRESS: [false, "A partition reassignment is already in progress."],
  DELEGATION_TOKEN_AUTH_DISABLED: [false, "Delegation tokens are not enabled on this cluster."],
  DELEGATION_TOKEN_NOT_FOUND: [false, "No delegation token matches the request."],
  DELEGATION_TOKEN_OWNER_MISMATCH: [false, "The principal is neither the owner nor a renewer of the delegation token."],
  DELEGATION_TOKEN_REQUEST_NOT_ALLOWED: [
    false,
    "Delegation token requests are refused on unauthenticated channels and on token-authenticated connections.",
  ],
  DELEGATION_TOKEN_AUTHORIZATION_FAILED: [
    false,
    "The principal is not authorized for this delegation token operation.",
  ],
  DELEGATION_TOKEN_EXPIRED: [false, "The delegation token has expired."],
  INVALID_PRINCIPAL_TYPE: [false, "The principal type is not supported."],
  NON_EMPTY_GROUP: [false, "The group still has members."],
  GROUP_ID_NOT_FOUND: [false, "No group with this id exists."],
  FETCH_SESSION_ID_NOT_FOUND: [true, "The broker has no incremental fetch session with this id."],
  INVALID_FETCH_SESSION_EPOCH: [true, "The fetch session epoch does not match the one the broker expects."],
  LISTENER_NOT_FOUND: [true, "The leader has no listener matching the one this request arrived on."],
  TOPIC_DELETION_DISABLED: [false, "Topic deletion is turned off on this cluster (delete.topic.enable=false)."],
  FENCED_LEADER_EPOCH: [true, "The leader epoch in the request is older than the broker's."],
  UNKNOWN_LEADER_EPOCH: [true, "The leader epoch in the request is newer than any the broker knows."],
  UNSUPPORTED_COMPRESSION_TYPE: [
    false,
    "The client's request version cannot read the compression codec used by the partition.",
  ],
  STALE_BROKER_EPOCH: [false, "The broker epoch in the request is no longer current."],
  OFFSET_NOT_AVAILABLE: [
    true,
    "The new leader's high watermark has not caught up yet, so the requested offset cannot be served.",
  ],
  MEMBER_ID_REQUIRED: [false, "The member must rejoin the group with the member id the coordinator assigned it."],
  PREFERRED_LEADER_NOT_AVAILABLE: [true, "The preferred replica could not become leader."],
  GROUP_MAX_SIZE_REACHED: [false, "The group already has the maximum number of members (group.max.size)."],
  FENCED_INSTANCE_ID: [false, "A newer member with the same group.instance.id has replaced this static member."],
  ELIGIBLE_LEADERS_NOT_AVAILABLE: [true, "No replica eligible to lead the partition is available."],
  ELECTION_NOT_NEEDED: [true, "The partition already has the leader this election would pick."],
  NO_REASSIGNMENT_IN_PROGRESS: [false, "There is no partition reassignment in progress to act on."],
  GROUP_SUBSCRIBED_TO_TOPIC: [false, "A topic's offsets cannot be deleted while the group is subscribed to it."],
  INVALID_RECORD: [false, "The broker rejected a record that failed its validation."],
  UNSTABLE_OFFSET_COMMIT: [true, "Pending transactional offset commits must settle before offsets can be read."],
  THROTTLING_QUOTA_EXCEEDED: [true, "The request exceeded the principal's controller mutation quota."],
  PRODUCER_FENCED: [false, "A newer producer with the same transactional id has fenced this one."],
  RESOURCE_NOT_FOUND: [false, "The request refers to a resource that does not exist."],
  DUPLICATE_RESOURCE: [false, "The request names the same resource more than once."],
  UNACCEPTABLE_CREDENTIAL: [false, "The credential does not meet the broker's acceptability requirements."],
  INCONSISTENT_VOTER_SET: [false, "The sender or the receiver of a voter-only request is not an expected voter."],
  INVALID_UPDATE_VERSION: [false, "The update version in the request is not valid."],
  FEATURE_UPDATE_FAILED: [
    false,
    "Finalized feature levels could not be updated because of an unexpected server error.",
  ],
  PRINCIPAL_DESERIALIZATION_FAILURE: [
    false,
    "The principal of a forwarded request could not be deserialized; the cluster's security setup is inconsistent.",
  ],
  SNAPSHOT_NOT_FOUND: [false, "The requested metadata snapshot does not exist."],
  POSITION_OUT_OF_RANGE: [false, "The requested snapshot position is negative or beyond the end of the snapshot."],
  UNKNOWN_TOPIC_ID: [true, "This broker does not host a topic with this id."],
  DUPLICATE_BROKER_REGISTRATION: [false, "Another broker has already registered with this broker id."],
  BROKER_ID_NOT_REGISTERED: [false, "No broker is registered with this id."],
  INCONSISTENT_TOPIC_ID: [true, "The topic id in the request differs from the one recorded in the partition's log."],
  INCONSISTENT_CLUSTER_ID: [false, "The cluster id in the request differs from the server's."],
  TRANSACTIONAL_ID_NOT_FOUND: [false, "No transaction state exists for this transactional id."],
  FETCH_SESSION_TOPIC_ID_ERROR: [true, "The fetch session uses topic ids inconsistently across requests."],
  INELIGIBLE_REPLICA: [false, "The proposed ISR includes a replica that is not eligible to join it."],
  NEW_LEADER_ELECTED: [false, "The AlterPartition change was applied, but a different leader has since been elected."],
  OFFSET_MOVED_TO_TIERED_STORAGE: [false, "The requested offset is now only available in tiered storage."],
  FENCED_MEMBER_EPOCH: [false, "The member epoch is fenced; the member must give up its partitions and rejoin."],
  UNRELEASED_INSTANCE_ID: [false, "Another member still holds this instance id and has to leave the group first."],
  UNSUPPORTED_ASSIGNOR: [false, "The group does not support the requested assignor or assignor version."],
  STALE_MEMBER_EPOCH: [
    false,
    "The member epoch is out of date; retry once a heartbeat has returned the current member epoch.",
  ],
  MISMATCHED_ENDPOINT_TYPE: [false, "The request reached the wrong kind of endpoint (broker versus controller)."],
  UNSUPPORTED_ENDPOINT_TYPE: [false, "The requested endpoint type is not supported yet."],
  UNKNOWN_CONTROLLER_ID: [false, "No controller with this id is known."],
  UNKNOWN_SUBSCRIPTION_ID: [
    false,
    "A telemetry push used a client-metrics subscription id that is unknown or outdated.",
  ],
  TELEMETRY_TOO_LARGE: [false, "A telemetry push is larger than the broker accepts."],
  INVALID_REGISTRATION: [false, "The controller found the broker's registration invalid."],
  TRANSACTION_ABORTABLE: [
    false,
    "The transaction hit a server-side error; abort it to keep using the transactional id.",
  ],
  INVALID_RECORD_STATE: [false, "The record's delivery state does not allow this acknowledgement."],
  SHARE_SESSION_NOT_FOUND: [true, "The broker has no share session for this member."],
  INVALID_SHARE_SESSION_EPOCH: [true, "The share session epoch does not match the one the broker expects."],
  FENCED_STATE_EPOCH: [
    false,
    "The share coordinator refused the write because the share-group state epoch does not match.",
  ],
  INVALID_VOTER_KEY: [false, "The voter key does not match the key of the replica that received it."],
  DUPLICATE_VOTER: [false, "The replica is already a member of the voter set."],
  VOTER_NOT_FOUND: [false, "The replica is not a member of the voter set."],
  INVALID_REGULAR_EXPRESSION: [false, "The regular expression in the request is not valid."],
  REBOOTSTRAP_REQUIRED: [false, "The client's metadata is stale; it should start again from its bootstrap servers."],
  STREAMS_INVALID_TOPOLOGY: [false, "The Streams topology in the request is not valid."],
  STREAMS_INVALID_TOPOLOGY_EPOCH: [false, "The Streams topology epoch in the request is not valid."],
  STREAMS_TOPOLOGY_FENCED: [false, "The Streams topology epoch in the request is older than the group's."],
  SHARE_SESSION_LIMIT_REACHED: [true, "The broker already holds its maximum number of share sessions."],
};

/** The lowest code; the lookup table is indexed by `code - MIN_CODE`. */
const MIN_CODE = ErrorCode.UNKNOWN_SERVER_ERROR;

// Built on first use rather than at import, so a bundle that only needs ErrorCode drops DETAILS.
let byCode: readonly (KafkaErrorInfo | undefined)[] | undefined;

function table(): readonly (KafkaErrorInfo | undefined)[] {
  if (byCode === undefined) {
    const rows: (KafkaErrorInfo | undefined)[] = [];
    for (const name of Object.keys(ErrorCode) as ErrorCodeName[]) {
      const code = ErrorCode[name];
      const [retriable, message] = DETAILS[name];
      rows[code - MIN_CODE] = Object.freeze({ code, name, retriable, message });
    }
    byCode = rows;
  }
  return byCode;
}

/**
 * What a code means. A code Kafka does not define is reported the way Kafka's own clients treat
 * it: as UNKNOWN_SERVER_ERROR (not retriable), but keeping the code that was actually received.
 */
export function errorInfo(code: number): KafkaErrorInfo {
  return (
    table()[code - MIN_CODE] ?? {
      code,
      name: "UNKNOWN_SERVER_ERROR",
      retriable: false,
      message: `Unknown Kafka error code ${code}.`,
    }
  );
}

/**
 * Whether a client may retry the request that got this code (false for unknown codes).
 *
 * @example
 * isRetriable(ErrorCode.NOT_LEADER_OR_FOLLOWER) // true
 * isRetriable(ErrorCode.TOPIC_AUTHORIZATION_FAILED) // false
 */
export function isRetriable(code: number): boolean {
  return table()[code - MIN_CODE]?.retriable === true;
}

/**
 * A failure that carries the Kafka error code to put on the wire or that came off it, its name and
 * whether it is retriable.
 *
 * @example
 * try {
 *   await admin.createTopics([{ topic: "orders", numPartitions: 3 }]);
 * } catch (err) {
 *   if (err instanceof KafkaError && err.code === ErrorCode.TOPIC_ALREADY_EXISTS) console.log(err.errorName, err.retriable);
 * }
 */
export class KafkaError extends Error {
  override readonly name: string = "KafkaError";
  readonly code: number;
  readonly errorName: ErrorCodeName;
  readonly retriable: boolean;

  constructor(code: number, message?: string, options?: ErrorOptions) {
    const info = errorInfo(code);
    super(message ?? info.message, options);
    this.code = code;
    this.errorName = info.name;
    this.retriable = info.retriable;
  }
}
