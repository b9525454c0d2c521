/**
 * The Producer's send path against a fake cluster (no sockets) whose metadata answers are held,
 * answered out of order or failed: records reach the broker in call order on every partition
 * (first use of a topic, a load that is retried or fails, a stale count being reloaded, explicit
 * partitions, keys and null keys), and flush/close wait for sends still waiting for metadata.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  type ApiDescriptor,
  decodeRecordBatch,
  ErrorCode,
  KafkaError,
  ProduceApi,
  type ProduceRequest,
} from "@samsa/protocol";
import { type Cluster, type ClusterMetadata, METADATA_MAX_AGE_MS } from "../cluster/cluster.js";
import { Producer } from "./producer.js";
import type { ProducerRecord, RecordMetadata } from "./types.js";

interface HeldMetadata {
  /** Answers with the topic's current partitions, or with `errorCode` for the topic. */
  answer(errorCode?: number): void;
}

/**
 * A one-broker cluster patched onto a real Producer's Cluster. Every `metadata` call is held
 * until the test answers it (`held`), unless `autoAnswer` says what to answer right away.
 */
class FakeCluster {
  readonly logs = new Map<number, string[]>();
  readonly held: HeldMetadata[] = [];
  metadataCalls = 0;
  partitions = 2;
  autoAnswer: ((call: number) => number) | null = null;
  /** Error code the broker answers for a partition's produce (none: it writes the batch). */
  readonly produceErrors = new Map<number, number>();

