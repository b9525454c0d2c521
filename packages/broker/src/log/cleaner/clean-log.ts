/**
 * One cleaning pass over one log (Kafka's Cleaner.doClean), as run by the cleaner worker thread:
 * it reads the segment files, never the Log object, and writes only `.cleaned` files, which the
 * main thread swaps in (Log.replaceSegments). Nothing here touches a file a reader may be using.
 *
 * 1. Offset map (buildOffsetMap): key -> offset of its latest record, over the dirty range
 *    [firstDirtyOffset, firstUncleanableOffset), keyed by a 128-bit hash of the key (offset-map.ts,
 *    Kafka's SkimpyOffsetMap). When the map is full the pass stops there: the end offset is the
 *    last batch mapped + 1 and the rest waits for the next pass.
 * 2. Groups (groupSegmentsBySize): every segment below the end offset, from the first, in runs
 *    whose total `.log` and index sizes fit one segment (segment.bytes, segment.index.bytes).
 * 3. Per group, one `<first base offset>.log.cleaned` (+ `.index.cleaned`, `.timeindex.cleaned`),
 *    fsynced. A record is kept when it is past the mapped range, or it is the latest of its key
 *    and either has a value or is a tombstone whose delete horizon (KIP-534: set to now +
 *    delete.retention.ms in the batch header the first time the cleaner keeps the tombstone) has
 *    not passed. Records without a key are dropped (a compacted topic refuses them on produce).
 *
 * Every read chunk and every `.log.cleaned` write chunk is reported to the cleaner's throttle
 * (log.cleaner.io.max.bytes.per.second, throttler.ts), which may sleep there.
 *
 * A pass makes almost no garbage, so that the worker's isolate does not collect (V8 runs parts of
 * every collection on the process's shared helper threads, at the broker's priority): batch
 * headers are read in place from one reused read chunk, records are walked by one cursor, kept
 * batches are copied (and rebuilt uncompressed batches assembled) in one reused write buffer, the
 * offset map is typed arrays reused across passes. What still allocates: one view per batch for
 * its CRC, and the rare decompressed or rebuilt-from-decoded batches.
 *
 * Batches keep their base offset, last offset (lastOffsetDelta), producer id, epoch, base
 * sequence, leader epoch, codec and timestamp type; only the records and the fields that describe
 * them (count, max timestamp, length, CRC) change. A batch whose records all go is dropped, except
 * (Kafka's RETAIN_EMPTY) the last batch seen of each producer id, kept as an empty header so the
 * producer's last sequence survives, and the last batch of each group, kept empty so a cleaned
 * segment always ends at the last offset of the segments it replaces (recovery reads the range a
 * `.swap` segment replaces from it). Compressed batches are decompressed here only, and rebuilt
 * with their codec.
 *
 * Transactional data batches and control batches (markers) are copied unchanged and are not put
 * in the offset map: without the transaction index (the exactly-once issue) the cleaner cannot
 * tell aborted records from committed ones, and keeping them is the one choice that never loses
 * a committed record or lets an aborted one shadow it.
 */
import fs from "node:fs";
import path from "node:path";
import {
  ATTRIBUTES_OFFSET,
  BASE_TIMESTAMP_OFFSET,
  BATCH_HEADER_SIZE,
  CompressionType,
  CRC_OFFSET,
  compressionTypeOf,
  computeBatchCrc,
  decodeRecordBatch,
  decompress,
  encodeRecordBatch,
  hasDeleteHorizon,
  isControlBatch,
  isTransactional,
  LAST_OFFSET_DELTA_OFFSET,
  LOG_OVERHEAD,
  MAGIC_OFFSET,
  MAGIC_V2,
  MAX_TIMESTAMP_OFFSET,
  makeAttributes,
  PRODUCER_ID_OFFSET,
  RECORDS_COUNT_OFFSET,
  RECORDS_OFFSET,
  readBatchHeader,
  TimestampType,
  timestampTypeOf,
  verifyBatchCrc,
} from "@samsa/protocol";
import {
  CLEANED_FILE_SUFFIX,
  filenamePrefixFromOffset,
  INDEX_FILE_SUFFIX,
  LOG_FILE_SUFFIX,
  TIME_INDEX_FILE_SUFFIX,
} from "../file-names.js";
import { nodeFileSystem } from "../file-system.js";
import { OffsetIndex } from "../offset-index.js";
import { TimeIndex } from "../time-index.js";
import { OffsetMap } from "./offset-map.js";
import { RecordCursor } from "./record-walk.js";
import { Throttler } from "./throttler.js";

const DELETE_HORIZON_FLAG = 0x40;
const INT32_MAX = 2 ** 31 - 1;
/** Smallest read of a segment: a whole batch is re-read when it straddles two reads. */
const MIN_READ_BYTES = 64 * 1024;

export interface CleanSegmentInfo {
  baseOffset: bigint;
  /** Bytes of whole batches when the pass was planned; the worker reads no further. */
  size: number;
}

