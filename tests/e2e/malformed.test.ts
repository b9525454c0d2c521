/**
 * Malformed input from raw sockets: each case gets Kafka's error code or a closed connection
 * (within a deadline, never a hang), and afterwards the broker still serves real clients.
 * Requests are built with @samsa/protocol; only the deliberately corrupted bytes are hand-made.
 */
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import {
  ApiVersionsApi,
  CompressionType,
  CreateTopicsApi,
  decodeResponseFrame,
  ErrorCode,
  encodeMessageSet,
  encodeRecordBatch,
  MetadataApi,
  ProduceApi,
} from "@samsa/protocol";
import { BrokerProcess } from "./support/broker-process.js";
import { RawConnection } from "./support/raw-client.js";
import { requireClient, runOk } from "./support/run.js";

/** Lowered from the broker's 30 s default through the hidden --partial-frame-timeout-ms. */
const PARTIAL_FRAME_TIMEOUT_MS = 400;
const MAX_REQUEST_BYTES = 1024 * 1024;

let broker: BrokerProcess;
const open: RawConnection[] = [];

async function connect(): Promise<RawConnection> {
  const c = await RawConnection.connect(broker.port);
  open.push(c);
  return c;
}

before(async () => {
  broker = await BrokerProcess.start({
    partialFrameTimeoutMs: PARTIAL_FRAME_TIMEOUT_MS,
    set: [`socket.request.max.bytes=${MAX_REQUEST_BYTES}`],
  });
});

after(async () => {
  for (const c of open) c.close();
  await broker?.stop();
  await broker?.dispose();
});

function sizePrefixed(body: Buffer): Buffer {
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length);
  return Buffer.concat([size, body]);
}

/** A Produce v7 carrying `records` for partition 0 of `topic`, acks=1. */
function produceFrame(c: RawConnection, topic: string, records: Buffer, version = 7): Buffer {
  return c.frame(ProduceApi, version, {
    acks: 1,
    timeoutMs: 5000,
    topicData: [{ name: topic, partitionData: [{ index: 0, records }] }],
  });
}

async function produceResult(topic: string, records: Buffer, version = 7) {
  const c = await connect();
  // Produce never creates a topic (UNKNOWN_TOPIC_OR_PARTITION); a metadata request does.
  await c.request(MetadataApi, 4, { topics: [{ name: topic }], allowAutoTopicCreation: true });
  const frame = produceFrame(c, topic, records, version);
  c.write(frame);
  const { body } = decodeResponseFrame(ProduceApi, version, await c.nextFrame());
  return body.responses[0].partitionResponses[0];
}

async function produceErrorCode(topic: string, records: Buffer, version = 7): Promise<number> {
  return (await produceResult(topic, records, version)).errorCode;
}

function batch(values: string[]): Buffer {
  return encodeRecordBatch({
    records: values.map((v) => ({ value: Buffer.from(v) })),
    baseTimestamp: BigInt(Date.now()),
  });
}

