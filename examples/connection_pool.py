"""Write a stream to PostgreSQL through a worker-side ConnectionPool.

Four batches of 8 partitions are written with ``rdd.foreach_partition``. Each partition borrows a
connection from its worker's pool rather than opening its own, so 32 partitions share a few
connections, which stay open from batch to batch. When the cluster shuts down, the workers close
every pooled connection.

Needs the PostgreSQL server of the test setup (127.0.0.1:5432, database ``test``, user ``postgres``).
Run it with ``python examples/connection_pool.py``; it finishes in a few seconds and drops its table.
"""
from __future__ import annotations

import functools
import threading
import time
import uuid

import psycopg
from distributed import Client, LocalCluster

from dstreams import ConnectionPool, StreamingContext

DSN = "host=127.0.0.1 dbname=test user=postgres"
BATCHES, PARTITIONS, RECORDS = 4, 8, 80
WORKERS, THREADS, MAX_SIZE = 2, 2, 2


def connect(app: str):
    return psycopg.connect(f"{DSN} application_name={app}", autocommit=True, connect_timeout=5)


def alive(conn) -> bool:
    conn.execute("SELECT 1")
    return True


def open_sessions(admin, app: str) -> int:
    return admin.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (app,)).fetchone()[0]


def main() -> None:
    run = uuid.uuid4().hex[:8]
    table, app = f"pool_example_{run}", f"dstreams-example-{run}"
    pool = ConnectionPool(functools.partial(connect, app), max_size=MAX_SIZE, validate=alive, name=app)

    def write(records):  # runs on the workers, once per partition
        rows = [(x, x * x) for x in records]
        with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {table} (x, square) VALUES (%s, %s)", rows)

    with psycopg.connect(DSN, autocommit=True) as admin:
        admin.execute(f"CREATE TABLE {table} (x int PRIMARY KEY, square int)")
        try:
            partitions = 0
            all_done = threading.Event()
            cluster = LocalCluster(n_workers=WORKERS, threads_per_worker=THREADS, processes=False,
                                   dashboard_address=":0")
            with cluster, Client(cluster, set_as_default=False) as client:
                ssc = StreamingContext(client, batch_interval=0.5)
                batches = [ssc.parallelize(range(b * RECORDS, (b + 1) * RECORDS), PARTITIONS) for b in range(BATCHES)]

                def write_batch(rdd):
                    nonlocal partitions
                    rdd.foreach_partition(write)
                    partitions += rdd.npartitions
                    if partitions >= BATCHES * PARTITIONS:
                        all_done.set()

                ssc.queue_stream(batches).foreach_rdd(write_batch)
                ssc.start()
                if not all_done.wait(timeout=15):
                    raise SystemExit(f"only {partitions} partitions were written within 15 s")
                ssc.stop(graceful=True)

                stats = pool.worker_stats(client)
                opened = sum(s["created"] for s in stats.values())
                borrowed = sum(s["borrowed"] for s in stats.values())
                print(f"partitions written: {partitions} in {BATCHES} batches")
                print(f"connections opened by the pool: {opened} for {borrowed} borrows "
                      f"(at most {WORKERS} workers x max_size {MAX_SIZE}); "
                      f"a connection per partition would have opened {partitions}")
                print(f"pooled connections open between batches: {open_sessions(admin, app)}")
                if opened <= WORKERS * MAX_SIZE and borrowed == partitions:
                    print("the pool opened at most max_size connections per worker and reused them")
            # the cluster is closed: its workers' plugin closed every pooled connection
            deadline = time.monotonic() + 5
            while open_sessions(admin, app) and time.monotonic() < deadline:
                time.sleep(0.05)
            print(f"pooled connections open after the workers shut down: {open_sessions(admin, app)}")
            rows, squares_ok = admin.execute(f"SELECT count(*), bool_and(square = x * x) FROM {table}").fetchone()
            print(f"rows in the table: {rows} of {BATCHES * RECORDS}{' (all correct)' if squares_ok else ''}")
        finally:
            admin.execute(f"DROP TABLE IF EXISTS {table}")


if __name__ == "__main__":
    main()
