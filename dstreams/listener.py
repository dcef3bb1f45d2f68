"""StreamingListener and the records it receives: BatchInfo, OutputOperationInfo, ReceiverInfo; the
listener bus; and BatchHistory, the listener that keeps a context's recent batches."""
from __future__ import annotations

import collections
import logging
import threading
from dataclasses import dataclass, field

from ._util import check_count, ms_to_datetime
from .dashboard import html as _html

logger = logging.getLogger("dstreams")


@dataclass
class OutputOperationInfo:
    """One output operation of one batch."""

    batch_time_ms: int
    id: int
    description: str
    start_time_ms: int | None = None
    end_time_ms: int | None = None
    failure_reason: str | None = None

    @property
    def duration(self) -> float | None:
        if self.start_time_ms is None or self.end_time_ms is None:
            return None
        return (self.end_time_ms - self.start_time_ms) / 1000.0


@dataclass(repr=False)
class BatchInfo:
    """What happened to one batch (Spark's ``BatchInfo``); times in ms, delays in seconds.

    In a notebook it shows as a table: its time, records, delays and output operations with their failures.
    """

    batch_time_ms: int
    submission_time_ms: int
    num_records: int = 0
    input_info: dict = field(default_factory=dict)
    processing_start_time_ms: int | None = None
    processing_end_time_ms: int | None = None
    output_operations: dict = field(default_factory=dict)

    @property
    def batch_time(self):
        """The batch time as a ``datetime``."""
        return ms_to_datetime(self.batch_time_ms)

    @property
    def scheduling_delay(self) -> float | None:
        """Seconds from the batch's submission until its first job started."""
        if self.processing_start_time_ms is None:
            return None
        return (self.processing_start_time_ms - self.submission_time_ms) / 1000.0

    @property
    def processing_delay(self) -> float | None:
        """Seconds the batch's jobs took."""
        if self.processing_start_time_ms is None or self.processing_end_time_ms is None:
            return None
        return (self.processing_end_time_ms - self.processing_start_time_ms) / 1000.0

    @property
    def total_delay(self) -> float | None:
        """Scheduling delay plus processing delay."""
        if self.processing_end_time_ms is None:
            return None
        return (self.processing_end_time_ms - self.submission_time_ms) / 1000.0

    @property
    def failure_reason(self) -> str | None:
        """The first failed output operation's reason, or None when the batch succeeded."""
        for op in self.output_operations.values():
            if op.failure_reason:
                return op.failure_reason
        return None

    @_html.text_repr
    def __repr__(self):
        return _html.batch_text(self)

    @_html.html_repr
    def _repr_html_(self):
        return _html.batch_html(self)


@dataclass
class ReceiverInfo:
    """The state of one receiver (Spark's ``ReceiverInfo``), as passed to the receiver events.

    ``attempt`` counts the tasks started for the receiver (1 for the first); ``restarts`` how many times
    it was restarted; ``worker`` is the address of the worker it runs (or last ran) on. The error
    fields describe the last error reported or met, ``last_error`` as ``"ValueError: message"``.
    """

    stream_id: int
    name: str
    active: bool = False
    worker: str | None = None
    attempt: int = 0
    restarts: int = 0
    last_error_message: str | None = None
    last_error: str | None = None
    last_error_time_ms: int | None = None


class StreamingListener:
    """Override the events you care about and register with ``ssc.add_listener(listener)``.

    Events are delivered one at a time, in order, on the context's threads: keep handlers quick.
    ``ssc.stop()`` from a handler returns at once; the context stops on another thread.
    """

    def on_streaming_started(self, time_ms: int) -> None: ...
    def on_batch_submitted(self, info: BatchInfo) -> None: ...
    def on_batch_started(self, info: BatchInfo) -> None: ...
    def on_batch_completed(self, info: BatchInfo) -> None: ...
    def on_output_operation_started(self, info: OutputOperationInfo) -> None: ...
    def on_output_operation_completed(self, info: OutputOperationInfo) -> None: ...
    def on_streaming_error(self, error: BaseException) -> None: ...
    def on_streaming_stopped(self) -> None: ...
    def on_receiver_started(self, info: ReceiverInfo) -> None: ...
    def on_receiver_error(self, info: ReceiverInfo) -> None: ...
    def on_receiver_stopped(self, info: ReceiverInfo) -> None: ...


