/**
 * `samsa start`: one broker (node 0) in the foreground until SIGTERM or SIGINT, which shut it
 * down cleanly: stop accepting, answer what was received, flush, mark the clean shutdown.
 */
import { Broker, BrokerConfig, ConfigError } from "@samsa/broker";
import { type Command, InvalidArgumentError, Option } from "commander";
import { parsePort } from "../main.js";

interface StartOptions {
  host: string;
  port: number;
  dataDir?: string;
  config?: string;
  set: string[];
  logLevel: string;
  partialFrameTimeoutMs?: number;
}

/**
 * Hidden from --help: how long a request frame may take to arrive in full before its connection
 * is closed (default 30 s). Tests of slow partial frames lower it; it is not a Kafka config.
 */
const partialFrameTimeoutOption = new Option(
  "--partial-frame-timeout-ms <ms>",
  "close a half-sent request after this long",
)
  .argParser(parsePositiveInt)
  .hideHelp();

function parsePositiveInt(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`"${text}" is not a positive whole number.`);
  return n;
}

export function startCommand(program: Command): void {
  program
    .command("start")
    .description("Run a single Samsa broker in the foreground.")
    .option("--host <host>", "address to listen on (and advertise)", "127.0.0.1")
    .option("--port <port>", "port to listen on", parsePort, 9092)
    .option("--data-dir <dir>", "directory for the logs (log.dirs; default ./samsa-data)")
    .option("--config <file>", "a server.properties file with Kafka broker configs")
    .option("--set <key=value>", "set a broker config (repeatable)", (v: string, all: string[]) => [...all, v], [])
    .option("--log-level <level>", "fatal, error, warn, info, debug or trace", "info")
    .addOption(partialFrameTimeoutOption)
    .action(async (opts: StartOptions) => {
      let config: BrokerConfig;
      try {
        config = await BrokerConfig.load(opts.config ?? null, [
          ...(opts.dataDir === undefined ? [] : [`log.dirs=${opts.dataDir}`]),
          ...opts.set,
        ]);
      } catch (e) {
        if (e instanceof ConfigError) throw new Error(e.message);
        throw e;
      }
      const broker = await Broker.start({
        host: opts.host,
        port: opts.port,
        config,
        logLevel: opts.logLevel,
        partialFrameTimeoutMs: opts.partialFrameTimeoutMs,
      });
      await new Promise<void>((resolve) => {
        let stopping = false;
        const stop = () => {
          if (stopping) return;
          stopping = true;
          broker.stop().then(resolve, resolve);
        };
        process.once("SIGTERM", stop);
        process.once("SIGINT", stop);
      });
    });
}
