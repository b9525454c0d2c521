/**
 * The files of a segment swap (Kafka's LocalLog.replaceSegments and its recovery in LogLoader):
 * how the cleaner's output replaces segments so that a SIGKILL or power loss at any moment leaves
 * a directory the loader turns back into a correct log (no acknowledged record lost, no offset in
 * two segments, no half-swapped segment).
 *
 * For a cleaned segment replacing segments S1..Sn (its base offset B is S1's):
 *
 *   1. The cleaner worker writes B.log.cleaned, B.index.cleaned, B.timeindex.cleaned and fsyncs
 *      them; the log adds B.txnindex.cleaned (the replaced segments' aborted transactions, when
 *      any) before step 2. A `.cleaned` file is never live data.
 *   2. Under the log's append lock: every `.cleaned` file of the pass is renamed `.swap`, the
 *      cleaned segments from the highest base offset down, and within one segment the indexes
 *      before the `.log`; then the directory is fsynced. The last rename (the lowest segment's
 *      `.log`) is the commit point: from then on no `.cleaned` file of the pass exists.
 *   3. S1..Sn are renamed `.deleted` (their open handles keep serving reads in flight, and the
 *      files are removed file.delete.delay.ms later).
 *   4. Every `.swap` file is renamed to its final name (B.log, B.index, B.timeindex) and the
 *      directory fsynced; the in-memory segment list then swaps the objects.
 *
 * Recovery (completeInterruptedSwaps, run by the loader before it lists the segments):
 *   - `.cleaned` files are deleted; if any existed, the pass had not committed, so every `.swap`
 *     file whose base offset is >= the lowest of them is deleted too (renames go from the highest
 *     segment down, so those are exactly the swaps of the unfinished pass). The old segments are
 *     untouched before the commit point: the log is as it was before the pass.
 *   - The remaining `.swap` segments are complete (fsynced before any rename): for each, in
 *     order, the segments whose base offset lies in [B, end) are deleted, where `end` is one past
 *     the last offset of the swap segment (the cleaner always keeps the last batch of what it
 *     replaces, as an empty batch if need be, so that range covers S1..Sn and nothing after),
 *     and the `.swap` files are renamed to their final names. Running this twice is harmless.
 *   - `.deleted` files are deleted by the loader as before.
 */
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import {
  CLEANED_FILE_SUFFIX,
  filenamePrefixFromOffset,
  INDEX_FILE_SUFFIX,
  LOG_FILE_SUFFIX,
  SWAP_FILE_SUFFIX,
  TIME_INDEX_FILE_SUFFIX,
  TXN_INDEX_FILE_SUFFIX,
} from "../file-names.js";
import { syncDir } from "../file-system.js";
import { LOG_OVERHEAD } from "../records.js";

/** The files of one segment, the `.log` last: renaming it is what makes the segment exist. */
const SEGMENT_SUFFIXES = [TXN_INDEX_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX, INDEX_FILE_SUFFIX, LOG_FILE_SUFFIX] as const;

function file(dir: string, baseOffset: bigint, suffix: string): string {
  return path.join(dir, filenamePrefixFromOffset(baseOffset) + suffix);
}

async function renameIfExists(from: string, to: string): Promise<void> {
  try {
    await fsp.rename(from, to);
  } catch (e) {
    // An index may legitimately be missing (rebuilt on first use); the .log never is.
    if ((e as NodeJS.ErrnoException).code !== "ENOENT" || from.includes(LOG_FILE_SUFFIX + ".")) throw e;
  }
}

/** Step 2: `.cleaned` -> `.swap` for every cleaned segment of a pass, highest first; then fsync the directory. */
export async function renameCleanedToSwap(dir: string, baseOffsets: readonly bigint[], onStep?: () => void) {
  const descending = [...baseOffsets].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0));
  for (const base of descending) {
    for (const suffix of SEGMENT_SUFFIXES) {
      await renameIfExists(file(dir, base, suffix + CLEANED_FILE_SUFFIX), file(dir, base, suffix + SWAP_FILE_SUFFIX));
      onStep?.();
    }
  }
  await syncDir(dir);
}

