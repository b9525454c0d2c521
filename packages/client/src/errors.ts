/**
 * The errors the client throws. Kafka error codes travel as `KafkaError` (from the protocol
 * package, so broker and client agree on names and retriability): `code`, `errorName` and
 * `retriable` tell a caller what happened and whether trying again can help. Socket failures and
 * timeouts get their own classes because they have no Kafka code, but they carry `retriable` too,
 * so one check covers every error the client throws.
 */
export { ErrorCode, isRetriable, KafkaError } from "@samsa/protocol";

/**
 * The socket to a broker failed or closed; every request in flight on it fails with this. Retriable.
 *
 * @example
 * try {
 *   await admin.listTopics();
 * } catch (err) {
 *   if (err instanceof ConnectionError) console.error(`${err.host}:${err.port} is unreachable`, err.retriable); // true
 * }
 */
export class ConnectionError extends Error {
  override readonly name: string = "ConnectionError";
  readonly host: string;
  readonly port: number;
  /** Always true: the client retries these within its retry budget; so may the caller. */
  readonly retriable: boolean = true;

  constructor(host: string, port: number, message: string, options?: ErrorOptions) {
    super(`${host}:${port}: ${message}`, options);
    this.host = host;
    this.port = port;
  }
}

/**
 * A request got no response within its timeout. Retriable (the request may or may not have been applied).
 *
 * @example
 * try {
 *   await producer.send("orders", { value: "x" });
 * } catch (err) {
 *   if (err instanceof TimeoutError) console.error("not acknowledged in time", err.retriable); // true
 * }
 */
export class TimeoutError extends Error {
  override readonly name: string = "TimeoutError";
  /** Always true: a later attempt may succeed (an idempotent producer's retry cannot duplicate). */
  readonly retriable: boolean = true;
}
