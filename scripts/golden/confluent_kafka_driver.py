#!/usr/bin/python3
"""Drives confluent-kafka-python (librdkafka), with its default settings, against the capture's
fake broker. Run by capture.ts with /usr/bin/python3:

  confluent_kafka_driver.py <broker> produce <topic> '<records json>'
  confluent_kafka_driver.py <broker> consume <topic> <group> <count>

produce: list_topics (every topic), produce each record with its key and headers, flush,
list_topics(topic). consume: a group member (group.id is required) that assigns every partition
from the beginning, reads <count> messages, seeks back to the first one and reads it again, then
closes (which commits its offsets).
"""
import json
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition

TIMEOUT_S = 30


def produce(broker, topic, records):
    p = Producer({"bootstrap.servers": broker})
    print("topics:", sorted(p.list_topics(timeout=TIMEOUT_S).topics))
    errors = []

    def delivered(err, msg):
        if err is not None:
            errors.append(err)
        else:
            print("delivered %s[%d]@%d" % (msg.topic(), msg.partition(), msg.offset()))

    for r in records:
        p.produce(
            topic,
            key=r["key"].encode(),
            value=r["value"].encode(),
            headers=[(k, v.encode()) for k, v in r["headers"]],
            on_delivery=delivered,
        )
    if p.flush(TIMEOUT_S) != 0 or errors:
        raise KafkaException("not delivered: %s" % errors)
    print("metadata:", p.list_topics(topic, timeout=TIMEOUT_S).topics[topic].partitions)


def poll_until(c, want, deadline):
    got = []
    while len(got) < want:
        if time.time() > deadline:
            raise TimeoutError("consumed %d of %d" % (len(got), want))
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            raise KafkaException(m.error())
        got.append(m)
    return got


def consume(broker, topic, group, count):
    deadline = time.time() + TIMEOUT_S
    c = Consumer({"bootstrap.servers": broker, "group.id": group})
    partitions = c.list_topics(topic, timeout=TIMEOUT_S).topics[topic].partitions
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(partitions)])
    first = poll_until(c, count, deadline)[0]
    print("read %d messages, seeking to %d@%d" % (count, first.partition(), first.offset()))
    c.seek(TopicPartition(topic, first.partition(), first.offset()))
    again = poll_until(c, 1, deadline)[0]
    assert (again.partition(), again.offset()) == (first.partition(), first.offset()), "seek did not rewind"
    c.close()


if __name__ == "__main__":
    broker, mode = sys.argv[1], sys.argv[2]
    if mode == "produce":
        produce(broker, sys.argv[3], json.loads(sys.argv[4]))
    elif mode == "consume":
        consume(broker, sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        raise SystemExit("unknown mode " + mode)
