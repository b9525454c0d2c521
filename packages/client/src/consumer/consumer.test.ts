/**
 * The consumer's fetch pipeline against a scripted broker: the next Fetch of a partition goes out
 * as soon as its data arrives (at most MAX_BUFFERED_FETCHES responses wait per partition), and data
 * that comes back after a seek, pause or reassignment is dropped (or held) as Kafka's Fetcher does;
 * commits cover only what was handed out.
 * Fetches are answered by the test, so "in flight" is exact, and every wait is on a condition.
 */
import assert from "node:assert/strict";
import { afterEach, describe, test } from "node:test";
import {
  ApiVersionsApi,
  ErrorCode,
  encodeRecordBatch,
  FetchApi,
  type FetchRequest,
  FindCoordinatorApi,
  MetadataApi,
  type MetadataRequest,
  OffsetCommitApi,
  type OffsetCommitRequest,
} from "@samsa/protocol";
import { type Answer, advertise, type FakeBroker, startFakeBroker } from "../testing/fake-broker.js";
import { Consumer } from "./consumer.js";
import type { ConsumerBatch, ConsumerOptions } from "./types.js";

const TOPIC = "t";

interface HeldFetch {
  request: FetchRequest;
  /** Records per partition; the high watermark is where they end (caught up) unless given. */
  answer(records: Record<number, [first: number, count: number, highWatermark?: number]>): void;
}

interface Harness {
  fake: FakeBroker;
  /** Fetches received and not yet answered, in arrival order. */
  fetches: HeldFetch[];
  commits: OffsetCommitRequest[];
  consumer: Consumer;
  /** Resolves with the next Fetch to arrive (or one already waiting). */
  nextFetch(): Promise<HeldFetch>;
}

const harnesses: Harness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) {
    // Answer what is still held so close() need not wait out a fetch.
    for (const f of h.fetches.splice(0)) f.answer({});
    await h.consumer.close();
    await h.fake.close();
  }
});

function batch(first: number, count: number): Buffer {
  return encodeRecordBatch({
    baseOffset: BigInt(first),
    baseTimestamp: 1_700_000_000_000n,
    records: Array.from({ length: count }, (_, i) => ({ value: Buffer.from(`v${first + i}`) })),
  });
}

function hw(fetchOffset: bigint, r: [number, number, number?] | undefined): bigint {
  if (r === undefined) return fetchOffset;
  return BigInt(r[2] ?? r[0] + r[1]);
}

async function harness(partitions: number, options: ConsumerOptions = {}): Promise<Harness> {
  const fetches: HeldFetch[] = [];
  const commits: OffsetCommitRequest[] = [];
  const waiters: ((f: HeldFetch) => void)[] = [];
  const fake: FakeBroker = await startFakeBroker(
    (header, body): Answer | Promise<Answer> => {
      if (header.apiKey === MetadataApi.apiKey) {
        const req = body as MetadataRequest;
        return {
          body: {
            brokers: [{ nodeId: 1, host: "127.0.0.1", port: fake.port, rack: null }],
            clusterId: "fake",
            controllerId: 1,
            topics: (req.topics ?? [{ name: TOPIC }]).map((t) => ({
              name: t.name,
              errorCode: 0,
              partitions: Array.from({ length: partitions }, (_, p) => ({
                partitionIndex: p,
                leaderId: 1,
                leaderEpoch: 0,
                replicaNodes: [1],
                isrNodes: [1],
                errorCode: 0,
              })),
            })),
          },
        };
      }
      if (header.apiKey === FindCoordinatorApi.apiKey) {
        return { body: { errorCode: 0, nodeId: 1, host: "127.0.0.1", port: fake.port, errorMessage: null } };
      }
      if (header.apiKey === OffsetCommitApi.apiKey) {
        const req = body as OffsetCommitRequest;
        commits.push(req);
        return {
          body: {
            topics: req.topics.map((t) => ({
              name: t.name,
              partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: 0 })),
            })),
          },
        };
      }
      if (header.apiKey === FetchApi.apiKey) {
        const request = body as FetchRequest;
        return new Promise<Answer>((resolve) => {
          const held: HeldFetch = {
            request,
            answer: (records) =>
              resolve({
                body: {
                  errorCode: 0,
                  sessionId: 0,
                  responses: request.topics.map((t) => ({
                    topic: t.topic,
                    partitions: t.partitions.map((p) => {
                      const r = records[p.partition];
                      return {
                        partitionIndex: p.partition,
                        errorCode: ErrorCode.NONE,
                        highWatermark: hw(p.fetchOffset, r),
                        lastStableOffset: hw(p.fetchOffset, r),
                        logStartOffset: 0n,
                        abortedTransactions: [],
                        preferredReadReplica: -1,
                        records: r === undefined ? Buffer.alloc(0) : batch(r[0], r[1]),
                      };
                    }),
                  })),
                },
              }),
          };
          const waiter = waiters.shift();
          if (waiter !== undefined) waiter(held);
          else fetches.push(held);
        });
      }
      return null;
    },
    advertise([
      { apiKey: MetadataApi.apiKey, minVersion: 0, maxVersion: 9 },
      { apiKey: FetchApi.apiKey, minVersion: 4, maxVersion: 11 },
      { apiKey: FindCoordinatorApi.apiKey, minVersion: 0, maxVersion: 3 },
      { apiKey: OffsetCommitApi.apiKey, minVersion: 0, maxVersion: 8 },
      { apiKey: ApiVersionsApi.apiKey, minVersion: 0, maxVersion: 3 },
    ]),
  );
  const consumer = new Consumer({
    brokers: [`127.0.0.1:${fake.port}`],
    maxWaitMs: 100,
    autoCommit: false,
    ...options,
  });
  const h: Harness = {
    fake,
    fetches,
    commits,
    consumer,
    nextFetch: () => {
      const ready = fetches.shift();
      if (ready !== undefined) return Promise.resolve(ready);
      return new Promise((resolve) => waiters.push(resolve));
    },
  };
  harnesses.push(h);
  await consumer.connect();
  return h;
}

