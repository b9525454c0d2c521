/**
 * One TCP connection to one broker: size-prefixed frames, correlation ids, many requests in
 * flight (Kafka answers them in order on a connection), a timeout per request, and the ApiVersions
 * handshake that decides which version of each API `send` uses.
 *
 * Frame layout (both ways): int32 size, then `size` bytes of header + body; the codecs of
 * `@samsa/protocol` (`encodeRequestFrameChunks` / `decodeResponseFrame`) own the header rules
 * (flexible headers, ApiVersions' always-v0 response header).
 */
import net from "node:net";
import {
  type ApiDescriptor,
  ApiVersionsApi,
  decodeResponseFrame,
  type Encodable,
  ErrorCode,
  encodeRequestFrameChunks,
  KafkaError,
} from "@samsa/protocol";
import { ConnectionError, TimeoutError } from "../errors.js";

/** Responses larger than this are treated as a corrupt stream (a size prefix read from garbage). */
export const MAX_RESPONSE_BYTES = 1024 * 1024 * 1024; // 1 GiB: far above fetch.max.bytes (50 MiB) by default
/** Socket reads between frames go into a buffer of this size (Node's own read size). */
const READ_BUFFER_BYTES = 64 * 1024;
/** The ApiVersions version tried first; older brokers answer UNSUPPORTED_VERSION and we retry. */
export const API_VERSIONS_FIRST_VERSION = 3;
export const CLIENT_SOFTWARE_NAME = "samsa-client";
export const CLIENT_SOFTWARE_VERSION = "0.1.0";

export interface BrokerConnectionOptions {
  host: string;
  port: number;
  /** The broker's node id, or -1 for a bootstrap connection (default). */
  nodeId?: number;
  clientId?: string;
  /** Default timeout of `send`; default 30000. */
  requestTimeoutMs?: number;
  /** Timeout of the TCP connect plus the ApiVersions handshake; default 10000. */
  connectTimeoutMs?: number;
}

/** The version range the broker advertised for one API. */
export interface VersionRange {
  minVersion: number;
  maxVersion: number;
}

interface Pending {
  api: ApiDescriptor<unknown, unknown>;
  version: number;
  resolve(body: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout | undefined;
}

/**
 * A connection to one broker.
 *
 * @example
 * const conn = new BrokerConnection({ host: "localhost", port: 9092 });
 * await conn.connect();
 * const md = await conn.send(MetadataApi, { topics: null });
 * conn.close();
 */
export class BrokerConnection {
  readonly nodeId: number;
  readonly host: string;
  readonly port: number;
  private readonly clientId: string;
  private readonly requestTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private socket: net.Socket | null = null;
  private isConnected = false;
  private closed = false;
  private nextCorrelationId = 0;
  private readonly pending = new Map<number, Pending>();
  /** Correlation ids whose request timed out: their late responses are read and dropped. */
  private readonly abandoned = new Set<number>();
  /**
   * Where the socket reads go (`onread`): between frames, `readBuffer` (complete frames in it are
   * copied out, a partial size field is kept at its start: `readStart` bytes); inside a frame
   * larger than what one read brought, the frame's own buffer (`frame`, `frameFilled` bytes
   * filled), so a large response (a Fetch) is read straight into place: no 64 KiB chunk per read
   * and no concatenation.
   */
  private readonly readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  private readStart = 0;
  private frame: Buffer | null = null;
  private frameFilled = 0;
  private versions: Map<number, VersionRange> | null = null;
  private connecting: Promise<void> | null = null;
  private readonly closeListeners: ((err: Error) => void)[] = [];

  constructor(options: BrokerConnectionOptions) {
    this.host = options.host;
    this.port = options.port;
    this.nodeId = options.nodeId ?? -1;
    this.clientId = options.clientId ?? "samsa-client";
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  }

  /**
   * True between a successful `connect()` (TCP + ApiVersions) and the socket closing.
   *
   * @example
   * if (!conn.connected) await conn.connect();
   */
  get connected(): boolean {
    return this.isConnected;
  }

