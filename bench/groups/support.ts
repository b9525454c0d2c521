/**
 * What the group benchmarks share: a pipelining Kafka connection on our own codecs, a broker to
 * measure (a real `samsa start` child, or one already running), CPU time of a process, the
 * machine line every report starts with, and small statistics.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import os from "node:os";
import path from "node:path";
import {
  type ApiDescriptor,
  ApiVersionsApi,
  CreateTopicsApi,
  decodeResponseFrame,
  type Encodable,
  ErrorCode,
  encodeRequestFrame,
  errorInfo,
  type MessageCodec,
  Reader,
  Writer,
} from "@samsa/protocol";
import { BrokerProcess, REPO_ROOT } from "../../tests/e2e/support/broker-process.js";

interface Pending {
  correlationId: number;
  decode: (frame: Buffer) => { correlationId: number; body: unknown };
  resolve: (body: unknown) => void;
  reject: (e: Error) => void;
}

/**
 * One TCP connection speaking Kafka frames. Any number of requests may be in flight; Kafka
 * answers a connection's requests in order, so responses are matched first-in first-out and the
 * correlation id is checked.
 */
export class WireConnection {
  private readonly pending: Pending[] = [];
  /** Head of the stream not yet framed (a partial frame). */
  private leftover: Buffer = Buffer.alloc(0);
  private correlationId = 0;
  private closedError: Error | null = null;

  private constructor(
    private readonly socket: Socket,
    private readonly clientId: string,
  ) {
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (e) => this.fail(e));
    socket.on("close", () => this.fail(new Error("connection closed by the broker")));
  }

  static connect(host: string, port: number, clientId: string): Promise<WireConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port }, () => {
        socket.off("error", reject);
        resolve(new WireConnection(socket, clientId));
      });
      socket.once("error", reject);
    });
  }

  get inFlight(): number {
    return this.pending.length;
  }

  request<Req, Res>(api: ApiDescriptor<Req, Res>, version: number, body: Encodable<Req>): Promise<Res> {
    if (this.closedError !== null) return Promise.reject(this.closedError);
    const correlationId = ++this.correlationId;
    return new Promise<Res>((resolve, reject) => {
      this.pending.push({
        correlationId,
        decode: (frame) => decodeResponseFrame(api, version, frame),
        resolve: resolve as (body: unknown) => void,
        reject,
      });
      this.socket.write(encodeRequestFrame(api, version, correlationId, this.clientId, body));
    });
  }

  close(): void {
    this.fail(new Error("connection closed"));
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    let buf = this.leftover.length === 0 ? chunk : Buffer.concat([this.leftover, chunk]);
    let at = 0;
    while (buf.length - at >= 4) {
      const size = buf.readInt32BE(at);
      if (buf.length - at - 4 < size) break;
      this.onFrame(buf.subarray(at + 4, at + 4 + size));
      at += 4 + size;
    }
    buf = buf.subarray(at);
    this.leftover = buf;
  }

  private onFrame(frame: Buffer): void {
    const head = this.pending.shift();
    if (head === undefined) {
      this.fail(new Error("a response arrived with no request outstanding"));
      return;
    }
    let decoded: { correlationId: number; body: unknown };
    try {
      decoded = head.decode(frame);
    } catch (e) {
      head.reject(e as Error);
      return;
    }
    if (decoded.correlationId !== head.correlationId) {
      head.reject(new Error(`correlation id ${decoded.correlationId}, expected ${head.correlationId}`));
      return;
    }
    head.resolve(decoded.body);
  }

  private fail(e: Error): void {
    if (this.closedError === null) this.closedError = e;
    for (const p of this.pending.splice(0)) p.reject(e);
  }
}

/** The broker under test: started here (and stopped by `dispose`) or given by `--broker host:port`. */
export interface BenchBroker {
  host: string;
  port: number;
  /** PID of the broker process when started here (for CPU sampling), else null. */
  pid: number | null;
  description: string;
  dispose(): Promise<void>;
}

export interface StartBrokerOptions {
  /** `host:port` of a running broker; then nothing is started and `sets` are not applied. */
  external?: string;
  /** Broker configs for `samsa start --set`. */
  sets: string[];
  /** Write a V8 CPU profile of the broker into this directory when it exits. */
  profileDir?: string;
  /** Serve this existing data directory (kept afterwards); default a new temp dir, removed on dispose. */
  dataDir?: string;
}

export async function startBroker(options: StartBrokerOptions): Promise<BenchBroker> {
  if (options.external !== undefined) {
    const [host, port] = options.external.split(":");
    return {
      host: host!,
      port: Number(port),
      pid: null,
      description: `external broker ${options.external}`,
      dispose: async () => {},
    };
  }
  if (options.profileDir !== undefined) return startProfiledBroker(options.sets, options.profileDir, options.dataDir);
  // "info": the helper waits for the broker's "started" line, logged at that level.
  const broker = await BrokerProcess.start({ set: options.sets, logLevel: "info", dataDir: options.dataDir });
  return {
    host: "127.0.0.1",
    port: broker.port,
    pid: broker.pid,
    description: `samsa start (pid ${broker.pid}, ${options.sets.map((s) => `--set ${s}`).join(" ")})`,
    dispose: async () => {
      // A clean stop, so that --cpu-prof writes its profile.
      await broker.stop().catch(() => {});
      await broker.dispose();
    },
  };
}

/** How long a profiled broker may take to start (tsx compiles the CLI first) and to stop. */
const PROFILED_START_TIMEOUT_MS = 60_000;
const PROFILED_STOP_TIMEOUT_MS = 20_000;