export interface CleanTask {
  dir: string;
  /** Every segment from the first one up to (not including) the first uncleanable segment, ascending. */
  segments: CleanSegmentInfo[];
  firstDirtyOffset: bigint;
  firstUncleanableOffset: bigint;
  /** The cleaner's clock when the pass started: delete horizons are judged and set by it. */
  nowMs: number;
  deleteRetentionMs: number;
  segmentBytes: number;
  segmentIndexBytes: number;
  indexIntervalBytes: number;
  /** Keys the offset map may hold (log.cleaner.dedupe.buffer.size / 24 bytes * load factor). */
  maxMapEntries: number;
  /** log.cleaner.io.buffer.size: the read and write chunk. */
  ioBufferBytes: number;
  /**
   * log.cleaner.io.max.bytes.per.second: the shared state of the cleaner's throttle (an
   * IoThrottle's buffer, see throttler.ts); every read and write chunk is reported to it.
   */
  ioThrottle?: SharedArrayBuffer;
  /** Test hook: called between the writes of a pass (the crash test kills the process there). */
  onProgress?: () => void;
}

export interface CleanedGroup {
  /** Base offset of the cleaned segment: the first replaced segment's. */
  baseOffset: bigint;
  /** Base offsets of the segments it replaces, ascending. */
  replaces: bigint[];
  bytesWritten: number;
}

export interface CleanStats {
  bytesRead: number;
  bytesWritten: number;
  recordsRead: number;
  recordsRetained: number;
  mapEntries: number;
  mapMs: number;
  /** Time spent in fsyncs of the `.cleaned` files. */
  fsyncMs: number;
  /** Time the throttle (log.cleaner.io.max.bytes.per.second) made the pass sleep. */
  throttledMs: number;
  totalMs: number;
  /**
   * Set when the starvation guard took the cleaner thread out of SCHED_IDLE: ms into the pass
   * (thread-priority.ts).
   */
  starvedAfterMs?: number;
}

export interface CleanResult {
  /** The first offset not cleaned: the new first dirty offset (cleaner-offset-checkpoint). */
  endOffset: bigint;
  groups: CleanedGroup[];
  stats: CleanStats;
}

const TWO_32 = 2 ** 32;
/** |high word| below this: the int64 is exact as a number (below 2^53). */
const SAFE_HIGH_WORD = 2 ** 21;

/** Offsets as numbers: exact below 2^53, asserted where they enter. */
function num(offset: bigint): number {
  if (offset > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`offset ${offset} is beyond 2^53`);
  return Number(offset);
}

/** The int64 at buf[at] as a number, or NaN when it is beyond ±2^53 (not exact as a number). */
function readInt64(buf: Buffer, at: number): number {
  const high = buf.readInt32BE(at);
  // An int32 value stays a small integer: the arithmetic below would make a heap number of it.
  if (high === 0 || high === -1) {
    const low = buf.readInt32BE(at + 4);
    if (high === 0 ? low >= 0 : low < 0) return low;
  }
  if (high >= SAFE_HIGH_WORD || high < -SAFE_HIGH_WORD) return Number.NaN;
  return high * TWO_32 + buf.readUInt32BE(at + 4);
}

/** Writes a number below ±2^53 as an int64 at buf[at]. */
function writeInt64(buf: Buffer, value: number, at: number): void {
  const high = Math.floor(value / TWO_32);
  buf.writeInt32BE(high, at);
  buf.writeUInt32BE(value - high * TWO_32, at + 4);
}

/** Reads a batch's base offset (asserted below 2^53, as the task's offsets are). */
function readBaseOffset(buf: Buffer, at: number): number {
  const offset = readInt64(buf, at);
  if (Number.isNaN(offset)) throw new RangeError(`offset ${buf.readBigInt64BE(at)} is beyond 2^53`);
  return offset;
}

export function cleanedFileName(dir: string, baseOffset: bigint, suffix: string): string {
  return path.join(dir, filenamePrefixFromOffset(baseOffset) + suffix + CLEANED_FILE_SUFFIX);
}

/** Removes every `.cleaned` file of `dir`: the leftovers of an aborted or crashed pass. */
export function removeCleanedFiles(dir: string): void {
  for (const name of fs.readdirSync(dir))
    if (name.endsWith(CLEANED_FILE_SUFFIX)) fs.rmSync(path.join(dir, name), { force: true });
}

/**
 * The buffers of a pass, which the thread's next pass reuses: the read chunk, the write buffer,
 * the kept records of the batch being filtered (index, start, end: three int32 per record), the
 * header of the last dropped batch, the offset map.
 */
interface Scratch {
  read: Buffer;
  write: Buffer;
  kept: Int32Array;
  droppedHeader: Buffer;
  map: OffsetMap | null;
}

/** The last pass's buffers; a pass running while another does (tests call cleanLog directly) makes its own. */
let idleScratch: Scratch | null = null;