  /**
   * The broker's advertised version ranges by API key (after `connect()`; throws before).
   *
   * @example
   * conn.apiVersions.get(FetchApi.apiKey) // { minVersion: 0, maxVersion: 17 }, say
   */
  get apiVersions(): ReadonlyMap<number, VersionRange> {
    if (this.versions === null) throw new Error("BrokerConnection: not connected (no ApiVersions yet)");
    return this.versions;
  }

  /**
   * Opens the socket and negotiates versions (ApiVersions v3, falling back as Kafka clients do).
   * Idempotent while connecting or connected.
   *
   * @example
   * await new BrokerConnection({ host: "localhost", port: 9092 }).connect();
   */
  connect(): Promise<void> {
    if (this.closed) return Promise.reject(new ConnectionError(this.host, this.port, "connection closed"));
    if (this.connecting === null) this.connecting = this.doConnect();
    return this.connecting;
  }

  private async doConnect(): Promise<void> {
    const deadline = Date.now() + this.connectTimeoutMs;
    await new Promise<void>((resolve, reject) => {
      const socket = net.connect({
        host: this.host,
        port: this.port,
        onread: { buffer: () => this.nextReadBuffer(), callback: (n, buf) => this.onRead(n, buf) },
      });
      this.socket = socket;
      socket.setNoDelay(true);
      const timer = setTimeout(() => {
        const err = new ConnectionError(this.host, this.port, `connect timed out after ${this.connectTimeoutMs} ms`);
        socket.destroy(err);
        reject(err);
      }, this.connectTimeoutMs);
      socket.once("connect", () => {
        clearTimeout(timer);
        resolve();
      });
      socket.on("error", (err) => {
        clearTimeout(timer);
        const wrapped =
          err instanceof ConnectionError ? err : new ConnectionError(this.host, this.port, err.message, { cause: err });
        reject(wrapped);
        this.fail(wrapped);
      });
      socket.on("close", () => {
        clearTimeout(timer);
        const err = new ConnectionError(this.host, this.port, "connection closed");
        reject(err);
        this.fail(err);
      });
    });
    try {
      this.versions = await this.negotiateVersions(Math.max(1, deadline - Date.now()));
    } catch (err) {
      this.close();
      throw err;
    }
    this.isConnected = true;
  }

  /**
   * ApiVersions as the Java client does it: try v3; a broker that does not know v3 answers
   * UNSUPPORTED_VERSION in a v0 body (with its own ApiVersions range when it can), and we retry
   * with the highest version it has, or v0.
   */
  private async negotiateVersions(timeoutMs: number): Promise<Map<number, VersionRange>> {
    const body = { clientSoftwareName: CLIENT_SOFTWARE_NAME, clientSoftwareVersion: CLIENT_SOFTWARE_VERSION };
    let res = await this.request(ApiVersionsApi, API_VERSIONS_FIRST_VERSION, body, timeoutMs);
    if (res.errorCode === ErrorCode.UNSUPPORTED_VERSION) {
      const theirs = res.apiKeys.find((k) => k.apiKey === ApiVersionsApi.apiKey);
      const retryVersion = theirs ? Math.min(theirs.maxVersion, API_VERSIONS_FIRST_VERSION - 1) : 0;
      res = await this.request(ApiVersionsApi, Math.max(0, retryVersion), body, timeoutMs);
    }
    if (res.errorCode !== ErrorCode.NONE)
      throw new KafkaError(res.errorCode, `ApiVersions from ${this.host}:${this.port} failed`);
    return new Map(res.apiKeys.map((k) => [k.apiKey, { minVersion: k.minVersion, maxVersion: k.maxVersion }]));
  }

