/**
 * Incremental fetch sessions (KIP-227), after Kafka's FetchSession / FetchSessionCache.
 *
 * A consumer that fetches many partitions asks for a session (epoch 0); the broker remembers its
 * partitions and fetch positions, and later requests (epoch 1, 2, ...) carry only the partitions
 * whose position changed plus those to forget, while responses carry only the partitions with
 * something new: records, a moved high watermark or log start offset, or an error.
 *
 * | sessionId | epoch | meaning                                                        |
 * | 0         | -1    | full fetch, no session (every client before KIP-227)           |
 * | 0         | 0     | full fetch, create a session                                   |
 * | X         | 0     | close X, full fetch, create a new session                      |
 * | X         | -1    | close X, full fetch without a session                          |
 * | X         | n > 0 | incremental fetch in X; n must be the epoch X expects          |
 *
 * The cache is bounded (Kafka's max.incremental.fetch.session.cache.slots); when full, a new
 * session may evict one unused for longer than the eviction time, else the smallest one that is
 * older than it and not more valuable than the newcomer; otherwise the fetch goes on without a
 * session (sessionId 0), which every client handles.
 */
import { ErrorCode, type Uuid } from "@samsa/protocol";

/** Kafka's max.incremental.fetch.session.cache.slots default. */
export const DEFAULT_MAX_FETCH_SESSIONS = 1000;
/** Kafka's min.incremental.fetch.session.eviction.ms: a session this idle (or this old) may be evicted. */
export const FETCH_SESSION_EVICTION_MS = 120_000;
export const INVALID_SESSION_ID = 0;
export const INITIAL_EPOCH = 0;
export const FINAL_EPOCH = -1;

/** Kafka's FetchMetadata.nextEpoch: epochs wrap to 1, never to 0 or -1. */
export function nextEpoch(epoch: number): number {
  return epoch >= 2 ** 31 - 1 ? 1 : epoch + 1;
}

/** A partition a session remembers: where the client fetches from, and what it was last told. */
export interface CachedPartition {
  /** The topic name (v7-12 requests name topics; for v13+ the name the ID resolved to, if any). */
  topic: string;
  topicId: Uuid;
  partition: number;
  fetchOffset: bigint;
  partitionMaxBytes: number;
  currentLeaderEpoch: number;
  /** Last high watermark sent to the client; -1 forces the next response to include the partition. */
  highWatermark: bigint;
  /** Last log start offset sent to the client. */
  logStartOffset: bigint;
}

/** A session's key for a partition: by topic ID when the session uses IDs (v13+), else by name. */
export function cachedPartitionKey(usesTopicIds: boolean, topic: string, topicId: Uuid, partition: number): string {
  return `${usesTopicIds ? topicId : topic}:${partition}`;
}

export class FetchSession {
  /** Iteration order is response order: partitions that returned data move to the end, so none starves. */
  readonly partitions = new Map<string, CachedPartition>();
  /** The epoch the next incremental request must carry. */
  epoch = 1;
  lastUsedMs: number;

  constructor(
    readonly id: number,
    readonly privileged: boolean,
    readonly usesTopicIds: boolean,
    readonly creationMs: number,
    partitions: readonly CachedPartition[],
  ) {
    this.lastUsedMs = creationMs;
    for (const p of partitions) this.partitions.set(this.key(p), p);
  }

  key(p: { topic: string; topicId: Uuid; partition: number }): string {
    return cachedPartitionKey(this.usesTopicIds, p.topic, p.topicId, p.partition);
  }

  /** Kafka's FetchSession.update: add or move the partitions the request names, then drop the forgotten ones. */
  update(changed: readonly CachedPartition[], forgotten: readonly string[]): void {
    for (const p of changed) {
      const key = this.key(p);
      const cached = this.partitions.get(key);
      if (cached === undefined) {
        this.partitions.set(key, p);
      } else {
        cached.fetchOffset = p.fetchOffset;
        cached.partitionMaxBytes = p.partitionMaxBytes;
        cached.currentLeaderEpoch = p.currentLeaderEpoch;
      }
    }
    for (const key of forgotten) this.partitions.delete(key);
  }

  /** Moves a partition to the end of the response order (it just returned data). */
  moveToEnd(key: string): void {
    const p = this.partitions.get(key);
    if (p === undefined) return;
    this.partitions.delete(key);
    this.partitions.set(key, p);
  }
}

/** How one Fetch request relates to sessions (Kafka's FetchContext kinds). */
export type FetchContext =
  | { kind: "sessionless" }
  | { kind: "full" }
  | { kind: "incremental"; session: FetchSession }
  | { kind: "error"; errorCode: number };

export interface FetchSessionCacheOptions {
  maxSessions?: number;
  evictionMs?: number;
  random?: () => number;
}

