/**
 * Whole request and response frames: header + body, as they travel after the 4-byte size
 * prefix. This is where the header-version rules meet the message codecs, so the broker and the
 * client both go through one place.
 */
import {
  apiByKey,
  RequestHeader,
  ResponseHeader,
  requestHeaderVersion,
  responseHeaderVersion,
} from "./messages/index.js";
import type { ApiDescriptor } from "./primitives/api.js";
import { DecodeError } from "./primitives/decode-error.js";
import type { Encodable } from "./primitives/generated-support.js";
import { Reader } from "./primitives/reader.js";
import { Writer } from "./primitives/writer.js";

export interface RequestFrameHeader {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
}

export interface DecodedRequest {
  header: RequestFrameHeader;
  api: ApiDescriptor;
  body: unknown;
  trailingBytes: number;
}

/**
 * Reads the fixed start of any request header (api key, version, correlation id) without
 * deciding anything else, so a broker can answer UNSUPPORTED_VERSION with the right correlation id
 * even for versions it cannot decode.
 */
export function peekRequestHeader(frame: Buffer): { apiKey: number; apiVersion: number; correlationId: number } {
  if (frame.length < 8) throw new DecodeError("RequestHeader", 0, `needs 8 bytes, ${frame.length} in the frame`);
  return { apiKey: frame.readInt16BE(0), apiVersion: frame.readInt16BE(2), correlationId: frame.readInt32BE(4) };
}

/** Decodes a request frame (without its size prefix). Throws DecodeError for anything malformed or unknown. */
export function decodeRequestFrame(frame: Buffer): DecodedRequest {
  const { apiKey, apiVersion } = peekRequestHeader(frame);
  const api = apiByKey(apiKey);
  if (api === undefined) throw new DecodeError("RequestHeader.RequestApiKey", 0, `unknown API key ${apiKey}`);
  if (apiVersion < api.request.minVersion || apiVersion > api.request.maxVersion) {
    throw new DecodeError(
      "RequestHeader.RequestApiVersion",
      2,
      `${api.name} version ${apiVersion} is outside ${api.request.minVersion}-${api.request.maxVersion}`,
    );
  }
  const r = new Reader(frame);
  const h = RequestHeader.decode(r, requestHeaderVersion(apiKey, apiVersion));
  const body = api.request.decode(r, apiVersion);
  return {
    header: { apiKey, apiVersion, correlationId: h.correlationId, clientId: h.clientId },
    api,
    body,
    // Kafka's broker ignores bytes after the body; so do we, but say how many for logging.
    trailingBytes: r.remaining,
  };
}

/**
 * Encodes a request frame as chunks (size prefix first); large record data stays a separate chunk
 * referencing the caller's buffer, so a producer writes a 1 MiB batch without copying it.
 */
export function encodeRequestFrameChunks<Req>(
  api: ApiDescriptor<Req, unknown>,
  apiVersion: number,
  correlationId: number,
  clientId: string | null,
  body: Encodable<Req>,
): Buffer[] {
  const w = new Writer();
  w.writeInt32(0);
  const headerVersion = requestHeaderVersion(api.apiKey, apiVersion);
  RequestHeader.encode(
    w,
    // Header v0 (ControlledShutdown v0) has no client id.
    {
      requestApiKey: api.apiKey,
      requestApiVersion: apiVersion,
      correlationId,
      clientId: headerVersion >= 1 ? clientId : undefined,
    },
    headerVersion,
  );
  api.request.encode(w, body, apiVersion);
  return withSizePrefix(w);
}

/** Encodes a request frame, including the 4-byte size prefix, as one Buffer. */
export function encodeRequestFrame<Req>(
  api: ApiDescriptor<Req, unknown>,
  apiVersion: number,
  correlationId: number,
  clientId: string | null,
  body: Encodable<Req>,
): Buffer {
  const chunks = encodeRequestFrameChunks(api, apiVersion, correlationId, clientId, body);
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
}

/**
 * Encodes a response frame as chunks (size prefix first); large record data stays a separate
 * chunk that references the caller's buffer, so Fetch responses are written without copying.
 */
export function encodeResponseFrameChunks<Res>(
  api: ApiDescriptor<unknown, Res>,
  apiVersion: number,
  correlationId: number,
  body: Encodable<Res>,
): Buffer[] {
  const w = new Writer();
  w.writeInt32(0);
  ResponseHeader.encode(w, { correlationId }, responseHeaderVersion(api.apiKey, apiVersion));
  api.response.encode(w, body, apiVersion);
  return withSizePrefix(w);
}

export function encodeResponseFrame<Res>(
  api: ApiDescriptor<unknown, Res>,
  apiVersion: number,
  correlationId: number,
  body: Encodable<Res>,
): Buffer {
  return Buffer.concat(encodeResponseFrameChunks(api, apiVersion, correlationId, body));
}

/** Decodes a response frame (without its size prefix) for a request the caller sent. */
export function decodeResponseFrame<Res>(
  api: ApiDescriptor<unknown, Res>,
  apiVersion: number,
  frame: Buffer,
): { correlationId: number; body: Res } {
  const r = new Reader(frame);
  const h = ResponseHeader.decode(r, responseHeaderVersion(api.apiKey, apiVersion));
  const body = api.response.decode(r, apiVersion);
  return { correlationId: h.correlationId, body };
}

/** The writer's chunks with the int32 size (of everything after it) patched into the first. */
function withSizePrefix(w: Writer): Buffer[] {
  const chunks = w.toChunks();
  chunks[0].writeInt32BE(w.length - 4, 0);
  return chunks;
}
