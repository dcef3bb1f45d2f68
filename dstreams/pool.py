"""Worker-side connection pools: open connections once per worker, reuse them across partitions and batches.

A :class:`ConnectionPool` is created on the driver from a *recipe*: a ``factory`` that opens a
connection, and settings. It travels to the workers inside the tasks that use it and pickles as that
recipe (through ``__reduce__``), never as live connections. On each worker the first
``pool.connection()`` creates the live pool of that worker, which every later task of the worker
(several task threads, many partitions, every batch) shares; it is kept by a
:class:`distributed.WorkerPlugin` registered on the worker, whose ``teardown`` closes every
connection when the worker shuts down. Outside a worker (on the driver, or under Dask's local
schedulers) the same API uses a live pool of the process, closed at interpreter exit.

This is the pattern of the Spark Streaming programming guide ("a static, lazily initialized pool of
connections"): open connections in ``foreach_partition``, never per record, and reuse them.
"""
from __future__ import annotations

import atexit
import contextlib
import datetime
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from distributed import WorkerPlugin, get_worker
from distributed.worker import WORKER_ANY_RUNNING

from ._compat import sync
from ._util import to_ms
from .errors import PoolClosedError, PoolTimeoutError

__all__ = ["PLUGIN_NAME", "ConnectionPool", "PoolClosedError", "PoolTimeoutError"]

logger = logging.getLogger(__name__)

PLUGIN_NAME = "dstreams-connection-pools"
"""Name of the :class:`~distributed.WorkerPlugin` holding a worker's pools."""

DEFAULT_TIMEOUT = 30.0
"""Seconds a borrower waits for a free connection before :class:`PoolTimeoutError`."""

_STAT_NAMES = ("created", "closed", "borrowed", "discarded", "waited", "timeouts")


def _default_max_size(worker) -> int:
    if worker is not None:
        return max(1, int(worker.state.nthreads))
    return min(32, (os.cpu_count() or 1) + 4)  # ThreadPoolExecutor's default: the driver's threads


def _check_timeout(timeout) -> float:
    return to_ms(timeout, "timeout") / 1000.0


def _qualname(f) -> str:
    return getattr(f, "__qualname__", None) or type(f).__qualname__


def _default_close(conn) -> None:
    close = getattr(conn, "close", None)
    if close is not None:
        close()


# ---------------------------------------------------------------------------------------------
# the live pool: one per ConnectionPool per worker (or per driver process)


