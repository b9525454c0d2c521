/**
 * A scriptable fake broker for unit tests: a TCP server that decodes request frames with
 * `@samsa/protocol`, hands each to a handler, and writes its answer back in request order (as a
 * Kafka broker does), optionally split into single bytes or coalesced, to exercise framing.
 * Test-only: excluded from the build.
 */
import net from "node:net";
import {
  type ApiDescriptor,
  ApiVersionsApi,
  DescribeGroupsApi,
  decodeRequestFrame,
  type Encodable,
  encodeResponseFrame,
  FetchApi,
  FindCoordinatorApi,
  ListGroupsApi,
  MetadataApi,
  ProduceApi,
  type RequestFrameHeader,
} from "@samsa/protocol";

/** What a fake broker does with one request: answer it (optionally at another version), or not (null). */
export type Answer = { body: Encodable<unknown>; version?: number } | null;
export type Handler = (header: RequestFrameHeader, body: unknown, socket: net.Socket) => Answer | Promise<Answer>;

/** Versions the fake broker advertises by default. */
export const FAKE_VERSIONS = [
  { apiKey: MetadataApi.apiKey, minVersion: 0, maxVersion: 12 },
  { apiKey: FetchApi.apiKey, minVersion: 4, maxVersion: 11 },
  { apiKey: ProduceApi.apiKey, minVersion: 3, maxVersion: 9 },
  { apiKey: FindCoordinatorApi.apiKey, minVersion: 0, maxVersion: 6 },
  { apiKey: DescribeGroupsApi.apiKey, minVersion: 0, maxVersion: 5 },
  { apiKey: ListGroupsApi.apiKey, minVersion: 0, maxVersion: 4 },
  { apiKey: ApiVersionsApi.apiKey, minVersion: 0, maxVersion: 3 },
];

export interface FakeBroker {
  port: number;
  requests: RequestFrameHeader[];
  sockets: net.Socket[];
  /** How responses are written: whole, one byte per write, or three frames per write. */
  writeMode: "whole" | "bytewise" | "coalesced";
  close(): Promise<void>;
}

export function advertise(
  versions: { apiKey: number; minVersion: number; maxVersion: number }[] = FAKE_VERSIONS,
): Handler {
  return () => ({ body: { errorCode: 0, apiKeys: versions } });
}

export async function startFakeBroker(handler: Handler, apiVersions: Handler = advertise()): Promise<FakeBroker> {
  const server = net.createServer();
  const fake: FakeBroker = {
    port: 0,
    requests: [],
    sockets: [],
    writeMode: "whole",
    async close() {
      for (const s of fake.sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
  server.on("connection", (socket) => {
    fake.sockets.push(socket);
    let buffered = Buffer.alloc(0);
    let held: Buffer[] = [];
    let chain: Promise<void> = Promise.resolve();
    socket.on("error", () => undefined);
    socket.on("data", (d: Buffer) => {
      buffered = Buffer.concat([buffered, d]);
      while (buffered.length >= 4 && buffered.length >= 4 + buffered.readInt32BE(0)) {
        const frame = Buffer.from(buffered.subarray(4, 4 + buffered.readInt32BE(0)));
        buffered = buffered.subarray(4 + frame.length);
        const req = decodeRequestFrame(frame);
        fake.requests.push(req.header);
        chain = chain.then(async () => {
          const h = req.header.apiKey === ApiVersionsApi.apiKey ? apiVersions : handler;
          const answer = await h(req.header, req.body, socket);
          if (answer === null || socket.destroyed) return;
          const bytes = encodeResponseFrame(
            req.api as ApiDescriptor<unknown, unknown>,
            answer.version ?? req.header.apiVersion,
            req.header.correlationId,
            answer.body,
          );
          if (fake.writeMode === "bytewise") {
            for (const b of bytes) socket.write(Buffer.from([b]));
          } else if (fake.writeMode === "coalesced") {
            held.push(bytes);
            if (held.length >= 3) {
              socket.write(Buffer.concat(held));
              held = [];
            }
          } else {
            socket.write(bytes);
          }
        });
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  fake.port = (server.address() as net.AddressInfo).port;
  return fake;
}
