/**
 * OffsetCommit v0-9: a group's consumed positions, written to `__consumer_offsets` before the
 * answer. v0 commits without a generation (simple consumers); v1 may carry a commit timestamp
 * and v2-4 a retention time (both set an explicit expiry, as Kafka); v6+ the leader epoch; v7+
 * static members. Unknown partitions and oversized metadata fail alone, everything else fails or
 * succeeds together.
 */
import { type Encodable, ErrorCode, OffsetCommitApi, type OffsetCommitResponse } from "@samsa/protocol";
import type { OffsetCommitEntry } from "../coordinator/group/group-coordinator-service.js";
import { errorCodeOf } from "./errors.js";
import { isValidGroupId } from "./group-support.js";
import { defineHandler } from "./handler.js";

/** OffsetCommitRequest.DEFAULT_TIMESTAMP / DEFAULT_RETENTION_TIME: "not given". */
const NOT_GIVEN = -1n;

export const offsetCommitHandler = defineHandler({
  api: OffsetCommitApi,
  minVersion: 0,
  maxVersion: 9,
  async handle(ctx, request): Promise<Encodable<OffsetCommitResponse>> {
    const { broker } = ctx;
    const version = ctx.header.apiVersion;
    const nowMs = broker.nowMs();
    const maxMetadataBytes = broker.config.int("offset.metadata.max.bytes");
    const retentionTimeMs = version >= 2 && version <= 4 ? request.retentionTimeMs : NOT_GIVEN;
    const defaultRetentionMs = broker.config.int("offsets.retention.minutes") * 60_000;

    // Per-partition answers; entries to commit keep a pointer to theirs.
    const answers = request.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: ErrorCode.NONE as number })),
    }));
    const entries: OffsetCommitEntry[] = [];
    const pending: { errorCode: number }[] = [];
    request.topics.forEach((t, ti) => {
      const topic = broker.topics.get(t.name);
      t.partitions.forEach((p, pi) => {
        const answer = answers[ti]!.partitions[pi]!;
        const metadata = p.committedMetadata ?? "";
        if (topic === undefined || p.partitionIndex < 0 || p.partitionIndex >= topic.partitions.length) {
          answer.errorCode = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
        } else if (Buffer.byteLength(metadata) > maxMetadataBytes) {
          answer.errorCode = ErrorCode.OFFSET_METADATA_TOO_LARGE;
        } else {
          const commitTimestampMs = version === 1 && p.commitTimestamp !== NOT_GIVEN ? Number(p.commitTimestamp) : null;
          entries.push({
            topic: t.name,
            partition: p.partitionIndex,
            offset: p.committedOffset,
            leaderEpoch: version >= 6 ? p.committedLeaderEpoch : -1,
            metadata,
            commitTimestampMs,
            expireTimestampMs:
              retentionTimeMs !== NOT_GIVEN
                ? nowMs + Number(retentionTimeMs)
                : commitTimestampMs !== null
                  ? commitTimestampMs + defaultRetentionMs
                  : null,
          });
          pending.push(answer);
        }
      });
    });

    let errorCode: number;
    if (!isValidGroupId(request.groupId, true)) errorCode = ErrorCode.INVALID_GROUP_ID;
    else {
      try {
        errorCode = await broker.groupCoordinator.commitOffsets(
          request.groupId,
          {
            generationId: version >= 1 ? request.generationIdOrMemberEpoch : -1,
            memberId: version >= 1 ? request.memberId : "",
            groupInstanceId: version >= 7 ? request.groupInstanceId : null,
            apiVersion: version,
          },
          entries,
        );
      } catch (e) {
        errorCode = errorCodeOf(e, broker.log);
      }
    }
    for (const answer of pending) answer.errorCode = errorCode;
    return { throttleTimeMs: 0, topics: answers };
  },
});
