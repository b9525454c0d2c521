/**
 * Produce v0-11: validate, then append every partition's batches as the client sent them.
 *
 * Appends are enqueued synchronously, before the first await, so pipelined requests on one
 * connection reach each log in request order (a producer's ordering depends on it).
 * Produce v0-2 carries legacy message sets; they are converted to one magic-2 batch each, since
 * the log holds only magic 2 (as Kafka's LogValidator does).
 * Timestamps are checked at batch level (base and max timestamp) so that compressed batches are
 * never decompressed on this path; Kafka checks every record.
 *
 * Idempotent and transactional batches are checked by the log's producer state (sequence, epoch,
 * transaction state; log/producer-state.ts): its typed errors are the partition's error code
 * (OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH, INVALID_TXN_STATE ...), and a retried
 * batch the partition already holds is answered with the offset it was first written at. As
 * Kafka: a request with transactional batches but no transactional id is refused whole
 * (TRANSACTIONAL_ID_AUTHORIZATION_FAILED); while no transaction coordinator is wired, so is every
 * request with a transactional id.
 */
import {
  ATTRIBUTES_OFFSET,
  BASE_TIMESTAMP_OFFSET,
  BATCH_HEADER_SIZE,
  BATCH_LENGTH_OFFSET,
  type Encodable,
  ErrorCode,
  isTransactional,
  KafkaError,
  LOG_OVERHEAD,
  MAGIC_OFFSET,
  MAGIC_V2,
  MAX_TIMESTAMP_OFFSET,
  MIN_BATCH_LENGTH,
  ProduceApi,
  type ProduceResponse,
  readBatchHeader,
  setMaxTimestampLogAppendTime,
  upConvertToRecordBatch,
} from "@samsa/protocol";
import { topicConfigValue } from "../config/topic-config.js";
import { RejectedRequestError } from "../request-dispatcher.js";
import type { Partition } from "../topics/partition.js";
import { errorCodeOf, errorMessageOf } from "./errors.js";
import { type BrokerContext, defineHandler } from "./handler.js";

/** The codec bits of a record batch's attributes, and zstd's id there. */
const COMPRESSION_CODEC_MASK = 0x07;
const ZSTD_CODEC = 4;
/** Header bytes up to and including the attributes. */
const BATCH_HEADER_PREFIX = 23;

interface PartitionResult {
  index: number;
  errorCode: number;
  errorMessage: string | null;
  baseOffset: bigint;
  logAppendTimeMs: bigint;
  logStartOffset: bigint;
}

/** A slot whose append has not completed; every one is replaced before the response is built. */
const PENDING: PartitionResult = Object.freeze({
  index: -1,
  errorCode: ErrorCode.UNKNOWN_SERVER_ERROR,
  errorMessage: null,
  baseOffset: -1n,
  logAppendTimeMs: -1n,
  logStartOffset: -1n,
});

function failed(index: number, errorCode: number, errorMessage: string | null = null): PartitionResult {
  return { index, errorCode, errorMessage, baseOffset: -1n, logAppendTimeMs: -1n, logStartOffset: -1n };
}

/** A topic's message.timestamp.* configs (its overrides, else the broker's). */
interface TimestampPolicy {
  logAppendTime: boolean;
  beforeMaxMs: bigint;
  afterMaxMs: bigint;
  /** The same limits as numbers (they are clamped to MAX_SAFE_INTEGER), for the common case of a safe timestamp. */
  beforeMaxMsNumber: number;
  afterMaxMsNumber: number;
}

/**
 * Resolved policies by topic overrides: the store replaces a topic's map when its configs change
 * (topics without overrides share one map), and the broker config's generation moves at every
 * dynamic update, so an entry is valid while both match; nothing is resolved per request.
 */
const policyCache = new WeakMap<
  ReadonlyMap<string, string>,
  { config: BrokerContext["config"]; generation: number; policy: TimestampPolicy }
>();

function timestampPolicy(broker: BrokerContext, topic: string): TimestampPolicy {
  const overrides = broker.topics.configs.get(topic);
  const config = broker.config;
  const cached = policyCache.get(overrides);
  if (cached !== undefined && cached.config === config && cached.generation === config.generation) return cached.policy;
  const value = (name: string) => topicConfigValue(name, overrides, config);
  const ms = (name: string) => Math.min(Number(value(name)), Number.MAX_SAFE_INTEGER);
  const beforeMaxMsNumber = ms("message.timestamp.before.max.ms");
  const afterMaxMsNumber = ms("message.timestamp.after.max.ms");
  const policy: TimestampPolicy = {
    logAppendTime: value("message.timestamp.type") === "LogAppendTime",
    beforeMaxMs: BigInt(beforeMaxMsNumber),
    afterMaxMs: BigInt(afterMaxMsNumber),
    beforeMaxMsNumber,
    afterMaxMsNumber,
  };
  policyCache.set(overrides, { config, generation: config.generation, policy });
  return policy;
}

