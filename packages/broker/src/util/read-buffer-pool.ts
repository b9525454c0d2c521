/**
 * Reusable buffers for the log reads that answer Fetch requests.
 *
 * Why: every fresh Buffer above Node's 4 KiB pool is a new ArrayBuffer, and V8 counts ArrayBuffer
 * bytes allocated since the last mark-compact against the old generation's limit. A broker serving
 * consumers at a few hundred MB/s with a fresh 1 MiB buffer per partition read reached that limit
 * every ~20 ms: ~70 mark-compacts in a 2 s run, half its CPU in marking and sweeping a 12 MB heap
 * (measured with `--trace-gc` and `perf`, bench/client). Recycled buffers allocate nothing.
 *
 * A buffer from `acquire` is a view of a pooled ArrayBuffer that belongs to its reader until
 * `release`. Release only once nothing will read it again: the connection releases a response's
 * pooled chunks when the socket has taken them (the write callback). A leased buffer that is never
 * released (dropped from a response, read for something else) is simply garbage-collected; the pool
 * then allocates another, so forgetting a release costs memory churn, never correctness.
 */

/** Reads smaller than this are left to Node's allocator (its pool covers < 4 KiB; small ones are cheap). */
const MIN_POOLED_BYTES = 64 * 1024;
/** Larger reads (a single batch over 8 MiB) are rare; pooling them would hold too much memory. */
const MAX_POOLED_BYTES = 8 * 1024 * 1024;

export class ReadBufferPool {
  /** Free ArrayBuffers by size (powers of two from MIN_POOLED_BYTES to MAX_POOLED_BYTES). */
  private readonly free = new Map<number, ArrayBuffer[]>();
  private readonly leased = new WeakSet<ArrayBuffer>();
  private freeBytes = 0;

  /** @param maxFreeBytes how much idle buffer memory the pool may keep for reuse. */
  constructor(private readonly maxFreeBytes: number) {}

  /** A buffer of exactly `length` bytes (uninitialised), pooled when the size is worth it. */
  acquire(length: number): Buffer {
    if (length < MIN_POOLED_BYTES || length > MAX_POOLED_BYTES) return Buffer.allocUnsafe(length);
    const size = sizeClassOf(length);
    const ab = this.free.get(size)?.pop();
    let buffer: ArrayBuffer;
    if (ab === undefined) buffer = new ArrayBuffer(size);
    else {
      this.freeBytes -= size;
      buffer = ab;
    }
    this.leased.add(buffer);
    return Buffer.from(buffer, 0, length);
  }

  /** Whether `buf` is a view of a buffer leased from this pool and not yet released. */
  isLeased(buf: Uint8Array): boolean {
    return this.leased.has(buf.buffer as ArrayBuffer);
  }

  /** Returns the buffer `buf` views to the pool; a second release, or a buffer not from here, is ignored. */
  release(buf: Uint8Array): void {
    const ab = buf.buffer as ArrayBuffer;
    if (!this.leased.delete(ab)) return;
    if (this.freeBytes + ab.byteLength > this.maxFreeBytes) return;
    let list = this.free.get(ab.byteLength);
    if (list === undefined) {
      list = [];
      this.free.set(ab.byteLength, list);
    }
    list.push(ab);
    this.freeBytes += ab.byteLength;
  }

  /** Idle bytes held for reuse. */
  get idleBytes(): number {
    return this.freeBytes;
  }
}

function sizeClassOf(length: number): number {
  let size = MIN_POOLED_BYTES;
  while (size < length) size *= 2;
  return size;
}

/**
 * The process's pool for Fetch reads: up to 64 MiB idle, about what 16 consumers reading four
 * 1 MiB partitions each have in flight.
 */
export const fetchReadBuffers = new ReadBufferPool(64 * 1024 * 1024);
