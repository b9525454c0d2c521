"""Drives kafka-python and confluent-kafka-python against a Samsa broker for the e2e tests.

Run with Debian's /usr/bin/python3 (python3-kafka, python3-confluent-kafka). Every command prints
one JSON object per line on stdout; the TypeScript test reads and checks them. Consumers use
assign/seek only: consumer groups need the group coordinator, which is a later issue.

  py_client.py kafka-python-roundtrip BOOTSTRAP TOPIC COUNT CODEC
  py_client.py confluent-roundtrip    BOOTSTRAP TOPIC COUNT CODEC
  py_client.py confluent-stream       BOOTSTRAP TOPIC MAX_COUNT   (crash test producer)
  py_client.py kafka-python-versions  BOOTSTRAP TOPIC   (admin and offset requests at pinned versions)
  py_client.py confluent-admin        BOOTSTRAP TOPIC   (librdkafka's AdminClient)
"""

import json
import sys
import time


def emit(**fields):
    print(json.dumps(fields), flush=True)


def record(i, codec):
    return (f"key-{i}".encode(), f"value {i} ({codec}) {'compressible ' * 6}".encode(), [("n", str(i).encode())])


def kafka_python_roundtrip(bootstrap, topic, count, codec):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        compression_type=None if codec == "none" else codec,
        linger_ms=5,
        client_id="samsa-e2e-kafka-python",
    )
    futures = []
    for i in range(count):
        key, value, headers = record(i, codec)
        futures.append(producer.send(topic, key=key, value=value, headers=headers, partition=0))
    producer.flush(timeout=30)
    offsets = [f.get(timeout=30).offset for f in futures]
    producer.close(timeout=10)
    emit(event="produced", offsets=offsets)

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        client_id="samsa-e2e-kafka-python",
        consumer_timeout_ms=20000,
    )
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    begin = consumer.beginning_offsets([tp])[tp]
    end = consumer.end_offsets([tp])[tp]
    emit(event="watermarks", begin=begin, end=end)
    # Timestamps: the offset of the first record at or after the middle record's timestamp.
    consumer.seek(tp, count // 2)
    middle = next(iter(consumer))
    by_time = consumer.offsets_for_times({tp: middle.timestamp})[tp]
    emit(event="offset-for-time", timestamp=middle.timestamp, offset=by_time.offset if by_time else None)
    # Seek back to a fixed offset and read to the end.
    start = 3
    consumer.seek(tp, start)
    got = []
    while len(got) < count - start:
        batch = consumer.poll(timeout_ms=5000)
        if not batch:
            break
        for msgs in batch.values():
            got.extend(msgs)
    consumer.close()
    for m in got:
        emit(
            event="consumed",
            offset=m.offset,
            key=m.key.decode(),
            value=m.value.decode(),
            headers=[[k, v.decode()] for k, v in m.headers],
        )


def confluent_roundtrip(bootstrap, topic, count, codec):
    from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "compression.codec": codec,
            "linger.ms": 5,
            "client.id": "samsa-e2e-confluent",
        }
    )
    offsets = [None] * count
    errors = []

    def delivered(err, msg, i):
        if err is not None:
            errors.append(str(err))
        else:
            offsets[i] = msg.offset()

    for i in range(count):
        key, value, headers = record(i, codec)
        producer.produce(topic, key=key, value=value, headers=headers, partition=0,
                         on_delivery=lambda err, msg, i=i: delivered(err, msg, i))
        producer.poll(0)
    left = producer.flush(30)
    emit(event="produced", offsets=offsets, errors=errors, unflushed=left)

    # group.id is mandatory for this client, but assign() with explicit offsets never uses the group.
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "samsa-e2e-unused",
            "enable.auto.commit": False,
            "client.id": "samsa-e2e-confluent",
        }
    )
    low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    emit(event="watermarks", begin=low, end=high)
    start = 3
    consumer.assign([TopicPartition(topic, 0, start)])
    got = []
    deadline = time.monotonic() + 20
    while len(got) < count - start and time.monotonic() < deadline:
        m = consumer.poll(1.0)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                continue
            emit(event="error", error=str(m.error()))
            break
        got.append(m)
    # Seek within the assignment and read one record again.
    consumer.seek(TopicPartition(topic, 0, 1))
    again = None
    deadline = time.monotonic() + 10
    while again is None and time.monotonic() < deadline:
        m = consumer.poll(1.0)
        if m is not None and not m.error():
            again = m
    emit(event="after-seek", offset=again.offset() if again else None, key=again.key().decode() if again else None)
    ts = got[len(got) // 2].timestamp()[1] if got else 0
    by_time = consumer.offsets_for_times([TopicPartition(topic, 0, ts)], timeout=10)[0]
    emit(event="offset-for-time", timestamp=ts, offset=by_time.offset)
    consumer.close()
    for m in got:
        emit(
            event="consumed",
            offset=m.offset(),
            key=m.key().decode(),
            value=m.value().decode(),
            headers=[[k, v.decode()] for k, v in (m.headers() or [])],
        )


def confluent_stream(bootstrap, topic, max_count):
    """Streams numbered records with acks=all and no retries (so a record is never written twice),
    printing each acknowledgement; stops at the first failure and flushes what is in flight."""
    from confluent_kafka import Producer

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "retries": 0,
            "enable.idempotence": False,
            "max.in.flight.requests.per.connection": 5,
            "linger.ms": 1,
            "batch.num.messages": 100,
            "message.timeout.ms": 2000,
            "client.id": "samsa-e2e-crash",
        }
    )
    failed = []

    def delivered(err, msg):
        n = int(msg.value().decode())
        if err is None:
            print(f"ack {n} {msg.offset()}", flush=True)
        else:
            failed.append(n)
            print(f"fail {n} {err.name()}", flush=True)

    n = 0
    while n < max_count and not failed:
        try:
            producer.produce(topic, value=str(n).encode(), partition=0, on_delivery=delivered)
            n += 1
        except BufferError:
            producer.poll(0.05)
            continue
        if n % 50 == 0:
            producer.poll(0)
    producer.flush(15)
    print(f"done sent={n} failed={len(failed)}", flush=True)


