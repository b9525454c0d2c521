/**
 * Producer id, epoch and transaction state (Kafka's TransactionManager, reduced to what this
 * producer needs):
 *
 * - idempotent: one InitProducerId to any broker gives the producer id and epoch the sequences
 *   belong to. When the broker loses track of them (UNKNOWN_PRODUCER_ID, or OUT_OF_ORDER_SEQUENCE_NUMBER
 *   for the batch it should have expected next) or a sequenced batch expires, the sender asks for
 *   a new epoch here (`bumpEpoch`, KIP-360: InitProducerId with the current id and epoch) and every
 *   partition's sequences restart at 0;
 * - transactional: InitProducerId through the transaction coordinator, AddPartitionsToTxn before
 *   a partition's first batch in a transaction, AddOffsetsToTxn + TxnOffsetCommit for sendOffsets,
 *   EndTxn to commit or abort. A failed produce inside a transaction puts it in an abortable error
 *   state: commit then throws and only abort is allowed, as in Kafka.
 */
import {
  AddOffsetsToTxnApi,
  AddPartitionsToTxnApi,
  EndTxnApi,
  ErrorCode,
  InitProducerIdApi,
  isRetriable,
  KafkaError,
  TxnOffsetCommitApi,
} from "@samsa/protocol";
import type { Cluster } from "../cluster/cluster.js";
import { ConnectionError, TimeoutError } from "../errors.js";
import { RecordAccumulator } from "./accumulator.js";

export type TransactionState =
  | "uninitialized"
  | "ready"
  | "inTransaction"
  | "committing"
  | "aborting"
  | "abortableError"
  | "fatalError";

export interface TransactionManagerOptions {
  transactionalId: string | null;
  transactionTimeoutMs: number;
  /** Give up on a coordinator request after this long (retries included). */
  requestDeadlineMs: number;
  backoffMs: (attempt: number) => number;
}

/** Codes on which a coordinator request is simply sent again (after finding the coordinator anew for the first two). */
const COORDINATOR_MOVED: ReadonlySet<number> = new Set([
  ErrorCode.NOT_COORDINATOR,
  ErrorCode.COORDINATOR_NOT_AVAILABLE,
]);
const RETRY_LATER: ReadonlySet<number> = new Set([
  ErrorCode.COORDINATOR_LOAD_IN_PROGRESS,
  ErrorCode.CONCURRENT_TRANSACTIONS,
]);

export class TransactionManager {
  producerId = -1n;
  producerEpoch = -1;
  state: TransactionState = "uninitialized";
  /** Why the transaction must be aborted (abortableError) or the producer closed (fatalError). */
  lastError: Error | null = null;
  /** Partitions (RecordAccumulator keys) added to the current transaction. */
  readonly partitionsInTransaction = new Set<string>();
  private offsetsAdded = false;
  /** Set when a sequence gap means the epoch must be bumped before more is sent. */
  bumpRequested = false;

  constructor(
    private readonly cluster: Cluster,
    private readonly options: TransactionManagerOptions,
  ) {}

  get isTransactional(): boolean {
    return this.options.transactionalId !== null;
  }

  get hasProducerId(): boolean {
    return this.producerId >= 0n;
  }

  /** Idempotent producer: a producer id from any broker (retried). */
  async initIdempotent(): Promise<void> {
    await this.initProducerId(-1n, -1);
  }

  /** KIP-360: a new epoch for the same producer id, or a new id if the broker gives one. */
  async bumpEpoch(): Promise<void> {
    await this.initProducerId(this.producerId, this.producerEpoch);
    this.bumpRequested = false;
  }

  private async initProducerId(producerId: bigint, producerEpoch: number): Promise<void> {
    const txnId = this.options.transactionalId;
    await this.retrying(
      async () => {
        const conn = txnId === null ? await this.cluster.anyConnection() : await this.cluster.coordinatorFor(txnId, 1);
        // KIP-360's producerId/epoch fields exist from v3; an older broker simply hands out a new id.
        const version = conn.versionFor(InitProducerIdApi as never);
        const res = await conn.send(
          InitProducerIdApi,
          {
            transactionalId: txnId,
            transactionTimeoutMs: this.options.transactionTimeoutMs,
            producerId: version >= 3 ? producerId : -1n,
            producerEpoch: version >= 3 ? producerEpoch : -1,
          },
          { version },
        );
        if (res.errorCode === ErrorCode.NONE) {
          this.producerId = res.producerId;
          this.producerEpoch = res.producerEpoch;
        }
        return res.errorCode;
      },
      txnId === null ? undefined : txnId,
    );
    if (this.isTransactional) this.state = "ready";
  }

