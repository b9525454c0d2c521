/**
 * A probe loaded into the broker (`node --import ./stall-probe.mjs`, cleaner-broker.sh --probe) to
 * find what the producer's latency stalls line up with. Not part of the broker. It records, with
 * CLOCK_MONOTONIC times in ms (the clock of rdkafka-perf's samples):
 *
 * - in every thread (the main thread and the cleaner's worker): each GC (PerformanceObserver
 *   "gc": start, duration, kind) and every time a 1 ms interval timer fired > 2 ms late (the
 *   event loop was blocked or waited for a CPU);
 * - per thread, every 50 ms: the time it ran and waited for a CPU (/proc/thread-self/schedstat),
 *   only when it waited more than 2 ms in those 50 ms.
 *
 * Lines of JSON are appended to $STALL_PROBE_OUT every second (a few KiB; sync write to the page
 * cache).
 */
import { appendFileSync, readFileSync } from "node:fs";
import { PerformanceObserver, performance } from "node:perf_hooks";
import { isMainThread, threadId } from "node:worker_threads";

const out = process.env.STALL_PROBE_OUT;
if (out) {
  const thread = isMainThread ? "main" : `worker${threadId}`;
  let tid = 0;
  try {
    tid = Number(readFileSync("/proc/thread-self/stat", "utf8").split(" ")[0]);
  } catch {}
  // performance.now() and hrtime share libuv's clock (CLOCK_MONOTONIC); the offset maps one to the other.
  const monoNow = () => Number(process.hrtime.bigint()) / 1e6;
  const perfToMono = monoNow() - performance.now();
  let lines = [];
  const emit = (o) => lines.push(JSON.stringify({ thread, tid, ...o }));
  emit({ ev: "start", t: monoNow() });
  new PerformanceObserver((list) => {
    for (const e of list.getEntries())
      emit({ ev: "gc", t: e.startTime + perfToMono, ms: e.duration, kind: e.detail?.kind ?? e.kind });
  }).observe({ entryTypes: ["gc"] });
  let expected = monoNow() + 1;
  const lag = setInterval(() => {
    const now = monoNow();
    if (now - expected > 2) emit({ ev: "lag", t: expected, ms: now - expected });
    expected = now + 1;
  }, 1);
  lag.unref();
  const schedstat = () => {
    try {
      const [run, wait] = readFileSync("/proc/thread-self/schedstat", "utf8").split(" ").map(Number);
      return { run: run / 1e6, wait: wait / 1e6 };
    } catch {
      return null;
    }
  };
  let last = schedstat();
  let lastT = monoNow();
  const sampler = setInterval(() => {
    const s = schedstat();
    const now = monoNow();
    if (s && last && s.wait - last.wait > 2)
      emit({ ev: "cpuwait", t: lastT, span: now - lastT, wait: s.wait - last.wait, run: s.run - last.run });
    last = s;
    lastT = now;
  }, 50);
  sampler.unref();
  const flush = () => {
    if (lines.length === 0) return;
    appendFileSync(out, `${lines.join("\n")}\n`);
    lines = [];
  };
  setInterval(flush, 1000).unref();
  process.on("exit", flush);
}
