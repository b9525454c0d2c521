/**
 * Captures golden request bytes from real Kafka clients.
 *
 *   node --conditions=samsa-source --import tsx scripts/golden/capture.ts [client ...]
 *
 * Starts a fake broker (fake-broker.ts) on 127.0.0.1 at a random port, drives each client through
 * its normal flow against it with the client's default settings (no pinned protocol versions: what
 * a client sends by default is the point), and saves each distinct request frame it receives,
 * without the 4-byte size prefix, as
 *
 *   packages/protocol/test/golden/<client>/<apiKey 2 digits>-<api-kebab>-v<version>[-<n>].bin
 *
 * plus packages/protocol/test/golden/manifest.json: for each file the client and its exact version,
 * the command that produced it, the API and version, and when. The test suite reads the fixtures
 * (packages/protocol/src/golden.test.ts); it never runs this.
 *
 * With client names (kcat, kafkajs, confluent-kafka-python, kafka-python, sarama) only those are
 * re-captured; the other clients' fixtures and manifest entries are kept.
 *
 * Needs the clients installed by scripts/install-test-deps.sh, and KafkaJS from npm.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { type ApiDescriptor, apiByKey, peekRequestHeader } from "@samsa/protocol";
import { apiName, FakeBroker } from "./fake-broker.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, "..", "..");
const GOLDEN_DIR = join(REPO, "packages", "protocol", "test", "golden");
const MANIFEST = join(GOLDEN_DIR, "manifest.json");

/**
 * Distinct frames kept per step, API and version (frames already kept for the same client are not
 * kept again): enough to show what each flow sends, few enough to review.
 */
const MAX_FRAMES_PER_STEP = 2;
/** Produce frames carry the record batches the tests check, one per codec for kcat. */
const MAX_PRODUCE_FRAMES = 8;
/** A fixture bigger than this is a sign the capture picked up something unintended. */
const MAX_FIXTURE_BYTES = 8 * 1024;
const STEP_TIMEOUT_MS = 90_000;
/** Placeholder for the random port in the commands written to the manifest. */
const BROKER = "<broker>";
/** The fixed timestamp kcat -Q asks for, so the ListOffsets fixture is the same on every run. */
const QUERY_TIMESTAMP_MS = 1_700_000_000_000;

/** A record a client was told to produce; headers keep their order. */
interface GivenRecord {
  key: string;
  value: string;
  headers: [string, string][];
}

/** What a step gave the client, written to the manifest so the tests can check the decoded bytes. */
type StepInput =
  | { kind: "produce"; topic: string; compression: "none" | "gzip" | "snappy" | "lz4" | "zstd"; records: GivenRecord[] }
  | {
      kind: "createTopics";
      topics: { name: string; numPartitions: number; replicationFactor: number; configs: Record<string, string> }[];
    }
  | { kind: "topic"; topic: string };

interface Step {
  id: string;
  client: ClientName;
  /** argv; BROKER is replaced by the fake broker's address. */
  argv: string[];
  stdin?: string;
  env?: Record<string, string>;
  inputs?: StepInput[];
}

const CLIENTS = ["kcat", "kafkajs", "confluent-kafka-python", "kafka-python", "sarama"] as const;
type ClientName = (typeof CLIENTS)[number];

/**
 * Three records with keys and (optionally) headers. Every value compresses well: librdkafka sends
 * a batch uncompressed when compressing does not shrink it, and kcat may split the three lines
 * over two batches (its default linger.ms is 5), so a short value alone in a batch would arrive
 * with codec none.
 */
function records(tag: string, withHeaders = true): GivenRecord[] {
  const headers: [string, string][] = withHeaders
    ? [
        ["trace", `golden-${tag}`],
        ["source", "samsa-capture"],
      ]
    : [];
  const filler = "compressible text ".repeat(6).trim();
  return [
    { key: "alpha", value: `first message (${tag}): ${filler}`, headers },
    { key: "beta", value: `second message: ${filler}`, headers },
    { key: "gamma", value: `third: ${filler}`, headers },
  ];
}

