/**
 * One client connection: frames in, responses out in request order.
 *
 * Requests are dispatched as soon as they are framed (the handler's synchronous part runs in
 * arrival order, which is what keeps a producer's pipelined batches in order), and their
 * responses are written strictly in request order, as Kafka's clients require. Reading pauses
 * while too many requests or bytes are unanswered, or while the socket's send buffer is full,
 * so a client that floods requests or never reads responses cannot grow broker memory.
 */
import type { Socket } from "node:net";
import type { Logger } from "pino";
import { fetchReadBuffers } from "../util/read-buffer-pool.js";
import { FrameDecoder, InvalidFrameError } from "./frame-decoder.js";

export interface ConnectionLimits {
  /** socket.request.max.bytes: a larger frame closes the connection. */
  maxFrameBytes: number;
  /** Unanswered requests after which reading pauses. */
  maxInFlightRequests: number;
  /** Unanswered request bytes after which reading pauses. */
  maxInFlightBytes: number;
}

/** What the connection asks of the broker: a response per frame, or null when none is due (acks=0). */
export type FrameHandler = (frame: Buffer, connection: Connection) => Promise<Buffer[] | null> | Buffer[] | null;

interface InFlight {
  bytes: number;
  done: boolean;
  response: Buffer[] | null;
}

let nextConnectionId = 0;

export class Connection {
  readonly id = ++nextConnectionId;
  readonly remote: string;
  /** Set from the client's ApiVersions request (KIP-511), for logs and metrics. */
  clientSoftware: { name: string; version: string } | null = null;
  lastActivityMs: number;
  /** When the oldest incomplete frame started arriving, or -1 when none is pending. */
  partialSinceMs = -1;

  private readonly decoder: FrameDecoder;
  private readonly inFlight: InFlight[] = [];
  private inFlightBytes = 0;
  private closed = false;
  private corked = false;
  private stopReading = false;
  private readonly drainWaiters: (() => void)[] = [];

  constructor(
    private readonly socket: Socket,
    private readonly limits: ConnectionLimits,
    private readonly handler: FrameHandler,
    private readonly nowMs: () => number,
    private readonly log: Logger,
    private readonly onClose: (c: Connection) => void,
  ) {
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`;
    this.lastActivityMs = nowMs();
    this.decoder = new FrameDecoder(limits.maxFrameBytes);
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("drain", () => this.updateReading());
    socket.on("error", (err) => this.log.debug({ remote: this.remote, err: err.message }, "connection error"));
    socket.on("close", () => this.finish());
  }

  get unansweredRequests(): number {
    return this.inFlight.length;
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    this.lastActivityMs = this.nowMs();
    let frames: Buffer[];
    try {
      frames = this.decoder.push(chunk);
    } catch (e) {
      this.close(e instanceof InvalidFrameError ? e.message : String(e));
      return;
    }
    this.partialSinceMs =
      this.decoder.pendingBytes > 0 ? (this.partialSinceMs < 0 ? this.lastActivityMs : this.partialSinceMs) : -1;
    for (const frame of frames) {
      if (this.closed || this.stopReading) return;
      this.dispatch(frame);
    }
    this.updateReading();
  }

  private dispatch(frame: Buffer): void {
    const entry: InFlight = { bytes: frame.length, done: false, response: null };
    this.inFlight.push(entry);
    this.inFlightBytes += frame.length;
    let result: Promise<Buffer[] | null> | Buffer[] | null;
    try {
      result = this.handler(frame, this);
    } catch (e) {
      this.failRequest(e);
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (response) => this.complete(entry, response),
        (e: unknown) => this.failRequest(e),
      );
    } else {
      this.complete(entry, result);
    }
  }

  private complete(entry: InFlight, response: Buffer[] | null): void {
    entry.done = true;
    entry.response = response;
    if (this.closed) return;
    if (this.inFlight[0] !== entry) return;
    let ready = 1;
    while (ready < this.inFlight.length && this.inFlight[ready]!.done) ready++;
    // When these are the last unanswered requests, no other response can join them in this burst:
    // cork just around the writes (one writev) instead of until the next tick, whose callback and
    // tick processing are garbage per request at a steady one-request-at-a-time rate.
    const burstEnds = ready === this.inFlight.length && !this.corked;
    if (burstEnds) this.socket.cork();
    else this.corkUntilNextTick();
    for (let i = 0; i < ready; i++) {
      const head = this.inFlight.shift()!;
      this.inFlightBytes -= head.bytes;
      if (head.response !== null) for (const chunk of head.response) this.write(chunk);
    }
    if (burstEnds) this.socket.uncork();
    this.lastActivityMs = this.nowMs();
    if (this.inFlight.length === 0) for (const w of this.drainWaiters.splice(0)) w();
    this.updateReading();
  }

  /** Pooled Fetch data goes back to its pool once the socket has taken it (or failed to). */
  private write(chunk: Buffer): void {
    if (fetchReadBuffers.isLeased(chunk)) this.socket.write(chunk, () => fetchReadBuffers.release(chunk));
    else this.socket.write(chunk);
  }

  /**
   * Responses completed in the same burst of callbacks (e.g. every commit of one coalesced write)
   * leave in one writev instead of one socket write each: uncork after the microtasks drain.
   */
  private corkUntilNextTick(): void {
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
    process.nextTick(() => {
      this.corked = false;
      this.socket.uncork();
    });
  }

  /** A handler that throws has met a request it cannot answer; Kafka closes the connection then. */
  private failRequest(e: unknown): void {
    this.close(`request failed: ${e instanceof Error ? e.message : String(e)}`);
  }

  private updateReading(): void {
    if (this.closed) return;
    const over =
      this.stopReading ||
      this.inFlight.length >= this.limits.maxInFlightRequests ||
      this.inFlightBytes >= this.limits.maxInFlightBytes ||
      this.socket.writableNeedDrain;
    if (over && !this.socket.isPaused()) this.socket.pause();
    else if (!over && this.socket.isPaused()) this.socket.resume();
  }

  /** Stops reading requests; resolves once every request already received has been answered. */
  drain(): Promise<void> {
    this.stopReading = true;
    this.updateReading();
    if (this.inFlight.length === 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  close(reason: string): void {
    if (this.closed) return;
    this.log.debug({ remote: this.remote, reason }, "closing connection");
    this.socket.destroy();
    this.finish();
  }

  /** Closes gracefully: flushes what was written, then ends the socket. */
  end(): void {
    if (this.closed) return;
    this.socket.end();
    this.finish();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.drainWaiters.splice(0)) w();
    this.onClose(this);
  }
}
