import assert from "node:assert/strict";
import { test } from "node:test";
import type { RecordInput } from "@samsa/protocol";
import { CoalescingAppender } from "./coalescing-appender.js";

const rec = (s: string): RecordInput => ({ key: Buffer.from(s), value: Buffer.from(s) });

function controlledWriter() {
  const writes: string[][] = [];
  const gates: { release: () => void; fail: (e: Error) => void }[] = [];
  const write = (records: RecordInput[]) => {
    writes.push(records.map((r) => r.key!.toString()));
    return new Promise<void>((resolve, reject) => gates.push({ release: resolve, fail: reject }));
  };
  return { writes, gates, write };
}

test("the first write goes at once; writes arriving meanwhile share the next batch, in order", async () => {
  const w = controlledWriter();
  const appender = new CoalescingAppender(w.write);
  const done: string[] = [];
  const a = appender.append([rec("a1"), rec("a2")]).then(() => done.push("a"));
  const b = appender.append([rec("b")]).then(() => done.push("b"));
  const c = appender.append([rec("c")]).then(() => done.push("c"));
  assert.deepEqual(w.writes, [["a1", "a2"]]);
  w.gates[0]!.release();
  await a;
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(w.writes, [
    ["a1", "a2"],
    ["b", "c"],
  ]);
  w.gates[1]!.release();
  await Promise.all([b, c]);
  assert.deepEqual(done, ["a", "b", "c"]);
});

test("a failed batch fails every caller in it and the next batch still goes", async () => {
  const w = controlledWriter();
  const appender = new CoalescingAppender(w.write);
  const first = appender.append([rec("x")]);
  const second = appender.append([rec("y")]);
  const third = appender.append([rec("z")]);
  w.gates[0]!.fail(new Error("disk"));
  await assert.rejects(first, /disk/);
  await new Promise((r) => setImmediate(r));
  w.gates[1]!.fail(new Error("disk again"));
  await assert.rejects(second, /disk again/);
  await assert.rejects(third, /disk again/);
  assert.equal(w.writes.length, 2);
  const fourth = appender.append([rec("w")]);
  w.gates[2]!.release();
  await fourth;
});

test("batches stay under the byte bound; one oversized caller goes alone", async () => {
  const w = controlledWriter();
  const appender = new CoalescingAppender(w.write, 10);
  const all = [
    appender.append([rec("a")]),
    appender.append([rec("bb")]),
    appender.append([rec("cc")]),
    appender.append([rec("ddddddddd")]),
    appender.append([rec("e")]),
  ];
  for (let i = 0; i < 4; i++) {
    await new Promise((r) => setImmediate(r));
    w.gates[i]!.release();
  }
  await Promise.all(all);
  assert.deepEqual(w.writes, [["a"], ["bb", "cc"], ["ddddddddd"], ["e"]]);
});
