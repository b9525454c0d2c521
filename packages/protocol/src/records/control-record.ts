/**
 * Control records: the single record of a control batch (attributes bit 5). Its key says what
 * it controls; for transaction markers its value is the EndTxnMarker.
 *
 *   key:   version int16 (0) | type int16        (Kafka's ControlRecordType)
 *   value: version int16 (0) | coordinatorEpoch int32   (EndTransactionMarker, for ABORT/COMMIT)
 *
 * Like Kafka, we read newer key/value versions as version 0 (they may only append fields) and
 * reject negative versions and short buffers.
 */
import { DecodeError } from "../primitives/index.js";
import { type DecodedRecordBatch, encodeRecordBatch } from "./record-batch.js";

/** Kafka's ControlRecordType ids; KRaft's own types are listed so they decode by name. */
export enum ControlRecordType {
  Abort = 0,
  Commit = 1,
  LeaderChange = 2,
  SnapshotHeader = 3,
  SnapshotFooter = 4,
  KRaftVersion = 5,
  KRaftVoters = 6,
}

export const CONTROL_RECORD_KEY_VERSION = 0;
export const END_TXN_MARKER_VERSION = 0;
const CONTROL_RECORD_KEY_BYTES = 4;
const END_TXN_MARKER_BYTES = 6;

export interface ControlRecordKey {
  version: number;
  /** A ControlRecordType, or another id a newer broker wrote (kept as is). */
  type: number;
}

export interface EndTxnMarkerValue {
  version: number;
  coordinatorEpoch: number;
}

export function encodeControlRecordKey(type: ControlRecordType, version = CONTROL_RECORD_KEY_VERSION): Buffer {
  const key = Buffer.allocUnsafe(CONTROL_RECORD_KEY_BYTES);
  key.writeInt16BE(version, 0);
  key.writeInt16BE(type, 2);
  return key;
}

export function decodeControlRecordKey(key: Buffer | null): ControlRecordKey {
  if (key === null || key.length < CONTROL_RECORD_KEY_BYTES) {
    throw new DecodeError(
      "ControlRecord.key",
      0,
      `needs ${CONTROL_RECORD_KEY_BYTES} bytes, has ${key?.length ?? "null"}`,
    );
  }
  const version = key.readInt16BE(0);
  if (version < 0) throw new DecodeError("ControlRecord.key.version", 0, `negative version ${version}`);
  return { version, type: key.readInt16BE(2) };
}

export function encodeEndTxnMarker(coordinatorEpoch: number, version = END_TXN_MARKER_VERSION): Buffer {
  const value = Buffer.allocUnsafe(END_TXN_MARKER_BYTES);
  value.writeInt16BE(version, 0);
  value.writeInt32BE(coordinatorEpoch, 2);
  return value;
}

export function decodeEndTxnMarker(value: Buffer | null): EndTxnMarkerValue {
  if (value === null || value.length < END_TXN_MARKER_BYTES) {
    throw new DecodeError("EndTxnMarker", 0, `needs ${END_TXN_MARKER_BYTES} bytes, has ${value?.length ?? "null"}`);
  }
  const version = value.readInt16BE(0);
  if (version < 0) throw new DecodeError("EndTxnMarker.version", 0, `negative version ${version}`);
  return { version, coordinatorEpoch: value.readInt32BE(2) };
}

export interface EndTxnMarkerBatchOptions {
  producerId: bigint;
  producerEpoch: number;
  /** true: COMMIT; false: ABORT. */
  commit: boolean;
  coordinatorEpoch: number;
  /** When the coordinator wrote the marker (the broker's clock; this package has none). */
  timestamp: bigint;
  baseOffset?: bigint;
  partitionLeaderEpoch?: number;
}

/**
 * The control batch the transaction coordinator's WriteTxnMarkers appends to each partition,
 * as Kafka's MemoryRecords.withEndTransactionMarker builds it: transactional, control,
 * one record, no sequence number.
 */
export function encodeEndTxnMarkerBatch(opts: EndTxnMarkerBatchOptions): Buffer {
  return encodeRecordBatch({
    records: [
      {
        key: encodeControlRecordKey(opts.commit ? ControlRecordType.Commit : ControlRecordType.Abort),
        value: encodeEndTxnMarker(opts.coordinatorEpoch),
        timestamp: opts.timestamp,
      },
    ],
    baseOffset: opts.baseOffset,
    producerId: opts.producerId,
    producerEpoch: opts.producerEpoch,
    isTransactional: true,
    isControl: true,
    partitionLeaderEpoch: opts.partitionLeaderEpoch,
  });
}

/** The control type of a control batch's first record (what a consumer checks to drop aborted data). */
export function controlRecordTypeOf(batch: DecodedRecordBatch): number {
  const first = batch.records[0];
  if (first === undefined) throw new DecodeError("ControlRecord", 0, "control batch has no record");
  return decodeControlRecordKey(first.key).type;
}
