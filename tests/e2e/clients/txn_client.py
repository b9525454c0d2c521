"""Transactions with confluent-kafka-python (librdkafka), one JSON object per line on stdout.

  txn_client.py interleaved BOOTSTRAP TXID TOPIC N       N transactions of 3 records: even ones committed, odd ones aborted
  txn_client.py read BOOTSTRAP TOPIC ISOLATION           every value of every partition up to the end, read_committed or read_uncommitted
  txn_client.py ctp BOOTSTRAP TXID GROUP IN OUT TOTAL    consume-transform-produce: each input record becomes one output record,
                                                         its offset committed in the same transaction (send_offsets_to_transaction);
                                                         stops once the group's committed offsets reach TOTAL records
  txn_client.py zombie BOOTSTRAP TXID TOPIC              a second producer with the same transactional id fences the first
"""
import json
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

TIMEOUT_S = 30


def emit(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


def producer(bootstrap, txid, **extra):
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "transactional.id": txid,
            "transaction.timeout.ms": 10000,
            "socket.timeout.ms": 10000,
            **extra,
        }
    )


def ensure_topic(bootstrap, topic, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        try:
            future.result(TIMEOUT_S)
        except KafkaException as e:
            if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise


def interleaved(bootstrap, txid, topic, n):
    ensure_topic(bootstrap, topic, 2)
    p = producer(bootstrap, txid)
    p.init_transactions(TIMEOUT_S)
    for i in range(n):
        p.begin_transaction()
        for j in range(3):
            p.produce(topic, key=f"k{j}", value=f"t{i}-r{j}", partition=j % 2)
        p.flush(TIMEOUT_S)
        if i % 2 == 0:
            p.commit_transaction(TIMEOUT_S)
        else:
            p.abort_transaction(TIMEOUT_S)
        emit("txn", index=i, committed=i % 2 == 0)
    emit("done")


def read(bootstrap, topic, isolation):
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{isolation}-{time.time()}",
            "enable.auto.commit": False,
            "isolation.level": isolation,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
        }
    )
    md = c.list_topics(topic, timeout=TIMEOUT_S)
    partitions = sorted(md.topics[topic].partitions)
    c.assign([TopicPartition(topic, p, 0) for p in partitions])
    at_end = set()
    values = []
    deadline = time.monotonic() + TIMEOUT_S
    while len(at_end) < len(partitions) and time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                at_end.add(m.partition())
                continue
            raise KafkaException(m.error())
        values.append([m.partition(), m.offset(), m.value().decode()])
    c.close()
    emit("read", values=values, complete=len(at_end) == len(partitions))


def committed_total(consumer, topic, partitions):
    committed = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=TIMEOUT_S)
    return sum(max(tp.offset, 0) for tp in committed)


def ctp(bootstrap, txid, group, in_topic, out_topic, total):
    ensure_topic(bootstrap, out_topic, 2)
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
        }
    )
    p = producer(bootstrap, txid)
    p.init_transactions(TIMEOUT_S)
    emit("ready")
    c.subscribe([in_topic])
    partitions = sorted(c.list_topics(in_topic, timeout=TIMEOUT_S).topics[in_topic].partitions)
    while True:
        msgs = c.consume(num_messages=5, timeout=0.5)
        msgs = [m for m in msgs if not m.error()]
        if not msgs:
            if committed_total(c, in_topic, partitions) >= total:
                break
            continue
        p.begin_transaction()
        for m in msgs:
            p.produce(out_topic, key=m.key(), value=b"out-" + m.value(), partition=m.partition())
        p.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(), TIMEOUT_S)
        # Slow enough that a SIGKILL lands inside an open transaction.
        time.sleep(0.05)
        p.commit_transaction(TIMEOUT_S)
        emit("committed", count=len(msgs), last=[m.value().decode() for m in msgs][-1])
    c.close()
    emit("done")


def zombie(bootstrap, txid, topic):
    first = producer(bootstrap, txid)
    first.init_transactions(TIMEOUT_S)
    first.begin_transaction()
    first.produce(topic, value=b"zombie", partition=0)
    first.flush(TIMEOUT_S)
    emit("first-open")
    second = producer(bootstrap, txid)
    second.init_transactions(TIMEOUT_S)
    emit("second-ready")
    try:
        first.produce(topic, value=b"zombie-2", partition=0)
        first.flush(TIMEOUT_S)
        first.commit_transaction(TIMEOUT_S)
        emit("zombie-committed")
    except KafkaException as e:
        err = e.args[0]
        emit("zombie-failed", code=err.name(), fatal=err.fatal())
    second.begin_transaction()
    second.produce(topic, value=b"survivor", partition=0)
    second.commit_transaction(TIMEOUT_S)
    emit("done")


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "interleaved":
        interleaved(args[0], args[1], args[2], int(args[3]))
    elif mode == "read":
        read(args[0], args[1], args[2])
    elif mode == "ctp":
        ctp(args[0], args[1], args[2], args[3], args[4], int(args[5]))
    elif mode == "zombie":
        zombie(args[0], args[1], args[2])
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
