/**
 * The body of a cleaner thread (node:worker_threads): runs one cleaning pass per message, so the
 * CPU-heavy part (reading every dirty record, decompressing, rebuilding batches) never runs on the
 * broker's event loop. It writes only `.cleaned` files; the main thread swaps them in.
 */
import os from "node:os";
import { parentPort } from "node:worker_threads";
import { type CleanTask, cleanLog } from "./clean-log.js";

export interface CleanRequest {
  id: number;
  task: CleanTask;
  /** Test hook for the crash test: SIGKILL the whole process after this many writes of the pass. */
  killAfterWrites?: number;
}

const port = parentPort;
if (port === null) throw new Error("cleaner-worker.ts runs in a worker thread");

// On Linux setpriority(0) applies to the calling thread only: the cleaner yields the CPU to the
// event loop (produce, fetch) whenever both want it. Elsewhere it would renice the whole
// process, so it is skipped there. Why 10 (measured 2026-11-23, bench/log/README.md): nice 19
// did not lower the producer's p99 during a pass (pooled p99 cleaning/idle 1.20-2.29 over 4
// runs, nice 10 1.15-2.07 over 5); SCHED_IDLE gave the best single run (1.09) but starved the
// cleaner whenever other processes kept the CPUs busy (a throttle test's small pass missed its
// 1.5 s deadline 4 times in 4), as it would on a saturated broker, and leaving it again needs
// `chrt` (a fork). Kafka's cleaner is a normal thread. What a pass adds to the producer's tail
// is mostly longer main-thread GC pauses, which no priority of this thread removes.
const CLEANER_THREAD_NICE = 10;
if (process.platform === "linux") {
  try {
    os.setPriority(CLEANER_THREAD_NICE);
  } catch {
    // not permitted: the thread keeps the process's priority
  }
}

port.on("message", (request: CleanRequest) => {
  let writes = 0;
  const task: CleanTask = {
    ...request.task,
    onProgress:
      request.killAfterWrites === undefined
        ? undefined
        : () => {
            if (++writes >= request.killAfterWrites!) process.kill(process.pid, "SIGKILL");
          },
  };
  cleanLog(task).then(
    (result) => port.postMessage({ id: request.id, result }),
    (e: Error) => port.postMessage({ id: request.id, error: { message: e.message, stack: e.stack } }),
  );
});
