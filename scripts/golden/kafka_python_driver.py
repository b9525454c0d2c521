#!/usr/bin/python3
"""Drives kafka-python, with its default settings, against the capture's fake broker. Run by
capture.ts with /usr/bin/python3:

  kafka_python_driver.py <broker> produce <topic> '<records json>'
  kafka_python_driver.py <broker> consume <topic> <group> <count>

consume subscribes as a group member (auto_offset_reset earliest, since the messages were produced
before it joined), reads <count> messages and closes, which commits and leaves the group.
"""
import json
import sys

from kafka import KafkaConsumer, KafkaProducer

TIMEOUT_S = 30


def produce(broker, topic, records):
    p = KafkaProducer(bootstrap_servers=broker)
    futures = [
        p.send(topic, key=r["key"].encode(), value=r["value"].encode(), headers=[(k, v.encode()) for k, v in r["headers"]])
        for r in records
    ]
    p.flush(TIMEOUT_S)
    for f in futures:
        md = f.get(TIMEOUT_S)
        print("delivered %s[%d]@%d" % (md.topic, md.partition, md.offset))
    p.close()


def consume(broker, topic, group, count):
    c = KafkaConsumer(
        topic,
        bootstrap_servers=broker,
        group_id=group,
        auto_offset_reset="earliest",
        consumer_timeout_ms=TIMEOUT_S * 1000,
    )
    seen = 0
    for m in c:
        print("consumed %d@%d: %s=%s" % (m.partition, m.offset, m.key, m.value))
        seen += 1
        if seen >= count:
            break
    c.close()
    if seen < count:
        raise SystemExit("consumed %d of %d" % (seen, count))


if __name__ == "__main__":
    broker, mode = sys.argv[1], sys.argv[2]
    if mode == "produce":
        produce(broker, sys.argv[3], json.loads(sys.argv[4]))
    elif mode == "consume":
        consume(broker, sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        raise SystemExit("unknown mode " + mode)
