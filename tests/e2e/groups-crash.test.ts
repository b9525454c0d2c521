/**
 * Crash test for committed offsets: confluent-kafka-python commits ever larger offsets, each
 * waiting for its acknowledgement; the broker is SIGKILLed mid-stream and restarted on the same
 * data directory. The committed offset read back must be at least the last acknowledged one (an
 * acknowledged commit is never lost) and at most the last one sent.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, test } from "node:test";
import { BrokerProcess, REPO_ROOT } from "./support/broker-process.js";
import { PYTHON, requireClient, run, runOk } from "./support/run.js";

const DRIVER = path.join(REPO_ROOT, "tests/e2e/clients/commit_stream.py");
const TOPIC = "commit-crash";
const GROUP = "commit-crash-group";
/** Acknowledged commits before the kill. */
const ACKS_BEFORE_KILL = 300;
const MAX_COMMITS = 1_000_000;

const brokers: BrokerProcess[] = [];

after(async () => {
  for (const b of brokers) await b.dispose();
});

test("SIGKILL after acknowledged commits: the committed offset survives", async () => {
  requireClient("python-confluent-kafka");
  requireClient("kcat");
  const first = await BrokerProcess.start();
  brokers.push(first);
  await runOk("kcat", ["-P", "-b", first.bootstrap, "-t", TOPIC, "-p", "0"], { input: "a\nb\n" });

  let lastAcked = 0;
  let killed: Promise<void> | null = null;
  let buffered = "";
  const stream = run(PYTHON, [DRIVER, "stream", first.bootstrap, GROUP, TOPIC, String(MAX_COMMITS)], {
    timeoutMs: 90_000,
    onStdout: (chunk) => {
      buffered += chunk;
      for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
        const m = /^ack (\d+)$/.exec(buffered.slice(0, nl));
        if (m !== null) lastAcked = Number(m[1]);
        buffered = buffered.slice(nl + 1);
      }
      if (killed === null && lastAcked >= ACKS_BEFORE_KILL) killed = first.kill();
    },
  });
  const result = await stream;
  assert.ok(
    killed !== null,
    `the broker was never killed (${lastAcked} acks)\n${result.stdout.slice(-500)}\n${result.stderr}`,
  );
  await killed;
  assert.ok(lastAcked >= ACKS_BEFORE_KILL);

  const second = await first.restart();
  brokers.push(second);
  const out = await runOk(PYTHON, [DRIVER, "committed", second.bootstrap, GROUP, TOPIC], { timeoutMs: 60_000 });
  const committed = Number(out.stdout.trim());
  assert.ok(committed >= lastAcked, `committed ${committed} < last acknowledged ${lastAcked}`);
  // The commit in flight at the kill may or may not have been written, never one beyond it.
  assert.ok(committed <= lastAcked + 1, `committed ${committed} > last sent ${lastAcked + 1}`);
});
