/**
 * Kafka's Throttler as the log cleaner uses it (`log.cleaner.io.max.bytes.per.second`): every
 * cleaner thread reports the bytes of each read and write chunk; once a check interval has passed
 * (1 ms here, 300 ms in Kafka: THROTTLE_CHECK_INTERVAL_MS), the rate observed since the last check
 * is compared with the desired one and the reporting thread sleeps long enough to bring it down to
 * it. Like Kafka's, one throttler is shared by all cleaner threads (the limit is their combined
 * rate) and the thread that sleeps holds it, so the others wait behind it.
 *
 * The cleaner threads are worker threads, so the state lives in a SharedArrayBuffer that every
 * pass receives with its task (CleanTask.ioThrottle): the main thread owns it (IoThrottle) and
 * changes the desired rate at any time (the config is dynamic), which also wakes a sleeping
 * thread so that the new rate applies at once. Workers wrap it in a Throttler.
 *
 * Layout (8-byte slots):
 *   0  int32 lock (0 free, 1 held)        4  int32 wake sequence (notified on a rate change)
 *   8  float64 bits of the desired rate, bytes/s (Atomics on a BigInt64Array: never torn)
 *  16  float64 bytes observed this period  24  float64 start of the period, ms (sharedNowMs)
 *  32  float64 check interval, ms (set once)
 * Slots 16 and 24 are only touched under the lock.
 */

/**
 * How often the observed rate is compared with the limit. Kafka's LogCleaner checks every 300 ms,
 * so a throttled cleaner runs flat out for 300 ms between sleeps. Checked every 1 ms (about two
 * read chunks), the same average rate becomes ~1 ms of work between short sleeps, and the CPU the
 * cleaner runs on is idle most of every few ms. On a 2-vCPU VM (bench/log/README.md, session 6)
 * that took the producer's p99 while a throttled pass ran from 1.5-1.6x idle to 1.0x.
 */
export const THROTTLE_CHECK_INTERVAL_MS = 1;
/** The default of log.cleaner.io.max.bytes.per.second (Kafka's Double.MAX_VALUE): no throttle. */
export const UNTHROTTLED = Number.MAX_VALUE;

const LOCK = 0;
const WAKE = 1;
const RATE_SLOT = 1; // in 8-byte units
const OBSERVED_SLOT = 2;
const PERIOD_START_SLOT = 3;
const CHECK_INTERVAL_SLOT = 4;
const BUFFER_BYTES = 40;

/** What the throttle measures and sleeps with; tests inject one that does not wait. */
export interface ThrottleTime {
  nowMs(): number;
  /**
   * Sleeps `ms`, or less once the wake sequence (slot 1 of `shared`) is no longer `wakeSeq`: the
   * rate changed since the caller read it.
   */
  sleepMs(ms: number, shared: Int32Array, wakeSeq: number): void;
}

function sleepOnWakeSlot(ms: number, shared: Int32Array, wakeSeq: number): void {
  Atomics.wait(shared, WAKE, wakeSeq, ms);
}

/**
 * A high-resolution clock that reads the same in every thread (ms since the epoch): the period
 * start is written by one thread and read by another, and performance.now() alone counts from a
 * time origin that the web spec makes per thread (Node 20 shares the process's; the sum is safe
 * either way).
 */
function sharedNowMs(): number {
  return performance.timeOrigin + performance.now();
}

export const SYSTEM_THROTTLE_TIME: ThrottleTime = {
  nowMs: sharedNowMs,
  sleepMs: sleepOnWakeSlot,
};

const bitsScratch = new ArrayBuffer(8);
const scratchDouble = new Float64Array(bitsScratch);
const scratchBits = new BigInt64Array(bitsScratch);

function storeDouble(cells: BigInt64Array, slot: number, value: number): void {
  scratchDouble[0] = value;
  Atomics.store(cells, slot, scratchBits[0]!);
}

function loadDouble(cells: BigInt64Array, slot: number): number {
  scratchBits[0] = Atomics.load(cells, slot);
  return scratchDouble[0]!;
}

