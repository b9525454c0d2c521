/**
 * The sender against a scripted in-process broker (no sockets): retries keep sequences and order,
 * OUT_OF_ORDER_SEQUENCE_NUMBER echoes are retried, UNKNOWN_PRODUCER_ID bumps the epoch, and one
 * Produce request carries every ready partition of a broker.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  type ApiDescriptor,
  decodeRecordBatch,
  ErrorCode,
  InitProducerIdApi,
  ProduceApi,
  type ProduceRequest,
  type ProduceResponse,
} from "@samsa/protocol";
import type { Cluster, ClusterMetadata } from "../cluster/cluster.js";
import { ConnectionError } from "../errors.js";
import { RecordAccumulator } from "./accumulator.js";
import { Sender } from "./sender.js";
import { TransactionManager } from "./transaction-manager.js";
import type { RecordMetadata } from "./types.js";

interface SeenBatch {
  partition: number;
  producerId: bigint;
  epoch: number;
  sequence: number;
  values: string[];
}

/**
 * A one-broker cluster whose partitions check sequences as Kafka's ProducerStateManager does
 * (duplicates of the last batches answered with their first offset). `inject` may replace the
 * answer to a partition's batch; held responses let several requests be in flight at once.
 */
class FakeBroker {
  readonly logs = new Map<number, { seq: number; offset: bigint; values: string[] }[]>();
  readonly requests: SeenBatch[][] = [];
  producerId = 1000n;
  epoch = 0;
  initCalls = 0;
  hold = false;
  private readonly held: (() => void)[] = [];
  inject: (b: SeenBatch, attempt: number) => number | "disconnect" | null = () => null;
  private readonly attempts = new Map<string, number>();

  release(): void {
    for (const r of this.held.splice(0)) r();
  }

  private produce(req: ProduceRequest): Promise<ProduceResponse> | "disconnect" {
    const seen: SeenBatch[] = [];
    const responses = req.topicData.map((t) => ({
      name: t.name,
      partitionResponses: t.partitionData.map((p) => {
        const { header, records } = decodeRecordBatch(p.records!);
        const b: SeenBatch = {
          partition: p.index,
          producerId: header.producerId,
          epoch: header.producerEpoch,
          sequence: header.baseSequence,
          values: records.map((r) => r.value!.toString()),
        };
        seen.push(b);
        const key = `${b.partition}:${b.values[0]}`;
        const attempt = (this.attempts.get(key) ?? 0) + 1;
        this.attempts.set(key, attempt);
        const injected = this.inject(b, attempt);
        if (injected === "disconnect") return "disconnect" as const;
        if (injected !== null) return { index: p.index, errorCode: injected, baseOffset: -1n };
        return { index: p.index, ...this.append(b) };
      }),
    }));
    this.requests.push(seen);
    if (responses.some((t) => t.partitionResponses.includes("disconnect" as never))) return "disconnect";
    const res = { responses, throttleTimeMs: 0, nodeEndpoints: [] } as unknown as ProduceResponse;
    if (!this.hold) return Promise.resolve(res);
    return new Promise((resolve) => this.held.push(() => resolve(res)));
  }

  private append(b: SeenBatch): { errorCode: number; baseOffset: bigint } {
    let log = this.logs.get(b.partition);
    if (log === undefined) this.logs.set(b.partition, (log = []));
    const dup = log.find((e) => e.seq === b.sequence && b.epoch === this.epoch);
    if (dup !== undefined) return { errorCode: ErrorCode.NONE, baseOffset: dup.offset };
    const last = log[log.length - 1];
    const expected = last === undefined || last.seq < 0 ? 0 : last.seq + last.values.length;
    const epochStart = b.epoch !== (log as { epoch?: number } & typeof log).epoch;
    if (!(epochStart ? b.sequence === 0 : b.sequence === expected)) {
      return { errorCode: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, baseOffset: -1n };
    }
    (log as { epoch?: number } & typeof log).epoch = b.epoch;
    const offset = log.reduce((n, e) => n + BigInt(e.values.length), 0n);
    log.push({ seq: b.sequence, offset, values: b.values });
    return { errorCode: ErrorCode.NONE, baseOffset: offset };
  }

  values(partition: number): string[] {
    return (this.logs.get(partition) ?? []).flatMap((e) => e.values);
  }

