/** An in-process broker on a temp data dir, and a way to call one handler directly at a version. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Encodable } from "@samsa/protocol";
import { Broker } from "../broker.js";
import { BrokerConfig } from "../config/broker-config.js";
import type { Connection } from "../network/connection.js";
import type { Handler } from "./handler.js";

export interface TestBroker {
  broker: Broker;
  dataDir: string;
  call<Req, Res>(handler: Handler<Req, Res>, version: number, request: Req): Promise<Encodable<Res>>;
  restart(): Promise<TestBroker>;
  close(): Promise<void>;
}

export async function startTestBroker(
  dataDir?: string,
  sets: string[] = [],
  nowMs?: () => number,
): Promise<TestBroker> {
  const dir = dataDir ?? (await mkdtemp(path.join(tmpdir(), "samsa-handler-")));
  const config = BrokerConfig.from(null, [`log.dirs=${dir}`, ...sets]);
  const broker = await Broker.start({ host: "127.0.0.1", port: 0, config, logLevel: "silent", nowMs });
  let correlationId = 0;
  return {
    broker,
    dataDir: dir,
    async call(handler, version, request) {
      const header = { apiKey: handler.api.apiKey, apiVersion: version, correlationId: ++correlationId, clientId: "t" };
      const ctx = { header, connection: {} as Connection, broker: broker.context };
      const response = await handler.handle(ctx as never, request);
      if (response === null) throw new Error("no response");
      return response;
    },
    async restart() {
      await broker.stop();
      return startTestBroker(dir, sets, nowMs);
    },
    async close() {
      await broker.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
