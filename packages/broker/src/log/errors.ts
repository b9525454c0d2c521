/**
 * Typed errors of the log layer. Each carries the Kafka error code a handler puts on the wire, so
 * the produce/fetch handlers map them without knowing the storage internals.
 *
 * The codes are Kafka's (org.apache.kafka.common.protocol.Errors); they are repeated here rather
 * than imported because `@samsa/protocol` does not export its error table from the package root
 * yet. When it does, these classes should extend its `KafkaError`.
 */
export const STORAGE_ERROR_CODES = {
  OFFSET_OUT_OF_RANGE: 1,
  CORRUPT_MESSAGE: 2,
  MESSAGE_TOO_LARGE: 10,
  RECORD_LIST_TOO_LARGE: 18,
  KAFKA_STORAGE_ERROR: 56,
  INVALID_RECORD: 87,
} as const;

export type StorageErrorName = keyof typeof STORAGE_ERROR_CODES;

/** Base class: a log failure with the Kafka error code for the response. */
export class LogError extends Error {
  readonly code: number;
  readonly errorName: StorageErrorName;
  readonly retriable: boolean;

  constructor(errorName: StorageErrorName, message: string, retriable: boolean, options?: ErrorOptions) {
    super(message, options);
    this.errorName = errorName;
    this.code = STORAGE_ERROR_CODES[errorName];
    this.retriable = retriable;
  }
}

/**
 * KAFKA_STORAGE_ERROR: the partition's directory failed an I/O (disk full, EIO, unreadable at
 * startup) and the partition is offline or the append was refused. Retriable, as in Kafka: the
 * client refreshes metadata and retries, possibly against a new leader.
 */
export class KafkaStorageError extends LogError {
  override readonly name = "KafkaStorageError";
  constructor(message: string, options?: ErrorOptions) {
    super("KAFKA_STORAGE_ERROR", message, true, options);
  }
}

/** OFFSET_OUT_OF_RANGE: a read below the log start offset or above the log end offset. */
export class OffsetOutOfRangeError extends LogError {
  override readonly name = "OffsetOutOfRangeError";
  constructor(message: string) {
    super("OFFSET_OUT_OF_RANGE", message, false);
  }
}

/** CORRUPT_MESSAGE: an appended batch failed its CRC or has an impossible length. */
export class CorruptRecordError extends LogError {
  override readonly name = "CorruptRecordError";
  constructor(message: string, options?: ErrorOptions) {
    super("CORRUPT_MESSAGE", message, true, options);
  }
}

/** INVALID_RECORD: a batch the log refuses to store (wrong magic, offsets going backwards on a follower append). */
export class InvalidRecordError extends LogError {
  override readonly name = "InvalidRecordError";
  constructor(message: string) {
    super("INVALID_RECORD", message, false);
  }
}

/** MESSAGE_TOO_LARGE: one batch is larger than `max.message.bytes`. */
export class MessageTooLargeError extends LogError {
  override readonly name = "MessageTooLargeError";
  constructor(message: string) {
    super("MESSAGE_TOO_LARGE", message, false);
  }
}

/** RECORD_LIST_TOO_LARGE: one append is larger than a whole segment (`segment.bytes`). */
export class RecordBatchTooLargeError extends LogError {
  override readonly name = "RecordBatchTooLargeError";
  constructor(message: string) {
    super("RECORD_LIST_TOO_LARGE", message, false);
  }
}

/**
 * An index file that fails its sanity check. Never reaches a client: the loader catches it,
 * deletes the index and rebuilds it from the segment (Kafka's CorruptIndexException).
 */
export class CorruptIndexError extends Error {
  override readonly name = "CorruptIndexError";
}

/** A checkpoint file that cannot be parsed. The loader rebuilds what it described, with a warning. */
export class CorruptCheckpointError extends Error {
  override readonly name = "CorruptCheckpointError";
}
