/**
 * Small helpers the generated message codecs call. Kept here, hand-written and tested once,
 * so the generated modules stay short and every array read is bounds-checked the same way.
 */
import { DecodeError, EncodeError } from "./decode-error.js";
import type { RawTaggedField, Reader } from "./reader.js";
import { Writer } from "./writer.js";

/** A value the encoder accepts: every field optional (missing fields take their spec default). */
export type Encodable<T> = T extends Buffer | string | number | bigint | boolean | null | undefined
  ? T
  : T extends readonly (infer U)[]
    ? readonly Encodable<U>[]
    : { [K in keyof T]?: K extends "_unknownTaggedFields" ? T[K] : Encodable<T[K]> };

/** Shared empty byte value; treat decoded Buffers as read-only. */
export const EMPTY_BYTES: Buffer = Buffer.alloc(0);

export type ElementReader<T> = (r: Reader, version: number) => T;
export type ElementWriter<T> = (w: Writer, value: T, version: number) => void;

export function readArray<T>(
  r: Reader,
  field: string,
  flexible: boolean,
  nullable: boolean,
  version: number,
  read: ElementReader<T>,
): T[] | null {
  const n = flexible ? r.readCompactArrayLength(field, nullable) : r.readArrayLength(field, nullable);
  if (n < 0) return null;
  // n was checked against the bytes left, so this allocation is bounded by the input size.
  const out = new Array<T>(n);
  for (let i = 0; i < n; i++) out[i] = read(r, version);
  return out;
}

export function writeArray<T>(
  w: Writer,
  field: string,
  flexible: boolean,
  nullable: boolean,
  version: number,
  items: readonly T[] | null,
  write: ElementWriter<T>,
): void {
  if (items === null) {
    if (!nullable) nullNotAllowed(field, version);
    if (flexible) w.writeUVarint(0);
    else w.writeInt32(-1);
    return;
  }
  if (flexible) w.writeCompactArrayLength(items.length);
  else w.writeArrayLength(items.length);
  for (let i = 0; i < items.length; i++) write(w, items[i], version);
}

/** Reads a nullable struct: an int8 marker (-1 = null, otherwise present) then the struct. */
export function readNullableStruct<T>(r: Reader, field: string, version: number, read: ElementReader<T>): T | null {
  return r.readInt8(field) < 0 ? null : read(r, version);
}

export function failVersion(message: string, version: number, min: number, max: number): never {
  throw new DecodeError("apiVersion", 0, `${message} version ${version} is outside the supported range ${min}-${max}`);
}

export function checkEncodeVersion(message: string, version: number, min: number, max: number): void {
  if (!Number.isInteger(version) || version < min || version > max) {
    throw new EncodeError("apiVersion", `${message} version ${version} is outside the supported range ${min}-${max}`);
  }
}

export function nullNotAllowed(field: string, version: number): never {
  throw new EncodeError(field, `null is not allowed in version ${version}`);
}

export function notInVersion(field: string, version: number): never {
  throw new EncodeError(field, `a non-default value cannot be written in version ${version}, which lacks this field`);
}

/** Serializes one tagged field's value so its size can prefix it. */
export function taggedField(tag: number, write: (w: Writer) => void): RawTaggedField {
  const w = new Writer(64);
  write(w);
  return { tag, data: w.toBuffer() };
}
