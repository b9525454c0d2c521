export { DecodeError, EncodeError } from "./decode-error.js";
export { type RawTaggedField, Reader } from "./reader.js";
export { parseUuid, type Uuid, uuidFromBytes, uuidToBytes, ZERO_UUID } from "./uuid.js";
export { Writer } from "./writer.js";
export * from "./generated-support.js";
export type { ApiDescriptor, MessageCodec } from "./api.js";
