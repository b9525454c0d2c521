/**
 * ListOffsets v0-8: earliest (-2), latest (-1), max timestamp (-3, v7+), earliest local (-4, v8+;
 * without tiered storage the same as earliest), or the first offset at or after a timestamp.
 * With isolation_level read_committed (v2+) the last fetchable offset is the last stable offset
 * rather than the high watermark: latest is the LSO, and a timestamp lookup finding an offset at
 * or past it finds nothing (Kafka's Partition.fetchOffsetForTimestamp).
 */
import { type Encodable, ErrorCode, ListOffsetsApi, type ListOffsetsResponse } from "@samsa/protocol";
import { EARLIEST_TIMESTAMP, LATEST_TIMESTAMP } from "../log/partition-log.js";
import { errorCodeOf } from "./errors.js";
import { defineHandler } from "./handler.js";

const EARLIEST_LOCAL_TIMESTAMP = -4n;

export const listOffsetsHandler = defineHandler({
  api: ListOffsetsApi,
  minVersion: 0,
  maxVersion: 8,
  async handle(ctx, request): Promise<Encodable<ListOffsetsResponse>> {
    const { broker } = ctx;
    const version = ctx.header.apiVersion;
    const topics = await Promise.all(
      request.topics.map(async (t) => ({
        name: t.name,
        partitions: await Promise.all(
          t.partitions.map(async (p) => {
            const base = {
              partitionIndex: p.partitionIndex,
              oldStyleOffsets: [] as bigint[],
              timestamp: -1n,
              offset: -1n,
              leaderEpoch: -1,
            };
            const partition = broker.topics.partition(t.name, p.partitionIndex);
            if (partition === undefined) return { ...base, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION };
            if (p.currentLeaderEpoch >= 0 && p.currentLeaderEpoch !== partition.leaderEpoch) {
              const code =
                p.currentLeaderEpoch > partition.leaderEpoch
                  ? ErrorCode.UNKNOWN_LEADER_EPOCH
                  : ErrorCode.FENCED_LEADER_EPOCH;
              return { ...base, errorCode: code };
            }
            try {
              let offset: bigint;
              let timestamp = -1n;
              const lastFetchableOffset =
                version >= 2 && request.isolationLevel === 1 ? partition.lastStableOffset : partition.highWatermark;
              if (p.timestamp === LATEST_TIMESTAMP) offset = lastFetchableOffset;
              else if (p.timestamp === EARLIEST_TIMESTAMP || p.timestamp === EARLIEST_LOCAL_TIMESTAMP)
                offset = partition.log.logStartOffset;
              else {
                const lookup = await partition.log.offsetForTimestamp(p.timestamp);
                const found = lookup !== null && lookup.offset < lastFetchableOffset ? lookup : null;
                offset = found?.offset ?? -1n;
                timestamp = found?.timestamp ?? -1n;
              }
              // v0 answers with a list of offsets; Timestamp and Offset exist from v1 and must
              // keep their defaults in v0 (the codec refuses anything else).
              if (version === 0) {
                return { ...base, errorCode: ErrorCode.NONE, oldStyleOffsets: offset >= 0n ? [offset] : [] };
              }
              return {
                ...base,
                errorCode: ErrorCode.NONE,
                timestamp,
                offset,
                // The epoch field exists from v4; earlier versions must carry the default.
                leaderEpoch: offset >= 0n && version >= 4 ? partition.leaderEpoch : -1,
              };
            } catch (e) {
              return { ...base, errorCode: errorCodeOf(e, broker.log) };
            }
          }),
        ),
      })),
    );
    return { throttleTimeMs: 0, topics };
  },
});
