"""Runtime: what streams and sources use while a context runs, in one public object.

``ssc.runtime`` holds the stream graph, the listener bus, the input info of each batch, the receiver
tracker (once started), where sources may place their tasks, and how a source reports a failure that
stops the stream. Streams, sources and the receiver machinery use it instead of the context's private
attributes; the context owns it and drives its life cycle.
"""
from __future__ import annotations

import time

from .dstream.graph import DStreamGraph
from .dstream.input import InputInfoTracker
from .listener import ListenerBus

#: how long the list of workers that sources place their partitions on is reused
WORKERS_MAX_AGE_S = 2.0


class Runtime:
    """The run-time services of one StreamingContext.

    Attributes
    ----------
    client : distributed.Client
        The cluster the batches run on.
    graph : DStreamGraph
        The streams, inputs and output operations.
    bus : ListenerBus
        Where batch and receiver events go to the listeners.
    input_info : InputInfoTracker
        What each source put in each batch (records, offsets, files).
    receiver_tracker : ReceiverTracker or None
        The driver side of the receivers, while the context runs and has receiver streams.
    """

    def __init__(self, client, batch_ms: int, on_error):
        self.client = client
        self.graph = DStreamGraph(batch_ms)
        self.bus = ListenerBus()
        self.input_info = InputInfoTracker()
        self.receiver_tracker = None
        #: Dask annotations for everything the run computes (its span), set when the context starts
        self.annotations: dict = {}
        #: the newest checkpoint written: ``{"time_ms", "bytes", "duration_ms"}``, or None
        self.last_checkpoint: dict | None = None
        #: the Streaming page's address, once the context started with it
        self.dashboard_url: str | None = None
        self._on_error = on_error
        self._workers_seen: tuple[float, list[str]] | None = None  # (when asked, addresses)

    def report_error(self, error: BaseException) -> None:
        """A failure that stops the stream (a receiver that failed too often, say): the context stops and
        ``await_termination`` raises it."""
        self._on_error(error)

    def task_workers(self, max_age_s: float = WORKERS_MAX_AGE_S) -> list[str]:
        """Sorted addresses of the workers with a thread that no receiver holds (asked at most every
        ``max_age_s`` seconds); sources place their partitions on them."""
        now = time.monotonic()
        seen = self._workers_seen
        if seen is not None and now - seen[0] < max_age_s:
            return seen[1]
        try:
            nthreads = self.client.nthreads()
        except Exception:
            return seen[1] if seen is not None else []
        tracker = self.receiver_tracker
        held = tracker.running_on() if tracker is not None else {}
        workers = sorted(a for a, n in nthreads.items() if n > held.get(a, 0))
        self._workers_seen = (now, workers)
        return workers

    def receiver_threads(self) -> int:
        """How many worker threads the receiver streams hold (one each)."""
        return sum(1 for s in self.graph.inputs if getattr(s, "is_receiver", False))
