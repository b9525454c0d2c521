/**
 * `partition.metadata`, Kafka's per-partition file recording the topic ID (KIP-516), so a
 * recreated topic of the same name is never confused with the old one.
 *
 * Layout (text):
 *   version: 0
 *   topic_id: <22-char base64url UUID>
 */
import fsp from "node:fs/promises";
import path from "node:path";
import { parseUuid, type Uuid } from "@samsa/protocol";
import { writeFileAtomically } from "../log/file-system.js";

export const PARTITION_METADATA_FILE = "partition.metadata";

export async function readPartitionMetadata(dir: string): Promise<Uuid | null> {
  let text: string;
  try {
    text = await fsp.readFile(path.join(dir, PARTITION_METADATA_FILE), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
  const m = /^topic_id:\s*(\S+)\s*$/m.exec(text);
  if (m === null || !/^version:\s*0\s*$/m.test(text)) return null;
  try {
    return parseUuid(m[1]);
  } catch {
    return null;
  }
}

export async function writePartitionMetadata(dir: string, topicId: Uuid): Promise<void> {
  await writeFileAtomically(path.join(dir, PARTITION_METADATA_FILE), `version: 0\ntopic_id: ${topicId}\n`);
}
