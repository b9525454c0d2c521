/** Fetch sessions (KIP-227) through the Fetch handler, against an in-process broker. */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  defaultFetchRequest,
  defaultFetchRequestFetchPartition,
  ErrorCode,
  encodeRecordBatch,
  type FetchRequest,
} from "@samsa/protocol";
import { fetchHandler } from "./01-fetch.js";
import { startTestBroker, type TestBroker } from "./handler-test-support.js";

let b: TestBroker;

before(async () => {
  b = await startTestBroker();
});

after(async () => {
  await b?.close();
});

let topic = "";

async function useTopic(name: string): Promise<void> {
  await b.broker.context.topics.create(name, 3);
  topic = name;
}

async function produce(partition: number, value: string): Promise<void> {
  await b.broker.context.topics
    .partition(topic, partition)!
    .append(encodeRecordBatch({ records: [{ value: Buffer.from(value) }] }));
}

function fetch(
  sessionId: number,
  sessionEpoch: number,
  partitions: [number, bigint][],
  forgotten: number[] = [],
): FetchRequest {
  const topicId = b.broker.context.topics.get(topic)!.topicId;
  return {
    ...defaultFetchRequest(),
    maxWaitMs: 0,
    minBytes: 0,
    maxBytes: 1 << 20,
    sessionId,
    sessionEpoch,
    topics:
      partitions.length === 0
        ? []
        : [
            {
              topic,
              topicId,
              partitions: partitions.map(([partition, fetchOffset]) => ({
                ...defaultFetchRequestFetchPartition(),
                partition,
                fetchOffset,
                partitionMaxBytes: 1 << 20,
              })),
            },
          ],
    forgottenTopicsData: forgotten.length === 0 ? [] : [{ topic, topicId, partitions: forgotten }],
  };
}

/** The partitions a response carries, as "index:records?" */
function carried(response: Awaited<ReturnType<typeof b.call<FetchRequest, never>>>): string[] {
  const r = response as unknown as {
    responses: { partitions: { partitionIndex: number; records: Buffer | null }[] }[];
  };
  return r.responses.flatMap((t) =>
    t.partitions.map((p) => `${p.partitionIndex}:${(p.records?.length ?? 0) > 0 ? "data" : "empty"}`),
  );
}

for (const version of [12, 13]) {
  test(`v${version}: a session carries only what changed, and forgets what it is told to`, async () => {
    await useTopic(`s${version}`);
    await produce(0, `first-${version}`);
    const full = (await b.call(
      fetchHandler,
      version,
      fetch(0, 0, [
        [0, 0n],
        [1, 0n],
        [2, 0n],
      ]),
    )) as {
      sessionId: number;
      errorCode: number;
    };
    assert.equal(full.errorCode, ErrorCode.NONE);
    assert.ok(full.sessionId > 0, "epoch 0 created a session");
    assert.deepEqual(carried(full as never), ["0:data", "1:empty", "2:empty"]);
    const id = full.sessionId;
    const hw0 = b.broker.context.topics.partition(topic, 0)!.highWatermark;

    // Nothing new: an incremental fetch that names the moved position of partition 0 carries nothing.
    const quiet = await b.call(fetchHandler, version, fetch(id, 1, [[0, hw0]]));
    assert.deepEqual(carried(quiet as never), []);
    assert.equal((quiet as { sessionId: number }).sessionId, id);

    // An append to partition 2 (not named in the request) shows up with its data.
    await produce(2, "second");
    const changed = await b.call(fetchHandler, version, fetch(id, 2, []));
    assert.deepEqual(carried(changed as never), ["2:data"]);

    // The client moves on past it, then forgets partition 1; an append there is not reported.
    await produce(1, "third");
    const forgot = await b.call(fetchHandler, version, fetch(id, 3, [[2, 1n]], [1]));
    assert.deepEqual(carried(forgot as never), []);
    const session = b.broker.context.fetchSessions.get(id)!;
    assert.equal(session.partitions.size, 2);

    // Wrong epoch, unknown id.
    const stale = (await b.call(fetchHandler, version, fetch(id, 3, []))) as { errorCode: number };
    assert.equal(stale.errorCode, ErrorCode.INVALID_FETCH_SESSION_EPOCH);
    const unknown = (await b.call(fetchHandler, version, fetch(id + 1, 1, []))) as { errorCode: number };
    assert.equal(unknown.errorCode, ErrorCode.FETCH_SESSION_ID_NOT_FOUND);

    // FINAL closes it: a full answer without a session, and the id is gone.
    const final = (await b.call(fetchHandler, version, fetch(id, -1, [[0, 0n]]))) as { sessionId: number };
    assert.equal(final.sessionId, 0);
    assert.deepEqual(carried(final as never), ["0:data"]);
    assert.equal(b.broker.context.fetchSessions.get(id), undefined);
  });
}

test("an incremental fetch long-polls on every partition of its session", async () => {
  await useTopic("poll");
  const full = (await b.call(
    fetchHandler,
    12,
    fetch(0, 0, [
      [0, 0n],
      [1, 0n],
    ]),
  )) as { sessionId: number };
  const hw = (p: number) => b.broker.context.topics.partition(topic, p)!.highWatermark;
  const request = { ...fetch(full.sessionId, 1, [[0, hw(0)]]), maxWaitMs: 5000, minBytes: 1 };
  const pending = b.call(fetchHandler, 12, request);
  const wake = new Promise((resolve) => setTimeout(() => resolve(produce(1, "wake")), 20));
  const started = Date.now();
  const response = await pending;
  await wake;
  assert.ok(Date.now() - started < 4000, "woken by the append, not the deadline");
  assert.deepEqual(carried(response as never), ["1:data"]);
});

test("Fetch below v7 never opens a session", async () => {
  const before = b.broker.context.fetchSessions.size;
  const response = (await b.call(fetchHandler, 6, fetch(0, 0, [[0, 0n]]))) as { sessionId: number };
  assert.equal(response.sessionId, 0);
  assert.equal(b.broker.context.fetchSessions.size, before);
});
