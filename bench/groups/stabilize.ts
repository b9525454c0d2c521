/**
 * How long a consumer group takes to become stable: N members (one connection each, behaving as
 * a Java/librdkafka consumer does on the wire) start at once against a broker with
 * group.initial.rebalance.delay.ms=0, and the clock runs from the last member's JoinGroup with
 * its member id until the last member has its SyncGroup answer for the generation that holds all
 * N. Then a "restart storm": one more member joins the stable group, every member rejoins, and
 * the clock runs until all N + 1 are synced again. Figures only; nothing is asserted.
 *
 *   node --conditions=samsa-source --import tsx bench/groups/stabilize.ts
 *   node --conditions=samsa-source --import tsx bench/groups/stabilize.ts --members 100 --rounds 3 --heartbeat-ms 100
 *
 * Options: --members 10,100  --rounds 5  --heartbeat-ms 3000,100 (each value is a row; 3000 is
 * the clients' default heartbeat.interval.ms)  --session-timeout-ms 10000
 * --rebalance-timeout-ms 30000  --partitions 200 (of the subscribed topic, for the assignment)
 * --round-timeout-ms 120000  --no-storm  --broker host:port (measure a running broker instead of
 * starting one)  --profile-dir DIR (the started broker writes a .cpuprofile there on exit).
 * See bench/groups/README.md for what each figure means.
 */
import { parseArgs } from "node:util";
import {
  ConsumerProtocolAssignment,
  ConsumerProtocolSubscription,
  ErrorCode,
  errorInfo,
  FindCoordinatorApi,
  HeartbeatApi,
  JoinGroupApi,
  type JoinGroupResponseJoinGroupResponseMember,
  LeaveGroupApi,
  SyncGroupApi,
} from "@samsa/protocol";
import {
  type BenchBroker,
  checkApiVersions,
  decodeEmbedded,
  encodeEmbedded,
  loadAverage,
  machineLines,
  median,
  ms,
  parseList,
  startBroker,
  WireConnection,
} from "./support.js";

/** The versions a current Java consumer (3.x/4.x) sends for the classic protocol. */
const FIND_COORDINATOR_VERSION = 4;
const JOIN_GROUP_VERSION = 9;
const SYNC_GROUP_VERSION = 5;
const HEARTBEAT_VERSION = 4;
const LEAVE_GROUP_VERSION = 5;
/** ConsumerProtocolSubscription / Assignment versions the Java consumer writes. */
const SUBSCRIPTION_VERSION = 3;
const ASSIGNMENT_VERSION = 3;
const PROTOCOL_TYPE = "consumer";
const ASSIGNOR = "range";
const TOPIC = "bench-groups";
/** FindCoordinator answers COORDINATOR_NOT_AVAILABLE while __consumer_offsets is being created. */
const FIND_COORDINATOR_ATTEMPTS = 50;
const FIND_COORDINATOR_BACKOFF_MS = 100;
/** How long the closing heartbeat round and the LeaveGroups may take before sockets are just closed. */
const TEARDOWN_TIMEOUT_MS = 15_000;

const { values } = parseArgs({
  options: {
    members: { type: "string", default: "10,100" },
    rounds: { type: "string", default: "5" },
    "heartbeat-ms": { type: "string", default: "3000,100" },
    "session-timeout-ms": { type: "string", default: "10000" },
    "rebalance-timeout-ms": { type: "string", default: "30000" },
    partitions: { type: "string", default: "200" },
    "round-timeout-ms": { type: "string", default: "120000" },
    "no-storm": { type: "boolean", default: false },
    broker: { type: "string" },
    "profile-dir": { type: "string" },
  },
});
const MEMBER_COUNTS = parseList(values.members);
const ROUNDS = Number(values.rounds);
const HEARTBEAT_INTERVALS_MS = parseList(values["heartbeat-ms"]);
const SESSION_TIMEOUT_MS = Number(values["session-timeout-ms"]);
const REBALANCE_TIMEOUT_MS = Number(values["rebalance-timeout-ms"]);
const PARTITIONS = Number(values.partitions);
const ROUND_TIMEOUT_MS = Number(values["round-timeout-ms"]);
const STORM = !values["no-storm"];

