import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { Log } from "../log.js";
import { makeTempDir, removeDir } from "../test-support.js";
import { CleanerThread } from "./cleaner-thread.js";
import { LogCleaner } from "./log-cleaner.js";
import { kvBatch } from "./test-support.js";
import {
  CLEANER_THREAD_NICE,
  type CleanerSchedPolicy,
  DEFAULT_STARVATION_THRESHOLDS,
  parseSchedstat,
  type SchedOps,
  StarvationGuard,
  StarvationWatch,
  setCleanerThreadPriority,
  type WatchOps,
  whyCannotLeaveSchedIdle,
} from "./thread-priority.js";

const MS = 1e6;

/** Feeds a guard one sample per `stepMs`, the thread running `runShare` and waiting `waitShare` of each step. */
function feed(
  guard: StarvationGuard,
  from: { atMs: number; runNs: number; waitNs: number },
  steps: number,
  stepMs: number,
  runShare: number,
  waitShare: number,
) {
  const verdicts = [];
  for (let i = 0; i < steps; i++) {
    from.atMs += stepMs;
    from.runNs += runShare * stepMs * MS;
    from.waitNs += waitShare * stepMs * MS;
    verdicts.push(guard.observe(from.atMs, { runNs: from.runNs, waitNs: from.waitNs }));
  }
  return verdicts;
}

describe("cleaner thread priority: the starvation guard", () => {
  test("parses /proc schedstat", () => {
    assert.deepEqual(parseSchedstat("1879723 12 3\n"), { runNs: 1879723, waitNs: 12 });
    assert.throws(() => parseSchedstat("garbage"));
  });

  test("starved: waiting for a CPU almost all the time, running ~0.3% (SCHED_IDLE behind busy threads)", () => {
    const guard = new StarvationGuard();
    const at = { atMs: 1000, runNs: 5 * MS, waitNs: 0 };
    guard.observe(at.atMs, at);
    const verdicts = feed(guard, at, 3, 100, 0.003, 0.997);
    assert.deepEqual(verdicts.slice(0, 2), [null, null], "not before it wanted a CPU for 250 ms");
    const v = verdicts[2];
    assert.ok(v !== null && v !== undefined);
    assert.equal(v.elapsedMs, 300);
    assert.ok(Math.abs(v.runMs - 0.9) < 1e-9 && Math.abs(v.waitMs - 299.1) < 1e-9);
  });

  test("not starved: running most of the time with some waiting (SCHED_IDLE beside a producer)", () => {
    const guard = new StarvationGuard();
    const at = { atMs: 0, runNs: 0, waitNs: 0 };
    guard.observe(0, at);
    assert.ok(feed(guard, at, 30, 100, 0.7, 0.3).every((v) => v === null));
    assert.ok(
      feed(guard, at, 30, 100, 0.3, 0.7).every((v) => v === null),
      "30% of what it wants",
    );
  });

  test("not starved: a GC burst (45 ms of waiting) in a pass that otherwise runs", () => {
    const guard = new StarvationGuard();
    const at = { atMs: 0, runNs: 0, waitNs: 0 };
    guard.observe(0, at);
    assert.ok(feed(guard, at, 10, 100, 0.95, 0.05).every((v) => v === null));
    assert.equal(feed(guard, at, 1, 50, 0.1, 0.9)[0], null);
    assert.ok(feed(guard, at, 10, 100, 0.95, 0.05).every((v) => v === null));
  });

  test("not starved: asleep in the throttle or blocked on I/O (neither running nor waiting)", () => {
    const guard = new StarvationGuard();
    const at = { atMs: 0, runNs: 0, waitNs: 0 };
    guard.observe(0, at);
    assert.ok(
      feed(guard, at, 20, 250, 0, 0).every((v) => v === null),
      "throttle sleep",
    );
    assert.ok(
      feed(guard, at, 40, 100, 0.3, 0.1).every((v) => v === null),
      "mostly in fsync, running 30%",
    );
  });

  test("woken from a long throttle sleep into a saturated machine: judged on the time since, at its first slice", () => {
    const guard = new StarvationGuard();
    const at = { atMs: 0, runNs: 0, waitNs: 0 };
    guard.observe(0, at);
    assert.ok(
      feed(guard, at, 1, 10, 1, 0).every((v) => v === null),
      "ran 10 ms, then slept",
    );
    assert.equal(feed(guard, at, 1, 10_000, 0, 0)[0], null);
    // A SCHED_IDLE thread's next slice comes ~0.9 s later: all of it waiting.
    const v = feed(guard, at, 1, 900, 0.001, 0.999)[0];
    assert.ok(v !== null && v !== undefined);
    assert.equal(v.elapsedMs, 900);
  });

  test("a pass that ran freely for a long time, then starves: judged on the recent span", () => {
    const guard = new StarvationGuard();
    const at = { atMs: 0, runNs: 0, waitNs: 0 };
    guard.observe(0, at);
    assert.ok(feed(guard, at, 100, 100, 1, 0).every((v) => v === null));
    const verdicts = feed(guard, at, 2, 500, 0.003, 0.997);
    assert.equal(verdicts[0]?.elapsedMs, 500);
  });

  test("a mostly sleeping pass keeps a bounded number of samples and still judges", () => {
    const guard = new StarvationGuard();
    const at = { atMs: 0, runNs: 0, waitNs: 0 };
    guard.observe(0, at);
    assert.ok(feed(guard, at, 10_000, 100, 0.001, 0).every((v) => v === null));
    assert.ok(feed(guard, at, 3, 100, 0.003, 0.997).some((v) => v !== null));
  });

  test("samples are due every sampleIntervalMs", () => {
    const guard = new StarvationGuard();
    assert.ok(guard.due(0));
    guard.observe(0, { runNs: 0, waitNs: 0 });
    assert.ok(!guard.due(DEFAULT_STARVATION_THRESHOLDS.sampleIntervalMs - 1));
    assert.ok(guard.due(DEFAULT_STARVATION_THRESHOLDS.sampleIntervalMs));
  });
});

