/** Small JSON state files in the data directory (topic configs, dynamic broker configs). */
import fsp from "node:fs/promises";
import { writeFileAtomically } from "../log/file-system.js";

/** The parsed file, or null when it does not exist. */
export async function readJsonFile<T>(file: string): Promise<T | null> {
  let text: string;
  try {
    text = await fsp.readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
  return JSON.parse(text) as T;
}

/** Replaces the file atomically (temp file, fsync, rename, directory fsync). */
export async function writeJsonFile(file: string, value: unknown): Promise<void> {
  await writeFileAtomically(file, `${JSON.stringify(value, null, 2)}\n`);
}
