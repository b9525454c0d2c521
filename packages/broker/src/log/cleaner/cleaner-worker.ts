/**
 * The body of a cleaner thread (node:worker_threads): runs one cleaning pass per message, so the
 * CPU-heavy part (reading every dirty record, decompressing, rebuilding batches) never runs on the
 * broker's event loop. It writes only `.cleaned` files; the main thread swaps them in.
 */
import { parentPort } from "node:worker_threads";
import { type CleanResult, type CleanTask, cleanLog } from "./clean-log.js";
import { type PriorityReport, setCleanerThreadPriority } from "./thread-priority.js";

export interface CleanRequest {
  id: number;
  task: CleanTask;
  /** Test hook for the crash test: SIGKILL the whole process after this many writes of the pass. */
  killAfterWrites?: number;
}

/** From the worker: a pass's outcome (by request id), or its priority (once, at start). */
export type WorkerMessage =
  | { id: number; result: CleanResult }
  | { id: number; error: { message: string; stack?: string } }
  | { priority: PriorityReport };

const port = parentPort;
if (port === null) throw new Error("cleaner-worker.ts runs in a worker thread");

// SCHED_IDLE, or nice 10 and why (thread-priority.ts); the main thread logs it and watches a SCHED_IDLE
// thread for starvation during every pass.
port.postMessage({ priority: setCleanerThreadPriority() } satisfies WorkerMessage);

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
    (result) => port.postMessage({ id: request.id, result } satisfies WorkerMessage),
    (e: Error) =>
      port.postMessage({ id: request.id, error: { message: e.message, stack: e.stack } } satisfies WorkerMessage),
  );
});