  cluster(): Cluster {
    const md: ClusterMetadata = {
      clusterId: "c",
      controllerId: 0,
      brokers: new Map([[0, { nodeId: 0, host: "fake", port: 1, rack: null }]]),
      topics: new Map([
        [
          "t",
          {
            name: "t",
            topicId: "",
            isInternal: false,
            errorCode: 0,
            partitions: [0, 1].map((partition) => ({
              partition,
              leader: 0,
              leaderEpoch: 0,
              replicas: [0],
              isr: [0],
              errorCode: 0,
            })),
          },
        ],
      ]),
    };
    const conn = {
      versionFor: () => 9,
      send: (api: ApiDescriptor, body: unknown) => {
        if (api === (InitProducerIdApi as ApiDescriptor)) {
          this.initCalls++;
          if (this.initCalls > 1) this.epoch++;
          return Promise.resolve({ errorCode: 0, producerId: this.producerId, producerEpoch: this.epoch });
        }
        assert.equal(api, ProduceApi as ApiDescriptor);
        const res = this.produce(body as ProduceRequest);
        return res === "disconnect" ? Promise.reject(new ConnectionError("fake", 1, "reset")) : res;
      },
    };
    return {
      refreshMetadata: async () => md,
      connectionTo: async () => conn,
      anyConnection: async () => conn,
    } as unknown as Cluster;
  }
}

function setup(cluster: Cluster) {
  const accumulator = new RecordAccumulator({
    batchBytes: 100,
    lingerMs: 0,
    maxInFlightPerPartition: 5,
    idempotent: true,
  });
  const txn = new TransactionManager(cluster, {
    transactionalId: null,
    transactionTimeoutMs: 60_000,
    requestDeadlineMs: 10_000,
    backoffMs: () => 1,
  });
  const sender = new Sender(cluster, accumulator, txn, {
    acks: -1,
    idempotent: true,
    transactionalId: null,
    compression: "none",
    requestTimeoutMs: 1000,
    deliveryTimeoutMs: 10_000,
    maxAttempts: Number.POSITIVE_INFINITY,
    backoffMs: () => 1,
    clock: Date.now,
  });
  const send = (partition: number, value: string) =>
    new Promise<RecordMetadata>((resolve, reject) => {
      // 40-byte values: one record per 100-byte batch.
      accumulator.append("t", partition, { value: Buffer.from(value.padEnd(40)) }, { resolve, reject }, Date.now());
      sender.wake();
    });
  return { sender, send };
}

const trim = (vs: string[]) => vs.map((v) => v.trim());

