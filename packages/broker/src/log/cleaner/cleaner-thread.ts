/**
 * One cleaner thread: a node:worker_threads Worker running cleaner-worker.ts, started on first use
 * and reused for every pass. `abort()` terminates it (a pass in progress is dropped; its `.cleaned`
 * files are the caller's to delete); the next `clean()` starts a new one.
 *
 * Under tsx (tests, `samsa start` from the sources) the worker must load TypeScript too: the
 * worker is started from a two-line bootstrap that registers tsx's loader first.
 */
import { Worker } from "node:worker_threads";
import type { CleanResult, CleanTask } from "./clean-log.js";
import type { CleanRequest } from "./cleaner-worker.js";

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

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = startWorker();
    worker.unref();
    worker.on("message", (m: { id: number; result?: CleanResult; error?: { message: string; stack?: string } }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error) p.reject(Object.assign(new Error(m.error.message), { stack: m.error.stack }));
      else p.resolve(m.result!);
    });
    const failAll = (e: Error) => {
      if (this.worker === worker) this.worker = null;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    worker.on("error", failAll);
    worker.on("exit", () => failAll(new CleanerAbortedError()));
    this.worker = worker;
    return worker;
  }

  clean(task: CleanTask, opts: { killAfterWrites?: number } = {}): Promise<CleanResult> {
    const worker = this.ensureWorker();
    const id = this.nextId++;
    const request: CleanRequest = { id, task, killAfterWrites: opts.killAfterWrites };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage(request);
    });
  }

  /** Stops the thread; a pass in progress rejects with CleanerAbortedError. */
  async abort(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    if (worker) await worker.terminate();
  }
}