/** What each Fetch asked for: partition → fetch offset. */
function asked(f: HeldFetch): Map<number, bigint> {
  return new Map(f.request.topics.flatMap((t) => t.partitions.map((p) => [p.partition, p.fetchOffset] as const)));
}

function offsets(b: ConsumerBatch): number[] {
  return b.records.map((r) => Number(r.offset));
}

/**
 * Two partitions assigned from offset 0, a first Fetch answered with offsets 0-1 of each, and
 * partition 0's batch handed out.
 */
async function twoPartitionsFirstHandedOut() {
  const h = await harness(2);
  const p0 = { topic: TOPIC, partition: 0 };
  const p1 = { topic: TOPIC, partition: 1 };
  h.consumer.assign([p0, p1]);
  h.consumer.seek(p0, 0n);
  h.consumer.seek(p1, 0n);
  const it = h.consumer[Symbol.asyncIterator]();
  const first = it.next();
  (await h.nextFetch()).answer({ 0: [0, 2], 1: [0, 2] });
  const b1 = (await first).value as ConsumerBatch;
  assert.deepEqual([b1.partition, ...offsets(b1)], [0, 0, 1]);
  return { h, p0, it };
}

describe("Consumer fetch pipeline", () => {
  test("the next Fetch of a partition goes out while the application holds its data", async () => {
    const h = await harness(1);
    h.consumer.assign([{ topic: TOPIC, partition: 0 }]);
    h.consumer.seek({ topic: TOPIC, partition: 0 }, 0n);
    const it = h.consumer[Symbol.asyncIterator]();
    const first = it.next();
    const f1 = await h.nextFetch();
    assert.deepEqual(asked(f1), new Map([[0, 0n]]));
    f1.answer({ 0: [0, 3] });
    const b1 = await first;
    assert.deepEqual(offsets(b1.value as ConsumerBatch), [0, 1, 2]);
    // The application has not asked for more, yet the Fetch for offset 3 is out.
    const f2 = await h.nextFetch();
    assert.deepEqual(asked(f2), new Map([[0, 3n]]));
    f2.answer({ 0: [3, 2] });
    assert.deepEqual(offsets((await it.next()).value as ConsumerBatch), [3, 4]);
    await it.return?.();
  });

  test("regression: partitions handed out while their leader is busy go in its next Fetch (none starves)", async () => {
    // Found in bench/client: each handed-out partition raced the others for the leader, and the
    // one with fewest leader lookups always won, so only partition 0 was ever fetched again.
    const h = await harness(4);
    const all = [0, 1, 2, 3].map((partition) => ({ topic: TOPIC, partition }));
    h.consumer.assign(all);
    for (const tp of all) h.consumer.seek(tp, 0n);
    const it = h.consumer[Symbol.asyncIterator]();
    const first = it.next();
    (await h.nextFetch()).answer({ 0: [0, 1], 1: [0, 1], 2: [0, 1], 3: [0, 1] });
    await first;
    const f2 = await h.nextFetch();
    assert.deepEqual(
      asked(f2),
      new Map([
        [0, 1n],
        [1, 1n],
        [2, 1n],
        [3, 1n],
      ]),
      "every partition goes in the next Fetch, not only the one handed out",
    );
    for (let i = 0; i < 3; i++) await it.next(); // 1, 2 and 3 handed out while f2 is out
    const next = it.next();
    f2.answer({ 0: [1, 1], 1: [1, 1], 2: [1, 1], 3: [1, 1] });
    const f3 = await h.nextFetch();
    assert.deepEqual([...asked(f3).keys()].sort(), [0, 1, 2, 3], "no partition is left out of the leader's next Fetch");
    const b = (await next).value as ConsumerBatch;
    assert.deepEqual([b.partition, ...offsets(b)], [0, 1]);
    await it.return?.();
  });

  test("a partition is fetched again while a response waits, but not while two do", async () => {
    const { h, it } = await twoPartitionsFirstHandedOut();
    const f2 = await h.nextFetch();
    assert.deepEqual(
      asked(f2),
      new Map([
        [0, 2n],
        [1, 2n],
      ]),
      "p1 is fetched again while its first response waits",
    );
    f2.answer({ 0: [2, 2], 1: [2, 2] });
    const f3 = await h.nextFetch();
    assert.deepEqual(asked(f3), new Map([[0, 4n]]), "p1 has two responses waiting: it is not fetched");
    const b2 = (await it.next()).value as ConsumerBatch;
    assert.deepEqual([b2.partition, ...offsets(b2)], [1, 0, 1]);
    f3.answer({ 0: [4, 2] });
    const f4 = await h.nextFetch();
    assert.deepEqual(asked(f4), new Map([[1, 4n]]), "p1 once one of its responses was handed out; p0 now has two");
    const order: number[][] = [];
    for (let i = 0; i < 3; i++) {
      const b = (await it.next()).value as ConsumerBatch;
      order.push([b.partition, ...offsets(b)]);
    }
    assert.deepEqual(order, [
      [0, 2, 3],
      [1, 2, 3],
      [0, 4, 5],
    ]);
    await it.return?.();
  });

  test("partitions that are behind go in two Fetches at once; caught-up ones never wait behind a Fetch", async () => {
    const h = await harness(4);
    const all = [0, 1, 2, 3].map((partition) => ({ topic: TOPIC, partition }));
    h.consumer.assign(all);
    for (const tp of all) h.consumer.seek(tp, 0n);
    const it = h.consumer[Symbol.asyncIterator]();
    const first = it.next();
    const f1 = await h.nextFetch();
    assert.equal(asked(f1).size, 4, "nothing is known to be behind yet: one Fetch");
    f1.answer({ 0: [0, 1, 10], 1: [0, 1, 10], 2: [0, 1, 10], 3: [0, 1, 10] });
    await first;
    for (let i = 0; i < 3; i++) await it.next(); // f1's data handed out
    // The fake broker answers a connection's requests in order, as Kafka does: fB was sent before
    // fA was answered (with one Fetch in flight fA would hold all four partitions).
    const fA = await h.nextFetch();
    assert.deepEqual(
      asked(fA),
      new Map([
        [0, 1n],
        [1, 1n],
      ]),
      "all four behind: two Fetches in flight, two partitions each",
    );
    fA.answer({ 0: [1, 1], 1: [1, 1] }); // p0 and p1 caught up
    const fB = await h.nextFetch();
    assert.deepEqual(
      asked(fB),
      new Map([
        [2, 1n],
        [3, 1n],
      ]),
    );
    fB.answer({ 2: [1, 1, 10], 3: [1, 1, 10] });
    const fC = await h.nextFetch();
    assert.deepEqual(
      asked(fC),
      new Map([
        [0, 2n],
        [1, 2n],
        [2, 2n],
        [3, 2n],
      ]),
      "caught-up p0 and p1 waited for fB, then went with p2 and p3 in one Fetch",
    );
    await it.return?.();
  });

  test("a seek while a Fetch is in flight drops what it brings back", async () => {
    const h = await harness(1);
    h.consumer.assign([{ topic: TOPIC, partition: 0 }]);
    h.consumer.seek({ topic: TOPIC, partition: 0 }, 0n);
    const it = h.consumer[Symbol.asyncIterator]();
    const first = it.next();
    (await h.nextFetch()).answer({ 0: [0, 3] });
    await first;
    const inFlight = await h.nextFetch();
    h.consumer.seek({ topic: TOPIC, partition: 0 }, 100n);
    const second = it.next();
    inFlight.answer({ 0: [3, 3] }); // stale: the position moved to 100 meanwhile
    const after = await h.nextFetch();
    assert.deepEqual(asked(after), new Map([[0, 100n]]));
    after.answer({ 0: [100, 2] });
    assert.deepEqual(offsets((await second).value as ConsumerBatch), [100, 101]);
    await it.return?.();
  });

  test("seekToBeginning (a reset) while a Fetch is in flight drops it too", async () => {
    const h = await harness(1);
    h.consumer.assign([{ topic: TOPIC, partition: 0 }]);
    h.consumer.seek({ topic: TOPIC, partition: 0 }, 10n);
    const it = h.consumer[Symbol.asyncIterator]();
    const first = it.next();
    (await h.nextFetch()).answer({ 0: [10, 2] });
    assert.deepEqual(offsets((await first).value as ConsumerBatch), [10, 11]);
    const inFlight = await h.nextFetch();
    // A reset needs a ListOffsets, which this broker does not answer; a seek settles it first.
    h.consumer.seekToBeginning([{ topic: TOPIC, partition: 0 }]);
    inFlight.answer({ 0: [12, 3] });
    h.consumer.seek({ topic: TOPIC, partition: 0 }, 50n);
    const second = it.next();
    const after = await h.nextFetch();
    assert.deepEqual(asked(after), new Map([[0, 50n]]));
    after.answer({ 0: [50, 1] });
    assert.deepEqual(offsets((await second).value as ConsumerBatch), [50]);
    await it.return?.();
  });

  test("data that arrives for a paused partition is held, not handed out, until resume", async () => {
    const { h, p0, it } = await twoPartitionsFirstHandedOut();
    const inFlight = await h.nextFetch(); // both partitions' next, sent as the first response arrived
    assert.deepEqual(
      asked(inFlight),
      new Map([
        [0, 2n],
        [1, 2n],
      ]),
    );
    h.consumer.pause([p0]);
    inFlight.answer({ 0: [2, 2] });
    const b2 = (await it.next()).value as ConsumerBatch;
    assert.deepEqual([b2.partition, ...offsets(b2)], [1, 0, 1]);
    const f3 = await h.nextFetch();
    assert.deepEqual(asked(f3), new Map([[1, 2n]]), "a paused partition is not fetched");
    const third = it.next();
    f3.answer({ 1: [2, 1] });
    const b3 = (await third).value as ConsumerBatch;
    assert.deepEqual([b3.partition, ...offsets(b3)], [1, 2], "p0's data waits while it is paused");
    h.consumer.resume([p0]);
    const b4 = (await it.next()).value as ConsumerBatch;
    assert.deepEqual([b4.partition, ...offsets(b4)], [0, 2, 3], "fetched before the pause, handed out after resume");
    await it.return?.();
  });

  test("reassignment while a Fetch is in flight: the partition given up delivers nothing more", async () => {
    const h = await harness(2);
    const p0 = { topic: TOPIC, partition: 0 };
    const p1 = { topic: TOPIC, partition: 1 };
    h.consumer.assign([p0]);
    h.consumer.seek(p0, 0n);
    const it = h.consumer[Symbol.asyncIterator]();
    const first = it.next();
    (await h.nextFetch()).answer({ 0: [0, 2] });
    await first;
    const inFlight = await h.nextFetch();
    h.consumer.assign([p1]);
    h.consumer.seek(p1, 7n);
    const second = it.next();
    inFlight.answer({ 0: [2, 5] });
    const after = await h.nextFetch();
    assert.deepEqual(asked(after), new Map([[1, 7n]]));
    after.answer({ 1: [7, 1] });
    const b = (await second).value as ConsumerBatch;
    assert.equal(b.partition, 1);
    assert.deepEqual(offsets(b), [7]);
    await it.return?.();
  });

  test("a commit covers what was handed out, not what was prefetched", async () => {
    const h = await harness(1, { groupId: "g" });
    const p0 = { topic: TOPIC, partition: 0 };
    h.consumer.assign([p0]);
    h.consumer.seek(p0, 0n);
    const it = h.consumer[Symbol.asyncIterator]();
    const first = it.next();
    (await h.nextFetch()).answer({ 0: [0, 3] });
    await first;
    // The prefetch of 3..5 comes back while the application still holds 0..2.
    (await h.nextFetch()).answer({ 0: [3, 3] });
    await h.consumer.commit([{ topic: TOPIC, partition: 0, offset: 0n }]); // a round trip: the prefetch is in by now
    await h.consumer.commit();
    assert.equal(h.commits.length, 1, "nothing handed out beyond the seek position: nothing new to commit");
    const second = await it.next(); // 0..2 are done now
    assert.deepEqual(offsets(second.value as ConsumerBatch), [3, 4, 5]);
    (await h.nextFetch()).answer({ 0: [6, 3] }); // prefetched while 3..5 are held
    await h.consumer.commit();
    const committed = h.commits.at(-1)!.topics[0]!.partitions[0]!.committedOffset;
    assert.equal(committed, 3n, "3..5 are still being processed and 6..8 were only prefetched");
    await it.next();
    await h.consumer.commit();
    assert.equal(h.commits.at(-1)!.topics[0]!.partitions[0]!.committedOffset, 6n);
    await it.return?.();
  });
});
