/**
 * Protocol codec micro-benchmark: Samsa's generated codecs and record-batch reader against
 * KafkaJS 2.2.4's own encoders and decoders, on the same bytes, in one run.
 *
 *   node --conditions=samsa-source --import tsx bench/protocol/codec.ts [--only=a,c1] [--rounds=9]
 *
 * Prints a markdown table on stdout (progress goes to stderr). What each row measures, and where
 * KafkaJS has no counterpart, is in bench/README.md and in the notes printed under the table.
 * The issue's goals are reported as met / not met; nothing here fails on a goal.
 */
import os from "node:os";
import { parseArgs } from "node:util";
import {
  decodeRecordBatch,
  decodeRequestFrame,
  decodeResponseFrame,
  type Encodable,
  encodeRecordBatch,
  encodeRequestFrame,
  encodeRequestFrameChunks,
  encodeResponseFrame,
  encodeResponseFrameChunks,
  FetchApi,
  type FetchResponse,
  LOG_OVERHEAD,
  ProduceApi,
  type ProduceRequest,
  type RecordInput,
  readBatchHeader,
} from "@samsa/protocol";
import Decoder from "kafkajs/src/protocol/decoder.js";
import Encoder from "kafkajs/src/protocol/encoder.js";
import decodeKafkaJsBatch from "kafkajs/src/protocol/recordBatch/v0/decoder.js";
import createRequest from "kafkajs/src/protocol/request.js";
import fetchResponseV11 from "kafkajs/src/protocol/requests/fetch/v11/response.js";
import produceRequestV7, { type KafkaJSProduceMessage } from "kafkajs/src/protocol/requests/produce/v7/request.js";
import { countBatches, kafkaJsBatch, messagesForBatchSize, repeatBatch } from "./fixtures.js";
import { asyncOp, checksum, type Op, syncOp, type Timing, timeInterleaved } from "./harness.js";

/** The newest Produce version KafkaJS 2.2.4 sends; v3-v8 share one layout. */
const PRODUCE_VERSION = 7;
/** The newest Fetch version KafkaJS 2.2.4 sends (and the last non-flexible one). */
const FETCH_VERSION = 11;
const CLIENT_ID = "samsa-bench";
const CORRELATION_ID = 42;
const TOPIC = "bench-topic";
const MiB = 1024 * 1024;
/** (a): one record batch of at most 1 MiB, 1,024 records with 16-byte keys. */
const PRODUCE_BATCH_BYTES = MiB;
const PRODUCE_RECORDS = 1024;
const KEY_BYTES = 16;
/** (b): 100 partitions of one topic, each with one batch of about 1 KiB (8 records). */
const FETCH_PARTITIONS = 100;
const FETCH_BATCH_BYTES = 1024;
const FETCH_RECORDS_PER_BATCH = 8;
/** (c): about 4 MiB of back-to-back batches, small (the fetch batch) and Kafka's default batch.size. */
const WALKS = [
  { id: "c1", batchBytes: 1024, recordsPerBatch: 8, batches: 4096 },
  { id: "c2", batchBytes: 16 * 1024, recordsPerBatch: 128, batches: 256 },
] as const;
/** RecordBatchDecoder's loop condition in KafkaJS (fetch/v4/decodeMessages.js RECORD_BATCH_OVERHEAD). */
const KAFKAJS_RECORD_BATCH_OVERHEAD = 49;

const GOAL_RATIO = 5;
const GOAL_HEADER_BYTES_PER_SEC = 1e9;

type Goal = { kind: "ratio"; min: number } | { kind: "rate"; minBytesPerSec: number };

interface Row {
  id: string;
  title: string;
  /** Bytes each operation covers; MB/s = bytesPerOp x ops/s / 1e6. */
  bytesPerOp: number;
  samsa: Op;
  kafkajs: Op | null;
  /** Shown instead of KafkaJS numbers when it has none, or beside them when they are a proxy. */
  kafkajsNote?: string;
  /** The KafkaJS operation is that of an earlier row: its timing is reused rather than measured again. */
  kafkajsSameAs?: string;
  goal?: Goal;
}

