/**
 * What the offset and time indexes share: a file of fixed-size entries, kept in a Buffer in
 * memory and written to the file on flush, roll and close.
 *
 * Why not mmap, as Kafka does: Node has no safe mmap (a mapping that outlives its file, or a
 * SIGBUS on a truncated file, takes the whole process down). The cost of the in-memory copy is
 * that the file on disk lags the Buffer between flushes, so after a crash the file of the active
 * segment cannot be trusted. That is harmless: recovery always rescans the segment containing the
 * recovery point and everything after it, rebuilding their indexes, and a segment is only ever
 * below the recovery point after its index was written, trimmed and fsynced. A loaded index is
 * still sanity-checked (sizes, monotonic entries) and rebuilt from the segment if it fails.
 *
 * Memory: the file of the active segment is preallocated to `segment.index.bytes` (a sparse
 * file, as Kafka's RandomAccessFile.setLength) so that a full disk shows up at roll time, but the
 * Buffer starts small and doubles only as entries arrive. Indexes of older segments are read
 * lazily, on the first lookup that needs them, so opening thousands of partitions reads no index.
 */
import { CorruptIndexError } from "./errors.js";
import type { FileSystem, LogFileHandle } from "./file-system.js";
import { readFully, writeFully } from "./file-system.js";

const INITIAL_CAPACITY_BYTES = 1024;

export abstract class AbstractIndex {
  protected buf: Buffer = Buffer.alloc(0);
  protected entryCount = 0;
  /** Entries [0, persistedEntries) are in the file as they are in `buf`. */
  private persistedEntries = 0;
  private fh: LogFileHandle | null = null;
  private fileLength = 0;
  private loading: Promise<void> | null = null;
  private loaded = false;
  private maxIndexSizeBytes: number;

  protected constructor(
    protected readonly fs: FileSystem,
    readonly file: string,
    readonly baseOffset: bigint,
    maxIndexSize: number,
  ) {
    this.maxIndexSizeBytes = maxIndexSize;
  }

  protected abstract get entrySize(): number;
  /** Throws CorruptIndexError when the entries in memory are not a valid index. */
  protected abstract sanityCheckEntries(): void;
  /** Recomputes cached fields (last entry) after entries were loaded or truncated. */
  protected abstract afterEntriesChanged(): void;

  get maxEntries(): number {
    return Math.floor(this.maxIndexSizeBytes / this.entrySize);
  }

  get entries(): number {
    return this.entryCount;
  }

  isFull(): boolean {
    return this.entryCount >= this.maxEntries;
  }

  /** Bytes the entries take (what the file is trimmed to). */
  get sizeInBytes(): number {
    return this.entryCount * this.entrySize;
  }

  /** A new, empty index whose file is created (or emptied) and preallocated to the maximum size. */
  async createEmpty(): Promise<void> {
    this.fh = await this.fs.open(this.file, "w+");
    await this.fh.truncate(this.maxEntries * this.entrySize);
    this.fileLength = this.maxEntries * this.entrySize;
    this.loaded = true;
    this.afterEntriesChanged();
  }

  /** An index that will be read from its file on first use (trimmed to its entries at the last roll or clean close). */
  markLazy(): void {
    this.loaded = false;
  }

  /** An empty in-memory index whose file will be rewritten entirely (recovery is about to rebuild it). */
  async reset(): Promise<void> {
    this.loaded = true;
    this.loading = null;
    this.entryCount = 0;
    this.persistedEntries = 0;
    this.afterEntriesChanged();
  }

  async ensureLoaded(): Promise<void> {
    if (this.loaded) return;
    this.loading ??= this.loadFromFile();
    await this.loading;
  }

  private async loadFromFile(): Promise<void> {
    const fh = await this.fs.open(this.file, "r");
    try {
      const { size } = await fh.stat();
      if (size % this.entrySize !== 0)
        throw new CorruptIndexError(`index ${this.file} is ${size} bytes, not a multiple of ${this.entrySize}`);
      if (size > this.maxEntries * this.entrySize) this.maxIndexSizeBytes = size;
      const data = await readFully(fh, 0, size);
      if (data.length !== size) throw new CorruptIndexError(`index ${this.file} shrank while being read`);
      this.buf = data;
      this.entryCount = size / this.entrySize;
      this.persistedEntries = this.entryCount;
      this.fileLength = size;
      this.afterEntriesChanged();
      this.sanityCheckEntries();
      this.loaded = true;
    } catch (e) {
      this.loading = null;
      this.entryCount = 0;
      this.buf = Buffer.alloc(0);
      throw e;
    } finally {
      await fh.close();
    }
  }

