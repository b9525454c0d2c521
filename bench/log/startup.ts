/**
 * Start-up time of a log directory with many partitions, after a clean shutdown and after an
 * unclean one (no clean-shutdown marker: every partition recovers from its recovery point).
 *
 *   node --conditions=samsa-source --import tsx bench/log/startup.ts [--partitions 2000]
 */
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { CLEAN_SHUTDOWN_FILE, LogManager } from "@samsa/broker";
import { encodeRecordBatch } from "@samsa/protocol";

const { values } = parseArgs({ options: { partitions: { type: "string", default: "2000" } } });
const PARTITIONS = Number(values.partitions);
const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "samsa-bench-startup-"));
try {
  const batch = encodeRecordBatch({ records: [{ key: null, value: Buffer.alloc(100, 0x61) }] });
  let manager = await LogManager.open({ logDir: dir, clusterId: "AAAAAAAAAAAAAAAAAAAAAA", nodeId: 0 });
  for (let p = 0; p < PARTITIONS; p++) {
    const log = await manager.getOrCreateLog({ topic: "startup", partition: p });
    await log.append(Buffer.from(batch));
  }
  await manager.shutdown();

  let start = performance.now();
  manager = await LogManager.open({ logDir: dir, clusterId: "AAAAAAAAAAAAAAAAAAAAAA", nodeId: 0 });
  const clean = performance.now() - start;
  await manager.shutdown();

  await fsp.rm(path.join(dir, CLEAN_SHUTDOWN_FILE), { force: true });
  start = performance.now();
  manager = await LogManager.open({ logDir: dir, clusterId: "AAAAAAAAAAAAAAAAAAAAAA", nodeId: 0 });
  const unclean = performance.now() - start;
  await manager.shutdown();

  console.log(`| partitions | after clean shutdown | after unclean shutdown |`);
  console.log(`|--:|--:|--:|`);
  console.log(`| ${PARTITIONS} | ${clean.toFixed(0)} ms | ${unclean.toFixed(0)} ms |`);
} finally {
  await fsp.rm(dir, { recursive: true, force: true });
}
