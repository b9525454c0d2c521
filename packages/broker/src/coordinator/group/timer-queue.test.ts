import assert from "node:assert/strict";
import { test } from "node:test";
import { seededRandom } from "@samsa/protocol/testing";
import { TimerQueue } from "./timer-queue.js";

const SEED = 6061;

test("timers fire in deadline order; rescheduling replaces, cancelling drops (seeded)", (t) => {
  t.diagnostic(`seed ${SEED}`);
  const random = seededRandom(SEED);
  const q = new TimerQueue<number>();
  const model = new Map<string, number>();
  for (let i = 0; i < 5000; i++) {
    const key = `k${Math.floor(random() * 300)}`;
    if (random() < 0.2) {
      q.cancel(key);
      model.delete(key);
    } else {
      const deadline = Math.floor(random() * 10_000);
      q.schedule(key, deadline, deadline);
      model.set(key, deadline);
    }
  }
  assert.equal(q.size, model.size);
  let last = -1;
  for (let now = 0; now <= 10_000; now += 250) {
    for (let e = q.pollDue(now); e !== undefined; e = q.pollDue(now)) {
      assert.ok(e.deadlineMs <= now && e.deadlineMs >= last, "deadline order");
      assert.equal(model.get(e.key), e.deadlineMs);
      assert.equal(e.value, e.deadlineMs);
      model.delete(e.key);
      last = e.deadlineMs;
    }
  }
  assert.equal(model.size, 0);
  assert.equal(q.size, 0);
});
