/**
 * Splits a TCP byte stream into Kafka frames: int32 size, then that many bytes.
 *
 * Chunks are kept as received; a frame inside one chunk is returned as a view of it (no copy),
 * a frame spanning chunks is assembled once. The size is checked against
 * socket.request.max.bytes before anything is buffered for it, as Kafka's NetworkReceive does.
 */

export const FRAME_SIZE_BYTES = 4;

export class InvalidFrameError extends Error {
  override readonly name = "InvalidFrameError";
}

export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Size of the frame being assembled, or -1 until its 4 size bytes have arrived. */
  private frameSize = -1;

  constructor(private readonly maxFrameBytes: number) {}

  /** Bytes received that do not yet form a whole frame. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** Adds received bytes; returns the frames they complete (without size prefixes), in order. */
  push(chunk: Buffer): Buffer[] {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const frames: Buffer[] = [];
    for (;;) {
      if (this.frameSize < 0) {
        if (this.buffered < FRAME_SIZE_BYTES) break;
        const size = this.take(FRAME_SIZE_BYTES).readInt32BE(0);
        if (size < 0) throw new InvalidFrameError(`invalid frame size ${size}`);
        if (size > this.maxFrameBytes) {
          throw new InvalidFrameError(
            `frame of ${size} bytes exceeds socket.request.max.bytes (${this.maxFrameBytes})`,
          );
        }
        this.frameSize = size;
      }
      if (this.buffered < this.frameSize) break;
      frames.push(this.take(this.frameSize));
      this.frameSize = -1;
    }
    return frames;
  }

  /** Removes and returns the next n buffered bytes (n <= buffered). */
  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0];
    if (first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let copied = 0;
    while (copied < n) {
      const c = this.chunks[0];
      const k = Math.min(c.length, n - copied);
      c.copy(out, copied, 0, k);
      copied += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.buffered -= n;
    return out;
  }
}
