/**
 * From a frame to a response: peek the header, find the handler, decode, handle, encode.
 * Anything a client should not have sent (an unknown API, a version we don't serve, bytes that
 * don't decode) closes the connection, as Kafka's broker does, after logging why; ApiVersions
 * at a version we don't know gets Kafka's UNSUPPORTED_VERSION answer in v0 so the client can
 * retry with one we do.
 */
import {
  ApiVersionsApi,
  DecodeError,
  decodeRequestFrame,
  ErrorCode,
  encodeResponseFrameChunks,
  peekRequestHeader,
} from "@samsa/protocol";
import { apiVersionsResponse } from "./handlers/18-api-versions.js";
import type { AnyHandler, BrokerContext, RequestContext } from "./handlers/handler.js";
import type { Connection } from "./network/connection.js";

/** A request the broker refuses by closing the connection; the message is logged. */
export class RejectedRequestError extends Error {
  override readonly name = "RejectedRequestError";
}

export class RequestDispatcher {
  private readonly byKey: (AnyHandler | undefined)[] = [];

  constructor(private readonly broker: BrokerContext) {
    for (const h of broker.handlers) this.byKey[h.api.apiKey] = h;
  }

  dispatch(frame: Buffer, connection: Connection): Promise<Buffer[] | null> | Buffer[] | null {
    let header: ReturnType<typeof peekRequestHeader>;
    try {
      header = peekRequestHeader(frame);
    } catch (e) {
      // A client's bad bytes, not a bug of ours: log it as a refused request, not as an error.
      if (e instanceof DecodeError) throw new RejectedRequestError(`malformed request header: ${e.message}`);
      throw e;
    }
    const { apiKey, apiVersion, correlationId } = header;
    const handler = this.byKey[apiKey];
    if (handler === undefined) {
      throw new RejectedRequestError(`unsupported API key ${apiKey} (version ${apiVersion})`);
    }
    if (apiVersion < handler.minVersion || apiVersion > handler.maxVersion) {
      if (apiKey === ApiVersionsApi.apiKey) {
        // KIP-511: answer in v0 with the versions we serve; the client retries with one of them.
        return encodeResponseFrameChunks(
          ApiVersionsApi,
          0,
          correlationId,
          apiVersionsResponse(this.broker, ErrorCode.UNSUPPORTED_VERSION),
        );
      }
      throw new RejectedRequestError(`unsupported ${handler.api.name} version ${apiVersion}`);
    }
    let decoded: ReturnType<typeof decodeRequestFrame>;
    try {
      decoded = decodeRequestFrame(frame);
    } catch (e) {
      if (e instanceof DecodeError)
        throw new RejectedRequestError(`malformed ${handler.api.name} v${apiVersion}: ${e.message}`);
      throw e;
    }
    const { log } = this.broker;
    // One line per request only when asked (--log-level debug): the e2e suite reads these to
    // prove which API versions real clients sent.
    if (log.isLevelEnabled("debug")) {
      log.debug(
        { api: handler.api.name, apiKey, apiVersion, clientId: decoded.header.clientId, remote: connection.remote },
        "request",
      );
    }
    const ctx: RequestContext = { header: decoded.header, connection, broker: this.broker };
    const result = handler.handle(ctx, decoded.body);
    const encode = (body: unknown) =>
      body === null ? null : encodeResponseFrameChunks(handler.api, apiVersion, correlationId, body as object);
    return result instanceof Promise ? result.then(encode) : encode(result);
  }
}
