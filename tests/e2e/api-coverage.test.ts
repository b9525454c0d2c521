/**
 * Every (API, version) the broker advertises must be exercised by a client nobody here wrote:
 * either a real client sends it to a running broker here (the broker's debug log records each
 * request's API and version, so coverage is measured, not declared), or a golden-bytes fixture
 * captured from a real client (packages/protocol/test/golden) holds it.
 *
 * The advertised set comes from the handler registry (what ApiVersions is derived from), and the
 * live broker's ApiVersions answer must equal it. A pair nobody covers fails the test, with the
 * list; no client we can install sends the pairs in UNCOVERABLE, each with its reason, and the
 * test fails too if one of those becomes covered (so the list cannot go stale).
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { ApiVersionsApi } from "@samsa/protocol";
import { HANDLERS } from "../../packages/broker/src/handlers/registry.js";
import { BrokerProcess, REPO_ROOT } from "./support/broker-process.js";
import { RawConnection } from "./support/raw-client.js";
import { PYTHON, requireClient, runOk, SARAMA_ENV } from "./support/run.js";
import { sweepKafkaJs, sweepPlatformatic } from "./support/version-sweeps.js";

const PY_DRIVER = path.join(REPO_ROOT, "tests/e2e/clients/py_client.py");
const TXN_DRIVER = path.join(REPO_ROOT, "tests/e2e/clients/txn_client.py");
const GOLDEN_MANIFEST = path.join(REPO_ROOT, "packages/protocol/test/golden/manifest.json");

/**
 * Advertised pairs that no client installable here sends (npm and Debian only: KafkaJS 2.2.4,
 * @platformatic/kafka 1.35.0, librdkafka 2.0.2, kafka-python 2.0.2, sarama 1.22.1), with the
 * reason. Each lies inside a range whose versions above and below are covered, or at the bottom
 * of a range that the issue asks to advertise from v0 (librdkafka reads ranges as feature
 * switches), and a range is contiguous, so it cannot be narrowed away without dropping versions
 * that clients use; DescribeGroups v6 alone tops its range (KIP-1043's answer for unknown
 * groups, which Kafka 4 clients ask for). version-sweep.test.ts still sends each one (with our
 * own codec). librdkafka counts with the versions it picks against this broker: the highest of
 * its range, so a version below that maximum is sent only to older brokers.
 */
const UNCOVERABLE: Record<string, string> = {
  "ListOffsets v4":
    "KafkaJS stops at v3, platformatic starts at v5; kafka-python's v4 class encodes the epoch as int64",
  "Metadata v7": "KafkaJS stops at v6, platformatic starts at v9",
  "Metadata v8": "KafkaJS stops at v6, platformatic starts at v9",
  "FindCoordinator v3":
    "KafkaJS and librdkafka 2.0 stop at v2, kafka-python and sarama 1.22.1 at v1, platformatic starts at v4",
  "OffsetCommit v6":
    "KafkaJS stops at v5, sarama 1.22.1 at v4, kafka-python at v3, librdkafka 2.0.2 sends v7 (its maximum), platformatic starts at v8",
  "OffsetFetch v6":
    "sarama 1.22.1 stops at v5, KafkaJS at v4, kafka-python at v3, librdkafka 2.0.2 sends v7 (its maximum), platformatic starts at v8",
  "ListGroups v3":
    "KafkaJS and kafka-python stop at v2; librdkafka 2.0.2 sends v0 (rd_kafka_list_groups) or v4 (ListConsumerGroups); platformatic starts at v4",
  "DescribeGroups v6":
    "only Kafka 4 clients send v6 (KIP-1043); librdkafka 2.0.2 stops at v4, kafka-python at v3, KafkaJS at v2, platformatic has only v5",
  "CreateTopics v5": "librdkafka 2.0 stops at v4, platformatic has only v7",
  "CreateTopics v6": "librdkafka 2.0 stops at v4, platformatic has only v7",
  "DeleteTopics v4": "kafka-python stops at v3, platformatic has only v6",
  "DeleteTopics v5": "kafka-python stops at v3, platformatic has only v6",
  "OffsetForLeaderEpoch v0": "only brokers before Kafka 2.0 sent v0 (replication); no client sends it",
  "OffsetForLeaderEpoch v1": "only brokers before Kafka 2.0 sent v1 (replication); no client sends it",
  "OffsetForLeaderEpoch v2": "librdkafka sends v2 only from 2.1 (Debian has 2.0.2); platformatic has only v4",
  "OffsetForLeaderEpoch v3": "only Java clients send v3; platformatic has only v4",
  "IncrementalAlterConfigs v0":
    "librdkafka has it from 2.2 (Debian has 2.0.2); KafkaJS, kafka-python 2.0.2 and sarama 1.22.1 lack the API; platformatic has only v1",
  "DescribeLogDirs v0":
    "KafkaJS, librdkafka 2.0.2, kafka-python 2.0.2 and sarama 1.22.1 lack the API; platformatic starts at v2",
  "DescribeLogDirs v1":
    "KafkaJS, librdkafka 2.0.2, kafka-python 2.0.2 and sarama 1.22.1 lack the API; platformatic starts at v2",
  "InitProducerId v2":
    "librdkafka 2.0.2 sends v4 (its maximum), KafkaJS stops at v1, sarama 1.22.1 has only v0, kafka-python lacks idempotence, platformatic has only v5",
  "InitProducerId v3":
    "librdkafka 2.0.2 sends v4 (its maximum), KafkaJS stops at v1, sarama 1.22.1 has only v0, kafka-python lacks idempotence, platformatic has only v5",
  "AddPartitionsToTxn v2":
    "KafkaJS stops at v1, librdkafka 2.0.2 sends v0, sarama 1.22.1 has only v0, kafka-python lacks transactions, platformatic starts at v3",
  "EndTxn v2":
    "KafkaJS and librdkafka 2.0.2 stop at v1, sarama 1.22.1 has only v0, kafka-python lacks transactions, platformatic starts at v3",
  "TxnOffsetCommit v2":
    "KafkaJS stops at v1, librdkafka 2.0.2 sends v3, sarama 1.22.1 has only v0, kafka-python lacks transactions, platformatic starts at v3",
};

