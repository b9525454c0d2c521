/**
 * What-if for the cleaner's place (bench/log/what-if-separate-process.sh): CPU and garbage like a
 * cleaning pass (1 KiB copies, small objects, all dropped) for a while, at low CPU priority
 * (HOG_KIND=spin: a bare busy loop instead, no memory traffic, no garbage; HOG_KIND=none: a sleep).
 *
 *   node what-if-hog.mjs MS                 run for MS ms in this process (start it under chrt/nice)
 *   node --import what-if-hog.mjs ... start the same loop in a worker thread of that process (the
 *                                           broker), SCHED_IDLE or nice 10 (HOG_POLICY=idle|nice),
 *                                           4 s per SIGUSR2
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { isMainThread, parentPort, Worker } from "node:worker_threads";

function burn(ms) {
  // HOG_KIND=spin: a CPU busy without memory traffic or garbage, to tell CPU sharing from memory and GC.
  // HOG_KIND=none: sleeps instead (an A/A run: how far apart two idle windows' p99 fall).
  if (process.env.HOG_KIND === "none") {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    return 0;
  }
  if (process.env.HOG_KIND === "spin") {
    const end = Date.now() + ms;
    let n = 0;
    while (Date.now() < end) n++;
    return n;
  }
  const src = Buffer.alloc(1 << 20, 7);
  const end = Date.now() + ms;
  let n = 0;
  while (Date.now() < end) {
    const kept = [];
    for (let i = 0; i < 1000; i++) {
      const at = (i * 1024) % (src.length - 1024);
      const b = Buffer.allocUnsafe(1024);
      src.copy(b, 0, at, at + 1024);
      kept.push({ key: `k${i}`, b, offset: i });
    }
    n += kept.length;
  }
  return n;
}

const self = fileURLToPath(import.meta.url);
if (!isMainThread) {
  const tid = /task\/(\d+)$/.exec(fs.readlinkSync("/proc/thread-self"))[1];
  if (process.env.HOG_POLICY === "idle") execFileSync("chrt", ["--idle", "--pid", "0", tid]);
  else os.setPriority(10);
  parentPort.on("message", (ms) => parentPort.postMessage(burn(ms)));
} else if (process.argv[1] === self) {
  console.log(burn(Number(process.argv[2] ?? 4000)));
} else {
  const worker = new Worker(self);
  worker.unref();
  process.on("SIGUSR2", () => worker.postMessage(4000));
}
