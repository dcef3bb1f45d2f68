"""A recoverable Kafka word count: kill the driver at any moment, restart it, and nothing is lost or doubled.

    python examples/recoverable_wordcount.py --bootstrap-servers 127.0.0.1:9092 --topic words \
        --checkpoint /tmp/wordcount-checkpoint --dsn "host=127.0.0.1 dbname=test user=postgres"

- ``StreamingContext.get_or_create`` brings the context back from the checkpoint directory: the batches
  pending when the driver died run again with the same Kafka offset ranges.
- Each batch's word counts are written to PostgreSQL in ONE transaction that also moves the stored
  offsets from ``from_offset`` to ``until_offset``; a batch that already went in (rerun after a crash)
  changes nothing. Exactly once.
- ``update_state_by_key`` keeps running totals; its state is saved to the checkpoint directory every few
  batches (a data checkpoint) and recomputed from Kafka after a crash, so the totals table is always
  the totals of everything read.
- The source and the state are named (``.named("lines")``, ``.named("totals")``): a new version of the
  program (``--app-version 2`` changes a function and adds an operator) resumes them from the same
  checkpoint directory, as it would after an upgrade of dstreams or Python.

Without --bootstrap-servers it starts a dev broker, produces some text, runs until it has caught up and
prints the totals.
"""
from __future__ import annotations

import argparse
import operator
import sys

import psycopg

from dstreams import StreamingContext
from dstreams.kafka import create_direct_stream

SCHEMA = """
CREATE TABLE IF NOT EXISTS {p}counts (word text PRIMARY KEY, n bigint NOT NULL);
CREATE TABLE IF NOT EXISTS {p}totals (word text PRIMARY KEY, n bigint NOT NULL);
CREATE TABLE IF NOT EXISTS {p}offsets (topic text, part int, until_offset bigint NOT NULL,
                                       PRIMARY KEY (topic, part));
"""


def running_total(new_values, total):
    return sum(new_values) + (total or 0)


def running_total_v2(new_values, total):  # version 2: the same totals, written another way
    total = 0 if total is None else total
    for n in new_values:
        total += n
    return total


def make_setup(args, client=None):
    def setup():
        ssc = StreamingContext(client, batch_interval=args.interval)
        ssc.checkpoint(args.checkpoint)
        params = {"bootstrap_servers": args.bootstrap_servers, "receive_message_max_bytes": 64 * 1024 * 1024}
        lines = create_direct_stream(ssc, [args.topic], params, starting_offsets="earliest").named("lines")
        dsn, p = args.dsn, args.table_prefix

        def store_counts(time, rdd):
            ranges = rdd.offset_ranges
            counts = rdd.flat_map(lambda r: r.value.decode().split()).map(lambda w: (w, 1)) \
                .reduce_by_key(operator.add).collect()
            claimed = {"all": True}
            with psycopg.connect(dsn) as conn, conn.transaction():
                for o in ranges:  # claim every range of the batch, or none: the batch already went in
                    if o.from_offset == 0:
                        conn.execute(f"INSERT INTO {p}offsets VALUES (%s, %s, 0) ON CONFLICT DO NOTHING",
                                     (o.topic, o.partition))
                    cur = conn.execute(f"UPDATE {p}offsets SET until_offset = %s WHERE topic = %s AND part = %s "
                                       "AND until_offset = %s", (o.until_offset, o.topic, o.partition, o.from_offset))
                    if cur.rowcount != 1:
                        claimed["all"] = False
                        raise psycopg.Rollback()  # leaves the transaction, changing nothing
                for word, n in counts:
                    conn.execute(f"INSERT INTO {p}counts VALUES (%s, %s) ON CONFLICT (word) "
                                 f"DO UPDATE SET n = {p}counts.n + EXCLUDED.n", (word, n))
            n = sum(o.count() for o in ranges)
            print(f"batch {time:%H:%M:%S.%f} " + (f"stored {n} records" if claimed["all"] else "already stored"),
                  flush=True)

        def store_totals(time, rdd):
            totals = rdd.collect()
            with psycopg.connect(dsn) as conn, conn.transaction():
                conn.execute(f"DELETE FROM {p}totals")
                for word, n in totals:
                    conn.execute(f"INSERT INTO {p}totals VALUES (%s, %s)", (word, n))

        lines.foreach_rdd(store_counts)
        words = lines.flat_map(lambda r: r.value.decode().split())
        if args.app_version == 2:
            words = words.filter(str.isalpha)  # version 2 adds an operator before the state
        update = running_total if args.app_version == 1 else running_total_v2
        totals = words.map(lambda w: (w, 1)).update_state_by_key(update).checkpoint(args.interval * 4)
        totals.named("totals").foreach_rdd(store_totals)
        return ssc

    return setup


def run(args):
    with psycopg.connect(args.dsn) as conn:
        conn.execute(SCHEMA.format(p=args.table_prefix))
    client = None
    if args.processes:  # worker processes with nannies, as a deployed cluster has
        from distributed import Client, LocalCluster

        client = Client(LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"))
    ssc = StreamingContext.get_or_create(args.checkpoint, make_setup(args, client), client=client, upgrade=args.upgrade)
    print("recovered from the checkpoint" if ssc.recovered else "a new context", flush=True)
    if ssc.restored_streams:
        print(f"version {args.app_version} resumed: {ssc.restored_streams}", flush=True)
    idle = {"batches": 0}

    from dstreams import StreamingListener

    class StopWhenCaughtUp(StreamingListener):
        def on_batch_completed(self, info):
            idle["batches"] = idle["batches"] + 1 if info.num_records == 0 else 0

    ssc.add_listener(StopWhenCaughtUp())
    ssc.start()
    print("started", flush=True)
    while True:
        if ssc.await_termination(timeout=0.2):
            break
        if args.stop_when_caught_up and idle["batches"] >= 3:
            ssc.stop(graceful=True)
            break
    with psycopg.connect(args.dsn) as conn:
        total = conn.execute(f"SELECT coalesce(sum(n), 0) FROM {args.table_prefix}counts").fetchone()[0]
    print(f"words counted: {total}", flush=True)
    if client is not None:
        client.cluster.close()
        client.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bootstrap-servers")
    ap.add_argument("--topic", default="words")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--dsn", default="host=127.0.0.1 dbname=test user=postgres")
    ap.add_argument("--table-prefix", default="recoverable_")
    ap.add_argument("--interval", type=float, default=0.5)
    ap.add_argument("--stop-when-caught-up", action="store_true")
    ap.add_argument("--processes", action="store_true", help="run on 2 worker processes (with nannies)")
    ap.add_argument("--app-version", type=int, choices=(1, 2), default=1,
                    help="2 changes a function and adds an operator before the state")
    ap.add_argument("--upgrade", action="store_true",
                    help="resume the sources and state of the checkpoint into this version's graph")
    args = ap.parse_args(argv)
    if args.bootstrap_servers:
        if not args.checkpoint:
            ap.error("--checkpoint is needed with --bootstrap-servers")
        run(args)
        return
    import tempfile

    from dstreams.dev.broker import DevBroker

    with DevBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        broker.create_topic(args.topic, 2)
        for p in range(2):
            broker.produce(args.topic, ["to be or not to be"] * 20, partition=p)
        with psycopg.connect(args.dsn) as conn:
            for table in ("counts", "totals", "offsets"):
                conn.execute(f"DROP TABLE IF EXISTS {args.table_prefix}{table}")
        args.bootstrap_servers, args.checkpoint, args.stop_when_caught_up = broker.bootstrap_servers, tmp, True
        run(args)


if __name__ == "__main__":
    main(sys.argv[1:])