const KCAT_CODECS = ["none", "gzip", "snappy", "lz4", "zstd"] as const;

function kcatSteps(): Step[] {
  const steps: Step[] = [];
  for (const codec of KCAT_CODECS) {
    const topic = `golden-kcat-${codec}`;
    const given = records(`kcat-${codec}`);
    // kcat -H gives every message the same headers, which records() does too.
    const headerArgs = given[0].headers.flatMap(([k, v]) => ["-H", `${k}=${v}`]);
    steps.push({
      id: `kcat-produce-${codec}`,
      client: "kcat",
      // -p 0: one partition, so each codec is one batch in one Produce request.
      argv: [
        "kcat",
        "-b",
        BROKER,
        "-P",
        "-t",
        topic,
        "-p",
        "0",
        "-K",
        ":",
        ...headerArgs,
        ...(codec === "none" ? [] : ["-z", codec]),
      ],
      stdin: given.map((r) => `${r.key}:${r.value}\n`).join(""),
      inputs: [{ kind: "produce", topic, compression: codec, records: given }],
    });
  }
  steps.push(
    {
      id: "kcat-consume",
      client: "kcat",
      argv: ["kcat", "-b", BROKER, "-C", "-t", "golden-kcat-none", "-o", "beginning", "-c", "3", "-e"],
      inputs: [{ kind: "topic", topic: "golden-kcat-none" }],
    },
    {
      id: "kcat-group-consume",
      client: "kcat",
      argv: [
        "kcat",
        "-b",
        BROKER,
        "-G",
        "golden-kcat-group",
        "-X",
        "auto.offset.reset=earliest",
        "-c",
        "3",
        "-e",
        "golden-kcat-gzip",
      ],
      inputs: [{ kind: "topic", topic: "golden-kcat-gzip" }],
    },
    {
      id: "kcat-query-offsets",
      client: "kcat",
      argv: ["kcat", "-b", BROKER, "-Q", "-t", `golden-kcat-none:0:${QUERY_TIMESTAMP_MS}`],
      inputs: [{ kind: "topic", topic: "golden-kcat-none" }],
    },
    { id: "kcat-list", client: "kcat", argv: ["kcat", "-b", BROKER, "-L"] },
    {
      id: "kcat-list-topic",
      client: "kcat",
      argv: ["kcat", "-b", BROKER, "-L", "-t", "golden-kcat-none"],
      inputs: [{ kind: "topic", topic: "golden-kcat-none" }],
    },
  );
  return steps;
}

function kafkajsSteps(): Step[] {
  const topic = {
    name: "golden-kafkajs-admin",
    numPartitions: 2,
    replicationFactor: 1,
    configs: { "cleanup.policy": "compact", "retention.ms": "86400000" },
  };
  const given = records("kafkajs");
  const driver = (mode: string, plan: object) => [
    "node",
    "--import",
    "tsx",
    "scripts/golden/kafkajs-driver.ts",
    BROKER,
    mode,
    JSON.stringify(plan),
  ];
  const env = { KAFKAJS_NO_PARTITIONER_WARNING: "1" };
  return [
    {
      id: "kafkajs-admin",
      client: "kafkajs",
      argv: driver("admin", { topic }),
      env,
      inputs: [{ kind: "createTopics", topics: [topic] }],
    },
    {
      id: "kafkajs-produce-gzip",
      client: "kafkajs",
      argv: driver("produce", { topic: "golden-kafkajs", records: given }),
      env,
      inputs: [{ kind: "produce", topic: "golden-kafkajs", compression: "gzip", records: given }],
    },
    {
      id: "kafkajs-consume-group",
      client: "kafkajs",
      argv: driver("consume", { topic: "golden-kafkajs", group: "golden-kafkajs-group", count: given.length }),
      env,
      inputs: [{ kind: "topic", topic: "golden-kafkajs" }],
    },
  ];
}

