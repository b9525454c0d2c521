import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import { kebab, versionCondition } from "./emit.js";
import { defaultSpecRoot, generateAll, OUTPUT_DIR } from "./generate.js";
import { INTERNAL_TOPIC_SCHEMAS } from "./internal-topics.js";
import { mergeMessage, parseRange } from "./spec.js";

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

  it("generates the internal-topic record schemas into data/ and exports them", {
    skip: HAVE_SPECS ? false : `no spec at ${SPEC_ROOT}`,
  }, () => {
    const generated = generateAll(SPEC_ROOT);
    const index = generated.get("index.ts")!;
    for (const { spec } of INTERNAL_TOPIC_SCHEMAS) {
      const file = `data/${kebab(spec.name)}`;
      assert.ok(generated.has(`${file}.ts`), `${file}.ts is generated`);
      assert.ok(index.includes(`export * from "./${file}.js";`), `${file} is exported`);
      assert.ok(generated.get("README.md")!.includes(`| ${spec.name} |`), `${spec.name} is in the README`);
    }
  });

  it("models the __consumer_offsets schemas with Kafka's version sets", () => {
    const byName = new Map(
      INTERNAL_TOPIC_SCHEMAS.map(({ spec }) => [spec.name, mergeMessage([{ label: "internal", msg: spec }])]),
    );
    const offsetValue = byName.get("OffsetCommitValue")!;
    assert.equal(offsetValue.flexibleMin, 4);
    const field = (name: string) => offsetValue.fields.find((f) => f.name === name)!;
    assert.deepEqual([...field("expireTimestamp").present], [1]);
    assert.deepEqual([...field("leaderEpoch").present], [3, 4]);
    const groupKey = byName.get("GroupMetadataKey")!;
    assert.deepEqual([groupKey.minVersion, groupKey.maxVersion, groupKey.flexibleMin], [2, 2, null]);
    const member = byName.get("GroupMetadataValue")!.commonStructs.find((c) => c.name === "MemberMetadata")!;
    const instanceId = member.fields.find((f) => f.name === "groupInstanceId")!;
    assert.deepEqual([...instanceId.nullable], [3, 4]);
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
