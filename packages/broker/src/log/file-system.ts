/**
 * The file operations the log uses, as an interface so tests can inject faults (ENOSPC, EIO, torn
 * writes) that a real disk does not produce on demand. Production passes `nodeFileSystem`, which is
 * `node:fs/promises`: every call runs on libuv's thread pool, never on the event loop.
 */
import fsp from "node:fs/promises";
import path from "node:path";
import { TMP_FILE_SUFFIX } from "./file-names.js";

/** The part of fs/promises' FileHandle the log needs. */
export interface LogFileHandle {
  write(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesWritten: number; buffer: Uint8Array }>;
  read(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesRead: number; buffer: Uint8Array }>;
  truncate(length: number): Promise<void>;
  sync(): Promise<void>;
  datasync(): Promise<void>;
  stat(): Promise<{ size: number }>;
  close(): Promise<void>;
}

export interface FileSystem {
  /** `flags` as fs.open: "r", "r+", "w+". */
  open(file: string, flags: string): Promise<LogFileHandle>;
}

export const nodeFileSystem: FileSystem = {
  open: (file, flags) => fsp.open(file, flags),
};

/** Writes all of `buf` at `position`, looping over short writes (a regular file may return one before ENOSPC). */
export function writeFully(fh: LogFileHandle, buf: Uint8Array, position: number): Promise<void> {
  // Every produce request writes once: one callback on the write instead of an async function's
  // frame, and the loop only when the write came back short.
  if (buf.length === 0) return Promise.resolve();
  return fh
    .write(buf, 0, buf.length, position)
    .then(({ bytesWritten }) =>
      bytesWritten === buf.length ? undefined : writeRest(fh, buf, position, checkedBytesWritten(bytesWritten)),
    );
}

function checkedBytesWritten(bytesWritten: number): number {
  if (bytesWritten <= 0) throw Object.assign(new Error("write returned 0 bytes"), { code: "EIO" });
  return bytesWritten;
}

async function writeRest(fh: LogFileHandle, buf: Uint8Array, position: number, written: number): Promise<void> {
  let done = written;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    if (bytesWritten <= 0) throw Object.assign(new Error("write returned 0 bytes"), { code: "EIO" });
    done += bytesWritten;
  }
}

/**
 * Reads exactly `length` bytes at `position` unless the file ends first; returns what was read,
 * into a buffer from `allocate` (e.g. a pool's).
 */
export async function readFully(
  fh: LogFileHandle,
  position: number,
  length: number,
  allocate: (length: number) => Buffer = Buffer.allocUnsafe,
): Promise<Buffer> {
  const buf = allocate(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? buf : buf.subarray(0, done);
}

/**
 * fsyncs a directory so that a file created, renamed or deleted in it survives power loss
 * (Kafka's Utils.flushDir). Some platforms cannot open a directory for fsync; that is not an error.
 */
export async function syncDir(dir: string): Promise<void> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(dir, "r");
    await fh.sync();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "EISDIR" && code !== "EINVAL" && code !== "EPERM") throw e;
  } finally {
    await fh?.close();
  }
}

/**
 * Replaces `file` with `contents` so that a crash leaves either the old or the new file, never a
 * mix: write `file.tmp`, fsync it, rename over `file`, fsync the directory (Kafka's
 * CheckpointFile.write + Utils.atomicMoveWithFallback).
 */
export async function writeFileAtomically(file: string, contents: string | Buffer): Promise<void> {
  const tmp = file + TMP_FILE_SUFFIX;
  const fh = await fsp.open(tmp, "w");
  try {
    await fh.writeFile(contents);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, file);
  await syncDir(path.dirname(file));
}

export function errnoCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}