/** Client ids of our own raw sockets: they prove nothing about interoperability. */
const OWN_CLIENT_IDS = new Set(["samsa-e2e-raw"]);

let broker: BrokerProcess;

before(async () => {
  // No wait for more members before a new group's first rebalance: each sweep round is a new group.
  broker = await BrokerProcess.start({ logLevel: "debug", set: ["group.initial.rebalance.delay.ms=0"] });
});

after(async () => {
  await broker?.stop();
  await broker?.dispose();
});

function key(api: string, version: number): string {
  return `${api} v${version}`;
}

function advertised(): Map<string, { apiKey: number; api: string; version: number }> {
  const pairs = new Map<string, { apiKey: number; api: string; version: number }>();
  for (const h of HANDLERS) {
    for (let v = h.minVersion; v <= h.maxVersion; v++) {
      pairs.set(key(h.api.name, v), { apiKey: h.api.apiKey, api: h.api.name, version: v });
    }
  }
  return pairs;
}

describe("real clients at every version they implement", () => {
  test("KafkaJS 2.2.4, pinned to each version of each API it implements", async (t) => {
    const steps = await sweepKafkaJs(broker.port, "coverage");
    t.diagnostic(steps.map((s) => key(s.api, s.version)).join(", "));
  });

  test("@platformatic/kafka 1.35.0, each per-version API module", async (t) => {
    const steps = await sweepPlatformatic(broker.port, "coverage");
    t.diagnostic(steps.map((s) => key(s.api, s.version)).join(", "));
  });

  test("kafka-python 2.0.2 and confluent-kafka-python 1.7.0 (librdkafka 2.0.2): admin, groups, pinned request versions", async () => {
    requireClient("python-kafka");
    requireClient("python-confluent-kafka");
    // Independent topics and groups, so the three drivers run side by side.
    await Promise.all([
      runOk(PYTHON, [PY_DRIVER, "kafka-python-versions", broker.bootstrap, "coverage-kafka-python"], {
        timeoutMs: 60_000,
      }),
      runOk(PYTHON, [PY_DRIVER, "confluent-admin", broker.bootstrap, "coverage-confluent"], { timeoutMs: 60_000 }),
      runOk(PYTHON, [PY_DRIVER, "confluent-groups", broker.bootstrap, "coverage-confluent-groups"], {
        timeoutMs: 60_000,
      }),
      runOk(PYTHON, [TXN_DRIVER, "interleaved", broker.bootstrap, "coverage-confluent-txn", "coverage-txn", "2"], {
        timeoutMs: 60_000,
      }).then(() =>
        // Consumes the transactions just written and commits its offsets in transactions (send_offsets_to_transaction).
        runOk(
          PYTHON,
          [
            TXN_DRIVER,
            "ctp",
            broker.bootstrap,
            "coverage-confluent-ctp",
            "coverage-ctp-group",
            "coverage-txn",
            "coverage-txn-out",
            "3",
          ],
          { timeoutMs: 60_000 },
        ),
      ),
    ]);
  });

  test("sarama 1.22.1: OffsetCommit v0-4 and OffsetFetch v0-5, built by hand", async (t) => {
    requireClient("go-sarama");
    const buildDir = await mkdtemp(path.join(tmpdir(), "samsa-e2e-coverage-sarama-"));
    try {
      const sarama = path.join(buildDir, "sarama");
      // Quick once Go's build cache holds sarama (sarama.test.ts builds the same program).
      await runOk("go", ["build", "-o", sarama, "main.go"], {
        cwd: path.join(REPO_ROOT, "tests/e2e/clients/sarama"),
        env: { ...process.env, ...SARAMA_ENV },
        timeoutMs: 240_000,
      });
      const r = await runOk(
        sarama,
        ["offsets", broker.bootstrap, "coverage-sarama", "2.1.0", "coverage-sarama-group"],
        {
          timeoutMs: 30_000,
        },
      );
      const lines = r.stdout.trim().split("\n");
      assert.equal(lines.length, 5 * 6, "every OffsetFetch version read back every OffsetCommit version");
      t.diagnostic(lines.at(-1)!);
    } finally {
      await rm(buildDir, { recursive: true, force: true });
    }
  });
});

