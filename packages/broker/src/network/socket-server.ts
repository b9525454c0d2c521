/**
 * The listener: accepts connections, hands each its frames, and enforces the deadlines with one
 * sweep over all connections (not a timer per connection), so thousands of mostly idle clients
 * cost nothing between sweeps.
 */
import { createServer, type Server, type Socket } from "node:net";
import type { Logger } from "pino";
import { Connection, type ConnectionLimits, type FrameHandler } from "./connection.js";

export interface SocketServerOptions extends ConnectionLimits {
  host: string;
  port: number;
  /** connections.max.idle.ms: a connection with no traffic for this long is closed. */
  idleTimeoutMs: number;
  /** A frame that starts but does not complete within this time closes its connection. */
  partialFrameTimeoutMs: number;
  nowMs: () => number;
  log: Logger;
}

export class SocketServer {
  private readonly server: Server;
  private readonly connections = new Set<Connection>();
  private sweeper: NodeJS.Timeout | null = null;

  constructor(
    private readonly options: SocketServerOptions,
    private readonly handler: FrameHandler,
  ) {
    this.server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.server.on("error", (err) => options.log.error({ err: err.message }, "listener error"));
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Starts listening; resolves with the bound port (useful with port 0). */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once("error", onError);
      this.server.listen({ host: this.options.host, port: this.options.port, backlog: 1024 }, () => {
        this.server.off("error", onError);
        const address = this.server.address();
        const sweepMs = Math.max(50, Math.min(this.options.idleTimeoutMs, this.options.partialFrameTimeoutMs) / 4);
        this.sweeper = setInterval(() => this.sweep(), sweepMs);
        this.sweeper.unref();
        resolve(typeof address === "object" && address !== null ? address.port : this.options.port);
      });
    });
  }

  private accept(socket: Socket): void {
    const c = new Connection(socket, this.options, this.handler, this.options.nowMs, this.options.log, (closed) =>
      this.connections.delete(closed),
    );
    this.connections.add(c);
  }

  private sweep(): void {
    const now = this.options.nowMs();
    for (const c of this.connections) {
      if (c.partialSinceMs >= 0 && now - c.partialSinceMs > this.options.partialFrameTimeoutMs) {
        c.close("request frame not completed in time");
      } else if (c.unansweredRequests === 0 && now - c.lastActivityMs > this.options.idleTimeoutMs) {
        c.close("idle longer than connections.max.idle.ms");
      }
    }
  }

  /**
   * Stops accepting, lets every connection finish the requests it has received (up to
   * `timeoutMs`), then closes them.
   */
  async close(timeoutMs: number): Promise<void> {
    if (this.sweeper !== null) clearInterval(this.sweeper);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const drained = Promise.all([...this.connections].map((c) => c.drain()));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([drained, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    for (const c of [...this.connections]) c.end();
    await closed;
  }
}
