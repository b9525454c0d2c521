/**
 * `samsa consume --group` and `samsa group ...` as a user runs them: spawned CLI processes against
 * a real broker process, the group observed from outside with KafkaJS (DescribeGroups), so the
 * CLI's membership is Kafka's standard consumer protocol that other tools understand.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { after, before, describe, test } from "node:test";
import type { Admin } from "kafkajs";
import { BrokerProcess, REPO_ROOT } from "./support/broker-process.js";
import { describeGroup, harnessKafka } from "./support/groups.js";
import { type RunResult, run } from "./support/run.js";

const TOPIC = "cli-group-topic";
/** Records produced to partitions 0 and 1. */
const COUNTS = [6, 4];
const TOTAL = COUNTS[0] + COUNTS[1];

let broker: BrokerProcess;
let admin: Admin;

function cliArgs(args: string[]): string[] {
  return [
    "--conditions=samsa-source",
    "--import",
    "tsx",
    "apps/cli/src/run.ts",
    ...args,
    "--brokers",
    broker.bootstrap,
  ];
}

function samsa(args: string[], input?: string): Promise<RunResult> {
  return run(process.execPath, cliArgs(args), { cwd: REPO_ROOT, input, timeoutMs: 60_000 });
}

async function samsaOk(args: string[], input?: string): Promise<RunResult> {
  const r = await samsa(args, input);
  assert.equal(r.code, 0, `samsa ${args.join(" ")} exited ${r.code}\n${r.stderr}\n${broker.logTail(20)}`);
  return r;
}

interface Row {
  topic: string;
  partition: number;
  committed: string;
  end: string;
  lag: string;
  consumer: string;
}

/** `samsa group describe` parsed: the state line and the table rows. */
async function describeRows(group: string): Promise<{ state: string; rows: Row[] }> {
  const r = await samsaOk(["group", "describe", "--group", group]);
  const [first, , header, ...lines] = r.stdout.trimEnd().split("\n");
  assert.match(header, /^TOPIC\s+PARTITION\s+CURRENT-OFFSET\s+LOG-END-OFFSET\s+LAG\s+CONSUMER-ID\s+HOST\s+CLIENT-ID$/);
  const state = /^Group \S+: (\w+),/.exec(first)?.[1] ?? "";
  const rows = lines.map((l) => {
    const [topic, partition, committed, end, lag, consumer] = l.split(/\s+/);
    return { topic, partition: Number(partition), committed, end, lag, consumer };
  });
  return { state, rows };
}

/** A long-running `samsa consume` whose stdout lines are collected as they arrive. */
class RunningConsumer {
  readonly lines: string[] = [];
  stderr = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;
  private wake: () => void = () => {};

  constructor(args: string[]) {
    this.child = spawn(process.execPath, cliArgs(args), { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let buffered = "";
    this.child.stdout!.setEncoding("utf8");
    this.child.stdout!.on("data", (chunk: string) => {
      buffered += chunk;
      for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
        this.lines.push(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
      }
      this.wake();
    });
    this.child.stderr!.setEncoding("utf8");
    this.child.stderr!.on("data", (c: string) => (this.stderr += c));
    this.exited = new Promise((resolve) => this.child.once("close", (code, signal) => resolve({ code, signal })));
  }

  async waitForLines(n: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length < n) {
      if (Date.now() > deadline) throw new Error(`only ${this.lines.length} of ${n} lines\n${this.stderr}`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 200);
      });
    }
  }

  /** Sends a signal to the process we started (by its PID). */
  signal(name: NodeJS.Signals): void {
    this.child.kill(name);
  }
}

