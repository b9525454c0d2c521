"""One consumer-group member, for the group e2e tests, with either Python client.

Run with Debian's /usr/bin/python3 (python3-confluent-kafka 1.7.0 on librdkafka 2.0.2, or
python3-kafka 2.0.2):

  group_member.py confluent|kafka-python BOOTSTRAP GROUP TOPIC OPTIONS_JSON

OPTIONS_JSON: {"client_id", "assignor" ("range", "roundrobin", "cooperative-sticky"),
"session_timeout_ms", "heartbeat_interval_ms", and for confluent only "instance_id" (static
membership) and "config" (more librdkafka properties)}.

The member subscribes to TOPIC, and for each record prints it, then commits offset + 1
synchronously (so what it printed is committed before it can lose the partition). It prints one
JSON object per line on stdout:

  {"event":"assign"|"revoke"|"lost", "delta":[p...], "assignment":[p...], "generation":g, "member":id}
  {"event":"record", "p":p, "o":offset, "v":value}
  {"event":"committed"|"commit-error", "p":p, "o":offset, "error":...}   {"event":"error", "error":...}
  {"event":"status", "assignment":[...], "generation":g, "member":id}   (answer to "status")
  {"event":"closed"}

and reads commands on stdin, one a line: "status", and "close" (close the consumer the way the
client does on shutdown, then exit). SIGKILL is the test's way to make it crash.
"""

import json
import queue
import struct
import sys
import threading
import time


def emit(**fields):
    print(json.dumps(fields), flush=True)


def stdin_commands():
    commands = queue.Queue()

    def read():
        for line in sys.stdin:
            commands.put(line.strip())
        commands.put("eof")

    threading.Thread(target=read, daemon=True).start()
    return commands


def confluent_generation(consumer):
    """librdkafka's serialized group metadata: b"CGMDv2:", int32 generation (host order), then
    the group id and the member id, each NUL-terminated. confluent-kafka-python 1.7.0 has no
    memberid() or generation accessor; this opaque blob is the only place it exposes them."""
    raw = consumer.consumer_group_metadata()
    if not isinstance(raw, bytes) or not raw.startswith(b"CGMDv2:"):
        return None, None
    (generation,) = struct.unpack("=i", raw[7:11])
    parts = raw[11:].split(b"\0")
    return generation, parts[1].decode() if len(parts) > 1 else None


def run_confluent(bootstrap, group, topic, opts):
    from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

    config = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "client.id": opts.get("client_id", "samsa-e2e-group"),
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "partition.assignment.strategy": opts.get("assignor", "range"),
        "session.timeout.ms": opts.get("session_timeout_ms", 6000),
        "heartbeat.interval.ms": opts.get("heartbeat_interval_ms", 300),
        "fetch.wait.max.ms": 100,
        # Reconnect quickly to a broker restarted under the member.
        "reconnect.backoff.ms": 50,
        "reconnect.backoff.max.ms": 500,
    }
    if opts.get("instance_id"):
        config["group.instance.id"] = opts["instance_id"]
    # Any other librdkafka property, e.g. {"debug": "cgrp"} when debugging a test.
    config.update(opts.get("config", {}))
    cooperative = config["partition.assignment.strategy"] == "cooperative-sticky"
    consumer = Consumer(config)
    owned = set()

    def report(event, partitions):
        generation, member = confluent_generation(consumer)
        emit(
            event=event,
            delta=sorted(p.partition for p in partitions),
            assignment=sorted(owned),
            generation=generation,
            member=member,
        )

    def on_assign(c, partitions):
        # The binding assigns (incrementally for cooperative) after this returns.
        if not cooperative:
            owned.clear()
        owned.update(p.partition for p in partitions)
        report("assign", partitions)

    def on_revoke(c, partitions):
        if cooperative:
            owned.difference_update(p.partition for p in partitions)
        else:
            owned.clear()
        report("revoke", partitions)

    def on_lost(c, partitions):
        owned.difference_update(p.partition for p in partitions)
        report("lost", partitions)

    consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
    commands = stdin_commands()
    while True:
        try:
            command = commands.get_nowait()
        except queue.Empty:
            command = None
        if command == "status":
            generation, member = confluent_generation(consumer)
            emit(event="status", assignment=sorted(owned), generation=generation, member=member)
        elif command in ("close", "eof"):
            consumer.close()
            emit(event="closed")
            return
        m = consumer.poll(0.1)
        if m is None:
            continue
        if m.error():
            if m.error().code() != KafkaError._PARTITION_EOF:
                emit(event="error", error=str(m.error()))
            continue
        emit(event="record", p=m.partition(), o=m.offset(), v=m.value().decode())
        try:
            consumer.commit(offsets=[TopicPartition(topic, m.partition(), m.offset() + 1)], asynchronous=False)
            emit(event="committed", p=m.partition(), o=m.offset())
        except KafkaException as e:
            emit(event="commit-error", p=m.partition(), o=m.offset(), error=str(e.args[0]))