/** Timestamps whose high 32 bits are within this are read as exact numbers (|ts| < 2^52), others as BigInt. */
const SAFE_TIMESTAMP_HIGH_BITS = 1 << 20;

/** Whether the int64 timestamp at `at` is set and outside [now - before, now + after]; no BigInt unless it is huge. */
function timestampOutOfRange(buf: Buffer, at: number, nowMs: number, policy: TimestampPolicy): boolean {
  const high = buf.readInt32BE(at);
  if (high >= -SAFE_TIMESTAMP_HIGH_BITS && high < SAFE_TIMESTAMP_HIGH_BITS) {
    const ts = high * 2 ** 32 + buf.readUInt32BE(at + 4);
    return ts >= 0 && (ts < nowMs - policy.beforeMaxMsNumber || ts > nowMs + policy.afterMaxMsNumber);
  }
  const ts = buf.readBigInt64BE(at);
  const now = BigInt(nowMs);
  return ts >= 0n && (ts < now - policy.beforeMaxMs || ts > now + policy.afterMaxMs);
}

/**
 * Checks and prepares one partition's records for the log; returns the bytes to append.
 * Throws KafkaError with the code the client expects.
 */
function prepareRecords(records: Buffer, apiVersion: number, nowMs: number, policy: TimestampPolicy): Buffer {
  if (records.length < LOG_OVERHEAD + 5) throw new KafkaError(ErrorCode.CORRUPT_MESSAGE, "Record set is truncated.");
  const magic = records[MAGIC_OFFSET];
  let out = records;
  if (apiVersion <= 2) {
    if (magic >= MAGIC_V2)
      throw new KafkaError(ErrorCode.INVALID_RECORD, `Produce v${apiVersion} cannot carry magic ${magic}.`);
    try {
      out = upConvertToRecordBatch(records);
    } catch (e) {
      throw new KafkaError(ErrorCode.CORRUPT_MESSAGE, `Legacy message set is invalid: ${(e as Error).message}`);
    }
    if (out.length === 0) throw new KafkaError(ErrorCode.CORRUPT_MESSAGE, "Legacy message set holds no message.");
  } else if (magic !== MAGIC_V2) {
    throw new KafkaError(
      ErrorCode.INVALID_RECORD,
      `Produce v${apiVersion} requires magic 2 record batches, got ${magic}.`,
    );
  }
  const { logAppendTime } = policy;
  for (let pos = 0; pos + LOG_OVERHEAD <= out.length; ) {
    // The header's fields read in place (readBatchHeader's object and BigInts per batch are
    // garbage on the hot path); readBatchHeader runs only to name what is wrong with a bad one.
    const batchLength = out.length - pos >= BATCH_HEADER_SIZE ? out.readInt32BE(pos + BATCH_LENGTH_OFFSET) : -1;
    const attributes = batchLength < 0 ? 0 : out.readInt16BE(pos + ATTRIBUTES_OFFSET);
    if (
      batchLength < MIN_BATCH_LENGTH ||
      batchLength > out.length - pos - LOG_OVERHEAD ||
      out[pos + MAGIC_OFFSET] !== MAGIC_V2 ||
      (attributes & COMPRESSION_CODEC_MASK) > ZSTD_CODEC
    ) {
      try {
        readBatchHeader(out, pos);
      } catch (e) {
        throw new KafkaError(ErrorCode.CORRUPT_MESSAGE, (e as Error).message);
      }
      throw new Error(`readBatchHeader accepted the batch at position ${pos} that the produce path refused`);
    }
    // Kafka's ProduceRequest.validateRecords: zstd arrived with Produce v7 (KIP-110); an older
    // request carrying it comes from a client that cannot read it back either.
    if (apiVersion < 7 && (attributes & COMPRESSION_CODEC_MASK) === ZSTD_CODEC) {
      throw new KafkaError(
        ErrorCode.UNSUPPORTED_COMPRESSION_TYPE,
        `Produce requests with version ${apiVersion} are not allowed to use ZStandard compression.`,
      );
    }
    if (logAppendTime) {
      setMaxTimestampLogAppendTime(out, pos, BigInt(nowMs));
    } else {
      const bad = timestampOutOfRange(out, pos + BASE_TIMESTAMP_OFFSET, nowMs, policy)
        ? pos + BASE_TIMESTAMP_OFFSET
        : timestampOutOfRange(out, pos + MAX_TIMESTAMP_OFFSET, nowMs, policy)
          ? pos + MAX_TIMESTAMP_OFFSET
          : -1;
      if (bad >= 0) {
        throw new KafkaError(
          ErrorCode.INVALID_TIMESTAMP,
          `Timestamp ${out.readBigInt64BE(bad)} of the batch at position ${pos} is out of range (log.message.timestamp.before/after.max.ms).`,
        );
      }
    }
    pos += LOG_OVERHEAD + batchLength;
  }
  return out;
}