/** Wakes whoever waits for a change in any member (a sync, a failure). */
class Changes {
  private listeners = new Set<() => void>();
  notify(): void {
    for (const l of [...this.listeners]) l();
  }
  /** Resolves with the first non-undefined `check()`, re-checked on every change; rejects on timeout or throw. */
  waitFor<T>(check: () => T | undefined, timeoutMs: number, what: () => string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (f: () => void) => {
        clearTimeout(timer);
        this.listeners.delete(poll);
        f();
      };
      const poll = () => {
        try {
          const v = check();
          if (v !== undefined) done(() => resolve(v));
        } catch (e) {
          done(() => reject(e));
        }
      };
      timer = setTimeout(() => done(() => reject(new Error(`not ${what()} within ${timeoutMs} ms`))), timeoutMs);
      this.listeners.add(poll);
      poll();
    });
  }
}

interface SyncRecord {
  generation: number;
  at: number;
  partitions: number[];
}

/**
 * One consumer on the wire: JoinGroup (MEMBER_ID_REQUIRED, then again with the id), SyncGroup
 * (the leader sends a range assignment), heartbeats every interval; rejoins when a heartbeat or
 * SyncGroup says REBALANCE_IN_PROGRESS or ILLEGAL_GENERATION, starts over on UNKNOWN_MEMBER_ID.
 * One request in flight at a time, as in a real consumer's coordinator connection.
 */
class Member {
  memberId = "";
  firstJoinSentAt: number | undefined;
  /** When this member first sent JoinGroup with the id the coordinator gave it. */
  joinWithIdSentAt: number | undefined;
  /** When this member last sent a JoinGroup. */
  lastJoinSentAt = 0;
  lastSync: SyncRecord | undefined;
  joins = 0;
  failure: Error | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;
  private heartbeatWaiters: ((errorCode: number) => void)[] = [];
  private running: Promise<void> | undefined;

  constructor(
    readonly name: string,
    private readonly conn: WireConnection,
    private readonly groupId: string,
    private readonly heartbeatMs: number,
    private readonly changes: Changes,
  ) {}

  start(): void {
    this.running = this.run().catch((e: Error) => {
      if (this.stopped) return;
      this.failure = e;
      this.changes.notify();
    });
  }

  /** Sends a heartbeat now (instead of at the next interval) and resolves with its error code. */
  heartbeatNow(): Promise<number> {
    return new Promise((resolve) => {
      this.heartbeatWaiters.push(resolve);
      this.wake?.();
    });
  }

  /** Stops after the request in flight and leaves the group (LeaveGroup), as `consumer.close()` does. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.running;
    if (this.memberId === "" || this.failure !== undefined) return;
    const res = await this.conn.request(LeaveGroupApi, LEAVE_GROUP_VERSION, {
      groupId: this.groupId,
      members: [{ memberId: this.memberId, groupInstanceId: null, reason: "benchmark round over" }],
    });
    const code = res.errorCode !== ErrorCode.NONE ? res.errorCode : (res.members[0]?.errorCode ?? ErrorCode.NONE);
    if (code !== ErrorCode.NONE && code !== ErrorCode.UNKNOWN_MEMBER_ID) {
      throw new Error(`${this.name}: LeaveGroup ${errorInfo(code).name}`);
    }
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const generation = await this.joinAndSync();
      if (generation === null) continue;
      while (!this.stopped) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.heartbeatMs);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
        if (this.stopped) return;
        const res = await this.conn.request(HeartbeatApi, HEARTBEAT_VERSION, {
          groupId: this.groupId,
          generationId: generation,
          memberId: this.memberId,
          groupInstanceId: null,
        });
        for (const w of this.heartbeatWaiters.splice(0)) w(res.errorCode);
        if (res.errorCode === ErrorCode.NONE) continue;
        if (!this.rejoinable(res.errorCode))
          throw new Error(`${this.name}: Heartbeat ${errorInfo(res.errorCode).name}`);
        break;
      }
    }
  }

  /** One JoinGroup + SyncGroup; the generation when synced, null when the member must rejoin. */
  private async joinAndSync(): Promise<number | null> {
    const now = performance.now();
    this.firstJoinSentAt ??= now;
    if (this.memberId !== "") this.joinWithIdSentAt ??= now;
    this.lastJoinSentAt = now;
    this.joins++;
    const join = await this.conn.request(JoinGroupApi, JOIN_GROUP_VERSION, {
      groupId: this.groupId,
      sessionTimeoutMs: SESSION_TIMEOUT_MS,
      rebalanceTimeoutMs: REBALANCE_TIMEOUT_MS,
      memberId: this.memberId,
      groupInstanceId: null,
      protocolType: PROTOCOL_TYPE,
      protocols: [{ name: ASSIGNOR, metadata: this.subscription() }],
      reason: null,
    });
    if (join.errorCode === ErrorCode.MEMBER_ID_REQUIRED) {
      this.memberId = join.memberId;
      return null;
    }
    if (join.errorCode !== ErrorCode.NONE) {
      if (this.rejoinable(join.errorCode)) return null;
      throw new Error(`${this.name}: JoinGroup ${errorInfo(join.errorCode).name}`);
    }
    this.memberId = join.memberId;
    const assignments = join.leader === this.memberId ? rangeAssign(join.members) : [];
    const sync = await this.conn.request(SyncGroupApi, SYNC_GROUP_VERSION, {
      groupId: this.groupId,
      generationId: join.generationId,
      memberId: this.memberId,
      groupInstanceId: null,
      protocolType: PROTOCOL_TYPE,
      protocolName: join.protocolName,
      assignments,
    });
    if (sync.errorCode !== ErrorCode.NONE) {
      if (this.rejoinable(sync.errorCode)) return null;
      throw new Error(`${this.name}: SyncGroup ${errorInfo(sync.errorCode).name}`);
    }
    const assignment = decodeEmbedded(ConsumerProtocolAssignment, sync.assignment);
    const partitions = assignment.assignedPartitions.flatMap((tp) => (tp.topic === TOPIC ? tp.partitions : []));
    this.lastSync = { generation: join.generationId, at: performance.now(), partitions };
    this.changes.notify();
    return join.generationId;
  }

