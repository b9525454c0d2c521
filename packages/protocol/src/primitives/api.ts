import type { Encodable } from "./generated-support.js";
import type { Reader } from "./reader.js";
import type { Writer } from "./writer.js";

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
