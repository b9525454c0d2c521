import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ReadBufferPool } from "./read-buffer-pool.js";

describe("ReadBufferPool", () => {
  it("leaves small and huge reads to Node's allocator", () => {
    const pool = new ReadBufferPool(1 << 30);
    for (const n of [0, 100, 64 * 1024 - 1, 8 * 1024 * 1024 + 1]) {
      const b = pool.acquire(n);
      assert.equal(b.length, n);
      assert.equal(pool.isLeased(b), false);
      pool.release(b); // ignored
    }
    assert.equal(pool.idleBytes, 0);
  });

  it("hands out exact-length views of power-of-two buffers and reuses them after release", () => {
    const pool = new ReadBufferPool(1 << 30);
    const a = pool.acquire(100_000);
    assert.equal(a.length, 100_000);
    assert.equal(a.buffer.byteLength, 128 * 1024);
    assert.equal(pool.isLeased(a), true);
    // A view of the leased buffer (what a trimmed read puts in a response) releases it too.
    pool.release(a.subarray(0, 10));
    assert.equal(pool.isLeased(a), false);
    assert.equal(pool.idleBytes, 128 * 1024);
    const b = pool.acquire(70_000);
    assert.equal(b.buffer, a.buffer);
    assert.equal(b.length, 70_000);
    assert.equal(pool.idleBytes, 0);
    // A different size class gets its own buffer.
    const c = pool.acquire(200_000);
    assert.notEqual(c.buffer, a.buffer);
    assert.equal(c.buffer.byteLength, 256 * 1024);
  });

  it("never hands out a buffer that is still leased, and ignores a second release", () => {
    const pool = new ReadBufferPool(1 << 30);
    const a = pool.acquire(65_536);
    const b = pool.acquire(65_536);
    assert.notEqual(a.buffer, b.buffer);
    pool.release(a);
    pool.release(a);
    assert.equal(pool.idleBytes, 65_536);
    const c = pool.acquire(65_536);
    const d = pool.acquire(65_536);
    assert.equal(c.buffer, a.buffer);
    assert.notEqual(d.buffer, a.buffer);
    assert.notEqual(d.buffer, b.buffer);
  });

  it("keeps at most maxFreeBytes idle", () => {
    const pool = new ReadBufferPool(256 * 1024);
    const leased = Array.from({ length: 4 }, () => pool.acquire(128 * 1024));
    for (const b of leased) pool.release(b);
    assert.equal(pool.idleBytes, 256 * 1024);
  });
});
