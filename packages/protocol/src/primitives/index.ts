export { DecodeError, EncodeError } from "./decode-error.js";
export { Reader, type RawTaggedField } from "./reader.js";
export { Writer } from "./writer.js";
export { type Uuid, ZERO_UUID, parseUuid, uuidFromBytes, uuidToBytes } from "./uuid.js";
