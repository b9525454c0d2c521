/**
 * Crash test: confluent-kafka-python streams numbered records with acks=all (and no retries, so
 * no record is ever written twice); the broker is SIGKILLed mid-stream and restarted on the same
 * data directory. Every acknowledged record must be there, at the offset it was acknowledged
 * with, exactly once, in send order — recovery may drop only what was never acknowledged.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, test } from "node:test";
import { BrokerProcess, REPO_ROOT } from "./support/broker-process.js";
import { PYTHON, requireClient, run, runOk } from "./support/run.js";

const DRIVER = path.join(REPO_ROOT, "tests/e2e/clients/py_client.py");
const TOPIC = "crash-stream";
/** Acknowledged records before the kill: enough that batches are in flight when it lands. */
const ACKS_BEFORE_KILL = 3_000;
const MAX_RECORDS = 1_000_000;

const brokers: BrokerProcess[] = [];

after(async () => {
  for (const b of brokers) await b.dispose();
});

test("SIGKILL mid-stream: every acknowledged record survives, once, in order", async (t) => {
  requireClient("python-confluent-kafka");
  requireClient("kcat");
  const first = await BrokerProcess.start();
  brokers.push(first);

  const acked = new Map<number, number>(); // record number -> offset
  let killed: Promise<void> | null = null;
  let buffered = "";
  const producer = run(PYTHON, [DRIVER, "confluent-stream", first.bootstrap, TOPIC, String(MAX_RECORDS)], {
    timeoutMs: 90_000,
    onStdout: (chunk) => {
      buffered += chunk;
      let nl = buffered.indexOf("\n");
      while (nl >= 0) {
        const m = /^ack (\d+) (\d+)$/.exec(buffered.slice(0, nl));
        if (m !== null) acked.set(Number(m[1]), Number(m[2]));
        buffered = buffered.slice(nl + 1);
        nl = buffered.indexOf("\n");
      }
      if (killed === null && acked.size >= ACKS_BEFORE_KILL) killed = first.kill();
    },
  });
  const result = await producer;
  assert.ok(
    killed !== null,
    `the producer stopped before ${ACKS_BEFORE_KILL} acks\n${result.stderr}\n${first.logTail()}`,
  );
  await killed;
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /done sent=\d+ failed=[1-9]/, "the producer saw the broker die");
  t.diagnostic(`acknowledged ${acked.size} records; ${/done sent=(\d+)/.exec(result.stdout)?.[1]} sent`);

  const second = await first.restart();
  brokers.push(second);
  const loaded = await second.waitForLine((l) => l.msg === "logs loaded", 1000, "logs loaded");
  assert.equal(loaded.hadCleanShutdown, false, "the restart recovers from an unclean stop");

  const out = await runOk(
    "kcat",
    ["-b", second.bootstrap, "-C", "-t", TOPIC, "-p", "0", "-o", "beginning", "-e", "-q", "-f", "%o %s\\n"],
    { timeoutMs: 60_000 },
  );
  const stored = out.stdout
    .trim()
    .split("\n")
    .map((l) => l.split(" ").map(Number) as [number, number]);
  // Offsets are dense from 0, and each stored record is a distinct number in send order.
  for (const [i, [offset]] of stored.entries()) assert.equal(offset, i);
  const numbers = stored.map(([, n]) => n);
  for (let i = 1; i < numbers.length; i++) assert.ok(numbers[i] > numbers[i - 1], `records out of order at ${i}`);
  const at = new Map(stored.map(([offset, n]) => [n, offset]));
  for (const [n, offset] of acked) {
    assert.equal(at.get(n), offset, `acknowledged record ${n} (offset ${offset}) after the restart`);
  }
  t.diagnostic(`${stored.length} records after the restart (${stored.length - acked.size} never acknowledged)`);

  // The recovered broker still takes writes after the last recovered offset.
  await runOk("kcat", ["-b", second.bootstrap, "-P", "-t", TOPIC, "-p", "0"], { input: "after\n", timeoutMs: 30_000 });
  const last = await runOk(
    "kcat",
    ["-b", second.bootstrap, "-C", "-t", TOPIC, "-p", "0", "-o", "-1", "-e", "-q", "-f", "%o %s\\n"],
    { timeoutMs: 30_000 },
  );
  assert.equal(last.stdout.trim(), `${stored.length} after`);
  await second.stop();
});
