/**
 * The transaction index of one segment (`<base offset>.txnindex`, Kafka's TransactionIndex and
 * AbortedTxn): the aborted transactions whose ABORT marker is in the segment, so that a
 * read_committed Fetch can tell the consumer which producers' records to drop
 * (FetchResponse.abortedTransactions) without reading the markers itself.
 *
 * Layout: a sequence of 34-byte entries, big-endian, no header, ascending by lastOffset:
 *
 *    0  version           int16   0
 *    2  producerId        int64
 *   10  firstOffset       int64   first offset of the transaction's data
 *   18  lastOffset        int64   offset of the ABORT marker
 *   26  lastStableOffset  int64   the partition's last stable offset once this transaction completed
 *
 * The file is created on the first append (most segments never have one) and each entry is written
 * when its marker is appended; `flush` fsyncs with the segment. Entries are also kept in memory:
 * they are few, and a Fetch should not read a file to learn that nothing was aborted. No checksum,
 * like the other indexes: after an unclean stop recovery rebuilds it with the segment, and a loaded
 * file is sanity-checked (CorruptIndexError → rebuild).
 */
import fsp from "node:fs/promises";
import { CorruptIndexError } from "./errors.js";
import { type FileSystem, type LogFileHandle, readFully, writeFully } from "./file-system.js";

export const ABORTED_TXN_SIZE = 34;
/** AbortedTxn.CURRENT_VERSION. */
export const ABORTED_TXN_VERSION = 0;

/** One entry (Kafka's AbortedTxn). */
export interface AbortedTxn {
  producerId: bigint;
  firstOffset: bigint;
  lastOffset: bigint;
  lastStableOffset: bigint;
}

/** What FetchResponse carries per aborted transaction. */
export interface FetchAbortedTransaction {
  producerId: bigint;
  firstOffset: bigint;
}

export function asFetchAbortedTransaction(txn: AbortedTxn): FetchAbortedTransaction {
  return { producerId: txn.producerId, firstOffset: txn.firstOffset };
}

export function encodeAbortedTxn(txn: AbortedTxn, buf = Buffer.alloc(ABORTED_TXN_SIZE), position = 0): Buffer {
  buf.writeInt16BE(ABORTED_TXN_VERSION, position);
  buf.writeBigInt64BE(txn.producerId, position + 2);
  buf.writeBigInt64BE(txn.firstOffset, position + 10);
  buf.writeBigInt64BE(txn.lastOffset, position + 18);
  buf.writeBigInt64BE(txn.lastStableOffset, position + 26);
  return buf;
}

function decodeAbortedTxn(buf: Buffer, position: number): AbortedTxn {
  return {
    producerId: buf.readBigInt64BE(position + 2),
    firstOffset: buf.readBigInt64BE(position + 10),
    lastOffset: buf.readBigInt64BE(position + 18),
    lastStableOffset: buf.readBigInt64BE(position + 26),
  };
}

/** Aborted transactions overlapping a fetch range, and whether later segments need not be searched. */
export interface TxnIndexSearchResult {
  abortedTransactions: AbortedTxn[];
  isComplete: boolean;
}

export class TransactionIndex {
  private txns: AbortedTxn[] = [];
  private fh: LogFileHandle | null = null;
  /** Why the loaded file is not a valid index; reported by sanityCheck. */
  private loadProblem: string | null = null;

  private constructor(
    private readonly fs: FileSystem,
    private fileName: string,
    readonly startOffset: bigint,
  ) {}

  /** Opens the index of the segment starting at `startOffset`, reading its entries if the file exists. */
  static async open(fs: FileSystem, file: string, startOffset: bigint): Promise<TransactionIndex> {
    const index = new TransactionIndex(fs, file, startOffset);
    let fh: LogFileHandle;
    try {
      fh = await fs.open(file, "r+");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return index;
      throw e;
    }
    try {
      const { size } = await fh.stat();
      const buf = await readFully(fh, 0, size);
      index.load(buf);
    } catch (e) {
      await fh.close();
      throw e;
    }
    index.fh = fh;
    return index;
  }

  get file(): string {
    return this.fileName;
  }

  /** All entries, ascending by lastOffset (Kafka's allAbortedTxns). */
  get entries(): readonly AbortedTxn[] {
    return this.txns;
  }

  /** lastOffset of the last entry, or null when empty. */
  get lastOffset(): bigint | null {
    return this.txns.at(-1)?.lastOffset ?? null;
  }

  get sizeInBytes(): number {
    return this.txns.length * ABORTED_TXN_SIZE;
  }

  /** Appends an entry; markers come in offset order, so anything else is a bug. */
  async append(txn: AbortedTxn): Promise<void> {
    const last = this.lastOffset;
    if (last !== null && last >= txn.lastOffset)
      throw new RangeError(
        `aborted transaction last offset ${txn.lastOffset} is not above the index's last offset ${last} in ${this.fileName}`,
      );
    const fh = await this.handle();
    await writeFully(fh, encodeAbortedTxn(txn), this.sizeInBytes);
    this.txns.push({ ...txn });
  }