  /** The errors after which a consumer rejoins (and, for UNKNOWN_MEMBER_ID, asks for a new id). */
  private rejoinable(code: number): boolean {
    if (code === ErrorCode.UNKNOWN_MEMBER_ID) {
      this.memberId = "";
      return true;
    }
    return code === ErrorCode.REBALANCE_IN_PROGRESS || code === ErrorCode.ILLEGAL_GENERATION;
  }

  private subscription(): Buffer {
    const owned = this.lastSync?.partitions ?? [];
    return encodeEmbedded(ConsumerProtocolSubscription, SUBSCRIPTION_VERSION, {
      topics: [TOPIC],
      userData: null,
      ownedPartitions: owned.length === 0 ? [] : [{ topic: TOPIC, partitions: owned }],
      generationId: this.lastSync?.generation ?? -1,
      rackId: null,
    });
  }
}

/** Kafka's RangeAssignor for one topic: members by id, the first `PARTITIONS % n` get one more. */
function rangeAssign(members: readonly JoinGroupResponseJoinGroupResponseMember[]) {
  const ids = members
    .filter((m) => decodeEmbedded(ConsumerProtocolSubscription, m.metadata).topics.includes(TOPIC))
    .map((m) => m.memberId)
    .sort();
  const per = Math.floor(PARTITIONS / ids.length);
  const extra = PARTITIONS % ids.length;
  let next = 0;
  return ids.map((memberId, i) => {
    const count = per + (i < extra ? 1 : 0);
    const partitions = Array.from({ length: count }, (_, k) => next + k);
    next += count;
    return {
      memberId,
      assignment: encodeEmbedded(ConsumerProtocolAssignment, ASSIGNMENT_VERSION, {
        assignedPartitions: [{ topic: TOPIC, partitions }],
        userData: null,
      }),
    };
  });
}

/** A member's own connection, after the coordinator lookup a consumer starts with. */
async function connectMember(broker: BenchBroker, groupId: string, name: string): Promise<WireConnection> {
  const conn = await WireConnection.connect(broker.host, broker.port, name);
  for (let attempt = 1; ; attempt++) {
    const res = await conn.request(FindCoordinatorApi, FIND_COORDINATOR_VERSION, {
      keyType: 0,
      coordinatorKeys: [groupId],
    });
    const c = res.coordinators[0];
    if (c !== undefined && c.errorCode === ErrorCode.NONE) {
      if (c.port === broker.port) return conn;
      conn.close();
      return WireConnection.connect(c.host, c.port, name);
    }
    const code = c?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR;
    if (
      attempt >= FIND_COORDINATOR_ATTEMPTS ||
      (code !== ErrorCode.COORDINATOR_NOT_AVAILABLE && code !== ErrorCode.COORDINATOR_LOAD_IN_PROGRESS)
    ) {
      throw new Error(`FindCoordinator ${groupId}: ${errorInfo(code).name}`);
    }
    await new Promise((r) => setTimeout(r, FIND_COORDINATOR_BACKOFF_MS));
  }
}

interface Stable {
  generation: number;
  /** The last member's SyncGroup answer for that generation. */
  at: number;
}

