/**
 * Go's sarama 1.22.1 against a real broker process. Its default protocol level (Kafka 0.8.2)
 * sends Produce v0 with magic-0 message sets and Fetch v0; 0.10 sends magic-1 message sets
 * (Produce v2, Fetch v2); 0.11 and later send record batches. So the broker up-converts legacy
 * message sets (compressed ones included) to record batches on the way in, and down-converts
 * record batches to message sets for old fetches on the way out — including batches another
 * client (kcat) wrote with headers that magic 0/1 cannot carry.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { BrokerProcess, REPO_ROOT } from "./support/broker-process.js";
import { storedBatches } from "./support/log-files.js";
import { requireClient, run, runOk, SARAMA_ENV } from "./support/run.js";

const COUNT = 25;

let broker: BrokerProcess;
let buildDir: string;
let sarama: string;

before(async () => {
  requireClient("go-sarama");
  requireClient("kcat");
  buildDir = await mkdtemp(path.join(tmpdir(), "samsa-e2e-sarama-"));
  sarama = path.join(buildDir, "sarama");
  // The first build compiles sarama and its dependencies (tens of seconds on a fresh machine).
  await runOk("go", ["build", "-o", sarama, "main.go"], {
    cwd: path.join(REPO_ROOT, "tests/e2e/clients/sarama"),
    env: { ...process.env, ...SARAMA_ENV },
    timeoutMs: 240_000,
  });
  broker = await BrokerProcess.start();
});

after(async () => {
  await broker?.stop();
  await broker?.dispose();
  if (buildDir !== undefined) await rm(buildDir, { recursive: true, force: true });
});

interface SaramaMessage {
  offset: number;
  key: string;
  value: string;
  headers: string[][];
  timestamp: number;
}

function jsonLines<T>(stdout: string): T[] {
  return stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as T);
}

async function produce(topic: string, version: string, codec: string): Promise<number[]> {
  const r = await runOk(sarama, ["produce", broker.bootstrap, topic, version, codec, String(COUNT)], {
    timeoutMs: 30_000,
  });
  return jsonLines<{ offsets: number[] }>(r.stdout)[0].offsets;
}

async function consume(topic: string, version: string, count: number) {
  const r = await runOk(sarama, ["consume", broker.bootstrap, topic, version, String(count)], { timeoutMs: 30_000 });
  const lines = jsonLines<SaramaMessage & { oldest: number; newest: number }>(r.stdout);
  return { watermarks: lines[0], messages: lines.slice(1) };
}

const CASES = [
  // version, codec, what the produce request carries
  ["default", "none", "Produce v0, magic 0"],
  ["default", "gzip", "Produce v0, gzip-wrapped magic 0"],
  ["default", "snappy", "Produce v0, snappy-wrapped magic 0 (xerial framing)"],
  ["0.10.0.0", "none", "Produce v2, magic 1"],
  ["0.10.0.0", "lz4", "Produce v2, lz4-wrapped magic 1"],
  ["0.11.0.0", "gzip", "Produce v3, record batch"],
  ["2.1.0", "snappy", "Produce v3, snappy record batch"],
] as const;

describe("sarama 1.22.1", () => {
  for (const [version, codec, what] of CASES) {
    test(`sync produce then consume the partition at protocol level ${version} (${what})`, async () => {
      const topic = `sarama-${version.replaceAll(".", "_")}-${codec}`;
      const offsets = await produce(topic, version, codec);
      assert.deepEqual(
        offsets,
        Array.from({ length: COUNT }, (_, i) => i),
      );
      // Whatever arrived, the log holds record batches (magic 2) only.
      for (const b of await storedBatches(broker.dataDir, topic, 0)) assert.equal(b.magic, 2);
      const { watermarks, messages } = await consume(topic, version, COUNT);
      assert.deepEqual([watermarks.oldest, watermarks.newest], [0, COUNT]);
      assert.deepEqual(
        messages.map((m) => [m.offset, m.key, m.value]),
        Array.from({ length: COUNT }, (_, i) => [i, `key-${i}`, `sarama ${version} ${codec} ${i}`]),
      );
    });
  }

  test("zstd in a Produce request older than v7 is UNSUPPORTED_COMPRESSION_TYPE, as in Kafka", async () => {
    // sarama 1.22.1 sends zstd batches in Produce v3; Kafka refuses them (ProduceRequest.validateRecords).
    const r = await run(sarama, ["produce", broker.bootstrap, "sarama-zstd", "2.1.0", "zstd", "3"], {
      timeoutMs: 30_000,
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /compression/i, r.stderr);
  });

  test("Fetch v0, v2 and v4 serve record batches another client wrote (down-converted for v0 and v2)", async () => {
    const lines = Array.from({ length: COUNT }, (_, i) => `k${i}:v${i}`);
    const kcatProduce = (topic: string, codec: string) =>
      runOk("kcat", ["-b", broker.bootstrap, "-P", "-t", topic, "-p", "0", "-K", ":", "-H", "h=1", "-z", codec], {
        input: `${lines.join("\n")}\n`,
        timeoutMs: 30_000,
      });
    await kcatProduce("sarama-downconvert", "none");
    await kcatProduce("sarama-downconvert", "gzip");
    // lz4 is left out at magic 0: like Kafka, the broker writes magic-0 lz4 with the old broken
    // frame checksum (KAFKA-3160), which sarama's lz4 reader refuses.
    await kcatProduce("sarama-downconvert-lz4", "lz4");
    const expected = [...lines, ...lines].map((l, i) => [i, l.split(":")[0], l.split(":")[1]]);
    for (const [topic, version, count] of [
      ["sarama-downconvert", "default", 2 * COUNT],
      ["sarama-downconvert", "0.10.0.0", 2 * COUNT],
      ["sarama-downconvert", "0.11.0.0", 2 * COUNT],
      ["sarama-downconvert-lz4", "0.10.0.0", COUNT],
      ["sarama-downconvert-lz4", "0.11.0.0", COUNT],
    ] as const) {
      const { messages } = await consume(topic, version, count);
      assert.deepEqual(
        messages.map((m) => [m.offset, m.key, m.value]),
        expected.slice(0, count),
        `${topic} at protocol level ${version}`,
      );
      if (version === "0.11.0.0") assert.deepEqual(messages[0].headers, [["h", "1"]]);
      else assert.deepEqual(messages[0].headers, [], "magic 0/1 have no headers");
      if (version !== "default") assert.ok(messages[0].timestamp > 0, "magic 1 and 2 carry the timestamp");
    }
  });
});