  /** Transactional producer: InitProducerId through the coordinator (fences older instances). */
  async initTransactions(): Promise<void> {
    if (!this.isTransactional) throw new Error("initTransactions needs a transactionalId in the producer options");
    if (this.state !== "uninitialized") throw new Error(`initTransactions called twice (state ${this.state})`);
    await this.initProducerId(-1n, -1);
  }

  beginTransaction(): void {
    this.requireState("beginTransaction", "ready");
    this.state = "inTransaction";
    this.partitionsInTransaction.clear();
    this.offsetsAdded = false;
    this.lastError = null;
  }

  /** The sender failed a batch of the transaction: only abort remains possible. */
  setAbortableError(err: Error): void {
    if (this.state === "inTransaction" || this.state === "committing") {
      this.state = "abortableError";
      this.lastError = err;
    }
  }

  /** AddPartitionsToTxn for partitions about to send their first batch in this transaction. */
  async addPartitions(partitions: { topic: string; partition: number }[]): Promise<void> {
    const txnId = this.options.transactionalId!;
    const byTopic = new Map<string, number[]>();
    for (const p of partitions) {
      let list = byTopic.get(p.topic);
      if (list === undefined) byTopic.set(p.topic, (list = []));
      list.push(p.partition);
    }
    await this.retrying(async () => {
      const conn = await this.cluster.coordinatorFor(txnId, 1);
      // v4+ is the broker-to-broker batched form; clients send v3 at most, as Kafka's do.
      const version = conn.versionFor(AddPartitionsToTxnApi as never, 3);
      const res = await conn.send(
        AddPartitionsToTxnApi,
        {
          v3AndBelowTransactionalId: txnId,
          v3AndBelowProducerId: this.producerId,
          v3AndBelowProducerEpoch: this.producerEpoch,
          v3AndBelowTopics: [...byTopic].map(([name, ps]) => ({ name, partitions: ps })),
        },
        { version },
      );
      let code: number = res.errorCode;
      for (const t of res.resultsByTopicV3AndBelow) {
        for (const p of t.resultsByPartition) {
          if (p.partitionErrorCode !== ErrorCode.NONE && p.partitionErrorCode !== ErrorCode.OPERATION_NOT_ATTEMPTED) {
            code = p.partitionErrorCode;
          }
        }
      }
      return code;
    }, txnId);
    for (const p of partitions) this.partitionsInTransaction.add(RecordAccumulator.key(p.topic, p.partition));
  }

  async sendOffsets(
    groupId: string,
    offsets: { topic: string; partition: number; offset: bigint }[],
    group: { generationId: number; memberId: string; groupInstanceId: string | null } | undefined,
  ): Promise<void> {
    this.requireState("sendOffsets", "inTransaction");
    const txnId = this.options.transactionalId!;
    await this.retrying(async () => {
      const conn = await this.cluster.coordinatorFor(txnId, 1);
      const res = await conn.send(AddOffsetsToTxnApi, {
        transactionalId: txnId,
        producerId: this.producerId,
        producerEpoch: this.producerEpoch,
        groupId,
      });
      return res.errorCode;
    }, txnId);
    this.offsetsAdded = true;
    const byTopic = new Map<string, { partitionIndex: number; committedOffset: bigint }[]>();
    for (const o of offsets) {
      let list = byTopic.get(o.topic);
      if (list === undefined) byTopic.set(o.topic, (list = []));
      list.push({ partitionIndex: o.partition, committedOffset: o.offset });
    }
    await this.retrying(
      async () => {
        const conn = await this.cluster.coordinatorFor(groupId, 0);
        const res = await conn.send(TxnOffsetCommitApi, {
          transactionalId: txnId,
          groupId,
          producerId: this.producerId,
          producerEpoch: this.producerEpoch,
          generationId: group?.generationId ?? -1,
          memberId: group?.memberId ?? "",
          groupInstanceId: group?.groupInstanceId ?? null,
          topics: [...byTopic].map(([name, partitions]) => ({ name, partitions })),
        });
        let code: number = ErrorCode.NONE;
        for (const t of res.topics)
          for (const p of t.partitions) if (p.errorCode !== ErrorCode.NONE) code = p.errorCode;
        return code;
      },
      groupId,
      0,
    );
  }

