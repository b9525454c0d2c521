/**
 * A single Samsa broker: the logs, the topics over them, the handlers and the listener.
 * `Broker.start` is what `samsa start` runs; tests start it in-process or as a child process.
 */
import { randomBytes } from "node:crypto";
import fsp from "node:fs/promises";
import path from "node:path";
import { type Logger, pino } from "pino";
import type { BrokerConfig } from "./config/broker-config.js";
import { ConfigError } from "./config/config-def.js";
import { DynamicBrokerConfigStore } from "./config/dynamic-broker-config-store.js";
import { logConfigDefaultsFromBroker, logConfigOverrides, TopicConfigStore } from "./config/topic-config.js";
import { GroupCoordinatorService } from "./coordinator/group/group-coordinator-service.js";
import { ProducerIdManager } from "./coordinator/producer-id-manager.js";
import { TransactionCoordinatorService } from "./coordinator/txn/transaction-coordinator-service.js";
import { FetchSessionCache } from "./fetch-session.js";
import type { BrokerContext } from "./handlers/handler.js";
import { HANDLERS } from "./handlers/registry.js";
import type { LogConfig } from "./log/config.js";
import { LogManager } from "./log/log-manager.js";
import { readMetaProperties } from "./log/meta-properties.js";
import type { Connection } from "./network/connection.js";
import { SocketServer } from "./network/socket-server.js";
import { RejectedRequestError, RequestDispatcher } from "./request-dispatcher.js";
import { TopicManager } from "./topics/topic-manager.js";

export interface BrokerStartOptions {
  host: string;
  port: number;
  config: BrokerConfig;
  /** pino level; "silent" for tests. */
  logLevel?: string;
  logger?: Logger;
  /** Injected clock, for tests. */
  nowMs?: () => number;
  /** A frame that starts but never completes closes its connection after this long. */
  partialFrameTimeoutMs?: number;
}

/** Kafka closes a half-sent request after request.timeout.ms-like deadlines; 30 s is Kafka's default request timeout. */
export const DEFAULT_PARTIAL_FRAME_TIMEOUT_MS = 30_000;
const SHUTDOWN_DRAIN_TIMEOUT_MS = 10_000;
/**
 * Unanswered request bytes per connection before reading pauses, when queued.max.request.bytes
 * is -1. Kafka reads one request per connection at a time; we pipeline, so a bound is needed:
 * librdkafka keeps up to a million requests in flight, and 16 MiB keeps a fast producer's backlog
 * (and broker RSS) small without slowing it (bench/broker: 1 KiB produce was faster with it).
 * One frame larger than this is still read whole; reading pauses after it.
 */
const DEFAULT_IN_FLIGHT_BYTES_PER_CONNECTION = 16 * 1024 * 1024;

/**
 * Broker-level log.* configs, as the defaults of every partition log: each topic config's broker
 * synonym (log.retention.ms, else .minutes, else .hours ...), mapped as topic-config.ts maps a
 * topic override.
 */
export function logConfigFromBroker(config: BrokerConfig): Partial<LogConfig> {
  return logConfigDefaultsFromBroker(config);
}

/**
 * mkdir -p without `recursive: true`, which never returns for some paths on Node 20 (e.g. under
 * /proc): find the nearest existing ancestor, then create each missing level.
 */
async function makeDirs(dir: string): Promise<void> {
  const missing: string[] = [];
  let at = dir;
  for (;;) {
    try {
      await fsp.stat(at);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      missing.push(at);
      const parent = path.dirname(at);
      if (parent === at) break;
      at = parent;
    }
  }
  for (const d of missing.reverse()) {
    await fsp.mkdir(d).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== "EEXIST") throw e;
    });
  }
}

async function checkDataDir(dir: string): Promise<void> {
  try {
    await makeDirs(dir);
    const probe = path.join(dir, `.samsa-write-test-${process.pid}`);
    await fsp.writeFile(probe, "");
    await fsp.rm(probe);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new ConfigError("log.dirs", `Data directory ${dir} is not usable (${code}).`);
  }
}