  /**
   * The version `send` would use for `api`: the highest both the broker and our codec support,
   * capped by `max`. Throws KafkaError(UNSUPPORTED_VERSION) when there is none.
   *
   * @example
   * conn.versionFor(FetchApi, 11) // 11 against a Kafka 3 broker
   */
  versionFor(api: ApiDescriptor<unknown, unknown>, max?: number): number {
    const theirs = this.apiVersions.get(api.apiKey);
    if (theirs === undefined) {
      throw new KafkaError(ErrorCode.UNSUPPORTED_VERSION, `${this.host}:${this.port} does not support ${api.name}`);
    }
    // Kafka clients never send a version the spec marks unstable.
    const ourMax = api.request.latestVersionUnstable ? api.request.maxVersion - 1 : api.request.maxVersion;
    const high = Math.min(theirs.maxVersion, ourMax, api.response.maxVersion, max ?? Number.POSITIVE_INFINITY);
    const low = Math.max(theirs.minVersion, api.request.minVersion, api.response.minVersion);
    if (high < low) {
      throw new KafkaError(
        ErrorCode.UNSUPPORTED_VERSION,
        `${api.name}: ${this.host}:${this.port} supports v${theirs.minVersion}-${theirs.maxVersion}, ` +
          `we support v${api.request.minVersion}-${ourMax}${max !== undefined ? ` (capped at v${max})` : ""}`,
      );
    }
    return high;
  }

  /**
   * Sends a request at the negotiated version (or `opts.version`) and resolves with the decoded
   * response body. Error codes inside the body are not thrown: callers inspect them. Socket
   * failures reject with ConnectionError, a missing response with TimeoutError.
   *
   * @example
   * const res = await conn.send(ListGroupsApi, {});
   * if (res.errorCode !== 0) throw new KafkaError(res.errorCode);
   */
  async send<Req, Res>(
    api: ApiDescriptor<Req, Res>,
    body: Encodable<Req>,
    opts: { version?: number; timeoutMs?: number } = {},
  ): Promise<Res> {
    if (!this.isConnected) await this.connect();
    const version = opts.version ?? this.versionFor(api as ApiDescriptor<unknown, unknown>);
    return this.request(api, version, body, opts.timeoutMs ?? this.requestTimeoutMs);
  }

  /**
   * Sends a request that gets no response (Produce with acks=0); resolves once written to the socket.
   *
   * @example
   * await conn.sendNoResponse(ProduceApi, { acks: 0, timeoutMs: 1000, topicData });
   */
  async sendNoResponse<Req>(
    api: ApiDescriptor<Req, unknown>,
    body: Encodable<Req>,
    opts: { version?: number } = {},
  ): Promise<void> {
    if (!this.isConnected) await this.connect();
    const version = opts.version ?? this.versionFor(api as ApiDescriptor<unknown, unknown>);
    const socket = this.writableSocket();
    const chunks = encodeRequestFrameChunks(api, version, this.takeCorrelationId(), this.clientId, body);
    await new Promise<void>((resolve, reject) => {
      this.writeChunks(socket, chunks, (err) =>
        err ? reject(new ConnectionError(this.host, this.port, err.message, { cause: err })) : resolve(),
      );
    });
  }

  /**
   * Registers a callback run once when the socket closes or fails (the pool drops the connection).
   *
   * @example
   * conn.onClose((err) => pool.delete(conn.nodeId));
   */
  onClose(listener: (err: Error) => void): void {
    this.closeListeners.push(listener);
  }

  /**
   * Closes the socket; requests still in flight reject with ConnectionError.
   *
   * @example
   * conn.close();
   */
  close(): void {
    this.closed = true;
    this.fail(new ConnectionError(this.host, this.port, "connection closed by the client"));
  }

