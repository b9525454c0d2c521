/**
 * The timing loop of the protocol benchmarks: warm-up, calibration, several timed rounds, median.
 * The two implementations under comparison run in alternating rounds, so drift on a shared machine
 * (other processes, thermal state) lands on both sides instead of on whichever ran second.
 */

/** One benchmarked operation. It returns a number derived from its result so V8 cannot drop the work. */
export type Op = { kind: "sync"; run: () => number } | { kind: "async"; run: () => Promise<number> };

export function syncOp(run: () => number): Op {
  return { kind: "sync", run };
}

export function asyncOp(run: () => Promise<number>): Op {
  return { kind: "async", run };
}

export interface TimingOptions {
  /** Untimed runs first, so both sides are optimized by the JIT before any round counts. */
  warmupMs: number;
  /** Target duration of one timed round; the iteration count is calibrated to reach it. */
  roundMs: number;
  rounds: number;
}

export interface Timing {
  /** Median over the rounds. */
  opsPerSec: number;
  /** Largest distance of any round from the median, relative to it (0.03 = ±3%). */
  spread: number;
  iterationsPerRound: number;
}

/** Calibration stops doubling once a batch of iterations takes this long. */
const CALIBRATION_MIN_NS = 20_000_000;

/** Results are folded in here and printed at the end, so no operation's result is dead code. */
let sink = 0;

export function checksum(): number {
  return sink;
}

async function timeIterations(op: Op, iterations: number): Promise<number> {
  let acc = 0;
  const start = process.hrtime.bigint();
  if (op.kind === "sync") {
    const run = op.run;
    for (let i = 0; i < iterations; i++) acc += run();
  } else {
    const run = op.run;
    for (let i = 0; i < iterations; i++) acc += await run();
  }
  const elapsedNs = Number(process.hrtime.bigint() - start);
  sink = (sink + acc) % 1_000_000_007;
  return elapsedNs;
}

async function warmUp(op: Op, warmupMs: number): Promise<void> {
  const deadline = process.hrtime.bigint() + BigInt(Math.round(warmupMs * 1e6));
  while (process.hrtime.bigint() < deadline) await timeIterations(op, 1);
}

/** Iterations needed for one round of roughly `roundMs`, measured on the warmed-up operation. */
async function calibrate(op: Op, roundMs: number): Promise<number> {
  let iterations = 1;
  for (;;) {
    const ns = await timeIterations(op, iterations);
    if (ns >= CALIBRATION_MIN_NS) return Math.max(1, Math.round((iterations * roundMs * 1e6) / ns));
    iterations *= 2;
  }
}

function median(sorted: readonly number[]): number {
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function summarize(opsPerSecByRound: number[], iterationsPerRound: number): Timing {
  const sorted = [...opsPerSecByRound].sort((a, b) => a - b);
  const med = median(sorted);
  const spread = Math.max(med - sorted[0], sorted[sorted.length - 1] - med) / med;
  return { opsPerSec: med, spread, iterationsPerRound };
}

/** Times each operation (null entries are skipped) in alternating rounds; returns one Timing per input. */
export async function timeInterleaved(ops: readonly (Op | null)[], options: TimingOptions): Promise<(Timing | null)[]> {
  const present = ops.map((op, i) => ({ op, i })).filter((x): x is { op: Op; i: number } => x.op !== null);
  for (const { op } of present) await warmUp(op, options.warmupMs);
  const iterations = new Map<number, number>();
  for (const { op, i } of present) iterations.set(i, await calibrate(op, options.roundMs));
  const rates = new Map<number, number[]>(present.map(({ i }) => [i, []]));
  for (let round = 0; round < options.rounds; round++) {
    for (const { op, i } of present) {
      const n = iterations.get(i)!;
      const ns = await timeIterations(op, n);
      rates.get(i)!.push((n * 1e9) / ns);
    }
  }
  return ops.map((op, i) => (op === null ? null : summarize(rates.get(i)!, iterations.get(i)!)));
}
