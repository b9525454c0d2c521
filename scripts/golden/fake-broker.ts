/**
 * Just enough of a Kafka broker to lead a real client through its normal flow, so the capture
 * tool can record the requests it sends. Every response is built as a typed value and encoded by
 * @samsa/protocol's generated codecs; no Kafka bytes are written by hand here, except the
 * offset patching a broker does on append (see assignOffsets).
 *
 * It is one broker (node 0, also the controller and every group's coordinator) that believes any
 * topic it is asked about exists with 2 partitions, keeps produced batches in memory as they were
 * sent, and answers a single-member consumer group. It is a fixture generator, not a broker:
 * nothing here is meant to be reused by packages/broker.
 */
import { createHash } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import {
  APIS,
  apiByKey,
  type CreatePartitionsRequest,
  type CreateTopicsRequest,
  type DecodedRequest,
  type DeleteTopicsRequest,
  type DescribeConfigsRequest,
  type DescribeGroupsRequest,
  decodeRequestFrame,
  type Encodable,
  encodeResponseFrame,
  type FetchRequest,
  type FieldSchema,
  type FindCoordinatorRequest,
  type JoinGroupRequest,
  type LeaveGroupRequest,
  type ListOffsetsRequest,
  type MetadataRequest,
  type OffsetCommitRequest,
  type OffsetFetchRequest,
  type OffsetForLeaderEpochRequest,
  type ProduceRequest,
  peekRequestHeader,
  type SyncGroupRequest,
  type Uuid,
  uuidFromBytes,
} from "@samsa/protocol";

export const NODE_ID = 0;
export const CLUSTER_ID = "samsa-golden-capture";
/** "Any requested topic exists with 2 partitions", as the capture brief asks. */
const DEFAULT_PARTITIONS = 2;
/** Long-poll fetches wait at most this long for data: KafkaJS asks for 5 s, which only slows the capture. */
const MAX_FETCH_WAIT_MS = 500;
const FETCH_POLL_INTERVAL_MS = 25;
/** Kafka's "authorized operations not requested" marker (Integer.MIN_VALUE). */
const AUTHORIZED_OPERATIONS_OMITTED = -2147483648;
/** Kafka's ListOffsets sentinels (ListOffsetsRequest.EARLIEST_TIMESTAMP etc.). */
const LATEST_TIMESTAMP = -1n;
const EARLIEST_TIMESTAMP = -2n;
const MAX_TIMESTAMP = -3n;

const ERROR_OFFSET_OUT_OF_RANGE = 1;
const ERROR_UNKNOWN_TOPIC_OR_PARTITION = 3;
const ERROR_UNSUPPORTED_VERSION = 35;
/** DescribeConfigs config sources (Kafka's DescribeConfigsResponse.ConfigSource). */
const CONFIG_SOURCE_DYNAMIC_TOPIC = 1;
const CONFIG_SOURCE_DEFAULT = 5;
const RESOURCE_TYPE_TOPIC = 2;

/** Topic defaults DescribeConfigs reports when nothing was set (Kafka's defaults). */
const TOPIC_CONFIG_DEFAULTS: ReadonlyMap<string, string> = new Map([
  ["cleanup.policy", "delete"],
  ["compression.type", "producer"],
  ["retention.ms", "604800000"],
  ["segment.bytes", "1073741824"],
  ["max.message.bytes", "1048588"],
]);

/** A request frame as it arrived (without its size prefix), for the recorder. */
export type FrameListener = (frame: Buffer) => void;

interface StoredBatch {
  baseOffset: bigint;
  /** One past the last offset in the batch. */
  nextOffset: bigint;
  bytes: Buffer;
}

interface PartitionLog {
  batches: StoredBatch[];
  logEndOffset: bigint;
}

interface Topic {
  name: string;
  topicId: Uuid;
  partitions: PartitionLog[];
  configs: Map<string, string>;
}

interface Group {
  generationId: number;
  protocolType: string;
  protocolName: string;
  memberId: string;
  memberMetadata: Buffer;
  assignment: Buffer;
  committed: Map<string, bigint>;
}

