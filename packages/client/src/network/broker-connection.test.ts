import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { ErrorCode, FetchApi, KafkaError, MetadataApi, ProduceApi, type RequestFrameHeader } from "@samsa/protocol";
import { ConnectionError, TimeoutError } from "../errors.js";
import { type Answer, FAKE_VERSIONS, type FakeBroker, type Handler, startFakeBroker } from "../testing/fake-broker.js";
import { BrokerConnection } from "./broker-connection.js";

const fakes: FakeBroker[] = [];
const connections: BrokerConnection[] = [];
afterEach(async () => {
  for (const c of connections.splice(0)) c.close();
  for (const f of fakes.splice(0)) await f.close();
});

async function fakeBroker(handler: Handler, apiVersions?: Handler): Promise<FakeBroker> {
  const fake = await startFakeBroker(handler, apiVersions);
  fakes.push(fake);
  return fake;
}

async function connectTo(fake: FakeBroker, opts: { requestTimeoutMs?: number } = {}): Promise<BrokerConnection> {
  const conn = new BrokerConnection({ host: "127.0.0.1", port: fake.port, clientId: "unit", ...opts });
  connections.push(conn);
  await conn.connect();
  return conn;
}

/** A Metadata answer that names the request it answers, so a test can check responses match requests. */
function metadataEcho(header: RequestFrameHeader, body: unknown): Answer {
  const topics = (body as { topics: { name: string | null }[] | null }).topics ?? [];
  return {
    body: {
      brokers: [],
      clusterId: `answer-to-${topics[0]?.name ?? "all"}`,
      controllerId: header.correlationId,
      topics: [],
    },
  };
}

describe("BrokerConnection", () => {
  it("negotiates ApiVersions v3 on connect and picks the highest common version", async () => {
    const fake = await fakeBroker(metadataEcho);
    const conn = await connectTo(fake);
    assert.equal(conn.connected, true);
    assert.deepEqual(fake.requests[0], { apiKey: 18, apiVersion: 3, correlationId: 0, clientId: "unit" });
    assert.equal(conn.versionFor(MetadataApi), 12); // broker 12 < ours 13
    assert.equal(conn.versionFor(MetadataApi, 9), 9); // capped
    assert.equal(conn.versionFor(FetchApi), 11);
    assert.throws(
      () => conn.versionFor(FetchApi, 3),
      (e: unknown) => e instanceof KafkaError && e.code === ErrorCode.UNSUPPORTED_VERSION,
    );
    // An API the broker does not list at all.
    assert.throws(
      () => conn.versionFor({ ...MetadataApi, apiKey: 60 }),
      (e: unknown) => e instanceof KafkaError && e.code === ErrorCode.UNSUPPORTED_VERSION,
    );
    const res = await conn.send(MetadataApi, { topics: [{ name: "t" }] });
    assert.equal(res.clusterId, "answer-to-t");
    assert.deepEqual(fake.requests[1], { apiKey: 3, apiVersion: 12, correlationId: 1, clientId: "unit" });
  });

  it("falls back to an older ApiVersions when the broker answers UNSUPPORTED_VERSION in a v0 body", async () => {
    for (const [advertised, expected] of [
      [[], 0],
      [[{ apiKey: 18, minVersion: 0, maxVersion: 2 }], 2],
    ] as const) {
      const fake = await fakeBroker(metadataEcho, (header) =>
        header.apiVersion >= 3
          ? { body: { errorCode: ErrorCode.UNSUPPORTED_VERSION, apiKeys: advertised }, version: 0 }
          : { body: { errorCode: 0, apiKeys: FAKE_VERSIONS.filter((k) => k.apiKey !== 18) } },
      );
      const conn = await connectTo(fake);
      assert.deepEqual(
        fake.requests.map((r) => r.apiVersion),
        [3, expected],
      );
      assert.equal(conn.versionFor(MetadataApi), 12);
    }
  });

  it("pipelines many requests and matches each response to its request, whatever the TCP chunking", async () => {
    for (const mode of ["whole", "bytewise", "coalesced"] as const) {
      const fake = await fakeBroker(async (h, b) => {
        // Slow down some answers: order must still hold.
        if (h.correlationId % 7 === 0) await new Promise((r) => setTimeout(r, 5));
        return metadataEcho(h, b);
      });
      const conn = await connectTo(fake);
      fake.writeMode = mode;
      const n = 60; // a multiple of 3 so "coalesced" flushes everything
      const results = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          conn.send(MetadataApi, { topics: [{ name: `topic-${i}` }] }, { version: i % 2 === 0 ? 12 : 2 }),
        ),
      );
      for (const [i, r] of results.entries()) assert.equal(r.clusterId, `answer-to-topic-${i}`, `${mode} #${i}`);
      // Requests went out in send order, with increasing correlation ids.
      const ids = fake.requests.slice(1).map((r) => r.correlationId);
      assert.deepEqual(
        ids,
        Array.from({ length: n }, (_, i) => i + 1),
      );
    }
  });

  it("times a request out with TimeoutError and drops its late response", async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const fake = await fakeBroker(async (h, b) => {
      if ((b as { topics: { name: string }[] }).topics[0]?.name === "slow") await gate;
      return metadataEcho(h, b);
    });
    const conn = await connectTo(fake);
    await assert.rejects(conn.send(MetadataApi, { topics: [{ name: "slow" }] }, { timeoutMs: 50 }), TimeoutError);
    const next = conn.send(MetadataApi, { topics: [{ name: "after" }] });
    release();
    assert.equal((await next).clusterId, "answer-to-after");
    assert.equal(conn.connected, true);
  });

  it("rejects every request in flight with ConnectionError when the socket fails", async () => {
    const fake = await fakeBroker((h, _b, socket) => {
      if (h.correlationId === 3) socket.destroy();
      return null;
    });
    const conn = await connectTo(fake);
    const pending = [1, 2, 3].map(() => conn.send(MetadataApi, { topics: [] }));
    for (const p of pending) {
      await assert.rejects(
        p,
        (e: unknown) => e instanceof ConnectionError && e.host === "127.0.0.1" && e.port === fake.port,
      );
    }
    assert.equal(conn.connected, false);
  });

  it("fails connect with ConnectionError when nothing listens", async () => {
    const fake = await fakeBroker(metadataEcho);
    const port = fake.port;
    await fake.close();
    const conn = new BrokerConnection({ host: "127.0.0.1", port });
    await assert.rejects(conn.connect(), ConnectionError);
    assert.equal(conn.connected, false);
  });

  it("sends acks=0 requests without waiting for a response", async () => {
    const fake = await fakeBroker((h, b) => (h.apiKey === ProduceApi.apiKey ? null : metadataEcho(h, b)));
    const conn = await connectTo(fake);
    await conn.sendNoResponse(ProduceApi, { acks: 0, timeoutMs: 1000, topicData: [] });
    const res = await conn.send(MetadataApi, { topics: [{ name: "x" }] });
    assert.equal(res.clusterId, "answer-to-x");
    assert.deepEqual(
      fake.requests.map((r) => [r.apiKey, r.apiVersion]),
      [
        [18, 3],
        [0, 9],
        [3, 12],
      ],
    );
  });
});
