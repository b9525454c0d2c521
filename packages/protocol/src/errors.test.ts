import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ErrorCode, type ErrorCodeName, errorInfo, isRetriable, KafkaError } from "./errors.js";

const entries = Object.entries(ErrorCode) as [ErrorCodeName, number][];
const codes = entries.map(([, code]) => code);

// Highest code in Kafka 4.1's Errors enum (SHARE_SESSION_LIMIT_REACHED).
const KAFKA_4_1_MAX_CODE = 133;

// The codes whose Java exception class extends RetriableException, checked against Kafka's sources.
const RETRIABLE: readonly ErrorCodeName[] = [
  "CORRUPT_MESSAGE",
  "UNKNOWN_TOPIC_OR_PARTITION",
  "LEADER_NOT_AVAILABLE",
  "NOT_LEADER_OR_FOLLOWER",
  "REQUEST_TIMED_OUT",
  "REPLICA_NOT_AVAILABLE",
  "NETWORK_EXCEPTION",
  "COORDINATOR_LOAD_IN_PROGRESS",
  "COORDINATOR_NOT_AVAILABLE",
  "NOT_COORDINATOR",
  "NOT_ENOUGH_REPLICAS",
  "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
  "NOT_CONTROLLER",
  "CONCURRENT_TRANSACTIONS",
  "KAFKA_STORAGE_ERROR",
  "FETCH_SESSION_ID_NOT_FOUND",
  "INVALID_FETCH_SESSION_EPOCH",
  "LISTENER_NOT_FOUND",
  "FENCED_LEADER_EPOCH",
  "UNKNOWN_LEADER_EPOCH",
  "OFFSET_NOT_AVAILABLE",
  "PREFERRED_LEADER_NOT_AVAILABLE",
  "ELIGIBLE_LEADERS_NOT_AVAILABLE",
  "ELECTION_NOT_NEEDED",
  "UNSTABLE_OFFSET_COMMIT",
  "THROTTLING_QUOTA_EXCEEDED",
  "UNKNOWN_TOPIC_ID",
  "INCONSISTENT_TOPIC_ID",
  "FETCH_SESSION_TOPIC_ID_ERROR",
  "SHARE_SESSION_NOT_FOUND",
  "INVALID_SHARE_SESSION_EPOCH",
  "SHARE_SESSION_LIMIT_REACHED",
];

describe("ErrorCode table", () => {
  it("has unique codes and unique names", () => {
    assert.equal(new Set(codes).size, codes.length);
    assert.equal(new Set(entries.map(([name]) => name)).size, entries.length);
  });

  it("is dense from -1 to Kafka 4.1's highest code", () => {
    const sorted = [...codes].sort((a, b) => a - b);
    assert.deepEqual(
      sorted,
      Array.from({ length: KAFKA_4_1_MAX_CODE + 2 }, (_, i) => i - 1),
    );
  });

  it("agrees with errorInfo for every code", () => {
    for (const [name, code] of entries) {
      const info = errorInfo(code);
      assert.equal(info.code, code);
      assert.equal(info.name, name);
      assert.equal(info.retriable, isRetriable(code));
      assert.ok(info.message.length > 0, name);
      assert.ok(!info.message.includes("\n"), `${name}: meaning should be one line`);
    }
  });

  it("marks exactly Kafka's RetriableException codes as retriable", () => {
    const retriable = entries.filter(([, code]) => isRetriable(code)).map(([name]) => name);
    assert.deepEqual(retriable, RETRIABLE);
  });

  it("matches verified codes and retriability of well-known errors", () => {
    const known: [ErrorCodeName, number, boolean][] = [
      ["UNKNOWN_SERVER_ERROR", -1, false],
      ["NONE", 0, false],
      ["OFFSET_OUT_OF_RANGE", 1, false],
      ["CORRUPT_MESSAGE", 2, true],
      ["UNKNOWN_TOPIC_OR_PARTITION", 3, true],
      ["LEADER_NOT_AVAILABLE", 5, true],
      ["NOT_LEADER_OR_FOLLOWER", 6, true],
      ["REQUEST_TIMED_OUT", 7, true],
      ["BROKER_NOT_AVAILABLE", 8, false],
      ["MESSAGE_TOO_LARGE", 10, false],
      ["NOT_COORDINATOR", 16, true],
      ["NOT_ENOUGH_REPLICAS", 19, true],
      ["REBALANCE_IN_PROGRESS", 27, false],
      ["TOPIC_AUTHORIZATION_FAILED", 29, false],
      ["UNSUPPORTED_VERSION", 35, false],
      ["OUT_OF_ORDER_SEQUENCE_NUMBER", 45, false],
      ["INVALID_PRODUCER_EPOCH", 47, false],
      ["CONCURRENT_TRANSACTIONS", 51, true],
      ["KAFKA_STORAGE_ERROR", 56, true],
      ["UNKNOWN_PRODUCER_ID", 59, false],
      ["FENCED_LEADER_EPOCH", 74, true],
      ["MEMBER_ID_REQUIRED", 79, false],
      ["FENCED_INSTANCE_ID", 82, false],
      ["PRODUCER_FENCED", 90, false],
      ["UNKNOWN_TOPIC_ID", 100, true],
      ["TRANSACTION_ABORTABLE", 120, false],
      ["SHARE_SESSION_LIMIT_REACHED", 133, true],
    ];
    for (const [name, code, retriable] of known) {
      assert.equal(ErrorCode[name], code, name);
      assert.equal(isRetriable(code), retriable, name);
    }
  });
});

describe("errorInfo", () => {
  it("reports codes Kafka does not define as UNKNOWN_SERVER_ERROR, keeping the code", () => {
    for (const code of [-2, KAFKA_4_1_MAX_CODE + 1, 32767, 1.5, Number.NaN]) {
      const info = errorInfo(code);
      assert.equal(info.name, "UNKNOWN_SERVER_ERROR");
      assert.equal(info.code, code);
      assert.equal(info.retriable, false);
      assert.match(info.message, /unknown/i);
      assert.equal(isRetriable(code), false);
    }
  });

  it("hands out shared entries that cannot be modified", () => {
    const info = errorInfo(ErrorCode.NOT_LEADER_OR_FOLLOWER);
    assert.equal(errorInfo(ErrorCode.NOT_LEADER_OR_FOLLOWER), info);
    assert.ok(Object.isFrozen(info));
  });
});

describe("KafkaError", () => {
  it("carries code, Kafka name, retriability and the default meaning", () => {
    const err = new KafkaError(ErrorCode.NOT_LEADER_OR_FOLLOWER);
    assert.ok(err instanceof Error);
    assert.equal(err.name, "KafkaError");
    assert.equal(err.code, 6);
    assert.equal(err.errorName, "NOT_LEADER_OR_FOLLOWER");
    assert.equal(err.retriable, true);
    assert.equal(err.message, errorInfo(6).message);
  });

  it("keeps a caller's message and cause", () => {
    const cause = new Error("disk");
    const err = new KafkaError(ErrorCode.MESSAGE_TOO_LARGE, "batch of 2 MiB exceeds 1 MiB", { cause });
    assert.equal(err.message, "batch of 2 MiB exceeds 1 MiB");
    assert.equal(err.errorName, "MESSAGE_TOO_LARGE");
    assert.equal(err.retriable, false);
    assert.equal(err.cause, cause);
  });

  it("keeps an unknown code as received", () => {
    const err = new KafkaError(9999);
    assert.equal(err.code, 9999);
    assert.equal(err.errorName, "UNKNOWN_SERVER_ERROR");
    assert.equal(err.retriable, false);
    assert.match(err.message, /9999/);
  });
});
