import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import { kebab, versionCondition } from "./emit.js";
import { defaultSpecRoot, generateAll, OUTPUT_DIR } from "./generate.js";
import { parseRange } from "./spec.js";

const SPEC_ROOT = defaultSpecRoot();
const HAVE_SPECS = existsSync(join(SPEC_ROOT, "4.1.1"));

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? listFiles(p) : [relative(OUTPUT_DIR, p)];
  });
}

describe("protocol code generator", () => {
  it("committed messages/ equal a fresh generation from ../shared/kafka-protocol", {
    skip: HAVE_SPECS ? false : `no spec at ${SPEC_ROOT}`,
  }, () => {
    const generated = generateAll(SPEC_ROOT);
    const committed = listFiles(OUTPUT_DIR).sort();
    assert.deepEqual(committed, [...generated.keys()].sort(), "same set of files (run `npm run codegen`)");
    for (const [rel, text] of generated) {
      assert.equal(readFileSync(join(OUTPUT_DIR, rel), "utf8"), text, `${rel} differs (run \`npm run codegen\`)`);
    }
  });

  it("parses version ranges as Kafka writes them", () => {
    assert.deepEqual(parseRange("0+"), [0, Number.POSITIVE_INFINITY]);
    assert.deepEqual(parseRange("3-13"), [3, 13]);
    assert.deepEqual(parseRange("5"), [5, 5]);
    assert.equal(parseRange("none"), null);
    assert.equal(parseRange(undefined), null);
  });

  it("folds version sets into short conditions", () => {
    const all = [0, 1, 2, 3, 4, 5];
    assert.equal(versionCondition(new Set(all), all), "true");
    assert.equal(versionCondition(new Set(), all), "false");
    assert.equal(versionCondition(new Set([3, 4, 5]), all), "version >= 3");
    assert.equal(versionCondition(new Set([0, 1]), all), "version <= 1");
    assert.equal(versionCondition(new Set([2, 3]), all), "(version >= 2 && version <= 3)");
    assert.equal(versionCondition(new Set([0, 4, 5]), all), "(version <= 0 || version >= 4)");
  });

  it("names modules as Kafka names APIs", () => {
    assert.equal(kebab("OffsetForLeaderEpoch"), "offset-for-leader-epoch");
    assert.equal(kebab("ApiVersions"), "api-versions");
    assert.equal(kebab("DescribeUserScramCredentials"), "describe-user-scram-credentials");
  });
});
