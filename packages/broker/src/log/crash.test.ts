/**
 * SIGKILL crash test: a child process appends and reports acknowledged offsets; it is killed at
 * seeded random points; after each kill the log is reopened (recovered) and every acknowledged
 * record must be there, with offsets contiguous from 0. Repeated kill/recover cycles run on the
 * same directory, with and without fsync-before-ack.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { LogManager } from "./log-manager.js";
import { decodeRecordBatch } from "./records.js";
import { makeTempDir, removeDir, seededRandom } from "./test-support.js";

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), "testdata", "crash-child.ts");
const seed = Number(process.env.SAMSA_TEST_SEED ?? Date.now() % 1_000_000);
let root: string;

before(async () => {
  root = await makeTempDir("samsa-crash-");
  console.log(`crash test seed=${seed} (rerun with SAMSA_TEST_SEED=${seed})`);
});
after(async () => removeDir(root));

interface Ack {
  seq: number;
  first: bigint;
  last: bigint;
}

/** Runs the child until it has acknowledged `killAfter` appends, then SIGKILLs it; returns every ACK it printed. */
async function runAndKill(logDir: string, childSeed: number, startSeq: number, flush: string, killAfter: number) {
  const child = spawn(
    process.execPath,
    ["--conditions=samsa-source", "--import", "tsx", CHILD, logDir, String(childSeed), String(startSeq), flush],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  const acks: Ack[] = [];
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  for await (const line of createInterface({ input: child.stdout })) {
    const [kind, a, b, c] = line.split(" ");
    if (kind === "ACK") {
      acks.push({ seq: Number(a), first: BigInt(b!), last: BigInt(c!) });
      if (acks.length === killAfter) child.kill("SIGKILL");
    }
  }
  const code = await exited;
  assert.equal(code, null, `child should die by SIGKILL, exited ${code}: ${stderr}`);
  assert.equal(child.signalCode, "SIGKILL");
  return acks;
}

async function checkLog(logDir: string, acks: Ack[]): Promise<bigint> {
  const manager = await LogManager.open({ logDir });
  const log = manager.getLog({ topic: "crash", partition: 0 })!;
  const seqAt = new Map<bigint, number>();
  let offset = 0n;
  while (offset < log.logEndOffset) {
    const r = await log.read(offset, { maxBytes: 1 << 20 });
    let pos = 0;
    while (pos < r.records.length) {
      const { header, records } = decodeRecordBatch(r.records, pos);
      assert.equal(header.baseOffset, offset, "offsets contiguous");
      for (const rec of records) seqAt.set(rec.offset, Number(rec.key!.toString().slice(1, 7)));
      offset = header.baseOffset + BigInt(header.lastOffsetDelta) + 1n;
      pos += 12 + header.batchLength;
    }
  }
  for (const ack of acks) {
    for (let o = ack.first; o <= ack.last; o++)
      assert.equal(seqAt.get(o), ack.seq, `acknowledged append ${ack.seq} at offset ${o} survives`);
  }
  const end = log.logEndOffset;
  await manager.shutdown();
  return end;
}

for (const flush of ["never", "1"]) {
  test(`SIGKILL at random points loses no acknowledged append (flush.messages=${flush})`, async () => {
    const rnd = seededRandom(seed + (flush === "1" ? 1 : 0));
    const logDir = path.join(root, `flush-${flush}`);
    const allAcks: Ack[] = [];
    for (let round = 0; round < 4; round++) {
      const killAfter = 20 + Math.floor(rnd() * 400);
      // Sequence numbers are the 6-digit record keys: each round gets its own range.
      const acks = await runAndKill(logDir, Math.floor(rnd() * 1e9), 100_000 + round * 200_000, flush, killAfter);
      assert.ok(acks.length >= killAfter, `round ${round}: ${acks.length} acks`);
      allAcks.push(...acks);
      // Every append acknowledged in any round so far survives this crash too.
      const end = await checkLog(logDir, allAcks);
      const maxAcked = acks.reduce((m, a) => (a.last > m ? a.last : m), -1n);
      assert.ok(end > maxAcked, `round ${round}: log end ${end} covers acknowledged ${maxAcked}`);
    }
    assert.ok(allAcks.length > 80, `${allAcks.length} acknowledged appends checked`);
  });
}
