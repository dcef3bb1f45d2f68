"""Exactly-once word count into PostgreSQL: results and Kafka offsets in one transaction per partition.

Each Kafka partition of a batch is counted on a worker and written in ONE PostgreSQL transaction that
also moves that partition's stored offset from ``from_offset`` to ``until_offset``. A transaction whose
stored offset is not ``from_offset`` (the batch already ran) changes nothing, so rerunning a batch never
counts twice. On start, the stream resumes from the offsets stored in PostgreSQL, not from Kafka's.

    python examples/kafka_postgres_exactly_once.py --bootstrap-servers 127.0.0.1:9092 --topic words \
        --dsn "host=127.0.0.1 dbname=test user=postgres" --batches 3

Without --bootstrap-servers it starts a dev broker and produces some text first (a self-contained demo).
"""
from __future__ import annotations

import argparse
import collections

import psycopg
from kafka import TopicPartition

from dstreams import StreamingContext
from dstreams.kafka import create_direct_stream

SCHEMA = """
CREATE TABLE IF NOT EXISTS {p}word_counts (word text PRIMARY KEY, n bigint NOT NULL);
CREATE TABLE IF NOT EXISTS {p}kafka_offsets (
    app text, topic text, part int, until_offset bigint NOT NULL, PRIMARY KEY (app, topic, part));
"""


def stored_offsets(dsn, prefix, app, topic):
    with psycopg.connect(dsn) as conn:
        conn.execute(SCHEMA.format(p=prefix))
        rows = conn.execute(f"SELECT part, until_offset FROM {prefix}kafka_offsets WHERE app = %s AND topic = %s",
                            (app, topic)).fetchall()
    return {TopicPartition(topic, part): until for part, until in rows}


def store_partition(dsn, prefix, app, offset_range, records):
    """Runs on a worker: count one Kafka partition's words and store them with its offsets atomically."""
    counts = collections.Counter(w for r in records for w in r.value.decode().split())
    o = offset_range
    with psycopg.connect(dsn) as conn, conn.transaction():
        # claim the range: only if the stored offset is where this range starts (or nothing is stored yet)
        cur = conn.execute(
            f"INSERT INTO {prefix}kafka_offsets (app, topic, part, until_offset) VALUES (%s, %s, %s, %s) "
            f"ON CONFLICT (app, topic, part) DO UPDATE SET until_offset = EXCLUDED.until_offset "
            f"WHERE {prefix}kafka_offsets.until_offset = %s",
            (app, o.topic, o.partition, o.until_offset, o.from_offset))
        if cur.rowcount == 0:
            return [0]  # this range was already stored by an earlier run of the batch
        for word, n in counts.items():
            conn.execute(f"INSERT INTO {prefix}word_counts (word, n) VALUES (%s, %s) "
                         f"ON CONFLICT (word) DO UPDATE SET n = {prefix}word_counts.n + EXCLUDED.n", (word, n))
    return [sum(counts.values())]


def run(bootstrap, topic, dsn, prefix, batches, interval, app="wordcount"):
    start = stored_offsets(dsn, prefix, app, topic)
    print(f"resuming from offsets stored in PostgreSQL: {sorted((tp.partition, o) for tp, o in start.items())}")
    ssc = StreamingContext(batch_interval=interval)
    params = {"bootstrap_servers": bootstrap, "receive_message_max_bytes": 64 * 1024 * 1024}
    # partitions with nothing stored start at the beginning of the log
    from dstreams.sources.kafka.metadata import KafkaMetadata

    with KafkaMetadata(params) as meta:
        parts = meta.partitions(topics=[topic])
        starting = {tp: start.get(tp, "earliest") for tp in parts}
    stream = create_direct_stream(ssc, [topic], params, starting_offsets=starting)
    seen = []

    def store(time_, rdd):
        ranges = rdd.offset_ranges
        written = rdd.map_partitions_with_index(
            lambda i, records: store_partition(dsn, prefix, app, ranges[i], list(records))).collect()
        seen.append(sum(written))
        print(f"batch {time_:%H:%M:%S}: stored {sum(written)} words from "
              + ", ".join(f"[{o.partition}] {o.from_offset}..{o.until_offset}" for o in ranges), flush=True)

    stream.foreach_rdd(store)
    ssc.start()
    import time

    deadline = time.monotonic() + batches * interval + 60
    while len(seen) < batches and time.monotonic() < deadline:
        time.sleep(0.05)
    ssc.stop(graceful=True)
    with psycopg.connect(dsn) as conn:
        total = conn.execute(f"SELECT coalesce(sum(n), 0) FROM {prefix}word_counts").fetchone()[0]
    print(f"words stored in total: {total}")
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bootstrap-servers")
    ap.add_argument("--topic", default="words")
    ap.add_argument("--dsn", default="host=127.0.0.1 dbname=test user=postgres")
    ap.add_argument("--table-prefix", default="dstreams_demo_")
    ap.add_argument("--batches", type=int, default=3)
    ap.add_argument("--interval", type=float, default=1.0)
    args = ap.parse_args()
    if args.bootstrap_servers:
        run(args.bootstrap_servers, args.topic, args.dsn, args.table_prefix, args.batches, args.interval)
        return
    from dstreams.dev.broker import DevBroker

    with psycopg.connect(args.dsn) as conn:  # a new broker: start the demo tables afresh
        for table in ("word_counts", "kafka_offsets"):
            conn.execute(f"DROP TABLE IF EXISTS {args.table_prefix}{table}")
    with DevBroker() as broker:
        broker.create_topic(args.topic, 2)
        for p in range(2):
            broker.produce(args.topic, ["exactly once into postgres"] * 10, partition=p)
        run(broker.bootstrap_servers, args.topic, args.dsn, args.table_prefix, args.batches, args.interval)


if __name__ == "__main__":
    main()
