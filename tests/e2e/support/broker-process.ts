/**
 * A real `samsa start` child process on a random loopback port, for end-to-end tests.
 *
 * The broker binds port 0 and logs `{"msg":"samsa broker started","port":N}`; we wait for that line
 * (never a fixed sleep), keep every log line for failure messages, and stop the process we started
 * by its PID only: SIGTERM and await its exit (a clean shutdown), or SIGKILL (a crash). `restart`
 * starts a new process on the same data directory and, when it can, the same port.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const CLI_ENTRY = path.join(REPO_ROOT, "apps/cli/src/run.ts");

/** tsx compiles the CLI on first start; 2 loaded cores make that slow, so the bound is generous. */
const START_TIMEOUT_MS = 30_000;
/** A clean shutdown flushes and writes checkpoints; it is quick for test-sized logs. */
const STOP_TIMEOUT_MS = 20_000;
/** Lines of log kept for failure messages. */
const LOG_TAIL_LINES = 60;

export interface BrokerProcessOptions {
  /** Reuse a data directory (restart); by default a new temp dir, removed by `dispose`. */
  dataDir?: string;
  /** Broker configs, `key=value`, passed as `--set`. */
  set?: string[];
  /** pino level; "debug" logs one line per request (api, version), which coverage tests read. */
  logLevel?: string;
  /** The hidden `--partial-frame-timeout-ms` option (default 30 s in the broker). */
  partialFrameTimeoutMs?: number;
  /** Port to bind; 0 (a random free port) by default. */
  port?: number;
}

export interface LogLine {
  msg?: string;
  level?: number;
  [key: string]: unknown;
}

/** Every child started here, so a test process that dies still kills its brokers (by PID). */
const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of live) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

export class BrokerProcess {
  readonly lines: LogLine[] = [];
  /** Non-JSON output (stderr, CLI errors), kept verbatim. */
  readonly rawOutput: string[] = [];
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private exitStatus: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private readonly lineWaiters: { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];

