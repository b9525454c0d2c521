/**
 * The membership state machine against a scripted coordinator: each test lists the responses the
 * coordinator gives, in order, and checks the requests and the partitions the member ends up with.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  type ApiDescriptor,
  type Encodable,
  ErrorCode,
  errorInfo,
  HeartbeatApi,
  JoinGroupApi,
  KafkaError,
  LeaveGroupApi,
  OffsetCommitApi,
  SyncGroupApi,
} from "@samsa/protocol";
import { CooperativeStickyAssignor, RangeAssignor } from "./assignors.js";
import { decodeAssignment, decodeSubscription, encodeAssignment, encodeSubscription } from "./consumer-protocol.js";
import {
  CommitFailedError,
  type CoordinatorChannel,
  GroupMembership,
  GroupMembershipError,
  type MembershipHooks,
} from "./coordinator.js";
import type { TopicPartition } from "./types.js";

interface Sent {
  api: string;
  body: Record<string, unknown>;
}

/** A coordinator that answers each request with the next scripted response for its API. */
class ScriptedCoordinator implements CoordinatorChannel {
  readonly sent: Sent[] = [];
  coordinatorResets = 0;
  private readonly script = new Map<string, unknown[]>();

  on(api: ApiDescriptor<unknown, unknown> | { name: string }, ...responses: unknown[]): this {
    this.script.set(api.name, [...(this.script.get(api.name) ?? []), ...responses]);
    return this;
  }

  async send<Req, Res>(api: ApiDescriptor<Req, Res>, body: Encodable<Req>): Promise<Res> {
    this.sent.push({ api: api.name, body: body as Record<string, unknown> });
    const next = this.script.get(api.name)?.shift();
    if (next === undefined) throw new Error(`no scripted ${api.name} response left`);
    return (await next) as Res;
  }

  async versionFor(): Promise<number> {
    return 5;
  }

  markCoordinatorUnknown(): void {
    this.coordinatorResets++;
  }

  requests(api: string): Record<string, unknown>[] {
    return this.sent.filter((s) => s.api === api).map((s) => s.body);
  }
}

class RecordingHooks implements MembershipHooks {
  readonly events: string[] = [];
  commits = 0;
  async partitionsPerTopic(topics: string[]): Promise<Map<string, number>> {
    return new Map(topics.map((t) => [t, 4]));
  }
  async commitBeforeRevoke(): Promise<void> {
    this.commits++;
  }
  async revoked(p: TopicPartition[]): Promise<void> {
    this.events.push(`revoked ${fmt(p)}`);
  }
  async assigned(p: TopicPartition[]): Promise<void> {
    this.events.push(`assigned ${fmt(p)}`);
  }
  async lost(p: TopicPartition[]): Promise<void> {
    this.events.push(`lost ${fmt(p)}`);
  }
}

function fmt(p: TopicPartition[]): string {
  return p.map((tp) => `${tp.topic}-${tp.partition}`).join(",");
}

function membership(
  channel: CoordinatorChannel,
  hooks: MembershipHooks,
  opts: { cooperative?: boolean; instanceId?: string } = {},
) {
  const m = new GroupMembership(
    {
      groupId: "g",
      groupInstanceId: opts.instanceId ?? null,
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 10_000,
      heartbeatIntervalMs: 60_000, // the tests call heartbeat() themselves
      requestTimeoutMs: 1000,
      assignors: [opts.cooperative ? new CooperativeStickyAssignor() : new RangeAssignor()],
      retryBackoffMs: 1,
    },
    channel,
    hooks,
  );
  m.subscribe(["t"]);
  return m;
}

const tp = (partition: number) => ({ topic: "t", partition });

function joinOk(
  memberId: string,
  generationId: number,
  leader: string,
  members: { memberId: string; owned?: TopicPartition[] }[] = [],
) {
  return {
    errorCode: ErrorCode.NONE,
    generationId,
    protocolType: "consumer",
    protocolName: "range",
    leader,
    skipAssignment: false,
    memberId,
    members: members.map((m) => ({
      memberId: m.memberId,
      groupInstanceId: null,
      metadata: encodeSubscription({
        topics: ["t"],
        userData: null,
        ownedPartitions: m.owned ?? [],
        generationId: -1,
        rackId: null,
      }),
    })),
  };
}

function syncOk(partitions: TopicPartition[]) {
  return {
    errorCode: ErrorCode.NONE,
    protocolType: "consumer",
    protocolName: "range",
    assignment: encodeAssignment(partitions),
  };
}

