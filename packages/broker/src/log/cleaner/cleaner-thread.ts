/**
 * One cleaner thread: a node:worker_threads Worker running cleaner-worker.ts, started on first use
 * and reused for every pass. `abort()` terminates it (a pass in progress is dropped; its `.cleaned`
 * files are the caller's to delete); the next `clean()` starts a new one.
 *
 * Under tsx (tests, `samsa start` from the sources) the worker must load TypeScript too: the
 * worker is started from a two-line bootstrap that registers tsx's loader first.
 *
 * The thread puts itself in SCHED_IDLE when it can (thread-priority.ts); while it runs a pass, this
 * side watches it for starvation and lifts it to SCHED_OTHER nice 10 until the pass ends.
 */
import { Worker } from "node:worker_threads";
import type { Logger } from "pino";
import type { CleanResult, CleanTask } from "./clean-log.js";
import type { CleanRequest, WorkerMessage } from "./cleaner-worker.js";
import { LINUX_WATCH_OPS, type PriorityReport, StarvationWatch } from "./thread-priority.js";

export class CleanerAbortedError extends Error {
  constructor() {
    super("cleaning aborted");
  }
}

const ENTRY = new URL(import.meta.url.endsWith(".ts") ? "./cleaner-worker.ts" : "./cleaner-worker.js", import.meta.url);

function startWorker(): Worker {
  if (!ENTRY.pathname.endsWith(".ts")) return new Worker(ENTRY);
  const tsx = import.meta.resolve("tsx/esm/api");
  const bootstrap = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(ENTRY.href)}); });`;
  return new Worker(bootstrap, { eval: true });
}

export class CleanerThread {
  private worker: Worker | null = null;
  private nextId = 0;
  private pending = new Map<number, { resolve: (r: CleanResult) => void; reject: (e: Error) => void }>();
  /** The worker's scheduling as it last reported it (thread-priority.ts); null before it started. */
  priority: PriorityReport | null = null;
  /** Watches a SCHED_IDLE thread's pass in progress for starvation (thread-priority.ts). */
  private watch: StarvationWatch | null = null;

  constructor(private readonly logger?: Logger) {}

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = startWorker();
    worker.unref();
    worker.on("message", (m: WorkerMessage) => {
      if ("priority" in m) {
        if (this.worker !== worker) return;
        this.priority = m.priority;
        this.logger?.debug(m.priority, "cleaner thread priority");
        this.maybeWatch();
        return;
      }
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      const watch = this.watch;
      this.watch = null;
      // Back in SCHED_IDLE before the next pass is handed over.
      void (watch === null ? Promise.resolve(null) : watch.stop()).then((starvedAfterMs) => {
        if ("error" in m) p.reject(Object.assign(new Error(m.error.message), { stack: m.error.stack }));
        else {
          if (starvedAfterMs !== null) m.result.stats.starvedAfterMs = starvedAfterMs;
          p.resolve(m.result);
        }
      });
    });
    const failAll = (e: Error) => {
      if (this.worker === worker) {
        this.worker = null;
        this.priority = null;
        this.watch?.abandon();
        this.watch = null;
      }
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    worker.on("error", failAll);
    worker.on("exit", () => failAll(new CleanerAbortedError()));
    this.worker = worker;
    return worker;
  }

  /** Starts watching the pass in progress, once the thread has said it is SCHED_IDLE. */
  private maybeWatch(): void {
    const tid = this.priority?.tid;
    if (this.watch !== null || this.pending.size === 0 || this.priority?.policy !== "SCHED_IDLE" || tid == null) return;
    this.watch = new StarvationWatch(tid, LINUX_WATCH_OPS, (policy, e) =>
      this.logger?.warn({ tid, err: e.message }, `cannot set the cleaner thread to ${policy}`),
    );
    this.watch.start();
  }

  clean(task: CleanTask, opts: { killAfterWrites?: number } = {}): Promise<CleanResult> {
    const worker = this.ensureWorker();
    const id = this.nextId++;
    const request: CleanRequest = { id, task, killAfterWrites: opts.killAfterWrites };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage(request);
      this.maybeWatch();
    });
  }

  /** Stops the thread; a pass in progress rejects with CleanerAbortedError. */
  async abort(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    if (worker) await worker.terminate();
  }
}