function takeScratch(): Scratch {
  const scratch = idleScratch ?? {
    read: Buffer.alloc(0),
    write: Buffer.alloc(0),
    kept: new Int32Array(3 * 1024),
    droppedHeader: Buffer.alloc(BATCH_HEADER_SIZE),
    map: null,
  };
  idleScratch = null;
  return scratch;
}

/**
 * Reads one segment's batches through the thread's read chunk, in chunks of at least
 * `chunkBytes`, stopping at `size`: `open`, then `next()` until it returns false, then `close`.
 * The current batch is buf[pos, pos + size), its CRC verified; its header fields are read once.
 */
class BatchReader {
  buf: Buffer;
  pos = 0;
  size = 0;
  baseOffset = 0;
  lastOffset = 0;
  attributes = 0;
  recordCount = 0;
  /** A number, or a bigint beyond ±2^53 (never in practice: producer ids count up from 0). */
  producerId: number | bigint = -1;
  /** The records section (decompressed when the batch has a codec): after `records()`. */
  recordsBuf: Buffer;
  recordsStart = 0;
  recordsEnd = 0;
  private file = "";
  private fd = -1;
  private fileSize = 0;
  private filePos = 0;
  private chunkStart = 0;
  private chunkLength = 0;

  private readonly readBytes: number;

  constructor(
    chunkBytes: number,
    private readonly io: PassIo,
    private readonly scratch: Scratch,
  ) {
    this.readBytes = Math.max(chunkBytes, MIN_READ_BYTES);
    this.buf = this.recordsBuf = scratch.read;
  }

  open(file: string, size: number): void {
    this.fd = fs.openSync(file, "r");
    this.file = file;
    this.fileSize = size;
    this.filePos = 0;
    this.chunkStart = 0;
    this.chunkLength = 0;
    // Grown for a big batch before: back to the chunk size, not to hold that memory for good.
    if (this.scratch.read.length < this.readBytes || this.scratch.read.length > 4 * this.readBytes)
      this.scratch.read = Buffer.allocUnsafe(this.readBytes);
    this.buf = this.scratch.read;
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }

  /** Reads from file position `at` into the chunk: a chunk, or the `need` bytes of a bigger batch. */
  private fill(at: number, need: number): void {
    if (need > this.buf.length) {
      this.scratch.read = Buffer.allocUnsafe(need);
      this.buf = this.scratch.read;
    }
    const want = Math.min(Math.max(this.readBytes, need), this.fileSize - at);
    let done = 0;
    while (done < want) {
      const n = fs.readSync(this.fd, this.buf, done, want - done, at + done);
      if (n === 0) break;
      done += n;
    }
    this.chunkStart = at;
    this.chunkLength = done;
    this.io.read(done);
  }

  next(): boolean {
    const at = this.filePos;
    if (at + LOG_OVERHEAD > this.fileSize) return false;
    if (at + LOG_OVERHEAD > this.chunkStart + this.chunkLength) this.fill(at, LOG_OVERHEAD);
    if (at + LOG_OVERHEAD > this.chunkStart + this.chunkLength) return false;
    const batchSize = LOG_OVERHEAD + this.buf.readInt32BE(at - this.chunkStart + 8);
    if (batchSize < BATCH_HEADER_SIZE || at + batchSize > this.fileSize)
      throw new Error(`${this.file}: impossible batch of ${batchSize} bytes at position ${at}`);
    if (at + batchSize > this.chunkStart + this.chunkLength) this.fill(at, batchSize);
    const buf = this.buf;
    const pos = at - this.chunkStart;
    const attributes = buf.readInt16BE(pos + ATTRIBUTES_OFFSET);
    // readBatchHeader names what is wrong.
    if (buf[pos + MAGIC_OFFSET] !== MAGIC_V2 || compressionTypeOf(attributes) > CompressionType.Zstd)
      readBatchHeader(buf, pos);
    if (!verifyBatchCrc(buf, pos)) throw new Error(`${this.file}: CRC mismatch in the batch at position ${at}`);
    this.pos = pos;
    this.size = batchSize;
    this.attributes = attributes;
    this.baseOffset = readBaseOffset(buf, pos);
    this.lastOffset = this.baseOffset + buf.readInt32BE(pos + LAST_OFFSET_DELTA_OFFSET);
    this.recordCount = buf.readInt32BE(pos + RECORDS_COUNT_OFFSET);
    const producerId = readInt64(buf, pos + PRODUCER_ID_OFFSET);
    this.producerId = Number.isNaN(producerId) ? buf.readBigInt64BE(pos + PRODUCER_ID_OFFSET) : producerId;
    this.filePos = at + batchSize;
    return true;
  }

  /** Finds the current batch's records section, decompressing it when it has a codec. */
  records(): void {
    const start = this.pos + RECORDS_OFFSET;
    const end = this.pos + this.size;
    const codec = compressionTypeOf(this.attributes);
    if (codec === CompressionType.None) {
      this.recordsBuf = this.buf;
      this.recordsStart = start;
      this.recordsEnd = end;
    } else {
      this.recordsBuf = decompress(codec, this.buf.subarray(start, end), { maxDecompressedBytes: 2 ** 31 - 1 });
      this.recordsStart = 0;
      this.recordsEnd = this.recordsBuf.length;
    }
  }
}

