"""The live side of connection pools: the open connections, and where they are kept.

A :class:`~dstreams.ConnectionPool` (``pool.py``) is a recipe; its live pool (:class:`_LivePool`) holds
the open connections of one worker or of the driver process: it lends them (the most recently used
first), validates, opens and closes them, waits for a free one up to a timeout, and counts. On a worker
the live pools are kept by :class:`ConnectionPoolPlugin`, registered by the first borrow that runs
there and closing every connection in its ``teardown``; on the driver by a registry closed at exit.
"""
from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from distributed import WorkerPlugin, get_worker
from distributed.worker import WORKER_ANY_RUNNING

from ._compat import sync
from .errors import PoolClosedError, PoolTimeoutError

if TYPE_CHECKING:
    from .pool import ConnectionPool

logger = logging.getLogger("dstreams.pool")  # the name of the public module, as before the split

PLUGIN_NAME = "dstreams-connection-pools"
"""Name of the :class:`~distributed.WorkerPlugin` holding a worker's pools."""

_STAT_NAMES = ("created", "closed", "borrowed", "discarded", "waited", "timeouts")


def _default_max_size(worker) -> int:
    if worker is not None:
        return max(1, int(worker.state.nthreads))
    return min(32, (os.cpu_count() or 1) + 4)  # ThreadPoolExecutor's default: the driver's threads


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