/** A handler returns the response body, or NO_RESPONSE when Kafka sends none (Produce with acks=0). */
const NO_RESPONSE = Symbol("no response");
type HandlerResult = object | typeof NO_RESPONSE;
type Handler = (body: unknown, version: number, clientId: string | null) => HandlerResult | Promise<HandlerResult>;

export class FakeBroker {
  readonly problems: string[] = [];
  private readonly topics = new Map<string, Topic>();
  private readonly groups = new Map<string, Group>();
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private nextProducerId = 1000n;
  port = 0;

  constructor(private readonly onFrame: FrameListener) {
    this.server = createServer((socket) => this.serve(socket));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    const address = this.server.address();
    if (address === null || typeof address === "string") throw new Error("no TCP address");
    this.port = address.port;
    return this.port;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private serve(socket: Socket): void {
    this.sockets.add(socket);
    socket.setNoDelay(true);
    let pending: Buffer = Buffer.alloc(0);
    // Kafka answers a connection's requests in order, one at a time (the channel is muted while
    // one is in flight); a promise chain gives the same order even when a Fetch long-polls.
    let chain: Promise<void> = Promise.resolve();
    socket.on("data", (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 4) {
        const size = pending.readInt32BE(0);
        if (pending.length < 4 + size) break;
        const frame = Buffer.from(pending.subarray(4, 4 + size));
        pending = pending.subarray(4 + size);
        this.onFrame(frame);
        chain = chain.then(() => this.answer(socket, frame));
      }
    });
    socket.on("error", () => socket.destroy());
    socket.on("close", () => this.sockets.delete(socket));
  }

  private async answer(socket: Socket, frame: Buffer): Promise<void> {
    if (socket.destroyed) return;
    const { apiKey, apiVersion, correlationId } = peekRequestHeader(frame);
    let request: DecodedRequest;
    try {
      request = decodeRequestFrame(frame);
    } catch (e) {
      this.problem(`cannot decode ${apiName(apiKey)} v${apiVersion}: ${(e as Error).message}; closing the connection`);
      socket.destroy();
      return;
    }
    const handler = this.handlers.get(apiKey);
    if (handler === undefined) {
      this.problem(`no fake handler for ${request.api.name} v${apiVersion}; closing the connection`);
      socket.destroy();
      return;
    }
    try {
      const body = await handler(request.body, apiVersion, request.header.clientId);
      if (body === NO_RESPONSE || socket.destroyed) return;
      const fitted = fitToVersion(request.api.response.schema, body, apiVersion);
      socket.write(encodeResponseFrame(request.api, apiVersion, correlationId, fitted as Encodable<unknown>));
    } catch (e) {
      this.problem(`answering ${request.api.name} v${apiVersion}: ${(e as Error).stack ?? e}`);
      socket.destroy();
    }
  }

  private problem(message: string): void {
    this.problems.push(message);
    console.error(`fake broker: ${message}`);
  }

  // ---- topics and logs -------------------------------------------------------------------

  private topic(name: string): Topic {
    let t = this.topics.get(name);
    if (t === undefined) {
      t = { name, topicId: topicIdOf(name), partitions: [], configs: new Map() };
      setPartitionCount(t, DEFAULT_PARTITIONS);
      this.topics.set(name, t);
    }
    return t;
  }

  private topicById(topicId: Uuid): Topic | undefined {
    for (const t of this.topics.values()) if (t.topicId === topicId) return t;
    return undefined;
  }

  private brokers() {
    return [{ nodeId: NODE_ID, brokerId: NODE_ID, host: "127.0.0.1", port: this.port, rack: null }];
  }

  // ---- handlers, by API key ---------------------------------------------------------------

