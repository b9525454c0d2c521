/**
 * Shared pieces of the consumer-group e2e tests: the events a group member prints (see
 * clients/group_member.py and clients/sarama-group/main.go), conditions over several members, and
 * KafkaJS 2.2.4 as the harness's own client for setup (topics, records) and for observing the
 * group from outside (DescribeGroups, OffsetFetch) — the clients under test only consume.
 */
import assert from "node:assert/strict";
import kafkajs, { type Admin, type GroupDescription } from "kafkajs";
import type { ClientEvent, ClientProcess } from "./client-process.js";

/** Broker configs for group tests: no initial rebalance delay, short sessions allowed, few offsets partitions. */
export const GROUP_BROKER_SET = [
  "group.initial.rebalance.delay.ms=0",
  "group.min.session.timeout.ms=1000",
  "offsets.topic.num.partitions=4",
];

// KafkaJS is CommonJS whose exports Node cannot list statically: take them from the default export.
const { AssignerProtocol, Kafka, logLevel } = kafkajs;

/** What a member prints: rebalance callbacks, records (printed before their commit), commits. */
export interface MemberEvent extends ClientEvent {
  /** assign / revoke / lost: the partitions in this callback, and the member's whole assignment after it. */
  delta?: number[];
  assignment?: number[];
  generation?: number | null;
  member?: string | null;
  /** record / committed / commit-error */
  p?: number;
  o?: number;
  v?: string;
  error?: string;
}

export type Member = ClientProcess<MemberEvent>;

export interface ProducedRecord {
  p: number;
  o: number;
  v: string;
}

const REBALANCE_EVENTS = new Set(["assign", "revoke", "lost"]);

/** The member's current assignment (after its last rebalance callback), or undefined before the first. */
export function assignmentOf(member: Member): number[] | undefined {
  for (let i = member.events.length - 1; i >= 0; i--) {
    const e = member.events[i];
    if (REBALANCE_EVENTS.has(e.event)) return e.assignment;
  }
  return undefined;
}

/** The generation the member reported with its last rebalance callback. */
export function generationOf(member: Member): number | null | undefined {
  for (let i = member.events.length - 1; i >= 0; i--) {
    const e = member.events[i];
    if (REBALANCE_EVENTS.has(e.event)) return e.generation;
  }
  return undefined;
}

export function rebalanceEvents(member: Member, from = 0): MemberEvent[] {
  return member.events.slice(from).filter((e) => REBALANCE_EVENTS.has(e.event));
}

export function recordsOf(member: Member): ProducedRecord[] {
  return member.events.filter((e) => e.event === "record").map((e) => ({ p: e.p!, o: e.o!, v: e.v! }));
}

/** Failed commits (a broken connection's client-level "error" events are not counted). */
export function commitErrors(members: readonly Member[]): MemberEvent[] {
  return members.flatMap((m) => m.events.filter((e) => e.event === "commit-error"));
}

/** The highest offset + 1 each member committed per partition, merged (for awaiting commits). */
export function committedOf(members: readonly Member[]): Map<number, number> {
  const next = new Map<number, number>();
  for (const m of members) {
    for (const e of m.events) {
      if (e.event === "committed") next.set(e.p!, Math.max(next.get(e.p!) ?? 0, e.o! + 1));
    }
  }
  return next;
}

/**
 * Resolves with the first non-undefined value `check` returns, checked now and whenever any of
 * `members` prints; rejects on timeout or if one of them exits first.
 */
export function waitUntil<T>(
  members: readonly Member[],
  check: () => T | undefined,
  timeoutMs: number,
  what: string,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const unsubscribe: (() => void)[] = [];
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const finish = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      for (const u of unsubscribe) u();
      f();
    };
    const poll = () => {
      try {
        const value = check();
        if (value !== undefined) return finish(() => resolve(value));
      } catch (e) {
        return finish(() => reject(e));
      }
      const gone = members.find((m) => !m.running);
      if (gone !== undefined) {
        finish(() => reject(new Error(`${gone.name} exited before ${what}\n${gone.tail()}`)));
      }
    };
    timer = setTimeout(
      () =>
        finish(() =>
          reject(
            new Error(
              `not ${what} within ${timeoutMs} ms; assignments ${JSON.stringify(members.map((m) => [m.name, assignmentOf(m)]))}\n${members.map((m) => m.tail()).join("\n")}`,
            ),
          ),
        ),
      timeoutMs,
    );
    for (const m of members) unsubscribe.push(m.onChange(poll));
    poll();
  });
}

/**
 * Waits until the members' current assignments are disjoint, cover partitions 0..count-1, and
 * (when `sizes` is given) have those sizes in some order; resolves with the assignments.
 */
export function waitForSplit(
  members: readonly Member[],
  count: number,
  timeoutMs: number,
  sizes?: number[],
): Promise<number[][]> {
  return waitUntil(
    members,
    () => {
      const assignments = members.map(assignmentOf);
      if (assignments.some((a) => a === undefined)) return undefined;
      const all = assignments.flatMap((a) => a!);
      if (all.length !== count || new Set(all).size !== count) return undefined;
      if (sizes !== undefined) {
        const have = assignments.map((a) => a!.length).sort();
        if (JSON.stringify(have) !== JSON.stringify([...sizes].sort())) return undefined;
      }
      return assignments as number[][];
    },
    timeoutMs,
    `split ${count} partitions${sizes === undefined ? "" : ` as ${sizes.join("/")}`}`,
  );
}

const key = (r: { p: number; o: number }) => `${r.p}@${r.o}`;

