/**
 * One min-heap of deadlines for every timer of the group coordinator (session, rebalance, initial
 * delay, pending sync), so thousands of members cost one structure and no Node timers.
 *
 * Each timer has a string key; scheduling a key again replaces its deadline, cancelling drops it.
 * Replaced and cancelled entries stay in the heap and are skipped when popped (lazy deletion), and
 * the heap is rebuilt when stale entries outnumber live ones, so the heap stays O(live timers).
 */
interface HeapEntry<T> {
  deadlineMs: number;
  seq: number;
  key: string;
  value: T;
}

export class TimerQueue<T> {
  private heap: HeapEntry<T>[] = [];
  private readonly live = new Map<string, number>(); // key -> seq of its current entry
  private nextSeq = 0;

  get size(): number {
    return this.live.size;
  }

  schedule(key: string, deadlineMs: number, value: T): void {
    const seq = this.nextSeq++;
    this.live.set(key, seq);
    this.push({ deadlineMs, seq, key, value });
    if (this.heap.length > 2 * this.live.size + 64) this.compact();
  }

  cancel(key: string): void {
    this.live.delete(key);
  }

  has(key: string): boolean {
    return this.live.has(key);
  }

  /** The earliest live deadline (stale entries on top are dropped on the way), or undefined. */
  peekDeadlineMs(): number | undefined {
    for (;;) {
      const top = this.heap[0];
      if (top === undefined) return undefined;
      if (this.live.get(top.key) === top.seq) return top.deadlineMs;
      this.pop();
    }
  }

  clear(): void {
    this.heap = [];
    this.live.clear();
  }

  /** The next live timer due at or before nowMs (earliest deadline, then scheduling order), removed. */
  pollDue(nowMs: number): { key: string; deadlineMs: number; value: T } | undefined {
    for (;;) {
      const top = this.heap[0];
      if (top === undefined || top.deadlineMs > nowMs) return undefined;
      this.pop();
      if (this.live.get(top.key) !== top.seq) continue;
      this.live.delete(top.key);
      return { key: top.key, deadlineMs: top.deadlineMs, value: top.value };
    }
  }

  private compact(): void {
    const kept = this.heap.filter((e) => this.live.get(e.key) === e.seq);
    this.heap = [];
    for (const e of kept) this.push(e);
  }

  private less(a: HeapEntry<T>, b: HeapEntry<T>): boolean {
    return a.deadlineMs < b.deadlineMs || (a.deadlineMs === b.deadlineMs && a.seq < b.seq);
  }

  private push(entry: HeapEntry<T>): void {
    const h = this.heap;
    h.push(entry);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(h[i], h[parent])) break;
      [h[i], h[parent]] = [h[parent], h[i]];
      i = parent;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l], h[m])) m = l;
      if (r < h.length && this.less(h[r], h[m])) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m], h[i]];
      i = m;
    }
  }
}
