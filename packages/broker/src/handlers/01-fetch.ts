/**
 * Fetch v0-13: long poll woken by appends, raw batches from the segment files.
 *
 * A fetch reads every requested partition; if fewer than `minBytes` came back and `maxWaitMs`
 * allows, it parks on the partitions' append signals (no timer loop) and reads again when one
 * fires, answering at `minBytes` or at the deadline. Limits: `partitionMaxBytes` per partition,
 * `maxBytes` for the response, and the first partition with data always gets at least one whole
 * batch (as Kafka, so a consumer can make progress past a batch larger than its limits).
 * v0-3 clients cannot read magic 2: their batches are down-converted (magic 0 for v0-1, 1 for v2-3).
 * Fetch sessions (KIP-227, v7+; ../fetch-session.ts): a full fetch at epoch 0 opens a session;
 * an incremental one reads every partition of its session (the request carries only the changed
 * ones and those to forget) and answers with the partitions that have records, a moved high
 * watermark or log start offset, or an error.
 * Isolation (v4+, Kafka's FetchIsolation): read_uncommitted reads up to the high watermark;
 * read_committed up to the last stable offset, with the aborted transactions overlapping the
 * returned batches (from the `.txnindex` files, Kafka's collectAbortedTransactions) so the
 * consumer drops their records. Every response carries the last stable offset. A session needs
 * no LSO of its own (as in Kafka): the LSO moves only when a marker is appended, which moves the
 * high watermark the session compares.
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
import { type CachedPartition, type FetchContext, INVALID_SESSION_ID } from "../fetch-session.js";
import { OffsetOutOfRangeError } from "../log/errors.js";
import type { Partition } from "../topics/partition.js";
import { errorCodeOf } from "./errors.js";
import { type BrokerContext, defineHandler } from "./handler.js";

/** Fetch v0-2 had no response size limit; Kafka treats it as unbounded. */
const UNBOUNDED_BYTES = 2 ** 31 - 1;
/** Batch header bytes up to and including lastOffsetDelta. */
const LAST_OFFSET_DELTA_END = 27;
const READ_COMMITTED = 1;

interface Target {
  topic: string;
  topicId: string;
  partitionIndex: number;
  partition: Partition | undefined;
  fetchOffset: bigint;
  partitionMaxBytes: number;
  currentLeaderEpoch: number;
  /** isolation_level=1 (read_committed, v4+). */
  readCommitted: boolean;
  /** Set when the topic itself could not be resolved (unknown name or id). */
  error: number;
}

interface PartitionRead {
  target: Target;
  data: Encodable<FetchResponsePartitionData>;
}

interface ReadResult {
  reads: PartitionRead[];
  bytes: number;
  hasError: boolean;
}

interface PartitionRef {
  topic: string;
  topicId: string;
  partition: number;
  fetchOffset: bigint;
  partitionMaxBytes: number;
  currentLeaderEpoch: number;
}

function resolveTarget(broker: BrokerContext, ref: PartitionRef, version: number, readCommitted: boolean): Target {
  const topic = version >= 13 ? broker.topics.getById(ref.topicId) : broker.topics.get(ref.topic);
  const partition = topic?.partitions[ref.partition];
  return {
    topic: topic?.name ?? ref.topic,
    topicId: ref.topicId,
    partitionIndex: ref.partition,
    partition,
    fetchOffset: ref.fetchOffset,
    partitionMaxBytes: ref.partitionMaxBytes,
    currentLeaderEpoch: ref.currentLeaderEpoch,
    readCommitted,
    error:
      topic === undefined
        ? version >= 13
          ? ErrorCode.UNKNOWN_TOPIC_ID
          : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        : partition === undefined
          ? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
          : ErrorCode.NONE,
  };
}

/** The partitions a request names, in request order. */
function requestedPartitions(request: FetchRequest): PartitionRef[] {
  return request.topics.flatMap((t) =>
    t.partitions.map((p) => ({
      topic: t.topic,
      topicId: t.topicId,
      partition: p.partition,
      fetchOffset: p.fetchOffset,
      partitionMaxBytes: p.partitionMaxBytes,
      currentLeaderEpoch: p.currentLeaderEpoch,
    })),
  );
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
  const reads: PartitionRead[] = [];
  for (const t of targets) {
    const data = await readPartition(broker, t, remaining, first, version);
    if (data.errorCode !== ErrorCode.NONE) hasError = true;
    const size = data.records?.length ?? 0;
    if (size > 0) first = false;
    bytes += size;
    remaining = Math.max(0, remaining - size);
    reads.push({ target: t, data });
  }
  return { reads, bytes, hasError };
}

/** Groups partition results by topic, in the order the topics first appear. */
function byTopic(reads: readonly PartitionRead[]): Encodable<FetchResponse>["responses"] {
  const groups = new Map<
    string,
    { topic: string; topicId: string; partitions: Encodable<FetchResponsePartitionData>[] }
  >();
  for (const { target: t, data } of reads) {
    const key = `${t.topicId}/${t.topic}`;
    let group = groups.get(key);
    if (group === undefined) groups.set(key, (group = { topic: t.topic, topicId: t.topicId, partitions: [] }));
    group.partitions.push(data);
  }
  return [...groups.values()];
}

