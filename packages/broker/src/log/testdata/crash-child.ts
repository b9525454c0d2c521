/**
 * Child process of crash.test.ts: appends forever to one partition of a log dir and prints
 * `ACK <seq> <firstOffset> <lastOffset>` on stdout once each append has resolved. The parent
 * kills it with SIGKILL at a random point. stdout is a pipe, which Node writes synchronously on
 * Linux, so a printed ACK is one the parent will read even after the kill.
 *
 * argv: <logDir> <seed> <startSeq> <flushMessages: number | "never">
 */
import { LogManager } from "../log-manager.js";
import { makeBatch, seededRandom } from "../test-support.js";

const [logDir, seedText, startSeqText, flushText] = process.argv.slice(2);
const rnd = seededRandom(Number(seedText));
const manager = await LogManager.open({
  logDir: logDir!,
  config: {
    segmentBytes: 64 * 1024,
    indexIntervalBytes: 1024,
    flushMessages: flushText === "never" ? Number.POSITIVE_INFINITY : Number(flushText),
    flushMs: 50,
  },
});
manager.startScheduler({ flushCheckIntervalMs: 10, checkpointIntervalMs: 30 });
const log = await manager.getOrCreateLog({ topic: "crash", partition: 0 });
process.stdout.write(`READY ${log.logEndOffset}\n`);
let seq = Number(startSeqText);
const inFlight = new Set<Promise<void>>();
for (;;) {
  const mySeq = seq++;
  const count = 1 + Math.floor(rnd() * 20);
  const batch = makeBatch({ count, valueSize: Math.floor(rnd() * 400), seed: mySeq });
  const p: Promise<void> = log.append(batch).then((info) => {
    process.stdout.write(`ACK ${mySeq} ${info.firstOffset} ${info.lastOffset}\n`);
    inFlight.delete(p);
  });
  inFlight.add(p);
  if (inFlight.size >= 8) await Promise.race(inFlight);
}
