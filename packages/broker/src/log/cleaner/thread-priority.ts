/**
 * The cleaner thread's CPU priority (Linux): SCHED_IDLE while it cleans, with a starvation guard.
 *
 * Why SCHED_IDLE: on 2 vCPUs a pass holds one of them for 1-2 s. Under EEVDF (Linux 6.6+,
 * RUN_TO_PARITY) a woken nice-0 thread (the broker's event loop, a libuv pool write, V8's GC
 * helpers) does not preempt a running nice-10 thread before its slice ends; it preempts a
 * SCHED_IDLE one at once. Measured 2026-11-23 (bench/log/README.md): with it, the producer's p99
 * during a pass was ~4.0 ms against 4.8-5.2 at nice 10 (idle ~1.3 ms); the 1.2x goal is still not
 * met, what is left is described there.
 *
 * Why a guard: SCHED_IDLE has a weight of 3 against nice 0's 1024; behind busy nice-0 threads the
 * cleaner thread ran one ~1 ms slice every 0.6-1.8 s (measured: 4 busy processes on 2 vCPUs).
 * `__consumer_offsets` compaction must progress on a saturated broker (Kafka's cleaner is a
 * normal thread). So while a pass runs, the main thread reads the cleaner thread's schedstat (ns
 * on a CPU, ns runnable but waiting) every 100 ms (StarvationWatch); when the thread got less than
 * a quarter of the CPU time it wanted over its last 250 ms of wanting one (StarvationGuard), it is
 * switched to SCHED_OTHER at nice 10 for the rest of the pass, and back to SCHED_IDLE after it.
 *
 * Why the main thread watches and lifts: the cleaner thread can only look at itself while it runs,
 * i.e. once per slice (0.6-1.8 s apart when starved), and a fork of the broker by a thread that
 * gets so little CPU took 2.9 s (measured: a self-lifting worker found itself starved 325 ms into
 * a pass and ran at nice 10 only 3269 ms into it). The main thread's timer costs one read of a
 * /proc file (~10 µs) per 100 ms, during passes only.
 *
 * Node has no sched_setscheduler: util-linux `chrt` is run on the worker's TID, by the worker at
 * start (synchronously, only the worker waits; it is at nice 10 then) and by the main thread
 * (asynchronously) when the guard trips. The policy carries SCHED_RESET_ON_FORK, so that anything
 * the worker forks runs as SCHED_OTHER rather than inherit SCHED_IDLE. Leaving SCHED_IDLE
 * again needs CAP_SYS_NICE or an RLIMIT_NICE that allows nice 10 (the kernel's can_nice); without
 * either, or without `chrt` or schedstat, the thread stays at nice 10 (the reason is reported once).
 */