  /** Room for one more entry at the end of `buf`, doubling it up to the maximum. */
  protected slotForAppend(): number {
    if (this.isFull()) throw new Error(`attempt to append to a full index ${this.file} (${this.entryCount} entries)`);
    const at = this.entryCount * this.entrySize;
    if (at + this.entrySize > this.buf.length) {
      const grown = Buffer.alloc(
        Math.min(Math.max(INITIAL_CAPACITY_BYTES, this.buf.length * 2), this.maxEntries * this.entrySize),
      );
      this.buf.copy(grown, 0, 0, at);
      this.buf = grown;
    }
    return at;
  }

  protected entryAppended(): void {
    this.entryCount++;
    this.afterEntriesChanged();
  }

  protected truncateToEntries(n: number): void {
    if (n >= this.entryCount) return;
    this.entryCount = n;
    if (this.persistedEntries > n) this.persistedEntries = n;
    this.afterEntriesChanged();
  }

  /**
   * Largest slot whose key is <= target, or -1 (Kafka's largestLowerBoundSlotFor). `compare(slot)`
   * returns the sign of key(slot) - target.
   */
  protected largestLowerBoundSlot(compare: (slot: number) => number): number {
    let lo = 0;
    let hi = this.entryCount - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (compare(mid) <= 0) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  private async handle(): Promise<LogFileHandle> {
    if (!this.fh) {
      this.fh = await this.fs.open(this.file, "r+").catch(async (e) => {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
        return this.fs.open(this.file, "w+");
      });
      this.fileLength = (await this.fh.stat()).size;
    }
    return this.fh;
  }

  /** Writes entries not yet in the file. Does not fsync. */
  async writeToFile(): Promise<void> {
    if (!this.loaded || this.persistedEntries === this.entryCount) return;
    const fh = await this.handle();
    const from = this.persistedEntries * this.entrySize;
    const to = this.entryCount * this.entrySize;
    await writeFully(fh, this.buf.subarray(from, to), from);
    this.persistedEntries = this.entryCount;
    if (to > this.fileLength) this.fileLength = to;
  }

  /** Writes pending entries and fsyncs the file. */
  async sync(): Promise<void> {
    if (!this.loaded) return;
    await this.writeToFile();
    if (this.fh) await this.fh.datasync();
  }

  /**
   * Sets the file to `sizeBytes` (rounded down to whole entries): the used size when the segment
   * becomes inactive, the maximum when it becomes active again (Kafka's resize / trimToValidSize).
   */
  async resize(sizeBytes: number): Promise<void> {
    if (!this.loaded) await this.ensureLoaded();
    const rounded = Math.max(this.sizeInBytes, sizeBytes - (sizeBytes % this.entrySize));
    this.maxIndexSizeBytes = Math.max(rounded, this.sizeInBytes);
    await this.writeToFile();
    const fh = await this.handle();
    if (this.fileLength !== rounded) {
      // A truncation since the last write can leave stale entries past the used size: cut them
      // first, so that a preallocated tail is zeros and never an old entry.
      if (this.fileLength > this.sizeInBytes) await fh.truncate(this.sizeInBytes);
      await fh.truncate(rounded);
      this.fileLength = rounded;
    }
  }

  async trimToValidSize(): Promise<void> {
    await this.resize(this.sizeInBytes);
  }

  /** Closes the file handle; the entries stay in memory for lookups. */
  async closeHandle(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    await fh?.close();
  }

  /** Drops the in-memory entries of an inactive index; the next lookup reads the file again (hook for an index cache). */
  unload(): void {
    if (this.fh || this.persistedEntries !== this.entryCount) return; // only a clean, inactive index
    this.buf = Buffer.alloc(0);
    this.entryCount = 0;
    this.persistedEntries = 0;
    this.loaded = false;
    this.loading = null;
  }
}