function segmentFile(dir: string, baseOffset: bigint, suffix: string): string {
  return path.join(dir, filenamePrefixFromOffset(baseOffset) + suffix);
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw e;
  }
}

/** Kafka's groupSegmentsBySize: runs of segments whose .log and index sizes fit one segment. */
export function groupSegmentsBySize<
  S extends { baseOffset: bigint; size: number; offsetIndexBytes: number; timeIndexBytes: number },
>(segments: readonly S[], maxSize: number, maxIndexSize: number, firstUncleanableOffset: bigint): S[][] {
  const groups: S[][] = [];
  let i = 0;
  while (i < segments.length) {
    const group = [segments[i]!];
    let logSize = segments[i]!.size;
    let indexSize = segments[i]!.offsetIndexBytes;
    let timeIndexSize = segments[i]!.timeIndexBytes;
    i++;
    while (i < segments.length) {
      const s = segments[i]!;
      // The last offset the candidate may hold must stay within a relative offset of the group's base.
      const lastOffset = i + 1 < segments.length ? segments[i + 1]!.baseOffset - 1n : firstUncleanableOffset - 1n;
      if (
        logSize + s.size > maxSize ||
        indexSize + s.offsetIndexBytes > maxIndexSize ||
        timeIndexSize + s.timeIndexBytes > maxIndexSize ||
        (s.size !== 0 && lastOffset - group[0]!.baseOffset > BigInt(INT32_MAX))
      )
        break;
      group.push(s);
      logSize += s.size;
      indexSize += s.offsetIndexBytes;
      timeIndexSize += s.timeIndexBytes;
      i++;
    }
    groups.push(group);
  }
  return groups;
}

function setDeleteHorizonFlag(batch: Buffer): void {
  batch.writeInt16BE(batch.readInt16BE(ATTRIBUTES_OFFSET) | DELETE_HORIZON_FLAG, ATTRIBUTES_OFFSET);
  batch.writeUInt32BE(computeBatchCrc(batch, 0), CRC_OFFSET);
}

/** The bytes a pass reads and writes: counted in its stats and reported to the throttle, chunk by chunk (as Kafka's cleaner does). */
class PassIo {
  private readonly throttler: Throttler | null;

  constructor(
    private readonly stats: CleanStats,
    ioThrottle: SharedArrayBuffer | undefined,
  ) {
    this.throttler = ioThrottle === undefined ? null : new Throttler(ioThrottle);
  }

  read(bytes: number): void {
    this.stats.bytesRead += bytes;
    if (this.throttler !== null) this.stats.throttledMs += this.throttler.maybeThrottle(bytes);
  }

  written(bytes: number): void {
    if (this.throttler !== null) this.stats.throttledMs += this.throttler.maybeThrottle(bytes);
  }
}

/**
 * One output segment being written: the `.log.cleaned` file plus its two indexes. Batches are
 * assembled at the end of the thread's write buffer (`reserve`, fill, `commit`) and written when
 * the next one does not fit in log.cleaner.io.buffer.size.
 */
class CleanedSegmentWriter {
  private readonly fd: number;
  private pendingBytes = 0;
  private position = 0;
  private bytesSinceLastIndexEntry = 0;
  /** The largest batch max timestamp so far, as the int64's two words (compared exactly, without a bigint). */
  private maxTimestampHigh = -1;
  private maxTimestampLow = 0xffffffff;
  private offsetOfMaxTimestamp: number;
  readonly offsetIndex: OffsetIndex;
  readonly timeIndex: TimeIndex;

  constructor(
    private readonly task: CleanTask,
    readonly baseOffset: bigint,
    private readonly io: PassIo,
    private readonly scratch: Scratch,
  ) {
    const writeBytes = task.ioBufferBytes;
    if (this.scratch.write.length < writeBytes || this.scratch.write.length > 4 * writeBytes)
      this.scratch.write = Buffer.allocUnsafe(writeBytes);
    this.fd = fs.openSync(cleanedFileName(task.dir, baseOffset, LOG_FILE_SUFFIX), "w");
    this.offsetOfMaxTimestamp = num(baseOffset);
    this.offsetIndex = new OffsetIndex(
      nodeFileSystem,
      cleanedFileName(task.dir, baseOffset, INDEX_FILE_SUFFIX),
      baseOffset,
      task.segmentIndexBytes,
    );
    this.timeIndex = new TimeIndex(
      nodeFileSystem,
      cleanedFileName(task.dir, baseOffset, TIME_INDEX_FILE_SUFFIX),
      baseOffset,
      task.segmentIndexBytes,
    );
  }

  async open(): Promise<void> {
    await this.offsetIndex.createEmpty();
    await this.timeIndex.createEmpty();
  }

  get bytesWritten(): number {
    return this.position;
  }

