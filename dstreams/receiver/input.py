"""ReceiverInputDStream: a stream whose batches are the blocks its receiver stored."""
from __future__ import annotations

import datetime
import numbers

from dask._task_spec import Alias

from .._util import to_ms
from ..dstream.input import InputDStream
from ..rdd import RDD
from .api import Receiver


class ReceiverInputDStream(InputDStream):
    """Batch ``t`` holds the blocks received until ``t`` and not given to an earlier batch, one partition
    per block; the partitions are the blocks' Dask data on the workers, not copies (except for a block
    whose every copy is on a worker that receivers fill: see ``ReceiverTracker._readable``).

    See :meth:`dstreams.StreamingContext.receiver_stream` for the parameters.
    """

    op = "receiver"
    is_receiver = True
    recoverable = False
    unrecoverable_reason = "its blocks live only in the workers' memory"

    def __init__(self, ssc, receiver, max_rate=None, block_interval=0.2, replicate=True, max_restarts=10,
                 restart_delay=2.0):
        if isinstance(receiver, type) and issubclass(receiver, Receiver):
            raise TypeError(
                f"receiver_stream() needs a receiver instance, got the class {receiver.__name__}; "
                f"pass {receiver.__name__}(...)"
            )
        if not isinstance(receiver, Receiver):
            raise TypeError(
                f"receiver_stream() needs an instance of a dstreams.Receiver subclass, got "
                f"{type(receiver).__name__}; subclass Receiver and implement on_start() and on_stop()"
            )
        if max_rate is not None and (not isinstance(max_rate, numbers.Real) or isinstance(max_rate, bool)
                                     or max_rate <= 0):
            raise ValueError(f"max_rate must be a positive number of records per second or None, got {max_rate!r}")
        if not isinstance(max_restarts, numbers.Integral) or isinstance(max_restarts, bool) or max_restarts < 0:
            raise ValueError(f"max_restarts must be an integer >= 0, got {max_restarts!r}")
        zero = restart_delay == 0 or (isinstance(restart_delay, datetime.timedelta) and not restart_delay)
        delay_ms = 0 if zero else to_ms(restart_delay, "restart_delay")
        block_ms = to_ms(block_interval, "block_interval")
        _check_picklable(receiver)
        super().__init__(ssc)
        self.receiver = receiver
        self.receiver_name = f"{type(receiver).__name__}-{self.id}"
        self.max_rate = None if max_rate is None else float(max_rate)
        self.block_interval_ms = block_ms
        self.replicate = bool(replicate)
        self.max_restarts = int(max_restarts)
        self.restart_delay = delay_ms / 1000.0

    def _tracker(self):
        tracker = getattr(self.ssc, "_receiver_tracker", None)
        if tracker is None:
            raise RuntimeError(f"{self!r} has no receiver tracker: start the StreamingContext first")
        return tracker

    def compute(self, t):
        blocks, lost = self._tracker().allocate(self.id, t)
        self.report(t, sum(b.num_records for b, _ in blocks), blocks=len(blocks),
                    lost_records=sum(b.num_records for b in lost))
        name = self.rdd_name(t)
        if not blocks:
            return RDD.empty(self.ssc.client, name=name)
        # partition i is block i, read where it is: the RDD's tasks run there
        layer = {(name, i): Alias((name, i), future) for i, (_, future) in enumerate(blocks)}
        return RDD(layer, name, len(blocks), self.ssc.client)

    def clear_metadata(self, time_ms: int) -> None:
        super().clear_metadata(time_ms)
        tracker = getattr(self.ssc, "_receiver_tracker", None)
        if tracker is not None:  # the blocks go with the RDDs that used them
            tracker.cleanup(self.id, time_ms - self.remember_ms)


def _check_picklable(receiver) -> None:
    import cloudpickle

    try:
        cloudpickle.dumps(receiver)
    except Exception as e:
        raise TypeError(
            f"the receiver {type(receiver).__name__} cannot be pickled, so it cannot be sent to a worker: "
            f"{type(e).__name__}: {e}; open connections, locks and threads in on_start(), not in __init__()"
        ) from e
