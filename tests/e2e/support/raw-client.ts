/**
 * A raw Kafka connection for tests that must send what no well-behaved client sends: requests are
 * built with @samsa/protocol's encodeRequestFrame (never hand-written bytes), and the test may
 * then corrupt them deliberately or write arbitrary bytes. It reads size-prefixed responses and
 * tells when, and how fast, the broker closed the connection.
 */
import { connect, type Socket } from "node:net";
import { type ApiDescriptor, decodeResponseFrame, type Encodable, encodeRequestFrame } from "@samsa/protocol";

const DEFAULT_WAIT_MS = 10_000;

export class RawConnection {
  private buffered = Buffer.alloc(0);
  private readonly frames: Buffer[] = [];
  private frameWaiter: (() => void) | null = null;
  private correlationId = 0;
  readonly closed: Promise<void>;
  private isClosed = false;

  private constructor(private readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      while (this.buffered.length >= 4 && this.buffered.length >= 4 + this.buffered.readInt32BE(0)) {
        const size = this.buffered.readInt32BE(0);
        this.frames.push(this.buffered.subarray(4, 4 + size));
        this.buffered = this.buffered.subarray(4 + size);
      }
      this.frameWaiter?.();
    });
    socket.on("error", () => {}); // a reset is a close for these tests
    this.closed = new Promise((resolve) =>
      socket.once("close", () => {
        this.isClosed = true;
        this.frameWaiter?.();
        resolve();
      }),
    );
  }

  static connect(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: "127.0.0.1", port }, () => {
        socket.off("error", reject);
        resolve(new RawConnection(socket));
      });
      socket.once("error", reject);
    });
  }

  get isOpen(): boolean {
    return !this.isClosed;
  }

  /** Builds a request frame (size prefix included) with the next correlation id. */
  frame<Req>(api: ApiDescriptor<Req, unknown>, version: number, body: Encodable<Req>): Buffer {
    return encodeRequestFrame(api, version, ++this.correlationId, "samsa-e2e-raw", body);
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** The next response frame (without its size prefix); rejects if the connection closes first. */
  async nextFrame(timeoutMs = DEFAULT_WAIT_MS): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = this.frames.shift();
      if (f !== undefined) return f;
      if (this.isClosed) throw new Error("connection closed before a response arrived");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no response within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.frameWaiter = () => {
          clearTimeout(timer);
          this.frameWaiter = null;
          resolve();
        };
      });
    }
  }

  /** Sends a request and decodes its response. */
  async request<Req, Res>(
    api: ApiDescriptor<Req, Res>,
    version: number,
    body: Encodable<Req>,
    timeoutMs = DEFAULT_WAIT_MS,
  ): Promise<Res> {
    const frame = this.frame(api, version, body);
    const correlationId = this.correlationId;
    this.write(frame);
    const decoded = decodeResponseFrame(api, version, await this.nextFrame(timeoutMs));
    if (decoded.correlationId !== correlationId) {
      throw new Error(`correlation id ${decoded.correlationId}, expected ${correlationId}`);
    }
    return decoded.body;
  }

  /** Resolves with the milliseconds until the broker closed the connection; rejects if it stays open. */
  async waitClosed(timeoutMs = DEFAULT_WAIT_MS): Promise<number> {
    const start = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.closed,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`the broker left the connection open for ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
    return performance.now() - start;
  }

  close(): void {
    this.socket.destroy();
  }
}
