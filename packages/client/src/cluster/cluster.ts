/**
 * What a client knows about the cluster: the brokers, topic metadata (partitions, leaders, leader
 * epochs), group and transaction coordinators, and one pooled connection per broker. Producer,
 * consumer and admin all sit on one of these; none of them opens sockets itself.
 */
import { ErrorCode, errorInfo, FindCoordinatorApi, KafkaError, MetadataApi } from "@samsa/protocol";
import { ConnectionError, TimeoutError } from "../errors.js";
import { BrokerConnection } from "../network/broker-connection.js";
import {
  type ClientOptions,
  parseHostPort,
  type ResolvedClientOptions,
  resolveClientOptions,
} from "./client-options.js";

export interface BrokerInfo {
  nodeId: number;
  host: string;
  port: number;
  rack: string | null;
}
export interface PartitionInfo {
  partition: number;
  leader: number;
  leaderEpoch: number;
  replicas: number[];
  isr: number[];
  errorCode: number;
}
export interface TopicInfo {
  name: string;
  /** Kafka's 22-character base64 topic id ("AAAAAAAAAAAAAAAAAAAAAA" when the broker has none). */
  topicId: string;
  isInternal: boolean;
  errorCode: number;
  partitions: PartitionInfo[];
}
export interface ClusterMetadata {
  clusterId: string | null;
  controllerId: number;
  brokers: Map<number, BrokerInfo>;
  topics: Map<string, TopicInfo>;
}

/** Kafka's metadata.max.age.ms: cached metadata older than this is fetched again. */
export const METADATA_MAX_AGE_MS = 300_000;

/** Codes after which cached topic metadata is wrong (leader moved, topic created or deleted). */
const METADATA_STALE_CODES: ReadonlySet<number> = new Set([
  ErrorCode.NOT_LEADER_OR_FOLLOWER,
  ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
  ErrorCode.LEADER_NOT_AVAILABLE,
  ErrorCode.FENCED_LEADER_EPOCH,
  ErrorCode.UNKNOWN_LEADER_EPOCH,
  ErrorCode.KAFKA_STORAGE_ERROR,
  ErrorCode.NOT_CONTROLLER,
]);
/** Codes after which a cached coordinator is wrong. */
const COORDINATOR_STALE_CODES: ReadonlySet<number> = new Set([
  ErrorCode.NOT_COORDINATOR,
  ErrorCode.COORDINATOR_NOT_AVAILABLE,
]);

interface CoordinatorEntry {
  nodeId: number;
  host: string;
  port: number;
}

/**
 * The client's view of the cluster, shared by admin, producer and consumer.
 *
 * @example
 * const cluster = new Cluster({ brokers: ["localhost:9092"] });
 * await cluster.connect();
 * const leader = await cluster.leaderFor("orders", 0);
 * await cluster.close();
 */
export class Cluster {
  readonly options: ResolvedClientOptions;
  private readonly bootstrap: { host: string; port: number }[];
  private readonly pool = new Map<number, Promise<BrokerConnection>>();
  private bootstrapConnection: Promise<BrokerConnection> | null = null;
  private readonly coordinators = new Map<string, CoordinatorEntry>();
  private readonly cache: ClusterMetadata = {
    clusterId: null,
    controllerId: -1,
    brokers: new Map(),
    topics: new Map(),
  };
  private readonly fetchedAtMs = new Map<string, number>();
  private readonly metadataInFlight = new Map<string, Promise<void>>();
  private allTopicsFetchedAtMs = 0;
  private closed = false;

  constructor(options: ClientOptions = {}) {
    this.options = resolveClientOptions(options);
    this.bootstrap = this.options.brokers.map(parseHostPort);
  }

  /**
   * Connects to a bootstrap broker and fetches the first metadata (brokers only).
   *
   * @example
   * await new Cluster({ brokers: ["localhost:9092"] }).connect();
   */
  async connect(): Promise<void> {
    this.closed = false;
    await this.withRetries(() => this.fetchMetadata([]));
  }