def kafka_python_versions(bootstrap, topic):
    """Sends kafka-python's own request classes, one version at a time, and checks its decoded
    responses. (Its OffsetRequest_v4/v5 encode current_leader_epoch as an int64, a kafka-python
    bug, so ListOffsets stops at v3 here.)"""
    from kafka import KafkaClient
    from kafka.protocol.admin import (
        CreatePartitionsRequest,
        CreateTopicsRequest,
        DeleteTopicsRequest,
        DescribeConfigsRequest,
    )
    from kafka.protocol.metadata import MetadataRequest
    from kafka.protocol.offset import OffsetRequest

    client = KafkaClient(bootstrap_servers=bootstrap, client_id="samsa-e2e-kafka-python-versions")
    node = None
    deadline = time.monotonic() + 20
    while node is None and time.monotonic() < deadline:
        node = client.least_loaded_node()
        if node is None or not client.ready(node):
            client.poll(timeout_ms=100)
            node = node if node is not None and client.ready(node) else None

    def send(request):
        deadline = time.monotonic() + 20
        while not client.ready(node) and time.monotonic() < deadline:
            client.poll(timeout_ms=50)
        future = client.send(node, request)
        client.poll(future=future, timeout_ms=20000)
        if not future.succeeded():
            raise SystemExit(f"{type(request).__name__}: {future.exception}")
        emit(event="ok", request=type(request).__name__)
        return future.value

    for v, cls in enumerate(MetadataRequest):
        topics = [topic] if v > 0 else [topic]
        args = {"topics": topics}
        if v >= 4:
            args["allow_auto_topic_creation"] = True
        response = send(cls(**args))
        assert response.topics[0][1] == topic, response
    for v, cls in enumerate(CreateTopicsRequest):
        args = {"create_topic_requests": [(f"{topic}-ct{v}", 1, 1, [], [("segment.bytes", "1048576")])], "timeout": 5000}
        if v >= 1:
            args["validate_only"] = False
        response = send(cls(**args))
        assert response.topic_errors[0][1] == 0, response
    for v, cls in enumerate(CreatePartitionsRequest):
        response = send(cls(topic_partitions=[(f"{topic}-ct{v}", (2, None))], timeout=5000, validate_only=False))
        assert response.topic_errors[0][1] == 0, response
    for v, cls in enumerate(DescribeConfigsRequest):
        args = {"resources": [(2, topic, None), (4, "0", ["num.partitions"])]}
        if v >= 1:
            args["include_synonyms"] = True
        response = send(cls(**args))
        assert [r[0] for r in response.resources] == [0, 0], response
    for v, cls in enumerate(OffsetRequest[:4]):
        if v == 0:
            partitions = [(0, -1, 1)]
        else:
            partitions = [(0, -1)]
        args = {"replica_id": -1, "topics": [(topic, partitions)]}
        if v >= 2:
            args["isolation_level"] = 0
        response = send(cls(**args))
        assert response.topics[0][1][0][1] == 0, response
    for v, cls in enumerate(DeleteTopicsRequest):
        response = send(cls(topics=[f"{topic}-ct{v}"], timeout=5000))
        assert response.topic_error_codes[0][1] == 0, response
    client.close()


def confluent_admin(bootstrap, topic):
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap, "client.id": "samsa-e2e-confluent-admin"})

    def wait(futures):
        return {k: f.result(timeout=20) for k, f in futures.items()}

    wait(admin.create_topics([NewTopic(f"{topic}-v", 3, 1, config={"segment.bytes": "1048576"})], validate_only=True))
    assert f"{topic}-v" not in admin.list_topics(timeout=10).topics
    wait(admin.create_topics([NewTopic(topic, 2, 1, config={"max.message.bytes": "100000"})]))
    try:
        wait(admin.create_topics([NewTopic(topic, 2, 1)]))
        raise SystemExit("creating an existing topic succeeded")
    except KafkaException as e:
        assert e.args[0].name() == "TOPIC_ALREADY_EXISTS", e
    wait(admin.create_partitions([NewPartitions(topic, 4)]))
    assert len(admin.list_topics(timeout=10).topics[topic].partitions) == 4
    configs = wait(admin.describe_configs([ConfigResource("topic", topic), ConfigResource("broker", "0")]))
    for resource, entries in configs.items():
        emit(event="configs", resource=str(resource), count=len(entries))
        if resource.restype == ConfigResource.Type.TOPIC:
            assert entries["max.message.bytes"].value == "100000", entries["max.message.bytes"]
    wait(admin.delete_topics([topic]))
    assert topic not in admin.list_topics(timeout=10).topics
    emit(event="ok")


def main():
    cmd = sys.argv[1]
    if cmd == "kafka-python-roundtrip":
        kafka_python_roundtrip(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    elif cmd == "confluent-roundtrip":
        confluent_roundtrip(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    elif cmd == "kafka-python-versions":
        kafka_python_versions(sys.argv[2], sys.argv[3])
    elif cmd == "confluent-admin":
        confluent_admin(sys.argv[2], sys.argv[3])
    elif cmd == "confluent-stream":
        confluent_stream(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