  private readonly handlers = new Map<number, Handler>([
    [0, (b) => this.produce(b as ProduceRequest)],
    [1, (b) => this.fetch(b as FetchRequest)],
    [2, (b) => this.listOffsets(b as ListOffsetsRequest)],
    [3, (b, v) => this.metadata(b as MetadataRequest, v)],
    [8, (b) => this.offsetCommit(b as OffsetCommitRequest)],
    [9, (b) => this.offsetFetch(b as OffsetFetchRequest)],
    [10, (b) => this.findCoordinator(b as FindCoordinatorRequest)],
    [11, (b, _v, clientId) => this.joinGroup(b as JoinGroupRequest, clientId)],
    [12, () => ({ errorCode: 0 })],
    [13, (b) => this.leaveGroup(b as LeaveGroupRequest)],
    [14, (b) => this.syncGroup(b as SyncGroupRequest)],
    [15, (b) => this.describeGroups(b as DescribeGroupsRequest)],
    [
      16,
      () => ({
        errorCode: 0,
        groups: [...this.groups.keys()].map((groupId) => ({ groupId, protocolType: "consumer", groupState: "Stable" })),
      }),
    ],
    [18, (_b, v) => this.apiVersions(v)],
    [19, (b) => this.createTopics(b as CreateTopicsRequest)],
    [20, (b) => this.deleteTopics(b as DeleteTopicsRequest)],
    [22, () => ({ errorCode: 0, producerId: this.nextProducerId++, producerEpoch: 0 })],
    [23, (b) => this.offsetForLeaderEpoch(b as OffsetForLeaderEpochRequest)],
    [32, (b) => this.describeConfigs(b as DescribeConfigsRequest)],
    [37, (b) => this.createPartitions(b as CreatePartitionsRequest)],
    [
      60,
      () => ({
        errorCode: 0,
        errorMessage: null,
        clusterId: CLUSTER_ID,
        controllerId: NODE_ID,
        brokers: this.brokers(),
        clusterAuthorizedOperations: AUTHORIZED_OPERATIONS_OMITTED,
      }),
    ],
  ]);

  private apiVersions(version: number): object {
    const apiKeys = advertisedApiVersions();
    // Kafka answers a too-new ApiVersions with v0 and UNSUPPORTED_VERSION; our codecs cover 0-4,
    // so this only matters for a client newer than the codecs.
    const errorCode = version > apiByKey(18)!.request.maxVersion ? ERROR_UNSUPPORTED_VERSION : 0;
    return { errorCode, apiKeys, throttleTimeMs: 0 };
  }

  private metadata(req: MetadataRequest, version: number): object {
    // v0: an empty list means every topic; v1+: null means every topic and empty means none.
    const all = req.topics === null || (version === 0 && req.topics.length === 0);
    const topics: Topic[] = [];
    if (all) topics.push(...this.topics.values());
    else {
      for (const t of req.topics ?? []) {
        const found = t.name !== null && t.name !== "" ? this.topic(t.name) : this.topicById(t.topicId);
        if (found !== undefined) topics.push(found);
      }
    }
    return {
      brokers: this.brokers(),
      clusterId: CLUSTER_ID,
      controllerId: NODE_ID,
      clusterAuthorizedOperations: AUTHORIZED_OPERATIONS_OMITTED,
      topics: topics.map((t) => ({
        errorCode: 0,
        name: t.name,
        topicId: t.topicId,
        isInternal: false,
        partitions: t.partitions.map((_p, partitionIndex) => ({
          errorCode: 0,
          partitionIndex,
          leaderId: NODE_ID,
          leaderEpoch: 0,
          replicaNodes: [NODE_ID],
          isrNodes: [NODE_ID],
          offlineReplicas: [],
        })),
        topicAuthorizedOperations: AUTHORIZED_OPERATIONS_OMITTED,
      })),
    };
  }

  private produce(req: ProduceRequest): HandlerResult {
    const responses = req.topicData.map((td) => {
      const topic = td.name !== "" ? this.topic(td.name) : this.topicById(td.topicId);
      return {
        name: td.name,
        topicId: td.topicId,
        partitionResponses: td.partitionData.map((pd) => {
          const log = topic?.partitions[pd.index];
          if (log === undefined)
            return { index: pd.index, errorCode: ERROR_UNKNOWN_TOPIC_OR_PARTITION, baseOffset: -1n };
          const baseOffset = log.logEndOffset;
          if (pd.records !== null && pd.records.length > 0) append(log, pd.records);
          return { index: pd.index, errorCode: 0, baseOffset, logAppendTimeMs: -1n, logStartOffset: 0n };
        }),
      };
    });
    // Kafka sends nothing back for acks=0.
    return req.acks === 0 ? NO_RESPONSE : { responses, throttleTimeMs: 0 };
  }

