/**
 * The log directory: checkpoints, the clean shutdown marker, meta.properties, parallel loading,
 * and a partition that cannot be loaded going offline while the others keep working.
 */
import assert from "node:assert/strict";
import fsp from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import { KafkaStorageError } from "./errors.js";
import {
  CLEAN_SHUTDOWN_FILE,
  LOG_START_OFFSET_CHECKPOINT_FILE,
  logFileName,
  META_PROPERTIES_FILE,
  RECOVERY_POINT_CHECKPOINT_FILE,
} from "./file-names.js";
import { LogManager } from "./log-manager.js";
import { InconsistentMetaPropertiesError } from "./meta-properties.js";
import { capturingLogger, makeBatch, makeTempDir, removeDir, settle } from "./test-support.js";

let root: string;
let n = 0;
before(async () => {
  root = await makeTempDir("samsa-logdir-");
});
after(async () => removeDir(root));
const newLogDir = () => path.join(root, `dir-${n++}`);

test("checkpoints and the clean shutdown marker are written in Kafka's formats", async () => {
  const logDir = newLogDir();
  const manager = await LogManager.open({ logDir, clusterId: "MkU3OEVBNTcwNTJENDM2Qg", nodeId: 1 });
  const a = await manager.getOrCreateLog({ topic: "orders", partition: 0 });
  const b = await manager.getOrCreateLog({ topic: "my-topic", partition: 12 });
  await a.append(makeBatch({ count: 5 }));
  await b.append(makeBatch({ count: 2 }));
  await manager.shutdown();
  const rp = await fsp.readFile(path.join(logDir, RECOVERY_POINT_CHECKPOINT_FILE), "utf8");
  assert.deepEqual(rp.split("\n").slice(0, 2), ["0", "2"]);
  assert.deepEqual(rp.split("\n").slice(2, 4).sort(), ["my-topic 12 2", "orders 0 5"]);
  const lso = await fsp.readFile(path.join(logDir, LOG_START_OFFSET_CHECKPOINT_FILE), "utf8");
  assert.deepEqual(lso.split("\n").slice(2, 4).sort(), ["my-topic 12 0", "orders 0 0"]);
  assert.deepEqual(JSON.parse(await fsp.readFile(path.join(logDir, CLEAN_SHUTDOWN_FILE), "utf8")), {
    version: 0,
    brokerEpoch: -1,
  });
  const meta = await fsp.readFile(path.join(logDir, META_PROPERTIES_FILE), "utf8");
  assert.match(meta, /^cluster\.id=MkU3OEVBNTcwNTJENDM2Qg$/m);
  assert.match(meta, /^node\.id=1$/m);
  assert.match(meta, /^version=1$/m);
  assert.match(meta, /^directory\.id=[A-Za-z0-9_-]{22}$/m);

  const { logger, lines } = capturingLogger("info");
  const reopened = await LogManager.open({ logDir, clusterId: "MkU3OEVBNTcwNTJENDM2Qg", nodeId: 1, logger });
  assert.equal(reopened.hadCleanShutdown, true);
  await assert.rejects(fsp.stat(path.join(logDir, CLEAN_SHUTDOWN_FILE)), "the marker is gone once loaded");
  await settle();
  assert.equal(lines.filter((l) => l.msg === "log recovered").length, 0, "no recovery after a clean shutdown");
  assert.equal(reopened.getLog({ topic: "orders", partition: 0 })!.logEndOffset, 5n);
  assert.equal(reopened.getLog({ topic: "my-topic", partition: 12 })!.logEndOffset, 2n);
  await reopened.shutdown();
  await assert.rejects(
    LogManager.open({ logDir, clusterId: "AAAAAAAAAAAAAAAAAAAAAA", nodeId: 1 }),
    InconsistentMetaPropertiesError,
  );
});