interface Result {
  row: Row;
  samsa: Timing | null;
  kafkajs: Timing | null;
}

function check(condition: boolean, what: string): void {
  // A failed cross-check means the two sides do not process the same bytes: the numbers would lie.
  if (!condition) throw new Error(`benchmark fixture check failed: ${what}`);
}

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

// --- (a) Produce request with one 1 MiB batch --------------------------------------------------

async function produceRows(): Promise<Row[]> {
  const { messages, batch } = await messagesForBatchSize(PRODUCE_BATCH_BYTES, PRODUCE_RECORDS, KEY_BYTES);
  const kafkaJsBatchEncoder = await kafkaJsBatch(messages);
  const body: Encodable<ProduceRequest> = {
    transactionalId: null,
    acks: -1,
    timeoutMs: 30_000,
    topicData: [{ name: TOPIC, partitionData: [{ index: 0, records: batch }] }],
  };
  const frame = encodeRequestFrame(ProduceApi, PRODUCE_VERSION, CORRELATION_ID, CLIENT_ID, body);
  const frameBody = frame.subarray(4);

  const samsaDecode = (): ProduceRequest => decodeRequestFrame(frameBody).body as ProduceRequest;
  const decoded = samsaDecode();
  check(
    frame.equals(encodeRequestFrame(ProduceApi, PRODUCE_VERSION, CORRELATION_ID, CLIENT_ID, decoded)),
    "Samsa Produce decode -> encode reproduces the frame",
  );

  // produce/v3/request.js's encoders (v7 reuses them) with RecordBatch() hoisted out: the batch is
  // built once, as for Samsa, so both sides do request-level work only. The awaits are KafkaJS's.
  const encodePartition = async () =>
    new Encoder().writeInt32(0).writeInt32(kafkaJsBatchEncoder.size()).writeEncoder(kafkaJsBatchEncoder);
  const encodeTopic = async () => new Encoder().writeString(TOPIC).writeArray([await encodePartition()]);
  const kafkaJsEncodePrebuilt = () =>
    createRequest({
      correlationId: CORRELATION_ID,
      clientId: CLIENT_ID,
      request: {
        apiKey: ProduceApi.apiKey,
        apiVersion: PRODUCE_VERSION,
        apiName: "Produce",
        encode: async () =>
          new Encoder()
            .writeString(null)
            .writeInt16(-1)
            .writeInt32(30_000)
            .writeArray([await encodeTopic()]),
      },
    });
  check(
    (await kafkaJsEncodePrebuilt()).buffer.equals(frame),
    "KafkaJS Produce encode (batch pre-built) equals Samsa's frame",
  );

  // KafkaJS's real path: the request object from produce/v7 builds the batch from the messages.
  const kafkaJsEncodeFromMessages = () =>
    createRequest({
      correlationId: CORRELATION_ID,
      clientId: CLIENT_ID,
      request: produceRequestV7({
        acks: -1,
        timeout: 30_000,
        topicData: [{ topic: TOPIC, partitions: [{ partition: 0, messages }] }],
      }),
    });
  check((await kafkaJsEncodeFromMessages()).buffer.equals(frame), "KafkaJS produce/v7 encode equals Samsa's frame");

  // Samsa's counterpart builds the same batch with encodeRecordBatch; KafkaJS's producer defaults
  // (epoch 0, sequence 0, leader epoch 0) are given so the bytes can be compared.
  const inputs = toRecordInputs(messages);
  const samsaBatch = () =>
    encodeRecordBatch({ records: inputs, producerEpoch: 0, baseSequence: 0, partitionLeaderEpoch: 0 });
  const samsaBatchMatches = samsaBatch().equals(batch);

  // KafkaJS has no Produce request decoder (it is a client). The proxy walks the request with
  // KafkaJS's Decoder as Connection.processData and its response decoders use it.
  const kafkaJsDecodeProxy = (): number => {
    const outer = new Decoder(frame);
    const request = new Decoder(outer.readBytes(outer.readInt32())!);
    request.readInt16(); // api key
    request.readInt16(); // api version
    request.readInt32(); // correlation id
    request.readString(); // client id
    request.readString(); // transactional id
    request.readInt16(); // acks
    request.readInt32(); // timeout
    const topics = request.readArray((d) => ({
      topic: d.readString(),
      partitions: d.readArray((p) => ({ partition: p.readInt32(), recordSet: p.readBytes() })),
    }));
    return topics[0].partitions[0].recordSet!.length;
  };

  const encodeSamsa = (v: ProduceRequest) =>
    encodeRequestFrame(ProduceApi, PRODUCE_VERSION, CORRELATION_ID, CLIENT_ID, v).length;
  const encodeSamsaChunks = (v: ProduceRequest) =>
    encodeRequestFrameChunks(ProduceApi, PRODUCE_VERSION, CORRELATION_ID, CLIENT_ID, v)[0].readInt32BE(0);
  check(
    Buffer.concat(encodeRequestFrameChunks(ProduceApi, PRODUCE_VERSION, CORRELATION_ID, CLIENT_ID, decoded)).equals(
      frame,
    ),
    "encodeRequestFrameChunks gives the frame's bytes",
  );
  const dagger = "† proxy: KafkaJS has no request decoder";
  return [
    {
      id: "a1",
      title: `Produce v${PRODUCE_VERSION} request encode, 1 batch pre-built`,
      bytesPerOp: frame.length,
      samsa: syncOp(() => encodeSamsa(decoded)),
      kafkajs: asyncOp(async () => (await kafkaJsEncodePrebuilt()).size()),
      goal: { kind: "ratio", min: GOAL_RATIO },
    },
    {
      id: "a2",
      title: `Produce v${PRODUCE_VERSION} request frame decode`,
      bytesPerOp: frame.length,
      samsa: syncOp(() => samsaDecode().topicData[0].partitionData[0].records!.length),
      kafkajs: syncOp(kafkaJsDecodeProxy),
      kafkajsNote: dagger,
    },
    {
      id: "a3",
      title: `Produce v${PRODUCE_VERSION} request decode + re-encode`,
      bytesPerOp: frame.length,
      samsa: syncOp(() => encodeSamsa(samsaDecode())),
      kafkajs: asyncOp(async () => kafkaJsDecodeProxy() + (await kafkaJsEncodePrebuilt()).size()),
      kafkajsNote: `${dagger}; its decode + a1's encode`,
      goal: { kind: "ratio", min: GOAL_RATIO },
    },
    {
      id: "a1c",
      title: `Produce v${PRODUCE_VERSION} request encode to chunks, 1 batch pre-built`,
      bytesPerOp: frame.length,
      samsa: syncOp(() => encodeSamsaChunks(decoded)),
      kafkajs: asyncOp(async () => (await kafkaJsEncodePrebuilt()).size()),
      kafkajsSameAs: "a1",
      kafkajsNote: "‡ Samsa: encodeRequestFrameChunks; KafkaJS = a1",
      goal: { kind: "ratio", min: GOAL_RATIO },
    },
    {
      id: "a3c",
      title: `Produce v${PRODUCE_VERSION} request decode + re-encode to chunks`,
      bytesPerOp: frame.length,
      samsa: syncOp(() => encodeSamsaChunks(samsaDecode())),
      kafkajs: asyncOp(async () => kafkaJsDecodeProxy() + (await kafkaJsEncodePrebuilt()).size()),
      kafkajsSameAs: "a3",
      kafkajsNote: "‡ Samsa: encodeRequestFrameChunks; KafkaJS = a3",
      goal: { kind: "ratio", min: GOAL_RATIO },
    },
    {
      id: "a4",
      title: `Produce v${PRODUCE_VERSION} request encode, batch built from ${PRODUCE_RECORDS} records`,
      bytesPerOp: frame.length,
      samsa: syncOp(() => {
        const b = samsaBatch();
        return encodeSamsa({
          ...decoded,
          topicData: [
            { ...decoded.topicData[0], partitionData: [{ index: 0, records: b, _unknownTaggedFields: undefined }] },
          ],
        });
      }),
      kafkajs: asyncOp(async () => (await kafkaJsEncodeFromMessages()).size()),
      kafkajsNote: samsaBatchMatches
        ? "encodeRecordBatch vs produce/v7 encode(): identical bytes"
        : "encodeRecordBatch vs produce/v7 encode(): batch bytes differ",
    },
  ];
}

