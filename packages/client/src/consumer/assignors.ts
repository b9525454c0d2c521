/**
 * Partition assignors, run by the group leader over every member's subscription. Each one gives
 * the same assignment as Kafka's Java assignor of the same name for the same input, so a group may
 * mix Samsa and Java members:
 *
 * - range (RangeAssignor): per topic, members sorted, contiguous ranges, the first
 *   `partitions % members` members one extra;
 * - roundrobin (RoundRobinAssignor): all partitions sorted by topic then partition, dealt to the
 *   sorted members in a circle, skipping members not subscribed to the topic;
 * - cooperative-sticky (CooperativeStickyAssignor): balanced, keeps what members own, and withholds
 *   any partition that moves between members until its owner has revoked it (the next rebalance
 *   hands it over): the two-phase incremental protocol of KIP-429.
 *
 * Members are ordered as Java's MemberInfo: members with a group instance id first, by that id,
 * then the others by member id.
 *
 * The sticky assignor follows Java's constrained algorithm when every member subscribes to the
 * same topics (the common case), except that Java walks members in HashMap order to decide who may
 * keep `maxQuota` partitions and we walk them sorted: both are balanced and sticky, but the choice
 * of which over-quota member keeps its extra partition can differ. When subscriptions differ we keep
 * valid owned partitions and place the rest on the least-loaded eligible member, then move
 * partitions from the most to the least loaded eligible member until no move helps (Java's
 * general builder reaches the same balance by a more elaborate search).
 */
import type { Subscription } from "./consumer-protocol.js";
import { compareTopicPartitions, type TopicPartition, tpKey } from "./types.js";

export type RebalanceProtocol = "eager" | "cooperative";

/** A member as the assignor sees it. */
export type MemberSubscriptions = Map<string, Subscription>;

export interface PartitionAssignor {
  /** The protocol name sent in JoinGroup ("range", "roundrobin", "cooperative-sticky"). */
  readonly name: string;
  /** eager: members give up everything before rejoining; cooperative: only what moves (KIP-429). */
  readonly rebalanceProtocol: RebalanceProtocol;
  /** userData this member sends with its subscription. */
  subscriptionUserData(generationId: number): Buffer | null;
  /** member id → partitions, for every member in `subscriptions`. */
  assign(partitionsPerTopic: Map<string, number>, subscriptions: MemberSubscriptions): Map<string, TopicPartition[]>;
}

/** Java's MemberInfo.compareTo. */
export function compareMembers(
  a: { memberId: string; groupInstanceId: string | null },
  b: { memberId: string; groupInstanceId: string | null },
): number {
  if (a.groupInstanceId !== null && b.groupInstanceId !== null)
    return compareStrings(a.groupInstanceId, b.groupInstanceId);
  if (a.groupInstanceId !== null) return -1;
  if (b.groupInstanceId !== null) return 1;
  return compareStrings(a.memberId, b.memberId);
}

/** Java's String.compareTo orders by UTF-16 code units, as JS `<` does. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortedMembers(subscriptions: MemberSubscriptions): string[] {
  return [...subscriptions.entries()]
    .map(([memberId, s]) => ({ memberId, groupInstanceId: s.groupInstanceId }))
    .sort(compareMembers)
    .map((m) => m.memberId);
}

function emptyAssignment(subscriptions: MemberSubscriptions): Map<string, TopicPartition[]> {
  return new Map([...subscriptions.keys()].map((m) => [m, [] as TopicPartition[]]));
}

/**
 * Kafka's RangeAssignor (without rack awareness).
 *
 * @example
 * new RangeAssignor().assign(new Map([["t0", 3]]), subscriptions) // Map { "C0" => [t0-0, t0-1], "C1" => [t0-2] }
 */
export class RangeAssignor implements PartitionAssignor {
  readonly name = "range";
  readonly rebalanceProtocol = "eager";

  /**
   * None: the range assignment depends only on member ids and topics.
   *
   * @example
   * new RangeAssignor().subscriptionUserData() // null
   */
  subscriptionUserData(): Buffer | null {
    return null;
  }