  private async fetch(req: FetchRequest): Promise<object> {
    const waitMs = Math.min(req.maxWaitMs, MAX_FETCH_WAIT_MS);
    const deadline = Date.now() + waitMs;
    for (;;) {
      const response = this.fetchNow(req);
      if (response.hasData || Date.now() >= deadline) return response.body;
      await sleep(FETCH_POLL_INTERVAL_MS);
    }
  }

  private fetchNow(req: FetchRequest): { hasData: boolean; body: object } {
    let hasData = false;
    const responses = req.topics.map((ft) => {
      const topic = ft.topic !== "" ? this.topic(ft.topic) : this.topicById(ft.topicId);
      return {
        topic: ft.topic,
        topicId: ft.topicId,
        partitions: ft.partitions.map((fp) => {
          const log = topic?.partitions[fp.partition];
          const base = { partitionIndex: fp.partition, abortedTransactions: null, preferredReadReplica: -1 };
          if (log === undefined)
            return {
              ...base,
              errorCode: ERROR_UNKNOWN_TOPIC_OR_PARTITION,
              highWatermark: -1n,
              lastStableOffset: -1n,
              logStartOffset: -1n,
              records: null,
            };
          if (fp.fetchOffset > log.logEndOffset || fp.fetchOffset < 0n) {
            return {
              ...base,
              errorCode: ERROR_OFFSET_OUT_OF_RANGE,
              highWatermark: log.logEndOffset,
              lastStableOffset: log.logEndOffset,
              logStartOffset: 0n,
              records: null,
            };
          }
          // Whole batches from the one holding fetchOffset on, as Kafka does; clients skip the
          // records before their offset.
          const batches = log.batches.filter((b) => b.nextOffset > fp.fetchOffset).map((b) => b.bytes);
          if (batches.length > 0) hasData = true;
          return {
            ...base,
            errorCode: 0,
            highWatermark: log.logEndOffset,
            lastStableOffset: log.logEndOffset,
            logStartOffset: 0n,
            records: Buffer.concat(batches),
          };
        }),
      };
    });
    // sessionId 0: no incremental fetch session was created, so clients keep sending full fetches.
    return { hasData, body: { throttleTimeMs: 0, errorCode: 0, sessionId: 0, responses } };
  }

  private listOffsets(req: ListOffsetsRequest): object {
    return {
      throttleTimeMs: 0,
      topics: req.topics.map((lt) => {
        const topic = this.topic(lt.name);
        return {
          name: lt.name,
          partitions: lt.partitions.map((lp) => {
            const log = topic.partitions[lp.partitionIndex];
            if (log === undefined)
              return { partitionIndex: lp.partitionIndex, errorCode: ERROR_UNKNOWN_TOPIC_OR_PARTITION };
            const offset = offsetForTimestamp(log, lp.timestamp);
            return {
              partitionIndex: lp.partitionIndex,
              errorCode: 0,
              oldStyleOffsets: [offset],
              timestamp: -1n,
              offset,
              leaderEpoch: 0,
            };
          }),
        };
      }),
    };
  }

  private findCoordinator(req: FindCoordinatorRequest): object {
    const [broker] = this.brokers();
    const keys = req.coordinatorKeys.length > 0 ? req.coordinatorKeys : [req.key];
    return {
      throttleTimeMs: 0,
      errorCode: 0,
      errorMessage: null,
      nodeId: broker.nodeId,
      host: broker.host,
      port: broker.port,
      coordinators: keys.map((key) => ({
        key,
        nodeId: broker.nodeId,
        host: broker.host,
        port: broker.port,
        errorCode: 0,
        errorMessage: null,
      })),
    };
  }