/** The main thread's side: creates the shared state and sets the desired rate. */
export class IoThrottle {
  readonly buffer = new SharedArrayBuffer(BUFFER_BYTES);
  private readonly ints = new Int32Array(this.buffer);
  private readonly cells = new BigInt64Array(this.buffer);

  constructor(desiredBytesPerSecond: number = UNTHROTTLED, opts: { checkIntervalMs?: number; nowMs?: number } = {}) {
    storeDouble(this.cells, RATE_SLOT, desiredBytesPerSecond);
    const doubles = new Float64Array(this.buffer);
    doubles[PERIOD_START_SLOT] = opts.nowMs ?? sharedNowMs();
    doubles[CHECK_INTERVAL_SLOT] = opts.checkIntervalMs ?? THROTTLE_CHECK_INTERVAL_MS;
  }

  get desiredBytesPerSecond(): number {
    return loadDouble(this.cells, RATE_SLOT);
  }

  /** True while a cleaner thread holds the throttle: checking the rate or sleeping. */
  get held(): boolean {
    return Atomics.load(this.ints, LOCK) !== 0;
  }

  /** Kafka's updateDesiredRatePerSec; a thread sleeping under the old rate wakes up. */
  setDesiredBytesPerSecond(bytesPerSecond: number): void {
    storeDouble(this.cells, RATE_SLOT, bytesPerSecond);
    Atomics.add(this.ints, WAKE, 1);
    Atomics.notify(this.ints, WAKE);
  }
}

/** A cleaner thread's side (Kafka's Throttler.maybeThrottle) over an IoThrottle's buffer. */
export class Throttler {
  private readonly ints: Int32Array;
  private readonly cells: BigInt64Array;
  private readonly doubles: Float64Array;
  private readonly checkIntervalMs: number;

  constructor(
    buffer: SharedArrayBuffer,
    private readonly time: ThrottleTime = SYSTEM_THROTTLE_TIME,
  ) {
    this.ints = new Int32Array(buffer);
    this.cells = new BigInt64Array(buffer);
    this.doubles = new Float64Array(buffer);
    this.checkIntervalMs = this.doubles[CHECK_INTERVAL_SLOT]!;
  }

  /** Records `observed` bytes; sleeps when the rate since the last check is above the desired one. Returns the ms slept. */
  maybeThrottle(observed: number): number {
    // Read before the rate: a change after this point cuts the sleep short (or skips it).
    const wakeSeq = Atomics.load(this.ints, WAKE);
    const desired = loadDouble(this.cells, RATE_SLOT);
    this.lock();
    try {
      this.doubles[OBSERVED_SLOT] = this.doubles[OBSERVED_SLOT]! + observed;
      const now = this.time.nowMs();
      const elapsedMs = now - this.doubles[PERIOD_START_SLOT]!;
      const observedSoFar = this.doubles[OBSERVED_SLOT]!;
      if (elapsedMs <= this.checkIntervalMs || observedSoFar <= 0) return 0;
      let sleptMs = 0;
      if ((observedSoFar * 1000) / elapsedMs > desired) {
        // The sleep that brings the period's rate down to the desired one (not rounded: periods are ~1 ms).
        const sleepMs = observedSoFar / (desired / 1000) - elapsedMs;
        if (sleepMs > 0) {
          this.time.sleepMs(sleepMs, this.ints, wakeSeq);
          // Less than asked when a rate change woke the thread.
          sleptMs = Math.round(this.time.nowMs() - now);
        }
      }
      this.doubles[PERIOD_START_SLOT] = this.time.nowMs();
      this.doubles[OBSERVED_SLOT] = 0;
      return sleptMs;
    } finally {
      this.unlock();
    }
  }

  private lock(): void {
    while (Atomics.compareExchange(this.ints, LOCK, 0, 1) !== 0) Atomics.wait(this.ints, LOCK, 1);
  }

  private unlock(): void {
    Atomics.store(this.ints, LOCK, 0);
    Atomics.notify(this.ints, LOCK, 1);
  }
}
