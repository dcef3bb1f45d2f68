"""Receiver: the user-facing base class of receiver-based sources (Spark's ``Receiver``).

A receiver is written by the user and runs on a worker, inside a long-lived task that a supervisor
(:mod:`dstreams.sources.receiver.supervisor`) owns. The receiver only knows how to get records from its source;
the supervisor cuts them into blocks, stores them on the cluster, rate-limits and reports.
"""
from __future__ import annotations

import collections
import collections.abc

from ...errors import ReceiverError


class Receiver:
    """Base class of a custom source: subclass it, implement :meth:`on_start` and :meth:`on_stop`.

    ``on_start`` must not block: it starts the receiver's own threads (or async loops), which read
    from the source and call :meth:`store`. They run until :meth:`is_stopped` turns True, then
    ``on_stop`` cleans up (close sockets, join threads). If the source fails, call :meth:`restart`;
    the receiver is then started again, as a new Dask task, after the stream's restart delay.

    The receiver object you pass to ``ssc.receiver_stream`` is pickled and sent to a worker, once per
    start: open connections and start threads in ``on_start``, never in ``__init__``.

    Attributes
    ----------
    preferred_worker : str or None
        Address (or name) of the Dask worker this receiver should run on, when that worker is alive
        (Spark's ``preferredLocation``). None lets the tracker choose.

    Examples
    --------
    >>> import threading
    >>> class CountingReceiver(Receiver):
    ...     def __init__(self, n):
    ...         self.n = n
    ...     def on_start(self):
    ...         threading.Thread(target=self._run, daemon=True).start()
    ...     def _run(self):
    ...         for i in range(self.n):
    ...             if self.is_stopped():
    ...                 return
    ...             self.store(i)
    ...     def on_stop(self):
    ...         pass  # the thread above sees is_stopped() and ends
    >>> numbers = ssc.receiver_stream(CountingReceiver(100))  # doctest: +SKIP
    """

    preferred_worker: str | None = None
    _supervisor = None  # set on the worker by the supervisor; never pickled

    # -- to implement ----------------------------------------------------------------------
    def on_start(self) -> None:
        """Start receiving: start threads that call :meth:`store`, and return at once."""
        raise NotImplementedError(f"{type(self).__name__} must implement on_start()")

    def on_stop(self) -> None:
        """Stop receiving: release what ``on_start`` opened (its threads see ``is_stopped()``)."""

    # -- to call ---------------------------------------------------------------------------
    def store(self, data) -> None:
        """Store one record, or a whole block of records.

        A ``list``, ``collections.deque`` or iterator (a generator, for example) is a block: it is
        stored as one block, and ``store`` returns only once the block is on the cluster (replicated
        when the stream asks for it) and known to the driver, so a reliable receiver can acknowledge
        its source then. Anything else (``str``, ``bytes``, ``tuple``, ``dict``, numbers, ...) is one
        record, buffered and cut into blocks every block interval; to store a list as one record,
        wrap it: ``store([a_list])``. Both block while the stream's rate limit (``max_rate``) says so.
        """
        sup = self._require_supervisor("store()")
        if isinstance(data, (list, collections.deque)) or isinstance(data, collections.abc.Iterator):
            sup.store_block(list(data))
        else:
            sup.store_record(data)

    def restart(self, message: str, error: BaseException | None = None) -> None:
        """Stop this receiver (``on_stop`` runs) and start it again as a new task after a delay.

        Returns at once; call it from the receiver's own threads when the source failed.
        """
        self._require_supervisor("restart()").request_restart(message, error)

    def stop(self, message: str, error: BaseException | None = None) -> None:
        """Stop this receiver for good (``on_stop`` runs); the stream goes on without its records."""
        self._require_supervisor("stop()").request_stop(message, error)

    def report_error(self, message: str, error: BaseException | None = None) -> None:
        """Tell the driver's listeners (``on_receiver_error``) about an error; the receiver goes on."""
        self._require_supervisor("report_error()").report_error(message, error)

    def is_started(self) -> bool:
        """True once ``on_start`` returned, while the receiver runs."""
        sup = self._supervisor
        return sup is not None and sup.receiver_started and not sup.stopping

    def is_stopped(self) -> bool:
        """True when the receiver should stop (or is not running): loop on ``while not self.is_stopped()``."""
        sup = self._supervisor
        return sup is None or sup.stopping

    @property
    def stream_id(self) -> int | None:
        """Id of the input stream this receiver feeds (on the worker, while it runs)."""
        sup = self._supervisor
        return None if sup is None else sup.spec.stream_id

    # -- internals -------------------------------------------------------------------------
    def _require_supervisor(self, what):
        sup = self._supervisor
        if sup is None:
            raise ReceiverError(
                f"{type(self).__name__}.{what} can only be called while the receiver runs on a worker "
                "(from on_start() or the threads it starts); pass the receiver to ssc.receiver_stream() "
                "and start the context"
            )
        return sup

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_supervisor", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)

    def __repr__(self):
        return f"<{type(self).__name__}>"
