"""queue_stream: batches from a Python queue or list of lists/RDDs (for tests and learning)."""
from __future__ import annotations

import collections
import threading

from ..dstream.input import InputDStream
from ..rdd import RDD


class QueueInputDStream(InputDStream):
    """Each batch takes the next item of ``batches`` (a list or an RDD); all of them with ``one_at_a_time=False``.

    Items can be appended while the context runs with :meth:`push`. When the queue is empty a batch
    is ``default`` (a list or RDD) or empty. A queue stream cannot be recovered from a checkpoint.
    """

    op = "queue"
    recoverable = False
    unrecoverable_reason = "its data lives only in the driver's memory"

    def __init__(self, ssc, batches, one_at_a_time=True, default=None):
        super().__init__(ssc)
        self.queue = collections.deque(self._check(b, i) for i, b in enumerate(batches))
        self.one_at_a_time = one_at_a_time
        self.default = None if default is None else self._check(default, "default")
        self._qlock = threading.Lock()

    @staticmethod
    def _check(item, where):
        if isinstance(item, RDD):
            return item
        if isinstance(item, (str, bytes)) or not hasattr(item, "__iter__"):
            raise TypeError(
                f"queue_stream batch {where} is {type(item).__name__}; each batch must be a list of records "
                "or an RDD (wrap a single record as [record])"
            )
        return list(item)

    def __getstate__(self):
        state = super().__getstate__()
        state["queue"] = collections.deque()  # driver-memory data: not written to checkpoints
        state["default"] = None
        state.pop("_qlock", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self._qlock = threading.Lock()

    def push(self, batch) -> None:
        """Append one more batch to the queue (thread-safe)."""
        with self._qlock:
            self.queue.append(self._check(batch, len(self.queue)))

    def _to_rdd(self, item, t, i):
        name = self.rdd_name(t, f"queue{i}")
        if isinstance(item, RDD):
            return item
        return RDD.from_list(item, self.ssc.default_parallelism(len(item)), self.ssc.client, name=name)

    def compute(self, t):
        with self._qlock:
            if not self.queue:
                items = [] if self.default is None else [self.default]
            elif self.one_at_a_time:
                items = [self.queue.popleft()]
            else:
                items = list(self.queue)
                self.queue.clear()
        rdds = [self._to_rdd(item, t, i) for i, item in enumerate(items)]
        counted = [len(item) for item in items if not isinstance(item, RDD)]
        self.report(t, sum(counted))
        if not rdds:
            return RDD.empty(self.ssc.client, name=self.rdd_name(t, "queue-empty"))
        if len(rdds) == 1 and not isinstance(items[0], RDD):
            return rdds[0]
        return rdds[0].union(*rdds[1:], name=self.rdd_name(t))
