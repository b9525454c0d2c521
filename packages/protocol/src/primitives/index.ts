export type { ApiDescriptor, FieldSchema, MessageCodec } from "./api.js";
export { DecodeError, EncodeError } from "./decode-error.js";
export * from "./generated-support.js";
export { type RawTaggedField, Reader } from "./reader.js";
export { parseUuid, type Uuid, uuidFromBytes, uuidToBytes, ZERO_UUID } from "./uuid.js";
export { Writer } from "./writer.js";
