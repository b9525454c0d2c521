export * from "./primitives/index.js";