  private joinGroup(req: JoinGroupRequest, clientId: string | null): object {
    const protocol = req.protocols[0];
    const previous = this.groups.get(req.groupId);
    // Kafka's form, client id + UUID; the UUID comes from the group name so re-captures match.
    const memberId = req.memberId !== "" ? req.memberId : `${clientId ?? "member"}-${uuidOf(`member:${req.groupId}`)}`;
    const group: Group = {
      generationId: (previous?.generationId ?? 0) + 1,
      protocolType: req.protocolType,
      protocolName: protocol?.name ?? "",
      memberId,
      memberMetadata: Buffer.from(protocol?.metadata ?? Buffer.alloc(0)),
      assignment: Buffer.alloc(0),
      committed: previous?.committed ?? new Map(),
    };
    this.groups.set(req.groupId, group);
    // One member, so it is the leader and does the assignment itself in SyncGroup.
    return {
      throttleTimeMs: 0,
      errorCode: 0,
      generationId: group.generationId,
      protocolType: group.protocolType,
      protocolName: group.protocolName,
      leader: memberId,
      skipAssignment: false,
      memberId,
      members: [{ memberId, groupInstanceId: req.groupInstanceId, metadata: group.memberMetadata }],
    };
  }

  private syncGroup(req: SyncGroupRequest): object {
    const group = this.groups.get(req.groupId);
    const mine = req.assignments.find((a) => a.memberId === req.memberId);
    if (group !== undefined && mine !== undefined) group.assignment = Buffer.from(mine.assignment);
    return {
      throttleTimeMs: 0,
      errorCode: 0,
      protocolType: group?.protocolType ?? null,
      protocolName: group?.protocolName ?? null,
      assignment: group?.assignment ?? Buffer.alloc(0),
    };
  }

