/**
 * `meta.properties`: who owns a log directory (Kafka's MetaProperties, KRaft version 1). Written once
 * when a log dir is first used; checked at every start so that a disk moved to the wrong cluster or
 * node is refused instead of silently mixed into it.
 *
 * Layout: a java.util.Properties text file, as Kafka writes it:
 *
 *   #
 *   #<date written>
 *   cluster.id=<22-char base64url UUID>
 *   directory.id=<22-char base64url UUID>
 *   node.id=<int32>
 *   version=1
 *
 * Lines starting with '#' or '!' are comments; keys and values are separated by the first '=' or ':'.
 */
import { randomBytes } from "node:crypto";
import fsp from "node:fs/promises";
import path from "node:path";
import { parseProperties } from "../util/java-properties.js";
import { META_PROPERTIES_FILE } from "./file-names.js";
import { writeFileAtomically } from "./file-system.js";

export interface MetaProperties {
  /** 1 for KRaft-mode directories (the only kind Samsa writes); 0 for ZooKeeper-era ones. */
  version: number;
  clusterId: string;
  nodeId: number;
  /** Identifies this directory within the node (KIP-858, JBOD); absent in directories written before 3.7. */
  directoryId?: string;
}

export class InconsistentMetaPropertiesError extends Error {
  override readonly name = "InconsistentMetaPropertiesError";
}

export function formatMetaProperties(meta: MetaProperties, now = new Date()): string {
  const lines = ["#", `#${now.toString()}`, `cluster.id=${meta.clusterId}`];
  if (meta.directoryId !== undefined) lines.push(`directory.id=${meta.directoryId}`);
  lines.push(`${meta.version === 0 ? "broker.id" : "node.id"}=${meta.nodeId}`, `version=${meta.version}`);
  return lines.join("\n") + "\n";
}

export function parseMetaProperties(text: string, location = META_PROPERTIES_FILE): MetaProperties {
  const props = new Map(parseProperties(text));
  const bad = (why: string) => new InconsistentMetaPropertiesError(`${location}: ${why}`);
  const version = Number(props.get("version") ?? "0");
  if (version !== 0 && version !== 1) throw bad(`unsupported version ${props.get("version")}`);
  const idText = props.get(version === 0 ? "broker.id" : "node.id") ?? props.get("node.id") ?? props.get("broker.id");
  if (idText === undefined || !/^-?\d+$/.test(idText)) throw bad("missing or malformed node.id");
  const clusterId = props.get("cluster.id");
  if (clusterId === undefined || clusterId === "") throw bad("missing cluster.id");
  const meta: MetaProperties = { version, clusterId, nodeId: Number(idText) };
  const directoryId = props.get("directory.id");
  if (directoryId !== undefined) meta.directoryId = directoryId;
  return meta;
}

/** A fresh directory.id: 16 random bytes as Kafka prints a Uuid (base64url, no padding). */
export function newDirectoryId(): string {
  return randomBytes(16).toString("base64url");
}

export async function readMetaProperties(logDir: string): Promise<MetaProperties | null> {
  const file = path.join(logDir, META_PROPERTIES_FILE);
  let text: string;
  try {
    text = await fsp.readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
  return parseMetaProperties(text, file);
}

export async function writeMetaProperties(logDir: string, meta: MetaProperties): Promise<void> {
  await writeFileAtomically(path.join(logDir, META_PROPERTIES_FILE), formatMetaProperties(meta));
}

/**
 * Reads meta.properties, creating it on first use; refuses a directory that belongs to another
 * cluster or node (Kafka's InconsistentClusterIdException / InconsistentBrokerIdException).
 */
export async function ensureMetaProperties(
  logDir: string,
  expected: { clusterId: string; nodeId: number },
): Promise<MetaProperties> {
  const existing = await readMetaProperties(logDir);
  if (existing === null) {
    const meta: MetaProperties = { version: 1, ...expected, directoryId: newDirectoryId() };
    await writeMetaProperties(logDir, meta);
    return meta;
  }
  if (existing.clusterId !== expected.clusterId)
    throw new InconsistentMetaPropertiesError(
      `log dir ${logDir} belongs to cluster ${existing.clusterId}, not ${expected.clusterId}: point log.dirs at this cluster's directories`,
    );
  if (existing.nodeId !== expected.nodeId)
    throw new InconsistentMetaPropertiesError(
      `log dir ${logDir} belongs to node ${existing.nodeId}, not ${expected.nodeId}: check node.id or log.dirs`,
    );
  return existing;
}