/**
 * Kafka's CachedPartition.maybeUpdateResponseData: whether an incremental response must carry
 * this partition (records, a changed high watermark or log start offset, an error), remembering
 * what the client is told. An error resets the cached high watermark so recovery is reported too.
 */
function mustRespond(cached: CachedPartition, data: Encodable<FetchResponsePartitionData>): boolean {
  let must = (data.records?.length ?? 0) > 0;
  const highWatermark = data.highWatermark ?? -1n;
  const logStartOffset = data.logStartOffset ?? -1n;
  if (highWatermark !== cached.highWatermark) {
    must = true;
    cached.highWatermark = highWatermark;
  }
  if (logStartOffset !== cached.logStartOffset) {
    must = true;
    cached.logStartOffset = logStartOffset;
  }
  if ((data.preferredReadReplica ?? -1) >= 0) must = true;
  if (data.errorCode !== ErrorCode.NONE) {
    cached.highWatermark = -1n;
    must = true;
  }
  return must;
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
  const lastStableOffset = p.lastStableOffset;
  const watermarks = {
    highWatermark: p.highWatermark,
    lastStableOffset,
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
      maxOffset: t.readCommitted ? lastStableOffset : p.highWatermark,
      minOneBatch: minOneBatch || version <= 2,
      // The bytes go into this response as they are; the connection releases them once written.
      pooled: true,
    });
    let records = info.records;
    if (t.readCommitted && records.length > 0) {
      const aborted = p.collectAbortedTransactions(t.fetchOffset, nextOffsetAfter(records));
      return {
        ...base,
        ...watermarks,
        errorCode: ErrorCode.NONE,
        records,
        abortedTransactions: aborted.map((a) => ({ producerId: a.producerId, firstOffset: a.firstOffset })),
      };
    }
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

/** One past the last offset of the whole batches in `records` (the upper bound of a fetch's aborted transactions). */
function nextOffsetAfter(records: Buffer): bigint {
  let next = -1n;
  for (let pos = 0; pos + LAST_OFFSET_DELTA_END <= records.length; ) {
    next = records.readBigInt64BE(pos) + BigInt(records.readInt32BE(pos + 23)) + 1n;
    pos += 12 + records.readInt32BE(pos + 8);
  }
  return next;
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
    const usesTopicIds = version >= 13;
    const requested = requestedPartitions(request);
    let context: FetchContext = { kind: "sessionless" };
    if (version >= 7) {
      context = broker.fetchSessions.newContext(
        { sessionId: request.sessionId, sessionEpoch: request.sessionEpoch, usesTopicIds },
        request.sessionEpoch > 0 ? requested.map(newCachedPartition) : [],
        request.forgottenTopicsData.flatMap((f) =>
          f.partitions.map((partition) => ({ topic: f.topic, topicId: f.topicId, partition })),
        ),
        broker.nowMs(),
      );
    }
    if (context.kind === "error") {
      return { throttleTimeMs: 0, errorCode: context.errorCode, sessionId: INVALID_SESSION_ID, responses: [] };
    }
    const session = context.kind === "incremental" ? context.session : null;
    const refs = session === null ? requested : [...session.partitions.values()];
    const readCommitted = version >= 4 && request.isolationLevel === READ_COMMITTED;
    const targets = refs.map((r) => resolveTarget(broker, r, version, readCommitted));
    const deadline = broker.nowMs() + Math.max(0, request.maxWaitMs);
    let result = await readAll(broker, targets, request, version);
    const partitions = targets.flatMap((t) => (t.partition === undefined ? [] : [t.partition]));
    while (result.bytes < request.minBytes && !result.hasError && partitions.length > 0) {
      const left = deadline - broker.nowMs();
      if (left <= 0) break;
      if (!(await waitForAppend(partitions, left))) break;
      result = await readAll(broker, targets, request, version);
    }
    let sessionId = INVALID_SESSION_ID;
    let reads = result.reads;
    if (context.kind === "full") {
      const cached = reads.map(({ target, data }, i) => ({
        ...newCachedPartition(refs[i]),
        topic: target.topic,
        highWatermark: data.errorCode === ErrorCode.NONE ? (data.highWatermark ?? -1n) : -1n,
        logStartOffset: data.logStartOffset ?? -1n,
      }));
      sessionId = broker.fetchSessions.maybeCreateSession(broker.nowMs(), request.replicaId >= 0, usesTopicIds, cached);
    } else if (session !== null) {
      sessionId = session.id;
      reads = reads.filter(({ target, data }) => {
        const key = session.key({ topic: target.topic, topicId: target.topicId, partition: target.partitionIndex });
        const cached = session.partitions.get(key);
        if (cached === undefined || !mustRespond(cached, data)) return false;
        if ((data.records?.length ?? 0) > 0) session.moveToEnd(key);
        return true;
      });
    }
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, sessionId, responses: byTopic(reads) };
  },
});

function newCachedPartition(ref: PartitionRef): CachedPartition {
  return { ...ref, highWatermark: -1n, logStartOffset: -1n };
}