/** Resolves once every member has synced the same generation newer than `after`; fails on a member's error. */
function waitStable(members: readonly Member[], changes: Changes, after: number): Promise<Stable> {
  return changes.waitFor(
    () => {
      const failed = members.find((m) => m.failure !== undefined);
      if (failed !== undefined) throw failed.failure;
      const g = members[0]!.lastSync?.generation;
      if (g === undefined || g <= after) return undefined;
      if (!members.every((m) => m.lastSync?.generation === g)) return undefined;
      return { generation: g, at: Math.max(...members.map((m) => m.lastSync!.at)) };
    },
    ROUND_TIMEOUT_MS,
    () => {
      const byGeneration = new Map<string, number>();
      for (const m of members) {
        const k = String(m.lastSync?.generation ?? "none");
        byGeneration.set(k, (byGeneration.get(k) ?? 0) + 1);
      }
      return `stable (members by last synced generation: ${JSON.stringify(Object.fromEntries(byGeneration))})`;
    },
  );
}

/** The range assignment of a stable generation must give out every partition exactly once. */
function checkAssignment(members: readonly Member[]): string | null {
  const all = members.flatMap((m) => m.lastSync!.partitions);
  if (all.length === PARTITIONS && new Set(all).size === PARTITIONS) return null;
  return `the synced assignments give out ${all.length} partitions (${new Set(all).size} distinct) of ${PARTITIONS}`;
}

/** Every member's next heartbeat must be answered NONE: the group is really stable, not between rebalances. */
async function confirmStable(members: readonly Member[]): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined;
  const codes = await Promise.race([
    Promise.all(members.map((m) => m.heartbeatNow())),
    new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), TEARDOWN_TIMEOUT_MS);
    }),
  ]);
  clearTimeout(timer);
  if (codes === null) return "a member did not heartbeat after the group was stable";
  const bad = codes.filter((c) => c !== ErrorCode.NONE);
  return bad.length === 0
    ? null
    : `heartbeats after stable answered ${[...new Set(bad.map((c) => errorInfo(c).name))].join(", ")}`;
}

interface RoundResult {
  lastJoinToStableMs: number;
  firstJoinToStableMs: number;
  generation: number;
  storm?: { joinToStableMs: number; lastRejoinToStableMs: number; generations: number };
  problems: string[];
}

async function round(broker: BenchBroker, n: number, heartbeatMs: number, index: number): Promise<RoundResult> {
  const groupId = `bench-stabilize-${n}-hb${heartbeatMs}-${index}-${process.pid}`;
  const changes = new Changes();
  const conns = await Promise.all(
    Array.from({ length: n + (STORM ? 1 : 0) }, (_, i) => connectMember(broker, groupId, `member-${i}`)),
  );
  const members = conns.map((c, i) => new Member(`member-${i}`, c, groupId, heartbeatMs, changes));
  const initial = members.slice(0, n);
  const problems: string[] = [];
  try {
    for (const m of initial) m.start();
    const stable = await waitStable(initial, changes, 0);
    const lastJoin = Math.max(...initial.map((m) => m.joinWithIdSentAt!));
    const firstJoin = Math.min(...initial.map((m) => m.firstJoinSentAt!));
    const result: RoundResult = {
      lastJoinToStableMs: stable.at - lastJoin,
      firstJoinToStableMs: stable.at - firstJoin,
      generation: stable.generation,
      problems,
    };
    for (const p of [checkAssignment(initial), await confirmStable(initial)]) if (p !== null) problems.push(p);

    if (STORM) {
      const newcomer = members[n]!;
      const stormStart = performance.now();
      newcomer.start();
      const again = await waitStable(members, changes, stable.generation);
      const lastRejoin = Math.max(...members.map((m) => m.lastJoinSentAt));
      if (initial.some((m) => m.lastJoinSentAt < stormStart)) problems.push("storm: a member synced without rejoining");
      result.storm = {
        joinToStableMs: again.at - newcomer.joinWithIdSentAt!,
        lastRejoinToStableMs: again.at - lastRejoin,
        generations: again.generation - stable.generation,
      };
      for (const p of [checkAssignment(members), await confirmStable(members)])
        if (p !== null) problems.push(`storm: ${p}`);
    }
    return result;
  } finally {
    const started = members.filter((m) => m.firstJoinSentAt !== undefined);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(started.map((m) => m.stop())).then((rs) => {
        for (const r of rs) if (r.status === "rejected") problems.push(String((r.reason as Error).message));
      }),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, TEARDOWN_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
    for (const c of conns) c.close();
  }
}

