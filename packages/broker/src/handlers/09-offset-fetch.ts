/**
 * OffsetFetch v0-9: committed offsets of the given partitions, or of every partition the group
 * committed (null topics, v2+). A partition without a commit answers offset -1 and metadata ""
 * with no error, as Kafka. v5+ the leader epoch; v8+ several groups in one request; v9 the member
 * id and epoch (KIP-848), validated against classic groups as Kafka does. v7+ RequireStable: a
 * partition with a transaction's offset commit still pending answers UNSTABLE_OFFSET_COMMIT (the
 * consumer retries until the transaction completes).
 */
import {
  type Encodable,
  ErrorCode,
  OffsetFetchApi,
  type OffsetFetchRequestOffsetFetchRequestTopics,
  type OffsetFetchResponse,
} from "@samsa/protocol";
import type { GroupCoordinatorService } from "../coordinator/group/group-coordinator-service.js";
import type { TopicPartitionRef } from "../coordinator/group/offset-store.js";
import { errorCodeOf } from "./errors.js";
import { isValidGroupId } from "./group-support.js";
import { defineHandler } from "./handler.js";

/** One topic's answer; the same shape fits the single-group (v0-7) and multi-group (v8+) responses. */
interface TopicAnswer {
  name: string;
  partitions: {
    partitionIndex: number;
    committedOffset: bigint;
    committedLeaderEpoch?: number;
    metadata: string;
    errorCode: number;
  }[];
}

export const offsetFetchHandler = defineHandler({
  api: OffsetFetchApi,
  minVersion: 0,
  maxVersion: 9,
  async handle(ctx, request): Promise<Encodable<OffsetFetchResponse>> {
    const { broker } = ctx;
    const version = ctx.header.apiVersion;
    const service = broker.groupCoordinator;
    const requireStable = version >= 7 && request.requireStable;
    if (version >= 8) {
      const groups = await Promise.all(
        request.groups.map(async (g) => {
          const { errorCode, topics } = await fetchGroup(
            service,
            g.groupId,
            g.memberId,
            g.memberEpoch,
            g.topics,
            version,
          );
          return { groupId: g.groupId, errorCode, topics: errorCode === ErrorCode.NONE ? topics : [] };
        }),
      );
      return { throttleTimeMs: 0, groups };
    }
    const { errorCode, topics } = await fetchGroup(service, request.groupId, null, -1, request.topics, version);
    if (errorCode === ErrorCode.NONE || version >= 2) {
      return { throttleTimeMs: 0, errorCode, topics: errorCode === ErrorCode.NONE ? topics : [] };
    }
    // v0-1 have no group-level error: every requested partition carries it.
    return {
      throttleTimeMs: 0,
      topics: (request.topics ?? []).map((t) => ({
        name: t.name,
        partitions: t.partitionIndexes.map((partitionIndex) => ({
          partitionIndex,
          committedOffset: -1n,
          metadata: "",
          errorCode,
        })),
      })),
    };

    async function fetchGroup(
      svc: GroupCoordinatorService,
      groupId: string,
      memberId: string | null,
      memberEpoch: number,
      requested: readonly Pick<OffsetFetchRequestOffsetFetchRequestTopics, "name" | "partitionIndexes">[] | null,
      v: number,
    ): Promise<{ errorCode: number; topics: TopicAnswer[] }> {
      if (!isValidGroupId(groupId, true)) return { errorCode: ErrorCode.INVALID_GROUP_ID, topics: [] };
      try {
        const validation = svc.groups.validateOffsetFetch(groupId, memberId, memberEpoch);
        if (validation !== ErrorCode.NONE) return { errorCode: validation, topics: [] };
        const partitions: TopicPartitionRef[] | null =
          requested === null
            ? null
            : requested.flatMap((t) => t.partitionIndexes.map((partition) => ({ topic: t.name, partition })));
        const fetched = await svc.fetchOffsets(groupId, partitions);
        const byTopic = new Map<string, TopicAnswer>();
        for (const f of fetched) {
          let topic = byTopic.get(f.topic);
          if (topic === undefined) byTopic.set(f.topic, (topic = { name: f.topic, partitions: [] }));
          if (requireStable && svc.hasPendingTransactionalOffsets(groupId, f.topic, f.partition)) {
            topic.partitions.push({
              partitionIndex: f.partition,
              committedOffset: -1n,
              ...(v >= 5 ? { committedLeaderEpoch: -1 } : {}),
              metadata: "",
              errorCode: ErrorCode.UNSTABLE_OFFSET_COMMIT,
            });
            continue;
          }
          topic.partitions.push({
            partitionIndex: f.partition,
            committedOffset: f.committed?.offset ?? -1n,
            ...(v >= 5 ? { committedLeaderEpoch: f.committed?.leaderEpoch ?? -1 } : {}),
            metadata: f.committed?.metadata ?? "",
            errorCode: ErrorCode.NONE,
          });
        }
        return { errorCode: ErrorCode.NONE, topics: [...byTopic.values()] };
      } catch (e) {
        return { errorCode: errorCodeOf(e, broker.log), topics: [] };
      }
    }
  },
});