  /** Room for a batch of `size` bytes in the write buffer (scratch.write): where it goes. */
  reserve(size: number): number {
    if (this.pendingBytes > 0 && this.pendingBytes + size > this.task.ioBufferBytes) this.writePending();
    if (this.pendingBytes + size > this.scratch.write.length) {
      const grown = Buffer.allocUnsafe(this.pendingBytes + size);
      this.scratch.write.copy(grown, 0, 0, this.pendingBytes);
      this.scratch.write = grown;
    }
    return this.pendingBytes;
  }

  /**
   * Takes the batch just written at scratch.write[at, at + size) (at = reserve(size)), and
   * indexes it by LogSegment's rule (so recovery would rebuild the same index).
   */
  commit(at: number, size: number): void {
    const buf = this.scratch.write;
    const filePosition = this.position;
    const lastOffset = readBaseOffset(buf, at) + buf.readInt32BE(at + LAST_OFFSET_DELTA_OFFSET);
    const high = buf.readInt32BE(at + MAX_TIMESTAMP_OFFSET);
    const low = buf.readUInt32BE(at + MAX_TIMESTAMP_OFFSET + 4);
    this.pendingBytes += size;
    this.position += size;
    if (high > this.maxTimestampHigh || (high === this.maxTimestampHigh && low > this.maxTimestampLow)) {
      this.maxTimestampHigh = high;
      this.maxTimestampLow = low;
      this.offsetOfMaxTimestamp = lastOffset;
    }
    if (this.bytesSinceLastIndexEntry > this.task.indexIntervalBytes && !this.offsetIndex.isFull()) {
      this.offsetIndex.append(BigInt(lastOffset), filePosition);
      if (!this.timeIndex.isFull()) this.timeIndex.maybeAppend(this.maxTimestamp(), BigInt(this.offsetOfMaxTimestamp));
      this.bytesSinceLastIndexEntry = 0;
    }
    this.bytesSinceLastIndexEntry += size;
  }

  /** Appends a copy of the whole batch src[start, start + size). */
  appendCopy(src: Buffer, start: number, size: number): void {
    const at = this.reserve(size);
    src.copy(this.scratch.write, at, start, start + size);
    this.commit(at, size);
  }

  /**
   * Kafka's DefaultRecordBatch.writeEmptyHeader: appends a batch of no records that keeps the
   * producer fields, offsets and max timestamp of the batch header at src[start].
   */
  appendEmpty(src: Buffer, start: number): void {
    const at = this.reserve(BATCH_HEADER_SIZE);
    const b = this.scratch.write;
    src.copy(b, at, start, start + BATCH_HEADER_SIZE);
    const attributes = b.readInt16BE(at + ATTRIBUTES_OFFSET);
    b.writeInt32BE(BATCH_HEADER_SIZE - LOG_OVERHEAD, at + 8);
    b.writeInt8(MAGIC_V2, at + MAGIC_OFFSET);
    b.writeInt16BE(
      makeAttributes(
        CompressionType.None,
        timestampTypeOf(attributes),
        isTransactional(attributes),
        isControlBatch(attributes),
      ),
      at + ATTRIBUTES_OFFSET,
    );
    writeInt64(b, -1, at + BASE_TIMESTAMP_OFFSET);
    b.writeInt32BE(0, at + RECORDS_COUNT_OFFSET);
    b.writeUInt32BE(computeBatchCrc(b, at), at + CRC_OFFSET);
    this.commit(at, BATCH_HEADER_SIZE);
  }

  private maxTimestamp(): bigint {
    return (BigInt(this.maxTimestampHigh) << 32n) | BigInt(this.maxTimestampLow);
  }

  private writePending(): void {
    if (this.pendingBytes === 0) return;
    const buf = this.scratch.write;
    const length = this.pendingBytes;
    const at = this.position - length;
    let done = 0;
    while (done < length) done += fs.writeSync(this.fd, buf, done, length - done, at + done);
    this.pendingBytes = 0;
    this.io.written(length);
    this.task.onProgress?.();
  }

  /** Kafka's onBecomeInactiveSegment + flush: last time index entry, trimmed indexes, everything fsynced. */
  async finish(stats: CleanStats): Promise<void> {
    this.writePending();
    this.timeIndex.maybeAppend(this.maxTimestamp(), BigInt(this.offsetOfMaxTimestamp), true);
    const syncStarted = performance.now();
    fs.fsyncSync(this.fd);
    fs.closeSync(this.fd);
    await this.offsetIndex.trimToValidSize();
    await this.timeIndex.trimToValidSize();
    await this.offsetIndex.sync();
    await this.timeIndex.sync();
    stats.fsyncMs += performance.now() - syncStarted;
    await this.offsetIndex.closeHandle();
    await this.timeIndex.closeHandle();
    this.task.onProgress?.();
  }

  abandon(): void {
    try {
      fs.closeSync(this.fd);
    } catch {
      // already closed
    }
    void this.offsetIndex.closeHandle().catch(() => undefined);
    void this.timeIndex.closeHandle().catch(() => undefined);
  }
}