  /**
   * Per topic, the members subscribed to it (sorted, static ids first) take consecutive ranges of
   * its partitions; the first `count % members` take one more. Every member is in the result.
   *
   * @example
   * const member = (topics: string[]) =>
   *   ({ topics, userData: null, ownedPartitions: [], generationId: -1, rackId: null, groupInstanceId: null });
   * new RangeAssignor().assign(new Map([["t0", 3]]), new Map([["C0", member(["t0"])], ["C1", member(["t0"])]]));
   * // Map { "C0" => [{ topic: "t0", partition: 0 }, { topic: "t0", partition: 1 }], "C1" => [{ topic: "t0", partition: 2 }] }
   */
  assign(partitionsPerTopic: Map<string, number>, subscriptions: MemberSubscriptions): Map<string, TopicPartition[]> {
    const assignment = emptyAssignment(subscriptions);
    const members = sortedMembers(subscriptions);
    const topics = [...new Set([...subscriptions.values()].flatMap((s) => s.topics))].sort(compareStrings);
    for (const topic of topics) {
      const count = partitionsPerTopic.get(topic);
      if (count === undefined) continue;
      const consumers = members.filter((m) => subscriptions.get(m)?.topics.includes(topic));
      const perConsumer = Math.floor(count / consumers.length);
      const withExtra = count % consumers.length;
      consumers.forEach((member, i) => {
        const start = perConsumer * i + Math.min(i, withExtra);
        const length = perConsumer + (i + 1 > withExtra ? 0 : 1);
        const list = assignment.get(member)!;
        for (let p = start; p < start + length; p++) list.push({ topic, partition: p });
      });
    }
    return assignment;
  }
}

/**
 * Kafka's RoundRobinAssignor.
 *
 * @example
 * new RoundRobinAssignor().assign(new Map([["t0", 3]]), subscriptions) // Map { "C0" => [t0-0, t0-2], "C1" => [t0-1] }
 */
export class RoundRobinAssignor implements PartitionAssignor {
  readonly name = "roundrobin";
  readonly rebalanceProtocol = "eager";

  /**
   * None: the round-robin assignment depends only on member ids and topics.
   *
   * @example
   * new RoundRobinAssignor().subscriptionUserData() // null
   */
  subscriptionUserData(): Buffer | null {
    return null;
  }

  /**
   * Every partition of every subscribed topic, sorted by topic then partition, dealt in turn to
   * the sorted members, skipping members not subscribed to its topic.
   *
   * @example
   * const member = (topics: string[]) =>
   *   ({ topics, userData: null, ownedPartitions: [], generationId: -1, rackId: null, groupInstanceId: null });
   * new RoundRobinAssignor().assign(new Map([["t0", 3]]), new Map([["C0", member(["t0"])], ["C1", member(["t0"])]]));
   * // Map { "C0" => [{ topic: "t0", partition: 0 }, { topic: "t0", partition: 2 }], "C1" => [{ topic: "t0", partition: 1 }] }
   */
  assign(partitionsPerTopic: Map<string, number>, subscriptions: MemberSubscriptions): Map<string, TopicPartition[]> {
    const assignment = emptyAssignment(subscriptions);
    const members = sortedMembers(subscriptions);
    if (members.length === 0) return assignment;
    let next = 0;
    for (const tp of allPartitionsSorted(partitionsPerTopic, subscriptions)) {
      // Someone subscribes to every topic here, so this stops.
      while (!subscriptions.get(members[next])!.topics.includes(tp.topic)) next = (next + 1) % members.length;
      assignment.get(members[next])!.push(tp);
      next = (next + 1) % members.length;
    }
    return assignment;
  }
}

/** Every partition of every subscribed topic that exists, sorted by topic then partition. */
function allPartitionsSorted(
  partitionsPerTopic: Map<string, number>,
  subscriptions: MemberSubscriptions,
): TopicPartition[] {
  const topics = [...new Set([...subscriptions.values()].flatMap((s) => s.topics))]
    .filter((t) => partitionsPerTopic.has(t))
    .sort(compareStrings);
  return topics.flatMap((topic) =>
    Array.from({ length: partitionsPerTopic.get(topic)! }, (_, partition) => ({ topic, partition })),
  );
}

/** The generation a cooperative-sticky member claims: the subscription field (v2+) or the int32 userData of older ones. */
function memberGeneration(s: Subscription): number {
  if (s.generationId >= 0) return s.generationId;
  if (s.userData !== null && s.userData.length >= 4) return s.userData.readInt32BE(0);
  return -1;
}

/**
 * Kafka's CooperativeStickyAssignor (see the file comment for where it may differ).
 *
 * @example
 * // Subscriptions carry ownedPartitions and generationId; moved partitions are withheld one round.
 * new CooperativeStickyAssignor().assign(new Map([["t0", 4]]), subscriptions);
 */
export class CooperativeStickyAssignor implements PartitionAssignor {
  readonly name = "cooperative-sticky";
  readonly rebalanceProtocol = "cooperative";

  /**
   * COOPERATIVE_STICKY_ASSIGNOR_USER_DATA_V0: the generation, for leaders that read subscription v0/v1 only.
   *
   * @example
   * new CooperativeStickyAssignor().subscriptionUserData(7) // <Buffer 00 00 00 07>
   */
  subscriptionUserData(generationId: number): Buffer | null {
    const b = Buffer.alloc(4);
    b.writeInt32BE(generationId, 0);
    return b;
  }