async function main(): Promise<void> {
  const sets = ["group.initial.rebalance.delay.ms=0"];
  const header = machineLines();
  for (const l of header) console.log(l);
  const broker = await startBroker({ external: values.broker, sets, profileDir: values["profile-dir"] });
  console.log(`Broker: ${broker.description}`);
  console.log(
    `Members: session.timeout.ms ${SESSION_TIMEOUT_MS}, rebalance timeout ${REBALANCE_TIMEOUT_MS} ms, JoinGroup v${JOIN_GROUP_VERSION}, SyncGroup v${SYNC_GROUP_VERSION}, Heartbeat v${HEARTBEAT_VERSION}, "${ASSIGNOR}" over ${PARTITIONS} partitions; ${ROUNDS} rounds per row, a new group each round`,
  );
  const rows: string[] = [];
  const allProblems: string[] = [];
  try {
    const probe = await WireConnection.connect(broker.host, broker.port, "bench-probe");
    await checkApiVersions(probe, [
      [FindCoordinatorApi, FIND_COORDINATOR_VERSION],
      [JoinGroupApi, JOIN_GROUP_VERSION],
      [SyncGroupApi, SYNC_GROUP_VERSION],
      [HeartbeatApi, HEARTBEAT_VERSION],
      [LeaveGroupApi, LEAVE_GROUP_VERSION],
    ]);
    probe.close();
    // One untimed small group first: creates __consumer_offsets and warms up both processes.
    process.stderr.write("warm-up round (5 members, not reported)\n");
    await round(broker, 5, 100, 0);

    for (const heartbeatMs of HEARTBEAT_INTERVALS_MS) {
      for (const n of MEMBER_COUNTS) {
        const results: RoundResult[] = [];
        const loadBefore = loadAverage();
        for (let i = 1; i <= ROUNDS; i++) {
          const r = await round(broker, n, heartbeatMs, i);
          results.push(r);
          for (const p of r.problems) allProblems.push(`${n} members, heartbeat ${heartbeatMs} ms, round ${i}: ${p}`);
          process.stderr.write(
            `${n} members, heartbeat ${heartbeatMs} ms, round ${i}: last join -> stable ${ms(r.lastJoinToStableMs)}, first join -> stable ${ms(r.firstJoinToStableMs)}, generation ${r.generation}` +
              (r.storm === undefined
                ? ""
                : `; storm ${ms(r.storm.joinToStableMs)} (last rejoin -> stable ${ms(r.storm.lastRejoinToStableMs)}) over ${r.storm.generations} generation(s)`) +
              "\n",
          );
        }
        const col = (f: (r: RoundResult) => number) => results.map(f);
        const last = col((r) => r.lastJoinToStableMs);
        const first = col((r) => r.firstJoinToStableMs);
        const storms = results.filter((r) => r.storm !== undefined).map((r) => r.storm!);
        const storm = storms.map((s) => s.joinToStableMs);
        const stormRejoin = storms.map((s) => s.lastRejoinToStableMs);
        rows.push(
          `| ${n} | ${heartbeatMs} | ${ROUNDS} | ${ms(median(last))} | ${ms(Math.max(...last))} | ${ms(median(first))} | ${ms(Math.max(...first))} | ${median(col((r) => r.generation))} | ` +
            (storm.length === 0
              ? "— | — | — | — | — |"
              : `${ms(median(storm))} | ${ms(Math.max(...storm))} | ${ms(median(stormRejoin))} | ${ms(Math.max(...stormRejoin))} | ${median(storms.map((s) => s.generations))} |`) +
            ` ${loadBefore} / ${loadAverage()} |`,
        );
      }
    }
  } finally {
    await broker.dispose();
  }
  console.log("");
  console.log(
    "| Members | Heartbeat interval ms | Rounds | Last join → stable, median | max | First join → stable, median | max | Generations to stable (median) | Storm: join of member N+1 → stable, median | max | Storm: last rejoin → stable, median | max | Storm generations | Load avg before / after |",
  );
  console.log("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|");
  for (const r of rows) console.log(r);
  console.log("");
  console.log(
    "Last join = the last member's JoinGroup with its member id sent; stable = the last member's SyncGroup answer for a generation every member has synced.",
  );
  console.log(
    "Storm: stable members hear of the rebalance in their next heartbeat answer; the newcomer joins right after a heartbeat round, so its join → stable includes about one whole interval. Last rejoin → stable is the coordinator's part.",
  );
  console.log(`Load average at the end: ${loadAverage()}`);
  if (allProblems.length > 0) {
    console.log("\nProblems seen (figures of these rounds are still in the table):");
    for (const p of allProblems) console.log(`- ${p}`);
  }
}

await main();