/** Records kept of the batch being filtered: appends (index, start, end) to scratch.kept, growing it. */
function keep(scratch: Scratch, count: number, index: number, start: number, end: number): void {
  let kept = scratch.kept;
  if (3 * count + 3 > kept.length) {
    const grown = new Int32Array(kept.length * 2);
    grown.set(kept);
    scratch.kept = kept = grown;
  }
  kept[3 * count] = index;
  kept[3 * count + 1] = start;
  kept[3 * count + 2] = end;
}

export async function cleanLog(task: CleanTask): Promise<CleanResult> {
  const scratch = takeScratch();
  try {
    return await cleanWith(task, scratch);
  } finally {
    idleScratch = scratch;
  }
}

/** A segment of the pass, with its index files' sizes (groupSegmentsBySize). */
class PassSegment {
  readonly file: string;

  constructor(
    dir: string,
    readonly baseOffset: bigint,
    readonly size: number,
    readonly offsetIndexBytes: number,
    readonly timeIndexBytes: number,
  ) {
    this.file = segmentFile(dir, baseOffset, LOG_FILE_SUFFIX);
  }
}

/*
 * The pass is an async function that only sequences the steps; the loops over batches and
 * records are small synchronous functions over objects of fixed shape (the classes here). V8
 * optimizes those once per thread and keeps the code: a loop inside one big function was
 * compiled again (10-30 ms each, on-stack replacement) several times in every pass, and V8 does
 * that on the process's shared helper threads at the broker's priority, beside the request path.
 */

/** What the offset-map phase learns: the last offset mapped, and whether the map filled up. */
class MapPhase {
  latestOffset = -1;
  full = false;
  /** The last batch of every producer id (Kafka's RETAIN_EMPTY rule). */
  readonly lastBatchOfProducer = new Map<number | bigint, number>();

  constructor(
    readonly map: OffsetMap,
    readonly firstDirty: number,
  ) {}
}

/** Step 1 over one segment: its batches' keys into the map; `dirty`: the segment reaches the dirty range. */
function mapSegment(phase: MapPhase, reader: BatchReader, cursor: RecordCursor, dirty: boolean): void {
  const map = phase.map;
  const firstDirty = phase.firstDirty;
  while (reader.next()) {
    const lastOffset = reader.lastOffset;
    if (reader.producerId >= 0) phase.lastBatchOfProducer.set(reader.producerId, lastOffset);
    if (!dirty) continue;
    const attributes = reader.attributes;
    if (!isControlBatch(attributes) && !isTransactional(attributes) && lastOffset >= firstDirty) {
      const base = reader.baseOffset;
      reader.records();
      const buf = reader.recordsBuf;
      cursor.reset(buf, reader.recordsStart, reader.recordsEnd, reader.recordCount);
      while (cursor.next()) {
        const offset = base + cursor.offsetDelta;
        if (cursor.keyStart < 0 || offset < firstDirty) continue;
        // Full: the batch's other records still update the keys already mapped, as before.
        if (!map.put(buf, cursor.keyStart, cursor.keyLength, offset)) phase.full = true;
      }
      if (phase.full) return;
    }
    if (lastOffset >= firstDirty && lastOffset > phase.latestOffset) phase.latestOffset = lastOffset;
  }
}

/** Step 3's state: what decides which records stay, and the pass's counts. */
class CleanPhase {
  /** The last batch of the group being written was dropped: its header is in scratch.droppedHeader. */
  droppedLast = false;

  constructor(
    readonly map: OffsetMap,
    readonly scratch: Scratch,
    readonly stats: CleanStats,
    readonly lastBatchOfProducer: Map<number | bigint, number>,
    /** Records above it were not mapped: they stay. */
    readonly latestOffset: number,
    readonly nowMs: number,
    readonly deleteRetentionMs: number,
  ) {}
}

/** Step 3 over one segment: each batch copied, rebuilt with the records that stay, or dropped. */
function cleanSegment(phase: CleanPhase, reader: BatchReader, cursor: RecordCursor, out: CleanedSegmentWriter): void {
  const stats = phase.stats;
  while (reader.next()) {
    const attributes = reader.attributes;
    const recordCount = reader.recordCount;
    stats.recordsRead += recordCount;
    if (isControlBatch(attributes) || isTransactional(attributes) || recordCount === 0) {
      out.appendCopy(reader.buf, reader.pos, reader.size);
      stats.recordsRetained += recordCount;
      phase.droppedLast = false;
    } else cleanBatch(phase, reader, cursor, out);
  }
}

