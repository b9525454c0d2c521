/**
 * `samsa topic ...` as a user runs it: spawned CLI processes against a real broker process,
 * checked by their stdout, stderr and exit codes, and cross-checked with kcat's metadata.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { BrokerProcess, REPO_ROOT } from "./support/broker-process.js";
import { type RunResult, requireClient, run, runOk } from "./support/run.js";

let broker: BrokerProcess;

/** Runs `samsa args...` from source (as the broker is started), against the test broker unless --brokers is given. */
function samsa(args: string[], options: { input?: string; brokers?: boolean } = {}): Promise<RunResult> {
  const withBrokers = options.brokers === false ? args : [...args, "--brokers", broker.bootstrap];
  return run(
    process.execPath,
    ["--conditions=samsa-source", "--import", "tsx", "apps/cli/src/run.ts", ...withBrokers],
    {
      cwd: REPO_ROOT,
      input: options.input,
      timeoutMs: 60_000,
    },
  );
}

async function samsaOk(args: string[], options: { input?: string; brokers?: boolean } = {}): Promise<RunResult> {
  const r = await samsa(args, options);
  assert.equal(r.code, 0, `samsa ${args.join(" ")} exited ${r.code}\n${r.stderr}\n${broker.logTail(20)}`);
  return r;
}

/** The error a failed command printed: exactly one line, no stack trace. */
function oneLineError(r: RunResult): string {
  assert.equal(r.code, 1, `expected exit 1, got ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line of error, got:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  return lines[0];
}

before(async () => {
  requireClient("kcat");
  broker = await BrokerProcess.start();
});

after(async () => {
  await broker?.stop();
  await broker?.dispose();
});

describe("samsa topic", () => {
  test("create, list, describe, alter-config and delete a topic", async () => {
    const created = await samsaOk([
      "topic",
      "create",
      "--topic",
      "cli-orders",
      "--partitions",
      "3",
      "--config",
      "retention.ms=3600000",
    ]);
    assert.equal(created.stdout, "Created topic cli-orders.\n");

    const listed = await samsaOk(["topic", "list"]);
    assert.ok(listed.stdout.split("\n").includes("cli-orders"), listed.stdout);
    assert.ok(!listed.stdout.includes("__consumer_offsets"));

    // kcat sees the same three partitions.
    const kcat = await runOk("kcat", ["-b", broker.bootstrap, "-L", "-t", "cli-orders", "-J"]);
    const metadata = JSON.parse(kcat.stdout) as { topics: { topic: string; partitions: unknown[] }[] };
    assert.equal(metadata.topics[0].partitions.length, 3);

    const described = await samsaOk(["topic", "describe", "--topic", "cli-orders"]);
    const [summary, ...partitions] = described.stdout.trimEnd().split("\n");
    assert.match(summary, /^Topic: cli-orders\tTopicId: \S+\tPartitionCount: 3\tReplicationFactor: 1\tConfigs: /);
    assert.match(summary, /retention\.ms=3600000/);
    assert.deepEqual(
      partitions.map((l) => /Partition: (\d+)\tLeader: (\d+)/.exec(l)?.slice(1)),
      [
        ["0", "0"],
        ["1", "0"],
        ["2", "0"],
      ],
    );

    const altered = await samsaOk([
      "topic",
      "alter-config",
      "--topic",
      "cli-orders",
      "--set",
      "cleanup.policy=compact",
    ]);
    assert.match(altered.stdout, /cleanup\.policy=compact/);
    const after = await samsaOk(["topic", "describe", "--topic", "cli-orders"]);
    assert.match(after.stdout.split("\n")[0], /cleanup\.policy=compact/);
    assert.match(after.stdout.split("\n")[0], /retention\.ms=3600000/, "an incremental change keeps the other configs");

    const deleted = await samsaOk(["topic", "delete", "--topic", "cli-orders"]);
    assert.equal(deleted.stdout, "Deleted topic cli-orders.\n");
    const relisted = await samsaOk(["topic", "list"]);
    assert.ok(!relisted.stdout.split("\n").includes("cli-orders"), relisted.stdout);
  });

  test("creating a topic twice says it exists, unless --if-not-exists", async () => {
    await samsaOk(["topic", "create", "--topic", "cli-twice", "--partitions", "1"]);
    assert.equal(
      oneLineError(await samsa(["topic", "create", "--topic", "cli-twice", "--partitions", "1"])),
      "samsa: Topic 'cli-twice' already exists.",
    );
    await samsaOk(["topic", "create", "--topic", "cli-twice", "--if-not-exists"]);
  });

  test("a missing topic is named in one sentence", async () => {
    for (const args of [
      ["topic", "describe", "--topic", "cli-missing"],
      ["topic", "delete", "--topic", "cli-missing"],
      ["topic", "alter-config", "--topic", "cli-missing", "--set", "retention.ms=1"],
    ]) {
      assert.equal(oneLineError(await samsa(args)), "samsa: Topic 'cli-missing' does not exist.", args.join(" "));
    }
  });

  test("a wrong broker address is named with the reason", async () => {
    const r = await samsa(["topic", "list", "--brokers", "127.0.0.1:1"], { brokers: false });
    assert.equal(oneLineError(r), "samsa: Cannot reach a broker at 127.0.0.1:1 (ECONNREFUSED).");
    const verbose = await samsa(["topic", "list", "--brokers", "127.0.0.1:1", "--verbose"], { brokers: false });
    assert.equal(verbose.code, 1);
    assert.match(verbose.stderr, /\n\s+at /, "--verbose adds the stack");
  });

  test("bad flags and values get commander's message and exit 1", async () => {
    assert.equal(oneLineError(await samsa(["topic", "list", "--bogus"])), "error: unknown option '--bogus'");
    assert.match(
      oneLineError(await samsa(["topic", "create", "--topic", "x", "--partitions", "many"])),
      /^error: option '--partitions <n>' argument 'many' is invalid\. "many" is not a positive whole number\.$/,
    );
    assert.equal(
      oneLineError(await samsa(["topic", "describe"])),
      "error: required option '--topic <name>' not specified",
    );
    assert.match(
      oneLineError(await samsa(["topic", "list", "--brokers", "localhost"], { brokers: false })),
      /"localhost" is not host:port\.$/,
    );
  });

  test("an invalid config value is refused by the broker in one sentence", async () => {
    const r = await samsa(["topic", "create", "--topic", "cli-bad-config", "--config", "retention.ms=soon"]);
    const line = oneLineError(r);
    assert.match(line, /^samsa: /);
    assert.match(line, /retention\.ms|config/i);
  });
});
