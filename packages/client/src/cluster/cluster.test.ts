import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import {
  ErrorCode,
  FindCoordinatorApi,
  type FindCoordinatorRequest,
  KafkaError,
  MetadataApi,
  type MetadataRequest,
  type RequestFrameHeader,
} from "@samsa/protocol";
import { ConnectionError } from "../errors.js";
import { advertise, FAKE_VERSIONS, type FakeBroker, type Handler, startFakeBroker } from "../testing/fake-broker.js";
import { backoffMs, Cluster, isRetriableError } from "./cluster.js";

const fakes: FakeBroker[] = [];
const clusters: Cluster[] = [];
afterEach(async () => {
  for (const c of clusters.splice(0)) await c.close();
  for (const f of fakes.splice(0)) await f.close();
});

interface Seen {
  header: RequestFrameHeader;
  body: unknown;
}

/** A one-node cluster (node 1) whose Metadata knows every topic except names starting "missing". */
async function oneNode(
  extra: Handler = () => null,
  versions = FAKE_VERSIONS,
): Promise<{ fake: FakeBroker; seen: Seen[] }> {
  const seen: Seen[] = [];
  const fake: FakeBroker = await startFakeBroker((header, body, socket) => {
    seen.push({ header, body });
    if (header.apiKey !== MetadataApi.apiKey) return extra(header, body, socket);
    const req = body as MetadataRequest;
    return {
      body: {
        brokers: [{ nodeId: 1, host: "127.0.0.1", port: fake.port, rack: null }],
        clusterId: "fake-cluster",
        controllerId: 1,
        topics: (req.topics ?? [{ name: "all-1" }]).map((t) =>
          t.name?.startsWith("missing")
            ? { name: t.name, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, partitions: [] }
            : {
                name: t.name,
                errorCode: 0,
                partitions: [1, 0].map((p) => ({
                  partitionIndex: p,
                  leaderId: 1,
                  leaderEpoch: 5,
                  replicaNodes: [1],
                  isrNodes: [1],
                  errorCode: 0,
                })),
              },
        ),
      },
    };
  }, advertise(versions));
  fakes.push(fake);
  return { fake, seen };
}

function cluster(brokers: string[]): Cluster {
  const c = new Cluster({
    brokers,
    retry: { retries: 4, initialBackoffMs: 1, maxBackoffMs: 5 },
    connectTimeoutMs: 2000,
  });
  clusters.push(c);
  return c;
}

const metadataRequests = (seen: Seen[]) =>
  seen
    .filter((s) => s.header.apiKey === MetadataApi.apiKey)
    .map((s) => (s.body as MetadataRequest).topics?.map((t) => t.name) ?? null);

