"""ReceiverInputDStream: a stream whose batches are the blocks its receiver stored."""
from __future__ import annotations

import logging
import numbers

from ..._compat import Alias
from ..._util import to_ms
from ...dstream.input import InputDStream
from ...rdd import RDD
from .api import Receiver

logger = logging.getLogger("dstreams")

#: log files are deleted only this long after their time range ended (blocks may be on their way)
CLEAN_MARGIN_MS = 10_000


class ReceiverInputDStream(InputDStream):
    """Batch ``t`` holds the blocks received until ``t`` and not given to an earlier batch, one partition
    per block; the partitions are the blocks' Dask data on the workers, not copies (except for a block
    whose every copy is on a worker that receivers fill: see ``ReceiverTracker._readable``).

    See :meth:`dstreams.StreamingContext.receiver_stream` for the parameters.
    """

    op = "receiver"
    is_receiver = True
    recoverable = False
    unrecoverable_reason = ("its blocks live only in the workers' memory; receiver_stream(..., "
                            "write_ahead_log=True) logs them under the checkpoint directory")

    def __init__(self, ssc, receiver, max_rate=None, block_interval=0.2, replicate=True, max_restarts=10,
                 restart_delay=2.0, write_ahead_log=False, backpressure=False, initial_rate=None, min_rate=100.0):
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
        delay_ms = to_ms(restart_delay, "restart_delay", allow_zero=True)
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
        self.write_ahead_log = bool(write_ahead_log)
        self.recoverable = self.write_ahead_log  # the log and the checkpoints bring its blocks back
        for what, value in (("initial_rate", initial_rate), ("min_rate", min_rate)):
            if value is not None and (not isinstance(value, numbers.Real) or isinstance(value, bool) or value <= 0):
                raise ValueError(f"{what} must be a positive number of records per second, got {value!r}")
        self.backpressure = bool(backpressure)
        self.initial_rate = None if initial_rate is None else float(initial_rate)
        self.min_rate = float(min_rate)

    # -- backpressure ----------------------------------------------------------------------
    def rate_variable_name(self) -> str | None:
        """The distributed.Variable through which the driver tells the receiver its rate."""
        return f"dstreams-receiver-rate-{self.id}-{self.ssc.run_id}" if self.backpressure else None

    @property
    def rate_limit(self) -> float | None:
        """With backpressure: the records/s the receiver may store, from Spark's PID estimator."""
        return self.__dict__.get("_rate_limit")

    @rate_limit.setter
    def rate_limit(self, rate) -> None:
        from distributed import Variable

        self.__dict__["_rate_limit"] = rate
        if rate is not None and self.ssc is not None:
            Variable(self.rate_variable_name(), client=self.ssc.client).set(float(rate))

    def _start_backpressure(self) -> None:
        from ...scheduler.rate import PIDRateEstimator, RateController

        self.ssc.add_listener(RateController(self, PIDRateEstimator(self.ssc.batch_ms, min_rate=self.min_rate)))
        if self.initial_rate is not None:
            self.rate_limit = self.initial_rate

    # -- write-ahead log -------------------------------------------------------------------
    def wal_dir(self) -> str | None:
        """Where the receiver logs its blocks: ``<checkpoint>/received/<stream id>`` (or, resumed by a new
        version of the application, the old version's log), or None."""
        if not self.write_ahead_log or self.ssc.checkpoint_dir is None:
            return None
        return self.__dict__.get("_log_dir") or f"{self.ssc.checkpoint_dir.rstrip('/')}/received/{self.id}"

    def validate_at_start(self) -> None:
        super().validate_at_start()
        if self.write_ahead_log and self.ssc.checkpoint_dir is None:
            raise ValueError(
                f"receiver stream '{self.name}' has write_ahead_log=True but the context has no checkpoint "
                "directory to keep the log in; call ssc.checkpoint(directory) before ssc.start(), or drop "
                "write_ahead_log"
            )
        other = next((s for s in self.ssc.runtime.graph.inputs if s is not self
                      and getattr(s, "is_receiver", False) and s.wal_dir() == self.wal_dir() is not None), None)
        if other is not None:
            raise ValueError(
                f"receiver streams '{self.name}' and '{other.name}' would write one log, {self.wal_dir()}: the "
                "new version took the old one's log for one of them; name the receiver streams of both versions "
                "with stream.named() so that each resumes its own")

    # -- snapshots: a new version of the application resumes the log --------------------------
    def snapshot(self) -> dict:
        tracker = self.ssc.runtime.receiver_tracker if self.ssc is not None else None
        if self.wal_dir() is None or tracker is None:
            return {}
        state = tracker.blocks.wal_state(self.id)
        return {"log": self.wal_dir(), "cleaned": state["cleaned"],
                "allocated": {str(t): [[key, n, list(segment)] for key, n, segment in metas]
                              for t, metas in sorted(state["allocated"].items())},
                "done": sorted([path, offset] for path, offset in state["done"])}

    def restorable_reason(self) -> str | None:
        return None if self.write_ahead_log else self.unrecoverable_reason

    def restore(self, snapshot: dict) -> None:
        """Take over the old version's write-ahead log: the blocks of its batches to run again, and the
        blocks it logged but no batch took (they go to the first new batch)."""
        from ...errors import CheckpointError

        if "log" not in snapshot:
            raise CheckpointError(
                f"receiver stream '{self.name}' cannot resume: the old version's receiver had no write-ahead "
                "log, so what it received is lost; start afresh with a new checkpoint directory")
        self.__dict__["_log_dir"] = snapshot["log"]
        self.__dict__["_wal_state"] = {
            "allocated": {int(t): [(key, n, tuple(segment)) for key, n, segment in metas]
                          for t, metas in snapshot["allocated"].items()},
            "done": {(path, offset) for path, offset in snapshot["done"]}, "cleaned": snapshot["cleaned"]}

    def remembers(self, time_ms: int) -> bool:
        state = self.__dict__.get("_wal_state")
        return state is not None and time_ms in state["allocated"]

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_wal_state", None)
        tracker = self.ssc.runtime.receiver_tracker if self.ssc is not None else None
        if self.write_ahead_log and tracker is not None:
            # the blocks of the batches not cleaned up, and which logged blocks were done with
            state["_wal_state"] = tracker.blocks.wal_state(self.id)
        return state

    def start(self) -> None:
        super().start()
        if self.backpressure:
            self._start_backpressure()
        state = self.__dict__.pop("_wal_state", None)
        if state is not None and self.write_ahead_log:
            self._recover_from_log(state)

    def _recover_from_log(self, state) -> None:
        """After recovery: give the tracker the pending batches' blocks and, as received but not
        allocated, every fully logged block that no batch took (they go to the next batch)."""
        import cloudpickle

        from ...signing import data_key, unseal
        from .wal import WriteAheadLog, parse_name

        wal = WriteAheadLog(self.wal_dir(), writer="driver")
        taken = {(m[2][0], m[2][1]) for metas in state["allocated"].values() for m in metas}
        taken |= set(state["done"])
        run = self.ssc.run_id
        files = [p for p in wal.files() if not parse_name(p)[2].startswith(f"{run}-")]  # not this run's
        unallocated = []
        for segment, data in wal.read_all(files):
            if (segment.path, segment.offset) in taken:
                continue
            data = unseal(data, data_key(self.ssc.checkpoint_key),
                          f"write-ahead log record {segment.path}:{segment.offset}")
            n = len(cloudpickle.loads(data))
            unallocated.append((f"wal-{self.id}-{len(unallocated)}", n, tuple(segment)))
        self._tracker().blocks.restore(self.id, state["allocated"], unallocated, state["done"],
                                       state.get("cleaned", -1))

    def _clean_log(self, tracker) -> None:
        """Delete the log files no block still needed is in, once no block can still arrive in them."""
        import time

        from .wal import WriteAheadLog

        wal = WriteAheadLog(self.wal_dir(), writer="driver")
        threshold = int(time.time() * 1000) - CLEAN_MARGIN_MS  # blocks on their way to the driver
        deleted = wal.clean(threshold, keep=tracker.blocks.needed_paths(self.id))
        if deleted:
            tracker.blocks.forget_files(self.id, deleted)

    def _tracker(self):
        tracker = self.ssc.runtime.receiver_tracker
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
        tracker = self.ssc.runtime.receiver_tracker
        if tracker is not None:  # the blocks go with the RDDs that used them
            tracker.cleanup(self.id, time_ms - self.remember_ms)
            if self.wal_dir() is not None:
                try:
                    self._clean_log(tracker)
                except Exception:
                    logger.exception("receiver stream %s: cleaning the write-ahead log failed", self.name)


def _check_picklable(receiver) -> None:
    import cloudpickle

    try:
        cloudpickle.dumps(receiver)
    except Exception as e:
        raise TypeError(
            f"the receiver {type(receiver).__name__} cannot be pickled, so it cannot be sent to a worker: "
            f"{type(e).__name__}: {e}; open connections, locks and threads in on_start(), not in __init__()"
        ) from e