function toRecordInputs(messages: readonly KafkaJSProduceMessage[]): RecordInput[] {
  return messages.map((m) => ({
    key: typeof m.key === "string" ? Buffer.from(m.key) : m.key,
    value: typeof m.value === "string" ? Buffer.from(m.value) : m.value,
    timestamp: BigInt(m.timestamp ?? 0),
  }));
}

// --- (b) Fetch response, 100 partitions of ~1 KiB -------------------------------------------------

async function fetchRows(): Promise<Row[]> {
  const { messages } = await messagesForBatchSize(FETCH_BATCH_BYTES, FETCH_RECORDS_PER_BATCH, KEY_BYTES);
  const partitions = [];
  for (let p = 0; p < FETCH_PARTITIONS; p++) {
    const baseOffset = BigInt(p) * 1_000_000n;
    const records = Buffer.from((await kafkaJsBatch(messages, baseOffset)).buffer);
    partitions.push({
      partitionIndex: p,
      errorCode: 0,
      highWatermark: baseOffset + BigInt(FETCH_RECORDS_PER_BATCH),
      lastStableOffset: baseOffset + BigInt(FETCH_RECORDS_PER_BATCH),
      logStartOffset: 0n,
      abortedTransactions: [],
      preferredReadReplica: -1,
      records,
    });
  }
  const body: Encodable<FetchResponse> = {
    throttleTimeMs: 0,
    errorCode: 0,
    sessionId: 0,
    responses: [{ topic: TOPIC, partitions }],
  };
  const frame = encodeResponseFrame(FetchApi, FETCH_VERSION, CORRELATION_ID, body);
  const frameBody = frame.subarray(4);
  const expectedRecords = FETCH_PARTITIONS * FETCH_RECORDS_PER_BATCH;
  const expectedValueBytes = FETCH_PARTITIONS * valueBytesOf(partitions[0].records);

  const samsaDecode = (): FetchResponse => decodeResponseFrame(FetchApi, FETCH_VERSION, frameBody).body;
  const samsaDecodeWithRecords = (): number => {
    let n = 0;
    for (const partition of samsaDecode().responses[0].partitions) {
      n += consumeValues(decodeRecordBatch(partition.records!).records);
    }
    return n;
  };
  const samsaEncode = (v: Encodable<FetchResponse>): number =>
    encodeResponseFrameChunks(FetchApi, FETCH_VERSION, CORRELATION_ID, v)[0].readInt32BE(0);
  const decoded = samsaDecode();
  check(
    encodeResponseFrame(FetchApi, FETCH_VERSION, CORRELATION_ID, decoded).equals(frame),
    "Samsa Fetch decode -> encode reproduces the frame",
  );

  // Connection.processData (size, correlation id, payload), then the v11 response's decode().
  const kafkaJsDecode = async (): Promise<number> => {
    const outer = new Decoder(frame);
    const response = new Decoder(outer.readBytes(outer.readInt32())!);
    response.readInt32(); // correlation id
    const decodedResponse = await fetchResponseV11.decode(response.readAll());
    let n = 0;
    for (const p of decodedResponse.responses[0].partitions) n += consumeValues(p.messages);
    return n;
  };
  check(
    samsaDecodeWithRecords() === expectedValueBytes && (await kafkaJsDecode()) === expectedValueBytes,
    "Samsa and KafkaJS decode every record value of the Fetch response",
  );

  const noEncoder = "KafkaJS has no Fetch response encoder (it is a client)";
  return [
    {
      id: "b1",
      title: `Fetch v${FETCH_VERSION} response encode (chunks, records not copied)`,
      bytesPerOp: frame.length,
      samsa: syncOp(() => samsaEncode(decoded)),
      kafkajs: null,
      kafkajsNote: noEncoder,
    },
    {
      id: "b2",
      title: `Fetch v${FETCH_VERSION} response decode, records left as bytes`,
      bytesPerOp: frame.length,
      samsa: syncOp(() => samsaDecode().responses[0].partitions.length),
      kafkajs: null,
      kafkajsNote: "KafkaJS always decodes the records: compare b3",
    },
    {
      id: "b3",
      title: `Fetch v${FETCH_VERSION} response decode incl. ${expectedRecords} records`,
      bytesPerOp: frame.length,
      samsa: syncOp(samsaDecodeWithRecords),
      kafkajs: asyncOp(kafkaJsDecode),
      goal: { kind: "ratio", min: GOAL_RATIO },
    },
    {
      id: "b4",
      title: `Fetch v${FETCH_VERSION} response encode + decode incl. records`,
      bytesPerOp: frame.length,
      samsa: syncOp(() => samsaEncode(decoded) + samsaDecodeWithRecords()),
      kafkajs: asyncOp(kafkaJsDecode),
      kafkajsSameAs: "b3",
      kafkajsNote: "KafkaJS: decode only (= b3), it has no encoder",
      goal: { kind: "ratio", min: GOAL_RATIO },
    },
  ];
}

