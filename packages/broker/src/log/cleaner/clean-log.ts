/**
 * One cleaning pass over one log (Kafka's Cleaner.doClean), as run by the cleaner worker thread:
 * it reads the segment files, never the Log object, and writes only `.cleaned` files, which the
 * main thread swaps in (Log.replaceSegments). Nothing here touches a file a reader may be using.
 *
 * 1. Offset map (buildOffsetMap): key -> offset of its latest record, over the dirty range
 *    [firstDirtyOffset, firstUncleanableOffset). When the map is full the pass stops there: the
 *    end offset is the last batch mapped + 1 and the rest waits for the next pass.
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
  BATCH_HEADER_SIZE,
  CompressionType,
  compressionTypeOf,
  computeBatchCrc,
  decodeRecordBatch,
  decompress,
  encodeRecordBatch,
  hasDeleteHorizon,
  isControlBatch,
  isTransactional,
  LOG_OVERHEAD,
  makeAttributes,
  RECORDS_OFFSET,
  type RecordBatchHeader,
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
import { walkRecords } from "./record-walk.js";
import { Throttler } from "./throttler.js";

const DELETE_HORIZON_FLAG = 0x40;
const CRC_OFFSET = 17;
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

interface KeptRecord {
  /** Position of the record in its batch, and its bytes in the (decompressed) records section. */
  index: number;
  start: number;
  end: number;
  timestampDelta: number;
}

interface BatchVisit {
  buf: Buffer;
  pos: number;
  header: RecordBatchHeader;
  lastOffset: number;
}

/** Offsets as numbers: exact below 2^53, asserted where they enter. */
function num(offset: bigint): number {
  if (offset > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`offset ${offset} is beyond 2^53`);
  return Number(offset);
}

export function cleanedFileName(dir: string, baseOffset: bigint, suffix: string): string {
  return path.join(dir, filenamePrefixFromOffset(baseOffset) + suffix + CLEANED_FILE_SUFFIX);
}

/** Removes every `.cleaned` file of `dir`: the leftovers of an aborted or crashed pass. */
export function removeCleanedFiles(dir: string): void {
  for (const name of fs.readdirSync(dir))
    if (name.endsWith(CLEANED_FILE_SUFFIX)) fs.rmSync(path.join(dir, name), { force: true });
}

