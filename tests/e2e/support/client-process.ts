/**
 * A long-running client program (a consumer-group member in Python or Go) that prints one JSON
 * object per line on stdout and takes commands on stdin, one a line. Tests await conditions over
 * the events it printed (never a fixed sleep), and stop it by its PID only: a command such as
 * "close" and awaiting the exit (a clean shutdown), or SIGKILL (a crash).
 */
import { type ChildProcess, spawn } from "node:child_process";

/** Output kept for failure messages. */
const TAIL_CHARS = 4000;

export interface ClientEvent {
  event: string;
  [key: string]: unknown;
}

type Exit = { code: number | null; signal: NodeJS.Signals | null };

/** Every child started here, so a test process that dies still kills its clients (by PID). */
const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of live) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

export class ClientProcess<E extends ClientEvent = ClientEvent> {
  readonly events: E[] = [];
  private stdout = "";
  private stderr = "";
  private exitStatus: Exit | null = null;
  private readonly exited: Promise<Exit>;
  private readonly waiters = new Set<() => void>();

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    live.add(child);
    this.exited = new Promise((resolve) => {
      child.once("close", (code, signal) => {
        live.delete(child);
        this.exitStatus = { code, signal };
        resolve(this.exitStatus);
        this.wake();
      });
    });
    let buffered = "";
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (chunk: string) => {
      this.stdout += chunk;
      buffered += chunk;
      for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (line.startsWith("{")) this.events.push(JSON.parse(line) as E);
      }
      this.wake();
    });
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (chunk: string) => {
      this.stderr += chunk;
    });
    child.stdin!.on("error", () => {}); // a client that already exited
  }

  /** Starts `command args`; `name` labels it in failure messages. */
  static spawn<E extends ClientEvent = ClientEvent>(
    name: string,
    command: string,
    args: readonly string[],
    options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
  ): ClientProcess<E> {
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ["pipe", "pipe", "pipe"],
    });
    return new ClientProcess<E>(name, child);
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.exitStatus === null;
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Calls `listener` after every new event and on exit; returns the unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.waiters.add(listener);
    return () => this.waiters.delete(listener);
  }

  /**
   * Resolves with the first non-undefined value `check` returns, checked now and after every new
   * event; rejects (with the client's output) on timeout, or if the client exits first.
   */
  waitFor<T>(check: (events: E[]) => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        this.waiters.delete(poll);
        clearTimeout(timer);
      };
      const poll = () => {
        let value: T | undefined;
        try {
          value = check(this.events);
        } catch (e) {
          done();
          reject(e);
          return;
        }
        if (value !== undefined) {
          done();
          resolve(value);
        } else if (this.exitStatus !== null) {
          done();
          reject(new Error(`${this.name} exited (${this.describeExit()}) before ${what}\n${this.tail()}`));
        }
      };
      timer = setTimeout(() => {
        done();
        reject(new Error(`${this.name}: not ${what} within ${timeoutMs} ms\n${this.tail()}`));
      }, timeoutMs);
      this.waiters.add(poll);
      poll();
    });
  }

  /** Waits for an event that matches, counting only events at index `from` or later. */
  waitForEvent(match: (e: E) => boolean, timeoutMs: number, what: string, from = 0): Promise<E> {
    return this.waitFor((events) => events.slice(from).find(match), timeoutMs, what);
  }

  /** Writes one command line to the client's stdin. */
  send(command: string): void {
    this.child.stdin!.write(`${command}\n`);
  }

  /** Sends a command that makes the client exit (e.g. "close") and awaits a clean exit. */
  async close(command: string, timeoutMs: number): Promise<void> {
    if (this.exitStatus !== null) return;
    this.send(command);
    let timer: NodeJS.Timeout | undefined;
    const status = await Promise.race([
      this.exited,
      new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (status === null) {
      await this.kill();
      throw new Error(`${this.name} did not exit within ${timeoutMs} ms of "${command}"\n${this.tail()}`);
    }
    if (status.code !== 0) throw new Error(`${this.name} exited with ${this.describeExit()}\n${this.tail()}`);
  }

  /** Crash: SIGKILL, then await the exit. */
  async kill(): Promise<void> {
    if (this.exitStatus !== null) return;
    this.child.kill("SIGKILL");
    await this.exited;
  }

  private describeExit(): string {
    return this.exitStatus === null ? "running" : `code ${this.exitStatus.code}, signal ${this.exitStatus.signal}`;
  }

  /** The end of its stdout and stderr, for assertion messages. */
  tail(): string {
    return `--- ${this.name} (pid ${this.child.pid}) stdout ---\n${this.stdout.slice(-TAIL_CHARS)}\n--- stderr ---\n${this.stderr.slice(-TAIL_CHARS)}`;
  }
}