  private constructor(
    private readonly child: ChildProcess,
    readonly dataDir: string,
    private ownsDataDir: boolean,
    readonly options: BrokerProcessOptions,
  ) {
    live.add(child);
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        live.delete(child);
        this.exitStatus = { code, signal };
        resolve({ code, signal });
      });
    });
    let buffered = "";
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (chunk: string) => {
      buffered += chunk;
      for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
        this.onLine(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
      }
    });
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (chunk: string) => this.rawOutput.push(chunk));
  }

  /** Starts a broker and resolves once it listens; rejects (with its output) if it exits first or hangs. */
  static async start(options: BrokerProcessOptions = {}): Promise<BrokerProcess> {
    const ownsDataDir = options.dataDir === undefined;
    const dataDir = options.dataDir ?? (await mkdtemp(path.join(tmpdir(), "samsa-e2e-")));
    const args = [
      "--conditions=samsa-source",
      "--import",
      "tsx",
      CLI_ENTRY,
      "start",
      "--host",
      "127.0.0.1",
      "--port",
      String(options.port ?? 0),
      "--data-dir",
      dataDir,
      "--log-level",
      options.logLevel ?? "info",
    ];
    if (options.partialFrameTimeoutMs !== undefined) {
      args.push("--partial-frame-timeout-ms", String(options.partialFrameTimeoutMs));
    }
    for (const kv of options.set ?? []) args.push("--set", kv);
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] });
    const broker = new BrokerProcess(child, dataDir, ownsDataDir, options);
    try {
      await broker.waitForLine((l) => l.msg === "samsa broker started", START_TIMEOUT_MS, "to start");
    } catch (e) {
      await broker.kill();
      if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
      throw e;
    }
    return broker;
  }

  get pid(): number {
    return this.child.pid!;
  }

  get port(): number {
    const started = this.lines.find((l) => l.msg === "samsa broker started");
    return started?.port as number;
  }

  /** `host:port`, for clients' bootstrap servers. */
  get bootstrap(): string {
    return `127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.exitStatus === null;
  }

  private onLine(text: string): void {
    if (text.trim() === "") return;
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      this.rawOutput.push(`${text}\n`);
      return;
    }
    this.lines.push(line);
    for (let i = this.lineWaiters.length - 1; i >= 0; i--) {
      if (this.lineWaiters[i].match(line)) this.lineWaiters.splice(i, 1)[0].resolve(line);
    }
  }

  /** Resolves with the first log line (already logged or future) that matches. */
  async waitForLine(match: (l: LogLine) => boolean, timeoutMs: number, what: string): Promise<LogLine> {
    const seen = this.lines.find(match);
    if (seen !== undefined) return seen;
    let waiter: { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void } | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        new Promise<LogLine>((resolve) => {
          waiter = { match, resolve };
          this.lineWaiters.push(waiter);
        }),
        this.exited.then(({ code, signal }) => {
          throw new Error(`broker exited (code ${code}, signal ${signal}) before ${what}\n${this.logTail()}`);
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`broker did not log a line ${what} within ${timeoutMs} ms\n${this.logTail()}`)),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
      if (waiter !== undefined) {
        const i = this.lineWaiters.indexOf(waiter);
        if (i >= 0) this.lineWaiters.splice(i, 1);
      }
    }
  }

  /** The last log lines and any stderr, for an assertion message. */
  logTail(lines = LOG_TAIL_LINES): string {
    const json = this.lines.slice(-lines).map((l) => JSON.stringify(l));
    const raw = this.rawOutput.join("").trim();
    return `--- broker log (pid ${this.child.pid}, data dir ${this.dataDir}) ---\n${json.join("\n")}${raw === "" ? "" : `\n--- stderr ---\n${raw}`}`;
  }

  /** Clean shutdown: SIGTERM, then wait for exit; fails (after a SIGKILL) if it does not exit in time. */
  async stop(timeoutMs = STOP_TIMEOUT_MS): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.exitStatus !== null) return this.exitStatus;
    this.child.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), timeoutMs);
    });
    const status = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    if (status === null) {
      await this.kill();
      throw new Error(`broker did not exit within ${timeoutMs} ms of SIGTERM\n${this.logTail()}`);
    }
    return status;
  }

  /** Crash: SIGKILL, then wait for the exit. */
  async kill(): Promise<void> {
    if (this.exitStatus !== null) return;
    this.child.kill("SIGKILL");
    await this.exited;
  }

  /** A new broker process on the same data directory (and the same port if it is still free). */
  async restart(overrides: BrokerProcessOptions = {}): Promise<BrokerProcess> {
    if (this.running) throw new Error("restart: stop or kill the broker first");
    const options = { ...this.options, ...overrides, dataDir: this.dataDir };
    let next: BrokerProcess;
    try {
      next = await BrokerProcess.start({ ...options, port: this.port });
    } catch {
      next = await BrokerProcess.start({ ...options, port: 0 });
    }
    // The new process owns the temp dir now, so disposing of it removes the directory.
    next.ownsDataDir = this.ownsDataDir;
    this.ownsDataDir = false;
    return next;
  }

  /** Kills the process if it still runs and removes the temp data dir this helper created. */
  async dispose(): Promise<void> {
    await this.kill();
    if (this.ownsDataDir) await rm(this.dataDir, { recursive: true, force: true });
  }

  /** The (api, version) pairs of every request logged (needs logLevel "debug"). */
  requestVersions(): { api: string; apiKey: number; apiVersion: number; clientId: string | null }[] {
    return this.lines
      .filter((l) => l.msg === "request")
      .map((l) => ({
        api: l.api as string,
        apiKey: l.apiKey as number,
        apiVersion: l.apiVersion as number,
        clientId: (l.clientId as string | null) ?? null,
      }));
  }
}
