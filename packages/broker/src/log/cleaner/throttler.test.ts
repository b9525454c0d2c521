import assert from "node:assert/strict";
import path from "node:path";
import { describe, test } from "node:test";
import { Worker } from "node:worker_threads";
import { ErrorCode } from "@samsa/protocol";
import { CONFIG_OP, incrementalAlterConfigsHandler } from "../../handlers/44-incremental-alter-configs.js";
import { RESOURCE_BROKER } from "../../handlers/config-admin.js";
import { startTestBroker } from "../../handlers/handler-test-support.js";
import { Log } from "../log.js";
import { makeTempDir, removeDir } from "../test-support.js";
import { LogCleaner } from "./log-cleaner.js";
import { kvBatch } from "./test-support.js";
import {
  IoThrottle,
  SYSTEM_THROTTLE_TIME,
  THROTTLE_CHECK_INTERVAL_MS,
  Throttler,
  type ThrottleTime,
  UNTHROTTLED,
} from "./throttler.js";

/** A clock that only moves when told to; sleeping moves it. */
class FakeThrottleTime implements ThrottleTime {
  sleeps: number[] = [];
  constructor(public now = 1_000) {}
  nowMs(): number {
    return this.now;
  }
  sleepMs(ms: number): void {
    this.sleeps.push(ms);
    this.now += ms;
  }
}

function throttled(bytesPerSecond: number) {
  const time = new FakeThrottleTime();
  // Kafka's 300 ms interval: the arithmetic of a period is the same at any interval, and 300 ms keeps the steps readable.
  const shared = new IoThrottle(bytesPerSecond, { nowMs: time.now, checkIntervalMs: KAFKA_CHECK_INTERVAL_MS });
  return { time, shared, throttler: new Throttler(shared.buffer, time) };
}

const KAFKA_CHECK_INTERVAL_MS = 300;

describe("cleaner io throttle (Kafka's Throttler)", () => {
  test("no sleep within the check interval, however fast", () => {
    const { time, throttler } = throttled(1000);
    time.now += KAFKA_CHECK_INTERVAL_MS;
    assert.equal(throttler.maybeThrottle(1_000_000), 0);
    assert.deepEqual(time.sleeps, []);
  });

  test("by default the rate is checked every 1 ms, so a throttled pass sleeps between ~1 ms bursts", () => {
    assert.equal(THROTTLE_CHECK_INTERVAL_MS, 1);
    const time = new FakeThrottleTime();
    const shared = new IoThrottle(1_000_000, { nowMs: time.now });
    const throttler = new Throttler(shared.buffer, time);
    time.now += 1.5;
    // 4000 bytes at 1 MB/s take 4 ms: 2.5 ms more, not rounded to whole ms.
    assert.equal(throttler.maybeThrottle(4000), 3);
    assert.deepEqual(time.sleeps, [2.5]);
  });

  test("past the interval, sleeps what brings the period's rate down to the limit", () => {
    const { time, throttler } = throttled(1000);
    time.now += 200;
    throttler.maybeThrottle(600);
    time.now += 200;
    // 1000 bytes in 400 ms is 2500 B/s: 1000 bytes at 1000 B/s take 1000 ms, 600 more.
    assert.equal(throttler.maybeThrottle(400), 600);
    assert.deepEqual(time.sleeps, [600]);
    // A new period starts after the sleep: at the limit exactly, no sleep.
    time.now += 400;
    assert.equal(throttler.maybeThrottle(400), 0);
    assert.deepEqual(time.sleeps, [600]);
  });

  test("under the limit, no sleep and the period restarts", () => {
    const { time, throttler } = throttled(1000);
    time.now += 1000;
    assert.equal(throttler.maybeThrottle(500), 0);
    // The 500 bytes were not carried over: 400 bytes in the next 301 ms is above 1000 B/s.
    time.now += 301;
    assert.equal(throttler.maybeThrottle(400), 99);
  });

  test("unthrottled (Kafka's default, Double.MAX_VALUE) never sleeps", () => {
    const { time, throttler } = throttled(UNTHROTTLED);
    for (let i = 0; i < 10; i++) {
      time.now += 301;
      assert.equal(throttler.maybeThrottle(2 ** 40), 0);
    }
    assert.deepEqual(time.sleeps, []);
  });

  test("a rate change reaches every throttler over the same buffer at its next check", () => {
    const { time, shared, throttler } = throttled(UNTHROTTLED);
    const other = new Throttler(shared.buffer, time);
    time.now += 301;
    assert.equal(throttler.maybeThrottle(10_000), 0);
    shared.setDesiredBytesPerSecond(10_000);
    assert.equal(shared.desiredBytesPerSecond, 10_000);
    time.now += 100;
    assert.equal(other.maybeThrottle(10_000), 0);
    time.now += 100;
    assert.equal(throttler.maybeThrottle(10_000), 0);
    time.now += 101;
    // Both threads' bytes count against the one limit: 20 000 bytes at 10 000 B/s take 2 s.
    assert.equal(other.maybeThrottle(0), 1699);
    assert.deepEqual(time.sleeps, [1699]);
  });
});