export class Broker {
  private constructor(
    readonly context: BrokerContext,
    readonly port: number,
    private readonly server: SocketServer,
    private readonly logs: LogManager,
    private readonly log: Logger,
  ) {}

  static async start(options: BrokerStartOptions): Promise<Broker> {
    const { config } = options;
    const log = options.logger ?? pino({ level: options.logLevel ?? "info", base: { nodeId: config.int("node.id") } });
    const nowMs = options.nowMs ?? Date.now;
    const dataDir = path.resolve(config.string("log.dirs"));
    await checkDataDir(dataDir);
    const nodeId = config.int("node.id");
    let existing: Awaited<ReturnType<typeof readMetaProperties>>;
    try {
      existing = await readMetaProperties(dataDir);
    } catch (e) {
      throw new ConfigError(
        "log.dirs",
        `${path.join(dataDir, "meta.properties")} is unreadable: ${(e as Error).message}.`,
      );
    }
    if (existing !== null && existing.nodeId !== nodeId) {
      throw new ConfigError(
        "node.id",
        `Data directory ${dataDir} belongs to node ${existing.nodeId}, not node.id=${nodeId}.`,
      );
    }
    const topicConfigs = new TopicConfigStore(dataDir);
    try {
      await topicConfigs.load();
    } catch (e) {
      throw new ConfigError("log.dirs", `Topic configs in ${dataDir} are unreadable: ${(e as Error).message}.`);
    }
    const dynamicConfigs = new DynamicBrokerConfigStore(dataDir);
    try {
      await dynamicConfigs.load(config, log);
    } catch (e) {
      throw new ConfigError("log.dirs", `${dynamicConfigs.file} is unreadable: ${(e as Error).message}.`);
    }
    const logs = await LogManager.open({
      logDir: dataDir,
      // A new data directory starts a new cluster; an existing one keeps its cluster id.
      clusterId: existing?.clusterId ?? randomBytes(16).toString("base64url"),
      nodeId,
      config: logConfigFromBroker(config),
      topicConfig: (topic) => logConfigOverrides(topicConfigs.get(topic)),
      time: { nowMs },
      logger: log,
      recoveryConcurrency: config.int("num.recovery.threads.per.data.dir"),
      producerIdExpirationMs: config.int("producer.id.expiration.ms"),
    });
    logs.startScheduler({
      retentionCheckIntervalMs: config.int("log.retention.check.interval.ms"),
      producerIdExpirationCheckIntervalMs: config.int("producer.id.expiration.check.interval.ms"),
    });
    if (config.bool("log.cleaner.enable") && config.int("log.cleaner.threads") > 0) {
      const cleaner = logs.startCleaner({
        threads: config.int("log.cleaner.threads"),
        backoffMs: config.int("log.cleaner.backoff.ms"),
        dedupeBufferSize: config.int("log.cleaner.dedupe.buffer.size"),
        ioBufferSize: config.int("log.cleaner.io.buffer.size"),
        ioBufferLoadFactor: config.double("log.cleaner.io.buffer.load.factor"),
        ioMaxBytesPerSecond: config.double("log.cleaner.io.max.bytes.per.second"),
      });
      // Dynamic, as in Kafka: the running cleaner threads take the new rate at their next read or write.
      config.onDynamicChange((names) => {
        if (names.includes("log.cleaner.io.max.bytes.per.second"))
          cleaner.updateIoMaxBytesPerSecond(config.double("log.cleaner.io.max.bytes.per.second"));
      });
    }
    const topics = new TopicManager(logs, topicConfigs, log);
    await topics.load();
    const groupCoordinator = await GroupCoordinatorService.start({ topics, config, log, nowMs });
    const producerIds = new ProducerIdManager({ logger: log });
    await producerIds.start(dataDir);
    const transactionCoordinator = await TransactionCoordinatorService.start({
      topics,
      config,
      log,
      nowMs,
      groupCoordinator,
      allocateProducerId: () => producerIds.nextProducerId(),
    });

    const maxFrameBytes = config.int("socket.request.max.bytes");
    const queuedBytes = config.int("queued.max.request.bytes");
    let server: SocketServer | null = null;
    let brokerConfigChanges: Promise<unknown> = Promise.resolve();
    const context: BrokerContext = {
      nodeId,
      clusterId: logs.meta?.clusterId ?? "",
      advertisedHost: options.host,
      advertisedPort: 0,
      config,
      dataDir,
      topics,
      fetchSessions: new FetchSessionCache(),
      groupCoordinator,
      producerIds,
      transactionCoordinator,
      alterBrokerConfigs(scope, overrides) {
        // One change at a time: each persists the whole file.
        const run = brokerConfigChanges.then(async () => {
          const previous = new Map(config.dynamicOverrides(scope));
          config.setDynamic(scope, overrides);
          try {
            await dynamicConfigs.save(config);
          } catch (e) {
            config.setDynamic(scope, previous);
            throw e;
          }
          logs.setDefaultConfig(logConfigFromBroker(config));
          log.info({ scope, configs: Object.fromEntries(overrides) }, "dynamic broker configs altered");
        });
        brokerConfigChanges = run.catch(() => undefined);
        return run;
      },
      log,
      nowMs,
      handlers: HANDLERS,
    };
    const dispatcher = new RequestDispatcher(context);
    server = new SocketServer(
      {
        host: options.host,
        port: options.port,
        maxFrameBytes,
        maxInFlightRequests: config.int("queued.max.requests"),
        maxInFlightBytes: queuedBytes > 0 ? queuedBytes : DEFAULT_IN_FLIGHT_BYTES_PER_CONNECTION,
        idleTimeoutMs: config.int("connections.max.idle.ms"),
        partialFrameTimeoutMs: options.partialFrameTimeoutMs ?? DEFAULT_PARTIAL_FRAME_TIMEOUT_MS,
        nowMs,
        log,
      },
      (frame: Buffer, connection: Connection) => {
        try {
          const result = dispatcher.dispatch(frame, connection);
          if (result instanceof Promise)
            return result.catch((e: unknown) => Promise.reject(reject(log, connection, e)));
          return result;
        } catch (e) {
          throw reject(log, connection, e);
        }
      },
    );
    let port: number;
    try {
      port = await server.listen();
    } catch (e) {
      transactionCoordinator.shutdown();
      groupCoordinator.shutdown();
      await logs.shutdown();
      const code = (e as NodeJS.ErrnoException).code ?? String(e);
      throw new ConfigError("port", `Cannot listen on ${options.host}:${options.port} (${code}).`);
    }
    (context as { advertisedPort: number }).advertisedPort = port;
    log.info(
      { host: options.host, port, dataDir, clusterId: context.clusterId, topics: topics.all().length },
      "samsa broker started",
    );
    return new Broker(context, port, server, logs, log);
  }

  /** Clean shutdown: stop accepting, answer what was received, flush, write the clean-shutdown marker. */
  async stop(): Promise<void> {
    this.log.info("samsa broker stopping");
    // Pending joins and syncs are answered first, so the drain below does not wait for rebalances.
    this.context.groupCoordinator.shutdown();
    this.context.transactionCoordinator?.shutdown();
    await this.server.close(SHUTDOWN_DRAIN_TIMEOUT_MS);
    await this.context.producerIds.close();
    await this.logs.shutdown();
    this.log.info("samsa broker stopped");
  }
}

/** Logs why a request closes its connection; a bug (not a client's bad bytes) is logged loudly. */
function reject(log: Logger, connection: Connection, e: unknown): Error {
  if (e instanceof RejectedRequestError) {
    log.info({ remote: connection.remote, reason: e.message }, "closing connection: bad request");
  } else {
    log.error({ remote: connection.remote, err: e }, "request failed: closing connection");
  }
  return e instanceof Error ? e : new Error(String(e));
}
