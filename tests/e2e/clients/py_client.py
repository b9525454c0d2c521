"""Drives kafka-python and confluent-kafka-python against a Samsa broker for the e2e tests.

Run with Debian's /usr/bin/python3 (python3-kafka, python3-confluent-kafka). Every command prints
one JSON object per line on stdout; the TypeScript test reads and checks them. The roundtrip
consumers use assign/seek; groups are driven by confluent-groups and kafka-python-versions here
(and by group_member.py for the group tests).

  py_client.py kafka-python-roundtrip BOOTSTRAP TOPIC COUNT CODEC
  py_client.py confluent-roundtrip    BOOTSTRAP TOPIC COUNT CODEC
  py_client.py confluent-stream       BOOTSTRAP TOPIC MAX_COUNT   (crash test producer)
  py_client.py kafka-python-versions  BOOTSTRAP TOPIC   (admin, offset and group requests at pinned versions)
  py_client.py confluent-admin        BOOTSTRAP TOPIC   (librdkafka's AdminClient)
  py_client.py confluent-groups       BOOTSTRAP TOPIC   (a librdkafka group member, observed by its admin APIs)
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
    kafka_python_group_versions(send, topic)
    client.close()


def kafka_python_group_versions(send, topic):
    """One member's life in a fresh group per round, each group request class pinned to a version
    per round (round r uses the r-th version, or the last): coordinator, join, sync with an
    assignment, heartbeat (and one with a wrong generation), commit, fetch, describe, list, leave,
    delete, with every answer checked against what the member did."""
    from kafka.coordinator.protocol import ConsumerProtocolMemberAssignment, ConsumerProtocolMemberMetadata
    from kafka.protocol.admin import DeleteGroupsRequest, DescribeGroupsRequest, ListGroupsRequest
    from kafka.protocol.commit import GroupCoordinatorRequest, OffsetCommitRequest, OffsetFetchRequest
    from kafka.protocol.group import HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest, SyncGroupRequest

    # GroupCoordinatorResponse_v1 in kafka-python 2.0.2 lacks throttle_time_ms (a kafka-python
    # bug: it decodes Kafka's own v1 answers shifted), and its consumer sends only v0. Its
    # ListGroupsRequest_v2 says API_VERSION 1, so ListGroups goes out as v0 and v1 only.
    classes = [
        GroupCoordinatorRequest[:1],
        JoinGroupRequest,
        SyncGroupRequest,
        HeartbeatRequest,
        OffsetCommitRequest,
        OffsetFetchRequest,
        DescribeGroupsRequest,
        ListGroupsRequest,
        LeaveGroupRequest,
        DeleteGroupsRequest,
    ]
    # Kept in variables: a Struct's encode() holds its instance only weakly.
    subscription = ConsumerProtocolMemberMetadata(0, [topic], b"")
    metadata = subscription.encode()
    assigned = ConsumerProtocolMemberAssignment(0, [(topic, [0])], b"")
    assignment = assigned.encode()
    session_timeout_ms = 10000
    illegal_generation, no_offset = 22, -1
    for r in range(max(len(c) for c in classes)):
        (coordinator_cls, join_cls, sync_cls, heartbeat_cls, commit_cls, fetch_cls, describe_cls, list_cls,
         leave_cls, delete_cls) = [c[min(r, len(c) - 1)] for c in classes]
        group = f"{topic}-group-{r}"
        offset, commit_metadata = 300 + r, f"kafka-python round {r}"

        response = send(coordinator_cls(consumer_group=group))
        assert (response.error_code, response.coordinator_id) == (0, 0), response

        join = {"group": group, "session_timeout": session_timeout_ms, "member_id": "", "protocol_type": "consumer",
                "group_protocols": [("range", metadata)]}
        if join_cls.API_VERSION >= 1:
            join["rebalance_timeout"] = session_timeout_ms
        response = send(join_cls(**join))
        assert response.error_code == 0, response
        member, generation = response.member_id, response.generation_id
        assert member and generation >= 1, response
        assert (response.leader_id, response.group_protocol) == (member, "range"), response
        assert [tuple(m) for m in response.members] == [(member, metadata)], response

        response = send(sync_cls(group=group, generation_id=generation, member_id=member,
                                 group_assignment=[(member, assignment)]))
        assert (response.error_code, response.member_assignment) == (0, assignment), response

        response = send(heartbeat_cls(group=group, generation_id=generation, member_id=member))
        assert response.error_code == 0, response
        response = send(heartbeat_cls(group=group, generation_id=generation + 1, member_id=member))
        assert response.error_code == illegal_generation, response

        def commit(member_id, generation_id):
            if commit_cls.API_VERSION == 0:
                request = commit_cls(consumer_group=group, topics=[(topic, [(0, offset, commit_metadata)])])
            elif commit_cls.API_VERSION == 1:
                request = commit_cls(consumer_group=group, consumer_group_generation_id=generation_id,
                                     consumer_id=member_id, topics=[(topic, [(0, offset, -1, commit_metadata)])])
            else:
                request = commit_cls(consumer_group=group, consumer_group_generation_id=generation_id,
                                     consumer_id=member_id, retention_time=-1,
                                     topics=[(topic, [(0, offset, commit_metadata)])])
            response = send(request)
            assert response.topics == [(topic, [(0, 0)])], response

        def fetch():
            response = send(fetch_cls(consumer_group=group, topics=[(topic, [0])]))
            if fetch_cls.API_VERSION >= 2:
                assert response.error_code == 0, response
            (name, [(partition, committed, committed_metadata, error)]), = response.topics
            assert (name, partition, error) == (topic, 0, 0), response
            return committed, committed_metadata

        # v0 carries no generation: Kafka takes it only while the group has no members.
        if commit_cls.API_VERSION >= 1:
            commit(member, generation)
            assert fetch() == (offset, commit_metadata), (commit_cls.__name__, fetch_cls.__name__)

        args = {"groups": [group]}
        if describe_cls.API_VERSION >= 3:
            args["include_authorized_operations"] = True
        response = send(describe_cls(**args))
        (described,) = response.groups
        assert tuple(described[:5]) == (0, group, "Stable", "consumer", "range"), response
        assert [tuple(m) for m in described[5]] == [
            (member, "samsa-e2e-kafka-python-versions", described[5][0][2], metadata, assignment)
        ], response
        # (kafka-python 2.0.2 decodes v3 answers with its v2 response class, so each group's
        # authorized_operations, which v3 adds at the end, goes unread.)

        response = send(list_cls())
        assert response.error_code == 0, response
        assert [tuple(g) for g in response.groups if g[0] == group] == [(group, "consumer")], response

        response = send(leave_cls(group=group, member_id=member))
        assert response.error_code == 0, response
        (described,) = send(describe_cls(**args)).groups
        assert (described[2], list(described[5])) == ("Empty", []), described

        if commit_cls.API_VERSION == 0:
            commit("", -1)
            assert fetch() == (offset, commit_metadata), (commit_cls.__name__, fetch_cls.__name__)

        response = send(delete_cls(groups_names=[group]))
        assert [tuple(x) for x in response.results] == [(group, 0)], response
        (described,) = send(describe_cls(**args)).groups
        assert described[2] == "Dead", described
        assert fetch() == (no_offset, ""), "a deleted group's offsets are gone"


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


class Librdkafka:
    """librdkafka's own admin API for consumer groups (rd_kafka_ListConsumerGroups and
    rd_kafka_DescribeConsumerGroups, new in 2.0), called through ctypes: confluent-kafka-python
    1.7.0 predates them, and they are the only callers of ListGroups v4 and DescribeGroups v4."""

    EVENT_LISTCONSUMERGROUPS_RESULT = 0x2000
    EVENT_DESCRIBECONSUMERGROUPS_RESULT = 0x4000

    def __init__(self, bootstrap, client_id):
        import ctypes

        class TopicPartition(ctypes.Structure):
            _fields_ = [("topic", ctypes.c_char_p), ("partition", ctypes.c_int32), ("offset", ctypes.c_int64),
                        ("metadata", ctypes.c_void_p), ("metadata_size", ctypes.c_size_t),
                        ("opaque", ctypes.c_void_p), ("err", ctypes.c_int), ("_private", ctypes.c_void_p)]

        class TopicPartitionList(ctypes.Structure):
            _fields_ = [("cnt", ctypes.c_int), ("size", ctypes.c_int), ("elems", ctypes.POINTER(TopicPartition))]

        self.ctypes = ctypes
        lib = self.lib = ctypes.CDLL("librdkafka.so.1")
        p, s, i, size = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_size_t
        for name, restype, argtypes in [
            ("rd_kafka_version_str", s, []),
            ("rd_kafka_conf_new", p, []),
            ("rd_kafka_conf_set", i, [p, s, s, s, size]),
            ("rd_kafka_new", p, [i, p, s, size]),
            ("rd_kafka_destroy", None, [p]),
            ("rd_kafka_queue_new", p, [p]),
            ("rd_kafka_queue_destroy", None, [p]),
            ("rd_kafka_queue_poll", p, [p, i]),
            ("rd_kafka_event_type", i, [p]),
            ("rd_kafka_event_error", i, [p]),
            ("rd_kafka_event_error_string", s, [p]),
            ("rd_kafka_event_destroy", None, [p]),
            ("rd_kafka_error_string", s, [p]),
            ("rd_kafka_consumer_group_state_name", s, [i]),
            ("rd_kafka_ListConsumerGroups", None, [p, p, p]),
            ("rd_kafka_event_ListConsumerGroups_result", p, [p]),
            ("rd_kafka_ListConsumerGroups_result_valid", ctypes.POINTER(p), [p, ctypes.POINTER(size)]),
            ("rd_kafka_ListConsumerGroups_result_errors", ctypes.POINTER(p), [p, ctypes.POINTER(size)]),
            ("rd_kafka_ConsumerGroupListing_group_id", s, [p]),
            ("rd_kafka_ConsumerGroupListing_is_simple_consumer_group", i, [p]),
            ("rd_kafka_ConsumerGroupListing_state", i, [p]),
            ("rd_kafka_DescribeConsumerGroups", None, [p, ctypes.POINTER(s), size, p, p]),
            ("rd_kafka_event_DescribeConsumerGroups_result", p, [p]),
            ("rd_kafka_DescribeConsumerGroups_result_groups", ctypes.POINTER(p), [p, ctypes.POINTER(size)]),
            ("rd_kafka_ConsumerGroupDescription_group_id", s, [p]),
            ("rd_kafka_ConsumerGroupDescription_error", p, [p]),
            ("rd_kafka_ConsumerGroupDescription_is_simple_consumer_group", i, [p]),
            ("rd_kafka_ConsumerGroupDescription_partition_assignor", s, [p]),
            ("rd_kafka_ConsumerGroupDescription_state", i, [p]),
            ("rd_kafka_ConsumerGroupDescription_member_count", size, [p]),
            ("rd_kafka_ConsumerGroupDescription_member", p, [p, size]),
            ("rd_kafka_MemberDescription_client_id", s, [p]),
            ("rd_kafka_MemberDescription_consumer_id", s, [p]),
            ("rd_kafka_MemberDescription_host", s, [p]),
            ("rd_kafka_MemberDescription_assignment", p, [p]),
            ("rd_kafka_MemberAssignment_partitions", ctypes.POINTER(TopicPartitionList), [p]),
        ]:
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = restype, argtypes
        errstr = ctypes.create_string_buffer(512)
        conf = lib.rd_kafka_conf_new()
        for key, value in [("bootstrap.servers", bootstrap), ("client.id", client_id)]:
            assert lib.rd_kafka_conf_set(conf, key.encode(), value.encode(), errstr, 512) == 0, errstr.value
        self.rk = lib.rd_kafka_new(0, conf, errstr, 512)  # RD_KAFKA_PRODUCER: admin calls need only a handle
        assert self.rk, errstr.value
        self.queue = lib.rd_kafka_queue_new(self.rk)

    def version(self):
        return self.lib.rd_kafka_version_str().decode()

    def _result(self, event_type, timeout_ms=20000):
        ev = self.lib.rd_kafka_queue_poll(self.queue, timeout_ms)
        assert ev, "librdkafka: no admin result"
        assert self.lib.rd_kafka_event_type(ev) == event_type, self.lib.rd_kafka_event_type(ev)
        if self.lib.rd_kafka_event_error(ev) != 0:
            message = self.lib.rd_kafka_event_error_string(ev)
            self.lib.rd_kafka_event_destroy(ev)
            raise SystemExit(f"librdkafka admin: {message}")
        return ev

    def state_name(self, state):
        return self.lib.rd_kafka_consumer_group_state_name(state).decode()

    def list_consumer_groups(self):
        """ListGroups v4 (with the states filter field): {group: (state, simple)}."""
        lib, cnt = self.lib, self.ctypes.c_size_t()
        lib.rd_kafka_ListConsumerGroups(self.rk, None, self.queue)
        ev = self._result(self.EVENT_LISTCONSUMERGROUPS_RESULT)
        result = lib.rd_kafka_event_ListConsumerGroups_result(ev)
        errors = lib.rd_kafka_ListConsumerGroups_result_errors(result, self.ctypes.byref(cnt))
        assert cnt.value == 0, [lib.rd_kafka_error_string(errors[k]) for k in range(cnt.value)]
        valid = lib.rd_kafka_ListConsumerGroups_result_valid(result, self.ctypes.byref(cnt))
        groups = {}
        for k in range(cnt.value):
            g = valid[k]
            groups[lib.rd_kafka_ConsumerGroupListing_group_id(g).decode()] = (
                self.state_name(lib.rd_kafka_ConsumerGroupListing_state(g)),
                bool(lib.rd_kafka_ConsumerGroupListing_is_simple_consumer_group(g)),
            )
        lib.rd_kafka_event_destroy(ev)
        return groups

    def describe_consumer_group(self, group):
        """FindCoordinator, then DescribeGroups v4: the group's state, assignor and members."""
        lib, ctypes, cnt = self.lib, self.ctypes, self.ctypes.c_size_t()
        names = (ctypes.c_char_p * 1)(group.encode())
        lib.rd_kafka_DescribeConsumerGroups(self.rk, names, 1, None, self.queue)
        ev = self._result(self.EVENT_DESCRIBECONSUMERGROUPS_RESULT)
        result = lib.rd_kafka_event_DescribeConsumerGroups_result(ev)
        groups = lib.rd_kafka_DescribeConsumerGroups_result_groups(result, ctypes.byref(cnt))
        assert cnt.value == 1, cnt.value
        g = groups[0]
        error = lib.rd_kafka_ConsumerGroupDescription_error(g)
        members = []
        for k in range(lib.rd_kafka_ConsumerGroupDescription_member_count(g)):
            m = lib.rd_kafka_ConsumerGroupDescription_member(g, k)
            partitions = lib.rd_kafka_MemberAssignment_partitions(lib.rd_kafka_MemberDescription_assignment(m))
            members.append({
                "client_id": lib.rd_kafka_MemberDescription_client_id(m).decode(),
                "consumer_id": lib.rd_kafka_MemberDescription_consumer_id(m).decode(),
                "host": lib.rd_kafka_MemberDescription_host(m).decode(),
                "assignment": sorted(
                    (partitions.contents.elems[j].topic.decode(), partitions.contents.elems[j].partition)
                    for j in range(partitions.contents.cnt)
                ),
            })
        description = {
            "group": lib.rd_kafka_ConsumerGroupDescription_group_id(g).decode(),
            "error": lib.rd_kafka_error_string(error).decode() if error else None,
            "simple": bool(lib.rd_kafka_ConsumerGroupDescription_is_simple_consumer_group(g)),
            "assignor": (lib.rd_kafka_ConsumerGroupDescription_partition_assignor(g) or b"").decode(),
            "state": self.state_name(lib.rd_kafka_ConsumerGroupDescription_state(g)),
            "members": members,
        }
        lib.rd_kafka_event_destroy(ev)
        return description

    def close(self):
        self.lib.rd_kafka_queue_destroy(self.queue)
        self.lib.rd_kafka_destroy(self.rk)


