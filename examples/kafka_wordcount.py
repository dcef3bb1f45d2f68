"""Kafka word count with the direct stream: the job `make demo` runs.

Without --bootstrap-servers it starts a local dev broker (noida-db, on a free port, in a temporary data
dir, stopped at the end), creates a 4-partition topic and produces sample text in the background. Each
batch prints its top words and the Kafka offset ranges it read; after --batches batches the context
stops gracefully and the totals are checked against what was produced.

    python examples/kafka_wordcount.py                                  # self-contained
    python examples/kafka_wordcount.py --bootstrap-servers host:9092 --topic words --batches 0  # any Kafka
"""
from __future__ import annotations

import argparse
import collections
import operator
import random
import threading
import time

from dstreams import StreamingContext
from dstreams.kafka import create_direct_stream

TEXT = """the quick brown fox jumps over the lazy dog
a stream is a sequence of batches and a batch is a dask graph
every kafka partition becomes one dask partition of the batch
offsets make the batch repeatable so the output can be exactly once""".splitlines()


def produce_sample_text(bootstrap, topic, stop, sent: collections.Counter, partitions=4, rate=200):
    """Send lines of TEXT to every partition until ``stop`` is set; count the words sent."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    rng = random.Random(42)
    try:
        while not stop.is_set():
            for _ in range(rate // 10):
                line = rng.choice(TEXT)
                producer.send(topic, line.encode(), partition=rng.randrange(partitions))
                sent.update(line.split())
            producer.flush()
            stop.wait(0.1)
    finally:
        producer.flush()
        producer.close()


def run(bootstrap, topic, batches, interval, produce=True):
    ssc = StreamingContext(batch_interval=interval)  # an in-process LocalCluster, closed by stop()
    params = {"bootstrap_servers": bootstrap, "group_id": "dstreams-wordcount",
              "receive_message_max_bytes": 64 * 1024 * 1024}
    lines = create_direct_stream(ssc, [topic], params, starting_offsets="earliest", max_rate_per_partition=5000)
    totals: collections.Counter = collections.Counter()
    done = threading.Event()
    seen = [0]

    def show(time_, rdd):
        for o in rdd.offset_ranges:
            print(f"  {o.topic}[{o.partition}] offsets {o.from_offset}..{o.until_offset} ({o.count()} records)")

    def count(time_, rdd):
        batch = dict(rdd.collect())
        totals.update(batch)
        top = sorted(batch.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        print(f"batch {time_:%H:%M:%S.%f}"[:-3] + f": {sum(batch.values())} words, top {top}", flush=True)
        seen[0] += 1
        if batches and seen[0] >= batches:
            done.set()

    lines.foreach_rdd(show)
    words = lines.flat_map(lambda record: record.value.decode().split())
    words.map(lambda w: (w, 1)).reduce_by_key(operator.add).foreach_rdd(count)
    lines.foreach_rdd(lambda rdd: lines.commit_async(rdd.offset_ranges))

    sent: collections.Counter = collections.Counter()
    stop_producing = threading.Event()
    producer = None
    if produce:
        producer = threading.Thread(target=produce_sample_text, args=(bootstrap, topic, stop_producing, sent),
                                    daemon=True)
        producer.start()
    ssc.start()
    try:
        if batches:
            done.wait(timeout=batches * interval + 60)
        else:
            ssc.await_termination()
    finally:
        stop_producing.set()
        if producer is not None:
            producer.join()
    if produce:  # one more batch picks up what was sent last, then stop gracefully
        time.sleep(interval * 2)
    ssc.stop(graceful=True)
    print(f"total words counted: {sum(totals.values())}; most common: {totals.most_common(3)}")
    if produce:
        ok = totals == sent
        print(f"counted exactly what was produced ({sum(sent.values())} words): {'yes' if ok else 'NO'}")
        if not ok:
            raise SystemExit(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bootstrap-servers", help="Kafka to use; without it a local dev broker is started")
    ap.add_argument("--topic", default="words")
    ap.add_argument("--batches", type=int, default=8, help="stop after this many batches (0: run until killed)")
    ap.add_argument("--interval", type=float, default=1.0, help="batch interval in seconds")
    args = ap.parse_args()
    if args.bootstrap_servers:
        run(args.bootstrap_servers, args.topic, args.batches, args.interval, produce=False)
        return
    from dstreams.dev.broker import DevBroker

    with DevBroker() as broker:
        print(f"started a dev Kafka broker at {broker.bootstrap_servers}")
        broker.create_topic(args.topic, 4)
        run(broker.bootstrap_servers, args.topic, args.batches, args.interval)


if __name__ == "__main__":
    main()
