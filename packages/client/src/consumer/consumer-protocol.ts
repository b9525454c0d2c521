/**
 * The "consumer" embedded protocol: what a member puts in JoinGroup's protocol metadata (its
 * subscription) and what the leader puts in SyncGroup's assignments. Each is an int16 version
 * followed by the schema at that version (Kafka's ConsumerProtocol). A version newer than ours is
 * read with our newest schema: newer versions only append fields, as Kafka relies on.
 */
import { ConsumerProtocolAssignment, ConsumerProtocolSubscription, Reader, Writer } from "@samsa/protocol";
import { compareTopicPartitions, type TopicPartition } from "./types.js";

/** ConsumerProtocolSubscription v3 (rack id) and Assignment v3: what Kafka 3.x+ clients write. */
export const SUBSCRIPTION_VERSION = 3;
export const ASSIGNMENT_VERSION = 3;

/** A member's subscription as the leader's assignor sees it (Kafka's ConsumerPartitionAssignor.Subscription). */
export interface Subscription {
  topics: string[];
  userData: Buffer | null;
  ownedPartitions: TopicPartition[];
  /** -1 when the member did not send one (subscription v0/v1) or has no generation yet. */
  generationId: number;
  rackId: string | null;
  /** The JoinGroup member's static id, which orders members in the assignors. */
  groupInstanceId: string | null;
}

/** Groups partitions by topic, topics and partitions sorted (the wire form of both schemas). */
function byTopic(partitions: readonly TopicPartition[]): { topic: string; partitions: number[] }[] {
  const out: { topic: string; partitions: number[] }[] = [];
  for (const tp of [...partitions].sort(compareTopicPartitions)) {
    const last = out[out.length - 1];
    if (last !== undefined && last.topic === tp.topic) last.partitions.push(tp.partition);
    else out.push({ topic: tp.topic, partitions: [tp.partition] });
  }
  return out;
}

function flatten(topics: readonly { topic: string; partitions: number[] }[]): TopicPartition[] {
  return topics.flatMap((t) => t.partitions.map((partition) => ({ topic: t.topic, partition })));
}

/**
 * Encodes a subscription as JoinGroup protocol metadata.
 *
 * @example
 * encodeSubscription({ topics: ["orders"], userData: null, ownedPartitions: [], generationId: -1, rackId: null });
 */
export function encodeSubscription(
  s: Omit<Subscription, "groupInstanceId">,
  version: number = SUBSCRIPTION_VERSION,
): Buffer {
  const w = new Writer(64);
  w.writeInt16(version);
  ConsumerProtocolSubscription.encode(
    w,
    {
      topics: s.topics,
      userData: s.userData,
      ownedPartitions: byTopic(s.ownedPartitions),
      generationId: s.generationId,
      rackId: s.rackId,
    },
    version,
  );
  return w.toBuffer();
}

/**
 * Decodes JoinGroup protocol metadata (any version a Kafka client writes).
 *
 * @example
 * decodeSubscription(encodeSubscription(s), null).topics // s.topics
 */
export function decodeSubscription(metadata: Buffer, groupInstanceId: string | null): Subscription {
  const r = new Reader(metadata);
  const version = Math.min(r.readInt16("ConsumerProtocolSubscription.version"), SUBSCRIPTION_VERSION);
  const s = ConsumerProtocolSubscription.decode(r, version);
  return {
    topics: s.topics,
    userData: s.userData,
    ownedPartitions: flatten(s.ownedPartitions),
    generationId: s.generationId,
    rackId: s.rackId,
    groupInstanceId,
  };
}

/**
 * Encodes the leader's assignment for one member (SyncGroup).
 *
 * @example
 * encodeAssignment([{ topic: "orders", partition: 0 }]);
 */
export function encodeAssignment(
  partitions: readonly TopicPartition[],
  userData: Buffer | null = null,
  version: number = ASSIGNMENT_VERSION,
): Buffer {
  const w = new Writer(64);
  w.writeInt16(version);
  ConsumerProtocolAssignment.encode(w, { assignedPartitions: byTopic(partitions), userData }, version);
  return w.toBuffer();
}

/**
 * Decodes a SyncGroup assignment; an empty buffer (the member got nothing) is no partitions.
 *
 * @example
 * decodeAssignment(encodeAssignment([{ topic: "t", partition: 1 }])) // [{ topic: "t", partition: 1 }]
 */
export function decodeAssignment(assignment: Buffer): TopicPartition[] {
  if (assignment.length === 0) return [];
  const r = new Reader(assignment);
  const version = Math.min(r.readInt16("ConsumerProtocolAssignment.version"), ASSIGNMENT_VERSION);
  return flatten(ConsumerProtocolAssignment.decode(r, version).assignedPartitions);
}
