/**
 * OffsetDelete v0: removes a group's committed offsets for some partitions. As in Kafka, a
 * partition of a topic that a non-empty consumer group still subscribes to is refused with
 * GROUP_SUBSCRIBED_TO_TOPIC; a partition without a commit is simply answered with no error.
 */
import { type Encodable, ErrorCode, OffsetDeleteApi, type OffsetDeleteResponse } from "@samsa/protocol";
import type { TopicPartitionRef } from "../coordinator/group/offset-store.js";
import { errorCodeOf } from "./errors.js";
import { isValidGroupId } from "./group-support.js";
import { defineHandler } from "./handler.js";

export const offsetDeleteHandler = defineHandler({
  api: OffsetDeleteApi,
  minVersion: 0,
  maxVersion: 0,
  async handle(ctx, request): Promise<Encodable<OffsetDeleteResponse>> {
    const { broker } = ctx;
    const service = broker.groupCoordinator;
    const groupError = (errorCode: number) => ({ errorCode, throttleTimeMs: 0, topics: [] });
    if (!isValidGroupId(request.groupId, false)) return groupError(ErrorCode.INVALID_GROUP_ID);
    try {
      await service.ensureOffsetsTopic();
      const validation = service.groups.validateOffsetDelete(request.groupId);
      if (validation !== ErrorCode.NONE) return groupError(validation);
      const toDelete: TopicPartitionRef[] = [];
      const answers = request.topics.map((t) => {
        const topic = broker.topics.get(t.name);
        const subscribed = service.groups.isSubscribedToTopic(request.groupId, t.name);
        return {
          name: t.name,
          partitions: t.partitions.map((p) => {
            let errorCode: number = ErrorCode.NONE;
            if (topic === undefined || p.partitionIndex < 0 || p.partitionIndex >= topic.partitions.length) {
              errorCode = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
            } else if (subscribed) errorCode = ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC;
            else toDelete.push({ topic: t.name, partition: p.partitionIndex });
            return { partitionIndex: p.partitionIndex, errorCode };
          }),
        };
      });
      const errorCode = await service.deleteOffsets(request.groupId, toDelete);
      if (errorCode !== ErrorCode.NONE) return groupError(errorCode);
      return { errorCode: ErrorCode.NONE, throttleTimeMs: 0, topics: answers };
    } catch (e) {
      return groupError(errorCodeOf(e, broker.log));
    }
  },
});