  private request<Req, Res>(
    api: ApiDescriptor<Req, Res>,
    version: number,
    body: Encodable<Req>,
    timeoutMs: number,
  ): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      let socket: net.Socket;
      let chunks: Buffer[];
      const correlationId = this.takeCorrelationId();
      try {
        socket = this.writableSocket();
        chunks = encodeRequestFrameChunks(api, version, correlationId, this.clientId, body);
      } catch (err) {
        reject(err);
        return;
      }
      const entry: Pending = {
        api: api as ApiDescriptor<unknown, unknown>,
        version,
        resolve: resolve as (body: unknown) => void,
        reject,
        timer: undefined,
      };
      if (Number.isFinite(timeoutMs)) {
        entry.timer = setTimeout(() => {
          // The response may still come; it is read and dropped so the stream stays in step.
          this.pending.delete(correlationId);
          this.abandoned.add(correlationId);
          reject(
            new TimeoutError(`${api.name} v${version} to ${this.host}:${this.port} timed out after ${timeoutMs} ms`),
          );
        }, timeoutMs);
      }
      this.pending.set(correlationId, entry);
      this.writeChunks(socket, chunks, (err) => {
        if (err) this.fail(new ConnectionError(this.host, this.port, err.message, { cause: err }));
      });
    });
  }

  private takeCorrelationId(): number {
    const id = this.nextCorrelationId;
    this.nextCorrelationId = (this.nextCorrelationId + 1) | 0; // int32, wraps like Java's
    return id;
  }

  private writableSocket(): net.Socket {
    const socket = this.socket;
    if (socket === null || socket.destroyed || this.closed) {
      throw new ConnectionError(this.host, this.port, "not connected");
    }
    return socket;
  }

  private writeChunks(socket: net.Socket, chunks: Buffer[], done: (err: Error | null | undefined) => void): void {
    socket.cork();
    for (let i = 0; i < chunks.length - 1; i++) socket.write(chunks[i]);
    socket.write(chunks[chunks.length - 1], done);
    socket.uncork();
  }

  private nextReadBuffer(): Uint8Array {
    return this.frame !== null ? this.frame.subarray(this.frameFilled) : this.readBuffer.subarray(this.readStart);
  }

  /** `n` bytes were read into the buffer nextReadBuffer gave; false pauses the socket (it failed). */
  private onRead(n: number, _buf: Uint8Array): boolean {
    if (this.frame !== null) {
      this.frameFilled += n;
      if (this.frameFilled === this.frame.length) {
        const frame = this.frame;
        this.frame = null;
        this.frameFilled = 0;
        this.onFrame(frame);
      }
      return this.socket !== null;
    }
    const data = this.readBuffer;
    const end = this.readStart + n;
    let pos = 0;
    while (end - pos >= 4) {
      const size = data.readInt32BE(pos);
      if (size < 4 || size > MAX_RESPONSE_BYTES) {
        this.fail(new ConnectionError(this.host, this.port, `invalid response size ${size}: the stream is corrupt`));
        return false;
      }
      // Copied out: readBuffer is reused by the next read, and decoded responses are views of their frame.
      const frame = Buffer.allocUnsafe(size);
      const available = end - pos - 4;
      if (available < size) {
        data.copy(frame, 0, pos + 4, end);
        this.frame = frame;
        this.frameFilled = available;
        this.readStart = 0;
        return true;
      }
      data.copy(frame, 0, pos + 4, pos + 4 + size);
      pos += 4 + size;
      this.onFrame(frame);
      if (this.socket === null) return false;
    }
    data.copy(data, 0, pos, end);
    this.readStart = end - pos;
    return true;
  }

  private onFrame(frame: Buffer): void {
    const correlationId = frame.readInt32BE(0);
    const entry = this.pending.get(correlationId);
    if (entry === undefined) {
      if (this.abandoned.delete(correlationId)) return;
      this.fail(new ConnectionError(this.host, this.port, `response with unknown correlation id ${correlationId}`));
      return;
    }
    this.pending.delete(correlationId);
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    // A broker that does not know our ApiVersions version answers UNSUPPORTED_VERSION in a v0
    // body (its header is always v0, so the error code sits right after the correlation id);
    // Java's ApiVersionsResponse.parse falls back to v0 the same way.
    const version =
      entry.api.apiKey === ApiVersionsApi.apiKey &&
      frame.length >= 6 &&
      frame.readInt16BE(4) === ErrorCode.UNSUPPORTED_VERSION
        ? 0
        : entry.version;
    let body: unknown;
    try {
      body = decodeResponseFrame(entry.api, version, frame).body;
    } catch (err) {
      entry.reject(err as Error);
      return;
    }
    entry.resolve(body);
  }

  private fail(err: Error): void {
    const socket = this.socket;
    const wasOpen = socket !== null;
    this.socket = null;
    this.isConnected = false;
    this.closed = true;
    if (socket !== null && !socket.destroyed) socket.destroy();
    const pending = [...this.pending.values()];
    this.pending.clear();
    this.abandoned.clear();
    for (const p of pending) {
      if (p.timer !== undefined) clearTimeout(p.timer);
      p.reject(err);
    }
    if (wasOpen) {
      const listeners = this.closeListeners.splice(0);
      for (const l of listeners) l(err);
    }
  }
}
