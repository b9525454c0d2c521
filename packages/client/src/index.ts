export * from "./admin/index.js";
export * from "./cluster/index.js";
export * from "./consumer/index.js";
export * from "./errors.js";
export * from "./network/index.js";
export * from "./producer/index.js";