/** The Python and Go drivers share one command line: <broker> produce <topic> <json> | consume <topic> [group] <count>. */
function produceConsumeSteps(
  client: ClientName,
  command: string[],
  topic: string,
  group: string | undefined,
  given: GivenRecord[],
  env?: Record<string, string>,
): Step[] {
  return [
    {
      id: `${client}-produce`,
      client,
      argv: [...command, BROKER, "produce", topic, JSON.stringify(given)],
      env,
      inputs: [{ kind: "produce", topic, compression: "none", records: given }],
    },
    {
      id: `${client}-consume`,
      client,
      argv: [...command, BROKER, "consume", topic, ...(group === undefined ? [] : [group]), String(given.length)],
      env,
      inputs: [{ kind: "topic", topic }],
    },
  ];
}

const confluentSteps = () =>
  produceConsumeSteps(
    "confluent-kafka-python",
    ["/usr/bin/python3", "scripts/golden/confluent_kafka_driver.py"],
    "golden-confluent",
    "golden-confluent-group",
    records("confluent"),
  );

const kafkaPythonSteps = () =>
  produceConsumeSteps(
    "kafka-python",
    ["/usr/bin/python3", "scripts/golden/kafka_python_driver.py"],
    "golden-kafka-python",
    "golden-kafka-python-group",
    records("kafka-python"),
  );

// sarama's default protocol version (0.8.2) predates record headers, so its records have none.
const saramaSteps = () =>
  produceConsumeSteps(
    "sarama",
    ["go", "run", "scripts/golden/sarama/main.go"],
    "golden-sarama",
    undefined,
    records("sarama", false),
    {
      GO111MODULE: "off",
      GOPATH: "/usr/share/gocode",
    },
  );

const STEPS: Record<ClientName, () => Step[]> = {
  kcat: kcatSteps,
  kafkajs: kafkajsSteps,
  "confluent-kafka-python": confluentSteps,
  "kafka-python": kafkaPythonSteps,
  sarama: saramaSteps,
};

/** The exact client (and library) versions, read from the installed clients themselves. */
function clientVersion(client: ClientName): string {
  const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: "utf8" }).trim();
  switch (client) {
    case "kcat": {
      const v = run("kcat", ["-V"]);
      const kcat = /Version (\S+)/.exec(v)?.[1];
      const rdkafka = /librdkafka (\S+)/.exec(v)?.[1];
      return `kcat ${kcat} (librdkafka ${rdkafka})`;
    }
    case "kafkajs": {
      const pkg = createRequire(join(REPO, "package.json"))("kafkajs/package.json") as { version: string };
      return `kafkajs ${pkg.version} (node ${process.versions.node})`;
    }
    case "confluent-kafka-python":
      return run("/usr/bin/python3", [
        "-c",
        "import confluent_kafka, sys; print('confluent-kafka-python %s (librdkafka %s, python %s)' % (confluent_kafka.version()[0], confluent_kafka.libversion()[0], sys.version.split()[0]))",
      ]);
    case "kafka-python":
      return run("/usr/bin/python3", [
        "-c",
        "import kafka, sys; print('kafka-python %s (python %s)' % (kafka.__version__, sys.version.split()[0]))",
      ]);
    case "sarama": {
      // sarama 1.22 has no version constant; the Debian package carries it.
      // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
      const pkg = run("dpkg-query", ["-W", "-f=${Version}", "golang-github-shopify-sarama-dev"]);
      const go = run("go", ["version"]).split(" ")[2];
      return `sarama ${pkg.replace(/-[^-]+$/, "")} (Debian golang-github-shopify-sarama-dev ${pkg}, ${go})`;
    }
  }
}

interface Fixture {
  file: string;
  client: ClientName;
  clientVersion: string;
  step: string;
  command: string;
  apiKey: number;
  api: string;
  version: number;
  clientId: string | null;
  capturedAt: string;
  bytes: Buffer;
}

interface ManifestStep {
  id: string;
  client: ClientName;
  command: string;
  inputs?: StepInput[];
}

interface Manifest {
  description: string;
  capturedWith: string;
  clients: Partial<Record<ClientName, string>>;
  steps: ManifestStep[];
  fixtures: Omit<Fixture, "bytes">[];
}