test("a rate change between reading the rate and sleeping cuts the sleep short (regression)", () => {
  const shared = new IoThrottle(1, { checkIntervalMs: 0, nowMs: 0 });
  let now = 0;
  const throttler = new Throttler(shared.buffer, {
    // The change lands after maybeThrottle read the old rate of 1 B/s, before it sleeps.
    nowMs: () => {
      if (now === 0) shared.setDesiredBytesPerSecond(UNTHROTTLED);
      now += 1;
      return now;
    },
    sleepMs: SYSTEM_THROTTLE_TIME.sleepMs,
  });
  const started = performance.now();
  throttler.maybeThrottle(1_000_000);
  assert.ok(performance.now() - started < 1000, "the real sleep of ~10^9 ms ended at once");
});

test("a cleaner thread reads the throttle's clock as the main thread does", async () => {
  // Created before the thread starts: were the clock counted from the thread's own time origin
  // (the web spec's performance.now() in a worker), the period would start in the thread's future
  // and no check would happen until its clock caught up.
  const shared = new IoThrottle(1000, { checkIntervalMs: 0 });
  await new Promise((r) => setTimeout(r, 200));
  const throttler = new URL("./throttler.ts", import.meta.url).href;
  const tsx = import.meta.resolve("tsx/esm/api");
  const worker = new Worker(
    `const { workerData, parentPort } = await import("node:worker_threads");
     (await import(${JSON.stringify(tsx)})).register();
     const { Throttler } = await import(${JSON.stringify(throttler)});
     parentPort.postMessage(new Throttler(workerData).maybeThrottle(1));`,
    { eval: true, workerData: shared.buffer },
  );
  const sleptMs = await new Promise((resolve, reject) => worker.once("message", resolve).once("error", reject));
  await worker.terminate();
  // 1 byte over 200+ ms is under 1000 B/s: the check happened, no sleep, the period restarted.
  assert.equal(sleptMs, 0);
  assert.equal(new Float64Array(shared.buffer)[2], 0, "the observed bytes were reset by the check");
});

