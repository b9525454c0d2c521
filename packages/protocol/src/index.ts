export * from "./errors.js";
export * from "./frames.js";
export * from "./messages/index.js";
export * from "./primitives/index.js";
export * from "./records/index.js";