/** Waits until `check` passes (retrying on assertion errors), for conditions the broker reaches asynchronously. */
async function eventually(check: () => Promise<void>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

before(async () => {
  broker = await BrokerProcess.start({ set: ["group.initial.rebalance.delay.ms=0"] });
  admin = harnessKafka(broker.bootstrap).admin();
  await admin.connect();
  await samsaOk(["topic", "create", "--topic", TOPIC, "--partitions", "2"]);
  for (const [p, n] of COUNTS.entries()) {
    const lines = Array.from({ length: n }, (_, i) => `p${p}-${i}`);
    await samsaOk(["produce", "--topic", TOPIC, "--partition", String(p)], `${lines.join("\n")}\n`);
  }
});

after(async () => {
  await admin?.disconnect();
  await broker?.stop();
  await broker?.dispose();
});

describe("samsa consume --group and samsa group", () => {
  test("a group consumes in two runs without loss or repeats; describe shows committed offsets, end offsets and lag", async () => {
    const first = await samsaOk([
      "consume",
      "--topic",
      TOPIC,
      "--group",
      "cli-g1",
      "--from-beginning",
      "--max-messages",
      "4",
    ]);
    const firstValues = first.stdout.trimEnd().split("\n");
    assert.equal(firstValues.length, 4);

    const afterFirst = await describeRows("cli-g1");
    assert.equal(afterFirst.state, "Empty");
    const committedSum = afterFirst.rows.reduce((s, r) => s + Number(r.committed), 0);
    assert.equal(committedSum, 4, "it committed exactly what it printed");
    for (const r of afterFirst.rows) {
      assert.equal(r.end, String(COUNTS[r.partition]));
      assert.equal(Number(r.lag), COUNTS[r.partition] - Number(r.committed));
      assert.equal(r.consumer, "-");
    }

    // --from-beginning only where the group has no committed offset.
    const second = await samsaOk([
      "consume",
      "--topic",
      TOPIC,
      "--group",
      "cli-g1",
      "--from-beginning",
      "--exit-on-idle",
      "2000",
    ]);
    const secondValues = second.stdout.trimEnd().split("\n");
    assert.deepEqual(
      [...firstValues, ...secondValues].sort(),
      [...Array.from({ length: 6 }, (_, i) => `p0-${i}`), ...Array.from({ length: 4 }, (_, i) => `p1-${i}`)].sort(),
    );

    const afterSecond = await describeRows("cli-g1");
    assert.deepEqual(
      afterSecond.rows.map((r) => [r.topic, r.partition, r.committed, r.end, r.lag]),
      [
        [TOPIC, 0, "6", "6", "0"],
        [TOPIC, 1, "4", "4", "0"],
      ],
    );
    const listed = await samsaOk(["group", "list"]);
    assert.ok(listed.stdout.split("\n").includes("cli-g1\tEmpty"), listed.stdout);
  });

  test("reset-offsets previews without --execute and applies with it", async () => {
    const preview = await samsaOk(["group", "reset-offsets", "--group", "cli-g1", "--topic", TOPIC, "--to-earliest"]);
    assert.match(preview.stderr, /preview/);
    const previewRows = preview.stdout
      .trimEnd()
      .split("\n")
      .slice(1)
      .map((l) => l.split(/\s+/));
    assert.deepEqual(previewRows, [
      [TOPIC, "0", "6", "0"],
      [TOPIC, "1", "4", "0"],
    ]);
    assert.deepEqual(
      (await describeRows("cli-g1")).rows.map((r) => r.committed),
      ["6", "4"],
      "a preview changes nothing",
    );

    await samsaOk(["group", "reset-offsets", "--group", "cli-g1", "--topic", TOPIC, "--to-earliest", "--execute"]);
    assert.deepEqual(
      (await describeRows("cli-g1")).rows.map((r) => [r.committed, r.lag]),
      [
        ["0", "6"],
        ["0", "4"],
      ],
    );
    await samsaOk(["group", "reset-offsets", "--group", "cli-g1", "--topic", TOPIC, "--to-offset", "3", "--execute"]);
    assert.deepEqual(
      (await describeRows("cli-g1")).rows.map((r) => r.committed),
      ["3", "3"],
    );
    const again = await samsaOk(["consume", "--topic", TOPIC, "--group", "cli-g1", "--exit-on-idle", "2000"]);
    assert.deepEqual(again.stdout.trimEnd().split("\n").sort(), ["p0-3", "p0-4", "p0-5", "p1-3"]);

    const nowhere = await samsa(["group", "reset-offsets", "--group", "cli-g1", "--topic", TOPIC]);
    assert.equal(nowhere.code, 1);
    assert.match(nowhere.stderr, /^samsa: Say where to: --to-earliest/);
  });

  test("a running member is described by other tools, refuses resets, and leaves the group on SIGTERM", async () => {
    const member = new RunningConsumer([
      "consume",
      "--topic",
      TOPIC,
      "--group",
      "cli-g2",
      "--from-beginning",
      "--format",
      "json",
    ]);
    try {
      await member.waitForLines(TOTAL, 60_000);

      const seen = await describeGroup(admin, "cli-g2", TOPIC);
      assert.equal(seen.state, "Stable");
      assert.equal(seen.protocolType, "consumer");
      assert.equal(seen.members.length, 1);
      assert.deepEqual([...seen.assignments.values()], [[0, 1]]);

      await eventually(async () => {
        const ours = await describeRows("cli-g2");
        assert.equal(ours.state, "Stable");
        assert.deepEqual(
          ours.rows.map((r) => [r.partition, r.consumer]),
          [
            [0, seen.members[0].memberId],
            [1, seen.members[0].memberId],
          ],
        );
      }, 10_000);

      const reset = await samsa([
        "group",
        "reset-offsets",
        "--group",
        "cli-g2",
        "--topic",
        TOPIC,
        "--to-earliest",
        "--execute",
      ]);
      assert.equal(reset.code, 1);
      assert.equal(
        reset.stderr,
        "samsa: Group 'cli-g2' is Stable with 1 member(s); stop its consumers before resetting its offsets.\n",
      );
      const del = await samsa(["group", "delete", "--group", "cli-g2"]);
      assert.equal(del.code, 1);
      assert.equal(del.stderr, "samsa: Group 'cli-g2' still has members; stop its consumers before deleting it.\n");

      const signalledAt = Date.now();
      member.signal("SIGTERM");
      const exit = await member.exited;
      assert.deepEqual(exit, { code: 0, signal: null }, member.stderr);
      // Well inside the 45 s session timeout: it left the group rather than timing out of it.
      assert.ok(Date.now() - signalledAt < 15_000);

      const left = await describeGroup(admin, "cli-g2", TOPIC);
      assert.equal(left.state, "Empty");
      assert.equal(left.members.length, 0);
      assert.deepEqual(
        (await describeRows("cli-g2")).rows.map((r) => [r.committed, r.lag]),
        [
          ["6", "0"],
          ["4", "0"],
        ],
        "it committed what it printed before leaving",
      );
    } finally {
      member.signal("SIGKILL");
      await member.exited;
    }
  });

  test("SIGINT (Ctrl-C) ends a group member as SIGTERM does: it commits what it printed, leaves, exits 0", async () => {
    const member = new RunningConsumer(["consume", "--topic", TOPIC, "--group", "cli-g3", "--from-beginning"]);
    try {
      await member.waitForLines(TOTAL, 60_000);
      assert.equal((await describeGroup(admin, "cli-g3", TOPIC)).members.length, 1);
      member.signal("SIGINT");
      assert.deepEqual(await member.exited, { code: 0, signal: null }, member.stderr);
      assert.equal(member.stderr, "");
      const left = await describeGroup(admin, "cli-g3", TOPIC);
      assert.equal(left.state, "Empty");
      assert.deepEqual(
        (await describeRows("cli-g3")).rows.map((r) => [r.committed, r.lag]),
        [
          ["6", "0"],
          ["4", "0"],
        ],
      );
    } finally {
      member.signal("SIGKILL");
      await member.exited;
    }
  });

  test("delete removes an empty group; unknown groups are named in one sentence", async () => {
    const deleted = await samsaOk(["group", "delete", "--group", "cli-g1"]);
    assert.equal(deleted.stdout, "Deleted group cli-g1.\n");
    const listed = await samsaOk(["group", "list"]);
    assert.ok(!listed.stdout.split("\n").some((l) => l.startsWith("cli-g1\t")), listed.stdout);

    for (const args of [
      ["group", "delete", "--group", "cli-g1"],
      ["group", "describe", "--group", "cli-nope"],
    ]) {
      const r = await samsa(args);
      assert.equal(r.code, 1, args.join(" "));
      assert.match(r.stderr, /^samsa: Group '(cli-g1|cli-nope)' does not exist\.\n$/);
    }
  });
});
