/**
 * Records of the compacted internal topic `__consumer_offsets`, byte for byte as Kafka writes
 * them, so that tools reading the topic directly (Burrow, kafka-console-consumer's offsets and
 * group-metadata formatters) and a Kafka broker taking over the log understand it.
 *
 *   key   = int16 key version + key struct     0, 1: OffsetCommitKey (group, topic, partition)
 *                                              2:    GroupMetadataKey (group)
 *                                              3+:   KIP-848 consumer/share/streams group records
 *   value = int16 value version + value struct, or null: a tombstone, which compaction removes
 *
 * The structs are the generated codecs (scripts/codegen/internal-topics.ts). Versions written
 * are Kafka 4's (GroupCoordinatorRecordHelpers): offset keys at 1; offset values at 3, or at 1
 * when the commit carried an explicit retention time (only v1 has an expire timestamp; it has no
 * leader epoch, which is then not stored); group metadata values at 3. Version 4 (flexible) is
 * read but not written, as in Kafka, so that brokers that only know 0-3 can still load the log.
 *
 * Reading follows Kafka's loader: an unknown key version is another record type, skipped; an
 * unknown value version of a known type, or bytes that do not parse, is corruption. Like Kafka's
 * reader we ignore bytes after the struct.
 */
import {
  DecodeError,
  GroupMetadataKey,
  GroupMetadataValue,
  OffsetCommitKey,
  OffsetCommitValue,
  Reader,
  Writer,
} from "@samsa/protocol";

/** Key versions (Kafka 4 calls them record types). 0 is the 0.8.2-era offset key, same layout as 1. */
export const LEGACY_OFFSET_COMMIT_KEY_VERSION = 0;
export const OFFSET_COMMIT_KEY_VERSION = 1;
export const GROUP_METADATA_KEY_VERSION = 2;

/** Offset commit value version Kafka writes: the newest non-flexible one. */
export const OFFSET_COMMIT_VALUE_VERSION = 3;
/** The only version with an expire timestamp, written when the commit set a retention time. */
export const OFFSET_COMMIT_VALUE_VERSION_WITH_EXPIRE = 1;
/** Group metadata value version Kafka writes: the newest non-flexible one. */
export const GROUP_METADATA_VALUE_VERSION = 3;

/** Sentinel for "no expire timestamp" / "no leader epoch", as Kafka's -1 defaults. */
const NO_TIMESTAMP = -1n;

export interface OffsetCommitRecordValue {
  offset: bigint;
  /** -1 when unknown (always so when read from a v0-v2 value or written as v1). */
  leaderEpoch: number;
  metadata: string;
  commitTimestampMs: bigint;
  /** -1n when none; anything else makes the record a v1 value. */
  expireTimestampMs: bigint;
}

export interface GroupMetadataRecordMember {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  /** -1 when read from a v0 value, which has none; Kafka's loader then uses the session timeout. */
  rebalanceTimeoutMs: number;
  sessionTimeoutMs: number;
  /** The member's metadata for the selected protocol (a ConsumerProtocolSubscription for consumers). */
  subscription: Buffer;
  assignment: Buffer;
}

export interface GroupMetadataRecordValue {
  protocolType: string;
  generationId: number;
  protocolName: string | null;
  leaderId: string | null;
  /** -1n when unknown (v0 and v1 values have none). */
  currentStateTimestampMs: bigint;
  members: GroupMetadataRecordMember[];
}

export type ConsumerOffsetsRecord =
  | { type: "offsetCommit"; groupId: string; topic: string; partition: number; value: OffsetCommitRecordValue | null }
  | { type: "groupMetadata"; groupId: string; value: GroupMetadataRecordValue | null }
  | { type: "unknown"; keyVersion: number };

/** The key and value of an offset commit record; a null value makes a tombstone. */
export function offsetCommitRecord(
  groupId: string,
  topic: string,
  partition: number,
  value: OffsetCommitRecordValue | null,
): { key: Buffer; value: Buffer | null } {
  const k = new Writer(64);
  k.writeInt16(OFFSET_COMMIT_KEY_VERSION);
  OffsetCommitKey.encode(k, { group: groupId, topic, partition }, OFFSET_COMMIT_KEY_VERSION);
  if (value === null) return { key: k.toBuffer(), value: null };

  const version =
    value.expireTimestampMs === NO_TIMESTAMP ? OFFSET_COMMIT_VALUE_VERSION : OFFSET_COMMIT_VALUE_VERSION_WITH_EXPIRE;
  const v = new Writer(64);
  v.writeInt16(version);
  OffsetCommitValue.encode(
    v,
    {
      offset: value.offset,
      leaderEpoch: value.leaderEpoch,
      metadata: value.metadata,
      commitTimestamp: value.commitTimestampMs,
      expireTimestamp: value.expireTimestampMs,
    },
    version,
  );
  return { key: k.toBuffer(), value: v.toBuffer() };
}

