/**
 * The codecs of Kafka's `compression.type`: gzip (node:zlib), snappy (snappy, + xerial framing),
 * lz4 (lz4-napi raw blocks in a frame we build, see lz4.ts), zstd (zstd-napi).
 *
 * Every decompressor caps its output: a decompression bomb or garbage input throws a DecodeError
 * naming the field, never allocates past the cap, never crashes the process. The cap defaults to
 * DEFAULT_MAX_DECOMPRESSED_BYTES; the broker passes its own where it knows better.
 *
 * The async variants run the native work on the libuv thread pool (zstd excepted, see below)
 * so a client can keep its event loop free while big batches are (de)compressed.
 */
import { kMaxLength } from "node:buffer";
import { promisify } from "node:util";
import * as zlib from "node:zlib";
import { Compressor as ZstdCompressor } from "zstd-napi";
import zstdBinding, { type DCtx } from "zstd-napi/binding.js";
import { DecodeError, EncodeError } from "../primitives/index.js";
import { CompressionType, MAGIC_V0, MAGIC_V2 } from "./batch-header.js";
import { lz4CompressFrame, lz4CompressFrameAsync, lz4DecompressFrame, lz4DecompressFrameAsync } from "./lz4.js";
import { snappyCompressXerial, snappyCompressXerialAsync, snappyDecompress, snappyDecompressAsync } from "./snappy.js";

/**
 * Largest decompressed payload we accept by default: 64 MiB, i.e. 64x the default
 * message.max.bytes (1 MiB), well above any real batch yet small enough that a bomb
 * cannot take the process down. Raise it per call for topics with larger batches.
 */
export const DEFAULT_MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024;

/** Kafka's defaults: compression.gzip.level -1 (zlib's 6), compression.zstd.level 3. */
const GZIP_LEVEL = zlib.constants.Z_DEFAULT_COMPRESSION;
const ZSTD_LEVEL = 3;

export interface CompressOptions {
  /** Message format of the container; magic 0 lz4 gets the broken header checksum old clients expect. */
  magic?: number;
}

export interface DecompressOptions {
  maxDecompressedBytes?: number;
  /** Message format of the container; magic 0 lz4 ignores the header checksum (KAFKA-3160). */
  magic?: number;
  /** Field named in a DecodeError, e.g. `RecordBatch.records`. */
  field?: string;
  /** Byte offset of the compressed payload in the original input, for DecodeError positions. */
  position?: number;
}

interface ResolvedDecompressOptions {
  maxDecompressedBytes: number;
  ignoreHeaderChecksum: boolean;
  field: string;
  position: number;
}

function resolve(options: DecompressOptions | undefined): ResolvedDecompressOptions {
  const max = options?.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES;
  if (!Number.isSafeInteger(max) || max < 0) throw new RangeError(`maxDecompressedBytes must be >= 0, got ${max}`);
  return {
    maxDecompressedBytes: max,
    ignoreHeaderChecksum: options?.magic === MAGIC_V0,
    field: options?.field ?? "records",
    position: options?.position ?? 0,
  };
}

export function compressionName(type: CompressionType): string {
  return CompressionType[type]?.toLowerCase() ?? `unknown(${type})`;
}

// --- zstd ------------------------------------------------------------------------------------

let zstdCompressor: ZstdCompressor | undefined;
let zstdDecoder: DCtx | undefined;
/** zstd's recommended streaming output size (ZSTD_DStreamOutSize, 128 KiB). */
const ZSTD_STREAM_OUT_BYTES = zstdBinding.dStreamOutSize();

function zstdCompress(data: Buffer): Buffer {
  if (zstdCompressor === undefined) {
    zstdCompressor = new ZstdCompressor();
    zstdCompressor.setParameters({ compressionLevel: ZSTD_LEVEL });
  }
  return zstdCompressor.compress(data);
}

