/**
 * Producer state snapshots (`<offset>.snapshot`, Kafka's ProducerStateManager.writeSnapshot /
 * readSnapshot and SnapshotFile): the producers of a partition as of an offset, so recovery replays
 * only the log after it. The name is the offset the snapshot is taken at (exclusive: the state
 * covers every batch below it), zero-padded to 20 digits like the segment files.
 *
 * Layout (big-endian; Kafka's ProducerSnapshot message, version 1, not flexible):
 *
 *    0  version                int16    1 (PRODUCER_SNAPSHOT_VERSION)
 *    2  crc                    uint32   CRC32C of every byte from offset 6 to the end
 *    6  entry count            int32
 *   10  entries, 46 bytes each:
 *         producerId            int64
 *         epoch                 int16
 *         lastSequence          int32    -1 when the producer has no batch (only a marker)
 *         lastOffset            int64    -1 when the producer has no batch
 *         offsetDelta           int32    lastOffset - first offset of its last batch
 *         timestamp             int64    max timestamp of its last batch (or of the marker)
 *         coordinatorEpoch      int32
 *         currentTxnFirstOffset int64    -1 when no transaction is open
 *
 * Only the producer's last batch is kept (as in Kafka): after a restart a retry of an older one
 * of the five in flight is answered OUT_OF_ORDER_SEQUENCE_NUMBER rather than as a duplicate. We
 * write entries in ascending producer id order; Kafka writes in hash map order; readers of both
 * ignore the order.
 *
 * Writing goes to `<name>.tmp`, fsync, rename, fsync of the directory, so a crash leaves the old
 * set of snapshots or the new one, never a torn file under the final name (Kafka writes in place
 * and relies on the CRC). A snapshot that fails its CRC or its schema raises CorruptSnapshotError;
 * `ProducerSnapshots` deletes it and falls back to an older snapshot or to the log.
 */
import fsp from "node:fs/promises";
import path from "node:path";
import { crc32c } from "@node-rs/crc32";
import {
  filenamePrefixFromOffset,
  offsetFromFileName,
  PRODUCER_SNAPSHOT_FILE_SUFFIX,
  TMP_FILE_SUFFIX,
} from "./file-names.js";
import { type FileSystem, readFully, syncDir, writeFully } from "./file-system.js";
import { ProducerStateEntry, type ProducerStateManager } from "./producer-state.js";

/** ProducerSnapshot.json's only version (Kafka's ProducerSnapshot.HIGHEST_SUPPORTED_VERSION). */
export const PRODUCER_SNAPSHOT_VERSION = 1;
const CRC_OFFSET = 2;
/** Where the CRC'd bytes start: after version and crc. */
const PRODUCER_ENTRIES_OFFSET = 6;
const ENTRIES_START = PRODUCER_ENTRIES_OFFSET + 4;
export const PRODUCER_SNAPSHOT_ENTRY_SIZE = 8 + 2 + 4 + 8 + 4 + 8 + 4 + 8;
/** Kafka keeps snapshots per segment; recovery needs the newest, a truncation may need the one before. */
export const DEFAULT_SNAPSHOTS_TO_KEEP = 2;

/** A snapshot that fails its CRC or schema. Never reaches a client: recovery rebuilds from the log. */
export class CorruptSnapshotError extends Error {
  override readonly name = "CorruptSnapshotError";
}

/** One entry of the file, field for field. */
export interface ProducerSnapshotEntry {
  producerId: bigint;
  epoch: number;
  lastSequence: number;
  lastOffset: bigint;
  offsetDelta: number;
  timestamp: bigint;
  coordinatorEpoch: number;
  currentTxnFirstOffset: bigint;
}

export function snapshotEntryOf(entry: ProducerStateEntry): ProducerSnapshotEntry {
  return {
    producerId: entry.producerId,
    epoch: entry.producerEpoch,
    lastSequence: entry.lastSeq,
    lastOffset: entry.lastDataOffset,
    offsetDelta: entry.lastOffsetDelta,
    timestamp: entry.lastTimestamp,
    coordinatorEpoch: entry.coordinatorEpoch,
    currentTxnFirstOffset: entry.currentTxnFirstOffset ?? -1n,
  };
}

