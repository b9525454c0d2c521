/**
 * One partition as the broker serves it: the log plus what the network layer needs around it —
 * the high watermark (on a single node, the log end offset of acknowledged appends) and waiters
 * that a long-polling Fetch parks until an append arrives.
 */
import type { Uuid } from "@samsa/protocol";
import type { Log } from "../log/log.js";
import type { AppendOptions, LogAppendInfo } from "../log/partition-log.js";
import type { AbortedTxn } from "../log/transaction-index.js";

export class Partition {
  /** Single node: this broker is always the leader; the epoch moves only with a future controller. */
  readonly leaderEpoch = 0;
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly topic: string,
    readonly index: number,
    readonly topicId: Uuid,
    readonly log: Log,
  ) {}

  /** Offsets below it are visible to consumers: every append the log has completed. */
  get highWatermark(): bigint {
    return this.log.logEndOffset;
  }

  /** The offset a read_committed consumer reads up to: no undecided transaction below it. */
  get lastStableOffset(): bigint {
    return this.log.lastStableOffset;
  }

  /** The aborted transactions overlapping [fetchOffset, upperBoundOffset), for a read_committed Fetch. */
  collectAbortedTransactions(fetchOffset: bigint, upperBoundOffset: bigint): AbortedTxn[] {
    return this.log.collectAbortedTransactions(fetchOffset, upperBoundOffset);
  }

  /**
   * Appends as the log does; `origin: "coordinator"` for transaction markers and the
   * coordinators' own records (a client may not write control batches).
   */
  append(records: Buffer, opts?: AppendOptions): Promise<LogAppendInfo> {
    return this.log.append(records, opts).then(this.wakeWaiters);
  }

  /** Wakes the parked fetches after an append; one bound function per partition, not a closure per append. */
  private readonly wakeWaiters = (info: LogAppendInfo): LogAppendInfo => {
    if (this.waiters.size > 0) for (const w of [...this.waiters]) w();
    return info;
  };

  /** Calls `wake` after each append until the returned function is called. */
  onAppend(wake: () => void): () => void {
    this.waiters.add(wake);
    return () => this.waiters.delete(wake);
  }
}