  private leaveGroup(req: LeaveGroupRequest): object {
    return {
      throttleTimeMs: 0,
      errorCode: 0,
      members: req.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, errorCode: 0 })),
    };
  }

  private describeGroups(req: DescribeGroupsRequest): object {
    return {
      throttleTimeMs: 0,
      groups: req.groups.map((groupId) => {
        const g = this.groups.get(groupId);
        return {
          errorCode: 0,
          groupId,
          groupState: g === undefined ? "Dead" : "Stable",
          protocolType: g?.protocolType ?? "",
          protocolData: g?.protocolName ?? "",
          members:
            g === undefined
              ? []
              : [
                  {
                    memberId: g.memberId,
                    clientId: "",
                    clientHost: "/127.0.0.1",
                    memberMetadata: g.memberMetadata,
                    memberAssignment: g.assignment,
                  },
                ],
          authorizedOperations: AUTHORIZED_OPERATIONS_OMITTED,
        };
      }),
    };
  }

  private offsetCommit(req: OffsetCommitRequest): object {
    const group = this.groups.get(req.groupId);
    return {
      throttleTimeMs: 0,
      topics: req.topics.map((t) => ({
        name: t.name,
        topicId: t.topicId,
        partitions: t.partitions.map((p) => {
          group?.committed.set(`${t.name}:${p.partitionIndex}`, p.committedOffset);
          return { partitionIndex: p.partitionIndex, errorCode: 0 };
        }),
      })),
    };
  }

  private offsetFetch(req: OffsetFetchRequest): object {
    const answer = (groupId: string, topics: { name: string; partitionIndexes: number[] }[] | null) => {
      const committed = this.groups.get(groupId)?.committed ?? new Map<string, bigint>();
      const asked = topics ?? [];
      return asked.map((t) => ({
        name: t.name,
        partitions: t.partitionIndexes.map((partitionIndex) => ({
          partitionIndex,
          committedOffset: committed.get(`${t.name}:${partitionIndex}`) ?? -1n,
          committedLeaderEpoch: -1,
          metadata: "",
          errorCode: 0,
        })),
      }));
    };
    return {
      throttleTimeMs: 0,
      errorCode: 0,
      topics: req.groups.length === 0 ? answer(req.groupId, req.topics) : [],
      groups: req.groups.map((g) => ({ groupId: g.groupId, topics: answer(g.groupId, g.topics), errorCode: 0 })),
    };
  }

  private offsetForLeaderEpoch(req: OffsetForLeaderEpochRequest): object {
    return {
      throttleTimeMs: 0,
      topics: req.topics.map((t) => ({
        topic: t.topic,
        partitions: t.partitions.map((p) => ({
          errorCode: 0,
          partition: p.partition,
          leaderEpoch: 0,
          endOffset: this.topic(t.topic).partitions[p.partition]?.logEndOffset ?? -1n,
        })),
      })),
    };
  }

  private createTopics(req: CreateTopicsRequest): object {
    return {
      throttleTimeMs: 0,
      topics: req.topics.map((ct) => {
        const numPartitions = ct.numPartitions > 0 ? ct.numPartitions : DEFAULT_PARTITIONS;
        const replicationFactor = ct.replicationFactor > 0 ? ct.replicationFactor : 1;
        if (!req.validateOnly) {
          const t = this.topic(ct.name);
          setPartitionCount(t, numPartitions);
          for (const c of ct.configs) if (c.value !== null) t.configs.set(c.name, c.value);
        }
        return {
          name: ct.name,
          topicId: topicIdOf(ct.name),
          errorCode: 0,
          errorMessage: null,
          numPartitions,
          replicationFactor,
          configs: ct.configs.map((c) => ({
            name: c.name,
            value: c.value,
            readOnly: false,
            configSource: CONFIG_SOURCE_DYNAMIC_TOPIC,
            isSensitive: false,
          })),
        };
      }),
    };
  }

  private deleteTopics(req: DeleteTopicsRequest): object {
    const named = req.topicNames.map((name) => ({ name, topicId: topicIdOf(name) }));
    const byState = req.topics.map((t) => ({
      name: t.name ?? this.topicById(t.topicId)?.name ?? null,
      topicId: t.topicId,
    }));
    return {
      throttleTimeMs: 0,
      responses: [...named, ...byState].map(({ name, topicId }) => {
        if (name !== null) this.topics.delete(name);
        return { name, topicId, errorCode: 0, errorMessage: null };
      }),
    };
  }

  private createPartitions(req: CreatePartitionsRequest): object {
    return {
      throttleTimeMs: 0,
      results: req.topics.map((t) => {
        if (!req.validateOnly) setPartitionCount(this.topic(t.name), t.count);
        return { name: t.name, errorCode: 0, errorMessage: null };
      }),
    };
  }

  private describeConfigs(req: DescribeConfigsRequest): object {
    return {
      throttleTimeMs: 0,
      results: req.resources.map((r) => {
        const set =
          r.resourceType === RESOURCE_TYPE_TOPIC ? this.topic(r.resourceName).configs : new Map<string, string>();
        const names = r.configurationKeys ?? [...new Set([...TOPIC_CONFIG_DEFAULTS.keys(), ...set.keys()])];
        return {
          errorCode: 0,
          errorMessage: null,
          resourceType: r.resourceType,
          resourceName: r.resourceName,
          configs: names.map((name) => {
            const isDefault = !set.has(name);
            return {
              name,
              value: set.get(name) ?? TOPIC_CONFIG_DEFAULTS.get(name) ?? null,
              readOnly: false,
              isDefault,
              configSource: isDefault ? CONFIG_SOURCE_DEFAULT : CONFIG_SOURCE_DYNAMIC_TOPIC,
              isSensitive: false,
              synonyms: [],
              configType: 0,
              documentation: null,
            };
          }),
        };
      }),
    };
  }
}

/**
 * Every API the codecs have, with its full version range, except a newest version Kafka marks
 * unstable (brokers don't advertise those). librdkafka reads a missing old version as a missing
 * feature, so ranges start at the codec's minimum.
 */
export function advertisedApiVersions(): { apiKey: number; minVersion: number; maxVersion: number }[] {
  const out: { apiKey: number; minVersion: number; maxVersion: number }[] = [];
  for (const api of APIS) {
    // Two generated APIs share key 74 (renamed in Kafka 4.1); apiByKey picks the one we decode.
    if (apiByKey(api.apiKey) !== api) continue;
    const { minVersion } = api.request;
    const maxVersion = api.request.latestVersionUnstable ? api.request.maxVersion - 1 : api.request.maxVersion;
    if (maxVersion >= minVersion) out.push({ apiKey: api.apiKey, minVersion, maxVersion });
  }
  return out;
}

