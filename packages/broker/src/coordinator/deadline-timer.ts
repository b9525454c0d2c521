/**
 * One Node timer for a coordinator's state machine: armed at the machine's earliest deadline and
 * re-armed after every change, so thousands of sessions and timeouts cost one timer, not one each.
 * The state machines keep their deadlines in a TimerQueue and fire them from `tick(nowMs)`.
 */
export interface DeadlineDriven {
  nextDeadlineMs(): number | undefined;
  tick(nowMs: number): void;
}

export class DeadlineTimer {
  private timer: NodeJS.Timeout | null = null;
  private deadlineMs: number | null = null;
  private stopped = false;

  constructor(
    private readonly machine: DeadlineDriven,
    private readonly nowMs: () => number,
  ) {}

  /** Call after anything that may have added an earlier deadline. */
  arm(): void {
    if (this.stopped) return;
    const deadlineMs = this.machine.nextDeadlineMs();
    if (deadlineMs === undefined) return;
    if (this.timer !== null && this.deadlineMs !== null && this.deadlineMs <= deadlineMs) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.deadlineMs = deadlineMs;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.deadlineMs = null;
        this.machine.tick(this.nowMs());
        this.arm();
      },
      Math.max(0, deadlineMs - this.nowMs()),
    );
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