  metadataFor(errorCode: number): ClusterMetadata {
    return {
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
            errorCode,
            partitions:
              errorCode !== ErrorCode.NONE
                ? []
                : Array.from({ length: this.partitions }, (_, partition) => ({
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
    } as unknown as ClusterMetadata;
  }

  /** Answers the held calls, last first. */
  answerInReverse(errorCode: number = ErrorCode.NONE): void {
    for (const h of this.held.splice(0).reverse()) h.answer(errorCode);
  }

  install(producer: Producer): void {
    const cluster = (producer as unknown as { cluster: Cluster }).cluster;
    const conn = {
      versionFor: () => 9,
      send: (api: ApiDescriptor, body: unknown) => {
        assert.equal(api, ProduceApi as ApiDescriptor);
        const req = body as ProduceRequest;
        return Promise.resolve({
          throttleTimeMs: 0,
          responses: req.topicData.map((t) => ({
            name: t.name,
            partitionResponses: t.partitionData.map((p) => {
              const errorCode = this.produceErrors.get(p.index);
              if (errorCode !== undefined)
                return { index: p.index, errorCode, baseOffset: -1n, logAppendTimeMs: -1n, errorMessage: null };
              let log = this.logs.get(p.index);
              if (log === undefined) this.logs.set(p.index, (log = []));
              const baseOffset = BigInt(log.length);
              for (const r of decodeRecordBatch(p.records!).records) log.push(r.value!.toString());
              return { index: p.index, errorCode: 0, baseOffset, logAppendTimeMs: -1n, errorMessage: null };
            }),
          })),
        });
      },
    };
    Object.assign(cluster, {
      connect: async () => {},
      close: async () => {},
      connectionTo: async () => conn,
      anyConnection: async () => conn,
      refreshMetadata: async () => this.metadataFor(ErrorCode.NONE),
      metadata: () => {
        const call = ++this.metadataCalls;
        if (this.autoAnswer !== null) return Promise.resolve(this.metadataFor(this.autoAnswer(call)));
        return new Promise<ClusterMetadata>((resolve) => {
          this.held.push({ answer: (code = ErrorCode.NONE) => resolve(this.metadataFor(code)) });
        });
      },
    });
  }
}

function newProducer(): { producer: Producer; fake: FakeCluster } {
  const producer = new Producer({
    brokers: ["fake:1"],
    acks: 1,
    lingerMs: 0,
    retry: { initialBackoffMs: 1, maxBackoffMs: 2 },
  });
  const fake = new FakeCluster();
  fake.install(producer);
  return { producer, fake };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

/** Fails instead of hanging when `p` does not settle. */
function within<T>(p: Promise<T>, what: string, ms = 2_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The calls' records, flattened in call order, must sit on their partitions in that order: offsets
 * increase per partition, and the broker's log of each partition is exactly that subsequence.
 */
function assertCallOrder(fake: FakeCluster, calls: { records: ProducerRecord[]; mds: RecordMetadata[] }[]): void {
  const expected = new Map<number, string[]>();
  const lastOffset = new Map<number, bigint>();
  for (const { records, mds } of calls) {
    records.forEach((r, i) => {
      const md = mds[i]!;
      const prev = lastOffset.get(md.partition) ?? -1n;
      assert.ok(md.offset > prev, `${String(r.value)} at ${md.partition}@${md.offset} after offset ${prev}`);
      lastOffset.set(md.partition, md.offset);
      const list = expected.get(md.partition) ?? [];
      list.push(String(r.value));
      expected.set(md.partition, list);
    });
  }
  for (const [partition, values] of expected)
    assert.deepEqual(fake.logs.get(partition), values, `partition ${partition}`);
}

/** Issues every call at once, not awaited in between: sendBatch for several records, send for one. */
function sendAll(producer: Producer, calls: ProducerRecord[][]): Promise<RecordMetadata[]>[] {
  return calls.map((records) =>
    records.length === 1 ? producer.send("t", records[0]!).then((md) => [md]) : producer.sendBatch("t", records),
  );
}

const MIXED: ProducerRecord[][] = [
  [{ value: "a1" }, { value: "a2", key: "k" }],
  [{ value: "b", partition: 0 }],
  [{ value: "c" }],
  [{ value: "d", partition: 1 }, { value: "e", key: "k" }, { value: "f" }],
  [{ value: "g", key: "k" }],
  [{ value: "h", partition: 0 }],
];

describe("Producer send order", () => {
  test("first use of a topic: metadata answered out of order, sends and sendBatches still append in call order", async () => {
    const { producer, fake } = newProducer();
    const pending = sendAll(producer, MIXED);
    await tick();
    fake.answerInReverse();
    const mds = await within(Promise.all(pending), "the sends");
    assertCallOrder(
      fake,
      MIXED.map((records, i) => ({ records, mds: mds[i]! })),
    );
    await producer.close();
  });

  test("a load retried after LEADER_NOT_AVAILABLE keeps the sends behind it, even those made during its backoff", async () => {
    const { producer, fake } = newProducer();
    fake.autoAnswer = (call) => (call === 1 ? ErrorCode.LEADER_NOT_AVAILABLE : ErrorCode.NONE);
    const first = sendAll(producer, MIXED.slice(0, 3));
    await tick();
    const later = sendAll(producer, MIXED.slice(3));
    const mds = await within(Promise.all([...first, ...later]), "the sends");
    assertCallOrder(
      fake,
      MIXED.map((records, i) => ({ records, mds: mds[i]! })),
    );
    await producer.close();
  });

  test("a stale partition count is reloaded without holding sends back, and sends stay in call order", async () => {
    const { producer, fake } = newProducer();
    fake.autoAnswer = () => ErrorCode.NONE;
    const warm = await producer.send("t", { value: "warm", partition: 0 });
    assert.equal(warm.offset, 0n);
    const counts = (producer as unknown as { partitionCounts: Map<string, { count: number; atMs: number }> })
      .partitionCounts;
    counts.get("t")!.atMs -= METADATA_MAX_AGE_MS + 1;
    fake.autoAnswer = null;
    fake.partitions = 3;
    const pending = sendAll(producer, MIXED);
    await tick();
    fake.answerInReverse();
    const mds = await within(Promise.all(pending), "the sends");
    assertCallOrder(fake, [
      { records: [{ value: "warm", partition: 0 }], mds: [warm] },
      ...MIXED.map((records, i) => ({ records, mds: mds[i]! })),
    ]);
    assert.equal(counts.get("t")!.count, 3, "the reload learnt the new partition count");
    await producer.close();
  });

  test("a failed load fails the sends waiting for it and no later one; the next send loads again", async () => {
    const { producer, fake } = newProducer();
    const waiting = sendAll(producer, MIXED.slice(0, 2)).map((p) =>
      p.then(
        () => "sent",
        (err: unknown) => err,
      ),
    );
    await tick();
    fake.answerInReverse(ErrorCode.TOPIC_AUTHORIZATION_FAILED);
    for (const outcome of await within(Promise.all(waiting), "the failed sends")) {
      assert.ok(outcome instanceof KafkaError, String(outcome));
      assert.equal(outcome.code, ErrorCode.TOPIC_AUTHORIZATION_FAILED);
    }
    fake.autoAnswer = () => ErrorCode.NONE;
    const mds = await within(Promise.all(sendAll(producer, MIXED.slice(2))), "the later sends");
    assertCallOrder(
      fake,
      MIXED.slice(2).map((records, i) => ({ records, mds: mds[i]! })),
    );
    await producer.close();
  });

  test("flush and close wait for sends still waiting for metadata, which are then delivered", async () => {
    const { producer, fake } = newProducer();
    const sent = producer.send("t", { value: "x", partition: 0 });
    await tick();
    let flushed = false;
    const flush = producer.flush().then(() => {
      flushed = true;
    });
    await tick();
    assert.equal(flushed, false, "flush returned before the send it should wait for was appended");
    fake.answerInReverse();
    await within(flush, "flush");
    assert.equal((await sent).offset, 0n);

    const sent2 = producer.send("t", { value: "y", partition: 0 });
    let closed = false;
    const close = producer.close().then(() => {
      closed = true;
    });
    const md2 = await within(sent2, "the send made before close");
    await within(close, "close");
    assert.equal(closed, true);
    assert.equal(md2.offset, 1n);
  });

  test("a call whose records fail on one partition rejects once; flush then finds nothing left pending", async () => {
    const { producer, fake } = newProducer();
    fake.autoAnswer = () => ErrorCode.NONE;
    fake.produceErrors.set(0, ErrorCode.RECORD_LIST_TOO_LARGE);
    const sent = producer.sendBatch("t", [
      { value: "x", partition: 0 },
      { value: "y", partition: 1 },
      { value: "z", partition: 0 },
    ]);
    await assert.rejects(sent, (err: Error & { errorName?: string }) => err.errorName === "RECORD_LIST_TOO_LARGE");
    await within(producer.flush(), "flush");
    assert.equal((producer as unknown as { pending: Set<unknown> }).pending.size, 0);
    assert.deepEqual(fake.logs.get(1), ["y"]);
    fake.produceErrors.clear();
    const mds = await within(producer.sendBatch("t", [{ value: "w", partition: 0 }]), "the next send");
    assert.equal(mds[0]!.offset, 0n);
    assert.deepEqual(await producer.sendBatch("t", []), []);
    await within(producer.close(), "close");
  });

  test("close waits for a send made on a topic whose metadata is still loading", async () => {
    const { producer, fake } = newProducer();
    // Explicit partitions: a null key would go to a randomly chosen sticky partition.
    const sent = producer.sendBatch("t", [
      { value: "x", partition: 0 },
      { value: "y", partition: 1 },
    ]);
    await tick();
    let closed = false;
    const close = producer.close().then(() => {
      closed = true;
    });
    await tick();
    assert.equal(closed, false, "close returned before the send waiting for metadata was delivered");
    fake.answerInReverse();
    const mds = await within(sent, "the send made before close");
    assert.deepEqual(
      mds.map((m) => m.offset),
      [0n, 0n],
    );
    await within(close, "close");
    await assert.rejects(producer.send("t", { value: "z" }), /closed/);
  });
});
