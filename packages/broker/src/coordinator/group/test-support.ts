/** Helpers for the group coordinator tests: a manual clock and requests with sensible defaults. */
import {
  GroupCoordinator,
  type GroupCoordinatorConfig,
  type GroupCoordinatorOptions,
  type GroupSnapshot,
  type JoinGroupRequest,
  type JoinGroupResult,
  type SyncGroupRequest,
  type SyncGroupResult,
} from "./group-coordinator.js";

export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
export const text = (data: Uint8Array): string => new TextDecoder().decode(data);

export class Harness {
  nowMs = 0;
  private seq = 0;
  readonly coordinator: GroupCoordinator;

  constructor(config: Partial<GroupCoordinatorConfig> = {}, store?: GroupCoordinatorOptions["store"]) {
    this.coordinator = new GroupCoordinator({
      clock: () => this.nowMs,
      config: { initialRebalanceDelayMs: 3000, ...config },
      newMemberIdSuffix: () => String(++this.seq),
      store,
    });
  }

  advance(ms: number): void {
    this.nowMs += ms;
    this.coordinator.tick(this.nowMs);
  }

  /** Advances in steps of stepMs until done() holds (the initial delay may be extended several times). */
  advanceUntil(done: () => boolean, stepMs = 500, maxMs = 120_000): void {
    for (let waited = 0; !done(); waited += stepMs) {
      if (waited > maxMs) throw new Error(`not done after ${maxMs} ms`);
      this.advance(stepMs);
    }
  }

  /** Sends a JoinGroup; `.result` is set when the coordinator answers. */
  join(overrides: Partial<JoinGroupRequest> = {}): { result?: JoinGroupResult } {
    const holder: { result?: JoinGroupResult } = {};
    this.coordinator.handleJoinGroup(joinRequest(overrides), (r) => {
      holder.result = r;
    });
    return holder;
  }

  sync(overrides: Partial<SyncGroupRequest> & { memberId: string; generationId: number }): {
    result?: SyncGroupResult;
  } {
    const holder: { result?: SyncGroupResult } = {};
    this.coordinator.handleSyncGroup(
      {
        groupId: "g",
        groupInstanceId: null,
        protocolType: null,
        protocolName: null,
        assignments: [],
        ...overrides,
      },
      (r) => {
        holder.result = r;
      },
    );
    return holder;
  }

  heartbeat(memberId: string, generationId: number, groupInstanceId: string | null = null): number {
    return this.coordinator.heartbeat({ groupId: "g", memberId, generationId, groupInstanceId }).errorCode;
  }

  leave(...members: { memberId: string; groupInstanceId?: string | null }[]) {
    return this.coordinator.leaveGroup({
      groupId: "g",
      members: members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId ?? null })),
    });
  }

  state(): string | undefined {
    return this.coordinator.describeGroup("g")?.state;
  }
}

export function joinRequest(overrides: Partial<JoinGroupRequest> = {}): JoinGroupRequest {
  return {
    groupId: "g",
    memberId: "",
    groupInstanceId: null,
    clientId: "c",
    clientHost: "/127.0.0.1",
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 30_000,
    protocolType: "consumer",
    protocols: [{ name: "range", metadata: bytes("topic-a") }],
    requireKnownMemberId: false,
    supportSkippingAssignment: false,
    ...overrides,
  };
}

/** A `store` whose writes wait until the test completes them (in any order, with any error). */
export class ManualStore {
  readonly writes: { snapshot: GroupSnapshot; done: (errorCode: number) => void }[] = [];
  readonly store = (snapshot: GroupSnapshot, done: (errorCode: number) => void): void => {
    this.writes.push({ snapshot, done });
  };

  /** Completes the oldest pending write. */
  complete(errorCode = 0): GroupSnapshot {
    const write = this.writes.shift();
    if (write === undefined) throw new Error("no pending write");
    write.done(errorCode);
    return write.snapshot;
  }
}
