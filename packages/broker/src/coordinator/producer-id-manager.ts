/**
 * Producer ids for InitProducerId (Kafka's ProducerIdManager, RPC flavour, on one node): unique
 * across restarts because ids are handed out of blocks whose end is persisted before the first id
 * of the block is used. `<log.dir>/producer-id-block` holds the start of the next block not yet
 * reserved:
 *
 *     {"version":1,"nextBlockStart":"5000"}
 *
 * written to a temp file, fsynced, renamed over the old one, directory fsynced (writeJsonFile). A
 * crash loses at most the unused rest of the current block (and of a prefetched one), never
 * reuses an id. When 90% of the current block is used the next one is reserved in the background
 * (Kafka's prefetch), so `nextProducerId` stays synchronous; if the next block is not ready when
 * the current one runs out (its write is slow or failed), COORDINATOR_LOAD_IN_PROGRESS tells the
 * client to retry, as Kafka does while it waits for the controller.
 */
import path from "node:path";
import { ErrorCode, KafkaError } from "@samsa/protocol";
import type { Logger } from "pino";
import { readJsonFile, writeJsonFile } from "../util/json-file.js";

/** Kafka's ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE. */
export const PRODUCER_ID_BLOCK_SIZE = 1000;
/** Kafka prefetches the next block once this fraction of the current one is used. */
const PREFETCH_THRESHOLD = 0.9;
export const PRODUCER_ID_BLOCK_FILE = "producer-id-block";
const FILE_VERSION = 1;
/** Producer ids are int64; Kafka refuses to hand out a block past Long.MAX_VALUE. */
const MAX_PRODUCER_ID = 2n ** 63n - 1n;

interface BlockFile {
  version: number;
  nextBlockStart: string;
}

interface Block {
  next: bigint;
  /** Exclusive. */
  end: bigint;
}

export interface ProducerIdManagerOptions {
  blockSize?: number;
  logger?: Logger;
  /** Persists the next block start (tests inject failures or delays). */
  persist?: (file: string, nextBlockStart: bigint) => Promise<void>;
}

export class ProducerIdManager {
  private readonly blockSize: bigint;
  private readonly persist: (file: string, nextBlockStart: bigint) => Promise<void>;
  private current: Block | null = null;
  private prefetched: Block | null = null;
  private fetching: Promise<void> | null = null;
  /** Start of the next block to reserve. */
  private nextBlockStart = 0n;
  private file = "";

  constructor(private readonly opts: ProducerIdManagerOptions = {}) {
    const size = opts.blockSize ?? PRODUCER_ID_BLOCK_SIZE;
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`producer id block size ${size}`);
    this.blockSize = BigInt(size);
    this.persist =
      opts.persist ?? ((file, next) => writeJsonFile(file, { version: FILE_VERSION, nextBlockStart: next.toString() }));
  }

  /** Reads the file in `dataDir` and reserves the first block (awaited: ids are ready when it resolves). */
  async start(dataDir: string): Promise<void> {
    this.file = path.join(dataDir, PRODUCER_ID_BLOCK_FILE);
    const stored = await readJsonFile<BlockFile>(this.file);
    if (stored !== null) {
      if (stored.version !== FILE_VERSION || !/^\d+$/.test(String(stored.nextBlockStart)))
        throw new Error(`${this.file} is not a producer id block file: ${JSON.stringify(stored)}`);
      this.nextBlockStart = BigInt(stored.nextBlockStart);
    }
    this.current = await this.reserveBlock();
  }

  /** The next unused producer id; COORDINATOR_LOAD_IN_PROGRESS when no block is ready (retriable). */
  nextProducerId(): bigint {
    let block = this.current;
    if (block === null || block.next >= block.end) {
      block = this.prefetched;
      this.prefetched = null;
      this.current = block;
    }
    if (block === null || block.next >= block.end) {
      this.maybePrefetch();
      throw new KafkaError(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, "Producer ids are being reserved; retry.");
    }
    const id = block.next++;
    const used = Number(block.next - (block.end - this.blockSize));
    if (used >= Number(this.blockSize) * PREFETCH_THRESHOLD) this.maybePrefetch();
    return id;
  }

  /** Waits for a block reservation in progress (clean shutdown, tests). */
  async close(): Promise<void> {
    await this.fetching?.catch(() => undefined);
  }

  private maybePrefetch(): void {
    if (this.prefetched !== null || this.fetching !== null) return;
    this.fetching = this.reserveBlock()
      .then((block) => {
        this.prefetched = block;
      })
      .catch((err) => {
        this.opts.logger?.error({ err, file: this.file }, "cannot reserve a block of producer ids");
      })
      .finally(() => {
        this.fetching = null;
      });
  }

  /** Persists the end of a new block, then returns it: nothing of it is handed out before it is on disk. */
  private async reserveBlock(): Promise<Block> {
    const start = this.nextBlockStart;
    const end = start + this.blockSize;
    if (end > MAX_PRODUCER_ID) throw new KafkaError(ErrorCode.UNKNOWN_SERVER_ERROR, "Producer ids are exhausted.");
    await this.persist(this.file, end);
    this.nextBlockStart = end;
    return { next: start, end };
  }
}