describe("coverage", () => {
  test("the live broker advertises exactly the handler registry's ranges", async () => {
    const c = await RawConnection.connect(broker.port);
    try {
      const response = await c.request(ApiVersionsApi, 3, { clientSoftwareName: "e2e", clientSoftwareVersion: "0" });
      assert.deepEqual(
        response.apiKeys.map((k) => [k.apiKey, k.minVersion, k.maxVersion]),
        [...HANDLERS]
          .sort((a, b) => a.api.apiKey - b.api.apiKey)
          .map((h) => [h.api.apiKey, h.minVersion, h.maxVersion]),
      );
    } finally {
      c.close();
    }
  });

  test("every advertised (API, version) is sent by a real client here or held by a golden fixture", async (t) => {
    const wanted = advertised();
    const coveredBy = new Map<string, Set<string>>();
    const cover = (k: string, by: string) => {
      if (!coveredBy.has(k)) coveredBy.set(k, new Set());
      coveredBy.get(k)!.add(by);
    };
    for (const r of broker.requestVersions()) {
      if (r.clientId !== null && OWN_CLIENT_IDS.has(r.clientId)) continue;
      cover(key(r.api, r.apiVersion), `live:${r.clientId ?? "(no client id)"}`);
    }
    const manifest = JSON.parse(await readFile(GOLDEN_MANIFEST, "utf8")) as {
      fixtures: { api: string; version: number; client: string }[];
    };
    for (const f of manifest.fixtures) cover(key(f.api, f.version), `golden:${f.client}`);

    const uncovered: string[] = [];
    const staleExemptions: string[] = [];
    for (const k of wanted.keys()) {
      const by = coveredBy.get(k);
      if (by === undefined && UNCOVERABLE[k] === undefined) uncovered.push(k);
      if (by !== undefined && UNCOVERABLE[k] !== undefined)
        staleExemptions.push(`${k} (now covered by ${[...by].join(", ")})`);
    }
    for (const k of Object.keys(UNCOVERABLE)) {
      if (!wanted.has(k)) staleExemptions.push(`${k} (no longer advertised)`);
    }
    const table = [...wanted.keys()].map(
      (k) =>
        `${k.padEnd(28)} ${[...(coveredBy.get(k) ?? [])].sort().join(", ") || `UNCOVERED${UNCOVERABLE[k] ? ` (${UNCOVERABLE[k]})` : ""}`}`,
    );
    t.diagnostic(`coverage:\n${table.join("\n")}`);
    assert.deepEqual(
      uncovered,
      [],
      `advertised but exercised by no real client or golden fixture:\n${uncovered.join("\n")}`,
    );
    assert.deepEqual(staleExemptions, [], "UNCOVERABLE lists pairs that are covered or not advertised");
  });
});