describe("cleaner thread priority: may SCHED_IDLE be left again (kernel can_nice)", () => {
  const limits = (soft: string) =>
    `Limit Soft Limit Hard Limit Units\nMax nice priority         ${soft}                    ${soft}                    \n`;
  test("CAP_SYS_NICE (CapEff bit 23)", () => {
    assert.equal(whyCannotLeaveSchedIdle("CapEff:\t000001fffeffffff\n", limits("0"), 10), null);
    assert.equal(whyCannotLeaveSchedIdle("CapEff:\t0000000000800000\n", limits("0"), 10), null);
  });
  test("without it, RLIMIT_NICE must allow nice 10 (20 - 10)", () => {
    const noCaps = "CapEff:\t0000000000000000\n";
    assert.match(whyCannotLeaveSchedIdle(noCaps, limits("0"), 10) ?? "", /RLIMIT_NICE 0 < 10/);
    assert.match(whyCannotLeaveSchedIdle(noCaps, limits("9"), 10) ?? "", /RLIMIT_NICE 9 < 10/);
    assert.equal(whyCannotLeaveSchedIdle(noCaps, limits("10"), 10), null);
    assert.equal(whyCannotLeaveSchedIdle(noCaps, limits("unlimited"), 10), null);
  });
});

/** Scheduling operations that only record what they were asked. */
class FakeSchedOps implements SchedOps {
  calls: string[] = [];
  chrtFails = false;
  capEff = "000001fffeffffff";
  setNice(nice: number): void {
    this.calls.push(`nice ${nice}`);
  }
  threadSelf(): string {
    return "100/task/123";
  }
  readStatus(): string {
    return `Name:\tnode\nCapEff:\t${this.capEff}\n`;
  }
  readLimits(): string {
    return "Max nice priority         0                    0                    \n";
  }
  readSchedstat(): string {
    return "1000 0 1\n";
  }
  chrt(policy: CleanerSchedPolicy, tid: number): void {
    if (this.chrtFails) throw Object.assign(new Error("spawnSync chrt ENOENT"), { code: "ENOENT" });
    this.calls.push(`chrt ${policy} ${tid}`);
  }
}

describe("cleaner thread priority: the thread's start", () => {
  test("privileged Linux: nice 10 (kept for a lift), then SCHED_IDLE on its own TID", () => {
    const ops = new FakeSchedOps();
    assert.deepEqual(setCleanerThreadPriority(ops, "linux"), {
      tid: 123,
      policy: "SCHED_IDLE",
      nice: CLEANER_THREAD_NICE,
      fallbackReason: null,
    });
    assert.deepEqual(ops.calls, ["nice 10", "chrt SCHED_IDLE 123"]);
  });

  test("no CAP_SYS_NICE and RLIMIT_NICE 0: stays at nice 10, says why", () => {
    const ops = new FakeSchedOps();
    ops.capEff = "0000000000000000";
    const report = setCleanerThreadPriority(ops, "linux");
    assert.deepEqual(ops.calls, ["nice 10"]);
    assert.equal(report.policy, "SCHED_OTHER");
    assert.match(report.fallbackReason ?? "", /no CAP_SYS_NICE/);
  });

  test("chrt missing or failing: stays at nice 10, says why", () => {
    const ops = new FakeSchedOps();
    ops.chrtFails = true;
    const report = setCleanerThreadPriority(ops, "linux");
    assert.equal(report.policy, "SCHED_OTHER");
    assert.equal(report.nice, CLEANER_THREAD_NICE);
    assert.match(report.fallbackReason ?? "", /SCHED_IDLE not set \(spawnSync chrt ENOENT\)/);
  });

  test("not Linux: nothing changed (setpriority would renice the process)", () => {
    const ops = new FakeSchedOps();
    const report = setCleanerThreadPriority(ops, "darwin");
    assert.deepEqual(ops.calls, []);
    assert.equal(report.nice, null);
  });
});

