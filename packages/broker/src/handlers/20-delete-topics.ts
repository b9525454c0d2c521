/**
 * DeleteTopics v0-6: by name, and from v6 by topic ID. Committed offsets of a deleted topic are
 * removed from every group (Kafka's onPartitionsDeleted). Internal topics are refused: deleting
 * `__consumer_offsets` under a running coordinator would lose every group's offsets.
 */
import { DeleteTopicsApi, type DeleteTopicsResponse, type Encodable, ErrorCode, ZERO_UUID } from "@samsa/protocol";
import { errorCodeOf, errorMessageOf } from "./errors.js";
import { defineHandler } from "./handler.js";

export const deleteTopicsHandler = defineHandler({
  api: DeleteTopicsApi,
  minVersion: 0,
  maxVersion: 6,
  async handle(ctx, request): Promise<Encodable<DeleteTopicsResponse>> {
    const { broker } = ctx;
    const wanted =
      ctx.header.apiVersion >= 6
        ? request.topics.map((t) => ({ name: t.name, topicId: t.topicId }))
        : request.topicNames.map((name) => ({ name, topicId: ZERO_UUID }));
    const responses = [];
    for (const w of wanted) {
      const topic = w.name !== null ? broker.topics.get(w.name) : broker.topics.getById(w.topicId);
      if (topic === undefined) {
        const byId = w.name === null;
        responses.push({
          name: w.name,
          topicId: w.topicId,
          errorCode: byId ? ErrorCode.UNKNOWN_TOPIC_ID : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
          errorMessage: null,
        });
        continue;
      }
      if (topic.isInternal) {
        responses.push({
          name: topic.name,
          topicId: topic.topicId,
          errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION,
          errorMessage: `${topic.name} is an internal topic and cannot be deleted.`,
        });
        continue;
      }
      if (!broker.config.bool("delete.topic.enable")) {
        responses.push({
          name: topic.name,
          topicId: topic.topicId,
          errorCode: ErrorCode.TOPIC_DELETION_DISABLED,
          errorMessage: null,
        });
        continue;
      }
      try {
        await broker.topics.delete(topic.name);
        await broker.groupCoordinator.onTopicDeleted(topic.name);
        responses.push({ name: topic.name, topicId: topic.topicId, errorCode: ErrorCode.NONE, errorMessage: null });
      } catch (e) {
        responses.push({
          name: topic.name,
          topicId: topic.topicId,
          errorCode: errorCodeOf(e, broker.log),
          errorMessage: errorMessageOf(e),
        });
      }
    }
    return { throttleTimeMs: 0, responses };
  },
});