describe("cleaner io throttle in a cleaning pass", () => {
  /** A compacted log of small segments (two 1 KiB records per append): each pass reads them twice and writes the latest records. */
  async function dirtyLog(dir: string, partition = 0, appends = 100) {
    const log = await Log.open({
      dir: path.join(dir, `t-${partition}`),
      topicPartition: { topic: "t", partition },
      config: { segmentBytes: 2048, cleanupPolicy: ["compact"], fileDeleteDelayMs: 0 },
    });
    const value = "v".repeat(900);
    for (let i = 0; i < appends; i++)
      await log.append(
        kvBatch([
          { key: `k${i % 40}`, value },
          { key: `j${i % 40}`, value },
        ]),
      );
    await log.roll();
    return log;
  }

  test("a throttled pass takes at least its bytes over the limit", async () => {
    const dir = await makeTempDir("samsa-throttle-");
    const warm = await dirtyLog(dir, 1, 4);
    const log = await dirtyLog(dir, 0, 50);
    const limit = 400 * 1024;
    const logs = [warm];
    const cleaner = new LogCleaner({ logDir: dir, logs: () => logs, ioThrottleCheckIntervalMs: 20 });
    try {
      // The worker thread starts with an unthrottled pass, so that its start-up time is not counted as throttling.
      assert.ok((await cleaner.cleanFilthiestLog())?.swapped);
      logs.splice(0, 1, log);
      cleaner.updateIoMaxBytesPerSecond(limit);
      const started = performance.now();
      const pass = await cleaner.cleanFilthiestLog();
      const elapsedMs = performance.now() - started;
      assert.ok(pass?.swapped);
      const bytes = pass.stats.bytesRead + pass.stats.bytesWritten;
      const expectedMs = (bytes / limit) * 1000;
      assert.ok(expectedMs > 400, `the pass moves enough bytes to be throttled (${bytes})`);
      // Only the bytes after the last check (at most one interval's worth) go unpaid.
      assert.ok(elapsedMs >= expectedMs - 100, `${elapsedMs.toFixed(0)} ms for ${bytes} bytes at ${limit} B/s`);
      assert.ok(pass.stats.throttledMs > 0);
    } finally {
      await cleaner.shutdown();
      await warm.close();
      await log.close();
      await removeDir(dir);
    }
  });

  test("a dynamic change of the limit reaches a pass in progress", async () => {
    const dir = await makeTempDir("samsa-throttle-");
    const log = await dirtyLog(dir);
    // At 1 KiB/s the pass would take minutes.
    const cleaner = new LogCleaner({
      logDir: dir,
      logs: () => [log],
      ioMaxBytesPerSecond: 1024,
      ioThrottleCheckIntervalMs: 20,
    });
    try {
      const pass = cleaner.cleanFilthiestLog();
      while (!cleaner.ioThrottled) await new Promise((r) => setTimeout(r, 10));
      const started = performance.now();
      cleaner.updateIoMaxBytesPerSecond(UNTHROTTLED);
      assert.ok((await pass)?.swapped);
      // At 1 KiB/s the rest of the pass would take minutes. The bound leaves room for a loaded machine,
      // where the SCHED_IDLE cleaner runs only once the starvation guard lifts it (to nice 10).
      assert.ok(performance.now() - started < 30_000, "the sleeping thread woke up and finished unthrottled");
      assert.equal(cleaner.ioMaxBytesPerSecond, UNTHROTTLED);
    } finally {
      await cleaner.shutdown();
      await log.close();
      await removeDir(dir);
    }
  });
});

test("IncrementalAlterConfigs of log.cleaner.io.max.bytes.per.second reaches the broker's running cleaner", async () => {
  const b = await startTestBroker(undefined, ["log.cleaner.io.max.bytes.per.second=1000.0"]);
  try {
    // The LogManager is the broker's own; startCleaner() returns the cleaner it already runs.
    const cleaner = (b.broker as unknown as { logs: { startCleaner(): LogCleaner } }).logs.startCleaner();
    assert.equal(cleaner.ioMaxBytesPerSecond, 1000);
    const set = async (value: string | null) => {
      const r = (await b.call(incrementalAlterConfigsHandler, 1, {
        resources: [
          {
            resourceType: RESOURCE_BROKER,
            resourceName: "0",
            configs: [
              {
                name: "log.cleaner.io.max.bytes.per.second",
                configOperation: value === null ? CONFIG_OP.DELETE : CONFIG_OP.SET,
                value,
              },
            ],
          },
        ],
        validateOnly: false,
      })) as { responses: { errorCode: number }[] };
      assert.equal(r.responses[0]!.errorCode, ErrorCode.NONE);
    };
    await set("5242880");
    assert.equal(cleaner.ioMaxBytesPerSecond, 5 * 1024 * 1024);
    await set(null);
    assert.equal(cleaner.ioMaxBytesPerSecond, 1000, "back to the static value");
  } finally {
    await b.close();
  }
});
