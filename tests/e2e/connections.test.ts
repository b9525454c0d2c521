/**
 * Thousands of connections: a broker holds 3,000 concurrent client connections, answers a request
 * on every one of them, and keeps serving normal clients; closing them all leaves none behind.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ApiVersionsApi, MetadataApi } from "@samsa/protocol";
import { BrokerProcess } from "./support/broker-process.js";
import { RawConnection } from "./support/raw-client.js";

const CONNECTIONS = 3000;
/** Connections opened at once; the listen backlog is 1024. */
const OPEN_CONCURRENCY = 200;

describe(`${CONNECTIONS} concurrent connections`, () => {
  let broker: BrokerProcess;
  before(async () => {
    broker = await BrokerProcess.start();
  });
  after(async () => {
    await broker.dispose();
  });

  it("are all accepted and all answered, and the broker still serves afterwards", async () => {
    const conns: RawConnection[] = [];
    for (let i = 0; i < CONNECTIONS; i += OPEN_CONCURRENCY) {
      const batch = Array.from({ length: Math.min(OPEN_CONCURRENCY, CONNECTIONS - i) }, () =>
        RawConnection.connect(broker.port),
      );
      conns.push(...(await Promise.all(batch)));
    }
    const answers = await Promise.all(conns.map((c) => c.request(ApiVersionsApi, 3, {}, 30_000)));
    assert.equal(answers.filter((a) => a.errorCode === 0).length, CONNECTIONS);
    // While all of them stay open, a new client gets metadata.
    const probe = await RawConnection.connect(broker.port);
    const meta = await probe.request(MetadataApi, 12, { topics: null });
    assert.equal(meta.brokers.length, 1);
    for (const c of conns) c.close();
    await Promise.all(conns.map((c) => c.closed));
    probe.close();
    assert.ok(broker.running, "the broker is still up");
  });
});