/**
 * `samsa start` under `node --cpu-prof`. BrokerProcess has no way to pass node flags, and Node
 * refuses --cpu-prof in NODE_OPTIONS, so this spawns the same CLI entry itself. V8 writes the
 * profile when the process exits, which a SIGTERM makes it do cleanly.
 */
async function startProfiledBroker(sets: string[], profileDir: string, keptDataDir?: string): Promise<BenchBroker> {
  const dataDir = keptDataDir ?? (await mkdtemp(path.join(os.tmpdir(), "samsa-bench-groups-")));
  const args = [
    "--cpu-prof",
    `--cpu-prof-dir=${profileDir}`,
    "--conditions=samsa-source",
    "--import",
    "tsx",
    path.join(REPO_ROOT, "apps/cli/src/run.ts"),
    "start",
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--data-dir",
    dataDir,
    "--log-level",
    "info",
    ...sets.flatMap((kv) => ["--set", kv]),
  ];
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error("the profiled broker did not start in time")),
      PROFILED_START_TIMEOUT_MS,
    );
    let buffered = "";
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (chunk: string) => {
      buffered += chunk;
      for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        try {
          const l = JSON.parse(line) as { msg?: string; port?: number };
          if (l.msg === "samsa broker started") {
            clearTimeout(timer);
            resolve(l.port!);
          }
        } catch {
          // not a log line
        }
      }
    });
    void exited.then(() => reject(new Error("the profiled broker exited before it started")));
  });
  return {
    host: "127.0.0.1",
    port,
    pid: child.pid!,
    description: `samsa start under node --cpu-prof (pid ${child.pid}, profile in ${profileDir}, ${sets.map((s) => `--set ${s}`).join(" ")})`,
    dispose: async () => {
      child.kill("SIGTERM");
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, PROFILED_STOP_TIMEOUT_MS)))]);
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await exited;
      }
      if (keptDataDir === undefined) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Fails with one sentence unless the broker serves every (api, version) the benchmark sends. */
export async function checkApiVersions(conn: WireConnection, needs: readonly [ApiDescriptor, number][]): Promise<void> {
  const res = await conn.request(ApiVersionsApi, 3, { clientSoftwareName: "samsa-bench", clientSoftwareVersion: "0" });
  if (res.errorCode !== ErrorCode.NONE) throw new Error(`ApiVersions failed: ${errorInfo(res.errorCode).name}`);
  for (const [api, version] of needs) {
    const served = res.apiKeys.find((k) => k.apiKey === api.apiKey);
    if (served === undefined || version < served.minVersion || version > served.maxVersion) {
      const range = served === undefined ? "not at all" : `versions ${served.minVersion}-${served.maxVersion}`;
      throw new Error(`the broker serves ${api.name} ${range}; this benchmark sends v${version}`);
    }
  }
}

export async function createTopic(conn: WireConnection, name: string, partitions: number): Promise<void> {
  const res = await conn.request(CreateTopicsApi, 7, {
    timeoutMs: 30_000,
    validateOnly: false,
    topics: [{ name, numPartitions: partitions, replicationFactor: 1, assignments: [], configs: [] }],
  });
  const code = res.topics[0]?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR;
  if (code !== ErrorCode.NONE && code !== ErrorCode.TOPIC_ALREADY_EXISTS) {
    throw new Error(`CreateTopics ${name}: ${errorInfo(code).name}`);
  }
}

/** Embedded consumer-protocol data (subscription, assignment): an int16 version, then the struct. */
export function encodeEmbedded<T>(codec: MessageCodec<T>, version: number, value: Encodable<T>): Buffer {
  const w = new Writer();
  w.writeInt16(version);
  codec.encode(w, value, version);
  return w.toBuffer();
}

export function decodeEmbedded<T>(codec: MessageCodec<T>, bytes: Buffer): T {
  const r = new Reader(bytes);
  return codec.decode(r, r.readInt16(`${codec.name}.version`));
}

/** Kernel clock ticks per second for /proc/<pid>/stat (USER_HZ, 100 on every Linux we run on). */
const CLOCK_TICKS_PER_SECOND = 100;

/** User + system CPU time of a process in ms (Linux /proc), or null when unavailable. */
export function processCpuMs(pid: number | null): number | null {
  if (pid === null) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** This process's user + system CPU time in ms. */
export function ownCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

export function loadAverage(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
}

/** Node version, date, CPUs and load: the first lines of every report. */
export function machineLines(): string[] {
  const cpus = os.cpus();
  return [
    `Date: ${new Date().toISOString()}`,
    `Machine: ${cpus[0]?.model ?? "unknown CPU"}, ${cpus.length} CPUs (nproc ${os.availableParallelism()}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; ${os.platform()} ${os.release()}`,
    `Node ${process.version} (V8 ${process.versions.v8})`,
    `Load average (1/5/15 min) at start: ${loadAverage()}`,
  ];
}

export function median(xs: readonly number[]): number {
  return quantile(xs, 0.5);
}

/** Linear-interpolated quantile; NaN for an empty list. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const at = (s.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return s[lo]! + (s[hi]! - s[lo]!) * (at - lo);
}

export function parseList(text: string): number[] {
  return text.split(",").map((s) => {
    const n = Number(s.trim());
    if (!Number.isFinite(n) || n <= 0) throw new Error(`not a positive number: ${s}`);
    return n;
  });
}

/** Thousands separators, no decimals. */
export function int(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "—";
}

export function ms(n: number): string {
  if (!Number.isFinite(n)) return "—";
  return n >= 100 ? `${n.toFixed(0)} ms` : `${n.toFixed(1)} ms`;
}

export function sleep(timeMs: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, timeMs));
}