/**
 * What a consumer does at the least with decoded records: reads every value. Both sides do it, so
 * neither can win by materializing values lazily.
 */
function consumeValues(records: readonly { value: Buffer | null }[]): number {
  let n = 0;
  for (const r of records) n += r.value === null ? 0 : r.value.length;
  return n;
}

function valueBytesOf(batch: Buffer): number {
  return consumeValues(decodeRecordBatch(batch).records);
}

// --- (c) record-batch header walk -----------------------------------------------------------------

async function batchWalkRows(): Promise<Row[]> {
  const rows: Row[] = [];
  for (const walk of WALKS) {
    const { batch } = await messagesForBatchSize(walk.batchBytes, walk.recordsPerBatch, KEY_BYTES);
    const segment = repeatBatch(batch, walk.batches, walk.recordsPerBatch);
    const expectedRecords = walk.batches * walk.recordsPerBatch;
    check(countBatches(segment) === walk.batches, "the walk buffer holds whole batches only");

    const samsaHeaderWalk = (): number => {
      let n = 0;
      for (let offset = 0; offset < segment.length; ) {
        const header = readBatchHeader(segment, offset);
        n += header.recordCount;
        offset += LOG_OVERHEAD + header.batchLength;
      }
      return n;
    };
    const samsaFullWalk = (): number => {
      let n = 0;
      for (let offset = 0; offset < segment.length; ) {
        const { header, records } = decodeRecordBatch(segment, offset);
        n += consumeValues(records);
        offset += LOG_OVERHEAD + header.batchLength;
      }
      return n;
    };
    // fetch/v4/decodeMessages.js's loop: whole batches, every record, no CRC check.
    const kafkaJsWalk = async (): Promise<number> => {
      const decoder = new Decoder(segment);
      let n = 0;
      while (decoder.canReadBytes(KAFKAJS_RECORD_BATCH_OVERHEAD))
        n += consumeValues((await decodeKafkaJsBatch(decoder)).records);
      return n;
    };
    check(samsaHeaderWalk() === expectedRecords, "Samsa's header walk sees every batch");
    const expectedValueBytes = walk.batches * valueBytesOf(batch);
    check(
      samsaFullWalk() === expectedValueBytes && (await kafkaJsWalk()) === expectedValueBytes,
      "Samsa and KafkaJS decode every record value of the walk buffer",
    );

    const size = `${walk.batchBytes / 1024} KiB`;
    rows.push(
      {
        id: walk.id,
        title: `readBatchHeader walk, ${walk.batches} x ${size} batches`,
        bytesPerOp: segment.length,
        samsa: syncOp(samsaHeaderWalk),
        kafkajs: asyncOp(kafkaJsWalk),
        kafkajsNote: "KafkaJS: whole-batch decode (it has no header-only reader)",
        goal: { kind: "rate", minBytesPerSec: GOAL_HEADER_BYTES_PER_SEC },
      },
      {
        id: `${walk.id}w`,
        title: `whole-batch decode walk, ${walk.batches} x ${size} batches`,
        bytesPerOp: segment.length,
        samsa: syncOp(samsaFullWalk),
        kafkajs: asyncOp(kafkaJsWalk),
        kafkajsSameAs: walk.id,
        kafkajsNote: "Samsa also verifies each CRC32C; KafkaJS does not",
      },
    );
  }
  return rows;
}