/** Waits until the members together printed every record of `expected` (duplicates are checked by `checkExactlyOnce`). */
export function waitForRecords(
  members: readonly Member[],
  expected: readonly ProducedRecord[],
  timeoutMs: number,
): Promise<void> {
  const want = new Set(expected.map(key));
  return waitUntil(
    members,
    () => {
      const seen = new Set(members.flatMap(recordsOf).map(key));
      for (const k of want) if (!seen.has(k)) return undefined;
      return true;
    },
    timeoutMs,
    `consumed all ${expected.length} records`,
  ).then(() => undefined);
}

/** Waits until the members' commits reach `ends` (partition -> next offset). */
export function waitForCommits(members: readonly Member[], ends: Map<number, number>, timeoutMs: number) {
  return waitUntil(
    members,
    () => {
      const committed = committedOf(members);
      for (const [p, end] of ends) if ((committed.get(p) ?? 0) < end) return undefined;
      return true;
    },
    timeoutMs,
    `committed up to ${JSON.stringify([...ends])}`,
  );
}

/**
 * Every record the members printed is one of `expected`, with its value, printed exactly once
 * (by any member, in the order of its partition), and every one of `expected` was printed.
 */
export function checkExactlyOnce(members: readonly Member[], expected: readonly ProducedRecord[]): void {
  const want = new Map(expected.map((r) => [key(r), r.v]));
  const seen = new Map<string, string[]>();
  for (const m of members) {
    for (const r of recordsOf(m)) {
      const k = key(r);
      seen.set(k, [...(seen.get(k) ?? []), m.name]);
      assert.ok(want.has(k), `${m.name} consumed ${k} (${r.v}), which is not among the expected records`);
      assert.equal(r.v, want.get(k), `value of ${k}`);
    }
  }
  const twice = [...seen].filter(([, by]) => by.length > 1);
  assert.deepEqual(twice, [], "records consumed more than once (record, members)");
  const missing = [...want.keys()].filter((k) => !seen.has(k));
  assert.deepEqual(missing, [], "records never consumed");
}

/** KafkaJS as the harness's client, quiet and with few retries. */
export function harnessKafka(bootstrap: string, clientId = "samsa-e2e-harness") {
  return new Kafka({
    clientId,
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
    retry: { retries: 5, initialRetryTime: 100 },
  });
}

export async function createTopic(admin: Admin, topic: string, partitions: number): Promise<void> {
  const created = await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: partitions }] });
  assert.equal(created, true, `create ${topic}`);
}

/**
 * Produces `perPartition` records to each of partitions 0..partitions-1 (acks=all), with values
 * `${tag}-${p}-${i}`, and returns them with the offsets the broker gave.
 */
export async function produceRecords(
  bootstrap: string,
  topic: string,
  partitions: number,
  perPartition: number,
  tag: string,
): Promise<ProducedRecord[]> {
  const producer = harnessKafka(bootstrap, "samsa-e2e-harness-producer").producer();
  await producer.connect();
  try {
    const produced: ProducedRecord[] = [];
    for (let p = 0; p < partitions; p++) {
      const values = Array.from({ length: perPartition }, (_, i) => `${tag}-${p}-${i}`);
      const [meta] = await producer.send({
        topic,
        acks: -1,
        messages: values.map((value) => ({ partition: p, value })),
      });
      const base = Number(meta.baseOffset);
      for (const [i, v] of values.entries()) produced.push({ p, o: base + i, v });
    }
    return produced;
  } finally {
    await producer.disconnect();
  }
}

/** The next offset per partition after `records`. */
export function endOffsets(records: readonly ProducedRecord[]): Map<number, number> {
  const ends = new Map<number, number>();
  for (const r of records) ends.set(r.p, Math.max(ends.get(r.p) ?? 0, r.o + 1));
  return ends;
}

/** DescribeGroups for one group, with each member's assignment decoded (partitions of `topic`). */
export async function describeGroup(
  admin: Admin,
  groupId: string,
  topic: string,
): Promise<GroupDescription & { assignments: Map<string, number[]> }> {
  const { groups } = await admin.describeGroups([groupId]);
  assert.equal(groups.length, 1);
  const group = groups[0];
  const assignments = new Map<string, number[]>();
  for (const m of group.members) {
    const decoded =
      m.memberAssignment.length === 0 ? null : AssignerProtocol.MemberAssignment.decode(m.memberAssignment);
    assignments.set(
      m.memberId,
      [...(decoded?.assignment[topic] ?? [])].sort((a, b) => a - b),
    );
  }
  return { ...group, assignments };
}

/** OffsetFetch through KafkaJS: partition -> [committed offset, metadata]. */
export async function committedOffsets(
  admin: Admin,
  groupId: string,
  topic: string,
): Promise<Map<number, [number, string | null]>> {
  const [fetched] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return new Map(fetched.partitions.map((p) => [p.partition, [Number(p.offset), p.metadata]]));
}

/**
 * Conditions over state a test keeps in its own process (an in-process client's callbacks):
 * `notify()` after every change, `waitFor` re-checks then — no polling, no fixed sleeps.
 */
export class Conditions {
  private readonly waiters = new Set<() => void>();

  notify(): void {
    for (const w of [...this.waiters]) w();
  }

  waitFor<T>(check: () => T | undefined, timeoutMs: number, what: string, context?: () => string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const poll = () => {
        let value: T | undefined;
        try {
          value = check();
        } catch (e) {
          this.waiters.delete(poll);
          clearTimeout(timer);
          reject(e);
          return;
        }
        if (value === undefined) return;
        this.waiters.delete(poll);
        clearTimeout(timer);
        resolve(value);
      };
      timer = setTimeout(() => {
        this.waiters.delete(poll);
        reject(new Error(`not ${what} within ${timeoutMs} ms${context === undefined ? "" : `\n${context()}`}`));
      }, timeoutMs);
      this.waiters.add(poll);
      poll();
    });
  }
}