  async flush(): Promise<void> {
    await this.fh?.sync();
  }

  /** Removes every entry (the file stays, empty). */
  async reset(): Promise<void> {
    await this.fh?.truncate(0);
    this.txns = [];
    this.loadProblem = null;
  }

  /** Drops the entries whose marker is at or after `offset`. */
  async truncateTo(offset: bigint): Promise<void> {
    const keep = this.txns.findIndex((t) => t.lastOffset >= offset);
    if (keep < 0) return;
    await this.fh?.truncate(keep * ABORTED_TXN_SIZE);
    this.txns = this.txns.slice(0, keep);
  }

  /**
   * The aborted transactions overlapping [fetchOffset, upperBoundOffset) (Kafka's
   * collectAbortedTxns). Complete once an entry's last stable offset reaches the upper bound:
   * every transaction aborted later started at or after it, so later segments have nothing more.
   */
  collectAbortedTxns(fetchOffset: bigint, upperBoundOffset: bigint): TxnIndexSearchResult {
    const abortedTransactions: AbortedTxn[] = [];
    for (const txn of this.txns) {
      if (txn.lastOffset >= fetchOffset && txn.firstOffset < upperBoundOffset) abortedTransactions.push(txn);
      if (txn.lastStableOffset >= upperBoundOffset) return { abortedTransactions, isComplete: true };
    }
    return { abortedTransactions, isComplete: false };
  }

  /**
   * Throws CorruptIndexError when the file is not a plausible index: a torn last entry, an unknown
   * version, an entry whose marker is below the segment's base offset (Kafka's check), or entries
   * not ascending by marker offset (what append guarantees).
   */
  sanityCheck(): void {
    if (this.loadProblem !== null)
      throw new CorruptIndexError(`transaction index ${this.fileName}: ${this.loadProblem}`);
    let previous: bigint | null = null;
    for (const txn of this.txns) {
      if (txn.lastOffset < this.startOffset)
        throw new CorruptIndexError(
          `transaction index ${this.fileName}: last offset ${txn.lastOffset} of the aborted transaction of producer ` +
            `${txn.producerId} is below the segment's base offset ${this.startOffset}`,
        );
      if (previous !== null && txn.lastOffset <= previous)
        throw new CorruptIndexError(
          `transaction index ${this.fileName}: last offset ${txn.lastOffset} follows ${previous}`,
        );
      previous = txn.lastOffset;
    }
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    await fh?.close();
  }

  /** Closes and deletes the file; false when there was none. */
  async deleteIfExists(): Promise<boolean> {
    await this.close();
    try {
      await fsp.unlink(this.fileName);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw e;
    }
  }

  /** Renames the file if it exists (swap and delete suffixes); the index follows the new name. */
  async renameTo(file: string): Promise<void> {
    try {
      await fsp.rename(this.fileName, file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    } finally {
      this.fileName = file;
    }
  }

  private load(buf: Buffer): void {
    const whole = Math.floor(buf.length / ABORTED_TXN_SIZE) * ABORTED_TXN_SIZE;
    for (let p = 0; p < whole; p += ABORTED_TXN_SIZE) {
      const version = buf.readInt16BE(p);
      if (version !== ABORTED_TXN_VERSION) {
        this.loadProblem = `entry at byte ${p} has version ${version}, expected ${ABORTED_TXN_VERSION}`;
        return;
      }
      this.txns.push(decodeAbortedTxn(buf, p));
    }
    if (whole !== buf.length)
      this.loadProblem = `${buf.length} bytes is not a whole number of ${ABORTED_TXN_SIZE}-byte entries`;
  }

  private async handle(): Promise<LogFileHandle> {
    if (this.fh === null) {
      // Created on first use; an existing file would have been opened by `open`.
      this.fh = await this.fs.open(this.fileName, "w+");
    }
    return this.fh;
  }
}

/**
 * The aborted transactions a read_committed Fetch returns (Kafka's LocalLog.collectAbortedTransactions):
 * search the transaction indexes from the segment holding `fetchOffset` on, in base offset order,
 * until one says the search is complete.
 */
export function collectAbortedTransactions(
  indexesFromFetchSegment: Iterable<TransactionIndex>,
  fetchOffset: bigint,
  upperBoundOffset: bigint,
): AbortedTxn[] {
  const all: AbortedTxn[] = [];
  for (const index of indexesFromFetchSegment) {
    const result = index.collectAbortedTxns(fetchOffset, upperBoundOffset);
    all.push(...result.abortedTransactions);
    if (result.isComplete) break;
  }
  return all;
}
