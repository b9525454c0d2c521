/**
 * kafka-python 2.0.2 (pure Python) and confluent-kafka-python 1.7.0 (librdkafka) from Debian's
 * /usr/bin/python3 against a real broker process: produce with keys and headers, then consume
 * with assign and seek (no consumer group), watermarks and offsets by timestamp.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { BrokerProcess, REPO_ROOT } from "./support/broker-process.js";
import { CODEC_IDS, type Codec, storedBatches } from "./support/log-files.js";
import { PYTHON, requireClient, runOk } from "./support/run.js";

const DRIVER = path.join(REPO_ROOT, "tests/e2e/clients/py_client.py");
const COUNT = 40;

interface Event {
  event: string;
  [k: string]: unknown;
}

let broker: BrokerProcess;

before(async () => {
  requireClient("python-kafka");
  requireClient("python-confluent-kafka");
  broker = await BrokerProcess.start();
});

after(async () => {
  await broker?.stop();
  await broker?.dispose();
});

async function drive(command: string, topic: string, codec: Codec): Promise<Event[]> {
  const r = await runOk(PYTHON, [DRIVER, command, broker.bootstrap, topic, String(COUNT), codec], {
    timeoutMs: 90_000,
  });
  return r.stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Event);
}

function checkRoundTrip(events: Event[], codec: Codec, start: number): void {
  const produced = events.find((e) => e.event === "produced")!;
  assert.deepEqual(
    produced.offsets,
    Array.from({ length: COUNT }, (_, i) => i),
    JSON.stringify(produced),
  );
  assert.deepEqual(
    events.filter((e) => e.event === "watermarks").map((e) => [e.begin, e.end]),
    [[0, COUNT]],
  );
  const consumed = events.filter((e) => e.event === "consumed");
  assert.equal(consumed.length, COUNT - start, broker.logTail());
  consumed.forEach((m, i) => {
    const n = start + i;
    assert.equal(m.offset, n);
    assert.equal(m.key, `key-${n}`);
    assert.equal(m.value, `value ${n} (${codec}) ${"compressible ".repeat(6)}`);
    assert.deepEqual(m.headers, [["n", String(n)]]);
  });
  const byTime = events.find((e) => e.event === "offset-for-time")!;
  assert.equal(typeof byTime.offset, "number");
  assert.ok((byTime.offset as number) <= COUNT / 2 + start, JSON.stringify(byTime));
}

describe("kafka-python 2.0.2", () => {
  for (const codec of ["none", "gzip"] as const) {
    test(`produce (${codec}, acks=all), then assign, seek, watermarks, offsets_for_times`, async () => {
      const topic = `kafka-python-${codec}`;
      const events = await drive("kafka-python-roundtrip", topic, codec);
      checkRoundTrip(events, codec, 3);
      const byTime = events.find((e) => e.event === "offset-for-time")!;
      // Each record's timestamp is at least the previous one's, so the first at that time is <= it.
      assert.ok((byTime.offset as number) <= COUNT / 2);
      for (const b of await storedBatches(broker.dataDir, topic, 0)) assert.equal(b.compression, CODEC_IDS[codec]);
    });
  }
});

describe("confluent-kafka-python 1.7.0 (librdkafka 2.0.2)", () => {
  for (const codec of ["none", "gzip", "snappy", "lz4", "zstd"] as const) {
    test(`produce (${codec}, acks=all), then assign at an offset, seek, offsets_for_times`, async () => {
      const topic = `confluent-${codec}`;
      const events = await drive("confluent-roundtrip", topic, codec);
      const produced = events.find((e) => e.event === "produced")!;
      assert.deepEqual(produced.errors, []);
      checkRoundTrip(events, codec, 3);
      assert.deepEqual(
        events.filter((e) => e.event === "after-seek").map((e) => [e.offset, e.key]),
        [[1, "key-1"]],
      );
      for (const b of await storedBatches(broker.dataDir, topic, 0)) assert.equal(b.compression, CODEC_IDS[codec]);
    });
  }
});
