/** Helpers for the group coordinator tests: a manual clock and requests with sensible defaults. */
import {
  GroupCoordinator,
  type GroupCoordinatorConfig,
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

  constructor(config: Partial<GroupCoordinatorConfig> = {}) {
    this.coordinator = new GroupCoordinator({
      clock: () => this.nowMs,
      config: { initialRebalanceDelayMs: 3000, ...config },
      newMemberIdSuffix: () => String(++this.seq),
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
