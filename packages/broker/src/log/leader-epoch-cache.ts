/**
 * The leader-epoch cache (Kafka's LeaderEpochFileCache): for each leader epoch, the first offset
 * written in it. A follower asks the leader "where did my epoch end?" (OffsetForLeaderEpoch) and
 * truncates to the answer instead of to the high watermark, which is what keeps replicas from
 * diverging after an unclean leader change (KIP-101, KIP-279).
 *
 * Persisted as `leader-epoch-checkpoint` in the partition directory, in the checkpoint text
 * format described in checkpoint-file.ts (entries `<epoch> <start offset>`). The file is a cache:
 * recovery rebuilds entries from the partition leader epoch of the batches it scans, and a corrupt
 * file is replaced by one rebuilt from the segments.
 */
import type { EpochEntry, LeaderEpochCheckpointFile } from "./checkpoint-file.js";

/** Kafka's RecordBatch.NO_PARTITION_LEADER_EPOCH / UNDEFINED_EPOCH. */
export const UNDEFINED_EPOCH = -1;
export const UNDEFINED_EPOCH_OFFSET = -1n;

export class LeaderEpochFileCache {
  /** Ascending in both epoch and start offset: assign() removes anything that would break that. */
  private epochs: EpochEntry[];
  private dirty = false;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly checkpoint: LeaderEpochCheckpointFile | null,
    entries: readonly EpochEntry[] = [],
  ) {
    this.epochs = [];
    for (const e of entries) this.assignEntry(e);
    this.dirty = false;
  }

  entries(): EpochEntry[] {
    return this.epochs.map((e) => ({ ...e }));
  }

  latestEpoch(): number {
    return this.epochs.length === 0 ? UNDEFINED_EPOCH : this.epochs[this.epochs.length - 1]!.epoch;
  }

  latestEntry(): EpochEntry | null {
    const e = this.epochs[this.epochs.length - 1];
    return e ? { ...e } : null;
  }

  /** Records that `epoch` starts at `startOffset`; returns whether anything changed (then flush()). */
  assign(epoch: number, startOffset: bigint): boolean {
    if (epoch < 0) return false;
    const changed = this.assignEntry({ epoch, startOffset });
    if (changed) this.dirty = true;
    return changed;
  }

  private assignEntry(entry: EpochEntry): boolean {
    const latest = this.epochs[this.epochs.length - 1];
    if (latest && latest.epoch === entry.epoch && entry.startOffset >= latest.startOffset) return false;
    // An entry that is not newer in both dimensions means the log was truncated and rewritten:
    // drop everything it supersedes so both columns stay ascending.
    this.epochs = this.epochs.filter((e) => e.epoch < entry.epoch && e.startOffset < entry.startOffset);
    this.epochs.push({ ...entry });
    return true;
  }

  /**
   * OffsetForLeaderEpoch: the largest epoch <= requested and the end offset of that epoch (the
   * start of the next epoch, or the log end offset for the latest epoch).
   */
  endOffsetFor(requestedEpoch: number, logEndOffset: bigint): { epoch: number; endOffset: bigint } {
    if (requestedEpoch === UNDEFINED_EPOCH) return { epoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_EPOCH_OFFSET };
    if (requestedEpoch === this.latestEpoch()) return { epoch: requestedEpoch, endOffset: logEndOffset };
    const higher = this.epochs.find((e) => e.epoch > requestedEpoch);
    if (!higher) return { epoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_EPOCH_OFFSET };
    let floor: EpochEntry | undefined;
    for (const e of this.epochs) if (e.epoch <= requestedEpoch) floor = e;
    return floor
      ? { epoch: floor.epoch, endOffset: higher.startOffset }
      : { epoch: requestedEpoch, endOffset: higher.startOffset };
  }

  /** The log was truncated to `endOffset` (exclusive): forget epochs that started at or after it. */
  truncateFromEnd(endOffset: bigint): void {
    const before = this.epochs.length;
    this.epochs = this.epochs.filter((e) => e.startOffset < endOffset);
    if (this.epochs.length !== before) this.dirty = true;
  }

  /**
   * The log start offset moved to `startOffset`: drop epochs wholly before it and move the start of
   * the epoch containing it (hook for retention and DeleteRecords).
   */
  truncateFromStart(startOffset: bigint): void {
    let keepFrom = 0;
    for (let i = 0; i < this.epochs.length; i++) if (this.epochs[i]!.startOffset <= startOffset) keepFrom = i;
    const first = this.epochs[keepFrom];
    if (!first || first.startOffset > startOffset) return;
    this.epochs = this.epochs.slice(keepFrom);
    if (first.startOffset !== startOffset || keepFrom > 0) {
      this.epochs[0] = { epoch: first.epoch, startOffset };
      this.dirty = true;
    }
  }

  /** The file must be rewritten even if no entry changed (it was found corrupt). */
  markDirty(): void {
    this.dirty = true;
  }

  /** Writes the checkpoint if anything changed since the last write; writes are serialized. */
  flush(): Promise<void> {
    if (!this.dirty || !this.checkpoint) return this.writing;
    this.dirty = false;
    const snapshot = this.entries();
    const checkpoint = this.checkpoint;
    this.writing = this.writing.then(() => checkpoint.write(snapshot));
    return this.writing;
  }
}
