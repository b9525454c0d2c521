/** Test helpers other packages share: seeded randomness and schema-driven message values. */
export { isMessageCodec, project, RandomValues, seededRandom, versionSet } from "./random-values.js";
