/**
 * Metadata v0-12: this broker is the only broker, the controller and every partition's leader.
 * (v13, Kafka 4's top-level error code for re-bootstrapping, is not advertised: no client we can
 * test against sends it, so nothing would show that we answer it as clients expect.)
 * A request naming a missing topic creates it when auto.create.topics.enable allows (and, from
 * v4, the client asks), as Kafka does.
 */
import {
  type Encodable,
  ErrorCode,
  MetadataApi,
  type MetadataResponse,
  type MetadataResponseMetadataResponseTopic,
} from "@samsa/protocol";
import { CONSUMER_OFFSETS_TOPIC } from "../coordinator/group/group-coordinator-service.js";
import type { Topic } from "../topics/topic-manager.js";
import { invalidTopicNameReason } from "../topics/topic-name.js";
import { errorCodeOf } from "./errors.js";
import { type BrokerContext, defineHandler } from "./handler.js";

/** Kafka's "authorized operations not requested" marker. */
const OPERATIONS_NOT_REQUESTED = -2147483648;
/** Without ACLs every operation is allowed: READ..ALTER_CONFIGS bits of Kafka's AclOperation codes. */
const ALL_TOPIC_OPERATIONS = [3, 4, 5, 6, 7, 8, 10, 11].reduce((m, op) => m | (1 << op), 0);
const ALL_CLUSTER_OPERATIONS = [4, 7, 8, 9, 10, 11, 12, 13, 14].reduce((m, op) => m | (1 << op), 0);

export function describeTopic(
  broker: BrokerContext,
  topic: Topic,
  includeOperations: boolean,
): Encodable<MetadataResponseMetadataResponseTopic> {
  const nodes = [broker.nodeId];
  return {
    errorCode: ErrorCode.NONE,
    name: topic.name,
    topicId: topic.topicId,
    isInternal: topic.isInternal,
    partitions: topic.partitions.map((p) => ({
      errorCode: p.log.isOffline ? ErrorCode.KAFKA_STORAGE_ERROR : ErrorCode.NONE,
      partitionIndex: p.index,
      leaderId: broker.nodeId,
      leaderEpoch: p.leaderEpoch,
      replicaNodes: nodes,
      isrNodes: nodes,
      offlineReplicas: p.log.isOffline ? nodes : [],
    })),
    topicAuthorizedOperations: includeOperations ? ALL_TOPIC_OPERATIONS : OPERATIONS_NOT_REQUESTED,
  };
}

export const metadataHandler = defineHandler({
  api: MetadataApi,
  minVersion: 0,
  maxVersion: 12,
  async handle(ctx, request): Promise<Encodable<MetadataResponse>> {
    const { broker } = ctx;
    const version = ctx.header.apiVersion;
    // v0 asks for all topics with an empty list; later versions with null.
    const all = request.topics === null || (version === 0 && request.topics.length === 0);
    const autoCreate =
      broker.config.bool("auto.create.topics.enable") && (version < 4 || request.allowAutoTopicCreation);
    const topics: Encodable<MetadataResponseMetadataResponseTopic>[] = [];
    if (all) {
      for (const t of broker.topics.all())
        topics.push(describeTopic(broker, t, request.includeTopicAuthorizedOperations));
    } else {
      for (const requested of request.topics ?? []) {
        const byId = requested.name === null ? broker.topics.getById(requested.topicId) : undefined;
        const name = requested.name ?? byId?.name ?? null;
        const existing = byId ?? (name === null ? undefined : broker.topics.get(name));
        if (existing !== undefined) {
          topics.push(describeTopic(broker, existing, request.includeTopicAuthorizedOperations));
          continue;
        }
        if (name === null) {
          topics.push({
            errorCode: ErrorCode.UNKNOWN_TOPIC_ID,
            name: null,
            topicId: requested.topicId,
            partitions: [],
          });
          continue;
        }
        if (invalidTopicNameReason(name) !== null) {
          topics.push({ errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION, name, partitions: [] });
          continue;
        }
        if (!autoCreate) {
          topics.push({ errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, name, partitions: [] });
          continue;
        }
        try {
          // __consumer_offsets is created as the group coordinator needs it, never with num.partitions.
          const created =
            name === CONSUMER_OFFSETS_TOPIC
              ? await broker.groupCoordinator.ensureOffsetsTopic()
              : await broker.topics.create(name, broker.config.int("num.partitions"));
          topics.push(describeTopic(broker, created, request.includeTopicAuthorizedOperations));
        } catch (e) {
          const code = errorCodeOf(e, broker.log);
          // Another request created it meanwhile: describe what is there.
          const raced = code === ErrorCode.TOPIC_ALREADY_EXISTS ? broker.topics.get(name) : undefined;
          topics.push(
            raced !== undefined
              ? describeTopic(broker, raced, request.includeTopicAuthorizedOperations)
              : { errorCode: code, name, partitions: [] },
          );
        }
      }
    }
    return {
      throttleTimeMs: 0,
      brokers: [{ nodeId: broker.nodeId, host: broker.advertisedHost, port: broker.advertisedPort, rack: null }],
      clusterId: broker.clusterId,
      controllerId: broker.nodeId,
      topics,
      clusterAuthorizedOperations: request.includeClusterAuthorizedOperations
        ? ALL_CLUSTER_OPERATIONS
        : OPERATIONS_NOT_REQUESTED,
      errorCode: ErrorCode.NONE,
    };
  },
});
