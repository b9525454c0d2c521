/**
 * Committed offsets of every group this broker coordinates, in memory: the state that replaying
 * `__consumer_offsets` rebuilds and that OffsetCommit updates once its records are written. Pure:
 * no I/O, time passed in.
 */

export interface CommittedOffset {
  offset: bigint;
  /** -1 when the client did not send one. */
  leaderEpoch: number;
  metadata: string;
  commitTimestampMs: number;
  /** Set only by OffsetCommit v1-4 with an explicit retention (Kafka's expireTimestamp); else null. */
  expireTimestampMs: number | null;
  /**
   * The log offset of the `__consumer_offsets` record that committed it, when known: a committed
   * transaction's offset replaces a plain commit only if written after it (Kafka's recordOffset).
   */
  recordOffset?: bigint;
}

export interface TopicPartitionRef {
  topic: string;
  partition: number;
}

/** How the expiration of one group's offsets is judged (Kafka's offset expiration condition). */
export interface ExpirationPolicy {
  /** The instant retention counts from: when the group became empty, else the commit time. */
  baseTimestampMs: (committed: CommittedOffset) => number;
  /** Topics whose offsets never expire while the group consumes them. */
  isSubscribed: (topic: string) => boolean;
}

export class OffsetStore {
  private readonly groups = new Map<string, Map<string, Map<number, CommittedOffset>>>();

  get(groupId: string, topic: string, partition: number): CommittedOffset | undefined {
    return this.groups.get(groupId)?.get(topic)?.get(partition);
  }

  put(groupId: string, topic: string, partition: number, committed: CommittedOffset): void {
    let topics = this.groups.get(groupId);
    if (topics === undefined) this.groups.set(groupId, (topics = new Map()));
    let partitions = topics.get(topic);
    if (partitions === undefined) topics.set(topic, (partitions = new Map()));
    partitions.set(partition, committed);
  }

  delete(groupId: string, topic: string, partition: number): boolean {
    const topics = this.groups.get(groupId);
    const partitions = topics?.get(topic);
    if (topics === undefined || partitions === undefined || !partitions.delete(partition)) return false;
    if (partitions.size === 0) topics.delete(topic);
    if (topics.size === 0) this.groups.delete(groupId);
    return true;
  }

  /** Every committed offset of the group, by topic. */
  offsets(groupId: string): ReadonlyMap<string, ReadonlyMap<number, CommittedOffset>> {
    return this.groups.get(groupId) ?? new Map();
  }

  hasOffsets(groupId: string): boolean {
    return this.groups.has(groupId);
  }

  groupIds(): IterableIterator<string> {
    return this.groups.keys();
  }

  /** Removes and returns every committed offset of the group. */
  deleteGroup(groupId: string): TopicPartitionRef[] {
    const removed = this.partitionsOf(groupId);
    this.groups.delete(groupId);
    return removed;
  }

  partitionsOf(groupId: string): TopicPartitionRef[] {
    const out: TopicPartitionRef[] = [];
    for (const [topic, partitions] of this.groups.get(groupId) ?? []) {
      for (const partition of partitions.keys()) out.push({ topic, partition });
    }
    return out;
  }

  /**
   * The group's offsets that have expired at `nowMs`: an explicit expire timestamp passed, or
   * `retentionMs` elapsed since the policy's base timestamp, for topics the group is not consuming.
   */
  expired(groupId: string, nowMs: number, retentionMs: number, policy: ExpirationPolicy): TopicPartitionRef[] {
    const out: TopicPartitionRef[] = [];
    for (const [topic, partitions] of this.groups.get(groupId) ?? []) {
      if (policy.isSubscribed(topic)) continue;
      for (const [partition, committed] of partitions) {
        const expired =
          committed.expireTimestampMs !== null
            ? nowMs >= committed.expireTimestampMs
            : nowMs - policy.baseTimestampMs(committed) >= retentionMs;
        if (expired) out.push({ topic, partition });
      }
    }
    return out;
  }
}