class _LivePool:
    """The open connections of one :class:`ConnectionPool` in one place (a worker or the driver)."""

    def __init__(self, spec: ConnectionPool, max_size: int, where: str):
        self.spec = spec
        self.max_size = max_size
        self.where = where
        self._cond = threading.Condition()
        self._idle: list = []  # LIFO: the most recently used (warmest) connection is lent first
        self._in_use: dict[int, Any] = {}  # id(conn) -> conn
        self._slots = 0  # connections open or being opened; never above max_size
        self._closed = False
        self._stats = dict.fromkeys(_STAT_NAMES, 0)

    def _describe(self) -> str:
        return f"connection pool {self.spec.name!r} on {self.where}"

    def _check_open(self) -> None:
        if self._closed:
            raise PoolClosedError(
                f"{self._describe()} is closed (its worker is shutting down, or close() was called); "
                "a new pool is created on next use"
            )

    def acquire(self, timeout: float):
        deadline = time.monotonic() + timeout
        waited = False
        with self._cond:
            while True:
                self._check_open()
                if self._idle:
                    conn = self._idle.pop()
                    break
                if self._slots < self.max_size:
                    self._slots += 1
                    conn = None
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._stats["timeouts"] += 1
                    raise PoolTimeoutError(
                        f"all {self.max_size} connection(s) of {self._describe()} stayed in use for "
                        f"{timeout:g} s; raise max_size (now {self.max_size}) or the timeout, or return "
                        "connections sooner (each `with pool.connection()` block holds one until it ends)"
                    )
                if not waited:
                    waited = True
                    self._stats["waited"] += 1
                self._cond.wait(remaining)
        # validating and opening may be slow: outside the lock, in the slot taken above
        if conn is not None and not self._is_valid(conn):
            self._close(conn, discarded=True)
            conn = None
        if conn is None:
            try:
                conn = self._create()
            except BaseException:
                with self._cond:
                    self._slots -= 1
                    self._cond.notify()
                raise
        with self._cond:
            if self._closed:  # closed while this connection was being opened or validated
                self._slots -= 1
                closed = True
            else:
                self._in_use[id(conn)] = conn
                self._stats["borrowed"] += 1
                closed = False
        if closed:
            self._close(conn)
            self._check_open()
        return conn

    def release(self, conn, failed: bool) -> None:
        # after a failed block the connection may be broken: keep it only if validate says it is fine
        keep = not failed or (self.spec.validate is not None and self._is_valid(conn))
        with self._cond:
            self._in_use.pop(id(conn), None)
            if keep and not self._closed:
                self._idle.append(conn)
                self._cond.notify()
                return
            self._slots -= 1
            self._cond.notify()
        self._close(conn, discarded=not keep)

    def _create(self):
        try:
            conn = self.spec.factory()
        except BaseException as e:
            e.add_note(f"(while {self._describe()} opened a connection with factory {_qualname(self.spec.factory)})")
            raise
        if conn is None:
            raise TypeError(
                f"the factory {_qualname(self.spec.factory)} of {self._describe()} returned None; "
                "it must return an open connection"
            )
        with self._cond:
            self._stats["created"] += 1
        return conn

    def _is_valid(self, conn) -> bool:
        validate = self.spec.validate
        if validate is None:
            return True
        try:
            return bool(validate(conn))
        except Exception as e:
            logger.info("%s: validate raised %s: %s; replacing the connection", self._describe(), type(e).__name__, e)
            return False

    def _close(self, conn, discarded: bool = False) -> None:
        with self._cond:
            self._stats["closed"] += 1
            if discarded:
                self._stats["discarded"] += 1
        try:
            (self.spec.close_connection or _default_close)(conn)
        except Exception:
            logger.warning("%s: closing a connection failed", self._describe(), exc_info=True)

    def close(self) -> None:
        """Close the idle connections now, those in use when they are returned."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            idle, self._idle = self._idle, []
            self._slots -= len(idle)
            self._cond.notify_all()
        for conn in idle:
            self._close(conn)

    def stats(self) -> dict:
        with self._cond:
            s = dict(self._stats)
            s.update(
                open=s["created"] - s["closed"], in_use=len(self._in_use), idle=len(self._idle),
                max_size=self.max_size, where=self.where,
            )
            return s


def _empty_stats(where: str) -> dict:
    return {**dict.fromkeys(_STAT_NAMES, 0), "open": 0, "in_use": 0, "idle": 0, "max_size": None, "where": where}


# ---------------------------------------------------------------------------------------------
# where the live pools are kept: a WorkerPlugin per worker, a dict on the driver


class _Registry:
    """Live pools by pool id, created on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pools: dict[str, _LivePool] = {}

    def get(self, spec: ConnectionPool, where: str, worker=None) -> _LivePool:
        with self._lock:
            pool = self._pools.get(spec.id)
            if pool is None:
                max_size = spec.max_size if spec.max_size is not None else _default_max_size(worker)
                pool = self._pools[spec.id] = _LivePool(spec, max_size, where)
            return pool

    def find(self, pool_id: str) -> _LivePool | None:
        with self._lock:
            return self._pools.get(pool_id)

    def pop(self, pool_id: str) -> _LivePool | None:
        with self._lock:
            return self._pools.pop(pool_id, None)

    def close_all(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()


class ConnectionPoolPlugin(WorkerPlugin):
    """Holds the connection pools of one worker; ``teardown`` closes all their connections.

    Registered on a worker by the first ``ConnectionPool.connection()`` that runs there. Nothing is
    opened in ``setup``: pools and their connections are created lazily, on first use.
    """

    name = PLUGIN_NAME

    def __init__(self) -> None:
        self.registry = _Registry()
        self.address: str | None = None

    def setup(self, worker) -> None:
        self.address = worker.address

    def teardown(self, worker) -> None:
        self.registry.close_all()


_driver_pools = _Registry()
atexit.register(_driver_pools.close_all)
_plugin_lock = threading.Lock()


def _current_worker():
    try:
        return get_worker()
    except ValueError:
        return None


def _on_loop_thread(worker) -> bool:
    try:
        import asyncio

        return asyncio.get_running_loop() is worker.loop.asyncio_loop
    except RuntimeError:
        return False


def _worker_plugin(worker, create: bool) -> ConnectionPoolPlugin | None:
    plugin = worker.plugins.get(PLUGIN_NAME)
    if plugin is not None or not create:
        return plugin
    with _plugin_lock:
        plugin = worker.plugins.get(PLUGIN_NAME)
        if plugin is None:
            if worker.status not in WORKER_ANY_RUNNING:
                raise PoolClosedError(
                    f"worker {worker.address} is {worker.status.name}: no connection pool is opened on a "
                    "closing worker"
                )
            plugin = ConnectionPoolPlugin()
            if _on_loop_thread(worker):
                worker.plugins[PLUGIN_NAME] = plugin
                plugin.setup(worker)
            else:  # the usual case: a task thread; register through the worker's own path
                sync(worker.loop, worker.plugin_add, plugin, name=PLUGIN_NAME, catch_errors=False,
                     callback_timeout=30)
        return plugin


def _run_on_worker(pool_id: str, action: str, dask_worker=None):
    plugin = _worker_plugin(dask_worker, create=False)
    if action == "stats":
        pool = plugin.registry.find(pool_id) if plugin is not None else None
        return pool.stats() if pool is not None else _empty_stats(dask_worker.address)
    pool = plugin.registry.pop(pool_id) if plugin is not None else None
    if pool is not None:
        pool.close()
    return None


# ---------------------------------------------------------------------------------------------


def _restore(factory, max_size, validate, close, timeout, name, pool_id):
    return ConnectionPool(factory, max_size, validate, close, name=name, timeout=timeout, _id=pool_id)


class ConnectionPool:
    """A pool of connections kept on every worker, for writing from ``foreach_partition``.

    Create it on the driver and use it inside functions that run on the workers. It travels as its
    recipe (``factory`` and settings): each worker lazily opens its own connections, at most
    ``max_size`` at a time, and reuses them across partitions, batches and task threads. A borrower
    waits (up to ``timeout``) while all of them are in use. Every connection is closed when its
    worker shuts down (a :class:`distributed.WorkerPlugin` named ``"dstreams-connection-pools"`` does
    that) or on :meth:`close`. Used on the driver, it keeps a pool of the driver process.

    Parameters
    ----------
    factory : callable
        ``factory()`` opens and returns a new connection. It is pickled (with cloudpickle) and called
        on the workers, so it should import and configure what it needs.
    max_size : int, optional
        Most connections open at a time per worker. Default: the worker's number of threads (on the
        driver, that of a ``ThreadPoolExecutor``), so a task never waits for a connection.
    validate : callable, optional
        ``validate(conn)`` is called before a pooled connection is lent again, and after a
        ``with pool.connection()`` block that raised. A connection for which it returns false or
        raises is closed and replaced by a new one. Without it, connections are always reused, except
        after a block that raised: those are closed, their state being unknown.
    close : callable, optional
        ``close(conn)`` closes a connection; default: ``conn.close()``. Errors are logged, not raised.
    name : str, optional
        Identifies the pool on the workers: pools with the same name share their connections, so a
        driver restored from a checkpoint finds the pool it left. Default: a unique name.
    timeout : float or timedelta, optional
        Seconds :meth:`connection` waits for a free connection before raising
        :class:`PoolTimeoutError` (30 by default).

    Examples
    --------
    >>> import psycopg
    >>> pool = ConnectionPool(
    ...     lambda: psycopg.connect("host=127.0.0.1 dbname=test user=postgres", autocommit=True),
    ...     max_size=2, validate=lambda conn: conn.execute("SELECT 1"), name="events-db")
    >>> def write(records):
    ...     with pool.connection() as conn, conn.transaction():
    ...         conn.cursor().executemany("INSERT INTO events VALUES (%s)", [(r,) for r in records])
    >>> stream.foreach_rdd(lambda rdd: rdd.foreach_partition(write))  # doctest: +SKIP
    >>> pool.worker_stats(client)  # doctest: +SKIP
    {'tcp://127.0.0.1:40331': {'created': 2, 'borrowed': 20, 'open': 2, ...}, ...}
    """

    def __init__(
        self,
        factory: Callable[[], Any],
        max_size: int | None = None,
        validate: Callable[[Any], Any] | None = None,
        close: Callable[[Any], Any] | None = None,
        name: str | None = None,
        timeout: float | datetime.timedelta = DEFAULT_TIMEOUT,
        *,
        _id: str | None = None,
    ):
        if not callable(factory):
            raise TypeError(
                f"factory must be a callable that opens and returns a connection, got {factory!r} "
                f"({type(factory).__name__}); for example lambda: psycopg.connect(dsn)"
            )
        if max_size is not None:
            if isinstance(max_size, bool) or not isinstance(max_size, int):
                raise TypeError(f"max_size must be an integer (at least 1) or None, got {max_size!r}")
            if max_size < 1:
                raise ValueError(
                    f"max_size must be at least 1, got {max_size}; use for example the number of threads per worker"
                )
        for what, f in (("validate", validate), ("close", close)):
            if f is not None and not callable(f):
                raise TypeError(f"{what} must be a callable taking a connection, or None; got {f!r}")
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"name must be a non-empty string or None, got {name!r}")
        self.factory = factory
        self.max_size = max_size
        self.validate = validate
        self.close_connection = close
        self.timeout = _check_timeout(timeout)
        self.id = _id or name or f"pool-{uuid.uuid4().hex[:12]}"
        self.name = name or self.id

    # travels by recipe: the live connections stay where they were opened
    def __reduce__(self):
        return _restore, (
            self.factory, self.max_size, self.validate, self.close_connection, self.timeout, self.name, self.id,
        )

    def __eq__(self, other):
        return isinstance(other, ConnectionPool) and other.id == self.id

    def __hash__(self):
        return hash((ConnectionPool, self.id))

    def __repr__(self):
        size = "per worker thread" if self.max_size is None else self.max_size
        return f"ConnectionPool<{self.name!r}, factory={_qualname(self.factory)}, max_size={size}>"

    def _live(self, create: bool = True) -> _LivePool | None:
        worker = _current_worker()
        if worker is None:
            return _driver_pools.get(self, "driver") if create else _driver_pools.find(self.id)
        plugin = _worker_plugin(worker, create)
        if plugin is None:
            return None
        return plugin.registry.get(self, worker.address, worker) if create else plugin.registry.find(self.id)

    @contextlib.contextmanager
    def connection(self, timeout: float | datetime.timedelta | None = None) -> Iterator[Any]:
        """Borrow a connection for the ``with`` block; it returns to the pool when the block ends.

        Parameters
        ----------
        timeout : float or timedelta, optional
            Seconds to wait for a free connection; default: the pool's ``timeout``.

        Raises
        ------
        PoolTimeoutError
            All ``max_size`` connections stayed in use for ``timeout`` seconds.
        PoolClosedError
            The pool was closed meanwhile (its worker is shutting down).

        Examples
        --------
        >>> pool = ConnectionPool(lambda: sqlite3.connect(":memory:"), max_size=1)  # doctest: +SKIP
        >>> with pool.connection() as conn:  # doctest: +SKIP
        ...     conn.execute("SELECT 1").fetchone()
        (1,)
        """
        live = self._live()
        conn = live.acquire(self.timeout if timeout is None else _check_timeout(timeout))
        try:
            yield conn
        except BaseException:
            live.release(conn, failed=True)
            raise
        live.release(conn, failed=False)

    def stats(self) -> dict:
        """Counters of this pool where it is called (a worker, or the driver process).

        Keys: ``created``, ``closed``, ``borrowed`` and ``discarded`` (closed as broken) connections,
        ``waited`` (borrows that had to wait) and ``timeouts``, the current ``open``, ``in_use`` and
        ``idle`` connections, ``max_size`` and ``where`` (the worker's address or ``"driver"``). All
        zeros before the pool was first used here.
        """
        live = self._live(create=False)
        if live is not None:
            return live.stats()
        worker = _current_worker()
        return _empty_stats(worker.address if worker is not None else "driver")

    def worker_stats(self, client) -> dict[str, dict]:
        """:meth:`stats` of every worker of ``client``'s cluster: ``{worker address: stats}``."""
        return client.run(_run_on_worker, self.id, "stats")

    def close(self, client=None) -> None:
        """Close this pool's connections here, and, given a ``client``, on every worker of its cluster.

        Connections in use are closed when they are returned. A later :meth:`connection` opens a new
        pool. Workers close their pools by themselves when they shut down.
        """
        worker = _current_worker()
        if worker is None:
            live = _driver_pools.pop(self.id)
        else:
            plugin = _worker_plugin(worker, create=False)
            live = plugin.registry.pop(self.id) if plugin is not None else None
        if live is not None:
            live.close()
        if client is not None:
            client.run(_run_on_worker, self.id, "close")