/**
 * zstd-napi's own decompress() allocates whatever size the frame header claims, and grows
 * without limit otherwise; we drive the native context ourselves to cap the output.
 * Frames written in one shot (librdkafka, us) declare their size: one exact allocation.
 * Streamed frames (the Java client's ZstdOutputStream) do not: we stream into chunks.
 */
function zstdDecompress(src: Buffer, opts: ResolvedDecompressOptions): Buffer {
  const fail = (problem: string): never => {
    throw new DecodeError(opts.field, opts.position, `zstd: ${problem}`);
  };
  zstdDecoder ??= new zstdBinding.DCtx();
  const dctx = zstdDecoder;
  const cap = opts.maxDecompressedBytes;
  try {
    dctx.reset(zstdBinding.ResetDirective.sessionOnly);
    let declared: number | null = null;
    try {
      declared = zstdBinding.findFrameCompressedSize(src) === src.length ? zstdBinding.getFrameContentSize(src) : null;
    } catch {
      declared = null; // not one complete frame: let the streaming decoder report what is wrong
    }
    if (declared !== null) {
      if (declared > cap) fail(`frame declares ${declared} bytes, over the limit of ${cap} bytes`);
      const out = Buffer.allocUnsafe(declared);
      const produced = dctx.decompress(out, src);
      if (produced !== declared) fail(`frame declared ${declared} bytes but produced ${produced}`);
      return out;
    }
    const chunks: Buffer[] = [];
    let total = 0;
    let pos = 0;
    for (;;) {
      // One byte past the cap is enough to detect that the cap is exceeded.
      const room = Math.min(Math.max(ZSTD_STREAM_OUT_BYTES, (src.length - pos) * 4), cap + 1 - total);
      const out = Buffer.allocUnsafe(room);
      const [remainingHint, produced, consumed] = dctx.decompressStream(out, src.subarray(pos));
      pos += consumed;
      total += produced;
      if (produced > 0) chunks.push(out.subarray(0, produced));
      if (total > cap) fail(`decompressed size exceeds the limit of ${cap} bytes`);
      if (remainingHint === 0 && pos === src.length) break;
      if (produced === 0 && consumed === 0) fail("truncated input");
    }
    return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total);
  } catch (e) {
    if (e instanceof DecodeError) throw e;
    // A failed frame leaves the context mid-stream; the reset above cleans it next time.
    return fail(`corrupt input (${(e as Error).message})`);
  }
}

// --- gzip ------------------------------------------------------------------------------------

const gzipAsync = promisify(zlib.gzip);
const gunzipAsync = promisify(zlib.gunzip);

function gunzipError(e: unknown, opts: ResolvedDecompressOptions): DecodeError {
  const err = e as NodeJS.ErrnoException;
  const problem =
    err.code === "ERR_BUFFER_TOO_LARGE"
      ? `decompressed size exceeds the limit of ${opts.maxDecompressedBytes} bytes`
      : `corrupt input (${err.message})`;
  return new DecodeError(opts.field, opts.position, `gzip: ${problem}`);
}

/** zlib accepts 1..kMaxLength; a cap of 0 is enforced after the fact by checkCap. */
function gunzipLimit(opts: ResolvedDecompressOptions): number {
  return Math.min(kMaxLength, Math.max(1, opts.maxDecompressedBytes));
}

function checkCap(out: Buffer, opts: ResolvedDecompressOptions): Buffer {
  if (out.length > opts.maxDecompressedBytes) {
    throw new DecodeError(
      opts.field,
      opts.position,
      `gzip: decompressed size exceeds the limit of ${opts.maxDecompressedBytes} bytes`,
    );
  }
  return out;
}

// --- dispatch --------------------------------------------------------------------------------

function unsupported(type: CompressionType, magic: number | undefined): EncodeError | null {
  if (type < CompressionType.None || type > CompressionType.Zstd || !Number.isInteger(type)) {
    return new EncodeError("compression", `unknown compression type ${type}`);
  }
  if (type === CompressionType.Zstd && magic !== undefined && magic < MAGIC_V2) {
    return new EncodeError("compression", `zstd needs magic 2 (KIP-110); cannot write it in magic ${magic}`);
  }
  return null;
}