import { execFile, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";

/**
 * The nice value of the cleaner thread outside SCHED_IDLE (the fallback, and a starved pass). Nice
 * 19 was measured no better for the producer than 10 (bench/log/README.md); 10 leaves the cleaner
 * ~10% of a CPU against each busy nice-0 thread (weights 110 / 1024).
 */
export const CLEANER_THREAD_NICE = 10;

/** The guard's thresholds; see DEFAULT_STARVATION_THRESHOLDS for the reasons. */
export interface StarvationThresholds {
  /** Least time between two schedstat samples. */
  sampleIntervalMs: number;
  /**
   * The span judged: the latest in which the thread wanted a CPU (ran or waited for one) this
   * long. Time asleep or blocked counts for nothing, so a sleep does not dilute starvation.
   */
  wantedMs: number;
  /** Starved when it ran less than this share of the time it wanted a CPU. */
  minRunShare: number;
}

/**
 * - Judged over wanted time (schedstat's run + wait), not wall time: time asleep in the throttle
 *   (log.cleaner.io.max.bytes.per.second), between passes or blocked on a read or an fsync is
 *   neither, so a throttled or I/O-bound pass is never taken for a starved one.
 * - A quarter: a pass runs at 800-900 MiB/s on one vCPU here (bench/log), so a quarter of a CPU
 *   still cleans ~200 MiB/s, twice the 100 MB/s the cleaner must sustain; an unstarved SCHED_IDLE
 *   pass during the produce benchmark ran ~65-70% of its wall time (550 MiB/s against ~820).
 *   Starved, a SCHED_IDLE thread runs ~0.3% of the time it waits (weight 3 against a busy nice-0
 *   thread's 1024): the gap is wide on both sides.
 * - 250 ms wanted: 5-10x the longest main-isolate GC burst seen (a mark-compact with its helpers,
 *   20-45 ms) and ~100x a scheduler slice (base_slice 0.75 ms), so a burst of contention never
 *   trips it; a thread starved from the start of its pass wants 250 ms in 250 ms, so it is lifted
 *   within ~350 ms (the next 100 ms sample), well inside a second.
 * - 100 ms between samples: one read of a /proc file on the main thread (~10 µs), during passes
 *   only.
 */
export const DEFAULT_STARVATION_THRESHOLDS: StarvationThresholds = {
  sampleIntervalMs: 100,
  wantedMs: 250,
  minRunShare: 0.25,
};

/** 25 s of samples at 100 ms; more only delays a verdict on a mostly sleeping pass. */
const MAX_GUARD_SAMPLES = 256;

export interface SchedSample {
  /** Time on a CPU, ns. */
  runNs: number;
  /** Time runnable but waiting for a CPU, ns. */
  waitNs: number;
}

/** /proc/<pid>/task/<tid>/schedstat: "run_ns wait_ns timeslices". */
export function parseSchedstat(text: string): SchedSample {
  const [run, wait] = text.trim().split(/\s+/);
  const runNs = Number(run);
  const waitNs = Number(wait);
  if (!Number.isFinite(runNs) || !Number.isFinite(waitNs)) throw new Error(`unexpected schedstat: ${text.trim()}`);
  return { runNs, waitNs };
}

export interface StarvationVerdict {
  /** Wall time of the span judged. */
  elapsedMs: number;
  runMs: number;
  waitMs: number;
}

/**
 * Decides from schedstat samples whether the thread is starved (pure: the caller reads the clock
 * and the file). `observe` returns the span that shows starvation, or null.
 */
export class StarvationGuard {
  private samples: { atMs: number; runNs: number; waitNs: number }[] = [];

  constructor(private readonly thresholds: StarvationThresholds = DEFAULT_STARVATION_THRESHOLDS) {}

  /** True when a sample is due (the caller reads schedstat only then). */
  due(nowMs: number): boolean {
    const last = this.samples.at(-1);
    return last === undefined || nowMs - last.atMs >= this.thresholds.sampleIntervalMs;
  }

  observe(nowMs: number, sample: SchedSample): StarvationVerdict | null {
    const t = this.thresholds;
    const wantedNs = (s: SchedSample) => s.runNs + s.waitNs;
    // The reference: the newest sample since which the thread wanted a CPU for wantedMs.
    let ref = -1;
    for (let i = this.samples.length - 1; i >= 0; i--) {
      if (wantedNs(sample) - wantedNs(this.samples[i]!) >= t.wantedMs * 1e6) {
        ref = i;
        break;
      }
    }
    // Older samples can never be the reference again: the span only grows from the newer ones.
    if (ref > 0) this.samples = this.samples.slice(ref);
    this.samples.push({ atMs: nowMs, ...sample });
    // A pass asleep in the throttle for minutes samples without ever wanting 250 ms: bounded.
    if (this.samples.length > MAX_GUARD_SAMPLES) this.samples.shift();
    if (ref < 0) return null;
    const from = this.samples[0]!;
    const runMs = (sample.runNs - from.runNs) / 1e6;
    const waitMs = (sample.waitNs - from.waitNs) / 1e6;
    if (runMs < t.minRunShare * (runMs + waitMs)) return { elapsedMs: nowMs - from.atMs, runMs, waitMs };
    return null;
  }
}

/**
 * Whether this process may switch a thread from SCHED_IDLE back to SCHED_OTHER at `nice` (the
 * kernel's can_nice: CAP_SYS_NICE, or an RLIMIT_NICE soft limit of at least 20 - nice), from the
 * texts of /proc/self/status and /proc/self/limits. Null when it may, else why not.
 */
export function whyCannotLeaveSchedIdle(status: string, limits: string, nice: number): string | null {
  const capEff = /^CapEff:\s*([0-9a-f]+)\s*$/im.exec(status)?.[1];
  const CAP_SYS_NICE = 23n;
  if (capEff !== undefined && (BigInt(`0x${capEff}`) >> CAP_SYS_NICE) & 1n) return null;
  const soft = /^Max nice priority\s+(\S+)/im.exec(limits)?.[1];
  if (soft === "unlimited") return null;
  const rlimit = soft === undefined ? 0 : Number(soft);
  if (rlimit >= 20 - nice) return null;
  return `no CAP_SYS_NICE and RLIMIT_NICE ${soft ?? "unknown"} < ${20 - nice}: SCHED_IDLE could not be left again`;
}

export type CleanerSchedPolicy = "SCHED_IDLE" | "SCHED_OTHER";

/** What the worker reports to the main thread about its priority. */
export interface PriorityReport {
  tid: number | null;
  policy: CleanerSchedPolicy;
  /** The thread's nice value (SCHED_OTHER), null when it could not be set. */
  nice: number | null;
  /** Why the thread is not in SCHED_IDLE between passes; null when it is. */
  fallbackReason: string | null;
}

/** How the cleaner thread sets its own scheduling at start; tests inject failures. */
export interface SchedOps {
  setNice(nice: number): void;
  /** "PID/task/TID" of the calling thread. */
  threadSelf(): string;
  readStatus(): string;
  readLimits(): string;
  readSchedstat(tid: number): string;
  chrt(policy: CleanerSchedPolicy, tid: number): void;
}

const CHRT_TIMEOUT_MS = 5_000;

/** `chrt` arguments that put thread `tid` in `policy` (reset-on-fork: what it forks does not inherit it). */
function chrtArgs(policy: CleanerSchedPolicy, tid: number): string[] {
  return [policy === "SCHED_IDLE" ? "--idle" : "--other", "--reset-on-fork", "--pid", "0", String(tid)];
}

function readThreadSchedstat(tid: number): string {
  return fs.readFileSync(`/proc/self/task/${tid}/schedstat`, "latin1");
}

export const LINUX_SCHED_OPS: SchedOps = {
  setNice: (nice) => os.setPriority(nice),
  threadSelf: () => fs.readlinkSync("/proc/thread-self"),
  readStatus: () => fs.readFileSync("/proc/self/status", "latin1"),
  readLimits: () => fs.readFileSync("/proc/self/limits", "latin1"),
  readSchedstat: readThreadSchedstat,
  chrt: (policy, tid) => {
    execFileSync("chrt", chrtArgs(policy, tid), { stdio: "ignore", timeout: CHRT_TIMEOUT_MS });
  },
};

/**
 * `chrt` run without blocking the caller, for the main thread: one at a time, in the order asked
 * (a lift and the return to SCHED_IDLE after its pass must not overtake each other). A failure is
 * returned, not thrown.
 */
export class ChrtQueue {
  private last: Promise<Error | null> = Promise.resolve(null);

  run(policy: CleanerSchedPolicy, tid: number): Promise<Error | null> {
    this.last = this.last.then(
      () => new Promise((resolve) => execFile("chrt", chrtArgs(policy, tid), { timeout: CHRT_TIMEOUT_MS }, resolve)),
    );
    return this.last;
  }
}

/**
 * The cleaner thread's start (run on it): nice 10, then SCHED_IDLE when it may be left again.
 * Returns what it did, and why not SCHED_IDLE when it did not.
 */
export function setCleanerThreadPriority(
  ops: SchedOps = LINUX_SCHED_OPS,
  platform: NodeJS.Platform = process.platform,
): PriorityReport {
  const report: PriorityReport = { tid: null, policy: "SCHED_OTHER", nice: null, fallbackReason: null };
  const fallback = (reason: string) => {
    report.fallbackReason = reason;
    return report;
  };
  // Elsewhere setpriority(0) would renice the whole process, not the thread.
  if (platform !== "linux") return fallback("not Linux: the process's priority");
  try {
    ops.setNice(CLEANER_THREAD_NICE);
    report.nice = CLEANER_THREAD_NICE;
  } catch (e) {
    return fallback(`cannot renice the thread: ${(e as Error).message}`);
  }
  try {
    const tid = Number(/\/task\/(\d+)$/.exec(ops.threadSelf())?.[1]);
    if (!Number.isInteger(tid)) return fallback("no thread id in /proc/thread-self");
    report.tid = tid;
    const why = whyCannotLeaveSchedIdle(ops.readStatus(), ops.readLimits(), CLEANER_THREAD_NICE);
    if (why !== null) return fallback(why);
    // Without schedstat there is no guard, and SCHED_IDLE without a guard may starve.
    parseSchedstat(ops.readSchedstat(tid));
    ops.chrt("SCHED_IDLE", tid);
    report.policy = "SCHED_IDLE";
    return report;
  } catch (e) {
    return fallback(`SCHED_IDLE not set (${(e as Error).message.split("\n")[0]})`);
  }
}

/** What a StarvationWatch reads and runs; tests inject a schedstat and a clock they move. */
export interface WatchOps {
  readSchedstat(tid: number): string;
  nowMs(): number;
  /** Calls `tick` every `ms` until the returned function is called. */
  every(ms: number, tick: () => void): () => void;
  chrt(policy: CleanerSchedPolicy, tid: number): Promise<Error | null>;
}

/**
 * The main thread's watch over one pass of a SCHED_IDLE cleaner thread: `start` when the pass is
 * handed over, `stop` when its result is back (it resolves once the thread is in SCHED_IDLE
 * again, so the next pass starts there).
 */
export class StarvationWatch {
  private readonly guard: StarvationGuard;
  private cancel: (() => void) | null = null;
  private startMs = 0;
  private starvedAfterMs: number | null = null;
  private lifted: Promise<Error | null> | null = null;

  constructor(
    private readonly tid: number,
    private readonly ops: WatchOps,
    private readonly onError: (policy: CleanerSchedPolicy, e: Error) => void = () => undefined,
    private readonly thresholds: StarvationThresholds = DEFAULT_STARVATION_THRESHOLDS,
  ) {
    this.guard = new StarvationGuard(thresholds);
  }

  start(): void {
    this.startMs = this.ops.nowMs();
    this.sample();
    if (this.starvedAfterMs === null)
      this.cancel = this.ops.every(this.thresholds.sampleIntervalMs, () => this.sample());
  }

  /** One schedstat sample; lifts the thread to SCHED_OTHER (nice 10) the first time it is starved. */
  sample(): void {
    if (this.starvedAfterMs !== null) return;
    const now = this.ops.nowMs();
    let verdict: StarvationVerdict | null;
    try {
      verdict = this.guard.observe(now, parseSchedstat(this.ops.readSchedstat(this.tid)));
    } catch {
      verdict = null; // the thread is gone (terminated): nothing to watch
    }
    if (verdict === null) return;
    this.starvedAfterMs = Math.round(now - this.startMs);
    this.cancel?.();
    this.cancel = null;
    this.lifted = this.ops.chrt("SCHED_OTHER", this.tid);
  }

  /** Ends the watch of a thread that is gone (terminated): nothing to set back. */
  abandon(): void {
    this.cancel?.();
    this.cancel = null;
  }

  /** Ends the watch: the ms into the pass at which the thread was lifted, null if it was not. */
  async stop(): Promise<number | null> {
    this.cancel?.();
    this.cancel = null;
    if (this.lifted !== null) {
      const e = await this.lifted;
      if (e !== null) this.onError("SCHED_OTHER", e);
      const back = await this.ops.chrt("SCHED_IDLE", this.tid);
      if (back !== null) this.onError("SCHED_IDLE", back);
    }
    return this.starvedAfterMs;
  }
}

const chrtQueue = new ChrtQueue();

export const LINUX_WATCH_OPS: WatchOps = {
  readSchedstat: readThreadSchedstat,
  nowMs: () => performance.now(),
  every: (ms, tick) => {
    const timer = setInterval(tick, ms);
    timer.unref();
    return () => clearInterval(timer);
  },
  chrt: (policy, tid) => chrtQueue.run(policy, tid),
};