/** Whether any magic-2 batch of `records` is transactional (a header walk; legacy message sets never are). */
function hasTransactionalBatch(records: Buffer | null): boolean {
  if (records === null) return false;
  for (let pos = 0; pos + BATCH_HEADER_PREFIX <= records.length; ) {
    if (records[pos + MAGIC_OFFSET] !== MAGIC_V2) return false;
    if (isTransactional(records.readInt16BE(pos + ATTRIBUTES_OFFSET))) return true;
    const batchLength = records.readInt32BE(pos + 8);
    if (batchLength <= 0) return false; // the log refuses it as corrupt
    pos += LOG_OVERHEAD + batchLength;
  }
  return false;
}

/** Appends and puts the partition's result in `results[slot]`; never rejects. */
async function appendTo(
  partition: Partition,
  records: Buffer,
  logAppendTime: boolean,
  nowMs: number,
  broker: BrokerContext,
  results: PartitionResult[],
  slot: number,
): Promise<void> {
  try {
    const info = await partition.append(records, { leaderEpoch: partition.leaderEpoch });
    results[slot] = {
      index: partition.index,
      errorCode: ErrorCode.NONE,
      errorMessage: null,
      baseOffset: info.firstOffset,
      logAppendTimeMs: logAppendTime ? BigInt(nowMs) : -1n,
      logStartOffset: info.logStartOffset,
    };
  } catch (e) {
    results[slot] = failed(partition.index, errorCodeOf(e, broker.log), errorMessageOf(e));
  }
}

/** The response once every append has completed; none for acks=0 (an error then closes the connection, Kafka's way, so the client refreshes its metadata). */
function produceResponse(
  acks: number,
  responses: { name: string; partitionResponses: PartitionResult[] }[],
): Encodable<ProduceResponse> | null {
  if (acks === 0) {
    const error = responses.flatMap((t) => t.partitionResponses).find((p) => p.errorCode !== ErrorCode.NONE);
    if (error !== undefined) throw new RejectedRequestError(`acks=0 produce failed with error ${error.errorCode}`);
    return null;
  }
  // The results are the response's partitions as they are (they have its fields, nothing else).
  return { responses, throttleTimeMs: 0 };
}

export const produceHandler = defineHandler({
  api: ProduceApi,
  minVersion: 0,
  maxVersion: 11,
  // Not async: the request's synchronous part returns a promise only when there are appends to wait for
  // (an async function's frame is garbage on every request).
  handle(ctx, request): Promise<Encodable<ProduceResponse> | null> | Encodable<ProduceResponse> | null {
    const { broker } = ctx;
    const version = ctx.header.apiVersion;
    const nowMs = broker.nowMs();
    const acks = request.acks;
    const responses: { name: string; partitionResponses: PartitionResult[] }[] = [];
    // One promise per append, each filling its slot: no per-topic async function or nested Promise.all.
    const appends: Promise<void>[] = [];
    const transactionsRefused =
      request.transactionalId !== null
        ? broker.transactionCoordinator === undefined
        : request.topicData.some((t) => t.partitionData.some((p) => hasTransactionalBatch(p.records)));
    for (const topic of request.topicData) {
      const results: PartitionResult[] = [];
      const known = broker.topics.get(topic.name);
      const policy = known === undefined ? null : timestampPolicy(broker, known.name);
      for (const p of topic.partitionData) {
        if (acks !== 0 && acks !== 1 && acks !== -1) {
          results.push(failed(p.index, ErrorCode.INVALID_REQUIRED_ACKS));
          continue;
        }
        if (transactionsRefused) {
          results.push(
            failed(
              p.index,
              ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
              request.transactionalId !== null
                ? "Transactions are not supported yet."
                : "Transactional records need a transactional id.",
            ),
          );
          continue;
        }
        const partition = known?.partitions[p.index];
        if (partition === undefined || policy === null) {
          results.push(failed(p.index, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION));
          continue;
        }
        // Only the broker writes __consumer_offsets: a client's records would corrupt group state.
        if (known?.isInternal === true) {
          results.push(
            failed(p.index, ErrorCode.INVALID_TOPIC_EXCEPTION, `Cannot append to internal topic ${known.name}.`),
          );
          continue;
        }
        if (p.records === null) {
          results.push(failed(p.index, ErrorCode.CORRUPT_MESSAGE, "Records are null."));
          continue;
        }
        let records: Buffer;
        try {
          records = prepareRecords(p.records, version, nowMs, policy);
        } catch (e) {
          results.push(failed(p.index, errorCodeOf(e, broker.log), errorMessageOf(e)));
          continue;
        }
        // Enqueued now, in request order; awaited below. The slot is filled when it completes.
        results.push(PENDING);
        appends.push(appendTo(partition, records, policy.logAppendTime, nowMs, broker, results, results.length - 1));
      }
      responses.push({ name: topic.name, partitionResponses: results });
    }
    if (appends.length === 0) return produceResponse(acks, responses);
    return (appends.length === 1 ? appends[0]! : Promise.all(appends)).then(() => produceResponse(acks, responses));
  },
});
