/**
 * `samsa produce` and `samsa consume` as a user runs them: spawned CLI processes reading stdin and
 * writing stdout, against a real broker process, cross-checked with kcat in both directions.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { BrokerProcess, REPO_ROOT } from "./support/broker-process.js";
import { CODEC_IDS, storedBatches } from "./support/log-files.js";
import { type RunResult, requireClient, run, runOk } from "./support/run.js";

let broker: BrokerProcess;

/** Runs `samsa args...` from source (as the broker is started) against the test broker. */
function samsa(args: string[], input?: string): Promise<RunResult> {
  return run(
    process.execPath,
    ["--conditions=samsa-source", "--import", "tsx", "apps/cli/src/run.ts", ...args, "--brokers", broker.bootstrap],
    { cwd: REPO_ROOT, input, timeoutMs: 60_000 },
  );
}

async function samsaOk(args: string[], input?: string): Promise<RunResult> {
  const r = await samsa(args, input);
  assert.equal(r.code, 0, `samsa ${args.join(" ")} exited ${r.code}\n${r.stderr}\n${broker.logTail(20)}`);
  return r;
}

interface KcatMessage {
  partition: number;
  offset: number;
  key: string | null;
  payload: string | null;
  headers?: string[];
}

interface CliRecord {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  key: string | null;
  value: string | null;
  headers: Record<string, string | null> | { key: string; value: string | null }[];
}

function kcat(args: string[], input?: string) {
  return runOk("kcat", ["-b", broker.bootstrap, ...args], { input, timeoutMs: 30_000 });
}

/** Every record of a topic (all partitions), as kcat's JSON envelopes. */
async function kcatAll(topic: string): Promise<KcatMessage[]> {
  const r = await kcat(["-C", "-t", topic, "-o", "beginning", "-e", "-J", "-q"]);
  return r.stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as KcatMessage);
}

/** `samsa consume --format json` to the end of the topic (it exits after a second without records). */
async function consumeJson(topic: string, extra: string[] = []): Promise<CliRecord[]> {
  const r = await samsaOk(["consume", "--topic", topic, "--format", "json", "--exit-on-idle", "1500", ...extra]);
  return r.stdout
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as CliRecord);
}

before(async () => {
  requireClient("kcat");
  broker = await BrokerProcess.start();
});

after(async () => {
  await broker?.stop();
  await broker?.dispose();
});

