/**
 * Helpers shared by the log tests (and the crash-test child and benchmarks): temporary
 * directories, record batches, a manual clock, a logger that records what it was told.
 */
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { encodeRecordBatch } from "@samsa/protocol";
import pino, { type Logger } from "pino";
import type { Clock } from "./config.js";
import type { FileSystem, LogFileHandle } from "./file-system.js";
import { nodeFileSystem } from "./file-system.js";

export async function makeTempDir(prefix = "samsa-log-"): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await fsp.rm(dir, { recursive: true, force: true });
}

/** A batch of `count` records with values of `valueSize` bytes; timestamps from `timestamp`, one ms apart. */
export function makeBatch(opts: {
  count?: number;
  valueSize?: number;
  timestamp?: bigint;
  seed?: number;
  partitionLeaderEpoch?: number;
}): Buffer {
  const count = opts.count ?? 1;
  const valueSize = opts.valueSize ?? 10;
  const ts = opts.timestamp ?? 1_700_000_000_000n;
  const seed = opts.seed ?? 0;
  const records = Array.from({ length: count }, (_, i) => ({
    key: Buffer.from(`k${String(seed).padStart(6, "0")}-${String(i).padStart(4, "0")}`),
    value: Buffer.alloc(valueSize, (seed + i) & 0xff),
    timestamp: ts + BigInt(i),
  }));
  return encodeRecordBatch({ records, partitionLeaderEpoch: opts.partitionLeaderEpoch ?? -1 });
}

export class ManualClock implements Clock {
  constructor(public ms = 1_700_000_000_000) {}
  nowMs(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

/** A pino logger writing JSON lines into `lines` (at `level` and above). */
export function capturingLogger(level = "info"): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of chunk.toString().split("\n")) if (l.trim()) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { logger: pino({ level }, stream), lines };
}

/** Flush pino's synchronous stream (it writes synchronously to a Writable; this just yields once). */
export const settle = () => new Promise((r) => setImmediate(r));

export interface FaultPlan {
  /** Fail writes with this errno code once `failWritesAfterBytes` bytes were written to .log files. */
  writeError?: string;
  failWritesAfterBytes?: number;
  /** Fail fsync/fdatasync with this errno code. */
  syncError?: string;
  /** Each fsync waits for this before it starts (to hold one open deterministically). */
  syncGate?: () => Promise<void>;
  /** Counts calls. */
  syncs: number;
  logBytesWritten: number;
}

/**
 * A FileSystem over node's that injects faults into .log files: a write that fails part way
 * (writing what fits, as a full disk does), or a failing fsync.
 */
export function faultyFileSystem(plan: FaultPlan): FileSystem {
  return {
    async open(file, flags) {
      const fh = await nodeFileSystem.open(file, flags);
      if (!file.endsWith(".log")) return fh;
      const wrapped: LogFileHandle = {
        async write(buffer, offset, length, position) {
          if (plan.writeError && plan.failWritesAfterBytes !== undefined) {
            const room = plan.failWritesAfterBytes - plan.logBytesWritten;
            if (room < length) {
              if (room > 0) {
                await fh.write(buffer, offset, room, position);
                plan.logBytesWritten += room;
              }
              throw Object.assign(new Error(`${plan.writeError}: injected`), { code: plan.writeError });
            }
          }
          const r = await fh.write(buffer, offset, length, position);
          plan.logBytesWritten += r.bytesWritten;
          return r;
        },
        read: (b, o, l, p) => fh.read(b, o, l, p),
        truncate: (l) => fh.truncate(l),
        async sync() {
          plan.syncs++;
          await plan.syncGate?.();
          if (plan.syncError) throw Object.assign(new Error(`${plan.syncError}: injected`), { code: plan.syncError });
          await fh.sync();
        },
        async datasync() {
          plan.syncs++;
          await plan.syncGate?.();
          if (plan.syncError) throw Object.assign(new Error(`${plan.syncError}: injected`), { code: plan.syncError });
          await fh.datasync();
        },
        stat: () => fh.stat(),
        close: () => fh.close(),
      };
      return wrapped;
    },
  };
}

export { seededRandom } from "@samsa/protocol/testing";