test("without the marker every partition is recovered from its checkpointed recovery point", async () => {
  const logDir = newLogDir();
  const manager = await LogManager.open({ logDir, config: { segmentBytes: 600 } });
  const log = await manager.getOrCreateLog({ topic: "t", partition: 0 });
  for (let i = 0; i < 20; i++) await log.append(makeBatch({ count: 2, seed: i }));
  await log.flush();
  await manager.checkpointRecoveryPoints();
  await log.append(makeBatch({ count: 2 }));
  // Simulate a crash: no close, no marker. (The handles of `log` are left to the process.)
  const { logger, lines } = capturingLogger("info");
  const reopened = await LogManager.open({ logDir, config: { segmentBytes: 600 }, logger });
  await settle();
  const recovered = lines.find((l) => l.msg === "log recovered");
  assert.ok(recovered, "recovered");
  assert.equal(recovered.recoveredSegments, 1, "only the segment holding the recovery point");
  assert.equal(reopened.getLog({ topic: "t", partition: 0 })!.logEndOffset, 42n);
  await reopened.shutdown();
  await manager.shutdown().catch(() => undefined);
});

test("corrupt checkpoints are rebuilt from the logs with a warning", async () => {
  const logDir = newLogDir();
  const manager = await LogManager.open({ logDir });
  await (await manager.getOrCreateLog({ topic: "t", partition: 0 })).append(makeBatch({ count: 3 }));
  await manager.shutdown();
  await fsp.writeFile(path.join(logDir, RECOVERY_POINT_CHECKPOINT_FILE), "0\n5\nt 0 notanumber\n");
  await fsp.writeFile(path.join(logDir, LOG_START_OFFSET_CHECKPOINT_FILE), "9\n");
  await fsp.rm(path.join(logDir, CLEAN_SHUTDOWN_FILE));
  const { logger, lines } = capturingLogger("warn");
  const reopened = await LogManager.open({ logDir, logger });
  await settle();
  assert.equal(lines.filter((l) => String(l.msg).startsWith("corrupt")).length, 2);
  assert.equal(reopened.getLog({ topic: "t", partition: 0 })!.logEndOffset, 3n);
  assert.equal(await fsp.readFile(path.join(logDir, LOG_START_OFFSET_CHECKPOINT_FILE), "utf8"), "0\n1\nt 0 0\n");
  await reopened.shutdown();
});

test("a partition that cannot be loaded is offline; the others keep working", async () => {
  const logDir = newLogDir();
  const manager = await LogManager.open({ logDir });
  for (let p = 0; p < 6; p++)
    await (await manager.getOrCreateLog({ topic: "t", partition: p })).append(makeBatch({ count: 2 }));
  await manager.shutdown();
  // Partition 3's segment file is replaced by a directory: it cannot even be opened.
  const bad = logFileName(path.join(logDir, "t-3"), 0n);
  await fsp.rm(bad);
  await fsp.mkdir(bad);
  const { logger, lines } = capturingLogger("error");
  const reopened = await LogManager.open({ logDir, logger, recoveryConcurrency: 2 });
  await settle();
  assert.deepEqual(reopened.offlinePartitions(), [{ topic: "t", partition: 3 }]);
  assert.ok(
    lines.some((l) => String(l.msg).includes("offline")),
    'lines.some((l) => String(l.msg).includes("offline"))',
  );
  const offline = reopened.getLog({ topic: "t", partition: 3 })!;
  await assert.rejects(
    offline.append(makeBatch({ count: 1 })),
    (e: unknown) => e instanceof KafkaStorageError && e.code === 56,
  );
  await assert.rejects(offline.read(0n, { maxBytes: 10 }), KafkaStorageError);
  for (const p of [0, 1, 2, 4, 5]) {
    const log = reopened.getLog({ topic: "t", partition: p })!;
    assert.equal((await log.append(makeBatch({ count: 1 }))).firstOffset, 2n);
  }
  await reopened.shutdown();
  await assert.rejects(
    fsp.stat(path.join(logDir, CLEAN_SHUTDOWN_FILE)),
    "no clean marker while a partition is offline",
  );
});