/** Keeps each distinct frame per client; frames differing only in correlation id are the same. */
class Recorder {
  readonly fixtures: Fixture[] = [];
  private readonly seen = new Set<string>();
  private readonly counts = new Map<string, number>();
  current: { step: Step; command: string; clientVersion: string } | undefined;

  record(frame: Buffer): void {
    const cur = this.current;
    if (cur === undefined) return;
    if (frame.length < 8) {
      console.error(`capture: a ${frame.length}-byte frame from ${cur.step.id} is too short for a header; not saved`);
      return;
    }
    const { apiKey, apiVersion } = peekRequestHeader(frame);
    const normalized = Buffer.from(frame);
    normalized.writeInt32BE(0, 4);
    const digest = createHash("sha256").update(normalized).digest("hex");
    const client = cur.step.client;
    if (this.seen.has(`${client}:${digest}`)) return;
    this.seen.add(`${client}:${digest}`);
    const api = apiByKey(apiKey);
    const name = `${String(apiKey).padStart(2, "0")}-${api ? kebab(api) : `api-${apiKey}`}-v${apiVersion}`;
    const inStep = (this.counts.get(`${cur.step.id}/${name}`) ?? 0) + 1;
    if (inStep > (apiKey === 0 ? MAX_PRODUCE_FRAMES : MAX_FRAMES_PER_STEP)) return;
    this.counts.set(`${cur.step.id}/${name}`, inStep);
    const n = (this.counts.get(`${client}/${name}`) ?? 0) + 1;
    this.counts.set(`${client}/${name}`, n);
    this.fixtures.push({
      file: `${client}/${name}${n === 1 ? "" : `-${n}`}.bin`,
      client,
      clientVersion: cur.clientVersion,
      step: cur.step.id,
      command: cur.command,
      apiKey,
      api: apiName(apiKey),
      version: apiVersion,
      clientId: clientIdOf(frame),
      capturedAt: new Date().toISOString(),
      bytes: Buffer.from(frame),
    });
  }
}

/** "CreateTopics" -> "create-topics", the same words as the message modules' file names. */
function kebab(api: ApiDescriptor): string {
  return api.name.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();
}

/** The client id of request header v1/v2 (int16-length string at 8), for the manifest only. */
function clientIdOf(frame: Buffer): string | null {
  if (frame.length < 10) return null;
  const len = frame.readInt16BE(8);
  return len < 0 ? null : frame.toString("utf8", 10, 10 + len);
}