/** A schedstat and a clock the test moves; chrt and the timer only recorded. */
class FakeWatchOps implements WatchOps {
  calls: string[] = [];
  now = 0;
  runNs = 0;
  waitNs = 0;
  ticking = false;
  chrtError: Error | null = null;
  readSchedstat(tid: number): string {
    assert.equal(tid, 123);
    return `${this.runNs} ${this.waitNs} 7\n`;
  }
  nowMs(): number {
    return this.now;
  }
  every(ms: number): () => void {
    assert.equal(ms, DEFAULT_STARVATION_THRESHOLDS.sampleIntervalMs);
    this.ticking = true;
    return () => {
      this.ticking = false;
    };
  }
  async chrt(policy: CleanerSchedPolicy, tid: number): Promise<Error | null> {
    this.calls.push(`chrt ${policy} ${tid}`);
    return this.chrtError;
  }
  /** `ms` pass with the thread running `runShare` and waiting `waitShare` of them. */
  advance(ms: number, runShare: number, waitShare: number): void {
    this.now += ms;
    this.runNs += runShare * ms * MS;
    this.waitNs += waitShare * ms * MS;
  }
}

describe("cleaner thread priority: the main thread's watch over a pass", () => {
  test("a pass that runs freely: no chrt, the timer stopped with the pass", async () => {
    const ops = new FakeWatchOps();
    const watch = new StarvationWatch(123, ops);
    watch.start();
    assert.ok(ops.ticking);
    for (let i = 0; i < 20; i++) {
      ops.advance(100, 0.9, 0.1);
      watch.sample();
    }
    assert.equal(await watch.stop(), null);
    assert.ok(!ops.ticking);
    assert.deepEqual(ops.calls, []);
  });

  test("starved: SCHED_OTHER once it wanted a CPU for 250 ms, SCHED_IDLE again when the pass ends", async () => {
    const ops = new FakeWatchOps();
    const watch = new StarvationWatch(123, ops);
    watch.start();
    for (let i = 0; i < 2; i++) {
      ops.advance(100, 0.003, 0.997);
      watch.sample();
    }
    assert.deepEqual(ops.calls, [], "not before 250 ms wanted");
    ops.advance(100, 0.003, 0.997);
    watch.sample();
    assert.deepEqual(ops.calls, ["chrt SCHED_OTHER 123"]);
    assert.ok(!ops.ticking, "no more samples in this pass");
    assert.equal(await watch.stop(), 300);
    assert.deepEqual(ops.calls, ["chrt SCHED_OTHER 123", "chrt SCHED_IDLE 123"]);
  });

  test("a throttled pass (asleep, neither running nor waiting) is left alone", async () => {
    const ops = new FakeWatchOps();
    const watch = new StarvationWatch(123, ops);
    watch.start();
    for (let i = 0; i < 100; i++) {
      ops.advance(100, 0.001, 0.002);
      watch.sample();
    }
    assert.equal(await watch.stop(), null);
    assert.deepEqual(ops.calls, []);
  });

  test("a chrt that fails is reported, not thrown", async () => {
    const ops = new FakeWatchOps();
    ops.chrtError = new Error("chrt: failed to set pid 123's policy");
    const errors: string[] = [];
    const watch = new StarvationWatch(123, ops, (policy) => errors.push(policy));
    watch.start();
    ops.advance(400, 0, 1);
    watch.sample();
    assert.equal(await watch.stop(), 400);
    assert.deepEqual(errors, ["SCHED_OTHER", "SCHED_IDLE"]);
  });
});

const SCHED_OTHER = 0;
const SCHED_IDLE = 5;

/** Policy and nice of a thread of this process, from /proc/self/task/<tid>/stat (fields 41 and 19). */
function threadSched(tid: number): { policy: number; nice: number } {
  const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, "latin1");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { policy: Number(fields[41 - 3]), nice: Number(fields[19 - 3]) };
}

/**
 * Busy processes, two per CPU, so that every CPU always has a thread that wants it. At nice 19:
 * even that weight (15) is 5x SCHED_IDLE's (3), so the cleaner thread gets ~9% of what it wants
 * (starved: under a quarter), while the test files running beside this one (nice 0, 1024) hardly
 * notice them.
 */