  /**
   * A balanced assignment that keeps each member's valid owned partitions where it can; a
   * partition that moves to another member is left out of this round (its owner revokes it and
   * rejoins, and the next round hands it over: KIP-429).
   *
   * @example
   * const member = (ownedPartitions: { topic: string; partition: number }[]) =>
   *   ({ topics: ["t0"], userData: null, ownedPartitions, generationId: 1, rackId: null, groupInstanceId: null });
   * // C0 owned all 4 partitions; C1 just joined: C0 keeps 2, and t0-2, t0-3 go to C1 in the next round.
   * new CooperativeStickyAssignor().assign(
   *   new Map([["t0", 4]]),
   *   new Map([["C0", member([0, 1, 2, 3].map((partition) => ({ topic: "t0", partition })))], ["C1", member([])]]),
   * ); // Map { "C0" => [t0-0, t0-1], "C1" => [] }
   */
  assign(partitionsPerTopic: Map<string, number>, subscriptions: MemberSubscriptions): Map<string, TopicPartition[]> {
    const owned = validOwnedPartitions(partitionsPerTopic, subscriptions);
    const topicSets = [...subscriptions.values()].map((s) =>
      [...new Set(s.topics)].sort(compareStrings).join("\u0000"),
    );
    const allEqual = topicSets.every((t) => t === topicSets[0]);
    const assignment = allEqual
      ? constrainedAssign(partitionsPerTopic, subscriptions, owned.owned, owned.multiplyClaimed)
      : generalAssign(partitionsPerTopic, subscriptions, owned.owned);
    // KIP-429: a partition moving to a new owner is withheld this round; its old owner revokes it,
    // rejoins, and the next assignment hands it over (Java's adjustAssignment).
    const revoked = new Set<string>();
    for (const [member, s] of subscriptions) {
      const now = new Set(assignment.get(member)!.map(tpKey));
      for (const tp of s.ownedPartitions) if (!now.has(tpKey(tp))) revoked.add(tpKey(tp));
    }
    for (const [member, list] of assignment) {
      const ownedByMember = new Set(subscriptions.get(member)!.ownedPartitions.map(tpKey));
      assignment.set(
        member,
        list.filter((tp) => {
          const key = tpKey(tp);
          if (ownedByMember.has(key)) return !owned.multiplyClaimed.has(key);
          return !revoked.has(key) && !owned.multiplyClaimed.has(key);
        }),
      );
    }
    return assignment;
  }
}

/**
 * Each member's owned partitions that still exist and that it still subscribes to, resolving double
 * claims as Java's allSubscriptionsEqual does: the higher generation wins; in the same generation
 * nobody keeps it.
 */
function validOwnedPartitions(
  partitionsPerTopic: Map<string, number>,
  subscriptions: MemberSubscriptions,
): { owned: Map<string, TopicPartition[]>; multiplyClaimed: Set<string> } {
  const owned = new Map<string, TopicPartition[]>();
  const ownerOf = new Map<string, string>();
  const multiplyClaimed = new Set<string>();
  for (const member of sortedMembers(subscriptions)) {
    const s = subscriptions.get(member)!;
    const generation = memberGeneration(s);
    const list: TopicPartition[] = [];
    owned.set(member, list);
    for (const tp of s.ownedPartitions) {
      const count = partitionsPerTopic.get(tp.topic);
      if (count === undefined || tp.partition >= count || !s.topics.includes(tp.topic)) continue;
      const key = tpKey(tp);
      const other = ownerOf.get(key);
      if (other === undefined) {
        list.push(tp);
        ownerOf.set(key, member);
        continue;
      }
      const otherGeneration = memberGeneration(subscriptions.get(other)!);
      const otherList = owned.get(other)!;
      if (generation === otherGeneration) {
        multiplyClaimed.add(key);
        owned.set(
          other,
          otherList.filter((x) => tpKey(x) !== key),
        );
        ownerOf.set(key, member);
      } else if (generation > otherGeneration) {
        list.push(tp);
        owned.set(
          other,
          otherList.filter((x) => tpKey(x) !== key),
        );
        ownerOf.set(key, member);
      }
    }
  }
  for (const [member, list] of owned)
    owned.set(
      member,
      list.filter((tp) => !multiplyClaimed.has(tpKey(tp))),
    );
  return { owned, multiplyClaimed };
}