describe("samsa produce", () => {
  test("keys, values and headers from stdin reach kcat", async () => {
    await samsaOk(["topic", "create", "--topic", "cli-keys", "--partitions", "1"]);
    const r = await samsaOk(
      ["produce", "--topic", "cli-keys", "--key-separator", "::", "--header", "source=cli", "--header", "trace=a=b"],
      "k1::v1\nk2::value with :: inside\nno separator here\n::empty key\n",
    );
    assert.equal(r.stdout, "");
    const got = await kcatAll("cli-keys");
    assert.deepEqual(
      got.map((m) => [m.key, m.payload]),
      [
        ["k1", "v1"],
        ["k2", "value with :: inside"],
        [null, "no separator here"],
        ["", "empty key"],
      ],
    );
    for (const m of got) assert.deepEqual(m.headers, ["source", "cli", "trace", "a=b"]);
  });

  test("keyed records land where Java's default partitioner puts them (as kcat's murmur2 does)", async () => {
    await samsaOk(["topic", "create", "--topic", "cli-part-samsa", "--partitions", "5"]);
    await samsaOk(["topic", "create", "--topic", "cli-part-kcat", "--partitions", "5"]);
    const lines = Array.from({ length: 60 }, (_, i) => `user-${i * 7919}:v${i}`);
    await samsaOk(["produce", "--topic", "cli-part-samsa", "--key-separator", ":"], `${lines.join("\n")}\n`);
    await kcat(
      ["-P", "-t", "cli-part-kcat", "-K", ":", "-X", "topic.partitioner=murmur2_random"],
      `${lines.join("\n")}\n`,
    );
    const partitionByKey = (ms: KcatMessage[]) => new Map(ms.map((m) => [m.key, m.partition]));
    const ours = partitionByKey(await kcatAll("cli-part-samsa"));
    const theirs = partitionByKey(await kcatAll("cli-part-kcat"));
    assert.equal(ours.size, 60);
    assert.deepEqual(ours, theirs);
    assert.ok(new Set(ours.values()).size > 1, "keys spread over partitions");
  });

  test("--partition, --acks 1 and --compression gzip; a large input is acknowledged in full before exit", async () => {
    await samsaOk(["topic", "create", "--topic", "cli-bulk", "--partitions", "3"]);
    const count = 20_000;
    const input = Array.from({ length: count }, (_, i) => `record ${i} ${"x".repeat(40)}`).join("\n");
    await samsaOk(
      ["produce", "--topic", "cli-bulk", "--partition", "2", "--acks", "1", "--compression", "gzip"],
      input,
    );
    const got = await kcatAll("cli-bulk");
    assert.equal(got.length, count);
    assert.ok(got.every((m) => m.partition === 2));
    assert.deepEqual(
      got.map((m) => m.payload),
      input.split("\n"),
      "every record, in input order",
    );
    const batches = await storedBatches(broker.dataDir, "cli-bulk", 2);
    assert.ok(batches.length > 0);
    for (const b of batches) assert.equal(b.compression, CODEC_IDS.gzip);
  });

  test("a topic that does not exist is created when the broker allows it, as Kafka's console producer does", async () => {
    await samsaOk(["produce", "--topic", "cli-auto"], "hello\n");
    assert.deepEqual(
      (await kcatAll("cli-auto")).map((m) => m.payload),
      ["hello"],
    );
  });

  test("bad flag values are refused before anything is sent", async () => {
    const r = await samsa(["produce", "--topic", "cli-keys", "--acks", "2"], "x\n");
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: option '--acks <acks>' argument '2' is invalid\./);
    const partition = await samsa(["produce", "--topic", "cli-keys", "--partition", "4"], "x\n");
    assert.equal(partition.code, 1);
    assert.equal(partition.stderr, "samsa: Topic 'cli-keys' has no partition 4 (it has 1).\n");
    const c = await samsa(["produce", "--topic", "cli-keys", "--compression", "brotli"], "x\n");
    assert.equal(c.code, 1);
    assert.match(c.stderr, /^error: option '--compression <codec>' argument 'brotli' is invalid\./);
  });
});

