/**
 * CreateTopics v0-7: -1 partitions or replication factor take the broker defaults; a replication
 * factor above 1 cannot be met by one broker (INVALID_REPLICATION_FACTOR); configs are validated
 * by the topic config definitions; validateOnly checks everything and creates nothing.
 */
import {
  CreateTopicsApi,
  type CreateTopicsResponse,
  type CreateTopicsResponseCreatableTopicResult,
  type Encodable,
  ErrorCode,
  ZERO_UUID,
} from "@samsa/protocol";
import { ConfigError } from "../config/config-def.js";
import { configSourceCode } from "../config/config-source.js";
import { effectiveTopicConfig, parseTopicConfig, TOPIC_CONFIG_DEFS } from "../config/topic-config.js";
import { MAX_PARTITIONS_PER_TOPIC } from "../topics/topic-manager.js";
import { invalidTopicNameReason } from "../topics/topic-name.js";
import { errorCodeOf, errorMessageOf } from "./errors.js";
import { defineHandler } from "./handler.js";

export const createTopicsHandler = defineHandler({
  api: CreateTopicsApi,
  minVersion: 0,
  maxVersion: 7,
  async handle(ctx, request): Promise<Encodable<CreateTopicsResponse>> {
    const { broker } = ctx;
    const results: Encodable<CreateTopicsResponseCreatableTopicResult>[] = [];
    const seen = new Set<string>();
    for (const t of request.topics) {
      const fail = (errorCode: number, errorMessage: string | null) =>
        results.push({
          name: t.name,
          topicId: ZERO_UUID,
          errorCode,
          errorMessage,
          numPartitions: -1,
          replicationFactor: -1,
          configs: null,
        });
      if (seen.has(t.name)) {
        fail(ErrorCode.INVALID_REQUEST, `Topic '${t.name}' appears twice in the request.`);
        continue;
      }
      seen.add(t.name);
      const nameProblem = invalidTopicNameReason(t.name);
      if (nameProblem !== null) {
        fail(ErrorCode.INVALID_TOPIC_EXCEPTION, nameProblem);
        continue;
      }
      if (broker.topics.get(t.name) !== undefined) {
        fail(ErrorCode.TOPIC_ALREADY_EXISTS, `Topic '${t.name}' already exists.`);
        continue;
      }
      if (t.assignments.length > 0 && (t.numPartitions !== -1 || t.replicationFactor !== -1)) {
        fail(ErrorCode.INVALID_REQUEST, "Both manual replica assignments and partition/replication counts were given.");
        continue;
      }
      const numPartitions =
        t.assignments.length > 0
          ? t.assignments.length
          : t.numPartitions === -1
            ? broker.config.int("num.partitions")
            : t.numPartitions;
      const replicationFactor =
        t.assignments.length > 0
          ? (t.assignments[0]?.brokerIds.length ?? 0)
          : t.replicationFactor === -1
            ? broker.config.int("default.replication.factor")
            : t.replicationFactor;
      if (numPartitions < 1 || numPartitions > MAX_PARTITIONS_PER_TOPIC) {
        fail(ErrorCode.INVALID_PARTITIONS, `Number of partitions must be between 1 and ${MAX_PARTITIONS_PER_TOPIC}.`);
        continue;
      }
      if (replicationFactor !== 1 || t.assignments.some((a) => a.brokerIds.some((id) => id !== broker.nodeId))) {
        fail(
          ErrorCode.INVALID_REPLICATION_FACTOR,
          `Replication factor ${replicationFactor} is larger than the 1 available broker.`,
        );
        continue;
      }
      const configs = new Map<string, string>();
      let configProblem: ConfigError | null = null;
      for (const c of t.configs) {
        try {
          parseTopicConfig(c.name, c.value);
          configs.set(c.name, (c.value ?? "").trim());
        } catch (e) {
          configProblem = e instanceof ConfigError ? e : new ConfigError(c.name, String(e));
          break;
        }
      }
      if (configProblem !== null) {
        fail(ErrorCode.INVALID_CONFIG, configProblem.message);
        continue;
      }
      let topicId = ZERO_UUID;
      if (!request.validateOnly) {
        try {
          topicId = (await broker.topics.create(t.name, numPartitions, configs)).topicId;
        } catch (e) {
          fail(errorCodeOf(e, broker.log), errorMessageOf(e));
          continue;
        }
      }
      results.push({
        name: t.name,
        topicId,
        errorCode: ErrorCode.NONE,
        errorMessage: null,
        numPartitions,
        replicationFactor,
        configs: TOPIC_CONFIG_DEFS.map((def) => {
          const { value, source } = effectiveTopicConfig(def, configs, broker.config);
          return {
            name: def.name,
            value,
            readOnly: false,
            configSource: configSourceCode(source),
            isSensitive: false,
          };
        }),
      });
    }
    return { throttleTimeMs: 0, topics: results };
  },
});
