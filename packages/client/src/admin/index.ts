export * from "./admin.js";
