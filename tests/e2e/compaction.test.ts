/**
 * Compaction end to end: confluent-kafka-python creates a compacted topic (cleanup.policy=compact
 * via CreateTopics configs, small segment.bytes and segment.ms so segments roll) and produces
 * several rounds of values per key plus tombstones; the broker's log cleaner (backoff lowered to
 * a second) compacts it; kcat then consumes the topic from the beginning and must see the latest
 * value of every key, offsets ascending with gaps, each key once in the cleaned part. A record
 * without a key is refused with INVALID_RECORD.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { BrokerProcess, REPO_ROOT } from "./support/broker-process.js";
import { PYTHON, requireClient, runOk } from "./support/run.js";

const DRIVER = path.join(REPO_ROOT, "tests/e2e/clients/compaction_client.py");
const ROUNDS = 10;
const KEYS = 50;
const TOMBSTONES = 5;

interface KcatMessage {
  offset: number;
  key: string | null;
  payload: string | null;
}

let broker: BrokerProcess;

async function py(args: string[]): Promise<Record<string, unknown>> {
  const r = await runOk(PYTHON, [DRIVER, args[0]!, broker.bootstrap, ...args.slice(1)], { timeoutMs: 60_000 });
  const lines = r.stdout.split("\n").filter((l) => l.startsWith("{"));
  return JSON.parse(lines.at(-1)!) as Record<string, unknown>;
}

async function consumeAll(topic: string): Promise<KcatMessage[]> {
  const r = await runOk(
    "kcat",
    ["-b", broker.bootstrap, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-J", "-q"],
    { timeoutMs: 30_000 },
  );
  return r.stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as KcatMessage);
}

before(async () => {
  requireClient("kcat");
  requireClient("python-confluent-kafka");
  broker = await BrokerProcess.start({ set: ["log.cleaner.backoff.ms=1000"] });
});

after(async () => {
  await broker?.stop();
  await broker?.dispose();
});

describe("compaction", () => {
  test("kcat reads the latest value of every key after the cleaner ran; tombstones from confluent-kafka-python", async () => {
    const topic = "compacted-e2e";
    await py([
      "create",
      topic,
      JSON.stringify({
        "cleanup.policy": "compact",
        "segment.bytes": "8192",
        "segment.ms": "500",
        "min.cleanable.dirty.ratio": "0.01",
        "delete.retention.ms": "600000",
      }),
    ]);
    const produced = (await py(["produce", topic, String(ROUNDS), String(KEYS), String(TOMBSTONES)])) as {
      latest: Record<string, string | null>;
      errors: string[];
    };
    assert.deepEqual(produced.errors, []);
    const total = ROUNDS * KEYS + TOMBSTONES;
    // segment.ms rolls only on an append: one more record, later, closes the last segment.
    await new Promise((r) => setTimeout(r, 600));
    await py(["produce", topic, "1", "1", "0"]);
    produced.latest["key-0"] = "value-0-round-0";

    // Await the cleaner (backoff 1 s): the log from the beginning shrinks to about one record per key.
    let got: KcatMessage[] = [];
    const deadline = Date.now() + 30_000;
    for (;;) {
      got = await consumeAll(topic);
      if (got.length <= KEYS + 1) break;
      assert.ok(Date.now() < deadline, `the log was not compacted: ${got.length} records\n${broker.logTail()}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(got.length < total);
    for (let i = 1; i < got.length; i++) assert.ok(got[i]!.offset > got[i - 1]!.offset, "offsets ascend");
    const last = new Map<string, string | null>();
    for (const m of got) last.set(m.key!, m.payload);
    for (const [key, value] of Object.entries(produced.latest)) {
      if (value === null) assert.ok(!last.has(key) || last.get(key) === null, `${key} was deleted`);
      else assert.equal(last.get(key), value, `latest value of ${key}`);
    }
    // Tombstones stay until delete.retention.ms has passed since the cleaner first saw them.
    for (let k = 1; k < TOMBSTONES; k++) assert.equal(last.get(`key-${k}`), null, `tombstone of key-${k} is kept`);
    assert.ok(
      broker.lines.some((l) => l.msg === "log cleaned"),
      "the broker logged a cleaning pass",
    );
  });

  test("a record without a key is refused on a compacted topic", async () => {
    const topic = "compacted-keyless";
    await py(["create", topic, JSON.stringify({ "cleanup.policy": "compact" })]);
    const r = (await py(["keyless", topic])) as { error: string | null };
    assert.equal(r.error, "INVALID_RECORD");
  });
});