export class FetchSessionCache {
  /** Least recently used first: a Map keeps insertion order, and touching re-inserts. */
  private readonly sessions = new Map<number, FetchSession>();
  private readonly maxSessions: number;
  private readonly evictionMs: number;
  private readonly random: () => number;
  /** Sessions evicted to make room (Kafka's IncrementalFetchSessionEvictionsPerSec). */
  evictions = 0;

  constructor(opts: FetchSessionCacheOptions = {}) {
    this.maxSessions = opts.maxSessions ?? DEFAULT_MAX_FETCH_SESSIONS;
    this.evictionMs = opts.evictionMs ?? FETCH_SESSION_EVICTION_MS;
    this.random = opts.random ?? Math.random;
  }

  get size(): number {
    return this.sessions.size;
  }

  get(id: number): FetchSession | undefined {
    return this.sessions.get(id);
  }

  /**
   * Kafka's FetchManager.newContext. A full request (epoch 0 or -1) closes the session it names;
   * an incremental one must name a live session at the epoch it expects, and then updates it
   * (changed partitions, forgotten ones) and advances its epoch.
   */
  newContext(
    req: { sessionId: number; sessionEpoch: number; usesTopicIds: boolean },
    changed: readonly CachedPartition[],
    forgotten: readonly { topic: string; topicId: Uuid; partition: number }[],
    nowMs: number,
  ): FetchContext {
    if (req.sessionEpoch === INITIAL_EPOCH || req.sessionEpoch === FINAL_EPOCH) {
      if (req.sessionId !== INVALID_SESSION_ID) this.sessions.delete(req.sessionId);
      return req.sessionEpoch === FINAL_EPOCH ? { kind: "sessionless" } : { kind: "full" };
    }
    const session = this.sessions.get(req.sessionId);
    if (session === undefined) return { kind: "error", errorCode: ErrorCode.FETCH_SESSION_ID_NOT_FOUND };
    if (session.epoch !== req.sessionEpoch) return { kind: "error", errorCode: ErrorCode.INVALID_FETCH_SESSION_EPOCH };
    if (session.usesTopicIds !== req.usesTopicIds) {
      return { kind: "error", errorCode: ErrorCode.FETCH_SESSION_TOPIC_ID_ERROR };
    }
    session.update(
      changed,
      forgotten.map((f) => session.key(f)),
    );
    session.epoch = nextEpoch(session.epoch);
    this.touch(session, nowMs);
    return { kind: "incremental", session };
  }

  /**
   * Creates a session after a full fetch, if there is room or a session can be evicted; returns
   * its id, or INVALID_SESSION_ID (the client then goes on with full fetches).
   */
  maybeCreateSession(
    nowMs: number,
    privileged: boolean,
    usesTopicIds: boolean,
    partitions: readonly CachedPartition[],
  ): number {
    if (this.sessions.size >= this.maxSessions && !this.tryEvict(privileged, partitions.length, nowMs)) {
      return INVALID_SESSION_ID;
    }
    let id: number;
    do id = 1 + Math.floor(this.random() * (2 ** 31 - 2));
    while (this.sessions.has(id));
    const session = new FetchSession(id, privileged, usesTopicIds, nowMs, partitions);
    this.sessions.set(id, session);
    return id;
  }

  remove(id: number): boolean {
    return this.sessions.delete(id);
  }

  private touch(session: FetchSession, nowMs: number): void {
    session.lastUsedMs = nowMs;
    this.sessions.delete(session.id);
    this.sessions.set(session.id, session);
  }

  /** Kafka's FetchSessionCache.tryEvict. */
  private tryEvict(privileged: boolean, size: number, nowMs: number): boolean {
    const lru = this.sessions.values().next().value as FetchSession | undefined;
    if (lru === undefined) return false;
    if (nowMs - lru.lastUsedMs > this.evictionMs) {
      this.sessions.delete(lru.id);
      this.evictions++;
      return true;
    }
    // No stale session: the least valuable evictable one goes if the newcomer is worth at least
    // as much (privileged before not, then more partitions). Only sessions older than the
    // eviction time are evictable by consumers; a follower may also evict a consumer's session.
    let victim: FetchSession | undefined;
    for (const s of this.sessions.values()) {
      const evictable = nowMs - s.creationMs > this.evictionMs || (privileged && !s.privileged);
      if (evictable && (victim === undefined || compareValue(s, victim) < 0)) victim = s;
    }
    if (victim === undefined) return false;
    if (compareValue({ privileged, size, id: 0 }, victim) < 0) return false;
    this.sessions.delete(victim.id);
    this.evictions++;
    return true;
  }
}

/** Kafka's EvictableKey order: unprivileged before privileged, then fewer partitions, then id. */
function compareValue(
  a: { privileged: boolean; size?: number; partitions?: Map<string, unknown>; id: number },
  b: FetchSession,
): number {
  const aSize = a.size ?? a.partitions?.size ?? 0;
  if (a.privileged !== b.privileged) return a.privileged ? 1 : -1;
  if (aSize !== b.partitions.size) return aSize - b.partitions.size;
  return a.id - b.id;
}