/** One data batch of step 3 (not transactional, not a marker, not empty). */
function cleanBatch(phase: CleanPhase, reader: BatchReader, cursor: RecordCursor, out: CleanedSegmentWriter): void {
  const { map, scratch, latestOffset } = phase;
  const src = reader.buf;
  const pos = reader.pos;
  const attributes = reader.attributes;
  const recordCount = reader.recordCount;
  const base = reader.baseOffset;
  const horizonSet = hasDeleteHorizon(attributes);
  const horizonPassed = horizonSet && phase.nowMs >= Number(src.readBigInt64BE(pos + BASE_TIMESTAMP_OFFSET));
  reader.records();
  const buf = reader.recordsBuf;
  cursor.reset(buf, reader.recordsStart, reader.recordsEnd, recordCount);
  let kept = 0;
  let keptBytes = 0;
  let maxTimestampDelta = Number.NEGATIVE_INFINITY;
  let tombstoneKept = false;
  while (cursor.next()) {
    const offset = base + cursor.offsetDelta;
    let retain: boolean;
    if (offset > latestOffset) retain = true;
    else if (cursor.keyStart < 0) retain = false;
    else {
      const latest = map.get(buf, cursor.keyStart, cursor.keyLength);
      retain = offset >= latest && (cursor.valueLength >= 0 || !horizonPassed);
    }
    if (retain) {
      keep(scratch, kept++, cursor.index, cursor.start, cursor.end);
      keptBytes += cursor.end - cursor.start;
      if (cursor.timestampDelta > maxTimestampDelta) maxTimestampDelta = cursor.timestampDelta;
      if (cursor.valueLength < 0) tombstoneKept = true;
    }
  }
  phase.stats.recordsRetained += kept;
  phase.droppedLast = false;
  if (kept === recordCount && (!tombstoneKept || horizonSet)) out.appendCopy(src, pos, reader.size);
  else if (kept > 0) {
    const needHorizon = tombstoneKept && !horizonSet;
    if (compressionTypeOf(attributes) === CompressionType.None && !needHorizon)
      rebuildUncompressed(out, scratch, src, pos, kept, keptBytes, maxTimestampDelta);
    else {
      const horizon = needHorizon ? BigInt(phase.nowMs + phase.deleteRetentionMs) : null;
      const batch = rebuildDecoded(scratch, src, pos, kept, horizon);
      out.appendCopy(batch, 0, batch.length);
    }
  } else if (reader.producerId >= 0 && phase.lastBatchOfProducer.get(reader.producerId) === reader.lastOffset)
    out.appendEmpty(src, pos);
  else {
    // By hand: Buffer.copy of a range makes a view of it.
    const header = scratch.droppedHeader;
    for (let i = 0; i < BATCH_HEADER_SIZE; i++) header[i] = src[pos + i]!;
    phase.droppedLast = true;
  }
}

async function cleanWith(task: CleanTask, scratch: Scratch): Promise<CleanResult> {
  const started = Date.now();
  const stats: CleanStats = {
    bytesRead: 0,
    bytesWritten: 0,
    recordsRead: 0,
    recordsRetained: 0,
    mapEntries: 0,
    mapMs: 0,
    fsyncMs: 0,
    throttledMs: 0,
    totalMs: 0,
  };
  removeCleanedFiles(task.dir);
  const io = new PassIo(stats, task.ioThrottle);
  const segments = task.segments.map(
    (s) =>
      new PassSegment(
        task.dir,
        s.baseOffset,
        s.size,
        fileSize(segmentFile(task.dir, s.baseOffset, INDEX_FILE_SUFFIX)),
        fileSize(segmentFile(task.dir, s.baseOffset, TIME_INDEX_FILE_SUFFIX)),
      ),
  );
  const firstDirty = num(task.firstDirtyOffset);
  const firstUncleanable = num(task.firstUncleanableOffset);
  const reader = new BatchReader(task.ioBufferBytes, io, scratch);
  const cursor = new RecordCursor();

  // 1. The offset map over the dirty range, and the last batch of every producer id. The map
  // holds no more keys than the dirty range has offsets.
  const mapEntries = Math.max(1, Math.min(task.maxMapEntries, firstUncleanable - firstDirty));
  if (scratch.map === null) scratch.map = new OffsetMap(mapEntries);
  else scratch.map.reset(mapEntries);
  const mapPhase = new MapPhase(scratch.map, firstDirty);
  for (let i = 0; i < segments.length && !mapPhase.full; i++) {
    const next = i + 1 < segments.length ? num(segments[i + 1]!.baseOffset) : firstUncleanable;
    const dirty = next > firstDirty;
    reader.open(segments[i]!.file, segments[i]!.size);
    try {
      mapSegment(mapPhase, reader, cursor, dirty);
    } finally {
      reader.close();
    }
    if (dirty && !mapPhase.full && next - 1 > mapPhase.latestOffset) mapPhase.latestOffset = next - 1;
  }
  stats.mapEntries = mapPhase.map.size;
  stats.mapMs = Date.now() - started;
  const endOffset = mapPhase.latestOffset + 1;
  if (endOffset <= firstDirty) return { endOffset: task.firstDirtyOffset, groups: [], stats };

  // 2. Groups of the segments below the end offset.
  const toClean = segments.filter((s) => num(s.baseOffset) < endOffset);
  const groups = groupSegmentsBySize(toClean, task.segmentBytes, task.segmentIndexBytes, task.firstUncleanableOffset);

  // 3. Clean each group into one .cleaned segment.
  const phase = new CleanPhase(
    mapPhase.map,
    scratch,
    stats,
    mapPhase.lastBatchOfProducer,
    mapPhase.latestOffset,
    task.nowMs,
    task.deleteRetentionMs,
  );
  const result: CleanedGroup[] = [];
  for (const group of groups) {
    const out = new CleanedSegmentWriter(task, group[0]!.baseOffset, io, scratch);
    try {
      await out.open();
      phase.droppedLast = false;
      for (const seg of group) {
        reader.open(seg.file, seg.size);
        try {
          cleanSegment(phase, reader, cursor, out);
        } finally {
          reader.close();
        }
      }
      // The last batch of the group stays (empty), so the cleaned segment ends where its sources did.
      if (phase.droppedLast) out.appendEmpty(scratch.droppedHeader, 0);
      await out.finish(stats);
    } catch (e) {
      out.abandon();
      throw e;
    }
    stats.bytesWritten += out.bytesWritten;
    result.push({
      baseOffset: out.baseOffset,
      replaces: group.map((s) => s.baseOffset),
      bytesWritten: out.bytesWritten,
    });
  }
  stats.totalMs = Date.now() - started;
  return { endOffset: BigInt(endOffset), groups: result, stats };
}