/** Java's ConstrainedAssignmentBuilder (no racks): every member subscribes to the same topics. */
function constrainedAssign(
  partitionsPerTopic: Map<string, number>,
  subscriptions: MemberSubscriptions,
  owned: Map<string, TopicPartition[]>,
  multiplyClaimed: Set<string>,
): Map<string, TopicPartition[]> {
  const members = sortedMembers(subscriptions);
  const all = allPartitionsSorted(partitionsPerTopic, subscriptions);
  const assignment = emptyAssignment(subscriptions);
  if (members.length === 0) return assignment;
  const minQuota = Math.floor(all.length / members.length);
  const maxQuota = Math.ceil(all.length / members.length);
  const expectedOverMin = all.length % members.length;
  let currentOverMin = 0;
  const underMin: string[] = [];
  let exactlyMin: string[] = [];
  const assigned = new Set<string>();

  for (const member of members) {
    const ownedSorted = [...owned.get(member)!]
      .filter((tp) => !multiplyClaimed.has(tpKey(tp)))
      .sort((a, b) => a.partition - b.partition || compareStrings(a.topic, b.topic));
    const list = assignment.get(member)!;
    let keep: TopicPartition[];
    if (ownedSorted.length < minQuota) {
      keep = ownedSorted;
      underMin.push(member);
    } else if (ownedSorted.length >= maxQuota && currentOverMin < expectedOverMin) {
      currentOverMin++;
      if (currentOverMin === expectedOverMin) exactlyMin = [];
      keep = ownedSorted.slice(0, maxQuota);
    } else {
      keep = ownedSorted.slice(0, minQuota);
      if (currentOverMin < expectedOverMin) exactlyMin.push(member);
    }
    for (const tp of keep) {
      list.push(tp);
      assigned.add(tpKey(tp));
    }
  }

  const unassigned = all.filter((tp) => !assigned.has(tpKey(tp)));
  underMin.sort(compareStrings);
  exactlyMin.sort(compareStrings);
  // An iterator over underMin, as Java's: `next` is the index the next call returns.
  let next = 0;
  for (const tp of unassigned) {
    let member: string;
    let fromIterator = true;
    if (next < underMin.length) {
      member = underMin[next++];
    } else if (underMin.length === 0) {
      const polled = exactlyMin.shift();
      if (polled === undefined)
        throw new Error("cooperative-sticky: no member left for an unassigned partition (a bug)");
      member = polled;
      fromIterator = false;
    } else {
      next = 0;
      member = underMin[next++];
    }
    const list = assignment.get(member)!;
    list.push(tp);
    if (list.length === minQuota && fromIterator) {
      underMin.splice(--next, 1);
      exactlyMin.push(member);
    } else if (list.length === maxQuota) {
      currentOverMin++;
    }
  }
  return assignment;
}

/** Subscriptions differ: keep valid owned partitions, place the rest least-loaded first, then even out. */
function generalAssign(
  partitionsPerTopic: Map<string, number>,
  subscriptions: MemberSubscriptions,
  owned: Map<string, TopicPartition[]>,
): Map<string, TopicPartition[]> {
  const members = sortedMembers(subscriptions);
  const assignment = new Map(members.map((m) => [m, [...owned.get(m)!]]));
  const assigned = new Set([...assignment.values()].flat().map(tpKey));
  const eligible = (tp: TopicPartition) => members.filter((m) => subscriptions.get(m)!.topics.includes(tp.topic));
  const leastLoaded = (candidates: string[]) =>
    candidates.reduce((best, m) => (assignment.get(m)!.length < assignment.get(best)!.length ? m : best));
  for (const tp of allPartitionsSorted(partitionsPerTopic, subscriptions)) {
    if (assigned.has(tpKey(tp))) continue;
    const candidates = eligible(tp);
    if (candidates.length > 0) assignment.get(leastLoaded(candidates))!.push(tp);
  }
  // Move one partition at a time from a member to a less loaded eligible one while that narrows the gap.
  for (let moved = true; moved; ) {
    moved = false;
    for (const from of [...members].sort((a, b) => assignment.get(b)!.length - assignment.get(a)!.length)) {
      const list = assignment.get(from)!;
      for (let k = list.length - 1; k >= 0 && !moved; k--) {
        const tp = list[k];
        const to = leastLoaded(eligible(tp));
        if (assignment.get(to)!.length + 1 < list.length) {
          list.splice(k, 1);
          assignment.get(to)!.push(tp);
          moved = true;
        }
      }
      if (moved) break;
    }
  }
  for (const list of assignment.values()) list.sort(compareTopicPartitions);
  return assignment;
}

/**
 * The assignor for a protocol name.
 *
 * @example
 * assignorFor("range").assign(new Map([["t", 3]]), subscriptions);
 */
export function assignorFor(name: string): PartitionAssignor {
  switch (name) {
    case "range":
      return new RangeAssignor();
    case "roundrobin":
      return new RoundRobinAssignor();
    case "cooperative-sticky":
      return new CooperativeStickyAssignor();
    default:
      throw new Error(`unknown assignor "${name}": use range, roundrobin or cooperative-sticky`);
  }
}
