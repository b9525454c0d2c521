import type { Encodable } from "./generated-support.js";
import type { Reader } from "./reader.js";
import type { Writer } from "./writer.js";

/**
 * The spec of one field, kept at run time so tools (and the round-trip tests) can walk any
 * message generically. Version sets are written like "0-2, 5-13".
 */
export interface FieldSchema {
  /** Property name in the TypeScript value (Kafka's name in camelCase). */
  readonly name: string;
  /** Kafka's type: a primitive ("int32", "string", "records"...), "[]T", or a struct name. */
  readonly type: string;
  readonly versions: string;
  readonly nullableVersions?: string;
  readonly taggedVersions?: string;
  readonly tag?: number;
  readonly fields?: readonly FieldSchema[];
}

/** Everything a generated message module knows about one message type: its versions and codec. */
export interface MessageCodec<T> {
  readonly name: string;
  readonly minVersion: number;
  readonly maxVersion: number;
  /** Lowest flexible version (compact encodings, tagged fields), or null if none is flexible. */
  readonly flexibleMin: number | null;
  readonly deprecatedVersions: readonly number[];
  /** Kafka marks the newest version unstable while its semantics may still change; brokers don't advertise it. */
  readonly latestVersionUnstable: boolean;
  readonly schema: readonly FieldSchema[];
  encode(w: Writer, value: Encodable<T>, version: number): void;
  decode(r: Reader, version: number): T;
}

/** One Kafka API: its key and the codecs of its request and response. */
export interface ApiDescriptor<Req = unknown, Res = unknown> {
  readonly apiKey: number;
  readonly name: string;
  readonly request: MessageCodec<Req>;
  readonly response: MessageCodec<Res>;
}
