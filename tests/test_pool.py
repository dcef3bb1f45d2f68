"""ConnectionPool: one lazily created pool per worker, reused across partitions and batches.

The database tests run against the real PostgreSQL (127.0.0.1:5432, database ``test``) and Redis
(127.0.0.1:6379) of this machine. Connections are told apart from other sessions' by a unique
``application_name`` (PostgreSQL) or client name (Redis) per test.
"""
from __future__ import annotations

import datetime
import functools
import itertools
import pickle
import threading
import time
import uuid

import pytest
from distributed import Client, LocalCluster

from dstreams import RDD, ConnectionPool
from dstreams.pool import PLUGIN_NAME, PoolClosedError, PoolTimeoutError
from dstreams.testing import run_batches

psycopg = pytest.importorskip("psycopg")
redis = pytest.importorskip("redis")

DSN = "host=127.0.0.1 dbname=test user=postgres"
BATCHES, PARTITIONS, RECORDS = 5, 8, 80


def wait_for(condition, what: str, timeout: float = 10.0):
    """Poll ``condition`` until it is true; fail saying ``what`` did not happen within ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout} s (last value {value!r})")
        time.sleep(0.02)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def total(stats_by_worker: dict, key: str) -> int:
    return sum(s[key] for s in stats_by_worker.values())


# --------------------------------------------------------------------------- fake connections


class FakeConn:
    """A connection stand-in: counts opens and closes, holds a lock (so it cannot be pickled)."""

    ids = itertools.count()

    def __init__(self):
        self.id = next(FakeConn.ids)
        self.broken = False
        self.closed = False
        self._lock = threading.Lock()

    def close(self):
        self.closed = True


def fake_alive(conn) -> bool:
    if conn.broken == "raise":
        raise ConnectionError("connection reset by peer")
    return not conn.broken


def test_clear_errors_for_bad_settings():
    with pytest.raises(TypeError, match="factory must be a callable.*got 'postgres://x'"):
        ConnectionPool("postgres://x")
    with pytest.raises(ValueError, match="max_size must be at least 1, got 0"):
        ConnectionPool(FakeConn, max_size=0)
    with pytest.raises(TypeError, match="max_size must be an integer"):
        ConnectionPool(FakeConn, max_size="4")
    with pytest.raises(TypeError, match="validate must be a callable"):
        ConnectionPool(FakeConn, validate=True)
    with pytest.raises(TypeError, match="close must be a callable"):
        ConnectionPool(FakeConn, close="close")
    with pytest.raises(ValueError, match="timeout must be positive"):
        ConnectionPool(FakeConn, timeout=0)
    with pytest.raises(TypeError, match="timeout must be a number of seconds, a datetime.timedelta or a string"):
        ConnectionPool(FakeConn, timeout=[30])
    assert ConnectionPool(FakeConn, timeout="30s").timeout == 30.0
    assert ConnectionPool(FakeConn, timeout=datetime.timedelta(seconds=2)).timeout == 2.0
    pool = ConnectionPool(lambda: None, max_size=1)
    with pytest.raises(TypeError, match="returned None"):
        with pool.connection():
            pass
    assert pool.stats()["open"] == 0


def test_pickles_as_its_recipe_never_its_connections():
    pool = ConnectionPool(FakeConn, max_size=2, validate=fake_alive, name=unique("recipe"))
    with pool.connection() as conn:  # a live, unpicklable connection in the driver's pool
        with pytest.raises(TypeError):
            pickle.dumps(conn)
        data = pickle.dumps(pool)
    assert len(data) < 500 and b"FakeConn" in data  # the factory by reference, no connection
    copy = pickle.loads(data)
    assert copy == pool and hash(copy) == hash(pool)
    assert (copy.name, copy.max_size, copy.validate, copy.factory) == (pool.name, 2, fake_alive, FakeConn)
    # the same pool id finds the same live pool: the copy reuses the connection
    with copy.connection() as again:
        assert again is conn
    assert copy.stats() == pool.stats()
    assert pool.stats()["created"] == 1 and pool.stats()["borrowed"] == 2 and pool.stats()["where"] == "driver"
    pool.close()
    assert conn.closed and pool.stats()["created"] == 0  # closed: a later use starts a new pool


def test_driver_pool_reuses_validates_and_replaces():
    pool = ConnectionPool(FakeConn, max_size=2, validate=fake_alive)
    with pool.connection() as first:
        pass
    with pool.connection() as conn:
        assert conn is first  # reused
        conn.broken = True
    with pool.connection() as conn:  # validate says broken: closed and replaced
        assert conn is not first and first.closed
        conn.broken = "raise"
    with pool.connection() as third:  # validate raised: replaced too
        assert not third.broken
    s = pool.stats()
    assert (s["created"], s["closed"], s["discarded"], s["borrowed"], s["open"], s["idle"]) == (3, 2, 2, 4, 1, 1)
    pool.close()
    assert third.closed


def test_a_failed_block_keeps_the_connection_only_if_it_validates():
    pool = ConnectionPool(FakeConn, max_size=1, validate=fake_alive)
    with pytest.raises(KeyError):
        with pool.connection() as conn:
            raise KeyError("a bug in the user's code, not in the connection")
    with pool.connection() as again:
        assert again is conn  # validated after the failure: still good, kept
    with pytest.raises(ConnectionError):
        with pool.connection() as conn:
            conn.broken = True
            raise ConnectionError("server closed the connection")
    assert conn.closed and pool.stats()["discarded"] == 1
    no_validate = ConnectionPool(FakeConn, max_size=1)
    with pytest.raises(KeyError):
        with no_validate.connection() as conn:
            raise KeyError("unknown state")
    assert conn.closed  # without validate, a connection whose block failed is not trusted
    with no_validate.connection() as fresh:
        assert fresh is not conn
    pool.close()
    no_validate.close()


def test_factory_error_names_the_pool_and_frees_the_slot():
    attempts = []

    def flaky():
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionRefusedError("connection refused")
        return FakeConn()

    pool = ConnectionPool(flaky, max_size=1, name=unique("flaky"))
    with pytest.raises(ConnectionRefusedError) as info:
        with pool.connection():
            pass
    assert any(pool.name in note and "driver" in note for note in info.value.__notes__)
    with pool.connection(timeout=1) as conn:  # the failed open gave its slot back
        assert isinstance(conn, FakeConn)
    pool.close()


def test_borrowing_waits_bounded_and_times_out_clearly():
    pool = ConnectionPool(FakeConn, max_size=1, name=unique("busy"))
    with pool.connection():
        start = time.monotonic()
        with pytest.raises(PoolTimeoutError, match=r"all 1 connection\(s\) of connection pool .*busy.* on driver"):
            with pool.connection(timeout=0.2):
                pass
        assert 0.2 <= time.monotonic() - start < 5
        assert isinstance(PoolTimeoutError("x"), TimeoutError)
    assert pool.stats()["timeouts"] == 1 and pool.stats()["waited"] == 1
    pool.close()
    with pool.connection():  # a closed pool is replaced by a new one on next use
        pass
    pool.close()


def test_closing_wakes_waiters_and_closes_borrowed_connections_on_return():
    pool = ConnectionPool(FakeConn, max_size=1, name=unique("closing"))
    errors = []
    with pool.connection() as held:
        live = pool._live()

        def borrow():
            try:
                with pool.connection(timeout=10):
                    pass
            except PoolClosedError as e:
                errors.append(e)

        waiter = threading.Thread(target=borrow)
        waiter.start()
        wait_for(lambda: live.stats()["waited"] == 1, "the second borrower waiting")
        pool.close()
        waiter.join(10)
        assert len(errors) == 1 and "is closed" in str(errors[0])
        assert not held.closed  # in use: closed when returned
    assert held.closed and live.stats()["open"] == 0


def test_threads_never_share_a_connection_and_max_size_holds():
    pool = ConnectionPool(FakeConn, max_size=3, name=unique("threads"))
    lock = threading.Lock()
    holders: dict[int, int] = {}
    peak, errors = [0], []
    n_threads, rounds = 8, 20

    def borrower(i):
        for r in range(rounds):
            with pool.connection(timeout=10) as conn:
                with lock:
                    if conn.id in holders:
                        errors.append(f"thread {i} got connection {conn.id} held by thread {holders[conn.id]}")
                    holders[conn.id] = i
                    peak[0] = max(peak[0], len(holders))
                if r == 0:  # the first holders keep their connections until every other thread waits
                    wait_for(lambda: pool.stats()["waited"] >= n_threads - 3, "the other threads waiting")
                with lock:
                    del holders[conn.id]

    threads = [threading.Thread(target=borrower, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    s = pool.stats()
    assert not errors
    assert peak[0] == 3 and s["created"] == 3 and s["waited"] >= n_threads - 3
    assert s["borrowed"] == n_threads * rounds and s["in_use"] == 0 and s["idle"] == 3
    pool.close()


# --------------------------------------------------------------------------- PostgreSQL


def pg_connect(app: str):
    return psycopg.connect(f"{DSN} application_name={app}", autocommit=True, connect_timeout=5)


def pg_alive(conn) -> bool:
    conn.execute("SELECT 1")
    return True


def pg_write(conn, table: str, mode: str, records) -> None:
    """Insert the records, each with the id of the server connection (backend pid and start) that wrote it."""
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO {table} (mode, x, pid, backend_start) "
            "SELECT %s, %s, pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()",
            [(mode, x) for x in records],
        )


@pytest.fixture(scope="module")
def pg():
    try:
        conn = psycopg.connect(DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as e:
        pytest.skip(f"PostgreSQL at {DSN} is not reachable: {e}")
    with conn:
        yield conn


@pytest.fixture
def table(pg):
    name = unique("pool_test").replace("-", "_")
    pg.execute(f"CREATE TABLE {name} (mode text, x int, pid int, backend_start timestamptz)")
    yield name
    pg.execute(f"DROP TABLE IF EXISTS {name}")


def pg_sessions(pg, app: str) -> int:
    return pg.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (app,)).fetchone()[0]


def pg_writers(pg, table: str, mode: str) -> int:
    """How many distinct server connections wrote rows of ``mode``."""
    sql = f"SELECT count(DISTINCT (pid, backend_start)) FROM {table} WHERE mode = %s"
    return pg.execute(sql, (mode,)).fetchone()[0]


def pg_rows(pg, table: str, mode: str) -> list[int]:
    return [r[0] for r in pg.execute(f"SELECT x FROM {table} WHERE mode = %s ORDER BY x", (mode,))]


def test_postgres_pool_opens_few_connections_per_worker_and_reuses_them(ssc, client, pg, table):
    app = unique("dstreams-pool")
    pool = ConnectionPool(functools.partial(pg_connect, app + "-pooled"), max_size=2, validate=pg_alive)

    def per_partition(records):  # the anti-pattern: a connection per partition, closed after it
        with pg_connect(app + "-per-partition") as conn:
            pg_write(conn, table, "per-partition", records)

    def pooled(records):
        with pool.connection() as conn:
            pg_write(conn, table, "pooled", records)

    batches = [ssc.parallelize(range(b * RECORDS, (b + 1) * RECORDS), PARTITIONS) for b in range(BATCHES)]
    stream = ssc.queue_stream(batches)
    stream.foreach_rdd(lambda rdd: rdd.foreach_partition(per_partition))
    stream.foreach_rdd(lambda rdd: rdd.foreach_partition(pooled))
    run_batches(ssc, BATCHES)

    every_record = list(range(BATCHES * RECORDS))
    assert pg_rows(pg, table, "per-partition") == every_record
    assert pg_rows(pg, table, "pooled") == every_record  # the writes landed, once each
    stats = pool.worker_stats(client)
    n_workers, max_size = len(stats), 2
    created = total(stats, "created")
    assert pg_writers(pg, table, "per-partition") == BATCHES * PARTITIONS == 40
    assert 1 <= pg_writers(pg, table, "pooled") == created <= n_workers * max_size == 4
    assert total(stats, "borrowed") == BATCHES * PARTITIONS
    assert total(stats, "closed") == 0 and total(stats, "in_use") == 0
    assert all(s["max_size"] == max_size and s["open"] <= max_size for s in stats.values())
    # the pooled connections stay open between batches, the per-partition ones are gone
    assert pg_sessions(pg, app + "-pooled") == created
    assert pg_sessions(pg, app + "-per-partition") == 0

    pool.close(client)
    wait_for(lambda: pg_sessions(pg, app + "-pooled") == 0, "the pooled connections closing on the server")
    assert total(pool.worker_stats(client), "open") == 0


def pg_write_on_worker(pool, table, mode, records):
    with pool.connection() as conn:
        pg_write(conn, table, mode, records)
    return pool.stats()


def test_postgres_connection_terminated_by_the_server_is_replaced(client, pg, table):
    app = unique("dstreams-pool-kill")
    pool = ConnectionPool(functools.partial(pg_connect, app), max_size=1, validate=pg_alive)
    workers = sorted(client.scheduler_info()["workers"])

    def write_on_every_worker(mode, start):
        futures = [
            client.submit(pg_write_on_worker, pool, table, mode, [start + i], workers=[w], pure=False)
            for i, w in enumerate(workers)
        ]
        return dict(zip(workers, client.gather(futures), strict=True))

    before = write_on_every_worker("before", 0)
    assert all(s["created"] == 1 and s["where"] == w for w, s in before.items())
    assert pg_sessions(pg, app) == len(workers)

    killed = pg.execute(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s) t",
        (app,),
    ).fetchone()[0]
    assert killed == len(workers)
    wait_for(lambda: pg_sessions(pg, app) == 0, "the server terminating the pooled connections")

    after = write_on_every_worker("after", 100)
    for w, s in after.items():  # validate found the dead connection: closed, replaced, the write landed
        assert (s["created"], s["discarded"], s["closed"], s["open"]) == (2, 1, 1, 1), (w, s)
    assert pg_rows(pg, table, "after") == [100 + i for i in range(len(workers))]
    assert pg_sessions(pg, app) == len(workers)
    pool.close(client)
    wait_for(lambda: pg_sessions(pg, app) == 0, "the pooled connections closing")


def test_postgres_failed_block_with_a_dead_connection_is_replaced_on_the_driver(pg):
    app = unique("dstreams-pool-driver")
    pool = ConnectionPool(functools.partial(pg_connect, app), max_size=1, validate=pg_alive)
    with pool.connection() as conn:
        first_pid = conn.info.backend_pid
    with pytest.raises(psycopg.OperationalError):
        with pool.connection() as conn:
            assert conn.info.backend_pid == first_pid  # reused
            pg.execute("SELECT pg_terminate_backend(%s)", (first_pid,))
            wait_for(lambda: pg_sessions(pg, app) == 0, "the server terminating the connection")
            conn.execute("SELECT 1")  # the block fails on the dead connection
    assert pool.stats()["discarded"] == 1 and pool.stats()["open"] == 0
    with pool.connection() as conn:
        assert conn.info.backend_pid != first_pid and conn.execute("SELECT 1").fetchone() == (1,)
    assert pg_sessions(pg, app) == 1
    pool.close()
    assert pool.stats()["created"] == 0
    wait_for(lambda: pg_sessions(pg, app) == 0, "the server seeing the connection closed")


_HELD: dict[int, int] = {}  # backend pid -> the partition using it (the in-process workers share it)
_HELD_LOCK = threading.Lock()


def pg_use_exclusively(pool, records):
    """Borrow a connection and note who holds it: returns (worker, backend pid, partition it clashed with)."""
    records = list(records)
    with pool.connection() as conn:
        pid = conn.info.backend_pid
        with _HELD_LOCK:
            clash = _HELD.get(pid)
            _HELD[pid] = records[0]
        conn.execute("SELECT pg_sleep(0.01)")
        with _HELD_LOCK:
            del _HELD[pid]
    return [(pool.stats()["where"], pid, clash)]


def test_threads_of_a_worker_share_one_pool_without_sharing_connections(client, pg):
    app = unique("dstreams-pool-threads")
    pool = ConnectionPool(functools.partial(pg_connect, app), max_size=1, validate=pg_alive)
    used = []
    for b in range(BATCHES):
        rdd = RDD.from_list(range(b * 16, (b + 1) * 16), PARTITIONS, client=client, name=unique("threads"))
        used += rdd.map_partitions(functools.partial(pg_use_exclusively, pool)).collect()
    assert [clash for _, _, clash in used] == [None] * BATCHES * PARTITIONS  # never two borrowers at once
    pids_per_worker = {w: {pid for w2, pid, _ in used if w2 == w} for w, _, _ in used}
    assert all(len(pids) == 1 for pids in pids_per_worker.values())  # one connection per worker, reused
    stats = pool.worker_stats(client)
    assert all(s["created"] <= 1 and s["open"] <= 1 for s in stats.values())  # max_size=1 per worker
    assert total(stats, "borrowed") == BATCHES * PARTITIONS
    assert pg_sessions(pg, app) == total(stats, "created") == len(pids_per_worker)
    pool.close(client)
    wait_for(lambda: pg_sessions(pg, app) == 0, "the pooled connections closing")


def logging_close(log_path: str, conn) -> None:
    """Close ``conn`` and append a line to ``log_path`` (works from worker processes too)."""
    conn.close()
    with open(log_path, "a") as fh:
        fh.write("closed\n")


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_worker_shutdown_closes_every_connection(pg, tmp_path, processes):
    app = unique("dstreams-pool-teardown")
    log = tmp_path / "closed.log"
    log.touch()
    pool = ConnectionPool(
        functools.partial(pg_connect, app), max_size=2, close=functools.partial(logging_close, str(log))
    )

    def touch(records):
        with pool.connection() as conn:
            conn.execute("SELECT 1")

    n_workers = 1 if processes else 2  # a worker process costs ~1 s to start
    with LocalCluster(n_workers=n_workers, threads_per_worker=2, processes=processes, dashboard_address=":0") as lc:
        with Client(lc, set_as_default=False) as c:
            for _ in range(3):
                RDD.from_list(range(16), PARTITIONS, client=c, name=unique("teardown")).foreach_partition(touch)
            created = total(pool.worker_stats(c), "created")
            assert 1 <= created <= 2 * n_workers and pg_sessions(pg, app) == created
            assert any(c.run(lambda dask_worker: PLUGIN_NAME in dask_worker.plugins).values())
            assert log.read_text() == ""  # nothing closed while the workers live
    # the WorkerPlugin's teardown closed every connection, through the pool's close function
    assert log.read_text().count("closed") == created
    wait_for(lambda: pg_sessions(pg, app) == 0, "the server seeing the connections closed")


# --------------------------------------------------------------------------- Redis


def redis_connect(name: str):
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # one connection per client, no silent reconnects: a killed connection shows up as an error
    return redis.Redis(host="127.0.0.1", port=6379, client_name=name, single_connection_client=True,
                       retry=Retry(NoBackoff(), 0), socket_timeout=5)


def redis_alive(r) -> bool:
    return r.ping()


@pytest.fixture
def rds():
    r = redis.Redis(host="127.0.0.1", port=6379, socket_timeout=5)
    try:
        r.ping()
    except redis.ConnectionError as e:
        pytest.skip(f"Redis at 127.0.0.1:6379 is not reachable: {e}")
    prefix = unique("dstreams-pool-test")
    yield r, prefix
    keys = list(r.scan_iter(f"{prefix}:*"))
    if keys:
        r.delete(*keys)
    r.close()


def redis_clients(r, name: str) -> int:
    return sum(1 for c in r.client_list() if c.get("name") == name)


def redis_write(r, prefix: str, mode: str, records) -> None:
    # plain commands: a redis-py pipeline would take a second connection from the client's own pool
    cid = r.client_id()
    r.hset(f"{prefix}:{mode}", mapping={str(x): cid for x in records})
    r.sadd(f"{prefix}:{mode}:connections", cid)


def test_redis_pool_opens_few_connections_and_the_writes_land(client, rds):
    r, prefix = rds
    pool = ConnectionPool(functools.partial(redis_connect, prefix + "-pooled"), max_size=2, validate=redis_alive)

    def per_partition(records):
        conn = redis_connect(prefix + "-per-partition")
        try:
            redis_write(conn, prefix, "per-partition", records)
        finally:
            conn.close()

    def pooled(records):
        with pool.connection() as conn:
            redis_write(conn, prefix, "pooled", records)

    for b in range(BATCHES):
        rdd = RDD.from_list(range(b * RECORDS, (b + 1) * RECORDS), PARTITIONS, client=client, name=unique("redis"))
        rdd.foreach_partition(per_partition)
        rdd.foreach_partition(pooled)

    stats = pool.worker_stats(client)
    for mode in ("per-partition", "pooled"):
        assert sorted(int(k) for k in r.hkeys(f"{prefix}:{mode}")) == list(range(BATCHES * RECORDS))
    assert r.scard(f"{prefix}:per-partition:connections") == BATCHES * PARTITIONS == 40
    assert 1 <= r.scard(f"{prefix}:pooled:connections") == total(stats, "created") <= 2 * len(stats)
    assert total(stats, "borrowed") == BATCHES * PARTITIONS
    assert redis_clients(r, prefix + "-pooled") == total(stats, "created")
    assert redis_clients(r, prefix + "-per-partition") == 0
    pool.close(client)
    wait_for(lambda: redis_clients(r, prefix + "-pooled") == 0, "the pooled Redis connections closing")


def test_redis_connection_killed_by_the_server_is_replaced(rds):
    r, prefix = rds
    pool = ConnectionPool(functools.partial(redis_connect, prefix), max_size=1, validate=redis_alive)
    with pool.connection() as conn:
        first = conn.client_id()
    assert r.client_kill_filter(_id=first) == 1
    wait_for(lambda: redis_clients(r, prefix) == 0, "Redis killing the connection")
    with pool.connection() as conn:  # validate (PING) failed: a new connection
        second = conn.client_id()
        conn.set(f"{prefix}:key", "value")
    assert second != first and r.get(f"{prefix}:key") == b"value"
    s = pool.stats()
    assert (s["created"], s["discarded"], s["open"]) == (2, 1, 1)
    pool.close()
    wait_for(lambda: redis_clients(r, prefix) == 0, "Redis seeing the connection closed")