def run_kafka_python(bootstrap, group, topic, opts):
    from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
    from kafka.coordinator.assignors.range import RangePartitionAssignor
    from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
    from kafka.errors import KafkaError
    from kafka.structs import OffsetAndMetadata

    assignor = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor}[
        opts.get("assignor", "range")
    ]
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        client_id=opts.get("client_id", "samsa-e2e-group"),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        partition_assignment_strategy=[assignor],
        session_timeout_ms=opts.get("session_timeout_ms", 6000),
        heartbeat_interval_ms=opts.get("heartbeat_interval_ms", 300),
        fetch_max_wait_ms=100,
        retry_backoff_ms=50,
        reconnect_backoff_ms=50,
        reconnect_backoff_max_ms=500,
    )
    owned = set()

    def generation():
        # kafka-python keeps (generation_id, member_id, protocol) in a private field.
        g = getattr(consumer._coordinator, "_generation", None)
        return (g.generation_id, g.member_id) if g is not None else (None, None)

    def report(event, partitions):
        gen, member = generation()
        emit(event=event, delta=sorted(p.partition for p in partitions), assignment=sorted(owned), generation=gen, member=member)

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            owned.clear()
            report("revoke", revoked)

        def on_partitions_assigned(self, assigned):
            owned.clear()
            owned.update(p.partition for p in assigned)
            report("assign", assigned)

    consumer.subscribe([topic], listener=Listener())
    commands = stdin_commands()
    while True:
        try:
            command = commands.get_nowait()
        except queue.Empty:
            command = None
        if command == "status":
            gen, member = generation()
            emit(event="status", assignment=sorted(owned), generation=gen, member=member)
        elif command in ("close", "eof"):
            consumer.close(autocommit=False)
            emit(event="closed")
            return
        batches = consumer.poll(timeout_ms=100)
        records = [r for _, rs in sorted(batches.items()) for r in rs]
        for r in records:
            emit(event="record", p=r.partition, o=r.offset, v=r.value.decode())
            try:
                consumer.commit({TopicPartition(topic, r.partition): OffsetAndMetadata(r.offset + 1, None)})
                emit(event="committed", p=r.partition, o=r.offset)
            except KafkaError as e:
                # The rest of this poll is not processed; the next owner starts at the last commit.
                emit(event="commit-error", p=r.partition, o=r.offset, error=repr(e))
                break


def main():
    client, bootstrap, group, topic = sys.argv[1:5]
    opts = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
    emit(event="started", client=client, started=time.time())
    if client == "confluent":
        run_confluent(bootstrap, group, topic, opts)
    elif client == "kafka-python":
        run_kafka_python(bootstrap, group, topic, opts)
    else:
        raise SystemExit(f"unknown client {client}")


if __name__ == "__main__":
    main()
