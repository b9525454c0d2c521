/**
 * What-if for bench/broker, not part of Samsa: makes the broker's FileHandle.write/read calls
 * synchronous (fs.writeSync/readSync on the same fd) instead of a round trip through libuv's
 * thread pool, to measure what the log's page-cache I/O costs in hops rather than in bytes.
 * Kafka writes and reads its segments synchronously on the request thread, too.
 *
 *   bash bench/broker/run.sh --node-options "--import ./bench/broker/what-if-sync-fs.mjs"
 *
 * Only positional buffer calls are changed; everything else (fsync, stat, open) stays async.
 */
import fs from "node:fs";
import fsp from "node:fs/promises";

const probe = await fsp.open(process.execPath, "r");
const FileHandle = Object.getPrototypeOf(probe);
await probe.close();

const asyncWrite = FileHandle.write;
FileHandle.write = function write(...args) {
  const [buffer, offset, length, position] = args;
  if (!ArrayBuffer.isView(buffer) || typeof offset !== "number" || typeof position !== "number") {
    return asyncWrite.apply(this, args);
  }
  return Promise.resolve({ bytesWritten: fs.writeSync(this.fd, buffer, offset, length, position), buffer });
};

const asyncRead = FileHandle.read;
FileHandle.read = function read(...args) {
  const [buffer, offset, length, position] = args;
  if (!ArrayBuffer.isView(buffer) || typeof offset !== "number" || typeof position !== "number") {
    return asyncRead.apply(this, args);
  }
  return Promise.resolve({ bytesRead: fs.readSync(this.fd, buffer, offset, length, position), buffer });
};
