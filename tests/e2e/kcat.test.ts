/**
 * kcat (librdkafka) against a real broker process: produce with keys and headers in every codec
 * and read it back, list metadata (-L), and look offsets up by timestamp (-Q).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { BrokerProcess } from "./support/broker-process.js";
import { CODEC_IDS, CODECS, storedBatches } from "./support/log-files.js";
import { requireClient, runOk } from "./support/run.js";

interface KcatMessage {
  topic: string;
  partition: number;
  offset: number;
  tstype: string;
  ts: number;
  key: string | null;
  payload: string | null;
  headers?: string[];
}

let broker: BrokerProcess;

function kcat(args: string[], input?: string) {
  return runOk("kcat", ["-b", broker.bootstrap, ...args], { input, timeoutMs: 30_000 });
}

/** Consumes a partition from the beginning to its end, as kcat's JSON envelopes. */
async function consumeAll(topic: string, partition = 0): Promise<KcatMessage[]> {
  const r = await kcat(["-C", "-t", topic, "-p", String(partition), "-o", "beginning", "-e", "-J", "-q"]);
  return r.stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as KcatMessage);
}

before(async () => {
  requireClient("kcat");
  broker = await BrokerProcess.start();
});

after(async () => {
  await broker?.stop();
  await broker?.dispose();
});

describe("kcat", () => {
  for (const codec of CODECS) {
    test(`produce with keys and headers (${codec}) and consume them back; the batch is stored as sent`, async (t) => {
      const topic = `kcat-${codec}`;
      const lines = Array.from({ length: 20 }, (_, i) => `key-${i}:value ${i} ${"compressible ".repeat(8)}`);
      await kcat(
        ["-P", "-t", topic, "-p", "0", "-K", ":", "-H", `codec=${codec}`, "-H", "trace=e2e", "-z", codec],
        `${lines.join("\n")}\n`,
      );
      const got = await consumeAll(topic);
      assert.equal(got.length, lines.length, broker.logTail());
      got.forEach((m, i) => {
        assert.equal(m.offset, i);
        assert.equal(m.key, `key-${i}`);
        assert.equal(m.payload, lines[i].slice(lines[i].indexOf(":") + 1));
        assert.deepEqual(m.headers, ["codec", codec, "trace", "e2e"]);
        assert.equal(m.tstype, "create");
      });
      const batches = await storedBatches(broker.dataDir, topic, 0);
      t.diagnostic(`${batches.length} batch(es) on disk`);
      assert.ok(batches.length > 0);
      for (const b of batches) {
        assert.equal(b.magic, 2);
        assert.equal(b.compression, CODEC_IDS[codec], `batch at ${b.baseOffset} keeps the producer's codec`);
      }
    });
  }

  test("empty keys and empty values survive", async () => {
    const topic = "kcat-edge";
    // Without -Z, kcat sends an empty key or value as empty, not null.
    await kcat(["-P", "-t", topic, "-p", "0", "-K", "|"], "|\nk|\n|x\n");
    const got = await consumeAll(topic);
    assert.deepEqual(
      got.map((m) => [m.key, m.payload]),
      [
        ["", ""],
        ["k", ""],
        ["", "x"],
      ],
    );
  });

  test("-L lists this broker as controller, the topics and their partitions", async () => {
    await kcat(["-P", "-t", "kcat-meta", "-p", "0"], "one\n");
    const r = await kcat(["-L", "-J"]);
    const meta = JSON.parse(r.stdout) as {
      controllerid: number;
      brokers: { id: number; name: string }[];
      topics: { topic: string; partitions: { partition: number; leader: number; replicas: { id: number }[] }[] }[];
    };
    assert.equal(meta.controllerid, 0);
    assert.deepEqual(meta.brokers, [{ id: 0, name: broker.bootstrap }]);
    const topic = meta.topics.find((t) => t.topic === "kcat-meta");
    assert.ok(topic, `kcat-meta in ${r.stdout}`);
    assert.equal(topic.partitions.length, 1);
    assert.equal(topic.partitions[0].leader, 0);
    assert.deepEqual(
      topic.partitions[0].replicas.map((x) => x.id),
      [0],
    );
    // A topic nobody asked to create is created on first metadata request (auto.create.topics.enable).
    const auto = JSON.parse((await kcat(["-L", "-J", "-t", "kcat-auto-created"])).stdout) as typeof meta;
    assert.equal(auto.topics[0].topic, "kcat-auto-created");
    assert.equal(auto.topics[0].partitions.length, 1);
  });

  test("-Q finds the first offset at or after a timestamp; -1 and -2 are the end and the start", async () => {
    const topic = "kcat-times";
    await kcat(["-P", "-t", topic, "-p", "0"], "a\nb\nc\n");
    // A second run a little later has later timestamps: wait until the clock has moved on.
    const firstTs = (await consumeAll(topic)).at(-1)!.ts;
    while (Date.now() <= firstTs) await new Promise((r) => setImmediate(r));
    await kcat(["-P", "-t", topic, "-p", "0"], "d\ne\n");
    const all = await consumeAll(topic);
    assert.equal(all.length, 5);
    const query = async (ts: number) => {
      const out = (await kcat(["-Q", "-t", `${topic}:0:${ts}`])).stdout;
      const m = /offset (-?\d+)/.exec(out);
      assert.ok(m, out);
      return Number(m[1]);
    };
    for (const target of [all[0].ts, all[3].ts, all[4].ts]) {
      const expected = all.find((m) => m.ts >= target)!.offset;
      assert.equal(await query(target), expected, `first offset with timestamp >= ${target}`);
    }
    assert.equal(await query(all[4].ts + 60_000), -1, "no record that late: offset -1 (librdkafka prints END)");
    assert.equal(await query(-1), 5, "-1 is the log end offset");
    assert.equal(await query(-2), 0, "-2 is the log start offset");
  });
});
