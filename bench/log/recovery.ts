/**
 * Recovery time after SIGKILL for a big log. A child process appends 256 KiB batches of 1 KiB
 * records to one partition (default configs: 1 GiB segments, no fsync before ack) until the log
 * holds --gib GiB, and is killed with SIGKILL. Then the log directory is opened again and timed:
 *
 *   after SIGKILL      the real case: recovery scans from the checkpointed recovery point
 *   full scan          the same, with the recovery-point checkpoint deleted: every byte is scanned
 *
 * The recovery point advances when a segment rolls (its flush) and is checkpointed every second
 * here (Kafka's log.flush.offset.checkpoint.interval.ms is 60 s; the run is shorter than that).
 * Page cache: the data was just written, so reads may come from memory; the script drops caches
 * first when it can (root, writable /proc/sys/vm/drop_caches) and says which it measured.
 *
 *   node --conditions=samsa-source --import tsx bench/log/recovery.ts [--gib 4] [--dir /path]
 */
import { execSync, spawn } from "node:child_process";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { LogManager } from "@samsa/broker";
import { encodeRecordBatch } from "@samsa/protocol";
import pino from "pino";

const { values } = parseArgs({
  options: {
    gib: { type: "string", default: "4" },
    dir: { type: "string", default: os.tmpdir() },
    child: { type: "string" },
  },
});

const TP = { topic: "big", partition: 0 };

if (values.child) {
  // Child: append forever, report bytes appended.
  const manager = await LogManager.open({ logDir: values.child, config: { maxMessageBytes: 2 * 1024 * 1024 } });
  manager.startScheduler({ checkpointIntervalMs: 1000 });
  const log = await manager.getOrCreateLog(TP);
  const value = Buffer.alloc(1024, 0x62);
  const batch = encodeRecordBatch({
    records: Array.from({ length: 250 }, (_, i) => ({ key: null, value, timestamp: 1_700_000_000_000n + BigInt(i) })),
  });
  const copies = Array.from({ length: 8 }, () => Buffer.from(batch));
  let bytes = 0;
  let reported = 0;
  await Promise.all(
    copies.map(async (copy) => {
      for (;;) {
        await log.append(copy);
        bytes += copy.length;
        if (bytes - reported >= 64 * 1024 * 1024) {
          reported = bytes;
          process.stdout.write(`BYTES ${bytes}\n`);
        }
      }
    }),
  );
}

const targetBytes = Number(values.gib) * 1024 ** 3;
const free = execSync(`df -B1 --output=avail ${JSON.stringify(values.dir)} | tail -1`)
  .toString()
  .trim();
if (Number(free) < targetBytes * 2) throw new Error(`not enough space in ${values.dir}: ${free} bytes free`);
const root = await fsp.mkdtemp(path.join(values.dir!, "samsa-bench-recovery-"));
const logDir = path.join(root, "data");
try {
  const started = performance.now();
  const child = spawn(
    process.execPath,
    ["--conditions=samsa-source", "--import", "tsx", fileURLToPath(import.meta.url), "--child", logDir],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  for await (const line of createInterface({ input: child.stdout })) {
    const bytes = Number(line.split(" ")[1]);
    if (bytes >= targetBytes) child.kill("SIGKILL");
  }
  await new Promise((resolve) =>
    child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.on("exit", resolve),
  );
  const writeSecs = (performance.now() - started) / 1000;
  const partitionDir = path.join(logDir, "big-0");
  const files = await fsp.readdir(partitionDir);
  let size = 0;
  for (const f of files) if (f.endsWith(".log")) size += (await fsp.stat(path.join(partitionDir, f))).size;
  console.log(
    `wrote ${(size / 1024 ** 3).toFixed(2)} GiB in ${files.filter((f) => f.endsWith(".log")).length} segments in ${writeSecs.toFixed(1)} s (${(size / 1024 ** 2 / writeSecs).toFixed(0)} MiB/s), then SIGKILL`,
  );

  const dropCaches = async (): Promise<string> => {
    try {
      execSync("sync");
      await fsp.writeFile("/proc/sys/vm/drop_caches", "3");
      return "cold cache";
    } catch {
      return "warm cache (cannot drop caches here)";
    }
  };
  const timeOpen = async (label: string) => {
    const cache = await dropCaches();
    const lines: { msg?: string; recoveredSegments?: number }[] = [];
    const logger = pino({ level: "info" }, { write: (s: string) => lines.push(JSON.parse(s)) });
    const t = performance.now();
    const manager = await LogManager.open({ logDir, logger, config: { maxMessageBytes: 2 * 1024 * 1024 } });
    const secs = (performance.now() - t) / 1000;
    const log = manager.getLog(TP)!;
    const recovered = lines.find((l) => l.msg === "log recovered")?.recoveredSegments ?? 0;
    console.log(
      `${label.padEnd(16)} ${secs.toFixed(2)} s, ${recovered} segment(s) scanned, log end offset ${log.logEndOffset}, recovery point ${log.recoveryPoint} (${cache})`,
    );
    // Leave it as a crash would (no clean shutdown marker) for the next measurement.
    await manager.shutdown();
    await fsp.rm(path.join(logDir, ".kafka_cleanshutdown"), { force: true });
  };
  await timeOpen("after SIGKILL");
  await fsp.rm(path.join(logDir, "recovery-point-offset-checkpoint"));
  await timeOpen("full scan");
} finally {
  await fsp.rm(root, { recursive: true, force: true });
}
