/**
 * The one error a decoder throws. Untrusted bytes are data: every malformed input
 * (a length past the buffer, a lying count, a truncated varint, a bad CRC) surfaces
 * as a DecodeError naming the field, never as a RangeError from Buffer.
 */
export class DecodeError extends Error {
  override readonly name = "DecodeError";
  /** Dotted path of the field being read, e.g. `TopicData.PartitionData.Records`. */
  readonly field: string;
  /** Byte offset in the input where the problem was found. */
  readonly offset: number;

  constructor(field: string, offset: number, problem: string) {
    super(`${field}: ${problem} (at byte ${offset})`);
    this.field = field;
    this.offset = offset;
  }
}

/** Thrown when a value cannot be written in the requested version (Kafka's UnsupportedVersionException). */
export class EncodeError extends Error {
  override readonly name = "EncodeError";
  readonly field: string;

  constructor(field: string, problem: string) {
    super(`${field}: ${problem}`);
    this.field = field;
  }
}
