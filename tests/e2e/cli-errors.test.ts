/**
 * How every `samsa` command fails, as a user sees it (issue 9): spawned CLI processes, checked by
 * exit code and stderr. For each command that talks to a cluster: a wrong broker address, a bad
 * flag, and (where the command names a topic) a missing topic, each one sentence on one line,
 * exit code 1, no stack trace. The broker here has auto.create.topics.enable=false, so that
 * `samsa produce` to a missing topic is an error rather than a new topic.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { BrokerProcess, REPO_ROOT } from "./support/broker-process.js";
import { type RunResult, run } from "./support/run.js";

/** Nothing listens on port 1 of the loopback interface (binding it needs root, and no test does). */
const WRONG_BROKER = "127.0.0.1:1";
/** A wrong address must fail within the client's retries, not hang. */
const FAIL_WITHIN_MS = 30_000;

let broker: BrokerProcess;

function samsa(args: string[], input = ""): Promise<RunResult> {
  return run(process.execPath, ["--conditions=samsa-source", "--import", "tsx", "apps/cli/src/run.ts", ...args], {
    cwd: REPO_ROOT,
    input,
    timeoutMs: 60_000,
  });
}

/** The error a failed command printed: exactly one line on stderr, nothing on stdout, no stack trace. */
function oneLineError(r: RunResult, what: string): string {
  assert.equal(r.code, 1, `${what}: expected exit 1, got ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.equal(r.stdout, "", `${what}: nothing on stdout`);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `${what}: one line of error, got:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`);
  return lines[0];
}

/** Every command that talks to a cluster, with the flags it needs, naming the topic "cli-err-missing". */
const COMMANDS: { args: string[]; input?: string; namesTopic: boolean }[] = [
  { args: ["topic", "list"], namesTopic: false },
  { args: ["topic", "create", "--topic", "cli-err-missing", "--partitions", "1"], namesTopic: false },
  { args: ["topic", "describe", "--topic", "cli-err-missing"], namesTopic: true },
  { args: ["topic", "delete", "--topic", "cli-err-missing"], namesTopic: true },
  { args: ["topic", "alter-config", "--topic", "cli-err-missing", "--set", "retention.ms=1000"], namesTopic: true },
  { args: ["produce", "--topic", "cli-err-missing"], input: "a\nb\n", namesTopic: true },
  { args: ["consume", "--topic", "cli-err-missing", "--exit-on-idle", "1000"], namesTopic: true },
  {
    args: ["consume", "--topic", "cli-err-missing", "--group", "cli-err-group", "--exit-on-idle", "1000"],
    namesTopic: true,
  },
  { args: ["group", "list"], namesTopic: false },
  { args: ["group", "describe", "--group", "cli-err-group"], namesTopic: false },
  {
    args: ["group", "reset-offsets", "--group", "cli-err-group", "--topic", "cli-err-missing", "--to-earliest"],
    namesTopic: true,
  },
  { args: ["group", "delete", "--group", "cli-err-group"], namesTopic: false },
];

before(async () => {
  broker = await BrokerProcess.start({ set: ["auto.create.topics.enable=false"] });
});

after(async () => {
  await broker?.stop();
  await broker?.dispose();
});

/** How many CLI processes run at once: most of a wrong-address run is the client's retry backoff. */
const CONCURRENCY = 4;
/** "topic create", "consume", "consume --group": the command, for test names. */
function label(args: string[]): string {
  const firstFlag = args.findIndex((a) => a.startsWith("--"));
  const words = firstFlag < 0 ? args : args.slice(0, firstFlag);
  return words[0] === "consume" && args.includes("--group") ? "consume --group" : words.join(" ");
}

describe("samsa errors: one sentence, exit code 1", () => {
  describe("a wrong broker address", { concurrency: CONCURRENCY }, () => {
    for (const { args, input } of COMMANDS) {
      test(`samsa ${label(args)}`, async () => {
        const started = Date.now();
        const r = await samsa([...args, "--brokers", WRONG_BROKER], input);
        assert.equal(
          oneLineError(r, args.join(" ")),
          `samsa: Cannot reach a broker at ${WRONG_BROKER} (ECONNREFUSED).`,
        );
        assert.ok(Date.now() - started < FAIL_WITHIN_MS, `failed after ${Date.now() - started} ms`);
      });
    }
  });

  describe("a bad flag", { concurrency: CONCURRENCY }, () => {
    for (const { args, input } of COMMANDS) {
      test(`samsa ${label(args)}`, async () => {
        const r = await samsa([...args, "--brokers", broker.bootstrap, "--bogus"], input);
        assert.equal(oneLineError(r, args.join(" ")), "error: unknown option '--bogus'");
      });
    }
  });

  describe("a missing topic", { concurrency: CONCURRENCY }, () => {
    for (const { args, input } of COMMANDS.filter((c) => c.namesTopic)) {
      test(`samsa ${label(args)}`, async () => {
        const r = await samsa([...args, "--brokers", broker.bootstrap], input);
        assert.equal(oneLineError(r, args.join(" ")), "samsa: Topic 'cli-err-missing' does not exist.");
      });
    }
  });

  test("an unresolvable broker host, an address without a port, an unknown command", async () => {
    const dns = await samsa(["topic", "list", "--brokers", "no-such-host.invalid:9092"]);
    assert.equal(oneLineError(dns, "dns"), "samsa: Cannot reach a broker at no-such-host.invalid:9092 (ENOTFOUND).");
    const noPort = await samsa(["group", "list", "--brokers", "localhost"]);
    assert.match(oneLineError(noPort, "no port"), /"localhost" is not host:port\.$/);
    const unknown = await samsa(["topics", "list"]);
    assert.equal(oneLineError(unknown, "unknown command"), "error: unknown command 'topics' (did you mean topic?)");
    const near = await samsa(["topic", "describe", "--topic", "x", "--broker", "localhost:9092"]);
    assert.equal(oneLineError(near, "near miss"), "error: unknown option '--broker' (did you mean --brokers?)");
  });

  test("--brokers defaults to localhost:9092", async () => {
    // Nothing listens on 9092 in the test environment unless a developer runs a broker there; the
    // error names the default address either way it fails, and succeeds only against a real one.
    const r = await samsa(["topic", "list"]);
    if (r.code === 0) return;
    assert.match(oneLineError(r, "default brokers"), /^samsa: Cannot reach a broker at localhost:9092 \(/);
  });
});
