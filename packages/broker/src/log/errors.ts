/**
 * Typed errors of the log layer. Each is a KafkaError carrying the code a handler puts on the
 * wire (and Kafka's retriable flag for it), so handlers map them without knowing storage internals.
 */
import { ErrorCode, KafkaError } from "@samsa/protocol";

/** Base class: a log failure with the Kafka error code for the response. */
export class LogError extends KafkaError {}

/**
 * KAFKA_STORAGE_ERROR: the partition's directory failed an I/O (disk full, EIO, unreadable at
 * startup) and the partition is offline or the append was refused. Retriable, as in Kafka: the
 * client refreshes metadata and retries, possibly against a new leader.
 */
export class KafkaStorageError extends LogError {
  override readonly name = "KafkaStorageError";
  constructor(message: string, options?: ErrorOptions) {
    super(ErrorCode.KAFKA_STORAGE_ERROR, message, options);
  }
}

/** OFFSET_OUT_OF_RANGE: a read below the log start offset or above the log end offset. */
export class OffsetOutOfRangeError extends LogError {
  override readonly name = "OffsetOutOfRangeError";
  constructor(message: string) {
    super(ErrorCode.OFFSET_OUT_OF_RANGE, message);
  }
}

/** CORRUPT_MESSAGE: an appended batch failed its CRC or has an impossible length. */
export class CorruptRecordError extends LogError {
  override readonly name = "CorruptRecordError";
  constructor(message: string, options?: ErrorOptions) {
    super(ErrorCode.CORRUPT_MESSAGE, message, options);
  }
}

/** INVALID_RECORD: a batch the log refuses to store (wrong magic, offsets going backwards on a follower append). */
export class InvalidRecordError extends LogError {
  override readonly name = "InvalidRecordError";
  constructor(message: string) {
    super(ErrorCode.INVALID_RECORD, message);
  }
}

/** MESSAGE_TOO_LARGE: one batch is larger than `max.message.bytes`. */
export class MessageTooLargeError extends LogError {
  override readonly name = "MessageTooLargeError";
  constructor(message: string) {
    super(ErrorCode.MESSAGE_TOO_LARGE, message);
  }
}

/** RECORD_LIST_TOO_LARGE: one append is larger than a whole segment (`segment.bytes`). */
export class RecordBatchTooLargeError extends LogError {
  override readonly name = "RecordBatchTooLargeError";
  constructor(message: string) {
    super(ErrorCode.RECORD_LIST_TOO_LARGE, message);
  }
}

/** OUT_OF_ORDER_SEQUENCE_NUMBER: a gap (or a new epoch not starting at 0); the producer resets or fails. */
export class OutOfOrderSequenceError extends LogError {
  override readonly name = "OutOfOrderSequenceError";
  constructor(message: string) {
    super(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, message);
  }
}

/** INVALID_PRODUCER_EPOCH: a batch from an older epoch than the partition has seen (a fenced zombie). */
export class InvalidProducerEpochError extends LogError {
  override readonly name = "InvalidProducerEpochError";
  constructor(message: string) {
    super(ErrorCode.INVALID_PRODUCER_EPOCH, message);
  }
}

/** INVALID_TXN_STATE: a non-transactional batch from a producer in the middle of a transaction. */
export class InvalidTxnStateError extends LogError {
  override readonly name = "InvalidTxnStateError";
  constructor(message: string) {
    super(ErrorCode.INVALID_TXN_STATE, message);
  }
}

/** TRANSACTION_COORDINATOR_FENCED: a marker from a coordinator epoch older than the last one seen. */
export class TransactionCoordinatorFencedError extends LogError {
  override readonly name = "TransactionCoordinatorFencedError";
  constructor(message: string) {
    super(ErrorCode.TRANSACTION_COORDINATOR_FENCED, message);
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
