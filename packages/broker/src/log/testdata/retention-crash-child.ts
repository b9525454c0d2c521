/**
 * Child process of retention-crash.test.ts: appends to one partition while retention passes run
 * back to back (retention.bytes small, so segments are renamed `.deleted` and removed all the
 * time) and DeleteRecords-style log start offset moves happen now and then. It prints
 *
 *   ACK <seq> <firstOffset> <lastOffset>   an append resolved
 *   DEL <offset>                           maybeIncrementLogStartOffset resolved (checkpointed)
 *   PASS <segmentsDeleted>                 a retention pass finished
 *
 * and is killed with SIGKILL at a random line. stdout is a pipe, written synchronously on Linux.
 *
 * argv: <logDir> <seed> <startSeq>
 */
import { LogManager } from "../log-manager.js";
import { makeBatch, seededRandom } from "../test-support.js";

const [logDir, seedText, startSeqText] = process.argv.slice(2);
const rnd = seededRandom(Number(seedText));
const manager = await LogManager.open({
  logDir: logDir!,
  config: {
    segmentBytes: 8 * 1024,
    indexIntervalBytes: 512,
    retentionBytes: 24 * 1024,
    retentionMs: -1,
    fileDeleteDelayMs: Math.floor(rnd() * 5),
  },
});
manager.startScheduler({ flushCheckIntervalMs: 10, checkpointIntervalMs: 15 });
const log = await manager.getOrCreateLog({ topic: "crash", partition: 0 });
process.stdout.write(`READY ${log.logStartOffset} ${log.logEndOffset}\n`);

// Retention passes, back to back.
void (async () => {
  for (;;) {
    const deleted = await manager.cleanupLogs();
    process.stdout.write(`PASS ${deleted}\n`);
    await new Promise((r) => setImmediate(r));
  }
})();

let seq = Number(startSeqText);
const inFlight = new Set<Promise<void>>();
for (;;) {
  const mySeq = seq++;
  const count = 1 + Math.floor(rnd() * 10);
  const batch = makeBatch({ count, valueSize: Math.floor(rnd() * 300), seed: mySeq });
  const p: Promise<void> = log.append(batch).then((info) => {
    process.stdout.write(`ACK ${mySeq} ${info.firstOffset} ${info.lastOffset}\n`);
    inFlight.delete(p);
  });
  inFlight.add(p);
  if (rnd() < 0.03) {
    // DeleteRecords somewhere between the log start and end offsets.
    const start = log.logStartOffset;
    const target = start + BigInt(Math.floor(rnd() * Number(log.logEndOffset - start + 1n)));
    const d: Promise<void> = log.maybeIncrementLogStartOffset(target).then(() => {
      process.stdout.write(`DEL ${target}\n`);
      inFlight.delete(d);
    });
    inFlight.add(d);
  }
  if (inFlight.size >= 8) await Promise.race(inFlight);
}
