export * from "./batch-header.js";
export {
  type CompressOptions,
  compress,
  compressAsync,
  compressionName,
  DEFAULT_MAX_DECOMPRESSED_BYTES,
  type DecompressOptions,
  decompress,
  decompressAsync,
} from "./compression.js";
export * from "./control-record.js";
export {
  decodeLegacyBatch,
  type EncodeMessageSetOptions,
  encodeMessageSet,
  isLegacyMagic,
  type LegacyMagic,
  type LegacyMessage,
  readLegacyMessage,
} from "./message-set.js";
export * from "./record-batch.js";
export * from "./record-set.js";
export { isXerialFramed, snappyCompressRaw } from "./snappy.js";
