export * from "./client-options.js";
export * from "./cluster.js";
