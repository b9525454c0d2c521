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
  type Encodable,
  ErrorCode,
  isTransactional,
  KafkaError,
  LOG_OVERHEAD,
  MAGIC_OFFSET,
  MAGIC_V2,
  ProduceApi,
  type ProduceResponse,
  type ProduceResponsePartitionProduceResponse,
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

function failed(index: number, errorCode: number, errorMessage: string | null = null): PartitionResult {
  return { index, errorCode, errorMessage, baseOffset: -1n, logAppendTimeMs: -1n, logStartOffset: -1n };
}

/**
 * Checks and prepares one partition's records for the log; returns the bytes to append.
 * Throws KafkaError with the code the client expects.
 */
/** A topic's message.timestamp.* configs (its overrides, else the broker's), read once per request and topic. */
interface TimestampPolicy {
  logAppendTime: boolean;
  beforeMaxMs: bigint;
  afterMaxMs: bigint;
}

function timestampPolicy(broker: BrokerContext, topic: string): TimestampPolicy {
  const overrides = broker.topics.configs.get(topic);
  const value = (name: string) => topicConfigValue(name, overrides, broker.config);
  const ms = (name: string) => BigInt(Math.min(Number(value(name)), Number.MAX_SAFE_INTEGER));
  return {
    logAppendTime: value("message.timestamp.type") === "LogAppendTime",
    beforeMaxMs: ms("message.timestamp.before.max.ms"),
    afterMaxMs: ms("message.timestamp.after.max.ms"),
  };
}

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
  const { logAppendTime, beforeMaxMs, afterMaxMs } = policy;
  const now = BigInt(nowMs);
  for (let pos = 0; pos + LOG_OVERHEAD <= out.length; ) {
    let header: ReturnType<typeof readBatchHeader>;
    try {
      header = readBatchHeader(out, pos);
    } catch (e) {
      throw new KafkaError(ErrorCode.CORRUPT_MESSAGE, (e as Error).message);
    }
    // Kafka's ProduceRequest.validateRecords: zstd arrived with Produce v7 (KIP-110); an older
    // request carrying it comes from a client that cannot read it back either.
    if (apiVersion < 7 && (header.attributes & COMPRESSION_CODEC_MASK) === ZSTD_CODEC) {
      throw new KafkaError(
        ErrorCode.UNSUPPORTED_COMPRESSION_TYPE,
        `Produce requests with version ${apiVersion} are not allowed to use ZStandard compression.`,
      );
    }
    if (logAppendTime) {
      setMaxTimestampLogAppendTime(out, pos, now);
    } else {
      for (const ts of [header.baseTimestamp, header.maxTimestamp]) {
        if (ts >= 0n && (ts < now - beforeMaxMs || ts > now + afterMaxMs)) {
          throw new KafkaError(
            ErrorCode.INVALID_TIMESTAMP,
            `Timestamp ${ts} of the batch at position ${pos} is out of range (log.message.timestamp.before/after.max.ms).`,
          );
        }
      }
    }
    pos += LOG_OVERHEAD + header.batchLength;
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

async function appendTo(
  partition: Partition,
  records: Buffer,
  logAppendTime: boolean,
  nowMs: number,
  broker: BrokerContext,
): Promise<PartitionResult> {
  try {
    const info = await partition.append(records, { leaderEpoch: partition.leaderEpoch });
    return {
      index: partition.index,
      errorCode: ErrorCode.NONE,
      errorMessage: null,
      baseOffset: info.firstOffset,
      logAppendTimeMs: logAppendTime ? BigInt(nowMs) : -1n,
      logStartOffset: info.logStartOffset,
    };
  } catch (e) {
    return failed(partition.index, errorCodeOf(e, broker.log), errorMessageOf(e));
  }
}

export const produceHandler = defineHandler({
  api: ProduceApi,
  minVersion: 0,
  maxVersion: 11,
  async handle(ctx, request): Promise<Encodable<ProduceResponse> | null> {
    const { broker } = ctx;
    const version = ctx.header.apiVersion;
    const nowMs = broker.nowMs();
    const acks = request.acks;
    const responses: { name: string; results: (PartitionResult | Promise<PartitionResult>)[] }[] = [];
    const transactionsRefused =
      request.transactionalId !== null
        ? broker.transactionCoordinator === undefined
        : request.topicData.some((t) => t.partitionData.some((p) => hasTransactionalBatch(p.records)));
    for (const topic of request.topicData) {
      const results: (PartitionResult | Promise<PartitionResult>)[] = [];
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
        // Enqueued now, in request order; awaited below.
        results.push(appendTo(partition, records, policy.logAppendTime, nowMs, broker));
      }
      responses.push({ name: topic.name, results });
    }
    const settled = await Promise.all(
      responses.map(async (t) => ({ name: t.name, partitionResponses: await Promise.all(t.results) })),
    );
    if (acks === 0) {
      // No response is due; an error closes the connection so the client refreshes its metadata (Kafka's way).
      const error = settled.flatMap((t) => t.partitionResponses).find((p) => p.errorCode !== ErrorCode.NONE);
      if (error !== undefined) throw new RejectedRequestError(`acks=0 produce failed with error ${error.errorCode}`);
      return null;
    }
    return {
      responses: settled.map((t) => ({
        name: t.name,
        partitionResponses: t.partitionResponses.map(
          (p): Encodable<ProduceResponsePartitionProduceResponse> => ({
            index: p.index,
            errorCode: p.errorCode,
            baseOffset: p.baseOffset,
            logAppendTimeMs: p.logAppendTimeMs,
            logStartOffset: p.logStartOffset,
            errorMessage: p.errorMessage,
          }),
        ),
      })),
      throttleTimeMs: 0,
    };
  },
});
