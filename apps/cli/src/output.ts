/** Writing to stdout without losing data to backpressure, aligned tables, and progress on a terminal. */

let stdoutClosed = false;
let watchingStdout = false;

/**
 * Whether the reader of stdout went away (`samsa consume ... | head -3`). Writes after that are
 * dropped instead of failing with EPIPE, and a consumer stops cleanly (commit, leave) on it.
 */
export function isStdoutClosed(): boolean {
  return stdoutClosed;
}

function watchStdout(): void {
  if (watchingStdout) return;
  watchingStdout = true;
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code !== "EPIPE") throw e;
    stdoutClosed = true;
    process.stdout.emit("drain");
  });
}

/** Writes to stdout, waiting for it to drain when the reader is slower than we are. */
export async function writeOut(text: string): Promise<void> {
  watchStdout();
  if (text === "" || stdoutClosed) return;
  if (!process.stdout.write(text)) {
    await new Promise<void>((resolve) => process.stdout.once("drain", resolve));
  }
}

/** Rows as columns separated by two spaces, each as wide as its widest cell (the last unpadded). */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i])))
        .join("  ")
        .trimEnd(),
    )
    .join("\n")
    .concat(rows.length > 0 ? "\n" : "");
}

/** Redraws at most this often, so progress costs nothing measurable. */
const PROGRESS_INTERVAL_MS = 200;

/**
 * One self-overwriting status line on stderr, shown only when stderr is a terminal (so pipes and
 * tests see none of it).
 */
export class Progress {
  private readonly enabled = process.stderr.isTTY === true;
  private lastDrawMs = 0;
  private shown = false;

  /** Redraws with `render()` if the last redraw is old enough (render is only called then). */
  update(render: () => string): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.lastDrawMs < PROGRESS_INTERVAL_MS) return;
    this.lastDrawMs = now;
    this.shown = true;
    process.stderr.write(`\r\x1b[K${render()}`);
  }

  /** Draws a final line (if progress was shown, or `always`) and moves to the next line. */
  done(text: string, always = false): void {
    if (!this.enabled || (!this.shown && !always)) return;
    process.stderr.write(`\r\x1b[K${text}\n`);
  }
}