def confluent_groups(bootstrap, topic):
    """A librdkafka consumer group member (JoinGroup v5, SyncGroup v3, Heartbeat v3, OffsetCommit v7,
    OffsetFetch v7, LeaveGroup v1 against this broker), observed from outside by confluent's
    AdminClient.list_groups (ListGroups v0, DescribeGroups v0) and by librdkafka's newer admin
    calls (ListGroups v4, DescribeGroups v4): state, assignor, members, assignment, commits."""
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    group, client_id, partitions, per_partition = f"{topic}-group", "samsa-e2e-confluent-groups", 2, 3
    admin = AdminClient({"bootstrap.servers": bootstrap, "client.id": client_id})
    for f in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        f.result(timeout=20)
    producer = Producer({"bootstrap.servers": bootstrap, "client.id": client_id, "linger.ms": 1})
    for p in range(partitions):
        for n in range(per_partition):
            producer.produce(topic, value=f"{p}-{n}".encode(), partition=p)
    assert producer.flush(20) == 0

    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "client.id": client_id,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 10000,
        "partition.assignment.strategy": "range",
    })
    consumer.subscribe([topic])
    got = []
    deadline = time.monotonic() + 30
    while len(got) < partitions * per_partition and time.monotonic() < deadline:
        m = consumer.poll(0.2)
        if m is not None and not m.error():
            got.append((m.partition(), m.offset()))
    assert len(got) == partitions * per_partition, got
    emit(event="consumed", count=len(got))

    committed = consumer.commit(asynchronous=False)
    assert sorted((tp.partition, tp.offset, tp.error) for tp in committed) == [
        (p, per_partition, None) for p in range(partitions)
    ], committed
    fetched = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
    assert sorted((tp.partition, tp.offset) for tp in fetched) == [(p, per_partition) for p in range(partitions)], fetched
    emit(event="committed", offsets=[tp.offset for tp in fetched])

    (listed,) = [g for g in admin.list_groups(group, timeout=10) if g.id == group]
    assert (listed.state, listed.protocol_type, listed.protocol) == ("Stable", "consumer", "range"), listed
    assert [m.client_id for m in listed.members] == [client_id], listed.members
    member_id = listed.members[0].id
    assert member_id, listed.members
    emit(event="list_groups", state=listed.state, members=len(listed.members))

    rd = Librdkafka(bootstrap, client_id)
    emit(event="librdkafka", version=rd.version())
    assert rd.list_consumer_groups().get(group) == ("Stable", False), rd.list_consumer_groups()
    described = rd.describe_consumer_group(group)
    assert described["error"] is None and not described["simple"], described
    assert (described["state"], described["assignor"]) == ("Stable", "range"), described
    assert [(m["client_id"], m["consumer_id"], m["assignment"]) for m in described["members"]] == [
        (client_id, member_id, [(topic, p) for p in range(partitions)])
    ], described
    emit(event="described", state=described["state"], members=len(described["members"]))

    consumer.close()  # LeaveGroup
    described = rd.describe_consumer_group(group)
    assert (described["state"], described["members"]) == ("Empty", []), described
    assert rd.list_consumer_groups().get(group) == ("Empty", False), rd.list_consumer_groups()
    rd.close()
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
    elif cmd == "confluent-groups":
        confluent_groups(sys.argv[2], sys.argv[3])
    elif cmd == "confluent-stream":
        confluent_stream(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