/**
 * An uncompressed batch with some records removed, assembled in the write buffer: the header of
 * the batch at src[pos], the kept records' bytes as they were (scratch.kept), then the fields that
 * describe them patched (length, max timestamp, count, CRC).
 */
function rebuildUncompressed(
  out: CleanedSegmentWriter,
  scratch: Scratch,
  src: Buffer,
  pos: number,
  kept: number,
  keptBytes: number,
  maxTimestampDelta: number,
): void {
  const size = BATCH_HEADER_SIZE + keptBytes;
  const at = out.reserve(size);
  const batch = scratch.write;
  const keptRecords = scratch.kept;
  src.copy(batch, at, pos, pos + BATCH_HEADER_SIZE);
  let to = at + BATCH_HEADER_SIZE;
  for (let k = 0; k < kept; k++) to += src.copy(batch, to, keptRecords[3 * k + 1]!, keptRecords[3 * k + 2]!);
  if (timestampTypeOf(src.readInt16BE(pos + ATTRIBUTES_OFFSET)) !== TimestampType.LogAppendTime) {
    const baseTimestamp = readInt64(src, pos + BASE_TIMESTAMP_OFFSET);
    const maxTimestamp = baseTimestamp + maxTimestampDelta;
    if (Number.isSafeInteger(maxTimestamp)) writeInt64(batch, maxTimestamp, at + MAX_TIMESTAMP_OFFSET);
    else
      batch.writeBigInt64BE(
        src.readBigInt64BE(pos + BASE_TIMESTAMP_OFFSET) + BigInt(maxTimestampDelta),
        at + MAX_TIMESTAMP_OFFSET,
      );
  }
  batch.writeInt32BE(size - LOG_OVERHEAD, at + 8);
  batch.writeInt32BE(kept, at + RECORDS_COUNT_OFFSET);
  batch.writeUInt32BE(computeBatchCrc(batch, at), at + CRC_OFFSET);
  out.commit(at, size);
}

/**
 * A batch rebuilt from decoded records (the `kept` of scratch.kept, by index): compressed batches
 * (recompressed with their codec), and batches whose tombstones get their delete horizon now
 * (baseTimestamp becomes the horizon and the timestamp deltas are rewritten against it, as Kafka's
 * MemoryRecordsBuilder does). Allocates; these are the rare batches.
 */
function rebuildDecoded(scratch: Scratch, src: Buffer, pos: number, kept: number, newHorizon: bigint | null): Buffer {
  const h = readBatchHeader(src, pos);
  const decoded = decodeRecordBatch(src, pos, { verifyCrc: false, maxDecompressedBytes: 2 ** 31 - 1 });
  const records = [];
  for (let k = 0; k < kept; k++) records.push(decoded.records[scratch.kept[3 * k]!]!);
  const horizon = newHorizon ?? (hasDeleteHorizon(h.attributes) ? h.baseTimestamp : null);
  const batch = encodeRecordBatch({
    records: records.map((r) => ({
      key: r.key,
      value: r.value,
      headers: r.headers,
      timestamp: r.timestamp,
      offset: r.offset,
    })),
    baseOffset: h.baseOffset,
    baseTimestamp: horizon ?? undefined,
    compression: compressionTypeOf(h.attributes),
    timestampType: timestampTypeOf(h.attributes),
    producerId: h.producerId,
    producerEpoch: h.producerEpoch,
    baseSequence: h.baseSequence,
    isTransactional: isTransactional(h.attributes),
    isControl: isControlBatch(h.attributes),
    partitionLeaderEpoch: h.partitionLeaderEpoch,
    lastOffsetDelta: h.lastOffsetDelta,
  });
  if (horizon !== null) setDeleteHorizonFlag(batch);
  return batch;
}
