"""An idempotent confluent-kafka-python producer streaming numbered records, and a reader.

  idempotent_producer.py produce BOOTSTRAP TOPIC COUNT   prints "ack N" for each delivered record
                                                          N, then "done ACKED FAILED"
  idempotent_producer.py read BOOTSTRAP TOPIC COUNT      prints every value of partition 0 in
                                                          offset order, one a line, then "end"

The producer has enable.idempotence=true (acks=all, at most 5 in flight, infinite retries): when
the broker dies mid-stream, librdkafka keeps the unacknowledged batches and retries them with
their sequence numbers once the broker is back, so every record must land exactly once and in
order whether or not its first attempt had been written.
"""
import sys

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def produce(bootstrap, topic, count):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        try:
            f.result(30)
        except KafkaException:
            pass  # exists already
    failed = []

    def delivered(err, msg):
        if err is not None:
            failed.append(str(err))
            print(f"failed {msg.value().decode()} {err}", flush=True)
        else:
            print(f"ack {msg.value().decode()} {msg.offset()}", flush=True)

    p = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "linger.ms": 2,
            "batch.num.messages": 50,
            "message.timeout.ms": 120000,
            "reconnect.backoff.max.ms": 200,
            "socket.timeout.ms": 5000,
        }
    )
    for n in range(count):
        while True:
            try:
                p.produce(topic, value=str(n).encode(), partition=0, on_delivery=delivered)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
        if n % 200 == 0:
            p.poll(0.01)  # keep the stream going for a while, so the kill lands mid-stream
    remaining = p.flush(150)
    print(f"done {count - len(failed) - remaining} {len(failed)}", flush=True)


def read(bootstrap, topic, count):
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "idempotence-reader",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    c.assign([TopicPartition(topic, 0, 0)])
    seen = 0
    idle = 0
    while idle < 50:
        msg = c.poll(0.2)
        if msg is None:
            idle += 1 if seen >= count else 0
            continue
        if msg.error():
            continue
        idle = 0
        seen += 1
        print(msg.value().decode())
    print("end", flush=True)
    c.close()


if __name__ == "__main__":
    cmd, bootstrap, topic, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    {"produce": produce, "read": read}[cmd](bootstrap, topic, count)