describe("malformed frames close the connection", () => {
  test("garbage: a frame whose header is random bytes (unknown API key)", async () => {
    const c = await connect();
    const garbage = Buffer.from("\x7f\x13this is not a kafka request at all", "latin1");
    c.write(sizePrefixed(garbage));
    await c.waitClosed();
  });

  test("garbage: a frame too short to hold a request header", async () => {
    const c = await connect();
    c.write(sizePrefixed(Buffer.from([0, 3, 0])));
    await c.waitClosed();
  });

  test("garbage: a valid header with a body that does not decode", async () => {
    const c = await connect();
    const frame = c.frame(MetadataApi, 1, { topics: [{ name: "some-topic" }] });
    // Cut the body in the middle of the topic name, and fix the size prefix to match.
    const cut = frame.subarray(4, frame.length - 4);
    c.write(sizePrefixed(cut));
    await c.waitClosed();
  });

  test("a lying length: a size over socket.request.max.bytes closes before anything is buffered", async () => {
    const c = await connect();
    const frame = c.frame(MetadataApi, 1, { topics: null });
    frame.writeInt32BE(MAX_REQUEST_BYTES + 1, 0);
    c.write(frame);
    const ms = await c.waitClosed(2000);
    assert.ok(ms < 2000);
  });

  test("a negative size closes the connection", async () => {
    const c = await connect();
    c.write(Buffer.from([0xff, 0xff, 0xff, 0xf0, 0, 3, 0, 1]));
    await c.waitClosed(2000);
  });

  test("a frame that never completes is closed after the partial-frame deadline", async () => {
    const c = await connect();
    const frame = c.frame(MetadataApi, 1, { topics: null });
    c.write(frame.subarray(0, frame.length - 2));
    const ms = await c.waitClosed(PARTIAL_FRAME_TIMEOUT_MS * 10);
    assert.ok(ms >= PARTIAL_FRAME_TIMEOUT_MS * 0.8, `closed after ${ms} ms, before the deadline`);
  });

  test("a slow but steady frame is closed at the deadline too (the deadline is per frame, not per byte)", async () => {
    const c = await connect();
    const frame = c.frame(MetadataApi, 1, { topics: null });
    let at = 0;
    const drip = setInterval(() => {
      if (at < frame.length - 1 && c.isOpen) c.write(frame.subarray(at, ++at));
    }, PARTIAL_FRAME_TIMEOUT_MS / 8);
    try {
      await c.waitClosed(PARTIAL_FRAME_TIMEOUT_MS * 10);
    } finally {
      clearInterval(drip);
    }
  });

  test("an unknown API key (999) and an API this broker does not serve (JoinGroup) close the connection", async () => {
    for (const apiKey of [999, 11]) {
      const c = await connect();
      const frame = c.frame(ApiVersionsApi, 0, {});
      frame.writeInt16BE(apiKey, 4);
      c.write(frame);
      await c.waitClosed();
    }
  });

  test("an absurd version of another API (Metadata v999) closes the connection", async () => {
    const c = await connect();
    const frame = c.frame(MetadataApi, 1, { topics: null });
    frame.writeInt16BE(999, 6);
    c.write(frame);
    await c.waitClosed();
  });
});

