/**
 * OffsetForLeaderEpoch v0-4: the end offset of a leader epoch, from the partition's leader-epoch
 * cache (consumers use it to detect log truncation after a leader change). Advertised from v0 as
 * the 3.9 spec does (Kafka 4 dropped v0-1, KIP-896); v0 answers carry no epoch, which is ignorable.
 */
import { type Encodable, ErrorCode, OffsetForLeaderEpochApi, type OffsetForLeaderEpochResponse } from "@samsa/protocol";
import { defineHandler } from "./handler.js";

export const offsetForLeaderEpochHandler = defineHandler({
  api: OffsetForLeaderEpochApi,
  minVersion: 0,
  maxVersion: 4,
  handle(ctx, request): Encodable<OffsetForLeaderEpochResponse> {
    const { broker } = ctx;
    return {
      throttleTimeMs: 0,
      topics: request.topics.map((t) => ({
        topic: t.topic,
        partitions: t.partitions.map((p) => {
          const partition = broker.topics.partition(t.topic, p.partition);
          if (partition === undefined) {
            return {
              errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
              partition: p.partition,
              leaderEpoch: -1,
              endOffset: -1n,
            };
          }
          if (p.currentLeaderEpoch >= 0 && p.currentLeaderEpoch !== partition.leaderEpoch) {
            const code =
              p.currentLeaderEpoch > partition.leaderEpoch
                ? ErrorCode.UNKNOWN_LEADER_EPOCH
                : ErrorCode.FENCED_LEADER_EPOCH;
            return { errorCode: code, partition: p.partition, leaderEpoch: -1, endOffset: -1n };
          }
          const found = partition.log.leaderEpochCache.endOffsetFor(p.leaderEpoch, partition.log.logEndOffset);
          return {
            errorCode: ErrorCode.NONE,
            partition: p.partition,
            leaderEpoch: found.epoch,
            endOffset: found.endOffset,
          };
        }),
      })),
    };
  },
});