class ListenerBus:
    """Delivers events to the registered listeners, one event at a time (the scheduler, generator and
    receiver threads all post); a failing listener is logged, never fatal."""

    def __init__(self):
        self.listeners: list[StreamingListener] = []
        self._lock = threading.RLock()
        self._delivering = threading.local()

    def in_listener(self) -> bool:
        """True on a thread that is running a listener callback."""
        return getattr(self._delivering, "active", False)

    def add(self, listener) -> None:
        if not isinstance(listener, StreamingListener):
            raise TypeError(
                f"add_listener() needs a StreamingListener subclass instance, got {type(listener).__name__}"
            )
        self.listeners.append(listener)

    def remove(self, listener) -> None:
        self.listeners.remove(listener)

    def post(self, event: str, *args) -> None:
        with self._lock:
            self._delivering.active = True
            try:
                for listener in list(self.listeners):
                    try:
                        getattr(listener, event)(*args)
                    except Exception:
                        logger.exception("StreamingListener %r failed in %s", listener, event)
            finally:
                self._delivering.active = False


#: batches a context keeps for :meth:`StreamingContext.batch_history` (the newest)
HISTORY_BATCHES = 1000
HISTORY_COLUMNS = ("records", "scheduling_delay", "processing_time", "total_delay", "failed", "failure")


class BatchHistory(StreamingListener):
    """The newest :data:`HISTORY_BATCHES` batches done, and counts of all batches (completed, failed) and of
    the records of the completed ones, on the driver.

    Every context owns one (``ssc.batch_history()`` reads it; the notebook display shows its counts).
    """

    def __init__(self, size: int = HISTORY_BATCHES):
        self.batches: collections.deque[BatchInfo] = collections.deque(maxlen=size)
        self.completed = 0
        self.failed = 0
        self.records = 0
        self._lock = threading.Lock()

    @property
    def last(self) -> BatchInfo | None:
        """The newest batch done, or None."""
        try:
            return self.batches[-1]
        except IndexError:
            return None

    def on_batch_completed(self, info: BatchInfo) -> None:
        with self._lock:
            self.batches.append(info)
            if info.failure_reason:
                self.failed += 1
            else:  # a failed batch's records are not processed (as the Streaming page counts them)
                self.completed += 1
                self.records += info.num_records

    def recent(self, n: int | None = None) -> list[BatchInfo]:
        """The newest ``n`` batches kept (all of them when None), oldest first."""
        n = check_count(n, "batch_history(): n", optional=True)
        with self._lock:
            batches = list(self.batches)
        return batches if n is None else batches[-n:]

    def to_frame(self, n: int | None = None):
        """The newest ``n`` batches as a pandas DataFrame indexed by batch time (see
        :meth:`StreamingContext.batch_history`)."""
        import pandas as pd

        batches = self.recent(n)
        index = pd.DatetimeIndex([ms_to_datetime(b.batch_time_ms) for b in batches], name="batch_time")
        return pd.DataFrame({
            "records": pd.Series([b.num_records for b in batches], index=index, dtype="int64"),
            "scheduling_delay": pd.Series([b.scheduling_delay for b in batches], index=index, dtype="float64"),
            "processing_time": pd.Series([b.processing_delay for b in batches], index=index, dtype="float64"),
            "total_delay": pd.Series([b.total_delay for b in batches], index=index, dtype="float64"),
            "failed": pd.Series([bool(b.failure_reason) for b in batches], index=index, dtype="bool"),
            "failure": pd.Series([b.failure_reason for b in batches], index=index, dtype="object"),
        }, columns=list(HISTORY_COLUMNS))
