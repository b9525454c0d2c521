/**
 * Transactional produce throughput: many transactional producers, each running transactions of
 * 100 records (one partition each) back to back on our own codecs over pipelining connections:
 * AddPartitionsToTxn v3, Produce v9 (a transactional batch), EndTxn v3 commit. The next
 * transaction's AddPartitionsToTxn answers CONCURRENT_TRANSACTIONS until the previous one's
 * markers are written; it is retried at once, as librdkafka does (after a short backoff), and
 * those retries are counted. Figures only; nothing is asserted. Goal: >= 2,000 transactions/s.
 *
 *   node --conditions=samsa-source --import tsx bench/txn/throughput.ts
 *   node --conditions=samsa-source --import tsx bench/txn/throughput.ts --producers 16,64,256 --seconds 5
 *
 * Options: --producers 16,64,256 (transactional ids, each with one transaction at a time)
 * --connections 8 --records 100 (per transaction) --record-bytes 100 --partitions 16
 * --seconds 5 --broker host:port (measure a running broker).
 */
import { parseArgs } from "node:util";
import {
  AddPartitionsToTxnApi,
  EndTxnApi,
  ErrorCode,
  encodeRecordBatch,
  errorInfo,
  FindCoordinatorApi,
  InitProducerIdApi,
  ProduceApi,
} from "@samsa/protocol";
import {
  checkApiVersions,
  createTopic,
  int,
  loadAverage,
  machineLines,
  parseList,
  processCpuMs,
  startBroker,
  WireConnection,
} from "../groups/support.js";

const TOPIC = "bench-txn";
const ACKS_ALL = -1;

const { values } = parseArgs({
  options: {
    producers: { type: "string", default: "16,64,256" },
    connections: { type: "string", default: "8" },
    records: { type: "string", default: "100" },
    "record-bytes": { type: "string", default: "100" },
    partitions: { type: "string", default: "16" },
    seconds: { type: "string", default: "5" },
    broker: { type: "string" },
  },
});

const RECORDS = Number(values.records);
const PARTITIONS = Number(values.partitions);
const value = Buffer.alloc(Number(values["record-bytes"]), 120);

function check(errorCode: number, what: string): void {
  if (errorCode !== ErrorCode.NONE) throw new Error(`${what}: ${errorInfo(errorCode)?.name ?? errorCode}`);
}

interface Counters {
  transactions: number;
  concurrentRetries: number;
}

async function runProducer(
  conn: WireConnection,
  transactionalId: string,
  partition: number,
  stopAtMs: number,
  counters: Counters,
): Promise<void> {
  const init = await conn.request(InitProducerIdApi, 4, {
    transactionalId,
    transactionTimeoutMs: 60_000,
    producerId: -1n,
    producerEpoch: -1,
  });
  check(init.errorCode, "InitProducerId");
  const producer = { producerId: init.producerId, producerEpoch: init.producerEpoch };
  let sequence = 0;
  while (performance.now() < stopAtMs) {
    for (;;) {
      const added = await conn.request(AddPartitionsToTxnApi, 3, {
        v3AndBelowTransactionalId: transactionalId,
        v3AndBelowProducerId: producer.producerId,
        v3AndBelowProducerEpoch: producer.producerEpoch,
        v3AndBelowTopics: [{ name: TOPIC, partitions: [partition] }],
      });
      const errorCode = added.resultsByTopicV3AndBelow[0]!.resultsByPartition[0]!.partitionErrorCode;
      if (errorCode === ErrorCode.CONCURRENT_TRANSACTIONS) {
        counters.concurrentRetries++;
        continue;
      }
      check(errorCode, "AddPartitionsToTxn");
      break;
    }
    const now = BigInt(Date.now());
    const records = encodeRecordBatch({
      records: Array.from({ length: RECORDS }, () => ({ value, timestamp: now })),
      baseTimestamp: now,
      producerId: producer.producerId,
      producerEpoch: producer.producerEpoch,
      baseSequence: sequence,
      isTransactional: true,
    });
    sequence += RECORDS;
    const produced = await conn.request(ProduceApi, 9, {
      transactionalId,
      acks: ACKS_ALL,
      timeoutMs: 30_000,
      topicData: [{ name: TOPIC, partitionData: [{ index: partition, records }] }],
    });
    check(produced.responses[0]!.partitionResponses[0]!.errorCode, "Produce");
    const ended = await conn.request(EndTxnApi, 3, { transactionalId, ...producer, committed: true });
    check(ended.errorCode, "EndTxn");
    counters.transactions++;
  }
}

async function main(): Promise<void> {
  const broker = await startBroker({
    external: values.broker,
    sets: ["transaction.state.log.num.partitions=50"],
  });
  const connections: WireConnection[] = [];
  try {
    for (let i = 0; i < Number(values.connections); i++) {
      connections.push(await WireConnection.connect(broker.host, broker.port, `bench-txn-${i}`));
    }
    const admin = connections[0]!;
    await checkApiVersions(admin, [
      [InitProducerIdApi, 4],
      [AddPartitionsToTxnApi, 3],
      [ProduceApi, 9],
      [EndTxnApi, 3],
    ]);
    await createTopic(admin, TOPIC, PARTITIONS);
    await admin.request(FindCoordinatorApi, 4, { key: "", keyType: 1, coordinatorKeys: ["bench"] });
    console.log(machineLines().join("\n"));
    console.log(`broker: ${broker.description}`);
    console.log(
      `${RECORDS} records of ${value.length} B per transaction, ${PARTITIONS} partitions, ${connections.length} connections`,
    );
    let round = 0;
    for (const producers of parseList(values.producers)) {
      const counters: Counters = { transactions: 0, concurrentRetries: 0 };
      const seconds = Number(values.seconds);
      const cpuBefore = processCpuMs(broker.pid);
      const started = performance.now();
      const stopAtMs = started + seconds * 1000;
      await Promise.all(
        Array.from({ length: producers }, (_, i) =>
          runProducer(connections[i % connections.length]!, `bench-${round}-${i}`, i % PARTITIONS, stopAtMs, counters),
        ),
      );
      const elapsedS = (performance.now() - started) / 1000;
      const cpuAfter = processCpuMs(broker.pid);
      const cpu =
        cpuBefore !== null && cpuAfter !== null
          ? `, broker CPU ${Math.round((cpuAfter - cpuBefore) / 10 / elapsedS)}%`
          : "";
      console.log(
        `producers ${String(producers).padStart(4)}: ${int(counters.transactions / elapsedS)} transactions/s, ` +
          `${int((counters.transactions * RECORDS) / elapsedS)} records/s, ` +
          `${int(counters.concurrentRetries / elapsedS)} CONCURRENT_TRANSACTIONS retries/s${cpu}, load ${loadAverage()}`,
      );
      round++;
    }
  } finally {
    for (const c of connections) c.close();
    await broker.dispose();
  }
}

await main();
