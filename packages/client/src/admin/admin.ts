/**
 * Admin: topics, configs, groups, offsets and records, with Kafka's AdminClient semantics. Every
 * error code a broker returns becomes a KafkaError carrying that code and the broker's message
 * (or Kafka's meaning of the code when the broker sent none). Requests go where Kafka's admin
 * sends them: group requests to the group coordinator, partition requests to the leader, broker
 * configs to that broker, the rest to the controller (or any broker).
 */
import {
  ConsumerProtocolAssignment,
  CreatePartitionsApi,
  CreateTopicsApi,
  DecodeError,
  DeleteGroupsApi,
  DeleteRecordsApi,
  DeleteTopicsApi,
  DescribeClusterApi,
  DescribeConfigsApi,
  DescribeGroupsApi,
  ErrorCode,
  errorInfo,
  IncrementalAlterConfigsApi,
  KafkaError,
  ListGroupsApi,
  ListOffsetsApi,
  OffsetCommitApi,
  OffsetFetchApi,
  Reader,
} from "@samsa/protocol";
import type { ClientOptions } from "../cluster/client-options.js";
import { type BrokerInfo, Cluster, type TopicInfo } from "../cluster/cluster.js";
import type { BrokerConnection } from "../network/broker-connection.js";

export interface GroupDescription {
  groupId: string;
  state: string;
  protocolType: string;
  protocol: string;
  members: {
    memberId: string;
    groupInstanceId: string | null;
    clientId: string;
    clientHost: string;
    assignment: { topic: string; partitions: number[] }[];
  }[];
}

export interface ConfigEntry {
  name: string;
  value: string | null;
  /** Kafka's ConfigSource name: DYNAMIC_TOPIC_CONFIG, STATIC_BROKER_CONFIG, DEFAULT_CONFIG ... */
  source: string;
  readOnly: boolean;
  isDefault: boolean;
  sensitive: boolean;
}

export interface ConfigResource {
  type: "topic" | "broker";
  /** Topic name, or broker id ("" for the cluster-wide broker default). */
  name: string;
}

export type OffsetSpec = "earliest" | "latest" | { timestampMs: number };
export type ResetTarget = { earliest: true } | { latest: true } | { timestampMs: number } | { offset: bigint };

/** Kafka's ConfigResource.Type codes. */
const RESOURCE_TYPE = { topic: 2, broker: 4 } as const;
/** Kafka's AlterConfigOp.OpType codes. */
const CONFIG_OPERATION = { set: 0, delete: 1, append: 2, subtract: 3 } as const;
/** Kafka's DescribeConfigsResponse.ConfigSource, by code. */
const CONFIG_SOURCES = [
  "UNKNOWN",
  "DYNAMIC_TOPIC_CONFIG",
  "DYNAMIC_BROKER_CONFIG",
  "DYNAMIC_DEFAULT_BROKER_CONFIG",
  "STATIC_BROKER_CONFIG",
  "DEFAULT_CONFIG",
  "DYNAMIC_BROKER_LOGGER_CONFIG",
  "CLIENT_METRICS_CONFIG",
  "GROUP_CONFIG",
];
const DEFAULT_CONFIG_SOURCE = 5;
/** ListOffsets' special timestamps. */
const EARLIEST_TIMESTAMP = -2n;
const LATEST_TIMESTAMP = -1n;
/**
 * Topic-id versions (OffsetFetch/OffsetCommit v10) address topics by id; the admin speaks names,
 * as Kafka's AdminClient does for these calls.
 */
const MAX_OFFSET_FETCH_VERSION = 9;
const MAX_OFFSET_COMMIT_VERSION = 9;
/** Group states in which Kafka's tools allow offsets to be reset (no member could overwrite them). */
const INACTIVE_GROUP_STATES: ReadonlySet<string> = new Set(["Empty", "Dead"]);
const DEFAULT_ADMIN_TIMEOUT_MS = 30_000;

/** The error for a failed part of a response: the broker's message, or Kafka's meaning of the code. */
function kafkaError(code: number, brokerMessage: string | null | undefined, context: string): KafkaError {
  const meaning =
    brokerMessage !== null && brokerMessage !== undefined && brokerMessage !== ""
      ? brokerMessage
      : errorInfo(code).message;
  return new KafkaError(code, `${context}: ${meaning}`);
}

