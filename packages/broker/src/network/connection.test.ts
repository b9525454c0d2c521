import assert from "node:assert/strict";
import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { afterEach, describe, it } from "node:test";
import { pino } from "pino";
import { fetchReadBuffers } from "../util/read-buffer-pool.js";
import type { Connection } from "./connection.js";
import { SocketServer } from "./socket-server.js";

const log = pino({ level: "silent" });

function frame(body: string): Buffer {
  const b = Buffer.from(body);
  const size = Buffer.alloc(4);
  size.writeInt32BE(b.length);
  return Buffer.concat([size, b]);
}

/** Reads size-prefixed frames from a client socket. */
function frameReader(socket: Socket): () => Promise<string> {
  let buffered = Buffer.alloc(0);
  const waiting: (() => void)[] = [];
  socket.on("data", (d: Buffer) => {
    buffered = Buffer.concat([buffered, d]);
    for (const w of waiting.splice(0)) w();
  });
  return async () => {
    for (;;) {
      if (buffered.length >= 4 && buffered.length >= 4 + buffered.readInt32BE(0)) {
        const n = buffered.readInt32BE(0);
        const body = buffered.subarray(4, 4 + n).toString();
        buffered = buffered.subarray(4 + n);
        return body;
      }
      await new Promise<void>((resolve) => waiting.push(resolve));
    }
  };
}

let server: SocketServer | null = null;
afterEach(async () => {
  await server?.close(100);
  server = null;
});

async function start(
  handler: (frame: Buffer, c: Connection) => Promise<Buffer[] | null> | Buffer[] | null,
  overrides: Partial<ConstructorParameters<typeof SocketServer>[0]> = {},
): Promise<number> {
  server = new SocketServer(
    {
      host: "127.0.0.1",
      port: 0,
      maxFrameBytes: 1024,
      maxInFlightRequests: 100,
      maxInFlightBytes: 1 << 20,
      idleTimeoutMs: 60_000,
      partialFrameTimeoutMs: 60_000,
      nowMs: Date.now,
      log,
      ...overrides,
    },
    handler,
  );
  return server.listen();
}

describe("Connection", () => {
  it("answers pipelined requests in request order, whatever order they complete in", async () => {
    // The first request completes last.
    const port = await start((f) => {
      const body = f.toString();
      const delayMs = body === "0" ? 50 : 0;
      return new Promise((resolve) => setTimeout(() => resolve([frame(`re:${body}`)]), delayMs));
    });
    const socket = connect(port, "127.0.0.1");
    const next = frameReader(socket);
    await once(socket, "connect");
    socket.write(Buffer.concat(["0", "1", "2", "3"].map(frame)));
    assert.deepEqual([await next(), await next(), await next(), await next()], ["re:0", "re:1", "re:2", "re:3"]);
    socket.destroy();
  });

  it("returns pooled response chunks to their pool once the socket has written them, not before", async () => {
    // 24 MiB: more than loopback's socket buffers hold, so the last chunk waits for the client.
    const chunks = [1, 2, 3].map((v) => fetchReadBuffers.acquire(8 * 1024 * 1024).fill(v));
    const port = await start(
      () => {
        const size = Buffer.alloc(4);
        size.writeInt32BE(3 * 8 * 1024 * 1024);
        return [size, ...chunks];
      },
      { maxFrameBytes: 1 << 20 },
    );
    const socket = connect(port, "127.0.0.1");
    await once(socket, "connect");
    socket.write(frame("fetch"));
    const received: Buffer[] = [await once(socket, "data").then(([d]) => d as Buffer)];
    socket.pause();
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(fetchReadBuffers.isLeased(chunks[2]!), true, "released before the socket wrote it");
    socket.on("data", (d: Buffer) => received.push(d));
    socket.resume();
    while (chunks.some((c) => fetchReadBuffers.isLeased(c))) await new Promise((resolve) => setImmediate(resolve));
    while (Buffer.concat(received).length < 4 + 3 * 8 * 1024 * 1024) await once(socket, "data");
    const all = Buffer.concat(received);
    assert.equal(all.readInt32BE(0), 3 * 8 * 1024 * 1024);
    for (let v = 1; v <= 3; v++) {
      const part = all.subarray(4 + (v - 1) * 8 * 1024 * 1024, 4 + v * 8 * 1024 * 1024);
      assert.ok(part.equals(Buffer.alloc(8 * 1024 * 1024, v)), `chunk ${v} arrived intact`);
    }
    socket.destroy();
  });

  it("dispatches frames synchronously in arrival order", async () => {
    const seen: string[] = [];
    const port = await start((f) => {
      seen.push(f.toString());
      return new Promise((resolve) => setTimeout(() => resolve([frame("ok")]), 5));
    });
    const socket = connect(port, "127.0.0.1");
    const next = frameReader(socket);
    await once(socket, "connect");
    socket.write(Buffer.concat(["a", "b", "c"].map(frame)));
    await next();
    await next();
    await next();
    assert.deepEqual(seen, ["a", "b", "c"]);
    socket.destroy();
  });

  it("sends nothing for a request that needs no response, and keeps order around it", async () => {
    const port = await start((f) => (f.toString() === "silent" ? null : [frame(f.toString())]));
    const socket = connect(port, "127.0.0.1");
    const next = frameReader(socket);
    await once(socket, "connect");
    socket.write(Buffer.concat(["x", "silent", "y"].map(frame)));
    assert.deepEqual([await next(), await next()], ["x", "y"]);
    socket.destroy();
  });

  it("stops reading while too many requests are unanswered", async () => {
    const pending: (() => void)[] = [];
    let handled = 0;
    const port = await start(
      () => {
        handled++;
        return new Promise((resolve) => pending.push(() => resolve([frame("done")])));
      },
      { maxInFlightRequests: 2 },
    );
    const socket = connect(port, "127.0.0.1");
    const next = frameReader(socket);
    await once(socket, "connect");
    // Enough frames in separate writes that the server must read more than once.
    for (let i = 0; i < 20; i++) socket.write(frame(`r${i}`));
    await waitFor(() => handled >= 2);
    await new Promise((r) => setImmediate(r));
    const handledWhilePaused = handled;
    assert.ok(handledWhilePaused < 20, `read ${handledWhilePaused} requests while 2 were unanswered`);
    // Answering lets reading resume until all are served.
    while (handled < 20 || pending.length > 0) {
      pending.shift()?.();
      await new Promise((r) => setImmediate(r));
    }
    for (let i = 0; i < 20; i++) assert.equal(await next(), "done");
    socket.destroy();
  });

  it("closes a connection whose frame exceeds socket.request.max.bytes", async () => {
    const port = await start(() => [frame("never")]);
    const socket = connect(port, "127.0.0.1");
    await once(socket, "connect");
    const size = Buffer.alloc(4);
    size.writeInt32BE(1025);
    socket.write(size);
    await once(socket, "close");
  });

  it("closes a connection whose frame never completes, and idle connections, on the sweep", async () => {
    let now = 0;
    const port = await start(() => [frame("ok")], { nowMs: () => now, partialFrameTimeoutMs: 200, idleTimeoutMs: 400 });
    const partial = connect(port, "127.0.0.1");
    const idle = connect(port, "127.0.0.1");
    await Promise.all([once(partial, "connect"), once(idle, "connect")]);
    partial.write(frame("half").subarray(0, 6));
    await waitFor(() => server!.connectionCount === 2);
    now = 300; // past the partial-frame deadline, not yet idle
    await once(partial, "close");
    assert.equal(idle.destroyed, false);
    now = 1000;
    await once(idle, "close");
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}