describe("GroupMembership", () => {
  test("MEMBER_ID_REQUIRED, then the leader assigns with range and syncs", async () => {
    const c = new ScriptedCoordinator()
      .on(
        JoinGroupApi,
        { ...joinOk("m-1", -1, ""), errorCode: ErrorCode.MEMBER_ID_REQUIRED },
        joinOk("m-1", 1, "m-1", [{ memberId: "m-1" }, { memberId: "m-2" }]),
      )
      .on(SyncGroupApi, syncOk([tp(0), tp(1)]));
    const hooks = new RecordingHooks();
    const m = membership(c, hooks);
    await m.ensureActiveGroup();
    m.stop();
    const joins = c.requests("JoinGroup");
    assert.equal(joins[0].memberId, "");
    assert.equal(joins[1].memberId, "m-1", "rejoins with the id the coordinator handed out");
    const sync = c.requests("SyncGroup")[0];
    const assignments = sync.assignments as { memberId: string; assignment: Buffer }[];
    assert.deepEqual(
      assignments.map((a) => [a.memberId, fmt(decodeAssignment(a.assignment))]),
      [
        ["m-1", "t-0,t-1"],
        ["m-2", "t-2,t-3"],
      ],
    );
    assert.equal(m.state, "stable");
    assert.equal(m.generationId, 1);
    assert.deepEqual(hooks.events, ["assigned t-0,t-1"]);
  });

  test("heartbeat REBALANCE_IN_PROGRESS: an eager member commits, revokes everything, rejoins", async () => {
    const c = new ScriptedCoordinator()
      .on(JoinGroupApi, joinOk("m-1", 1, "other"), joinOk("m-1", 2, "other"))
      .on(SyncGroupApi, syncOk([tp(0), tp(1)]), syncOk([tp(1)]))
      .on(HeartbeatApi, { errorCode: ErrorCode.REBALANCE_IN_PROGRESS });
    const hooks = new RecordingHooks();
    const m = membership(c, hooks);
    await m.ensureActiveGroup();
    await m.heartbeat();
    assert.equal(m.rejoinNeeded, true);
    await m.ensureActiveGroup();
    m.stop();
    assert.equal(hooks.commits, 1);
    assert.deepEqual(hooks.events, ["assigned t-0,t-1", "revoked t-0,t-1", "assigned t-1"]);
    // The subscription sent on rejoin names what the member owned then (nothing: eager gave it up).
    const metadata = (c.requests("JoinGroup")[1].protocols as { metadata: Buffer }[])[0].metadata;
    assert.deepEqual(decodeSubscription(metadata, null).ownedPartitions, []);
  });

  test("cooperative: only partitions that move are revoked, then the member rejoins at once", async () => {
    const c = new ScriptedCoordinator()
      .on(JoinGroupApi, joinOk("m-1", 1, "other"), joinOk("m-1", 2, "other"), joinOk("m-1", 3, "other"))
      .on(SyncGroupApi, syncOk([tp(0), tp(1), tp(2)]), syncOk([tp(0)]), syncOk([tp(0)]))
      .on(HeartbeatApi, { errorCode: ErrorCode.REBALANCE_IN_PROGRESS });
    const hooks = new RecordingHooks();
    const m = membership(c, hooks, { cooperative: true });
    await m.ensureActiveGroup();
    await m.heartbeat();
    await m.ensureActiveGroup();
    m.stop();
    assert.deepEqual(
      hooks.events.filter((e) => e !== "assigned "),
      ["assigned t-0,t-1,t-2", "revoked t-1,t-2"],
    );
    assert.equal(c.requests("JoinGroup").length, 3, "a second join follows the revocation");
    const rejoin = (c.requests("JoinGroup")[1].protocols as { metadata: Buffer }[])[0].metadata;
    assert.deepEqual(
      fmt(decodeSubscription(rejoin, null).ownedPartitions),
      "t-0,t-1,t-2",
      "cooperative members keep theirs while rejoining",
    );
    assert.deepEqual(m.owned, [tp(0)]);
  });

  test("ILLEGAL_GENERATION: the partitions are lost (no commit), the member rejoins", async () => {
    const c = new ScriptedCoordinator()
      .on(JoinGroupApi, joinOk("m-1", 1, "other"), joinOk("m-1", 2, "other"))
      .on(SyncGroupApi, syncOk([tp(3)]), syncOk([tp(3)]))
      .on(HeartbeatApi, { errorCode: ErrorCode.ILLEGAL_GENERATION });
    const hooks = new RecordingHooks();
    const m = membership(c, hooks);
    await m.ensureActiveGroup();
    await m.heartbeat();
    await m.ensureActiveGroup();
    m.stop();
    assert.equal(hooks.commits, 0);
    assert.deepEqual(hooks.events, ["assigned t-3", "lost t-3", "assigned t-3"]);
    assert.equal(c.requests("JoinGroup")[1].memberId, "m-1", "ILLEGAL_GENERATION keeps the member id");
  });

  test("UNKNOWN_MEMBER_ID on commit: CommitFailedError, and the member rejoins with a new id", async () => {
    const c = new ScriptedCoordinator()
      .on(JoinGroupApi, joinOk("m-1", 1, "other"))
      .on(SyncGroupApi, syncOk([tp(0)]))
      .on(OffsetCommitApi, {
        topics: [{ name: "t", partitions: [{ partitionIndex: 0, errorCode: ErrorCode.UNKNOWN_MEMBER_ID }] }],
      });
    const m = membership(c, new RecordingHooks());
    await m.ensureActiveGroup();
    m.stop();
    await assert.rejects(m.commit([{ topic: "t", partition: 0, offset: 5n }]), { name: "CommitFailedError" });
    const commit = c.requests("OffsetCommit")[0];
    assert.equal(commit.generationIdOrMemberEpoch, 1);
    assert.equal(commit.memberId, "m-1");
    assert.equal(m.memberId, "");
    assert.equal(m.rejoinNeeded, true);
  });

  for (const code of [ErrorCode.REBALANCE_IN_PROGRESS, ErrorCode.ILLEGAL_GENERATION, ErrorCode.UNKNOWN_MEMBER_ID]) {
    test(`CommitFailedError carries the code that refused the commit (${errorInfo(code).name}) and is not retriable`, async () => {
      const c = new ScriptedCoordinator()
        .on(JoinGroupApi, joinOk("m-1", 1, "other"))
        .on(SyncGroupApi, syncOk([tp(0)]))
        .on(OffsetCommitApi, { topics: [{ name: "t", partitions: [{ partitionIndex: 0, errorCode: code }] }] });
      const m = membership(c, new RecordingHooks());
      await m.ensureActiveGroup();
      m.stop();
      await assert.rejects(m.commit([{ topic: "t", partition: 0, offset: 5n }]), (err: unknown) => {
        assert.ok(err instanceof CommitFailedError);
        assert.ok(err instanceof KafkaError);
        assert.equal(err.name, "CommitFailedError");
        assert.equal(err.code, code);
        assert.equal(err.errorName, errorInfo(code).name);
        assert.equal(err.retriable, false);
        assert.match(err.message, new RegExp(errorInfo(code).name));
        return true;
      });
    });
  }

  test("FENCED_INSTANCE_ID is fatal; a static member does not send LeaveGroup", async () => {
    const c = new ScriptedCoordinator()
      .on(JoinGroupApi, joinOk("m-1", 1, "other"))
      .on(SyncGroupApi, syncOk([tp(0)]))
      .on(HeartbeatApi, { errorCode: ErrorCode.FENCED_INSTANCE_ID });
    const m = membership(c, new RecordingHooks(), { instanceId: "i-1" });
    await m.ensureActiveGroup();
    assert.equal(c.requests("JoinGroup")[0].groupInstanceId, "i-1");
    await m.heartbeat();
    assert.equal(m.state, "fatal");
    await assert.rejects(
      m.ensureActiveGroup(),
      (err: unknown) =>
        err instanceof GroupMembershipError &&
        err.code === ErrorCode.FENCED_INSTANCE_ID &&
        err.errorName === "FENCED_INSTANCE_ID" &&
        err.retriable === false,
    );
    await m.leave();
    assert.equal(c.requests("LeaveGroup").length, 0);
  });

  test("a dynamic member leaves with LeaveGroup v3+ (members array)", async () => {
    const c = new ScriptedCoordinator()
      .on(JoinGroupApi, joinOk("m-1", 1, "other"))
      .on(SyncGroupApi, syncOk([]))
      .on(LeaveGroupApi, { errorCode: ErrorCode.NONE, members: [] });
    const m = membership(c, new RecordingHooks());
    await m.ensureActiveGroup();
    await m.leave();
    assert.deepEqual(c.requests("LeaveGroup")[0].members, [
      { memberId: "m-1", groupInstanceId: null, reason: "the consumer is closing" },
    ]);
  });

  test("regression: a heartbeat answer about a generation already left starts no new rebalance", async () => {
    // Found with librdkafka in a cooperative group: a REBALANCE_IN_PROGRESS answer arriving after
    // the member had rejoined made it rejoin once more, an extra generation for everyone.
    let answer: (res: unknown) => void = () => undefined;
    const c = new ScriptedCoordinator()
      .on(JoinGroupApi, joinOk("m-1", 1, "other"), joinOk("m-1", 2, "other"))
      .on(SyncGroupApi, syncOk([tp(0)]), syncOk([tp(0)]))
      .on(HeartbeatApi, new Promise((resolve) => (answer = resolve)));
    const m = membership(c, new RecordingHooks(), { cooperative: true });
    await m.ensureActiveGroup();
    const heartbeat = m.heartbeat();
    m.rejoinNeeded = true; // the rebalance became known another way (a commit, another heartbeat)
    await m.ensureActiveGroup();
    answer({ errorCode: ErrorCode.REBALANCE_IN_PROGRESS });
    await heartbeat;
    m.stop();
    assert.equal(m.generationId, 2);
    assert.equal(m.rejoinNeeded, false);
  });

  test("SyncGroup REBALANCE_IN_PROGRESS: join again", async () => {
    const c = new ScriptedCoordinator()
      .on(JoinGroupApi, joinOk("m-1", 1, "other"), joinOk("m-1", 2, "other"))
      .on(SyncGroupApi, { ...syncOk([]), errorCode: ErrorCode.REBALANCE_IN_PROGRESS }, syncOk([tp(2)]));
    const hooks = new RecordingHooks();
    const m = membership(c, hooks);
    await m.ensureActiveGroup();
    m.stop();
    assert.equal(m.generationId, 2);
    assert.deepEqual(hooks.events, ["assigned t-2"]);
  });
});
