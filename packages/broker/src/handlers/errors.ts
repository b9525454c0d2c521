/** Maps whatever a handler caught to the Kafka error code that goes on the wire. */
import { ErrorCode, KafkaError } from "@samsa/protocol";
import type { Logger } from "pino";

export function errorCodeOf(e: unknown, log?: Logger): number {
  if (e instanceof KafkaError) return e.code;
  // Anything else is a bug on our side: say so in the log, tell the client only "unknown".
  log?.error({ err: e }, "unexpected error while handling a request");
  return ErrorCode.UNKNOWN_SERVER_ERROR;
}

export function errorMessageOf(e: unknown): string | null {
  return e instanceof KafkaError ? e.message : null;
}