// --- report ---------------------------------------------------------------------------------------

function fmtRate(opsPerSec: number): string {
  if (opsPerSec >= 100) return Math.round(opsPerSec).toLocaleString("en-US");
  return opsPerSec.toPrecision(3);
}

function fmtMBps(bytesPerSec: number): string {
  const mb = bytesPerSec / 1e6;
  return mb >= 100 ? Math.round(mb).toLocaleString("en-US") : mb.toPrecision(3);
}

function fmtTiming(t: Timing): string {
  return `${fmtRate(t.opsPerSec)} ±${Math.round(t.spread * 100)}%`;
}

function goalCells(r: Result): [string, string] {
  const goal = r.row.goal;
  if (goal === undefined) return ["", ""];
  if (goal.kind === "rate") {
    const label = `≥ ${goal.minBytesPerSec / 1e9} GB/s`;
    if (r.samsa === null) return [label, "n/a"];
    return [label, r.samsa.opsPerSec * r.row.bytesPerOp >= goal.minBytesPerSec ? "met" : "not met"];
  }
  const label = `≥ ${goal.min}×`;
  if (r.samsa === null || r.kafkajs === null) return [label, "n/a"];
  return [label, r.samsa.opsPerSec / r.kafkajs.opsPerSec >= goal.min ? "met" : "not met"];
}