describe("Cluster", () => {
  it("bootstraps from the first broker that answers", async () => {
    const { fake } = await oneNode();
    const dead = await startFakeBroker(() => null);
    const deadPort = dead.port;
    await dead.close();
    const c = cluster([`127.0.0.1:${deadPort}`, `127.0.0.1:${fake.port}`]);
    await c.connect();
    const md = await c.metadata([]);
    assert.equal(md.clusterId, "fake-cluster");
    assert.deepEqual([...md.brokers.values()], [{ nodeId: 1, host: "127.0.0.1", port: fake.port, rack: null }]);
  });

  it("fails to connect with ConnectionError when no bootstrap broker answers", async () => {
    const dead = await startFakeBroker(() => null);
    const port = dead.port;
    await dead.close();
    await assert.rejects(cluster([`127.0.0.1:${port}`]).connect(), ConnectionError);
  });

  it("caches topic metadata, refreshes on demand, and never caches a topic in error", async () => {
    const { fake, seen } = await oneNode();
    const c = cluster([`127.0.0.1:${fake.port}`]);
    await c.connect();
    const md = await c.metadata(["t"]);
    const t = md.topics.get("t");
    assert.deepEqual(
      t?.partitions.map((p) => [p.partition, p.leader, p.leaderEpoch]),
      [
        [0, 1, 5],
        [1, 1, 5],
      ],
    );
    await c.metadata(["t"]);
    await c.leaderFor("t", 1);
    assert.deepEqual(metadataRequests(seen), [[], ["t"]]);
    await c.refreshMetadata(["t"]);
    assert.deepEqual(metadataRequests(seen), [[], ["t"], ["t"]]);
    await c.metadata(["t", "missing-x"]);
    await c.metadata(["t", "missing-x"]);
    assert.deepEqual(metadataRequests(seen).slice(3), [["missing-x"], ["missing-x"]]);
    await assert.rejects(
      c.leaderFor("missing-x", 0),
      (e: unknown) => e instanceof KafkaError && e.code === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
    );
    await assert.rejects(
      c.leaderFor("t", 7),
      (e: unknown) => e instanceof KafkaError && e.code === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
    );
    await c.metadata(null);
    assert.deepEqual(metadataRequests(seen).at(-1), null);
    // Concurrent identical fetches share one request.
    const n = metadataRequests(seen).length;
    await Promise.all([c.refreshMetadata(["t"]), c.refreshMetadata(["t"]), c.refreshMetadata(["t"])]);
    assert.equal(metadataRequests(seen).length, n + 1);
  });

  it("pools one connection per node and reconnects after it fails", async () => {
    const { fake } = await oneNode();
    const c = cluster([`127.0.0.1:${fake.port}`]);
    await c.connect();
    const [a, b] = await Promise.all([c.leaderFor("t", 0), c.connectionTo(1)]);
    assert.equal(a, b);
    assert.equal(a.nodeId, 1);
    const closed = new Promise<void>((r) => a.onClose(() => r()));
    for (const s of fake.sockets) s.destroy();
    await closed;
    assert.equal(a.connected, false);
    const again = await c.connectionTo(1);
    assert.notEqual(again, a);
    assert.equal(again.connected, true);
  });

  it("finds coordinators with batched FindCoordinator (v4+), retrying while they load, and caches them", async () => {
    let answers = 0;
    const { fake, seen } = await oneNode((header) => {
      if (header.apiKey !== FindCoordinatorApi.apiKey) return null;
      answers++;
      const errorCode =
        answers === 1
          ? ErrorCode.COORDINATOR_NOT_AVAILABLE
          : answers === 2
            ? ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
            : 0;
      return {
        body: {
          coordinators: [{ key: "g", nodeId: 1, host: "127.0.0.1", port: fake.port, errorCode, errorMessage: null }],
        },
      };
    });
    const c = cluster([`127.0.0.1:${fake.port}`]);
    await c.connect();
    const conn = await c.coordinatorFor("g", 0);
    assert.equal(conn.nodeId, 1);
    assert.equal(await c.coordinatorFor("g", 0), conn);
    const finds = seen.filter((s) => s.header.apiKey === FindCoordinatorApi.apiKey);
    assert.equal(finds.length, 3);
    assert.equal(finds[0].header.apiVersion, 6);
    assert.deepEqual((finds[0].body as FindCoordinatorRequest).coordinatorKeys, ["g"]);
    c.invalidateCoordinator("g", 0);
    await c.coordinatorFor("g", 0);
    assert.equal(seen.filter((s) => s.header.apiKey === FindCoordinatorApi.apiKey).length, 4);
  });

  it("finds coordinators with a single key on FindCoordinator v0-3", async () => {
    const versions = FAKE_VERSIONS.map((v) => (v.apiKey === FindCoordinatorApi.apiKey ? { ...v, maxVersion: 3 } : v));
    const { fake, seen } = await oneNode(
      (header) =>
        header.apiKey === FindCoordinatorApi.apiKey
          ? { body: { errorCode: 0, errorMessage: null, nodeId: 1, host: "127.0.0.1", port: fake.port } }
          : null,
      versions,
    );
    const c = cluster([`127.0.0.1:${fake.port}`]);
    await c.connect();
    assert.equal((await c.coordinatorFor("txn-1", 1)).nodeId, 1);
    const find = seen.find((s) => s.header.apiKey === FindCoordinatorApi.apiKey);
    assert.ok(find !== undefined);
    assert.equal(find.header.apiVersion, 3);
    const body = find.body as FindCoordinatorRequest;
    assert.deepEqual([body.key, body.keyType], ["txn-1", 1]);
  });

  it("withRetries retries retriable failures only, up to the configured count", async () => {
    const c = cluster(["127.0.0.1:1"]);
    let calls = 0;
    const result = await c.withRetries(async () => {
      if (++calls < 3) throw new KafkaError(ErrorCode.NOT_LEADER_OR_FOLLOWER);
      return "ok";
    });
    assert.deepEqual([result, calls], ["ok", 3]);
    calls = 0;
    await assert.rejects(
      c.withRetries(async () => {
        calls++;
        throw new KafkaError(ErrorCode.TOPIC_ALREADY_EXISTS);
      }),
      KafkaError,
    );
    assert.equal(calls, 1);
    calls = 0;
    await assert.rejects(
      c.withRetries(async () => {
        calls++;
        throw new ConnectionError("h", 1, "down");
      }),
      ConnectionError,
    );
    assert.equal(calls, 5); // 1 + retries (4)
    assert.equal(isRetriableError(new Error("x")), false);
  });

  it("backs off exponentially with ±20% jitter, capped", () => {
    assert.equal(
      backoffMs(0, 100, 1000, () => 0.5),
      100,
    );
    assert.equal(
      backoffMs(3, 100, 1000, () => 0.5),
      800,
    );
    assert.equal(
      backoffMs(10, 100, 1000, () => 0.5),
      1000,
    );
    assert.equal(
      backoffMs(0, 100, 1000, () => 0),
      80,
    );
    assert.equal(
      backoffMs(0, 100, 1000, () => 0.999999),
      120,
    );
  });
});