describe("samsa consume", () => {
  before(async () => {
    // kcat writes: keys, a null value (-Z), unique headers, then repeated header names.
    await kcat(
      ["-P", "-t", "cli-from-kcat", "-p", "0", "-K", ":", "-Z", "-H", "h1=one", "-H", "h2=two"],
      "a:alpha\nb:\n",
    );
    await kcat(["-P", "-t", "cli-from-kcat", "-p", "0", "-K", ":", "-H", "dup=1", "-H", "dup=2"], "c:gamma\n");
    await kcat(["-P", "-t", "cli-from-kcat", "-p", "0"], "no key\n");
  });

  test("json: topic, partition, offset, timestamp, key, value and headers of kcat's records", async () => {
    const before = Date.now();
    const got = await consumeJson("cli-from-kcat", ["--from-beginning"]);
    assert.equal(got.length, 4);
    assert.deepEqual(
      got.map(({ timestamp: _, ...rest }) => rest),
      [
        {
          topic: "cli-from-kcat",
          partition: 0,
          offset: 0,
          key: "a",
          value: "alpha",
          headers: { h1: "one", h2: "two" },
        },
        { topic: "cli-from-kcat", partition: 0, offset: 1, key: "b", value: null, headers: { h1: "one", h2: "two" } },
        {
          topic: "cli-from-kcat",
          partition: 0,
          offset: 2,
          key: "c",
          value: "gamma",
          headers: [
            { key: "dup", value: "1" },
            { key: "dup", value: "2" },
          ],
        },
        { topic: "cli-from-kcat", partition: 0, offset: 3, key: null, value: "no key", headers: {} },
      ],
    );
    for (const r of got) assert.ok(r.timestamp > before - 120_000 && r.timestamp <= Date.now(), String(r.timestamp));
  });

  test("--binary prints base64; text prints values (with --print-key, key TAB value)", async () => {
    const binary = await consumeJson("cli-from-kcat", ["--from-beginning", "--binary", "--max-messages", "1"]);
    assert.equal(binary[0].key, Buffer.from("a").toString("base64"));
    assert.equal(binary[0].value, Buffer.from("alpha").toString("base64"));
    assert.deepEqual(binary[0].headers, {
      h1: Buffer.from("one").toString("base64"),
      h2: Buffer.from("two").toString("base64"),
    });

    const text = await samsaOk(["consume", "--topic", "cli-from-kcat", "--from-beginning", "--exit-on-idle", "1500"]);
    assert.equal(text.stdout, "alpha\nnull\ngamma\nno key\n");
    const keyed = await samsaOk([
      "consume",
      "--topic",
      "cli-from-kcat",
      "--from-beginning",
      "--max-messages",
      "2",
      "--print-key",
    ]);
    assert.equal(keyed.stdout, "a\talpha\nb\tnull\n");
  });

  test("--max-messages exits after N; --offset and --partition start where asked; --from-time by timestamp", async () => {
    const two = await samsaOk(["consume", "--topic", "cli-from-kcat", "--from-beginning", "--max-messages", "2"]);
    assert.equal(two.stdout.split("\n").filter((l) => l !== "").length, 2);

    const fromTwo = await consumeJson("cli-from-kcat", ["--partition", "0", "--offset", "2"]);
    assert.deepEqual(
      fromTwo.map((r) => r.offset),
      [2, 3],
    );

    const all = await consumeJson("cli-from-kcat", ["--from-beginning"]);
    const fromTime = await consumeJson("cli-from-kcat", ["--from-time", String(all[3].timestamp)]);
    assert.ok(fromTime.length >= 1 && fromTime.every((r) => r.timestamp >= all[3].timestamp));
    assert.equal(fromTime.at(-1)?.offset, 3);
    const iso = await consumeJson("cli-from-kcat", ["--from-time", new Date(all[3].timestamp).toISOString()]);
    assert.deepEqual(iso, fromTime);
  });

  test("without a start flag it reads only new records; --exit-on-idle exits 0 with nothing printed", async () => {
    const started = Date.now();
    const r = await samsaOk(["consume", "--topic", "cli-from-kcat", "--exit-on-idle", "1000"]);
    assert.equal(r.stdout, "");
    assert.ok(Date.now() - started >= 1000);
  });

  test("a missing topic, a missing partition and conflicting flags are named in one sentence", async () => {
    const missing = await samsa(["consume", "--topic", "cli-nope", "--exit-on-idle", "500"]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, "samsa: Topic 'cli-nope' does not exist.\n");

    const partition = await samsa(["consume", "--topic", "cli-from-kcat", "--partition", "7", "--exit-on-idle", "500"]);
    assert.equal(partition.code, 1);
    assert.equal(partition.stderr, "samsa: Topic 'cli-from-kcat' has no partition 7 (it has 1).\n");

    const conflict = await samsa(["consume", "--topic", "cli-from-kcat", "--from-beginning", "--offset", "3"]);
    assert.equal(conflict.code, 1);
    assert.match(
      conflict.stderr,
      /^error: option '--from-beginning' cannot be used with option '--offset <offset>'\n$/,
    );

    const format = await samsa(["consume", "--topic", "cli-from-kcat", "--format", "xml"]);
    assert.equal(format.code, 1);
    assert.match(format.stderr, /^error: option '--format <format>' argument 'xml' is invalid\./);
  });

  test("a CLI produce and a CLI consume round-trip keys, values and headers", async () => {
    await samsaOk(["topic", "create", "--topic", "cli-roundtrip", "--partitions", "2"]);
    await samsaOk(
      ["produce", "--topic", "cli-roundtrip", "--key-separator", "=", "--header", "app=samsa"],
      "k1=héllo wörld\nk2=second\n",
    );
    const got = await consumeJson("cli-roundtrip", ["--from-beginning"]);
    assert.deepEqual(got.map((r) => [r.key, r.value, r.headers]).sort(), [
      ["k1", "héllo wörld", { app: "samsa" }],
      ["k2", "second", { app: "samsa" }],
    ]);
  });
});