/** Step 4: `.swap` -> final names; then fsync the directory. */
export async function renameSwapToFinal(dir: string, baseOffsets: readonly bigint[], onStep?: () => void) {
  for (const base of baseOffsets) {
    for (const suffix of SEGMENT_SUFFIXES) {
      await renameIfExists(file(dir, base, suffix + SWAP_FILE_SUFFIX), file(dir, base, suffix));
      onStep?.();
    }
  }
  await syncDir(dir);
}

/** One past the last offset of the batches in a `.log` file (the base offset when it holds none). */
function nextOffsetOf(logFile: string, baseOffset: bigint): bigint {
  const fd = fs.openSync(logFile, "r");
  try {
    const size = fs.fstatSync(fd).size;
    const header = Buffer.alloc(27);
    let pos = 0;
    let next = baseOffset;
    while (pos + header.length <= size) {
      fs.readSync(fd, header, 0, header.length, pos);
      const batchSize = LOG_OVERHEAD + header.readInt32BE(8);
      if (batchSize < 61 || pos + batchSize > size) break;
      next = header.readBigInt64BE(0) + BigInt(header.readInt32BE(23)) + 1n;
      pos += batchSize;
    }
    return next;
  } finally {
    fs.closeSync(fd);
  }
}

function baseOffsetOf(name: string): bigint | null {
  return /^\d{20}\./.test(name) ? BigInt(name.slice(0, 20)) : null;
}

/**
 * Recovery of interrupted swaps (see the top of this file). Returns what it did, for the log line
 * and tests.
 */
export async function completeInterruptedSwaps(
  dir: string,
  logger: Logger,
): Promise<{ discarded: string[]; completed: bigint[] }> {
  const names = await fsp.readdir(dir);
  const cleaned = names.filter((n) => n.endsWith(CLEANED_FILE_SUFFIX));
  const swaps = names.filter((n) => n.endsWith(SWAP_FILE_SUFFIX));
  if (cleaned.length === 0 && swaps.length === 0) return { discarded: [], completed: [] };
  let minCleaned: bigint | null = null;
  for (const n of cleaned) {
    const base = baseOffsetOf(n);
    if (base !== null && (minCleaned === null || base < minCleaned)) minCleaned = base;
  }
  const discarded: string[] = [...cleaned];
  const valid: string[] = [];
  for (const n of swaps) {
    const base = baseOffsetOf(n);
    if (base === null || (minCleaned !== null && base >= minCleaned)) discarded.push(n);
    else valid.push(n);
  }
  for (const n of discarded) await fsp.rm(path.join(dir, n), { force: true });

  const swapLogs = valid
    .filter((n) => n.endsWith(LOG_FILE_SUFFIX + SWAP_FILE_SUFFIX))
    .map((n) => baseOffsetOf(n)!)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  // Index .swap files without their .log: the .log was renamed already; they are the segment's indexes.
  const completed: bigint[] = [];
  for (const base of swapLogs) {
    const end = nextOffsetOf(file(dir, base, LOG_FILE_SUFFIX + SWAP_FILE_SUFFIX), base);
    const current = await fsp.readdir(dir);
    for (const n of current) {
      if (!n.endsWith(LOG_FILE_SUFFIX)) continue;
      const old = baseOffsetOf(n);
      if (old === null || old < base || (old >= end && old !== base)) continue;
      for (const suffix of SEGMENT_SUFFIXES) await fsp.rm(file(dir, old, suffix), { force: true });
    }
    completed.push(base);
  }
  // Every valid .swap file (a .log with its indexes, or indexes whose .log was renamed already).
  const bases = [...new Set(valid.map((n) => baseOffsetOf(n)!))];
  await renameSwapToFinal(dir, bases);
  if (discarded.length > 0 || completed.length > 0)
    logger.warn(
      { dir, discarded, completed: completed.map(String) },
      "finished an interrupted segment swap: discarded an uncommitted one, completed a committed one",
    );
  return { discarded, completed };
}
