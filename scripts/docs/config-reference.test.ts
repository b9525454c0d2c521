import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { CONFIG_REFERENCE_FILE, generateConfigReference } from "./config-reference.js";

test("committed docs/configs.md equals a fresh generation from the config registry", () => {
  assert.equal(
    readFileSync(CONFIG_REFERENCE_FILE, "utf8"),
    generateConfigReference(),
    "docs/configs.md is stale (run `npm run docs:configs`)",
  );
});

test("the reference lists broker and topic configs with their synonyms, ranges and dynamic flag", () => {
  const page = generateConfigReference();
  assert.match(
    page,
    /\| `retention\.ms` \| long \| `604800000` \| \[-1,\.\.\.\] \| `log\.retention\.ms`, `log\.retention\.minutes`, `log\.retention\.hours` \|/,
  );
  assert.match(page, /\| `cleanup\.policy` \| list \| `delete` \| \[delete, compact\] \| `log\.cleanup\.policy` \|/);
  assert.match(page, /\| `log\.cleaner\.threads` \| int \| `1` \| \[0,\.\.\.\] \| yes \|/);
  assert.match(page, /\| `log\.retention\.hours` \| int \| `168` \| {2}\| no \|/);
  assert.match(page, /\| `max\.compaction\.lag\.ms` \| long \| `9223372036854775807` \|/);
  assert.match(page, /min\.insync\.replicas.*Accepted for compatibility/);
  assert.match(page, /`preallocate`/);
});
