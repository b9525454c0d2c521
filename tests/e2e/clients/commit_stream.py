"""Commits ever larger offsets for one partition with confluent-kafka-python, synchronously.

  commit_stream.py stream BOOTSTRAP GROUP TOPIC MAX   prints "ack N" after commit N was acknowledged
  commit_stream.py committed BOOTSTRAP GROUP TOPIC    prints the committed offset of partition 0 (-1: none)

The group never joins (assign, not subscribe): its commits are simple commits, as tools such as
kafka-consumer-groups --reset-offsets make them. Stops at the first failure or when a commit is
not answered within COMMIT_TIMEOUT_S (the broker died: librdkafka would retry forever).
"""
import os
import sys
import time

from confluent_kafka import Consumer, TopicPartition

COMMIT_TIMEOUT_S = 5


def consumer(bootstrap, group, **extra):
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "socket.timeout.ms": 5000,
            "session.timeout.ms": 6000,
            **extra,
        }
    )


def stream(bootstrap, group, topic, limit):
    results = []
    c = consumer(bootstrap, group, on_commit=lambda err, _partitions: results.append(err))
    for n in range(1, limit + 1):
        c.commit(offsets=[TopicPartition(topic, 0, n)], asynchronous=True)
        deadline = time.monotonic() + COMMIT_TIMEOUT_S
        while not results and time.monotonic() < deadline:
            c.poll(0.05)
        if not results or results[0] is not None:
            print(f"failed {n} {results[0] if results else 'timeout'}", flush=True)
            os._exit(0)  # close() would wait for the dead broker
        results.clear()
        print(f"ack {n}", flush=True)
    c.close()


def committed(bootstrap, group, topic):
    c = consumer(bootstrap, group)
    [tp] = c.committed([TopicPartition(topic, 0)], timeout=30)
    print(tp.offset if tp.offset >= 0 else -1, flush=True)
    c.close()


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "stream":
        stream(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    elif mode == "committed":
        committed(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        raise SystemExit(f"unknown mode {mode}")
