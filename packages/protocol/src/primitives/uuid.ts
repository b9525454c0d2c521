import { DecodeError, EncodeError } from "./decode-error.js";

/**
 * Kafka prints a UUID as 22 characters of URL-safe base64 without padding (Uuid.toString);
 * Samsa uses the same form as the typed value, so topic IDs look the same in logs and tools.
 */
export type Uuid = string;

/** The all-zero UUID, Kafka's Uuid.ZERO_UUID: "no topic ID". */
export const ZERO_UUID: Uuid = "AAAAAAAAAAAAAAAAAAAAAA";

export function uuidFromBytes(buf: Buffer, offset: number): Uuid {
  return buf.toString("base64url", offset, offset + 16);
}

export function uuidToBytes(uuid: Uuid, field = "uuid"): Buffer {
  const b = Buffer.from(uuid, "base64url");
  if (b.length !== 16 || uuid.length !== 22)
    throw new EncodeError(field, `"${uuid}" is not a 22-character base64url UUID`);
  return b;
}

/** Parses a UUID typed by a person or read from a file; throws DecodeError when malformed. */
export function parseUuid(text: string): Uuid {
  const b = Buffer.from(text, "base64url");
  if (b.length !== 16 || text.length !== 22)
    throw new DecodeError("uuid", 0, `"${text}" is not a 22-character base64url UUID`);
  return text;
}
