import assert from "node:assert/strict";
import { test } from "node:test";
import { ErrorCode } from "@samsa/protocol";
import { seededRandom } from "@samsa/protocol/testing";
import { type CachedPartition, FETCH_SESSION_EVICTION_MS, FetchSessionCache, nextEpoch } from "./fetch-session.js";

const SEED = 227;

function part(topic: string, partition: number, fetchOffset = 0n): CachedPartition {
  return {
    topic,
    topicId: "",
    partition,
    fetchOffset,
    partitionMaxBytes: 1 << 20,
    currentLeaderEpoch: -1,
    highWatermark: -1n,
    logStartOffset: -1n,
  };
}

const req = (sessionId: number, sessionEpoch: number) => ({ sessionId, sessionEpoch, usesTopicIds: false });

test("epoch 0 asks for a session, -1 for none; a full request closes the session it names", (t) => {
  t.diagnostic(`seed ${SEED}`);
  const cache = new FetchSessionCache({ random: seededRandom(SEED) });
  assert.equal(cache.newContext(req(0, -1), [], [], 0).kind, "sessionless");
  assert.equal(cache.newContext(req(0, 0), [], [], 0).kind, "full");
  const id = cache.maybeCreateSession(0, false, false, [part("a", 0)]);
  assert.ok(id > 0);
  assert.equal(cache.get(id)?.epoch, 1);
  assert.equal(cache.newContext(req(id, -1), [], [], 1).kind, "sessionless");
  assert.equal(cache.get(id), undefined, "FINAL_EPOCH closes the session");
  const id2 = cache.maybeCreateSession(1, false, false, [part("a", 0)]);
  assert.equal(cache.newContext(req(id2, 0), [], [], 2).kind, "full");
  assert.equal(cache.get(id2), undefined, "epoch 0 with an id closes it before a new one is made");
});

test("incremental requests: the right epoch advances it, a wrong one or an unknown id is an error", () => {
  const cache = new FetchSessionCache({ random: seededRandom(SEED) });
  const id = cache.maybeCreateSession(0, false, false, [part("a", 0), part("a", 1)]);
  const ctx = cache.newContext(
    req(id, 1),
    [part("a", 1, 5n), part("b", 0)],
    [{ topic: "a", topicId: "", partition: 0 }],
    1,
  );
  assert.equal(ctx.kind, "incremental");
  const session = cache.get(id)!;
  assert.deepEqual([...session.partitions.keys()], ["a:1", "b:0"]);
  assert.equal(session.partitions.get("a:1")?.fetchOffset, 5n);
  assert.equal(session.epoch, 2);
  assert.deepEqual(cache.newContext(req(id, 1), [], [], 2), {
    kind: "error",
    errorCode: ErrorCode.INVALID_FETCH_SESSION_EPOCH,
  });
  assert.deepEqual(cache.newContext(req(id + 1, 1), [], [], 2), {
    kind: "error",
    errorCode: ErrorCode.FETCH_SESSION_ID_NOT_FOUND,
  });
  assert.deepEqual(cache.newContext({ sessionId: id, sessionEpoch: 2, usesTopicIds: true }, [], [], 2), {
    kind: "error",
    errorCode: ErrorCode.FETCH_SESSION_TOPIC_ID_ERROR,
  });
  assert.equal(nextEpoch(2 ** 31 - 1), 1, "epochs wrap to 1");
});

test("a full cache evicts a stale session, else an old smaller one, else refuses", () => {
  const cache = new FetchSessionCache({ maxSessions: 2, random: seededRandom(SEED) });
  const a = cache.maybeCreateSession(0, false, false, [part("a", 0)]);
  const b = cache.maybeCreateSession(0, false, false, [part("a", 0), part("a", 1), part("a", 2)]);
  // Both young: no room.
  assert.equal(cache.maybeCreateSession(10, false, false, [part("x", 0)]), 0);
  // b stays in use, a goes stale.
  const later = FETCH_SESSION_EVICTION_MS + 1;
  assert.equal(cache.newContext(req(b, 1), [], [], later).kind, "incremental");
  const c = cache.maybeCreateSession(later + 1, false, false, [part("c", 0), part("c", 1)]);
  assert.ok(c > 0);
  assert.equal(cache.get(a), undefined, "the stale session was evicted");
  // Nothing stale now: b (3 partitions, old) outlives a 1-partition newcomer, but not a 4-partition one.
  assert.equal(cache.maybeCreateSession(later + 2, false, false, [part("d", 0)]), 0);
  const e = cache.maybeCreateSession(
    later + 3,
    false,
    false,
    [0, 1, 2, 3].map((i) => part("e", i)),
  );
  assert.ok(e > 0);
  assert.equal(cache.get(b), undefined);
  assert.ok(cache.get(c) !== undefined, "c is younger than the eviction time");
  assert.equal(cache.evictions, 2);
});
