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
// process, so it is skipped there. Against other processes it does not help: the scheduler
// charges this thread's CPU time to the broker's group (autogroup, cgroup), so on a busy machine
// the event loop waits more while a pass runs (bench/log/README.md); the lever there is
// log.cleaner.io.max.bytes.per.second.
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
