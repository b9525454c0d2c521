/**
 * The errors the client throws. Kafka error codes travel as `KafkaError` (from the protocol
 * package, so broker and client agree on names and retriability); socket failures and timeouts get
 * their own classes because they have no Kafka code but are retriable all the same.
 */
export { ErrorCode, isRetriable, KafkaError } from "@samsa/protocol";

/** The socket to a broker failed or closed; every request in flight on it fails with this. Retriable. */
export class ConnectionError extends Error {
  override readonly name: string = "ConnectionError";
  readonly host: string;
  readonly port: number;

  constructor(host: string, port: number, message: string, options?: ErrorOptions) {
    super(`${host}:${port}: ${message}`, options);
    this.host = host;
    this.port = port;
  }
}

/** A request got no response within its timeout. Retriable (the request may or may not have been applied). */
export class TimeoutError extends Error {
  override readonly name: string = "TimeoutError";
}
