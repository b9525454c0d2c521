/**
 * Group commit for the coordinator's writes to one `__consumer_offsets` partition: a write goes
 * out at once when none is in flight; writes that arrive meanwhile are merged into the next
 * batch, so a burst of commits costs one append (one file write) instead of one each. Each
 * caller's records stay together and in arrival order; a failed append fails every caller in it.
 * When `write` reports the batch's base offset, each caller learns the offset of its first record.
 */
import type { RecordInput } from "@samsa/protocol";

/** Bytes of keys and values merged into one batch at most (well below message.max.bytes). */
export const MAX_COALESCED_BYTES = 512 * 1024;

interface Pending {
  records: RecordInput[];
  bytes: number;
  resolve: (firstOffset: bigint | undefined) => void;
  reject: (e: unknown) => void;
}

export class CoalescingAppender {
  private readonly queue: Pending[] = [];
  private writing = false;

  constructor(
    private readonly write: (records: RecordInput[]) => Promise<unknown>,
    private readonly maxBytes = MAX_COALESCED_BYTES,
  ) {}

  /** Resolves with the log offset of the caller's first record, when the writer reports it. */
  append(records: RecordInput[]): Promise<bigint | undefined> {
    let bytes = 0;
    for (const r of records) bytes += (r.key?.length ?? 0) + (r.value?.length ?? 0);
    return new Promise((resolve, reject) => {
      this.queue.push({ records, bytes, resolve, reject });
      if (!this.writing) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.writing = true;
    while (this.queue.length > 0) {
      const taken: Pending[] = [this.queue.shift()!];
      let bytes = taken[0]!.bytes;
      while (this.queue.length > 0 && bytes + this.queue[0]!.bytes <= this.maxBytes) {
        const next = this.queue.shift()!;
        bytes += next.bytes;
        taken.push(next);
      }
      try {
        const baseOffset = await this.write(taken.length === 1 ? taken[0]!.records : taken.flatMap((p) => p.records));
        let at = typeof baseOffset === "bigint" ? baseOffset : undefined;
        for (const p of taken) {
          p.resolve(at);
          if (at !== undefined) at += BigInt(p.records.length);
        }
      } catch (e) {
        for (const p of taken) p.reject(e);
      }
    }
    this.writing = false;
  }
}
