/**
 * Runs a client program (kcat, python3, go) to completion with a bounded time, and helpers for
 * locating the client binaries the tests need.
 */
import { spawn, spawnSync } from "node:child_process";

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string | Buffer;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Called with each stdout chunk as it arrives (for drivers that report progress). */
  onStdout?: (chunk: string) => void;
}

const DEFAULT_TIMEOUT_MS = 60_000;

/** Runs a command; on timeout it kills the process it started (by PID) and rejects with its output. */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stdout.on("data", (c: string) => {
      stdout += c;
      options.onStdout?.(c);
    });
    child.stderr.on("data", (c: string) => (stderr += c));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(
          `${command} ${args.join(" ")} did not finish within ${timeoutMs} ms\n--- stdout ---\n${stdout.slice(-4000)}\n--- stderr ---\n${stderr.slice(-4000)}`,
        ),
      );
    }, timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.on("error", () => {}); // a client that exits without reading its input
    child.stdin.end(options.input ?? "");
  });
}

/** Like `run`, but rejects unless the command exits 0. */
export async function runOk(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const r = await run(command, args, options);
  if (r.code !== 0) {
    throw new Error(
      `${command} ${args.join(" ")} exited with ${r.code ?? r.signal}\n--- stdout ---\n${r.stdout.slice(-4000)}\n--- stderr ---\n${r.stderr.slice(-4000)}`,
    );
  }
  return r;
}

/** Debian's python, which has python3-confluent-kafka and python3-kafka (a pyenv python on PATH does not). */
export const PYTHON = "/usr/bin/python3";

/** Why a client is unusable here, or null when it is installed (`scripts/install-test-deps.sh`). */
export function missingClient(name: "kcat" | "python-confluent-kafka" | "python-kafka" | "go-sarama"): string | null {
  const probe = (cmd: string, args: string[], env?: NodeJS.ProcessEnv) => {
    const r = spawnSync(cmd, args, { encoding: "utf8", env: env ?? process.env, timeout: 30_000 });
    return r.status === 0 ? null : `${cmd} ${args.join(" ")}: ${r.error?.message ?? r.stderr.trim()}`;
  };
  switch (name) {
    case "kcat":
      return probe("kcat", ["-V"]);
    case "python-confluent-kafka":
      return probe(PYTHON, ["-c", "import confluent_kafka"]);
    case "python-kafka":
      return probe(PYTHON, ["-c", "import kafka"]);
    case "go-sarama":
      return probe("go", ["list", "github.com/Shopify/sarama"], { ...process.env, ...SARAMA_ENV });
  }
}

/** Debian's sarama lives in GOPATH, not in a module. */
export const SARAMA_ENV: NodeJS.ProcessEnv = {
  GO111MODULE: "off",
  GOPATH: "/usr/share/gocode",
};

/**
 * The e2e tests need the real clients; `npm test` installs them first. When run by hand without
 * them, a test fails with this message rather than silently passing.
 */
export function requireClient(name: Parameters<typeof missingClient>[0]): void {
  const why = missingClient(name);
  if (why !== null) throw new Error(`${name} is not installed (run: bash scripts/install-test-deps.sh): ${why}`);
}