/** The key and value of a group metadata record; a null value makes a tombstone. */
export function groupMetadataRecord(
  groupId: string,
  value: GroupMetadataRecordValue | null,
): { key: Buffer; value: Buffer | null } {
  const k = new Writer(64);
  k.writeInt16(GROUP_METADATA_KEY_VERSION);
  GroupMetadataKey.encode(k, { group: groupId }, GROUP_METADATA_KEY_VERSION);
  if (value === null) return { key: k.toBuffer(), value: null };

  const v = new Writer();
  v.writeInt16(GROUP_METADATA_VALUE_VERSION);
  GroupMetadataValue.encode(
    v,
    {
      protocolType: value.protocolType,
      generation: value.generationId,
      protocol: value.protocolName,
      leader: value.leaderId,
      currentStateTimestamp: value.currentStateTimestampMs,
      members: value.members.map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        rebalanceTimeout: m.rebalanceTimeoutMs,
        sessionTimeout: m.sessionTimeoutMs,
        subscription: m.subscription,
        assignment: m.assignment,
      })),
    },
    GROUP_METADATA_VALUE_VERSION,
  );
  return { key: k.toBuffer(), value: v.toBuffer() };
}

/**
 * Parses one record of `__consumer_offsets`. Throws DecodeError on a missing key, bytes that do
 * not parse, or a value version this codec does not know for a known record type.
 */
export function decodeConsumerOffsetsRecord(key: Buffer | null, value: Buffer | null): ConsumerOffsetsRecord {
  if (key === null) throw new DecodeError("__consumer_offsets key", 0, "a record without a key");
  const r = new Reader(key);
  const keyVersion = r.readInt16("__consumer_offsets key version");
  switch (keyVersion) {
    case LEGACY_OFFSET_COMMIT_KEY_VERSION:
    case OFFSET_COMMIT_KEY_VERSION: {
      const k = OffsetCommitKey.decode(r, keyVersion);
      return {
        type: "offsetCommit",
        groupId: k.group,
        topic: k.topic,
        partition: k.partition,
        value: value === null ? null : decodeOffsetCommitValue(value),
      };
    }
    case GROUP_METADATA_KEY_VERSION: {
      const k = GroupMetadataKey.decode(r, keyVersion);
      return {
        type: "groupMetadata",
        groupId: k.group,
        value: value === null ? null : decodeGroupMetadataValue(value),
      };
    }
    default:
      return { type: "unknown", keyVersion };
  }
}

function readValueVersion(r: Reader, codec: { name: string; minVersion: number; maxVersion: number }): number {
  const field = `${codec.name} version`;
  const version = r.readInt16(field);
  if (version < codec.minVersion || version > codec.maxVersion) {
    r.fail(field, `unknown version ${version} (this broker reads ${codec.minVersion}-${codec.maxVersion})`);
  }
  return version;
}

function decodeOffsetCommitValue(bytes: Buffer): OffsetCommitRecordValue {
  const r = new Reader(bytes);
  const v = OffsetCommitValue.decode(r, readValueVersion(r, OffsetCommitValue));
  return {
    offset: v.offset,
    leaderEpoch: v.leaderEpoch,
    metadata: v.metadata,
    commitTimestampMs: v.commitTimestamp,
    expireTimestampMs: v.expireTimestamp,
  };
}

function decodeGroupMetadataValue(bytes: Buffer): GroupMetadataRecordValue {
  const r = new Reader(bytes);
  const v = GroupMetadataValue.decode(r, readValueVersion(r, GroupMetadataValue));
  return {
    protocolType: v.protocolType,
    generationId: v.generation,
    protocolName: v.protocol,
    leaderId: v.leader,
    currentStateTimestampMs: v.currentStateTimestamp,
    members: v.members.map((m) => ({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId,
      clientId: m.clientId,
      clientHost: m.clientHost,
      rebalanceTimeoutMs: m.rebalanceTimeout,
      sessionTimeoutMs: m.sessionTimeout,
      // The reader returns views of its input; copies keep a loaded group from pinning the
      // (possibly large) buffer the records were read from.
      subscription: Buffer.from(m.subscription),
      assignment: Buffer.from(m.assignment),
    })),
  };
}

/**
 * The `__consumer_offsets` partition that holds a group: Kafka's
 * `Utils.abs(groupId.hashCode()) % numPartitions`. Hand-written because it must match Java bit
 * for bit: String.hashCode over UTF-16 code units with int32 overflow, and Utils.abs mapping
 * Integer.MIN_VALUE to 0 (Math.abs would leave it negative).
 */
export function consumerOffsetsPartitionFor(groupId: string, numPartitions: number): number {
  if (!Number.isInteger(numPartitions) || numPartitions <= 0 || numPartitions > 0x7fffffff) {
    throw new RangeError(`numPartitions must be a positive int32, got ${numPartitions}`);
  }
  const hash = javaStringHashCode(groupId);
  const abs = hash === -0x80000000 ? 0 : Math.abs(hash);
  return abs % numPartitions;
}

/** Java's String.hashCode: s[0]*31^(n-1) + ... + s[n-1] over UTF-16 code units, in int32 arithmetic. */
export function javaStringHashCode(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h;
}
