/**
 * Kafka's checkpoint files: small text files replaced atomically (write `.tmp`, fsync, rename,
 * fsync the directory), so a crash leaves the old or the new version, never a torn one.
 *
 * Layout (UTF-8, '\n' line ends), identical to Kafka's CheckpointFile:
 *
 *   0                  <- format version, always 0
 *   2                  <- number of entry lines that follow
 *   <entry>            <- one entry per line, fields separated by one space
 *   <entry>
 *
 * `recovery-point-offset-checkpoint` and `log-start-offset-checkpoint` (one per log dir) hold
 * `<topic> <partition> <offset>` entries; `leader-epoch-checkpoint` (one per partition dir) holds
 * `<leader epoch> <start offset>` entries.
 *
 * Reading is strict: an unknown version, a malformed line or a count that does not match the
 * entries raises CorruptCheckpointError, and the caller rebuilds what the file described from the
 * segments (with a warning) instead of trusting a half-understood file.
 */
import fsp from "node:fs/promises";
import { CorruptCheckpointError } from "./errors.js";
import type { TopicPartition } from "./file-names.js";
import { writeFileAtomically } from "./file-system.js";

export const CHECKPOINT_VERSION = 0;

export interface EntryFormatter<T> {
  toLine(entry: T): string;
  /** null when the line is malformed. */
  fromLine(line: string): T | null;
}

export class CheckpointFile<T> {
  constructor(
    readonly file: string,
    private readonly formatter: EntryFormatter<T>,
  ) {}

  async write(entries: readonly T[]): Promise<void> {
    let text = `${CHECKPOINT_VERSION}\n${entries.length}\n`;
    for (const e of entries) text += this.formatter.toLine(e) + "\n";
    await writeFileAtomically(this.file, text);
  }

  /** The entries, or null when the file does not exist. Throws CorruptCheckpointError when unreadable. */
  async read(): Promise<T[] | null> {
    let text: string;
    try {
      text = await fsp.readFile(this.file, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw e;
    }
    return parseCheckpoint(text, this.formatter, this.file);
  }
}

export function parseCheckpoint<T>(text: string, formatter: EntryFormatter<T>, location: string): T[] {
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  if (lines.length === 0) return []; // Kafka creates checkpoints empty; an empty file means "no entries"
  const bad = (why: string) => new CorruptCheckpointError(`checkpoint ${location}: ${why}`);
  if (!/^\d+$/.test(lines[0]!)) throw bad(`malformed version line "${lines[0]}"`);
  const version = Number(lines[0]);
  if (version !== CHECKPOINT_VERSION) throw bad(`unknown version ${version}, expected ${CHECKPOINT_VERSION}`);
  if (lines.length === 1) return [];
  if (!/^\d+$/.test(lines[1]!)) throw bad(`malformed count line "${lines[1]}"`);
  const expected = Number(lines[1]);
  const entries: T[] = [];
  for (const line of lines.slice(2)) {
    const entry = formatter.fromLine(line);
    if (entry === null) throw bad(`malformed line "${line}"`);
    entries.push(entry);
  }
  if (entries.length !== expected) throw bad(`expected ${expected} entries, found ${entries.length}`);
  return entries;
}

const INT64 = /^-?\d{1,19}$/;
const INT32 = /^-?\d{1,10}$/;

export interface TopicPartitionOffset {
  tp: TopicPartition;
  offset: bigint;
}

const topicPartitionOffsetFormatter: EntryFormatter<TopicPartitionOffset> = {
  toLine: (e) => `${e.tp.topic} ${e.tp.partition} ${e.offset}`,
  fromLine: (line) => {
    const parts = line.trim().split(/\s+/);
    if (parts.length !== 3 || !INT32.test(parts[1]!) || !INT64.test(parts[2]!)) return null;
    return { tp: { topic: parts[0]!, partition: Number(parts[1]) }, offset: BigInt(parts[2]!) };
  },
};

/** `recovery-point-offset-checkpoint` / `log-start-offset-checkpoint`: topic partition -> offset, keyed `topic-partition`. */
export class OffsetCheckpointFile {
  private readonly checkpoint: CheckpointFile<TopicPartitionOffset>;

  constructor(readonly file: string) {
    this.checkpoint = new CheckpointFile(file, topicPartitionOffsetFormatter);
  }

  async write(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    await this.checkpoint.write(offsets);
  }

  /** Map keyed by `topic-partition`; null when the file does not exist. */
  async read(): Promise<Map<string, bigint> | null> {
    const entries = await this.checkpoint.read();
    if (entries === null) return null;
    return new Map(entries.map((e) => [`${e.tp.topic}-${e.tp.partition}`, e.offset]));
  }
}

export interface EpochEntry {
  epoch: number;
  startOffset: bigint;
}

const epochEntryFormatter: EntryFormatter<EpochEntry> = {
  toLine: (e) => `${e.epoch} ${e.startOffset}`,
  fromLine: (line) => {
    const parts = line.trim().split(/\s+/);
    if (parts.length !== 2 || !INT32.test(parts[0]!) || !INT64.test(parts[1]!)) return null;
    return { epoch: Number(parts[0]), startOffset: BigInt(parts[1]!) };
  },
};

/** `leader-epoch-checkpoint`: leader epoch -> first offset written in that epoch. */
export class LeaderEpochCheckpointFile {
  private readonly checkpoint: CheckpointFile<EpochEntry>;

  constructor(readonly file: string) {
    this.checkpoint = new CheckpointFile(file, epochEntryFormatter);
  }

  write(entries: readonly EpochEntry[]): Promise<void> {
    return this.checkpoint.write(entries);
  }

  read(): Promise<EpochEntry[] | null> {
    return this.checkpoint.read();
  }
}