async function saturateCpus(): Promise<ChildProcess[]> {
  const hogs = Array.from({ length: 2 * os.availableParallelism() }, () => {
    const hog = spawn(process.execPath, ["-e", "for (;;);"], { stdio: "ignore" });
    os.setPriority(hog.pid!, 19);
    return hog;
  });
  // Running once each has used some CPU.
  for (const hog of hogs) {
    while (true) {
      const stat = fs.existsSync(`/proc/${hog.pid}/schedstat`)
        ? fs.readFileSync(`/proc/${hog.pid}/schedstat`, "latin1")
        : "0";
      if (parseSchedstat(`${stat} 0`).runNs > 20 * MS) break;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  return hogs;
}

async function dirtyLog(dir: string, partition: number, mib: number): Promise<Log> {
  const log = await Log.open({
    dir: path.join(dir, `t-${partition}`),
    topicPartition: { topic: "t", partition },
    config: { segmentBytes: 4 * 1024 * 1024, cleanupPolicy: ["compact"], fileDeleteDelayMs: 0 },
  });
  const value = "v".repeat(1000);
  const batch = (i: number) =>
    kvBatch(Array.from({ length: 64 }, (_, j) => ({ key: `k${(i * 64 + j) % 1000}`, value })));
  for (let i = 0; i < mib * 16; i++) await log.append(batch(i));
  await log.roll();
  return log;
}

test("the real cleaner thread: SCHED_IDLE, lifted to SCHED_OTHER nice 10 while busy processes hold both CPUs, then SCHED_IDLE again", {
  skip: process.platform !== "linux",
}, async (t) => {
  const dir = await makeTempDir("samsa-sched-");
  const warm = await dirtyLog(dir, 1, 1);
  const big = await dirtyLog(dir, 0, 32);
  const logs = [warm];
  const thread = new CleanerThread();
  const cleaner = new LogCleaner({ logDir: dir, logs: () => logs });
  let hogs: ChildProcess[] = [];
  try {
    assert.ok((await cleaner.cleanFilthiestLog(thread))?.swapped, "the warm-up pass starts the worker");
    const report = thread.priority;
    assert.ok(report !== null && report.tid !== null, "the worker reported its thread id");
    const tid = report.tid;
    const privileged =
      whyCannotLeaveSchedIdle(
        fs.readFileSync("/proc/self/status", "latin1"),
        fs.readFileSync("/proc/self/limits", "latin1"),
        CLEANER_THREAD_NICE,
      ) === null;
    if (!privileged || report.fallbackReason !== null) {
      // The fallback (not root, or no chrt): nice 10 and nothing else, whatever the load.
      assert.deepEqual(threadSched(tid), { policy: SCHED_OTHER, nice: CLEANER_THREAD_NICE });
      assert.equal(report.policy, "SCHED_OTHER");
      assert.ok(report.fallbackReason !== null, "it says why");
      t.diagnostic(`fallback: ${report.fallbackReason}`);
      return;
    }
    assert.deepEqual(
      threadSched(tid),
      { policy: SCHED_IDLE, nice: CLEANER_THREAD_NICE },
      "SCHED_IDLE between passes (nice kept)",
    );

    hogs = await saturateCpus();
    logs.splice(0, 1, big);
    const policies: number[] = [];
    let done = false;
    const pass = cleaner.cleanFilthiestLog(thread).finally(() => {
      done = true;
    });
    // The thread's policy while the pass runs, until it leaves SCHED_IDLE or the pass ends.
    while (!done) {
      const { policy } = threadSched(tid);
      if (policies.at(-1) !== policy) policies.push(policy);
      if (policy === SCHED_OTHER) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.deepEqual(policies, [SCHED_IDLE, SCHED_OTHER], "SCHED_IDLE in the pass, SCHED_OTHER once starved");
    assert.equal(threadSched(tid).nice, CLEANER_THREAD_NICE, "at nice 10");
    for (const hog of hogs) hog.kill("SIGKILL");
    const result = await pass;
    assert.ok(result?.swapped);
    const starvedAfterMs = result.stats.starvedAfterMs;
    t.diagnostic(
      `pass ${result.stats.totalMs} ms (${(result.stats.bytesRead / 1048576).toFixed(0)} MiB read), lifted after ${starvedAfterMs} ms`,
    );
    assert.ok(
      starvedAfterMs !== undefined && starvedAfterMs >= DEFAULT_STARVATION_THRESHOLDS.wantedMs,
      `lifted after ${starvedAfterMs} ms`,
    );
    assert.deepEqual(
      threadSched(tid),
      { policy: SCHED_IDLE, nice: CLEANER_THREAD_NICE },
      "SCHED_IDLE again after the pass",
    );
  } finally {
    for (const hog of hogs) if (hog.exitCode === null && hog.signalCode === null) hog.kill("SIGKILL");
    await cleaner.shutdown();
    await thread.abort();
    await warm.close();
    await big.close();
    await removeDir(dir);
  }
});