function commandLine(step: Step): string {
  const quote = (a: string) => (/^[\w@%+=:,./<>-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`);
  const env = Object.entries(step.env ?? {}).map(([k, v]) => `${k}=${quote(v)} `);
  const cmd = env.join("") + step.argv.map(quote).join(" ");
  return step.stdin === undefined ? cmd : `printf ${quote(step.stdin.replaceAll("\n", "\\n"))} | ${cmd}`;
}

function runStep(step: Step, broker: string): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    const [cmd, ...args] = step.argv.map((a) => (a === BROKER ? broker : a));
    const child: ChildProcess = spawn(cmd, args, {
      cwd: REPO,
      env: { ...process.env, ...step.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let output = "";
    child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => {
      output += `\n[capture: ${step.id} still running after ${STEP_TIMEOUT_MS} ms; killed]`;
      child.kill("SIGKILL");
    }, STEP_TIMEOUT_MS);
    child.on("error", (e) => {
      clearTimeout(timer);
      resolve({ ok: false, output: `${output}\n${e.message}` });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ ok: code === 0, output });
    });
    child.stdin?.end(step.stdin ?? "");
  });
}

function loadManifest(): Manifest | undefined {
  return existsSync(MANIFEST) ? (JSON.parse(readFileSync(MANIFEST, "utf8")) as Manifest) : undefined;
}

async function main(): Promise<void> {
  const asked = process.argv.slice(2);
  for (const a of asked) {
    if (!(CLIENTS as readonly string[]).includes(a))
      throw new Error(`unknown client "${a}"; expected one of ${CLIENTS.join(", ")}`);
  }
  const clients: ClientName[] = asked.length > 0 ? (asked as ClientName[]) : [...CLIENTS];

  const recorder = new Recorder();
  const broker = new FakeBroker((frame) => recorder.record(frame));
  const port = await broker.listen();
  const address = `127.0.0.1:${port}`;
  console.log(`fake broker on ${address}`);

  const versions: Partial<Record<ClientName, string>> = {};
  const steps: ManifestStep[] = [];
  const failures: string[] = [];
  for (const client of clients) {
    versions[client] = clientVersion(client);
    console.log(`== ${versions[client]}`);
    for (const step of STEPS[client]()) {
      const command = commandLine(step);
      steps.push({ id: step.id, client, command, ...(step.inputs ? { inputs: step.inputs } : {}) });
      recorder.current = { step, command, clientVersion: versions[client]! };
      const started = Date.now();
      const { ok, output } = await runStep(step, address);
      // Let frames already on the wire arrive before the next step claims them.
      await new Promise((r) => setTimeout(r, 200));
      recorder.current = undefined;
      console.log(`-- ${step.id}: ${ok ? "ok" : "FAILED"} in ${Date.now() - started} ms`);
      if (!ok) {
        failures.push(step.id);
        console.log(output.trim().split("\n").slice(-30).join("\n"));
      }
    }
  }
  await broker.close();

  // Replace the captured clients' fixtures; keep the others'.
  const previous = loadManifest();
  const keep = (c: ClientName) => !clients.includes(c);
  for (const c of clients) rmSync(join(GOLDEN_DIR, c), { recursive: true, force: true });
  for (const f of recorder.fixtures) {
    const path = join(GOLDEN_DIR, f.file);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, f.bytes);
    if (f.bytes.length > MAX_FIXTURE_BYTES) console.warn(`capture: ${f.file} is ${f.bytes.length} bytes`);
  }
  const order = (c: ClientName) => CLIENTS.indexOf(c);
  const manifest: Manifest = {
    description:
      "Request frames (without the 4-byte size prefix) sent by real Kafka clients to the fake broker in scripts/golden/fake-broker.ts. <broker> stands for its random 127.0.0.1 port. Regenerate with: node --conditions=samsa-source --import tsx scripts/golden/capture.ts [client ...]",
    capturedWith: "scripts/golden/capture.ts",
    clients: Object.fromEntries(
      CLIENTS.flatMap((c) => {
        const v = versions[c] ?? previous?.clients[c];
        return v === undefined ? [] : [[c, v]];
      }),
    ),
    steps: [...(previous?.steps.filter((s) => keep(s.client)) ?? []), ...steps].sort(
      (a, b) => order(a.client) - order(b.client),
    ),
    fixtures: [
      ...(previous?.fixtures.filter((f) => keep(f.client)) ?? []),
      ...recorder.fixtures.map(({ bytes: _bytes, ...rest }) => rest),
    ].sort((a, b) => order(a.client) - order(b.client)),
  };
  mkdirSync(GOLDEN_DIR, { recursive: true });
  writeFileSync(MANIFEST, `${JSON.stringify(manifest, null, 2)}\n`);
  // In the repository's JSON style, so `biome check .` stays clean.
  execFileSync(join(REPO, "node_modules", ".bin", "biome"), ["format", "--write", MANIFEST], { stdio: "inherit" });

  const total = recorder.fixtures.reduce((n, f) => n + f.bytes.length, 0);
  console.log(`saved ${recorder.fixtures.length} fixtures (${total} bytes) under ${relative(REPO, GOLDEN_DIR)}`);
  for (const p of broker.problems) console.log(`problem: ${p}`);
  if (failures.length > 0 || broker.problems.length > 0) {
    console.error(
      `capture incomplete: ${failures.length} step(s) failed (${failures.join(", ")}), ${broker.problems.length} broker problem(s)`,
    );
    process.exitCode = 1;
  }
}

await main();