function rateCells(t: Timing | null, bytesPerOp: number): [string, string] {
  return t === null ? ["—", "—"] : [fmtTiming(t), fmtMBps(t.opsPerSec * bytesPerOp)];
}

function table(results: readonly Result[]): string {
  const lines = [
    "| # | Benchmark | Bytes/op | Samsa ops/s | Samsa MB/s | KafkaJS ops/s | KafkaJS MB/s | Samsa/KafkaJS | Goal | Met? | Notes |",
    "|---|---|--:|--:|--:|--:|--:|--:|---|---|---|",
  ];
  for (const r of results) {
    const { row, samsa, kafkajs } = r;
    const ratio = samsa === null || kafkajs === null ? "—" : `${(samsa.opsPerSec / kafkajs.opsPerSec).toFixed(1)}×`;
    const cells = [
      row.id,
      row.title,
      row.bytesPerOp.toLocaleString("en-US"),
      ...rateCells(samsa, row.bytesPerOp),
      ...rateCells(kafkajs, row.bytesPerOp),
      ratio,
      ...goalCells(r),
      row.kafkajsNote ?? "",
    ];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

function machineNotes(
  startLoad: number[],
  elapsedS: number,
  options: { rounds: number; roundMs: number; warmupMs: number },
): string {
  const cpus = os.cpus();
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(" ");
  return [
    `Machine: ${cpus[0]?.model ?? "unknown CPU"}, nproc ${os.availableParallelism()}, ${Math.round(os.totalmem() / 2 ** 30)} GiB; ` +
      `Node ${process.version} (V8 ${process.versions.v8}), ${os.platform()} ${os.release()}; KafkaJS 2.2.4.`,
    `Load average before / after: ${load(startLoad)} / ${load(os.loadavg())}. Run time ${elapsedS.toFixed(1)} s.`,
    `Method: ${options.warmupMs} ms warm-up per side, then ${options.rounds} rounds of ~${options.roundMs} ms per side, ` +
      "Samsa and KafkaJS alternating; median ops/s, ± = farthest round from the median. MB = 10^6 bytes.",
    ...(busy(startLoad)
      ? ["**The machine was busy (load average above half the CPUs): treat the figures, ratios above all, as noisy.**"]
      : []),
  ].join("\n");
}

/**
 * Another process competing for the CPUs (or memory bandwidth) moves these numbers by tens of
 * percent. The load average after the run counts this benchmark's own thread, hence the 1.
 */
function busy(startLoad: number[]): boolean {
  const others = Math.max(startLoad[0], os.loadavg()[0] - 1);
  return others > os.availableParallelism() / 2;
}

const FOOTNOTES = [
  "Bytes/op is the whole frame (size prefix included) or the whole buffer of batches; MB/s = Bytes/op × ops/s.",
  "Decoders return records and byte fields as views of the input, so a decode's MB/s counts bytes covered, not copied.",
  "† KafkaJS is a client and has no Produce request decoder; the proxy walks the frame with KafkaJS's Decoder the way",
  "  Connection.processData and its response decoders use it (records kept as bytes, like Samsa's decode).",
  "‡ encodeRequestFrameChunks: the frame as the Writer's chunks, the batch referenced rather than copied (a producer",
  "  writes them with cork/write/uncork); a1/a3 use encodeRequestFrame, which concatenates them into one Buffer as KafkaJS does.",
  "Rows sharing a KafkaJS operation (a1c/a1, a3c/a3, b4/b3, c1w/c1, c2w/c2) show the timing measured for the first.",
];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      only: { type: "string" },
      rounds: { type: "string", default: "9" },
      "round-ms": { type: "string", default: "150" },
      "warmup-ms": { type: "string", default: "300" },
      /** Time one side only, so a --cpu-prof profile shows that side alone. */
      side: { type: "string", default: "both" },
    },
  });
  const options = {
    rounds: Number(values.rounds),
    roundMs: Number(values["round-ms"]),
    warmupMs: Number(values["warmup-ms"]),
  };
  const only = values.only?.split(",").map((s) => s.trim()) ?? null;
  const wanted = (id: string) => only === null || only.some((prefix) => id.startsWith(prefix));
  const sectionWanted = (letter: string) => only === null || only.some((prefix) => prefix.startsWith(letter));
  const startLoad = os.loadavg();
  const started = process.hrtime.bigint();

  log("building fixtures (KafkaJS-encoded batches) and cross-checking both codecs on them...");
  const rows = [
    ...(sectionWanted("a") ? await produceRows() : []),
    ...(sectionWanted("b") ? await fetchRows() : []),
    ...(sectionWanted("c") ? await batchWalkRows() : []),
  ].filter((row) => wanted(row.id));

  const results: Result[] = [];
  for (const row of rows) {
    log(`${row.id}: ${row.title}`);
    const reused = results.find((r) => r.row.id === row.kafkajsSameAs)?.kafkajs ?? null;
    const [samsa, kafkajs] = await timeInterleaved(
      [values.side === "kafkajs" ? null : row.samsa, values.side === "samsa" || reused !== null ? null : row.kafkajs],
      options,
    );
    results.push({ row, samsa, kafkajs: reused ?? kafkajs });
  }
  const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;

  console.log("## Protocol codec benchmark: Samsa vs KafkaJS 2.2.4\n");
  console.log(table(results));
  console.log();
  console.log(FOOTNOTES.join("\n"));
  console.log();
  console.log(machineNotes(startLoad, elapsedS, options));
  console.log(`(result checksum ${checksum()})`);
}

await main();
