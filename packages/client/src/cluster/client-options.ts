/** Options every client (admin, producer, consumer) takes; the producer and consumer extend them. */
export interface ClientOptions {
  /** "host:port" strings; default ["localhost:9092"]. */
  brokers?: string[];
  /** Sent in every request header; default "samsa-client". */
  clientId?: string;
  /** How long a request may wait for its response; default 30000. */
  requestTimeoutMs?: number;
  /** How long a TCP connect plus the ApiVersions handshake may take; default 10000. */
  connectTimeoutMs?: number;
  /** Retries of retriable failures; default 5 retries, backoff from 100 ms doubling up to 1000 ms. */
  retry?: { retries?: number; initialBackoffMs?: number; maxBackoffMs?: number };
}

/** ClientOptions with every default filled in. */
export type ResolvedClientOptions = Required<ClientOptions> & { retry: Required<NonNullable<ClientOptions["retry"]>> };

export const DEFAULT_CLIENT_ID = "samsa-client";
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000; // Kafka's request.timeout.ms
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000; // Kafka's socket.connection.setup.timeout.ms
export const DEFAULT_RETRIES = 5;
export const DEFAULT_INITIAL_BACKOFF_MS = 100; // Kafka's retry.backoff.ms
export const DEFAULT_MAX_BACKOFF_MS = 1000; // Kafka's retry.backoff.max.ms

/**
 * Fills in the defaults.
 *
 * @example
 * resolveClientOptions({ brokers: ["localhost:9092"] }).requestTimeoutMs // 30000
 */
export function resolveClientOptions(options: ClientOptions = {}): ResolvedClientOptions {
  return {
    brokers: options.brokers && options.brokers.length > 0 ? [...options.brokers] : ["localhost:9092"],
    clientId: options.clientId ?? DEFAULT_CLIENT_ID,
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    retry: {
      retries: options.retry?.retries ?? DEFAULT_RETRIES,
      initialBackoffMs: options.retry?.initialBackoffMs ?? DEFAULT_INITIAL_BACKOFF_MS,
      maxBackoffMs: options.retry?.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS,
    },
  };
}

/**
 * Parses "host:port" (IPv6 as "[::1]:9092").
 *
 * @example
 * parseHostPort("localhost:9092") // { host: "localhost", port: 9092 }
 */
export function parseHostPort(s: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
  if (m === null) throw new Error(`broker address "${s}" is not host:port`);
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`broker address "${s}" has an invalid port`);
  return { host: m[1], port };
}