/**
 * Decodes a member's assignment (ConsumerProtocolAssignment: int16 version, then the schema at
 * that version; a newer version is read with our newest schema, as Kafka's ConsumerProtocol does).
 * `describeGroups` already applies it to consumer groups; this is for bytes from elsewhere
 * (a JoinGroup/SyncGroup capture, another tool's DescribeGroups).
 *
 * @example
 * decodeConsumerAssignment(member.memberAssignment) // [{ topic: "orders", partitions: [0, 2] }]
 */
export function decodeConsumerAssignment(bytes: Buffer): { topic: string; partitions: number[] }[] {
  if (bytes.length === 0) return [];
  const r = new Reader(bytes);
  const version = r.readInt16("ConsumerProtocolAssignment.version");
  if (version < 0) throw new DecodeError("ConsumerProtocolAssignment.version", 0, `version ${version} is negative`);
  const a = ConsumerProtocolAssignment.decode(r, Math.min(version, ConsumerProtocolAssignment.maxVersion));
  return a.assignedPartitions.map((t) => ({ topic: t.topic, partitions: [...t.partitions].sort((x, y) => x - y) }));
}

/**
 * Administers topics, configs, consumer groups, offsets and records.
 *
 * @example
 * const admin = new Admin({ brokers: ["localhost:9092"] });
 * await admin.connect();
 * await admin.createTopics([{ topic: "orders", numPartitions: 3 }]);
 * console.log(await admin.listTopics());
 * await admin.close();
 */
export class Admin {
  readonly cluster: Cluster;
  /** Whether close() closes the cluster (only when the admin created it). */
  private readonly ownsCluster: boolean;

  constructor(options?: ClientOptions | Cluster) {
    this.ownsCluster = !(options instanceof Cluster);
    this.cluster = options instanceof Cluster ? options : new Cluster(options);
  }

  /**
   * Connects to the cluster (bootstrap and first metadata).
   *
   * @example
   * await admin.connect();
   */
  async connect(): Promise<void> {
    await this.cluster.connect();
  }

  /**
   * Closes the connections (unless the Cluster was passed in: its owner closes it).
   *
   * @example
   * await admin.close();
   */
  async close(): Promise<void> {
    if (this.ownsCluster) await this.cluster.close();
  }

  /**
   * Creates topics (CreateTopics), then waits until each has a leader for every partition, so a
   * producer can use them at once. Partitions and replication default to the broker's settings.
   * Throws KafkaError (TOPIC_ALREADY_EXISTS, INVALID_CONFIG ...) for the first topic that failed.
   *
   * @example
   * await admin.createTopics([{ topic: "orders", numPartitions: 3, configs: { "cleanup.policy": "compact" } }]);
   */
  async createTopics(
    topics: { topic: string; numPartitions?: number; replicationFactor?: number; configs?: Record<string, string> }[],
    opts: { validateOnly?: boolean; timeoutMs?: number } = {},
  ): Promise<void> {
    if (topics.length === 0) return;
    const timeoutMs = opts.timeoutMs ?? DEFAULT_ADMIN_TIMEOUT_MS;
    const res = await this.cluster.withRetries(async () => {
      const conn = await this.controllerConnection();
      const version = conn.versionFor(CreateTopicsApi);
      if (opts.validateOnly && version < 1) {
        throw new KafkaError(ErrorCode.UNSUPPORTED_VERSION, "the broker's CreateTopics v0 cannot validate only");
      }
      return conn.send(
        CreateTopicsApi,
        {
          topics: topics.map((t) => ({
            name: t.topic,
            numPartitions: t.numPartitions ?? -1,
            replicationFactor: t.replicationFactor ?? -1,
            assignments: [],
            configs: Object.entries(t.configs ?? {}).map(([name, value]) => ({ name, value })),
          })),
          timeoutMs,
          validateOnly: opts.validateOnly ?? false,
        },
        { version, timeoutMs: timeoutMs + this.cluster.options.requestTimeoutMs },
      );
    });
    for (const t of res.topics) {
      if (t.errorCode !== ErrorCode.NONE) throw kafkaError(t.errorCode, t.errorMessage, `createTopics ${t.name}`);
    }
    if (!opts.validateOnly)
      await this.waitForLeaders(
        topics.map((t) => t.topic),
        timeoutMs,
      );
  }

  /**
   * Topic names, sorted; internal topics (`__consumer_offsets` ...) only with `includeInternal`.
   *
   * @example
   * await admin.listTopics() // ["orders", "payments"]
   */
  async listTopics(opts: { includeInternal?: boolean } = {}): Promise<string[]> {
    const md = await this.cluster.withRetries(() => this.cluster.metadata(null, { refresh: true }));
    return [...md.topics.values()]
      .filter((t) => t.errorCode === ErrorCode.NONE && (opts.includeInternal || !t.isInternal))
      .map((t) => t.name)
      .sort();
  }