  /** EndTxn; callers flush first. Skipped when nothing joined the transaction (Kafka does the same). */
  async endTransaction(commit: boolean): Promise<void> {
    if (commit) {
      if (this.state === "abortableError") {
        throw new Error(`the transaction cannot commit, abort it: ${this.lastError?.message ?? "a send failed"}`, {
          cause: this.lastError,
        });
      }
      this.requireState("commitTransaction", "inTransaction");
      this.state = "committing";
    } else {
      if (this.state !== "inTransaction" && this.state !== "abortableError") {
        throw new Error(`abortTransaction called in state ${this.state}; begin a transaction first`);
      }
      this.state = "aborting";
    }
    const txnId = this.options.transactionalId!;
    if (this.partitionsInTransaction.size > 0 || this.offsetsAdded) {
      try {
        await this.retrying(async () => {
          const conn = await this.cluster.coordinatorFor(txnId, 1);
          const res = await conn.send(EndTxnApi, {
            transactionalId: txnId,
            producerId: this.producerId,
            producerEpoch: this.producerEpoch,
            committed: commit,
          });
          return res.errorCode;
        }, txnId);
      } catch (err) {
        this.state = commit ? "abortableError" : "fatalError";
        this.lastError = err as Error;
        throw err;
      }
    }
    this.state = "ready";
    this.partitionsInTransaction.clear();
    this.offsetsAdded = false;
  }

  private requireState(op: string, state: TransactionState): void {
    if (!this.isTransactional) throw new Error(`${op} needs a transactionalId in the producer options`);
    if (this.state === "fatalError")
      throw new Error(`${op}: the producer hit a fatal error: ${this.lastError?.message}`);
    if (this.state !== state) throw new Error(`${op} called in state ${this.state}, expected ${state}`);
  }

  /**
   * Runs one coordinator round trip until it answers NONE: finds the coordinator again after
   * NOT_COORDINATOR/COORDINATOR_NOT_AVAILABLE or a broken connection, waits and retries on
   * COORDINATOR_LOAD_IN_PROGRESS, CONCURRENT_TRANSACTIONS and other retriable codes, throws
   * KafkaError for the rest. PRODUCER_FENCED/INVALID_PRODUCER_EPOCH make the producer fatal.
   */
  private async retrying(attempt: () => Promise<number>, coordinatorKey?: string, keyType: 0 | 1 = 1): Promise<void> {
    const deadline = Date.now() + this.options.requestDeadlineMs;
    for (let n = 1; ; n++) {
      let code: number;
      try {
        code = await attempt();
      } catch (err) {
        if (!(err instanceof ConnectionError || err instanceof TimeoutError) || Date.now() >= deadline) throw err;
        if (coordinatorKey !== undefined) this.cluster.invalidateCoordinator(coordinatorKey, keyType);
        await sleep(this.options.backoffMs(n));
        continue;
      }
      if (code === ErrorCode.NONE) return;
      if (code === ErrorCode.PRODUCER_FENCED || code === ErrorCode.INVALID_PRODUCER_EPOCH) {
        this.state = "fatalError";
        this.lastError = new KafkaError(code, "a newer producer with the same transactional id fenced this one");
        throw this.lastError;
      }
      const again = COORDINATOR_MOVED.has(code) || RETRY_LATER.has(code) || isRetriable(code);
      if (!again || Date.now() >= deadline) throw new KafkaError(code);
      if (COORDINATOR_MOVED.has(code) && coordinatorKey !== undefined)
        this.cluster.invalidateCoordinator(coordinatorKey, keyType);
      // CONCURRENT_TRANSACTIONS clears within milliseconds (the previous EndTxn's markers); Kafka retries it after 20 ms.
      await sleep(code === ErrorCode.CONCURRENT_TRANSACTIONS ? 20 : this.options.backoffMs(n));
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