/** The producer as a snapshot restores it: its last batch only, when it had one. */
export function producerStateEntryOf(e: ProducerSnapshotEntry): ProducerStateEntry {
  return new ProducerStateEntry(
    e.producerId,
    e.epoch,
    e.coordinatorEpoch,
    e.timestamp,
    e.currentTxnFirstOffset >= 0n ? e.currentTxnFirstOffset : null,
    e.lastOffset >= 0n
      ? [{ lastSeq: e.lastSequence, lastOffset: e.lastOffset, offsetDelta: e.offsetDelta, timestamp: e.timestamp }]
      : [],
  );
}

export function encodeProducerSnapshot(entries: readonly ProducerSnapshotEntry[]): Buffer {
  const sorted = [...entries].sort((a, b) => (a.producerId < b.producerId ? -1 : a.producerId > b.producerId ? 1 : 0));
  const buf = Buffer.alloc(ENTRIES_START + sorted.length * PRODUCER_SNAPSHOT_ENTRY_SIZE);
  buf.writeInt16BE(PRODUCER_SNAPSHOT_VERSION, 0);
  buf.writeInt32BE(sorted.length, PRODUCER_ENTRIES_OFFSET);
  let p = ENTRIES_START;
  for (const e of sorted) {
    buf.writeBigInt64BE(e.producerId, p);
    buf.writeInt16BE(e.epoch, p + 8);
    buf.writeInt32BE(e.lastSequence, p + 10);
    buf.writeBigInt64BE(e.lastOffset, p + 14);
    buf.writeInt32BE(e.offsetDelta, p + 22);
    buf.writeBigInt64BE(e.timestamp, p + 26);
    buf.writeInt32BE(e.coordinatorEpoch, p + 34);
    buf.writeBigInt64BE(e.currentTxnFirstOffset, p + 38);
    p += PRODUCER_SNAPSHOT_ENTRY_SIZE;
  }
  buf.writeUInt32BE(crc32c(buf.subarray(PRODUCER_ENTRIES_OFFSET)), CRC_OFFSET);
  return buf;
}

/**
 * Parses and verifies a snapshot. Stricter than Kafka in one way: bytes after the last entry are
 * corruption (Kafka never writes any; rebuilding from the log is always safe).
 */
export function decodeProducerSnapshot(buf: Buffer, location = "snapshot"): ProducerSnapshotEntry[] {
  const bad = (why: string) => new CorruptSnapshotError(`producer snapshot ${location}: ${why}`);
  if (buf.length < ENTRIES_START) throw bad(`${buf.length} bytes, shorter than the ${ENTRIES_START}-byte header`);
  const version = buf.readInt16BE(0);
  if (version !== PRODUCER_SNAPSHOT_VERSION) throw bad(`unknown version ${version}`);
  const count = buf.readInt32BE(PRODUCER_ENTRIES_OFFSET);
  if (count < 0) throw bad(`negative entry count ${count}`);
  const expected = ENTRIES_START + count * PRODUCER_SNAPSHOT_ENTRY_SIZE;
  if (buf.length !== expected) throw bad(`${count} entries need ${expected} bytes, the file has ${buf.length}`);
  const stored = buf.readUInt32BE(CRC_OFFSET);
  const computed = crc32c(buf.subarray(PRODUCER_ENTRIES_OFFSET));
  if (stored !== computed) throw bad(`CRC mismatch: stored ${stored}, computed ${computed}`);
  const entries: ProducerSnapshotEntry[] = [];
  for (let p = ENTRIES_START; p < buf.length; p += PRODUCER_SNAPSHOT_ENTRY_SIZE) {
    entries.push({
      producerId: buf.readBigInt64BE(p),
      epoch: buf.readInt16BE(p + 8),
      lastSequence: buf.readInt32BE(p + 10),
      lastOffset: buf.readBigInt64BE(p + 14),
      offsetDelta: buf.readInt32BE(p + 22),
      timestamp: buf.readBigInt64BE(p + 26),
      coordinatorEpoch: buf.readInt32BE(p + 34),
      currentTxnFirstOffset: buf.readBigInt64BE(p + 38),
    });
  }
  return entries;
}

export function producerSnapshotFileName(dir: string, offset: bigint): string {
  return path.join(dir, filenamePrefixFromOffset(offset) + PRODUCER_SNAPSHOT_FILE_SUFFIX);
}

