/**
 * Fetch v0-13: long poll woken by appends, raw batches from the segment files.
 *
 * A fetch reads every requested partition; if fewer than `minBytes` came back and `maxWaitMs`
 * allows, it parks on the partitions' append signals (no timer loop) and reads again when one
 * fires, answering at `minBytes` or at the deadline. Limits: `partitionMaxBytes` per partition,
 * `maxBytes` for the response, and the first partition with data always gets at least one whole
 * batch (as Kafka, so a consumer can make progress past a batch larger than its limits).
 * v0-3 clients cannot read magic 2: their batches are down-converted (magic 0 for v0-1, 1 for v2-3).
 * Fetch sessions (KIP-227): we answer sessionId 0, which tells the client to keep sending full
 * fetch requests — a session-less broker is a valid peer of every client.
 */
import {
  downConvertRecordSet,
  type Encodable,
  EncodeError,
  ErrorCode,
  FetchApi,
  type FetchRequest,
  type FetchResponse,
  type FetchResponsePartitionData,
} from "@samsa/protocol";
import { OffsetOutOfRangeError } from "../log/errors.js";
import type { Partition } from "../topics/partition.js";
import { errorCodeOf } from "./errors.js";
import { type BrokerContext, defineHandler } from "./handler.js";

/** Fetch v0-2 had no response size limit; Kafka treats it as unbounded. */
const UNBOUNDED_BYTES = 2 ** 31 - 1;

interface Target {
  topic: string;
  topicId: string;
  partitionIndex: number;
  partition: Partition | undefined;
  fetchOffset: bigint;
  partitionMaxBytes: number;
  currentLeaderEpoch: number;
  /** Set when the topic itself could not be resolved (unknown name or id). */
  error: number;
}

interface ReadResult {
  responses: Encodable<FetchResponse>["responses"];
  bytes: number;
  hasError: boolean;
}

function resolveTargets(broker: BrokerContext, request: FetchRequest, version: number): Target[] {
  const targets: Target[] = [];
  for (const t of request.topics) {
    const topic = version >= 13 ? broker.topics.getById(t.topicId) : broker.topics.get(t.topic);
    const unknown = version >= 13 ? ErrorCode.UNKNOWN_TOPIC_ID : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
    for (const p of t.partitions) {
      const partition = topic?.partitions[p.partition];
      targets.push({
        topic: topic?.name ?? t.topic,
        topicId: t.topicId,
        partitionIndex: p.partition,
        partition,
        fetchOffset: p.fetchOffset,
        partitionMaxBytes: p.partitionMaxBytes,
        currentLeaderEpoch: p.currentLeaderEpoch,
        error:
          topic === undefined
            ? unknown
            : partition === undefined
              ? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
              : ErrorCode.NONE,
      });
    }
  }
  return targets;
}

async function readAll(
  broker: BrokerContext,
  targets: Target[],
  request: FetchRequest,
  version: number,
): Promise<ReadResult> {
  let remaining = version >= 3 ? request.maxBytes : UNBOUNDED_BYTES;
  let bytes = 0;
  let hasError = false;
  let first = true;
  const byTopic = new Map<string, Encodable<FetchResponsePartitionData>[]>();
  const order: { key: string; topic: string; topicId: string }[] = [];
  for (const t of targets) {
    const key = `${t.topicId}/${t.topic}`;
    let list = byTopic.get(key);
    if (list === undefined) {
      byTopic.set(key, (list = []));
      order.push({ key, topic: t.topic, topicId: t.topicId });
    }
    const data = await readPartition(broker, t, remaining, first, version);
    if (data.errorCode !== ErrorCode.NONE) hasError = true;
    const size = data.records?.length ?? 0;
    if (size > 0) first = false;
    bytes += size;
    remaining = Math.max(0, remaining - size);
    list.push(data);
  }
  return {
    responses: order.map((o) => ({ topic: o.topic, topicId: o.topicId, partitions: byTopic.get(o.key)! })),
    bytes,
    hasError,
  };
}

async function readPartition(
  broker: BrokerContext,
  t: Target,
  remaining: number,
  minOneBatch: boolean,
  version: number,
): Promise<Encodable<FetchResponsePartitionData>> {
  const base = {
    partitionIndex: t.partitionIndex,
    abortedTransactions: version >= 4 ? [] : null,
    preferredReadReplica: -1,
  };
  const p = t.partition;
  if (t.error !== ErrorCode.NONE || p === undefined) {
    return {
      ...base,
      errorCode: t.error,
      highWatermark: -1n,
      lastStableOffset: -1n,
      logStartOffset: -1n,
      records: null,
    };
  }
  const watermarks = {
    highWatermark: p.highWatermark,
    lastStableOffset: p.highWatermark,
    logStartOffset: p.log.logStartOffset,
  };
  if (t.currentLeaderEpoch >= 0 && t.currentLeaderEpoch !== p.leaderEpoch) {
    const code = t.currentLeaderEpoch > p.leaderEpoch ? ErrorCode.UNKNOWN_LEADER_EPOCH : ErrorCode.FENCED_LEADER_EPOCH;
    return { ...base, ...watermarks, errorCode: code, records: null };
  }
  try {
    const maxBytes = Math.min(t.partitionMaxBytes, remaining);
    const info = await p.log.read(t.fetchOffset, {
      maxBytes,
      maxOffset: p.highWatermark,
      minOneBatch: minOneBatch || version <= 2,
    });
    let records = info.records;
    if (version <= 3 && records.length > 0)
      records = downConvertRecordSet(records, version <= 1 ? 0 : 1, { firstOffset: t.fetchOffset });
    return { ...base, ...watermarks, errorCode: ErrorCode.NONE, records };
  } catch (e) {
    const code =
      e instanceof OffsetOutOfRangeError
        ? ErrorCode.OFFSET_OUT_OF_RANGE
        : e instanceof EncodeError // a zstd batch cannot be down-converted for an old client
          ? ErrorCode.UNSUPPORTED_COMPRESSION_TYPE
          : errorCodeOf(e, broker.log);
    return { ...base, ...watermarks, errorCode: code, records: null };
  }
}

/** Resolves after the first append to any of `partitions`, or after `ms`; returns whether an append happened. */
function waitForAppend(partitions: Partition[], ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const unsubscribes: (() => void)[] = [];
    const done = (appended: boolean) => {
      clearTimeout(timer);
      for (const u of unsubscribes) u();
      resolve(appended);
    };
    const timer = setTimeout(() => done(false), ms);
    for (const p of partitions) unsubscribes.push(p.onAppend(() => done(true)));
  });
}

export const fetchHandler = defineHandler({
  api: FetchApi,
  minVersion: 0,
  maxVersion: 13,
  async handle(ctx, request): Promise<Encodable<FetchResponse>> {
    const { broker } = ctx;
    const version = ctx.header.apiVersion;
    const targets = resolveTargets(broker, request, version);
    const deadline = broker.nowMs() + Math.max(0, request.maxWaitMs);
    let result = await readAll(broker, targets, request, version);
    const partitions = targets.flatMap((t) => (t.partition === undefined ? [] : [t.partition]));
    while (result.bytes < request.minBytes && !result.hasError && partitions.length > 0) {
      const left = deadline - broker.nowMs();
      if (left <= 0) break;
      if (!(await waitForAppend(partitions, left))) break;
      result = await readAll(broker, targets, request, version);
    }
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, sessionId: 0, responses: result.responses };
  },
});