/**
 * Drops the fields a version does not have, recursively, using the codec's run-time schema, so
 * one response value can be written for every version a client may ask for (the encoder rejects
 * a non-default value in a version without the field, as Kafka does).
 */
export function fitToVersion(schema: readonly FieldSchema[], value: unknown, version: number): unknown {
  if (value === null || typeof value !== "object") return value;
  const src = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const field of schema) {
    if (!(field.name in src) || !inVersions(field.versions, version)) continue;
    const v = src[field.name];
    if (field.fields === undefined || v === null || v === undefined) out[field.name] = v;
    else if (Array.isArray(v)) out[field.name] = v.map((x) => fitToVersion(field.fields!, x, version));
    else out[field.name] = fitToVersion(field.fields, v, version);
  }
  return out;
}

/** Kafka's version sets as the schema writes them: "0-2, 5-13", "3", "none". */
function inVersions(versions: string, version: number): boolean {
  if (versions === "none") return false;
  return versions.split(",").some((part) => {
    const [lo, hi] = part.trim().split("-");
    if (lo.endsWith("+")) return version >= Number(lo.slice(0, -1));
    return version >= Number(lo) && version <= Number(hi ?? lo);
  });
}

function setPartitionCount(t: Topic, count: number): void {
  while (t.partitions.length < count) t.partitions.push({ batches: [], logEndOffset: 0n });
}

/** Topic IDs derived from the name, so reruns answer with the same IDs. */
function topicIdOf(name: string): Uuid {
  return uuidFromBytes(createHash("sha256").update(`topic:${name}`).digest(), 0);
}

/** A UUID in the usual 8-4-4-4-12 hex form, derived from `seed`. */
function uuidOf(seed: string): string {
  const h = createHash("sha256").update(seed).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export function apiName(apiKey: number): string {
  return apiByKey(apiKey)?.name ?? `api${apiKey}`;
}

/**
 * Appends a copy of the client's record data, assigning offsets as a broker does on append.
 * Every entry (a magic-2 batch, or a magic-0/1 message) starts with Kafka's LOG_OVERHEAD: int64
 * offset, int32 size; the magic byte is at 16 in all three formats. A magic-2 batch holds
 * lastOffsetDelta + 1 offsets (int32 at 23); an uncompressed legacy message holds one. Compressed
 * legacy wrappers would need their inner messages counted; no default client sends them.
 */
function append(log: PartitionLog, records: Buffer): void {
  const data = Buffer.from(records);
  let pos = 0;
  while (pos + 17 <= data.length) {
    const size = data.readInt32BE(pos + 8);
    const end = pos + 12 + size;
    if (end > data.length) break;
    const magic = data.readInt8(pos + 16);
    const count = magic === 2 ? BigInt(data.readInt32BE(pos + 23) + 1) : 1n;
    const baseOffset = log.logEndOffset;
    data.writeBigInt64BE(magic === 2 ? baseOffset : baseOffset + count - 1n, pos);
    log.batches.push({ baseOffset, nextOffset: baseOffset + count, bytes: data.subarray(pos, end) });
    log.logEndOffset += count;
    pos = end;
  }
}

/** ListOffsets: the sentinels, or the first batch whose max timestamp (magic 2, int64 at 35) reaches ts. */
function offsetForTimestamp(log: PartitionLog, timestamp: bigint): bigint {
  if (timestamp === EARLIEST_TIMESTAMP) return 0n;
  if (timestamp === LATEST_TIMESTAMP) return log.logEndOffset;
  if (timestamp === MAX_TIMESTAMP) return log.logEndOffset > 0n ? log.logEndOffset - 1n : -1n;
  for (const b of log.batches) {
    if (b.bytes.readInt8(16) === 2 && b.bytes.readBigInt64BE(35) >= timestamp) return b.baseOffset;
  }
  return -1n;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