/** Writes `.tmp`, optionally fsyncs it, renames it over `file`, optionally fsyncs the directory. */
export async function writeProducerSnapshot(
  fs: FileSystem,
  file: string,
  entries: readonly ProducerSnapshotEntry[],
  opts: { sync?: boolean } = {},
): Promise<void> {
  const sync = opts.sync ?? true;
  const tmp = file + TMP_FILE_SUFFIX;
  const fh = await fs.open(tmp, "w+");
  try {
    await writeFully(fh, encodeProducerSnapshot(entries), 0);
    if (sync) await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, file);
  if (sync) await syncDir(path.dirname(file));
}

/** The entries of a snapshot file; CorruptSnapshotError when it fails verification. */
export async function readProducerSnapshot(fs: FileSystem, file: string): Promise<ProducerSnapshotEntry[]> {
  const fh = await fs.open(file, "r");
  let buf: Buffer;
  try {
    const { size } = await fh.stat();
    buf = await readFully(fh, 0, size);
  } finally {
    await fh.close();
  }
  return decodeProducerSnapshot(buf, file);
}

export interface SnapshotFile {
  offset: bigint;
  file: string;
}

/** The `.snapshot` files of a partition directory, ascending by offset. */
export async function listProducerSnapshots(dir: string): Promise<SnapshotFile[]> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  const found: SnapshotFile[] = [];
  for (const name of names) {
    const offset = offsetFromFileName(name, PRODUCER_SNAPSHOT_FILE_SUFFIX);
    if (offset !== null) found.push({ offset, file: path.join(dir, name) });
  }
  return found.sort((a, b) => (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
}

async function deleteIfExists(file: string): Promise<boolean> {
  try {
    await fsp.unlink(file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw e;
  }
}

/**
 * The snapshot files of one partition and the bookkeeping Kafka's ProducerStateManager keeps
 * beside its in-memory state (the snapshot map and `lastSnapOffset`). Pairs with a
 * ProducerStateManager; all calls run under the log's mutation queue.
 */
export class ProducerSnapshots {
  private readonly snapshots = new Map<bigint, string>();
  /** The map end offset of the last snapshot written or loaded; no new snapshot unless the state moved past it. */
  private lastSnapOffset = 0n;

  private constructor(
    private readonly fs: FileSystem,
    readonly dir: string,
  ) {}

  /** Scans `dir` for snapshots and removes `.snapshot.tmp` leftovers of an interrupted write. */
  static async load(fs: FileSystem, dir: string): Promise<ProducerSnapshots> {
    const snapshots = new ProducerSnapshots(fs, dir);
    await snapshots.rescan();
    return snapshots;
  }

  /** Offsets of the snapshots, ascending. */
  offsets(): bigint[] {
    return [...this.snapshots.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  latestOffset(): bigint | null {
    return this.offsets().at(-1) ?? null;
  }

  oldestOffset(): bigint | null {
    return this.offsets()[0] ?? null;
  }

  fileFor(offset: bigint): string | undefined {
    return this.snapshots.get(offset);
  }

  /**
   * Writes a snapshot at the state's map end offset unless one at or past it exists (Kafka's
   * takeSnapshot). `sync: false` on segment roll, where the caller flushes later, as Kafka.
   * Returns the file written, or null.
   */
  async takeSnapshot(state: ProducerStateManager, opts: { sync?: boolean } = {}): Promise<string | null> {
    const offset = state.mapEndOffset;
    if (offset <= this.lastSnapOffset) return null;
    const file = producerSnapshotFileName(this.dir, offset);
    const entries = [...state.activeProducers().values()].map(snapshotEntryOf);
    await writeProducerSnapshot(this.fs, file, entries, opts);
    this.snapshots.set(offset, file);
    this.lastSnapOffset = offset;
    return file;
  }

  /** The entries of the snapshot at `offset`; CorruptSnapshotError when it fails verification. */
  async read(offset: bigint): Promise<ProducerStateEntry[]> {
    const file = this.snapshots.get(offset);
    if (file === undefined) throw new RangeError(`no producer snapshot at ${offset} in ${this.dir}`);
    return (await readProducerSnapshot(this.fs, file)).map(producerStateEntryOf);
  }

  async removeAndDelete(offset: bigint): Promise<void> {
    const file = this.snapshots.get(offset);
    if (file === undefined) return;
    this.snapshots.delete(offset);
    await deleteIfExists(file);
  }

  /** Deletes the snapshots below `offset` (Kafka's deleteSnapshotsBefore, used with the log start offset). */
  async deleteSnapshotsBefore(offset: bigint): Promise<void> {
    for (const o of this.offsets()) if (o < offset) await this.removeAndDelete(o);
  }

  /** Keeps only the newest `count` snapshots (the rest are older than any recovery will start from). */
  async retainNewest(count: number = DEFAULT_SNAPSHOTS_TO_KEEP): Promise<void> {
    const offsets = this.offsets();
    for (const o of offsets.slice(0, Math.max(0, offsets.length - count))) await this.removeAndDelete(o);
  }

  /**
   * Removes snapshots without a segment of that base offset, except the newest such one when it
   * is past every segment's base offset (the one written at the log end on clean shutdown).
   */
  async removeStraySnapshots(segmentBaseOffsets: Iterable<bigint>): Promise<void> {
    const bases = new Set(segmentBaseOffsets);
    let maxBase: bigint | null = null;
    for (const b of bases) if (maxBase === null || b > maxBase) maxBase = b;
    await this.rescan();
    let latestStray: bigint | null = null;
    for (const o of this.offsets()) {
      if (bases.has(o)) continue;
      if (latestStray !== null) await this.removeAndDelete(latestStray);
      latestStray = o;
    }
    if (latestStray !== null && maxBase !== null && latestStray < maxBase) await this.removeAndDelete(latestStray);
  }

  /**
   * After a truncation or on recovery (Kafka's truncateAndReload): deletes snapshots past
   * `logEndOffset` or at or below `logStartOffset`; if the state does not end at `logEndOffset`,
   * reloads it from the newest readable snapshot (corrupt ones are deleted, with `onCorrupt` told),
   * or empties it at the log start offset when none is left. The caller then replays the log from
   * `state.mapEndOffset` to `logEndOffset` (`ProducerStateManager.replayBatches`).
   */
  async truncateAndReload(
    state: ProducerStateManager,
    opts: {
      logStartOffset: bigint;
      logEndOffset: bigint;
      nowMs: number;
      onCorrupt?: (e: CorruptSnapshotError) => void;
    },
  ): Promise<void> {
    for (const o of this.offsets())
      if (o > opts.logEndOffset || o <= opts.logStartOffset) await this.removeAndDelete(o);
    if (opts.logEndOffset === state.mapEndOffset) {
      state.onLogStartOffsetIncremented(opts.logStartOffset);
      this.lastSnapOffset = this.latestOffset() ?? opts.logStartOffset;
      return;
    }
    for (;;) {
      const latest = this.latestOffset();
      if (latest === null) {
        state.truncateFullyAndStartAt(opts.logStartOffset);
        this.lastSnapOffset = opts.logStartOffset;
        return;
      }
      try {
        state.loadFromSnapshot(await this.read(latest), latest, opts.nowMs);
        this.lastSnapOffset = latest;
        return;
      } catch (e) {
        if (!(e instanceof CorruptSnapshotError)) throw e;
        opts.onCorrupt?.(e);
        await this.removeAndDelete(latest);
      }
    }
  }

  /** Deletes every snapshot and empties the state at `offset` (Kafka's truncateFullyAndStartAt). */
  async truncateFullyAndStartAt(state: ProducerStateManager, offset: bigint): Promise<void> {
    state.truncateFullyAndStartAt(offset);
    for (const o of this.offsets()) await this.removeAndDelete(o);
    this.lastSnapOffset = 0n;
  }

  /** Call with the state's own call: the next snapshot must not be skipped for the new start. */
  onLogStartOffsetIncremented(logStartOffset: bigint): void {
    this.lastSnapOffset = this.latestOffset() ?? logStartOffset;
  }

  private async rescan(): Promise<void> {
    this.snapshots.clear();
    for (const s of await listProducerSnapshots(this.dir)) this.snapshots.set(s.offset, s.file);
    let names: string[] = [];
    try {
      names = await fsp.readdir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    for (const name of names)
      if (name.endsWith(PRODUCER_SNAPSHOT_FILE_SUFFIX + TMP_FILE_SUFFIX))
        await deleteIfExists(path.join(this.dir, name));
  }
}
