/**
 * DescribeLogDirs v0-4: the one log directory of this broker, each partition in it with its size
 * (the sum of its segment files), offsetLag 0 (no future replica is ever moving), and from v4 the
 * file system's total and usable bytes.
 */
import fsp from "node:fs/promises";
import {
  DescribeLogDirsApi,
  type DescribeLogDirsResponse,
  type DescribeLogDirsResponseDescribeLogDirsTopic,
  type Encodable,
  ErrorCode,
} from "@samsa/protocol";
import type { Topic } from "../topics/topic-manager.js";
import { errorCodeOf } from "./errors.js";
import { defineHandler } from "./handler.js";

export const describeLogDirsHandler = defineHandler({
  api: DescribeLogDirsApi,
  minVersion: 0,
  maxVersion: 4,
  async handle(ctx, request): Promise<Encodable<DescribeLogDirsResponse>> {
    const { broker } = ctx;
    const version = ctx.header.apiVersion;
    // null asks for every partition; otherwise only the named ones that exist here (Kafka omits the rest).
    const wanted: [Topic, number[] | null][] =
      request.topics === null
        ? broker.topics.all().map((t) => [t, null])
        : request.topics.flatMap((r) => {
            const t = broker.topics.get(r.topic);
            return t === undefined ? [] : [[t, r.partitions] as [Topic, number[]]];
          });
    const topics: Encodable<DescribeLogDirsResponseDescribeLogDirsTopic>[] = [];
    for (const [topic, indexes] of wanted) {
      const partitions = topic.partitions.filter((p) => indexes === null || indexes.includes(p.index));
      if (partitions.length === 0) continue;
      topics.push({
        name: topic.name,
        partitions: partitions.map((p) => ({
          partitionIndex: p.index,
          partitionSize: BigInt(p.log.size),
          offsetLag: 0n,
          isFutureKey: false,
        })),
      });
    }
    let errorCode: number = ErrorCode.NONE;
    let space = { totalBytes: -1n, usableBytes: -1n };
    if (version >= 4) {
      try {
        const s = await fsp.statfs(broker.dataDir, { bigint: true });
        space = { totalBytes: s.blocks * s.bsize, usableBytes: s.bavail * s.bsize };
      } catch (e) {
        errorCode = errorCodeOf(e, broker.log);
      }
    }
    return {
      throttleTimeMs: 0,
      errorCode: ErrorCode.NONE,
      results: [{ errorCode, logDir: broker.dataDir, topics, ...space }],
    };
  },
});
