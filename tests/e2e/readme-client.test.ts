/**
 * The README's "Use it" section, run as a user runs it after `npm ci && npm run build` (issue 9):
 *
 * - the five lines of TypeScript, unchanged but for the broker address, run by plain Node 20 as an
 *   ES module from the repository root (no tsx, no export conditions: `@samsa/client` resolves to
 *   the built package through the workspace link);
 * - the two CLI commands, through `npx samsa` (the built `apps/cli/bin/samsa.js`);
 * - `samsa produce` shows its progress line when stderr is a terminal (`script` gives it one), and
 *   none when it is a pipe.
 *
 * These need the build; `npm test` builds first. Without a build (`npm run test:only` on a fresh
 * clone) they are skipped, saying so.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { BrokerProcess, REPO_ROOT } from "./support/broker-process.js";
import { run, runOk } from "./support/run.js";

const BUILT = ["packages/client/dist/index.js", "packages/protocol/dist/index.js", "apps/cli/dist/run.js"];
const missingBuild = BUILT.filter((f) => !existsSync(path.join(REPO_ROOT, f)));
const skip = missingBuild.length > 0 ? `needs npm run build (missing ${missingBuild.join(", ")})` : false;
const WAIT_MS = 60_000;

/** The environment of a user's shell: no NODE_OPTIONS from the test runner (its --import tsx, conditions). */
function plainEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return env;
}

/** The fenced block of `lang` that follows `after` in the README. */
function block(readme: string, after: string, lang: string): string {
  const from = readme.indexOf(after);
  assert.ok(from >= 0, `README has "${after}"`);
  const open = readme.indexOf(`\`\`\`${lang}\n`, from);
  const close = readme.indexOf("\n```", open + 1);
  assert.ok(open >= 0 && close > open, `a \`\`\`${lang} block after "${after}"`);
  return readme.slice(open + lang.length + 4, close + 1);
}

let broker: BrokerProcess;
let readme: string;

before(async () => {
  if (skip !== false) return;
  readme = await readFile(path.join(REPO_ROOT, "README.md"), "utf8");
  broker = await BrokerProcess.start({ set: ["group.initial.rebalance.delay.ms=0"] });
});

after(async () => {
  await broker?.stop();
  await broker?.dispose();
});

describe("README: produce and consume in five lines of TypeScript and two CLI commands", { skip }, () => {
  test("import('@samsa/client') from the repository root in plain Node ESM", async () => {
    const r = await runOk(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        "const m = await import('@samsa/client'); console.log(['Producer', 'Consumer', 'Admin'].map((n) => typeof m[n]).join(' '));",
      ],
      { cwd: REPO_ROOT, env: plainEnv() },
    );
    assert.equal(r.stdout, "function function function\n");
  });

  test("the TypeScript lines produce a record and the consumer prints it", async () => {
    const code = block(readme, "## Use it", "ts");
    const lines = code.trimEnd().split("\n");
    assert.ok(lines.length <= 5, `five lines of TypeScript, the README has ${lines.length}`);
    assert.ok(code.includes("localhost:9092"));
    // Plain Node runs it as it stands: it uses no TypeScript-only syntax.
    const child = spawn(
      process.execPath,
      ["--input-type=module", "-e", code.replaceAll("localhost:9092", broker.bootstrap)],
      { cwd: REPO_ROOT, env: plainEnv(), stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (c: string) => (stderr += c));
    const exited = new Promise<number | null>((resolve) => child.once("close", (c) => resolve(c)));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no "k1: hello" within ${WAIT_MS} ms\n${stdout}\n${stderr}`)),
          WAIT_MS,
        );
        child.stdout.on("data", (c: string) => {
          stdout += c;
          if (stdout.includes("k1: hello\n")) {
            clearTimeout(timer);
            resolve();
          }
        });
        void exited.then((c) => {
          clearTimeout(timer);
          reject(new Error(`the README's TypeScript exited ${c} before printing\n${stdout}\n${stderr}`));
        });
      });
    } finally {
      child.kill("SIGTERM"); // the consumer runs until stopped, as the README says (Ctrl-C)
      await exited;
    }
    assert.equal(stdout, "k1: hello\n");
  });

  test("the two CLI commands, through the built bin (npx samsa)", async () => {
    const commands = block(readme, "and the same with the CLI:", "sh").trimEnd().split("\n");
    assert.equal(commands.length, 2, "two CLI commands");
    // The samsa command ends each line (after the pipe), so the test broker's address goes last.
    const outputs = [];
    for (const command of commands) {
      assert.match(command, /npx samsa (produce|consume) /);
      const r = await run("bash", ["-o", "pipefail", "-c", `${command} --brokers ${broker.bootstrap}`], {
        cwd: REPO_ROOT,
        env: plainEnv(),
        timeoutMs: WAIT_MS,
      });
      assert.equal(r.code, 0, `${command}\n${r.stderr}`);
      outputs.push(r.stdout);
    }
    const records = outputs[1]!
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as { key: string | null; value: string | null });
    // The TypeScript test above wrote k1 → hello first (when it ran).
    assert.deepEqual(
      records.slice(-2).map((r) => [r.key, r.value]),
      [
        ["k1", "hello"],
        ["k2", "world"],
      ],
    );
  });
});

describe("samsa produce on a terminal", { skip }, () => {
  const hasScript = spawnSync("script", ["--version"]).status === 0;

  test("a large file shows a progress line on stderr; a pipe gets none", {
    skip: hasScript ? false : "no `script` (util-linux) to give the CLI a terminal",
  }, async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "samsa-tty-"));
    try {
      const count = 100_000;
      const file = path.join(dir, "records.txt");
      await writeFile(file, Array.from({ length: count }, (_, i) => `line ${i} ${"x".repeat(40)}\n`).join(""));
      const bin = path.join(REPO_ROOT, "apps/cli/bin/samsa.js");
      const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
      const command = `${quote(process.execPath)} ${quote(bin)} produce --topic tty-progress --brokers ${broker.bootstrap} < ${quote(file)}`;
      // script runs the command on a new pseudo-terminal and copies what it prints to our stdout.
      const tty = await run("script", ["-qec", command, "/dev/null"], {
        cwd: REPO_ROOT,
        env: plainEnv(),
        timeoutMs: 120_000,
      });
      assert.equal(tty.code, 0, tty.stdout);
      assert.match(tty.stdout, /records acknowledged \(\d+% of input\)/, "a progress line with the share of the file");
      assert.match(tty.stdout, /100,000 records acknowledged\.\r?\n/, "the final count");

      const piped = await run(
        process.execPath,
        [bin, "produce", "--topic", "tty-progress", "--brokers", broker.bootstrap],
        {
          cwd: REPO_ROOT,
          env: plainEnv(),
          input: await readFile(file),
          timeoutMs: 120_000,
        },
      );
      assert.equal(piped.code, 0, piped.stderr);
      assert.equal(piped.stderr, "", "no progress when stderr is not a terminal");
      assert.equal(piped.stdout, "");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
