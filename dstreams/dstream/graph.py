"""DStreamGraph: the streams of a context, its inputs and outputs, and job generation per batch."""
from __future__ import annotations

import contextlib
import threading

from .._util import fmt_ms


class DStreamGraph:
    """Holds the graph definition; knows nothing of clocks, jobs running or receivers."""

    def __init__(self, batch_ms: int):
        self.batch_ms = batch_ms
        self.streams: list = []
        self.inputs: list = []
        self.outputs: list = []
        self.zero_time: int | None = None
        self.start_time: int | None = None
        self.remember_ms: int | None = None
        self._started = False
        self._lock = threading.RLock()
        # data checkpoint directories no stream uses any more, each with the sequence number of the first
        # metadata checkpoint written without them (None until it is written): the older metadata
        # checkpoints still refer to them, so they are deleted once none of those is kept
        self.retired_data: list[list] = []

    def retire_data_checkpoint(self, path: str) -> None:
        with self._lock:
            self.retired_data.append([None, path])

    def delete_retired_data(self, written_seq: int, keep: int) -> None:
        """After metadata checkpoint ``written_seq`` was written (and the newest ``keep`` are kept):
        delete the retired data checkpoints that no kept metadata checkpoint refers to."""
        from ..checkpoint import delete_dir

        with self._lock:
            for entry in self.retired_data:
                if entry[0] is None:
                    entry[0] = written_seq
            due = [e for e in self.retired_data if written_seq - e[0] >= keep - 1]
            self.retired_data = [e for e in self.retired_data if written_seq - e[0] < keep - 1]
        for _, path in due:
            delete_dir(path)

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state):
        self.retired_data = []
        self.__dict__.update(state)
        self._lock = threading.RLock()

    def attach(self, ssc) -> None:
        """After recovery from a checkpoint: the streams belong to ``ssc``."""
        for s in self.streams:
            s.ssc = ssc

    def restart(self) -> None:
        """After recovery from a checkpoint: start the sources again, keeping their state."""
        with self._lock:
            self._started = True
            self._start_sources()

    def unrecoverable_sources(self) -> list:
        return [s for s in self.inputs if not getattr(s, "recoverable", True)]

    def register(self, stream) -> int:
        with self._lock:
            self.require_not_started(f"creating stream {type(stream).__name__}")
            self.streams.append(stream)
            if getattr(stream, "is_input", False):
                self.inputs.append(stream)
            self._next_id = getattr(self, "_next_id", 0) + 1
            return self._next_id - 1

    @contextlib.contextmanager
    def atomic(self):
        """Within this block, streams are registered all or none: on an error, the streams registered in
        it are taken out again (a composite operator whose last step refused its arguments)."""
        with self._lock:
            before = len(self.streams)
            try:
                yield
            except BaseException:
                for stream in self.streams[before:]:
                    self.unregister(stream)
                raise

    def unregister(self, stream) -> None:
        """Forget a stream whose construction failed, so that it cannot break ``start()``."""
        with self._lock:
            for group in (self.streams, self.inputs, self.outputs):
                if any(s is stream for s in group):
                    group[:] = [s for s in group if s is not stream]

    def add_output(self, stream) -> int:
        with self._lock:
            self.outputs.append(stream)
            return len(self.outputs) - 1

    def require_not_started(self, what: str) -> None:
        if self._started:
            raise RuntimeError(
                f"{what} after the StreamingContext started: the graph is fixed once it runs; define every "
                "stream and output operation before ssc.start() (or stop and create a new context)"
            )

    def validate(self) -> None:
        if not self.outputs:
            raise ValueError(
                "no output operation is registered, so there would be nothing to run; add one such as "
                "stream.pprint() or stream.foreach_rdd(func) before ssc.start()"
            )
        for s in self.streams:
            s.validate_at_start()

    def start(self, zero_time: int) -> None:
        with self._lock:
            self.zero_time = zero_time
            self.start_time = zero_time + self.batch_ms
            for out in self.outputs:
                out.remember(self.remember_ms)
                out.initialize(zero_time)
            for s in self.streams:  # streams not reachable from an output are still initialized
                if s.zero_time is None:
                    s.initialize(zero_time)
            self._started = True
            self._start_sources()

    def _start_sources(self) -> None:
        for inp in self.inputs:
            inp.start()
        for out in self.outputs:  # after the sources: e.g. a transactional sink needs their partitions
            hook = getattr(out, "on_start", None)
            if hook is not None:
                hook()

    def stop(self) -> None:
        for inp in self.inputs:
            inp.stop()
        for s in self.streams:
            s.stop()

    def generate_jobs(self, t: int) -> list:
        jobs = []
        for out in self.outputs:
            job = out.generate_job(t)
            if job is not None:
                jobs.append(job)
        for s in self.streams:  # data checkpoints run after the batch's output operations
            job = s.data_checkpoint_job(t)
            if job is not None:
                jobs.append(job)
        return jobs

    def explain_failure(self, exc: BaseException) -> str:
        """Why building a batch failed: the error, and the user's call and function it came from."""
        from .usercode import explain

        return explain(exc, self.streams)

    def batch_jobs_done(self, t: int) -> None:
        """Tell the sources that the jobs of batch ``t`` ran (before listeners hear it completed)."""
        for inp in self.inputs:
            inp.batch_jobs_done(t)
        for s in self.streams:  # streams that report on their batch (event-time windows' counts)
            if not getattr(s, "is_input", False) and hasattr(type(s), "batch_jobs_done"):
                s.batch_jobs_done(t)

    def clear_metadata(self, t: int) -> None:
        for out in self.outputs:
            out.clear_metadata(t)

    def set_remember(self, ms: int) -> None:
        self.require_not_started("remember()")
        self.remember_ms = ms

    def describe(self) -> str:
        return f"{len(self.inputs)} inputs, {len(self.outputs)} outputs, batch {fmt_ms(self.batch_ms)}"