  /**
   * Closes every connection. Requests in flight reject with ConnectionError.
   *
   * @example
   * await cluster.close();
   */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.pool.values()];
    if (this.bootstrapConnection !== null) all.push(this.bootstrapConnection);
    this.pool.clear();
    this.bootstrapConnection = null;
    this.coordinators.clear();
    await Promise.all(all.map((p) => p.then((c) => c.close()).catch(() => undefined)));
  }

  /**
   * Metadata for these topics, from the cache unless missing, stale, in error or `refresh`.
   * `null` (the default) means every topic. The returned maps hold everything cached.
   *
   * @example
   * const md = await cluster.metadata(["orders"]);
   * md.topics.get("orders")?.partitions.length;
   */
  async metadata(
    topics: readonly string[] | null = null,
    opts: { allowAutoTopicCreation?: boolean; refresh?: boolean } = {},
  ): Promise<ClusterMetadata> {
    const now = Date.now();
    const stale = (at: number | undefined) => at === undefined || now - at > METADATA_MAX_AGE_MS;
    if (topics === null) {
      if (opts.refresh || stale(this.allTopicsFetchedAtMs || undefined)) await this.fetchMetadata(null);
      return this.snapshot();
    }
    const missing = topics.filter((t) => {
      const info = this.cache.topics.get(t);
      return (
        opts.refresh ||
        info === undefined ||
        stale(this.fetchedAtMs.get(t)) ||
        info.errorCode !== ErrorCode.NONE ||
        info.partitions.some((p) => p.leader < 0)
      );
    });
    if (missing.length > 0) await this.fetchMetadata([...new Set(missing)], opts.allowAutoTopicCreation ?? false);
    // [] with refresh: brokers and controller only.
    else if (topics.length === 0 && opts.refresh) await this.fetchMetadata([]);
    return this.snapshot();
  }

  /**
   * Fetches metadata now (after NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION ...); no
   * topics means every topic.
   *
   * @example
   * await cluster.refreshMetadata(["orders"]);
   */
  refreshMetadata(topics?: readonly string[]): Promise<ClusterMetadata> {
    return this.metadata(topics ?? null, { refresh: true });
  }

  /**
   * The pooled connection to a broker (opened, or reopened after a failure, on demand).
   *
   * @example
   * const conn = await cluster.connectionTo(1);
   */
  async connectionTo(nodeId: number): Promise<BrokerConnection> {
    let broker = this.cache.brokers.get(nodeId);
    if (broker === undefined) {
      await this.fetchMetadata([]);
      broker = this.cache.brokers.get(nodeId);
    }
    if (broker === undefined) {
      throw new KafkaError(ErrorCode.BROKER_NOT_AVAILABLE, `broker ${nodeId} is not in the cluster metadata`);
    }
    return this.pooledConnection(nodeId, broker.host, broker.port);
  }

  /**
   * The connection to the current leader of a partition.
   * Throws KafkaError (UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE ...) when there is none.
   *
   * @example
   * const res = await (await cluster.leaderFor("orders", 0)).send(ListOffsetsApi, request);
   */
  async leaderFor(topic: string, partition: number): Promise<BrokerConnection> {
    return this.connectionTo(await this.leaderIdFor(topic, partition));
  }

  /**
   * The node id of a partition's leader (from the cache when fresh).
   *
   * @example
   * await cluster.leaderIdFor("orders", 0) // 1
   */
  async leaderIdFor(topic: string, partition: number): Promise<number> {
    const md = await this.metadata([topic]);
    const info = md.topics.get(topic);
    if (info === undefined) throw new KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `topic ${topic} is unknown`);
    if (info.errorCode !== ErrorCode.NONE)
      throw new KafkaError(info.errorCode, `topic ${topic}: ${errorInfo(info.errorCode).message}`);
    const p = info.partitions.find((x) => x.partition === partition);
    if (p === undefined)
      throw new KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `${topic}-${partition} does not exist`);
    if (p.errorCode !== ErrorCode.NONE && p.leader < 0)
      throw new KafkaError(p.errorCode, `${topic}-${partition}: ${errorInfo(p.errorCode).message}`);
    if (p.leader < 0) throw new KafkaError(ErrorCode.LEADER_NOT_AVAILABLE, `${topic}-${partition} has no leader`);
    return p.leader;
  }

  /**
   * The coordinator of a group (keyType 0) or transactional id (keyType 1), found with
   * FindCoordinator (batched v4+, single key v0-3) and cached; retried while the coordinator is
   * loading or not yet available.
   *
   * @example
   * const coordinator = await cluster.coordinatorFor("my-group", 0);
   */
  async coordinatorFor(key: string, keyType: 0 | 1): Promise<BrokerConnection> {
    const cacheKey = `${keyType}:${key}`;
    const cached = this.coordinators.get(cacheKey);
    if (cached !== undefined) return this.pooledConnection(cached.nodeId, cached.host, cached.port);
    const entry = await this.withRetries(() => this.findCoordinator(key, keyType));
    this.coordinators.set(cacheKey, entry);
    return this.pooledConnection(entry.nodeId, entry.host, entry.port);
  }

  /**
   * Forgets a cached coordinator (after NOT_COORDINATOR), so the next `coordinatorFor` asks again.
   *
   * @example
   * cluster.invalidateCoordinator("my-group", 0);
   */
  invalidateCoordinator(key: string, keyType: 0 | 1): void {
    this.coordinators.delete(`${keyType}:${key}`);
  }

  /**
   * A connection to some broker: a pooled one if open, else a known broker, else a bootstrap address.
   *
   * @example
   * const res = await (await cluster.anyConnection()).send(ListGroupsApi, {});
   */
  async anyConnection(): Promise<BrokerConnection> {
    for (const p of this.pool.values()) {
      const conn = await p.catch(() => null);
      if (conn?.connected) return conn;
    }
    let lastError: unknown = null;
    for (const broker of this.cache.brokers.values()) {
      try {
        return await this.pooledConnection(broker.nodeId, broker.host, broker.port);
      } catch (err) {
        lastError = err;
      }
    }
    try {
      return await this.bootstrapConnectionAny();
    } catch (err) {
      throw lastError ?? err;
    }
  }

  /**
   * Runs `fn`, retrying retriable failures (KafkaError with a retriable code, ConnectionError,
   * TimeoutError) with exponential backoff and ±20% jitter, as Kafka's retry.backoff.ms /
   * retry.backoff.max.ms. Stale metadata or coordinators are dropped before the next attempt.
   *
   * @example
   * const offsets = await cluster.withRetries(() => admin.fetchOffsets("my-group"));
   */
  async withRetries<T>(fn: () => Promise<T>): Promise<T> {
    const { retries, initialBackoffMs, maxBackoffMs } = this.options.retry;
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (!isRetriableError(err) || attempt >= retries || this.closed) throw err;
        if (err instanceof KafkaError) {
          if (METADATA_STALE_CODES.has(err.code)) this.markMetadataStale();
          if (COORDINATOR_STALE_CODES.has(err.code)) this.coordinators.clear();
        } else {
          // The connection is gone; the coordinator may have moved with it.
          this.markMetadataStale();
          this.coordinators.clear();
        }
        await sleep(backoffMs(attempt, initialBackoffMs, maxBackoffMs));
      }
    }
  }

  private async findCoordinator(key: string, keyType: 0 | 1): Promise<CoordinatorEntry> {
    const conn = await this.anyConnection();
    const version = conn.versionFor(FindCoordinatorApi);
    if (version >= 4) {
      const res = await conn.send(FindCoordinatorApi, { keyType, coordinatorKeys: [key] }, { version });
      const c = res.coordinators.find((x) => x.key === key) ?? res.coordinators[0];
      if (c === undefined)
        throw new KafkaError(ErrorCode.COORDINATOR_NOT_AVAILABLE, `FindCoordinator returned no coordinator for ${key}`);
      if (c.errorCode !== ErrorCode.NONE)
        throw new KafkaError(
          c.errorCode,
          c.errorMessage ?? `FindCoordinator ${key}: ${errorInfo(c.errorCode).message}`,
        );
      return { nodeId: c.nodeId, host: c.host, port: c.port };
    }
    if (version === 0 && keyType !== 0) {
      throw new KafkaError(
        ErrorCode.UNSUPPORTED_VERSION,
        "the broker's FindCoordinator v0 cannot find transaction coordinators",
      );
    }
    const res = await conn.send(FindCoordinatorApi, { key, keyType }, { version });
    if (res.errorCode !== ErrorCode.NONE)
      throw new KafkaError(
        res.errorCode,
        res.errorMessage ?? `FindCoordinator ${key}: ${errorInfo(res.errorCode).message}`,
      );
    return { nodeId: res.nodeId, host: res.host, port: res.port };
  }

  /**
   * `topics`: null = all, [] = brokers only. Identical fetches already in flight are shared, so a
   * burst of NOT_LEADER_OR_FOLLOWER answers costs one Metadata request, not one each.
   */
  private fetchMetadata(topics: string[] | null, allowAutoTopicCreation = false): Promise<void> {
    const key = `${allowAutoTopicCreation ? "auto:" : ""}${topics === null ? "*" : JSON.stringify([...topics].sort())}`;
    const inFlight = this.metadataInFlight.get(key);
    if (inFlight !== undefined) return inFlight;
    const p = this.doFetchMetadata(topics, allowAutoTopicCreation).finally(() => {
      if (this.metadataInFlight.get(key) === p) this.metadataInFlight.delete(key);
    });
    this.metadataInFlight.set(key, p);
    return p;
  }

  private async doFetchMetadata(topics: string[] | null, allowAutoTopicCreation: boolean): Promise<void> {
    const conn = await this.anyConnection();
    const version = conn.versionFor(MetadataApi);
    // v0 has no null: an empty list means every topic there (and brokers-only is impossible).
    const requestTopics = topics === null ? (version === 0 ? [] : null) : topics.map((name) => ({ name }));
    // Before v4 the broker decides auto-creation alone; the field cannot be sent.
    const body = version >= 4 ? { topics: requestTopics, allowAutoTopicCreation } : { topics: requestTopics };
    const res = await conn.send(MetadataApi, body, { version });
    const now = Date.now();
    this.cache.clusterId = res.clusterId;
    this.cache.controllerId = res.controllerId;
    this.cache.brokers = new Map(
      res.brokers.map((b) => [b.nodeId, { nodeId: b.nodeId, host: b.host, port: b.port, rack: b.rack }]),
    );
    if (topics === null) {
      this.cache.topics.clear();
      this.fetchedAtMs.clear();
      this.allTopicsFetchedAtMs = now;
    } else if (topics.length > 0) {
      // Only the topics asked for are fresh now; others stay as stale as they were.
      for (const t of topics) {
        this.cache.topics.delete(t);
        this.fetchedAtMs.delete(t);
      }
    }
    for (const t of res.topics) {
      if (t.name === null) continue;
      this.cache.topics.set(t.name, {
        name: t.name,
        topicId: t.topicId,
        isInternal: t.isInternal,
        errorCode: t.errorCode,
        partitions: t.partitions
          .map((p) => ({
            partition: p.partitionIndex,
            leader: p.leaderId,
            leaderEpoch: p.leaderEpoch,
            replicas: p.replicaNodes,
            isr: p.isrNodes,
            errorCode: p.errorCode,
          }))
          .sort((a, b) => a.partition - b.partition),
      });
      this.fetchedAtMs.set(t.name, now);
    }
  }

  /** Every cached topic is fetched again on its next use (the cache itself stays for callers that only read). */
  private markMetadataStale(): void {
    this.fetchedAtMs.clear();
    this.allTopicsFetchedAtMs = 0;
  }

  private snapshot(): ClusterMetadata {
    return {
      clusterId: this.cache.clusterId,
      controllerId: this.cache.controllerId,
      brokers: new Map(this.cache.brokers),
      topics: new Map(this.cache.topics),
    };
  }

  private pooledConnection(nodeId: number, host: string, port: number): Promise<BrokerConnection> {
    if (this.closed) return Promise.reject(new ConnectionError(host, port, "the client is closed"));
    const existing = this.pool.get(nodeId);
    if (existing !== undefined) {
      return existing.then(
        (c) =>
          c.connected && c.host === host && c.port === port ? c : this.replaceConnection(nodeId, host, port, existing),
        () => this.replaceConnection(nodeId, host, port, existing),
      );
    }
    return this.replaceConnection(nodeId, host, port, undefined);
  }

  private replaceConnection(
    nodeId: number,
    host: string,
    port: number,
    previous: Promise<BrokerConnection> | undefined,
  ): Promise<BrokerConnection> {
    const current = this.pool.get(nodeId);
    // Another caller already replaced it: share theirs.
    if (current !== undefined && current !== previous) return current;
    const conn = new BrokerConnection({
      host,
      port,
      nodeId,
      clientId: this.options.clientId,
      requestTimeoutMs: this.options.requestTimeoutMs,
      connectTimeoutMs: this.options.connectTimeoutMs,
    });
    const p = conn.connect().then(() => conn);
    this.pool.set(nodeId, p);
    conn.onClose(() => {
      if (this.pool.get(nodeId) === p) this.pool.delete(nodeId);
    });
    p.catch(() => {
      if (this.pool.get(nodeId) === p) this.pool.delete(nodeId);
    });
    return p;
  }

  private async bootstrapConnectionAny(): Promise<BrokerConnection> {
    if (this.closed) throw new ConnectionError(this.bootstrap[0].host, this.bootstrap[0].port, "the client is closed");
    if (this.bootstrapConnection !== null) {
      const c = await this.bootstrapConnection.catch(() => null);
      if (c?.connected) return c;
      this.bootstrapConnection = null;
    }
    let lastError: unknown = null;
    for (const { host, port } of this.bootstrap) {
      const conn = new BrokerConnection({
        host,
        port,
        clientId: this.options.clientId,
        requestTimeoutMs: this.options.requestTimeoutMs,
        connectTimeoutMs: this.options.connectTimeoutMs,
      });
      const p = conn.connect().then(() => conn);
      this.bootstrapConnection = p;
      try {
        return await p;
      } catch (err) {
        lastError = err;
        this.bootstrapConnection = null;
      }
    }
    throw lastError;
  }
}

/**
 * Whether a failure is worth retrying: a retriable Kafka code, a socket failure or a timeout.
 *
 * @example
 * isRetriableError(new KafkaError(ErrorCode.NOT_COORDINATOR)) // true
 */
export function isRetriableError(err: unknown): boolean {
  if (err instanceof KafkaError) return err.retriable;
  return err instanceof ConnectionError || err instanceof TimeoutError;
}

/**
 * The wait before retry number `attempt` (0-based): initial × 2^attempt, capped, with ±20% jitter
 * (Kafka's ExponentialBackoff with jitter 0.2).
 *
 * @example
 * backoffMs(0, 100, 1000) // 80..120
 */
export function backoffMs(
  attempt: number,
  initialBackoffMs: number,
  maxBackoffMs: number,
  random = Math.random,
): number {
  const base = Math.min(maxBackoffMs, initialBackoffMs * 2 ** Math.min(attempt, 30));
  return Math.max(0, Math.round(base * (0.8 + 0.4 * random())));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
