/**
 * The `.log` file of one segment (Kafka's FileRecords): record batches exactly as stored, one after
 * another, with nothing in between and no file header.
 *
 * Layout: a sequence of magic-2 record batches as defined by Kafka's DefaultRecordBatch (see
 * `@samsa/protocol` records/batch-header.ts): baseOffset int64, batchLength int32, then
 * batchLength bytes (partitionLeaderEpoch, magic = 2, crc, attributes, lastOffsetDelta, ...
 * records). Offsets ascend strictly from batch to batch; gaps are allowed (compaction).
 *
 * Writes are positional (pwrite at `size`), issued by one appender at a time; `size` moves only
 * after a write has completed, so readers never see a partly written batch. Reads are positional
 * too and never decode records.
 */

import { fetchReadBuffers } from "../util/read-buffer-pool.js";
import type { FileSystem, LogFileHandle } from "./file-system.js";
import { readFully, writeFully } from "./file-system.js";
import { BATCH_PEEK_SIZE, type BatchBounds, peekBatchBounds } from "./records.js";

const poolAllocate = (length: number): Buffer => fetchReadBuffers.acquire(length);

/** Read-ahead when walking batch headers: about two index intervals, so a lookup usually costs one read. */
const HEADER_SCAN_CHUNK_BYTES = 8192;

export interface BatchPosition extends BatchBounds {
  position: number;
}

export class FileRecords {
  private sizeBytes: number;

  private constructor(
    readonly file: string,
    private fh: LogFileHandle,
    size: number,
  ) {
    this.sizeBytes = size;
  }

  /** Opens (or with `create`, creates empty) a segment's .log file. */
  static async open(fs: FileSystem, file: string, create: boolean): Promise<FileRecords> {
    const fh = await fs.open(file, create ? "w+" : "r+");
    try {
      const size = create ? 0 : (await fh.stat()).size;
      return new FileRecords(file, fh, size);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  /** Bytes of complete, readable batches. */
  get size(): number {
    return this.sizeBytes;
  }

  /**
   * Writes `buf` at the end. On failure the file may hold a partial write past `size`: the caller
   * must truncateTo(size) before anything else is appended.
   */
  append(buf: Buffer): Promise<void> {
    return writeFully(this.fh, buf, this.sizeBytes).then(() => {
      this.sizeBytes += buf.length;
    });
  }

  /** Reads up to `length` bytes at `position`, not past the end; `pooled`: into a buffer from fetchReadBuffers. */
  async read(position: number, length: number, pooled = false): Promise<Buffer> {
    const n = Math.max(0, Math.min(length, this.sizeBytes - position));
    return readFully(this.fh, position, n, pooled ? poolAllocate : undefined);
  }

  /** Reads beyond `size` too: recovery looks at bytes that are in the file but not yet trusted. */
  async readRaw(position: number, length: number): Promise<Buffer> {
    return readFully(this.fh, position, length);
  }

  async fileSize(): Promise<number> {
    return (await this.fh.stat()).size;
  }

  /** Cuts the file (and the readable size) to `size` bytes; returns how many bytes were removed. */
  async truncateTo(size: number): Promise<number> {
    const fileSize = await this.fileSize();
    if (size > fileSize) throw new Error(`cannot truncate ${this.file} to ${size}, it has ${fileSize} bytes`);
    if (size < fileSize) await this.fh.truncate(size);
    const removed = fileSize - size;
    this.sizeBytes = size;
    return removed;
  }

  /** Sets the readable size after recovery validated the bytes up to it. */
  setValidSize(size: number): void {
    this.sizeBytes = size;
  }

  /** fdatasync: the data and the file size, which is all a reader needs after power loss. */
  async flush(): Promise<void> {
    await this.fh.datasync();
  }

  async close(): Promise<void> {
    await this.fh.close();
  }

  /**
   * Walks batch headers from `position` (which must be a batch boundary) up to `endPosition`,
   * reading a few KiB at a time. Stops early, without error, at bytes that are not a batch header.
   */
  async *batchesFrom(position: number, endPosition = this.sizeBytes): AsyncGenerator<BatchPosition> {
    let chunk: Buffer = Buffer.alloc(0);
    let chunkStart = position;
    let pos = position;
    while (pos + BATCH_PEEK_SIZE <= endPosition) {
      if (pos < chunkStart || pos + BATCH_PEEK_SIZE > chunkStart + chunk.length) {
        chunkStart = pos;
        chunk = await readFully(this.fh, pos, Math.min(HEADER_SCAN_CHUNK_BYTES, endPosition - pos));
      }
      const bounds = peekBatchBounds(chunk, pos - chunkStart);
      if (bounds === null || pos + bounds.sizeInBytes > endPosition) return;
      yield { ...bounds, position: pos };
      pos += bounds.sizeInBytes;
    }
  }

  /**
   * The first batch at or after `startingPosition` whose last offset is >= `targetOffset`
   * (Kafka's searchForOffsetWithSize), or null when no batch before `endPosition` has it.
   */
  async searchForOffset(targetOffset: bigint, startingPosition: number, endPosition = this.sizeBytes) {
    for await (const batch of this.batchesFrom(startingPosition, endPosition)) {
      if (batch.lastOffset >= targetOffset) return batch;
    }
    return null;
  }
}