/** Reads the segment's batches in chunks of at least `chunkBytes`, stopping at `size` or when `visit` returns false. */
function scanSegment(
  file: string,
  size: number,
  chunkBytes: number,
  io: PassIo,
  visit: (b: BatchVisit) => boolean | undefined,
): void {
  const fd = fs.openSync(file, "r");
  try {
    let chunk = Buffer.allocUnsafe(Math.max(chunkBytes, MIN_READ_BYTES));
    let chunkStart = 0;
    let chunkLength = 0;
    let pos = 0;
    const fill = (at: number, need: number) => {
      if (need > chunk.length) chunk = Buffer.allocUnsafe(need);
      const want = Math.min(chunk.length, size - at);
      let done = 0;
      while (done < want) {
        const n = fs.readSync(fd, chunk, done, want - done, at + done);
        if (n === 0) break;
        done += n;
      }
      chunkStart = at;
      chunkLength = done;
      io.read(done);
    };
    while (pos + LOG_OVERHEAD <= size) {
      if (pos + LOG_OVERHEAD > chunkStart + chunkLength) fill(pos, LOG_OVERHEAD);
      if (pos + LOG_OVERHEAD > chunkStart + chunkLength) break;
      const batchSize = LOG_OVERHEAD + chunk.readInt32BE(pos - chunkStart + 8);
      if (batchSize < BATCH_HEADER_SIZE || pos + batchSize > size)
        throw new Error(`${file}: impossible batch of ${batchSize} bytes at position ${pos}`);
      if (pos + batchSize > chunkStart + chunkLength) fill(pos, batchSize);
      const view = chunk.subarray(0, chunkLength);
      const rel = pos - chunkStart;
      const header = readBatchHeader(view, rel);
      if (!verifyBatchCrc(view, rel)) throw new Error(`${file}: CRC mismatch in the batch at position ${pos}`);
      const lastOffset = num(header.baseOffset) + header.lastOffsetDelta;
      if (visit({ buf: view, pos: rel, header, lastOffset }) === false) return;
      pos += batchSize;
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** The records section of a batch, decompressed when it has a codec. */
function recordsOf(b: BatchVisit): { buf: Buffer; start: number; end: number } {
  const start = b.pos + RECORDS_OFFSET;
  const end = b.pos + LOG_OVERHEAD + b.header.batchLength;
  const codec = compressionTypeOf(b.header.attributes);
  if (codec === CompressionType.None) return { buf: b.buf, start, end };
  const plain = decompress(codec, b.buf.subarray(start, end), { maxDecompressedBytes: 2 ** 31 - 1 });
  return { buf: plain, start: 0, end: plain.length };
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

/** Kafka's DefaultRecordBatch.writeEmptyHeader: a batch of no records that keeps the producer fields and offsets. */
function emptyBatch(h: RecordBatchHeader): Buffer {
  const b = Buffer.alloc(BATCH_HEADER_SIZE);
  b.writeBigInt64BE(h.baseOffset, 0);
  b.writeInt32BE(BATCH_HEADER_SIZE - LOG_OVERHEAD, 8);
  b.writeInt32BE(h.partitionLeaderEpoch, 12);
  b.writeInt8(2, 16);
  b.writeInt16BE(
    makeAttributes(
      CompressionType.None,
      timestampTypeOf(h.attributes),
      isTransactional(h.attributes),
      isControlBatch(h.attributes),
    ),
    ATTRIBUTES_OFFSET,
  );
  b.writeInt32BE(h.lastOffsetDelta, 23);
  b.writeBigInt64BE(-1n, 27);
  b.writeBigInt64BE(h.maxTimestamp, 35);
  b.writeBigInt64BE(h.producerId, 43);
  b.writeInt16BE(h.producerEpoch, 51);
  b.writeInt32BE(h.baseSequence, 53);
  b.writeInt32BE(0, 57);
  b.writeUInt32BE(computeBatchCrc(b, 0), CRC_OFFSET);
  return b;
}

function setDeleteHorizonFlag(batch: Buffer): void {
  batch.writeInt16BE(batch.readInt16BE(ATTRIBUTES_OFFSET) | DELETE_HORIZON_FLAG, ATTRIBUTES_OFFSET);
  batch.writeUInt32BE(computeBatchCrc(batch, 0), CRC_OFFSET);
}

/** The key of the offset map: the key bytes as a latin1 string (exact, unlike Kafka's MD5 of the key). */
function mapKey(buf: Buffer, start: number, length: number): string {
  return buf.toString("latin1", start, start + length);
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

/** One output segment being written: the `.log.cleaned` file plus its two indexes. */
class CleanedSegmentWriter {
  private readonly fd: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private position = 0;
  private bytesSinceLastIndexEntry = 0;
  private maxTimestamp = -1n;
  private offsetOfMaxTimestamp: bigint;
  readonly offsetIndex: OffsetIndex;
  readonly timeIndex: TimeIndex;

  constructor(
    private readonly task: CleanTask,
    readonly baseOffset: bigint,
    private readonly io: PassIo,
  ) {
    this.fd = fs.openSync(cleanedFileName(task.dir, baseOffset, LOG_FILE_SUFFIX), "w");
    this.offsetOfMaxTimestamp = baseOffset;
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

  /** Appends one whole batch and indexes it by LogSegment's rule (so recovery would rebuild the same index). */
  append(batch: Buffer, lastOffset: bigint, maxTimestamp: bigint): void {
    const at = this.position;
    this.pending.push(batch);
    this.pendingBytes += batch.length;
    this.position += batch.length;
    if (maxTimestamp > this.maxTimestamp) {
      this.maxTimestamp = maxTimestamp;
      this.offsetOfMaxTimestamp = lastOffset;
    }
    if (this.bytesSinceLastIndexEntry > this.task.indexIntervalBytes && !this.offsetIndex.isFull()) {
      this.offsetIndex.append(lastOffset, at);
      if (!this.timeIndex.isFull()) this.timeIndex.maybeAppend(this.maxTimestamp, this.offsetOfMaxTimestamp);
      this.bytesSinceLastIndexEntry = 0;
    }
    this.bytesSinceLastIndexEntry += batch.length;
    if (this.pendingBytes >= this.task.ioBufferBytes) this.writePending();
  }

  private writePending(): void {
    if (this.pendingBytes === 0) return;
    const buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    let done = 0;
    const at = this.position - this.pendingBytes;
    while (done < buf.length) done += fs.writeSync(this.fd, buf, done, buf.length - done, at + done);
    this.pending = [];
    this.pendingBytes = 0;
    this.io.written(buf.length);
    this.task.onProgress?.();
  }

  /** Kafka's onBecomeInactiveSegment + flush: last time index entry, trimmed indexes, everything fsynced. */
  async finish(stats: CleanStats): Promise<void> {
    this.writePending();
    this.timeIndex.maybeAppend(this.maxTimestamp, this.offsetOfMaxTimestamp, true);
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

export async function cleanLog(task: CleanTask): Promise<CleanResult> {
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
  const segments = task.segments.map((s) => ({
    ...s,
    file: segmentFile(task.dir, s.baseOffset, LOG_FILE_SUFFIX),
    offsetIndexBytes: fileSize(segmentFile(task.dir, s.baseOffset, INDEX_FILE_SUFFIX)),
    timeIndexBytes: fileSize(segmentFile(task.dir, s.baseOffset, TIME_INDEX_FILE_SUFFIX)),
  }));
  const firstDirty = num(task.firstDirtyOffset);
  const firstUncleanable = num(task.firstUncleanableOffset);

  // 1. The offset map over the dirty range, and the last batch of every producer id.
  const map = new Map<string, number>();
  const lastBatchOfProducer = new Map<bigint, number>();
  let latestOffset = -1;
  let full = false;
  for (let i = 0; i < segments.length && !full; i++) {
    const seg = segments[i]!;
    const next = i + 1 < segments.length ? num(segments[i + 1]!.baseOffset) : firstUncleanable;
    const dirty = next > firstDirty;
    scanSegment(seg.file, seg.size, task.ioBufferBytes, io, (b) => {
      if (b.header.producerId >= 0n) lastBatchOfProducer.set(b.header.producerId, b.lastOffset);
      if (!dirty) return true;
      const attributes = b.header.attributes;
      if (!isControlBatch(attributes) && !isTransactional(attributes) && b.lastOffset >= firstDirty) {
        const base = num(b.header.baseOffset);
        const { buf, start, end } = recordsOf(b);
        walkRecords(buf, start, end, b.header.recordCount, (r) => {
          const offset = base + r.offsetDelta;
          if (r.keyStart < 0 || offset < firstDirty) return;
          const key = mapKey(buf, r.keyStart, r.keyLength);
          if (map.size >= task.maxMapEntries && !map.has(key)) full = true;
          else map.set(key, offset);
        });
        if (full) return false;
      }
      if (b.lastOffset >= firstDirty && b.lastOffset > latestOffset) latestOffset = b.lastOffset;
      return true;
    });
    if (dirty && !full && next - 1 > latestOffset) latestOffset = next - 1;
  }
  stats.mapEntries = map.size;
  stats.mapMs = Date.now() - started;
  const endOffset = latestOffset + 1;
  if (endOffset <= firstDirty) return { endOffset: task.firstDirtyOffset, groups: [], stats };

  // 2. Groups of the segments below the end offset.
  const toClean = segments.filter((s) => num(s.baseOffset) < endOffset);
  const groups = groupSegmentsBySize(toClean, task.segmentBytes, task.segmentIndexBytes, task.firstUncleanableOffset);

  // 3. Clean each group into one .cleaned segment.
  const now = task.nowMs;
  const result: CleanedGroup[] = [];
  for (const group of groups) {
    const out = new CleanedSegmentWriter(task, group[0]!.baseOffset, io);
    try {
      await out.open();
      let droppedLast: RecordBatchHeader | null = null;
      for (const seg of group) {
        scanSegment(seg.file, seg.size, task.ioBufferBytes, io, (b) => {
          const h = b.header;
          const size = LOG_OVERHEAD + h.batchLength;
          const original = () => Buffer.from(b.buf.subarray(b.pos, b.pos + size));
          stats.recordsRead += h.recordCount;
          if (isControlBatch(h.attributes) || isTransactional(h.attributes) || h.recordCount === 0) {
            out.append(original(), BigInt(b.lastOffset), h.maxTimestamp);
            stats.recordsRetained += h.recordCount;
            droppedLast = null;
            return true;
          }
          const base = num(h.baseOffset);
          const horizonSet = hasDeleteHorizon(h.attributes);
          const horizonPassed = horizonSet && now >= Number(h.baseTimestamp);
          const { buf, start, end } = recordsOf(b);
          const kept: KeptRecord[] = [];
          let tombstoneKept = false;
          let index = 0;
          walkRecords(buf, start, end, h.recordCount, (r) => {
            const offset = base + r.offsetDelta;
            let retain: boolean;
            if (offset > latestOffset) retain = true;
            else if (r.keyStart < 0) retain = false;
            else {
              const latest = map.get(mapKey(buf, r.keyStart, r.keyLength)) ?? -1;
              retain = offset >= latest && (r.valueLength >= 0 || !horizonPassed);
            }
            if (retain) {
              kept.push({ index, start: r.start, end: r.end, timestampDelta: r.timestampDelta });
              if (r.valueLength < 0) tombstoneKept = true;
            }
            index++;
          });
          stats.recordsRetained += kept.length;
          if (kept.length === h.recordCount && (!tombstoneKept || horizonSet)) {
            out.append(original(), BigInt(b.lastOffset), h.maxTimestamp);
            droppedLast = null;
          } else if (kept.length > 0) {
            const needHorizon = tombstoneKept && !horizonSet;
            const rebuilt =
              compressionTypeOf(h.attributes) === CompressionType.None && !needHorizon
                ? rebuildUncompressed(b, kept)
                : rebuildDecoded(b, kept, needHorizon ? BigInt(now + task.deleteRetentionMs) : null);
            out.append(rebuilt.batch, BigInt(b.lastOffset), rebuilt.maxTimestamp);
            droppedLast = null;
          } else if (h.producerId >= 0n && lastBatchOfProducer.get(h.producerId) === b.lastOffset) {
            out.append(emptyBatch(h), BigInt(b.lastOffset), h.maxTimestamp);
            droppedLast = null;
          } else {
            droppedLast = h;
          }
          return true;
        });
      }
      // The last batch of the group stays (empty), so the cleaned segment ends where its sources did.
      const last = droppedLast as RecordBatchHeader | null;
      if (last !== null)
        out.append(emptyBatch(last), last.baseOffset + BigInt(last.lastOffsetDelta), last.maxTimestamp);
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

/** An uncompressed batch with some records removed: the kept records' bytes as they were, a new header. */
function rebuildUncompressed(b: BatchVisit, kept: KeptRecord[]): { batch: Buffer; maxTimestamp: bigint } {
  const h = b.header;
  let size = BATCH_HEADER_SIZE;
  for (const k of kept) size += k.end - k.start;
  const batch = Buffer.allocUnsafe(size);
  b.buf.copy(batch, 0, b.pos, b.pos + BATCH_HEADER_SIZE);
  let at = BATCH_HEADER_SIZE;
  let maxDelta = Number.NEGATIVE_INFINITY;
  for (const k of kept) {
    at += b.buf.copy(batch, at, k.start, k.end);
    if (k.timestampDelta > maxDelta) maxDelta = k.timestampDelta;
  }
  const maxTimestamp =
    timestampTypeOf(h.attributes) === TimestampType.LogAppendTime ? h.maxTimestamp : h.baseTimestamp + BigInt(maxDelta);
  batch.writeInt32BE(size - LOG_OVERHEAD, 8);
  batch.writeBigInt64BE(maxTimestamp, 35);
  batch.writeInt32BE(kept.length, 57);
  batch.writeUInt32BE(computeBatchCrc(batch, 0), CRC_OFFSET);
  return { batch, maxTimestamp };
}

/**
 * A batch rebuilt from decoded records: compressed batches (recompressed with their codec), and
 * batches whose tombstones get their delete horizon now (baseTimestamp becomes the horizon and the
 * timestamp deltas are rewritten against it, as Kafka's MemoryRecordsBuilder does).
 */
function rebuildDecoded(
  b: BatchVisit,
  kept: KeptRecord[],
  newHorizon: bigint | null,
): { batch: Buffer; maxTimestamp: bigint } {
  const h = b.header;
  const decoded = decodeRecordBatch(b.buf, b.pos, { verifyCrc: false, maxDecompressedBytes: 2 ** 31 - 1 });
  const records = kept.map((k) => decoded.records[k.index]!);
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
  return { batch, maxTimestamp: batch.readBigInt64BE(35) };
}