  /**
   * Fresh metadata of these topics (partitions, leaders, leader epochs, replicas, ISR).
   * Throws KafkaError(UNKNOWN_TOPIC_OR_PARTITION) for a topic that does not exist.
   *
   * @example
   * const [orders] = await admin.describeTopics(["orders"]);
   * orders.partitions.length // 3
   */
  async describeTopics(topics: string[]): Promise<TopicInfo[]> {
    const md = await this.cluster.withRetries(async () => {
      const m = await this.cluster.metadata(topics, { refresh: true });
      for (const name of topics) {
        const t = m.topics.get(name);
        // A leader election in progress is retriable; an unknown topic is what the caller asked about.
        if (t !== undefined && t.errorCode === ErrorCode.LEADER_NOT_AVAILABLE)
          throw kafkaError(t.errorCode, null, `describeTopics ${name}`);
      }
      return m;
    });
    return topics.map((name) => {
      const t = md.topics.get(name);
      if (t === undefined) throw kafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, null, `describeTopics ${name}`);
      if (t.errorCode !== ErrorCode.NONE) throw kafkaError(t.errorCode, null, `describeTopics ${name}`);
      return t;
    });
  }

  /**
   * Deletes topics (DeleteTopics). Throws KafkaError for the first topic that failed
   * (UNKNOWN_TOPIC_OR_PARTITION if it does not exist).
   *
   * @example
   * await admin.deleteTopics(["orders"]);
   */
  async deleteTopics(topics: string[]): Promise<void> {
    if (topics.length === 0) return;
    const timeoutMs = DEFAULT_ADMIN_TIMEOUT_MS;
    const res = await this.cluster.withRetries(async () => {
      const conn = await this.controllerConnection();
      const version = conn.versionFor(DeleteTopicsApi);
      const body =
        version >= 6 ? { topics: topics.map((name) => ({ name })), timeoutMs } : { topicNames: topics, timeoutMs };
      return conn.send(DeleteTopicsApi, body, {
        version,
        timeoutMs: timeoutMs + this.cluster.options.requestTimeoutMs,
      });
    });
    await this.cluster.refreshMetadata(topics).catch(() => undefined);
    for (const r of res.responses) {
      if (r.errorCode !== ErrorCode.NONE)
        throw kafkaError(r.errorCode, r.errorMessage, `deleteTopics ${r.name ?? r.topicId}`);
    }
  }

  /**
   * Grows a topic to `totalCount` partitions (CreatePartitions); Kafka never shrinks one
   * (INVALID_PARTITIONS).
   *
   * @example
   * await admin.createPartitions("orders", 6);
   */
  async createPartitions(topic: string, totalCount: number): Promise<void> {
    const timeoutMs = DEFAULT_ADMIN_TIMEOUT_MS;
    const res = await this.cluster.withRetries(async () => {
      const conn = await this.controllerConnection();
      return conn.send(
        CreatePartitionsApi,
        { topics: [{ name: topic, count: totalCount, assignments: null }], timeoutMs, validateOnly: false },
        { timeoutMs: timeoutMs + this.cluster.options.requestTimeoutMs },
      );
    });
    for (const r of res.results) {
      if (r.errorCode !== ErrorCode.NONE) throw kafkaError(r.errorCode, r.errorMessage, `createPartitions ${r.name}`);
    }
    await this.waitForLeaders([topic], timeoutMs, totalCount);
  }

  /**
   * The configs of a topic or broker (DescribeConfigs), optionally only `keys`.
   *
   * @example
   * const configs = await admin.describeConfigs({ type: "topic", name: "orders" }, { keys: ["retention.ms"] });
   */
  async describeConfigs(resource: ConfigResource, opts: { keys?: string[] } = {}): Promise<ConfigEntry[]> {
    const res = await this.cluster.withRetries(async () => {
      const conn = await this.connectionForResource(resource);
      const version = conn.versionFor(DescribeConfigsApi);
      return {
        version,
        body: await conn.send(
          DescribeConfigsApi,
          {
            resources: [
              {
                resourceType: RESOURCE_TYPE[resource.type],
                resourceName: resource.name,
                configurationKeys: opts.keys ?? null,
              },
            ],
            includeSynonyms: false,
            includeDocumentation: false,
          },
          { version },
        ),
      };
    });
    const result = res.body.results[0];
    if (result === undefined)
      throw kafkaError(
        ErrorCode.UNKNOWN_SERVER_ERROR,
        "no result in the response",
        `describeConfigs ${resource.type} ${resource.name}`,
      );
    if (result.errorCode !== ErrorCode.NONE) {
      throw kafkaError(result.errorCode, result.errorMessage, `describeConfigs ${resource.type} ${resource.name}`);
    }
    return result.configs.map((c) => {
      // v0 has only isDefault; from v1 the source says it (and isDefault is gone from the wire).
      const isDefault = res.version >= 1 ? c.configSource === DEFAULT_CONFIG_SOURCE : c.isDefault;
      const source =
        res.version >= 1 ? (CONFIG_SOURCES[c.configSource] ?? "UNKNOWN") : isDefault ? "DEFAULT_CONFIG" : "UNKNOWN";
      return { name: c.name, value: c.value, source, readOnly: c.readOnly, isDefault, sensitive: c.isSensitive };
    });
  }

  /**
   * Changes configs one by one (IncrementalAlterConfigs): set, delete (back to the default),
   * append to / subtract from a list.
   *
   * @example
   * await admin.incrementalAlterConfigs({ type: "topic", name: "orders" }, [{ name: "retention.ms", op: "set", value: "3600000" }]);
   */
  async incrementalAlterConfigs(
    resource: ConfigResource,
    ops: { name: string; op: "set" | "delete" | "append" | "subtract"; value?: string }[],
  ): Promise<void> {
    const res = await this.cluster.withRetries(async () => {
      const conn = await this.connectionForResource(resource);
      return conn.send(IncrementalAlterConfigsApi, {
        resources: [
          {
            resourceType: RESOURCE_TYPE[resource.type],
            resourceName: resource.name,
            configs: ops.map((o) => ({
              name: o.name,
              configOperation: CONFIG_OPERATION[o.op],
              value: o.value ?? null,
            })),
          },
        ],
        validateOnly: false,
      });
    });
    for (const r of res.responses) {
      if (r.errorCode !== ErrorCode.NONE)
        throw kafkaError(r.errorCode, r.errorMessage, `incrementalAlterConfigs ${resource.type} ${resource.name}`);
    }
  }

  /**
   * Every group on every broker (ListGroups), sorted by id. `state` is empty when the broker's
   * ListGroups is older than v4.
   *
   * @example
   * await admin.listGroups() // [{ groupId: "billing", protocolType: "consumer", state: "Stable" }]
   */
  async listGroups(): Promise<{ groupId: string; protocolType: string; state: string }[]> {
    const md = await this.cluster.withRetries(() => this.cluster.metadata([], { refresh: true }));
    const perBroker = await Promise.all(
      [...md.brokers.keys()].map((nodeId) =>
        this.cluster.withRetries(async () => {
          const res = await (await this.cluster.connectionTo(nodeId)).send(ListGroupsApi, {
            statesFilter: [],
            typesFilter: [],
          });
          if (res.errorCode !== ErrorCode.NONE) throw kafkaError(res.errorCode, null, `listGroups on broker ${nodeId}`);
          return res.groups;
        }),
      ),
    );
    const byId = new Map<string, { groupId: string; protocolType: string; state: string }>();
    for (const g of perBroker.flat())
      byId.set(g.groupId, { groupId: g.groupId, protocolType: g.protocolType, state: g.groupState });
    return [...byId.values()].sort((a, b) => (a.groupId < b.groupId ? -1 : a.groupId > b.groupId ? 1 : 0));
  }

  /**
   * Groups as their coordinators see them (DescribeGroups), with each member's assignment decoded
   * for "consumer" groups. A group that does not exist is described with state "Dead" (Kafka's
   * answer before DescribeGroups v6) or throws KafkaError(GROUP_ID_NOT_FOUND).
   *
   * @example
   * const [g] = await admin.describeGroups(["billing"]);
   * g.members[0].assignment // [{ topic: "orders", partitions: [0, 1] }]
   */
  async describeGroups(groupIds: string[]): Promise<GroupDescription[]> {
    return Promise.all(
      groupIds.map(async (groupId) => {
        const g = await this.withCoordinator(groupId, async (conn) => {
          const res = await conn.send(DescribeGroupsApi, { groups: [groupId], includeAuthorizedOperations: false });
          const group = res.groups.find((x) => x.groupId === groupId) ?? res.groups[0];
          if (group === undefined)
            throw kafkaError(ErrorCode.UNKNOWN_SERVER_ERROR, "no group in the response", `describeGroups ${groupId}`);
          if (group.errorCode !== ErrorCode.NONE)
            throw kafkaError(group.errorCode, group.errorMessage, `describeGroups ${groupId}`);
          return group;
        });
        return {
          groupId: g.groupId,
          state: g.groupState,
          protocolType: g.protocolType,
          protocol: g.protocolData,
          members: g.members.map((m) => ({
            memberId: m.memberId,
            groupInstanceId: m.groupInstanceId,
            clientId: m.clientId,
            clientHost: m.clientHost,
            assignment: g.protocolType === "consumer" ? decodeConsumerAssignment(m.memberAssignment) : [],
          })),
        };
      }),
    );
  }

  /**
   * Deletes groups and their committed offsets (DeleteGroups). Kafka refuses a group with
   * members (NON_EMPTY_GROUP) and one that does not exist (GROUP_ID_NOT_FOUND).
   *
   * @example
   * await admin.deleteGroups(["billing"]);
   */
  async deleteGroups(groupIds: string[]): Promise<void> {
    await Promise.all(
      groupIds.map((groupId) =>
        this.withCoordinator(groupId, async (conn) => {
          const res = await conn.send(DeleteGroupsApi, { groupsNames: [groupId] });
          for (const r of res.results) {
            if (r.errorCode !== ErrorCode.NONE) throw kafkaError(r.errorCode, null, `deleteGroups ${r.groupId}`);
          }
        }),
      ),
    );
  }

  /**
   * A group's committed offsets (OffsetFetch), for every topic it committed or only `topics`
   * (then every partition of those topics is listed, offset -1 where nothing is committed).
   *
   * @example
   * await admin.fetchOffsets("billing") // [{ topic: "orders", partition: 0, offset: 42n, metadata: "", leaderEpoch: -1 }]
   */
  async fetchOffsets(
    groupId: string,
    topics?: string[],
  ): Promise<{ topic: string; partition: number; offset: bigint; metadata: string | null; leaderEpoch: number }[]> {
    let requestTopics: { name: string; partitionIndexes: number[] }[] | null = null;
    if (topics !== undefined) {
      const described = await this.describeTopics(topics);
      requestTopics = described.map((t) => ({ name: t.name, partitionIndexes: t.partitions.map((p) => p.partition) }));
    }
    const rows = await this.withCoordinator(groupId, async (conn) => {
      const version = conn.versionFor(OffsetFetchApi, MAX_OFFSET_FETCH_VERSION);
      if (requestTopics === null && version < 2) {
        throw new KafkaError(
          ErrorCode.UNSUPPORTED_VERSION,
          "the broker's OffsetFetch is older than v2 and cannot list every topic",
        );
      }
      const res = await conn.send(
        OffsetFetchApi,
        version >= 8
          ? { groups: [{ groupId, topics: requestTopics }], requireStable: false }
          : { groupId, topics: requestTopics, requireStable: false },
        { version },
      );
      let topicsOut: {
        name: string;
        partitions: {
          partitionIndex: number;
          committedOffset: bigint;
          committedLeaderEpoch: number;
          metadata: string | null;
          errorCode: number;
        }[];
      }[];
      if (version >= 8) {
        const g = res.groups.find((x) => x.groupId === groupId) ?? res.groups[0];
        if (g === undefined)
          throw kafkaError(ErrorCode.UNKNOWN_SERVER_ERROR, "no group in the response", `fetchOffsets ${groupId}`);
        if (g.errorCode !== ErrorCode.NONE) throw kafkaError(g.errorCode, null, `fetchOffsets ${groupId}`);
        topicsOut = g.topics;
      } else {
        if (res.errorCode !== ErrorCode.NONE) throw kafkaError(res.errorCode, null, `fetchOffsets ${groupId}`);
        topicsOut = res.topics;
      }
      const out: { topic: string; partition: number; offset: bigint; metadata: string | null; leaderEpoch: number }[] =
        [];
      for (const t of topicsOut) {
        for (const p of t.partitions) {
          if (p.errorCode !== ErrorCode.NONE)
            throw kafkaError(p.errorCode, null, `fetchOffsets ${groupId} ${t.name}-${p.partitionIndex}`);
          out.push({
            topic: t.name,
            partition: p.partitionIndex,
            offset: p.committedOffset,
            metadata: p.metadata,
            leaderEpoch: p.committedLeaderEpoch,
          });
        }
      }
      return out;
    });
    return rows.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
  }

  /**
   * Committed offset, log end offset and lag (end − committed) of every partition the group
   * committed, as `kafka-consumer-groups --describe` shows them. A partition without a committed
   * offset has committed -1 and lag -1 (Kafka's tool prints "-").
   *
   * @example
   * await admin.groupLag("billing") // [{ topic: "orders", partition: 0, committed: 40n, endOffset: 42n, lag: 2n }]
   */
  async groupLag(
    groupId: string,
  ): Promise<{ topic: string; partition: number; committed: bigint; endOffset: bigint; lag: bigint }[]> {
    const committed = await this.fetchOffsets(groupId);
    const topics = [...new Set(committed.map((c) => c.topic))];
    const ends = new Map<string, bigint>();
    await Promise.all(
      topics.map(async (topic) => {
        for (const e of await this.listOffsets(topic, "latest")) ends.set(`${topic}\u0000${e.partition}`, e.offset);
      }),
    );
    return committed.map((c) => {
      const endOffset = ends.get(`${c.topic}\u0000${c.partition}`) ?? -1n;
      const lag = c.offset >= 0n && endOffset >= 0n ? endOffset - c.offset : -1n;
      return { topic: c.topic, partition: c.partition, committed: c.offset, endOffset, lag };
    });
  }

  /**
   * Moves a group's committed offsets on every partition of `topic` (OffsetCommit as an admin:
   * generation -1, no member), as `kafka-consumer-groups --reset-offsets` does: only while the
   * group has no members (else KafkaError(NON_EMPTY_GROUP)); `{ offset }` is clamped to the log's
   * range; a timestamp after the last record resets to the end. `dryRun` returns the plan only.
   *
   * @example
   * await admin.resetOffsets("billing", "orders", { earliest: true }, { dryRun: true }) // [{ partition: 0, offset: 0n }]
   */
  async resetOffsets(
    groupId: string,
    topic: string,
    to: ResetTarget,
    opts: { dryRun?: boolean } = {},
  ): Promise<{ partition: number; offset: bigint }[]> {
    const [group] = await this.describeGroups([groupId]).catch((err: unknown) => {
      // A group the coordinator never saw can take offsets, as with Kafka's tool.
      if (err instanceof KafkaError && err.code === ErrorCode.GROUP_ID_NOT_FOUND) return [undefined];
      throw err;
    });
    if (group !== undefined && !INACTIVE_GROUP_STATES.has(group.state)) {
      throw new KafkaError(
        ErrorCode.NON_EMPTY_GROUP,
        `resetOffsets ${groupId}: the group is ${group.state} with ${group.members.length} member(s); offsets can only be reset while it has none (stop its consumers first)`,
      );
    }
    let plan: { partition: number; offset: bigint }[];
    if ("earliest" in to) {
      plan = (await this.listOffsets(topic, "earliest")).map((o) => ({ partition: o.partition, offset: o.offset }));
    } else if ("latest" in to) {
      plan = (await this.listOffsets(topic, "latest")).map((o) => ({ partition: o.partition, offset: o.offset }));
    } else if ("timestampMs" in to) {
      const [byTime, latest] = await Promise.all([
        this.listOffsets(topic, { timestampMs: to.timestampMs }),
        this.listOffsets(topic, "latest"),
      ]);
      const end = new Map(latest.map((o) => [o.partition, o.offset]));
      plan = byTime.map((o) => ({
        partition: o.partition,
        offset: o.offset >= 0n ? o.offset : (end.get(o.partition) ?? 0n),
      }));
    } else {
      const [earliest, latest] = await Promise.all([
        this.listOffsets(topic, "earliest"),
        this.listOffsets(topic, "latest"),
      ]);
      const end = new Map(latest.map((o) => [o.partition, o.offset]));
      plan = earliest.map((o) => {
        const hi = end.get(o.partition) ?? o.offset;
        const offset = to.offset < o.offset ? o.offset : to.offset > hi ? hi : to.offset;
        return { partition: o.partition, offset };
      });
    }
    plan.sort((a, b) => a.partition - b.partition);
    if (opts.dryRun) return plan;
    await this.withCoordinator(groupId, async (conn) => {
      const version = conn.versionFor(OffsetCommitApi, MAX_OFFSET_COMMIT_VERSION);
      const res = await conn.send(
        OffsetCommitApi,
        {
          groupId,
          generationIdOrMemberEpoch: -1,
          memberId: "",
          groupInstanceId: null,
          topics: [
            {
              name: topic,
              partitions: plan.map((p) => ({
                partitionIndex: p.partition,
                committedOffset: p.offset,
                committedMetadata: "",
              })),
            },
          ],
        },
        { version },
      );
      for (const t of res.topics) {
        for (const p of t.partitions) {
          if (p.errorCode !== ErrorCode.NONE)
            throw kafkaError(p.errorCode, null, `resetOffsets ${groupId} ${t.name}-${p.partitionIndex}`);
        }
      }
    });
    return plan;
  }

  /**
   * The earliest offset, the latest (log end) offset, or the first offset with a timestamp at or
   * after `timestampMs` (offset -1 when there is none), of every partition (ListOffsets to each leader).
   *
   * @example
   * await admin.listOffsets("orders", "latest") // [{ partition: 0, offset: 42n, timestamp: -1n }]
   */
  async listOffsets(
    topic: string,
    spec: OffsetSpec,
  ): Promise<{ partition: number; offset: bigint; timestamp: bigint }[]> {
    const timestamp =
      spec === "earliest" ? EARLIEST_TIMESTAMP : spec === "latest" ? LATEST_TIMESTAMP : BigInt(spec.timestampMs);
    const out = await this.cluster.withRetries(async () => {
      const byLeader = await this.partitionsByLeader(topic);
      const results = await Promise.all(
        [...byLeader].map(async ([leader, partitions]) => {
          const conn = await this.cluster.connectionTo(leader);
          const version = conn.versionFor(ListOffsetsApi);
          const res = await conn.send(
            ListOffsetsApi,
            {
              replicaId: -1,
              isolationLevel: 0,
              topics: [
                {
                  name: topic,
                  partitions: partitions.map((p) => ({
                    partitionIndex: p.partition,
                    currentLeaderEpoch: version >= 4 ? p.leaderEpoch : -1,
                    timestamp,
                    maxNumOffsets: 1,
                  })),
                },
              ],
            },
            { version },
          );
          const rows: { partition: number; offset: bigint; timestamp: bigint }[] = [];
          for (const t of res.topics) {
            for (const p of t.partitions) {
              if (p.errorCode !== ErrorCode.NONE)
                throw kafkaError(p.errorCode, null, `listOffsets ${t.name}-${p.partitionIndex}`);
              const offset = version === 0 ? (p.oldStyleOffsets[0] ?? -1n) : p.offset;
              rows.push({ partition: p.partitionIndex, offset, timestamp: version === 0 ? -1n : p.timestamp });
            }
          }
          return rows;
        }),
      );
      return results.flat();
    });
    return out.sort((a, b) => a.partition - b.partition);
  }

  /**
   * Deletes records before `offset` on each partition (DeleteRecords to each leader; offset -1 means
   * the high watermark) and returns the new log start offsets.
   *
   * @example
   * await admin.deleteRecords("orders", [{ partition: 0, offset: 10n }]) // [{ partition: 0, lowWatermark: 10n }]
   */
  async deleteRecords(
    topic: string,
    partitions: { partition: number; offset: bigint }[],
  ): Promise<{ partition: number; lowWatermark: bigint }[]> {
    const timeoutMs = DEFAULT_ADMIN_TIMEOUT_MS;
    const out = await this.cluster.withRetries(async () => {
      const byLeader = new Map<number, { partition: number; offset: bigint }[]>();
      for (const p of partitions) {
        const leader = await this.cluster.leaderIdFor(topic, p.partition);
        const list = byLeader.get(leader) ?? [];
        list.push(p);
        byLeader.set(leader, list);
      }
      const results = await Promise.all(
        [...byLeader].map(async ([leader, ps]) => {
          const conn = await this.cluster.connectionTo(leader);
          const res = await conn.send(
            DeleteRecordsApi,
            {
              topics: [{ name: topic, partitions: ps.map((p) => ({ partitionIndex: p.partition, offset: p.offset })) }],
              timeoutMs,
            },
            { timeoutMs: timeoutMs + this.cluster.options.requestTimeoutMs },
          );
          const rows: { partition: number; lowWatermark: bigint }[] = [];
          for (const t of res.topics) {
            for (const p of t.partitions) {
              if (p.errorCode !== ErrorCode.NONE)
                throw kafkaError(p.errorCode, null, `deleteRecords ${t.name}-${p.partitionIndex}`);
              rows.push({ partition: p.partitionIndex, lowWatermark: p.lowWatermark });
            }
          }
          return rows;
        }),
      );
      return results.flat();
    });
    return out.sort((a, b) => a.partition - b.partition);
  }

  /**
   * The cluster id, controller and brokers (DescribeCluster, or Metadata on brokers without it).
   *
   * @example
   * await admin.describeCluster() // { clusterId: "…", controllerId: 1, brokers: [{ nodeId: 1, host: "localhost", port: 9092, rack: null }] }
   */
  async describeCluster(): Promise<{ clusterId: string | null; controllerId: number; brokers: BrokerInfo[] }> {
    return this.cluster.withRetries(async () => {
      const conn = await this.cluster.anyConnection();
      if (conn.apiVersions.has(DescribeClusterApi.apiKey)) {
        const res = await conn.send(DescribeClusterApi, {
          includeClusterAuthorizedOperations: false,
          endpointType: 1,
          includeFencedBrokers: false,
        });
        if (res.errorCode !== ErrorCode.NONE) throw kafkaError(res.errorCode, res.errorMessage, "describeCluster");
        return {
          clusterId: res.clusterId,
          controllerId: res.controllerId,
          brokers: res.brokers
            .map((b) => ({ nodeId: b.brokerId, host: b.host, port: b.port, rack: b.rack }))
            .sort((a, b) => a.nodeId - b.nodeId),
        };
      }
      const md = await this.cluster.metadata([], { refresh: true });
      return {
        clusterId: md.clusterId,
        controllerId: md.controllerId,
        brokers: [...md.brokers.values()].sort((a, b) => a.nodeId - b.nodeId),
      };
    });
  }

  /** Runs `fn` against the group's coordinator, finding it again after NOT_COORDINATOR and retrying. */
  private withCoordinator<T>(groupId: string, fn: (conn: BrokerConnection) => Promise<T>): Promise<T> {
    return this.cluster.withRetries(async () => {
      const conn = await this.cluster.coordinatorFor(groupId, 0);
      try {
        return await fn(conn);
      } catch (err) {
        if (
          err instanceof KafkaError &&
          (err.code === ErrorCode.NOT_COORDINATOR || err.code === ErrorCode.COORDINATOR_NOT_AVAILABLE)
        ) {
          this.cluster.invalidateCoordinator(groupId, 0);
        }
        throw err;
      }
    });
  }

  /** Where Kafka's admin sends topic changes: the controller if known, else any broker (which forwards). */
  private async controllerConnection(): Promise<BrokerConnection> {
    const md = await this.cluster.metadata([]);
    if (md.controllerId >= 0 && md.brokers.has(md.controllerId)) return this.cluster.connectionTo(md.controllerId);
    return this.cluster.anyConnection();
  }

  /** Broker configs are served by that broker; topic configs (and the broker default, "") by any. */
  private async connectionForResource(resource: ConfigResource): Promise<BrokerConnection> {
    if (resource.type === "broker" && /^\d+$/.test(resource.name))
      return this.cluster.connectionTo(Number(resource.name));
    return this.cluster.anyConnection();
  }

  private async partitionsByLeader(topic: string): Promise<Map<number, { partition: number; leaderEpoch: number }[]>> {
    const md = await this.cluster.metadata([topic]);
    const t = md.topics.get(topic);
    if (t === undefined) throw kafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, null, `topic ${topic}`);
    if (t.errorCode !== ErrorCode.NONE) throw kafkaError(t.errorCode, null, `topic ${topic}`);
    const byLeader = new Map<number, { partition: number; leaderEpoch: number }[]>();
    for (const p of t.partitions) {
      if (p.leader < 0) throw kafkaError(ErrorCode.LEADER_NOT_AVAILABLE, null, `${topic}-${p.partition}`);
      const list = byLeader.get(p.leader) ?? [];
      list.push({ partition: p.partition, leaderEpoch: p.leaderEpoch });
      byLeader.set(p.leader, list);
    }
    return byLeader;
  }

  /** Waits until every partition of these topics has a leader (and `minPartitions` exist), as KafkaJS does after createTopics. */
  private async waitForLeaders(topics: string[], timeoutMs: number, minPartitions = 1): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const { initialBackoffMs, maxBackoffMs } = this.cluster.options.retry;
    for (let attempt = 0; ; attempt++) {
      const md = await this.cluster.metadata(topics, { refresh: true });
      const ready = topics.every((name) => {
        const t = md.topics.get(name);
        return (
          t !== undefined &&
          t.errorCode === ErrorCode.NONE &&
          t.partitions.length >= minPartitions &&
          t.partitions.every((p) => p.leader >= 0)
        );
      });
      if (ready) return;
      if (Date.now() >= deadline) {
        throw new KafkaError(
          ErrorCode.REQUEST_TIMED_OUT,
          `topics ${topics.join(", ")} have no leader after ${timeoutMs} ms`,
        );
      }
      await new Promise((resolve) =>
        setTimeout(resolve, Math.min(maxBackoffMs, initialBackoffMs * 2 ** Math.min(attempt, 10))),
      );
    }
  }
}