describe("Sender", () => {
  test("one Produce request carries the ready batch of every partition of the broker", async () => {
    const broker = new FakeBroker();
    const { send, sender } = setup(broker.cluster());
    const mds = await Promise.all([send(0, "a"), send(1, "b")]);
    assert.deepEqual(
      mds.map((m) => [m.partition, m.offset]),
      [
        [0, 0n],
        [1, 0n],
      ],
    );
    assert.equal(broker.requests.length, 1);
    assert.deepEqual(
      broker.requests[0]!.map((b) => b.partition),
      [0, 1],
    );
    sender.close();
  });

  test("a retriable error on the first of 3 in-flight batches: the rest come back OUT_OF_ORDER, all are retried in order with their sequences", async () => {
    const broker = new FakeBroker();
    broker.hold = true;
    broker.inject = (b, attempt) =>
      b.values[0]!.trim() === "v0" && attempt === 1 ? ErrorCode.NOT_LEADER_OR_FOLLOWER : null;
    const { send, sender } = setup(broker.cluster());
    const sends = ["v0", "v1", "v2"].map((v) => send(0, v));
    // Let the sender put all three in flight, then answer.
    for (let i = 0; i < 50 && broker.requests.length < 3; i++) await new Promise((r) => setTimeout(r, 2));
    assert.equal(broker.requests.length, 3, "three requests pipelined");
    broker.hold = false;
    broker.release();
    const mds = await Promise.all(sends);
    assert.deepEqual(
      mds.map((m) => m.offset),
      [0n, 1n, 2n],
    );
    assert.deepEqual(trim(broker.values(0)), ["v0", "v1", "v2"]);
    assert.deepEqual(
      broker.requests.map((r) => r.map((b) => [b.sequence, b.epoch])[0]),
      [
        [0, 0],
        [1, 0],
        [2, 0],
        [0, 0],
        [1, 0],
        [2, 0],
      ],
    );
    sender.close();
  });

  test("a broken connection after the broker wrote the batch: the retry is a duplicate and resolves with the first offset", async () => {
    const broker = new FakeBroker();
    const cluster = broker.cluster();
    // The broker appends the first attempt, but its response is lost with the connection.
    const conn = await cluster.connectionTo(0);
    const realSend = conn.send.bind(conn);
    let lost = false;
    (conn as { send: typeof conn.send }).send = (async (api: ApiDescriptor, body: unknown) => {
      const res = await realSend(api as never, body as never);
      if (api === (ProduceApi as ApiDescriptor) && !lost) {
        lost = true;
        throw new ConnectionError("fake", 1, "reset after write");
      }
      return res;
    }) as typeof conn.send;
    const { send, sender } = setup(cluster);
    const md = await send(0, "x1");
    assert.equal(md.offset, 0n);
    assert.deepEqual(trim(broker.values(0)), ["x1"], "written once");
    assert.equal(broker.requests.length, 2, "sent twice");
    sender.close();
  });

  test("UNKNOWN_PRODUCER_ID: the producer bumps its epoch and resends with sequences from 0", async () => {
    const broker = new FakeBroker();
    broker.inject = (b, attempt) =>
      b.values[0]!.trim() === "u0" && attempt === 1 ? ErrorCode.UNKNOWN_PRODUCER_ID : null;
    const { send, sender } = setup(broker.cluster());
    const md = await send(0, "u0");
    assert.equal(md.offset, 0n);
    assert.equal(broker.initCalls, 2, "InitProducerId again for the bump");
    assert.deepEqual(
      broker.requests.map((r) => [r[0]!.epoch, r[0]!.sequence]),
      [
        [0, 0],
        [1, 0],
      ],
    );
    const md2 = await send(0, "u1");
    assert.equal(md2.offset, 1n);
    assert.deepEqual(broker.requests.map((r) => [r[0]!.epoch, r[0]!.sequence]).at(-1), [1, 1]);
    sender.close();
  });

  test("NOT_LEADER_OR_FOLLOWER: the topic's metadata is refreshed and the batch goes to the new leader with its sequence", async () => {
    const oldLeader = new FakeBroker();
    const newLeader = new FakeBroker();
    oldLeader.inject = () => ErrorCode.NOT_LEADER_OR_FOLLOWER;
    const [conn0, conn1] = await Promise.all([
      oldLeader.cluster().connectionTo(0),
      newLeader.cluster().connectionTo(0),
    ]);
    let refreshes = 0;
    let leader = 0;
    const cluster = {
      refreshMetadata: async () => {
        refreshes++;
        // The move is learnt from the first refresh after the old leader refused.
        if (oldLeader.requests.length > 0) leader = 1;
        const md = await oldLeader.cluster().refreshMetadata([]);
        for (const p of md.topics.get("t")!.partitions) p.leader = leader;
        return md;
      },
      connectionTo: async (nodeId: number) => (nodeId === 0 ? conn0 : conn1),
      anyConnection: async () => conn0,
    } as unknown as Cluster;
    const { send, sender } = setup(cluster);
    const md = await send(0, "moved");
    assert.equal(md.offset, 0n);
    assert.deepEqual(trim(newLeader.values(0)), ["moved"], "written by the new leader");
    assert.deepEqual(oldLeader.values(0), [], "never by the old one");
    assert.ok(refreshes >= 2, `metadata refreshed after the error (${refreshes} refreshes)`);
    assert.deepEqual(
      [...oldLeader.requests, ...newLeader.requests].map((r) => [r[0]!.sequence, r[0]!.epoch]).at(-1),
      [0, 0],
      "the retry keeps its sequence and epoch",
    );
    sender.close();
  });

  test("a non-retriable error fails the batch's records with a KafkaError naming it", async () => {
    const broker = new FakeBroker();
    broker.inject = () => ErrorCode.RECORD_LIST_TOO_LARGE;
    const { send, sender } = setup(broker.cluster());
    await assert.rejects(
      send(0, "big"),
      (err: Error & { errorName?: string }) => err.errorName === "RECORD_LIST_TOO_LARGE",
    );
    sender.close();
  });
});
