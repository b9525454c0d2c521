/** CreatePartitions v0-3: grows a topic; with one broker every assignment must name it. */
import { CreatePartitionsApi, type CreatePartitionsResponse, type Encodable, ErrorCode } from "@samsa/protocol";
import { errorCodeOf, errorMessageOf } from "./errors.js";
import { defineHandler } from "./handler.js";

export const createPartitionsHandler = defineHandler({
  api: CreatePartitionsApi,
  minVersion: 0,
  maxVersion: 3,
  async handle(ctx, request): Promise<Encodable<CreatePartitionsResponse>> {
    const { broker } = ctx;
    const results = [];
    for (const t of request.topics) {
      const topic = broker.topics.get(t.name);
      if (topic === undefined) {
        results.push({
          name: t.name,
          errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
          errorMessage: `Topic '${t.name}' does not exist.`,
        });
        continue;
      }
      if (t.count <= topic.partitions.length) {
        results.push({
          name: t.name,
          errorCode: ErrorCode.INVALID_PARTITIONS,
          errorMessage: `Topic currently has ${topic.partitions.length} partitions, ${t.count} would not be an increase.`,
        });
        continue;
      }
      if (t.assignments?.some((a) => a.brokerIds.some((id) => id !== broker.nodeId))) {
        results.push({
          name: t.name,
          errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT,
          errorMessage: "Only this broker can hold replicas.",
        });
        continue;
      }
      if (request.validateOnly) {
        results.push({ name: t.name, errorCode: ErrorCode.NONE, errorMessage: null });
        continue;
      }
      try {
        await broker.topics.createPartitions(t.name, t.count);
        results.push({ name: t.name, errorCode: ErrorCode.NONE, errorMessage: null });
      } catch (e) {
        results.push({ name: t.name, errorCode: errorCodeOf(e, broker.log), errorMessage: errorMessageOf(e) });
      }
    }
    return { throttleTimeMs: 0, results };
  },
});