/** Compresses a (legacy) record payload with `type`; CompressionType.None returns `data` itself. */
export function compress(type: CompressionType, data: Buffer, options?: CompressOptions): Buffer {
  const bad = unsupported(type, options?.magic);
  if (bad !== null) throw bad;
  switch (type) {
    case CompressionType.None:
      return data;
    case CompressionType.Gzip:
      return zlib.gzipSync(data, { level: GZIP_LEVEL });
    case CompressionType.Snappy:
      return snappyCompressXerial(data);
    case CompressionType.Lz4:
      return lz4CompressFrame(data, options?.magic === MAGIC_V0);
    case CompressionType.Zstd:
      return zstdCompress(data);
  }
}

export async function compressAsync(type: CompressionType, data: Buffer, options?: CompressOptions): Promise<Buffer> {
  const bad = unsupported(type, options?.magic);
  if (bad !== null) throw bad;
  switch (type) {
    case CompressionType.None:
      return data;
    case CompressionType.Gzip:
      return gzipAsync(data, { level: GZIP_LEVEL });
    case CompressionType.Snappy:
      return snappyCompressXerialAsync(data);
    case CompressionType.Lz4:
      return lz4CompressFrameAsync(data, options?.magic === MAGIC_V0);
    case CompressionType.Zstd:
      // zstd-napi has no thread-pool API; zstd level 3 runs at hundreds of MB/s, so run it inline.
      return zstdCompress(data);
  }
}

function checkDecodable(type: CompressionType, opts: ResolvedDecompressOptions, magic: number | undefined): void {
  if (type < CompressionType.None || type > CompressionType.Zstd || !Number.isInteger(type)) {
    throw new DecodeError(opts.field, opts.position, `unknown compression type ${type}`);
  }
  if (type === CompressionType.Zstd && magic !== undefined && magic < MAGIC_V2) {
    throw new DecodeError(opts.field, opts.position, `zstd is not allowed in magic ${magic} (KIP-110)`);
  }
}

/**
 * Decompresses `data` (capped, see DecompressOptions). Throws only DecodeError.
 * CompressionType.None returns `data` itself, after checking the cap.
 */
export function decompress(type: CompressionType, data: Buffer, options?: DecompressOptions): Buffer {
  const opts = resolve(options);
  checkDecodable(type, opts, options?.magic);
  switch (type) {
    case CompressionType.None:
      return data;
    case CompressionType.Gzip:
      try {
        return checkCap(zlib.gunzipSync(data, { maxOutputLength: gunzipLimit(opts) }), opts);
      } catch (e) {
        if (e instanceof DecodeError) throw e;
        throw gunzipError(e, opts);
      }
    case CompressionType.Snappy:
      return snappyDecompress(data, opts);
    case CompressionType.Lz4:
      return lz4DecompressFrame(data, opts);
    case CompressionType.Zstd:
      return zstdDecompress(data, opts);
  }
}

export async function decompressAsync(
  type: CompressionType,
  data: Buffer,
  options?: DecompressOptions,
): Promise<Buffer> {
  const opts = resolve(options);
  checkDecodable(type, opts, options?.magic);
  switch (type) {
    case CompressionType.None:
      return data;
    case CompressionType.Gzip:
      try {
        return checkCap(await gunzipAsync(data, { maxOutputLength: gunzipLimit(opts) }), opts);
      } catch (e) {
        if (e instanceof DecodeError) throw e;
        throw gunzipError(e, opts);
      }
    case CompressionType.Snappy:
      return snappyDecompressAsync(data, opts);
    case CompressionType.Lz4:
      return lz4DecompressFrameAsync(data, opts);
    case CompressionType.Zstd:
      return zstdDecompress(data, opts);
  }
}