describe("errors the client can act on", () => {
  test("ApiVersions at a version too high gets UNSUPPORTED_VERSION (35) with a v0 body of our ranges", async () => {
    const c = await connect();
    const frame = c.frame(ApiVersionsApi, 3, { clientSoftwareName: "raw", clientSoftwareVersion: "1" });
    frame.writeInt16BE(999, 6);
    c.write(frame);
    const { body } = decodeResponseFrame(ApiVersionsApi, 0, await c.nextFrame());
    assert.equal(body.errorCode, ErrorCode.UNSUPPORTED_VERSION);
    const apiVersions = body.apiKeys.find((k) => k.apiKey === ApiVersionsApi.apiKey);
    assert.deepEqual([apiVersions?.minVersion, apiVersions?.maxVersion], [0, 4]);
    // The connection stays usable: the client retries with a version we serve.
    const retry = await c.request(ApiVersionsApi, 3, { clientSoftwareName: "raw", clientSoftwareVersion: "1" });
    assert.equal(retry.errorCode, ErrorCode.NONE);
  });

  test("a record batch with a bad CRC is CORRUPT_MESSAGE (2), and nothing is appended", async () => {
    const good = batch(["one", "two"]);
    const bad = Buffer.from(good);
    bad[bad.length - 1] ^= 0xff; // a byte of the last record's value: the CRC no longer matches
    assert.equal(await produceErrorCode("malformed-crc", bad), ErrorCode.CORRUPT_MESSAGE);
    const next = await produceResult("malformed-crc", good);
    assert.deepEqual([next.errorCode, next.baseOffset], [ErrorCode.NONE, 0n], "the corrupt batch took no offset");
  });

  test("a legacy (magic 0) message with a bad CRC in Produce v0 is CORRUPT_MESSAGE", async () => {
    const good = encodeMessageSet({ magic: 0, records: [{ value: Buffer.from("legacy") }] });
    const bad = Buffer.from(good);
    bad[bad.length - 1] ^= 0xff;
    assert.equal(await produceErrorCode("malformed-legacy-crc", bad, 0), ErrorCode.CORRUPT_MESSAGE);
    assert.equal(await produceErrorCode("malformed-legacy-crc", good, 0), ErrorCode.NONE);
  });

  test("a truncated record batch and a lying batch length are CORRUPT_MESSAGE", async () => {
    const good = batch(["a", "b", "c"]);
    assert.equal(
      await produceErrorCode("malformed-truncated", good.subarray(0, good.length - 5)),
      ErrorCode.CORRUPT_MESSAGE,
    );
    const lying = Buffer.from(good);
    lying.writeInt32BE(good.length * 4, 8); // batchLength
    assert.equal(await produceErrorCode("malformed-truncated", lying), ErrorCode.CORRUPT_MESSAGE);
  });

  test("a zstd batch in a Produce request older than v7 is UNSUPPORTED_COMPRESSION_TYPE (76), as in Kafka", async () => {
    const zstd = encodeRecordBatch({
      records: [{ value: Buffer.from("zstd needs Produce v7") }],
      compression: CompressionType.Zstd,
      baseTimestamp: BigInt(Date.now()),
    });
    assert.equal(await produceErrorCode("malformed-zstd", zstd, 6), ErrorCode.UNSUPPORTED_COMPRESSION_TYPE);
    assert.equal(await produceErrorCode("malformed-zstd", zstd, 7), ErrorCode.NONE);
  });

  test("invalid topic names are INVALID_TOPIC_EXCEPTION (17) and create nothing, inside or outside the data dir", async () => {
    const names = ["..", ".", "bad/name", "../escape", "a".repeat(250), "spaces are bad", "ünïcode", ""];
    const c = await connect();
    const created = await c.request(CreateTopicsApi, 4, {
      timeoutMs: 5000,
      topics: names.map((name) => ({ name, numPartitions: 1, replicationFactor: 1 })),
    });
    assert.deepEqual(
      created.topics.map((t) => [t.name, t.errorCode]),
      names.map((n) => [n, ErrorCode.INVALID_TOPIC_EXCEPTION]),
    );
    const meta = await c.request(MetadataApi, 4, {
      topics: names.filter((n) => n !== "").map((name) => ({ name })),
      allowAutoTopicCreation: true,
    });
    for (const t of meta.topics) assert.equal(t.errorCode, ErrorCode.INVALID_TOPIC_EXCEPTION, `${t.name}`);
    const produced = await produceErrorCode("../escape", batch(["x"]));
    assert.ok(
      produced === ErrorCode.INVALID_TOPIC_EXCEPTION || produced === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
      `produce to ../escape: ${produced}`,
    );
    const parent = await readdir(path.dirname(broker.dataDir));
    assert.ok(!parent.some((f) => f.startsWith("escape")), "nothing created next to the data dir");
    assert.ok(!(await readdir(broker.dataDir)).some((f) => f.includes("escape") || f.startsWith("..")));
    // A 249-character name is the longest Kafka allows.
    const longest = await c.request(CreateTopicsApi, 4, {
      timeoutMs: 5000,
      topics: [{ name: "b".repeat(249), numPartitions: 1, replicationFactor: 1 }],
    });
    assert.equal(longest.topics[0].errorCode, ErrorCode.NONE);
  });
});

describe("after all that", () => {
  test("the broker still serves real clients", async () => {
    requireClient("kcat");
    assert.ok(broker.running, broker.logTail());
    await runOk("kcat", ["-b", broker.bootstrap, "-P", "-t", "malformed-after", "-p", "0", "-K", ":"], {
      input: "k:still alive\n",
      timeoutMs: 30_000,
    });
    const out = await runOk(
      "kcat",
      [
        "-b",
        broker.bootstrap,
        "-C",
        "-t",
        "malformed-after",
        "-p",
        "0",
        "-o",
        "beginning",
        "-e",
        "-q",
        "-f",
        "%k=%s\\n",
      ],
      { timeoutMs: 30_000 },
    );
    assert.equal(out.stdout, "k=still alive\n");
    assert.ok(!broker.lines.some((l) => (l.level ?? 0) >= 50), `no error-level log lines\n${broker.logTail()}`);
  });
});
