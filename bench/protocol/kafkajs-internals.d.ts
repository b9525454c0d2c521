/**
 * Minimal types for the KafkaJS 2.2.4 internals the codec benchmark drives. KafkaJS ships types
 * only for its public client API; these modules are untyped CommonJS, imported from ESM (their
 * `module.exports` becomes the default export). Only what the benchmark calls is declared.
 */

declare module "kafkajs/src/protocol/encoder.js" {
  /** Growable big-endian writer; every write, nested encoders included, copies into its one Buffer. */
  export default class Encoder {
    constructor(initialSize?: number);
    /** The bytes written so far (a view of the internal buffer). */
    readonly buffer: Buffer;
    size(): number;
    writeInt8(value: number): this;
    writeInt16(value: number): this;
    writeInt32(value: number): this;
    writeUInt32(value: number): this;
    /** Accepts what KafkaJS's Long.fromValue accepts. */
    writeInt64(value: number | string | bigint): this;
    writeString(value: string | null): this;
    writeBytes(value: Buffer | string | null): this;
    writeArray(
      array: readonly (Encoder | number | string)[],
      type?: "int32" | "number" | "string" | "object",
      length?: number,
    ): this;
    writeEncoder(value: Encoder): this;
  }
}

declare module "kafkajs/src/protocol/decoder.js" {
  /** Cursor over a Buffer; byte fields come back as views (Buffer.slice). No bounds checks. */
  export default class Decoder {
    constructor(buffer: Buffer);
    buffer: Buffer;
    offset: number;
    readInt8(): number;
    readInt16(): number;
    readInt32(): number;
    readInt64(): bigint;
    readString(): string | null;
    /** Reads an int32 length and that many bytes when no length is given; null for length -1. */
    readBytes(byteLength?: number): Buffer | null;
    readAll(): Buffer;
    readArray<T>(reader: (decoder: Decoder) => T): T[];
    canReadBytes(length: number): boolean;
  }
}

declare module "kafkajs/src/protocol/request.js" {
  import type Encoder from "kafkajs/src/protocol/encoder.js";

  export interface KafkaJSRequest {
    apiKey: number;
    apiVersion: number;
    apiName?: string;
    encode(): Promise<Encoder> | Encoder;
  }

  /** Prefixes the encoded request with its header and size, as Connection.send does before socket.write. */
  export default function createRequest(args: {
    correlationId: number;
    clientId: string;
    request: KafkaJSRequest;
  }): Promise<Encoder>;
}

declare module "kafkajs/src/protocol/requests/produce/v7/request.js" {
  import type { KafkaJSRequest } from "kafkajs/src/protocol/request.js";

  export interface KafkaJSProduceMessage {
    key: Buffer | string | null;
    value: Buffer | string | null;
    timestamp?: number;
    headers?: Record<string, Buffer | string>;
  }

  export interface KafkaJSProduceTopicData {
    topic: string;
    partitions: { partition: number; firstSequence?: number; messages: KafkaJSProduceMessage[] }[];
  }

  /** Builds the request object; its encode() builds every record batch from the messages. */
  export default function produceRequestV7(args: {
    acks: number;
    timeout: number;
    transactionalId?: string | null;
    compression?: number;
    topicData: KafkaJSProduceTopicData[];
  }): KafkaJSRequest & { expectResponse(): boolean };
}

declare module "kafkajs/src/protocol/recordBatch/record/v0/index.js" {
  import type Encoder from "kafkajs/src/protocol/encoder.js";

  /** Encodes one record (length-prefixed, varint fields) of a magic-2 batch. */
  export default function Record(args: {
    offsetDelta?: number;
    timestampDelta?: number;
    key: Buffer | string | null;
    value: Buffer | string | null;
    headers?: Record<string, Buffer | string>;
  }): Encoder;
}

declare module "kafkajs/src/protocol/recordBatch/v0/index.js" {
  import type Encoder from "kafkajs/src/protocol/encoder.js";

  const recordBatchV0: {
    MAGIC_BYTE: number;
    /** Encodes a whole magic-2 batch (baseOffset and batchLength included), computing the CRC32C. */
    RecordBatch(args: {
      compression?: number;
      firstOffset?: number | string | bigint;
      firstTimestamp?: number;
      maxTimestamp?: number;
      partitionLeaderEpoch?: number;
      lastOffsetDelta?: number;
      transactional?: boolean;
      producerEpoch?: number;
      firstSequence?: number;
      records?: Encoder[];
    }): Promise<Encoder>;
  };
  export default recordBatchV0;
}

declare module "kafkajs/src/protocol/recordBatch/v0/decoder.js" {
  import type Decoder from "kafkajs/src/protocol/decoder.js";

  export interface KafkaJSDecodedRecord {
    offset: string;
    timestamp: string;
    key: Buffer | null;
    value: Buffer | null;
    headers: Record<string, Buffer | Buffer[]>;
  }

  export interface KafkaJSDecodedBatch {
    firstOffset: string;
    lastOffsetDelta: number;
    records: KafkaJSDecodedRecord[];
  }

  /** Decodes the whole batch at the decoder's position (every record), advancing past it. */
  export default function decodeRecordBatch(decoder: Decoder): Promise<KafkaJSDecodedBatch>;
}

declare module "kafkajs/src/protocol/requests/fetch/v11/response.js" {
  import type { KafkaJSDecodedRecord } from "kafkajs/src/protocol/recordBatch/v0/decoder.js";

  export interface KafkaJSFetchV11Partition {
    partition: number;
    errorCode: number;
    highWatermark: string;
    messages: KafkaJSDecodedRecord[];
  }

  export interface KafkaJSFetchV11Response {
    errorCode: number;
    sessionId: number;
    responses: { topicName: string; partitions: KafkaJSFetchV11Partition[] }[];
  }

  const fetchResponseV11: {
    /** Decodes the payload after the correlation id, record batches included (into records). */
    decode(rawData: Buffer): Promise<KafkaJSFetchV11Response>;
  };
  export default fetchResponseV11;
}
