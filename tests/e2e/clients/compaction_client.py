"""Drives confluent-kafka-python for the compaction e2e test (tests/e2e/compaction.test.ts).

Run with Debian's /usr/bin/python3 (python3-confluent-kafka). Prints one JSON object per line.

  compaction_client.py create   BOOTSTRAP TOPIC CONFIG_JSON   (CreateTopics with topic configs)
  compaction_client.py produce  BOOTSTRAP TOPIC ROUNDS KEYS TOMBSTONE_KEYS
      ROUNDS rounds of one value per key (key-0 .. key-{KEYS-1}), then a tombstone (null value)
      for key-0 .. key-{TOMBSTONE_KEYS-1}; prints the latest value of every key
  compaction_client.py keyless  BOOTSTRAP TOPIC   (a record without a key: the delivery error)
"""

import json
import sys


def emit(**fields):
    print(json.dumps(fields), flush=True)


def create(bootstrap, topic, config_json):
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1, config=json.loads(config_json))])
    futures[topic].result(timeout=30)
    emit(event="created", topic=topic)


def produce(bootstrap, topic, rounds, keys, tombstone_keys):
    from confluent_kafka import Producer

    # Batches well below segment.bytes, so that many segments roll.
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 1, "batch.size": 1500})
    errors = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(str(err))

    latest = {}
    for r in range(rounds):
        for k in range(keys):
            key, value = f"key-{k}", f"value-{k}-round-{r}"
            producer.produce(topic, key=key.encode(), value=value.encode(), partition=0, on_delivery=on_delivery)
            latest[key] = value
        producer.poll(0)
    for k in range(tombstone_keys):
        producer.produce(topic, key=f"key-{k}".encode(), value=None, partition=0, on_delivery=on_delivery)
        latest[f"key-{k}"] = None
    producer.flush(30)
    emit(event="produced", latest=latest, errors=errors)


def keyless(bootstrap, topic):
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "message.send.max.retries": 0})
    result = {}

    def on_delivery(err, msg):
        result["error"] = None if err is None else err.name()

    producer.produce(topic, value=b"no key", partition=0, on_delivery=on_delivery)
    producer.flush(30)
    emit(event="keyless", error=result.get("error"))


if __name__ == "__main__":
    command, bootstrap, topic, *rest = sys.argv[1:]
    if command == "create":
        create(bootstrap, topic, rest[0])
    elif command == "produce":
        produce(bootstrap, topic, int(rest[0]), int(rest[1]), int(rest[2]))
    elif command == "keyless":
        keyless(bootstrap, topic)
    else:
        raise SystemExit(f"unknown command {command}")
