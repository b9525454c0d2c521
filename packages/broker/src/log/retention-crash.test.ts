/**
 * SIGKILL during retention: a child process appends while retention passes delete segments back
 * to back and the log start offset is moved now and then (testdata/retention-crash-child.ts); it
 * is killed at a seeded random line of its output. After each kill the log is reopened and
 * checked against what the child acknowledged:
 *
 * - every acknowledged record at an offset >= the recovered log start offset is there, offsets
 *   contiguous from the log start offset to the log end;
 * - the log start offset is never below what log-start-offset-checkpoint held at the kill, nor
 *   below an acknowledged DeleteRecords, nor below the previous round's (it never regresses);
 * - no `.deleted`, orphan index or duplicate segment files are left, segments strictly ascend.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fsp from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { OffsetCheckpointFile } from "./checkpoint-file.js";
import { LOG_START_OFFSET_CHECKPOINT_FILE } from "./file-names.js";
import { LogManager } from "./log-manager.js";
import { decodeRecordBatch } from "./records.js";
import { makeTempDir, removeDir, seededRandom } from "./test-support.js";

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), "testdata", "retention-crash-child.ts");
const seed = Number(process.env.SAMSA_TEST_SEED ?? Date.now() % 1_000_000);
const ROUNDS = 6;
let root: string;

before(async () => {
  root = await makeTempDir("samsa-retention-crash-");
  console.log(`retention crash test seed=${seed} (rerun with SAMSA_TEST_SEED=${seed})`);
});
after(async () => removeDir(root));

interface Ack {
  seq: number;
  first: bigint;
  last: bigint;
}

interface Run {
  acks: Ack[];
  /** Largest offset an acknowledged DeleteRecords moved the log start offset to. */
  deletedTo: bigint;
  passes: number;
  segmentsDeleted: number;
}

