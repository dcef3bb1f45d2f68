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

import contextlib
import datetime
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from ._util import to_ms
from .errors import PoolClosedError, PoolTimeoutError
from .livepool import (  # noqa: F401  (PLUGIN_NAME and ConnectionPoolPlugin are named here too)
    PLUGIN_NAME,
    ConnectionPoolPlugin,
    _current_worker,
    _driver_pools,
    _empty_stats,
    _LivePool,
    _qualname,
    _run_on_worker,
    _worker_plugin,
)

__all__ = ["PLUGIN_NAME", "ConnectionPool", "PoolClosedError", "PoolTimeoutError"]

DEFAULT_TIMEOUT = 30.0
"""Seconds a borrower waits for a free connection before :class:`PoolTimeoutError`."""


def _check_timeout(timeout) -> float:
    return to_ms(timeout, "timeout") / 1000.0


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
