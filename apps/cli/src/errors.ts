/**
 * How the CLI's failures read: one sentence naming what was wrong and, where it helps, what to
 * do. Commands throw UserError for what the user can fix; client errors are translated here.
 */
import { ConnectionError, ErrorCode, KafkaError, TimeoutError } from "@samsa/client";

/** Thrown for problems the user can fix; printed as its message alone. */
export class UserError extends Error {
  override readonly name = "UserError";
}

/** The errno code (ECONNREFUSED, ENOTFOUND ...) somewhere in an error's cause chain, if any. */
function errnoCode(e: unknown): string | null {
  for (let cur: unknown = e, depth = 0; cur instanceof Error && depth < 5; cur = cur.cause, depth++) {
    const code = (cur as NodeJS.ErrnoException).code;
    if (typeof code === "string" && /^E[A-Z]+$/.test(code)) return code;
    const inMessage = /\b(E[A-Z]{3,})\b/.exec(cur.message);
    if (inMessage !== null) return inMessage[1];
  }
  return null;
}

/** The first ConnectionError in the cause chain (the client may wrap it after its retries). */
function connectionError(e: unknown): ConnectionError | null {
  for (let cur: unknown = e, depth = 0; cur instanceof Error && depth < 5; cur = cur.cause, depth++) {
    if (cur instanceof ConnectionError) return cur;
  }
  return null;
}

/** One sentence for any error a command throws. */
export function describeError(e: unknown): string {
  if (e instanceof UserError) return e.message;
  const connection = connectionError(e);
  if (connection !== null) {
    const why = errnoCode(connection) ?? connection.message.replace(`${connection.host}:${connection.port}: `, "");
    return `Cannot reach a broker at ${connection.host}:${connection.port} (${why}).`;
  }
  if (e instanceof TimeoutError) return `The broker did not answer in time (${e.message.replace(/\.$/, "")}).`;
  if (e instanceof KafkaError) {
    if (e.code === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION) return "The topic or partition does not exist.";
    return `The broker refused the request: ${e.message.replace(/\.$/, "")} (${e.errorName}).`;
  }
  if (e instanceof Error) return e.message;
  return String(e);
}

/** Whether `e` is a KafkaError with one of these codes. */
export function isKafkaError(e: unknown, ...codes: number[]): e is KafkaError {
  return e instanceof KafkaError && codes.includes(e.code);
}