/** Runs the child until it has printed `killAfter` lines, then SIGKILLs it. */
async function runAndKill(logDir: string, childSeed: number, startSeq: number, killAfter: number): Promise<Run> {
  const child = spawn(
    process.execPath,
    ["--conditions=samsa-source", "--import", "tsx", CHILD, logDir, String(childSeed), String(startSeq)],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  const run: Run = { acks: [], deletedTo: -1n, passes: 0, segmentsDeleted: 0 };
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  let lines = 0;
  for await (const line of createInterface({ input: child.stdout })) {
    const [kind, a, b, c] = line.split(" ");
    if (kind === "ACK") run.acks.push({ seq: Number(a), first: BigInt(b!), last: BigInt(c!) });
    else if (kind === "DEL" && BigInt(a!) > run.deletedTo) run.deletedTo = BigInt(a!);
    else if (kind === "PASS") {
      run.passes++;
      run.segmentsDeleted += Number(a);
    }
    if (++lines === killAfter) child.kill("SIGKILL");
  }
  const code = await exited;
  assert.equal(code, null, `child should die by SIGKILL, exited ${code}: ${stderr}`);
  assert.equal(child.signalCode, "SIGKILL");
  return run;
}

async function checkLog(
  logDir: string,
  acks: Ack[],
  minLogStartOffset: bigint,
): Promise<{ logStartOffset: bigint; logEndOffset: bigint }> {
  const dir = path.join(logDir, "crash-0");
  const manager = await LogManager.open({ logDir });
  const log = manager.getLog({ topic: "crash", partition: 0 })!;
  assert.ok(!log.isOffline, `log offline after recovery: ${log.offlineReason?.message}`);
  const start = log.logStartOffset;
  assert.ok(start >= minLogStartOffset, `log start offset ${start} regressed below ${minLogStartOffset}`);

  const names = await fsp.readdir(dir);
  assert.deepEqual(
    names.filter(
      (n) => !/^\d{20}\.(log|index|timeindex|txnindex|snapshot)$/.test(n) && n !== "leader-epoch-checkpoint",
    ),
    [],
    "no .deleted, .tmp or stray files after recovery",
  );
  const bases = log.segmentBaseOffsets();
  for (let i = 1; i < bases.length; i++) assert.ok(bases[i - 1]! < bases[i]!, "segments strictly ascend");
  const logBases = names.filter((n) => n.endsWith(".log")).map((n) => BigInt(n.slice(0, 20)));
  assert.deepEqual(
    logBases.sort((x, y) => (x < y ? -1 : 1)),
    bases,
    "one .log file per segment",
  );
  for (const n of names.filter((n) => /\.(index|timeindex)$/.test(n)))
    assert.ok(bases.includes(BigInt(n.slice(0, 20))), `index ${n} belongs to a segment`);
  assert.ok(bases[0]! <= start, "the first segment holds the log start offset");

  const seqAt = new Map<bigint, number>();
  let offset = start;
  let expectedBase: bigint | null = null;
  while (offset < log.logEndOffset) {
    const r = await log.read(offset, { maxBytes: 1 << 20 });
    assert.ok(r.records.length > 0, `data at ${offset} below the log end ${log.logEndOffset}`);
    let pos = 0;
    while (pos < r.records.length) {
      const { header, records } = decodeRecordBatch(r.records, pos);
      // The first batch may begin below the log start offset (DeleteRecords inside a batch).
      if (expectedBase !== null) assert.equal(header.baseOffset, expectedBase, "offsets contiguous");
      for (const rec of records) seqAt.set(rec.offset, Number(rec.key!.toString().slice(1, 7)));
      expectedBase = header.baseOffset + BigInt(header.lastOffsetDelta) + 1n;
      offset = expectedBase;
      pos += 12 + header.batchLength;
    }
  }
  for (const ack of acks) {
    for (let o = ack.first; o <= ack.last; o++)
      if (o >= start) assert.equal(seqAt.get(o), ack.seq, `acknowledged append ${ack.seq} at offset ${o} survives`);
  }
  const result = { logStartOffset: start, logEndOffset: log.logEndOffset };
  await manager.shutdown();
  return result;
}

test("SIGKILL during retention passes and DeleteRecords leaves a log that recovers correctly", async () => {
  const rnd = seededRandom(seed);
  const logDir = path.join(root, "retention");
  const allAcks: Ack[] = [];
  let previousStart = 0n;
  let passes = 0;
  let segmentsDeleted = 0;
  let killsWithDeletedFiles = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const killAfter = 100 + Math.floor(rnd() * 1500);
    const run = await runAndKill(logDir, Math.floor(rnd() * 1e9), 100_000 + round * 100_000, killAfter);
    passes += run.passes;
    segmentsDeleted += run.segmentsDeleted;
    allAcks.push(...run.acks);
    // Killed between a rename to .deleted and the delete (the recovery below must remove them).
    const left = await fsp.readdir(path.join(logDir, "crash-0"));
    if (left.some((n) => n.endsWith(".deleted"))) killsWithDeletedFiles++;
    const checkpointed =
      (await new OffsetCheckpointFile(path.join(logDir, LOG_START_OFFSET_CHECKPOINT_FILE)).read())?.get("crash-0") ??
      0n;
    let floor = previousStart;
    if (checkpointed > floor) floor = checkpointed;
    if (run.deletedTo > floor) floor = run.deletedTo;
    const { logStartOffset, logEndOffset } = await checkLog(logDir, allAcks, floor);
    const maxAcked = run.acks.reduce((m, a) => (a.last > m ? a.last : m), -1n);
    assert.ok(logEndOffset > maxAcked, `round ${round}: log end ${logEndOffset} covers acknowledged ${maxAcked}`);
    previousStart = logStartOffset;
  }
  console.log(
    `${ROUNDS} kills, ${killsWithDeletedFiles} with .deleted files on disk; ${segmentsDeleted} segments deleted in ${passes} passes`,
  );
  assert.ok(segmentsDeleted > 10, `${segmentsDeleted} segments deleted in ${passes} passes before the kills`);
});
