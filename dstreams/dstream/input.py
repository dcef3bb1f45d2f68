"""InputDStream: the base of every source, and the tracker of what each batch read."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from .base import DStream


class InputDStream(DStream):
    """A source stream: no parents, slides every batch interval, knows which data belongs to a batch."""

    is_input = True
    op = "input"

    def __init__(self, ssc):
        super().__init__(ssc, [])

    @property
    def slide_ms(self) -> int:
        return self.ssc.batch_ms

    def is_time_valid(self, time_ms):
        return super().is_time_valid(time_ms)

    def report(self, time_ms: int, num_records: int, **metadata) -> None:
        """Record how many records (and what metadata) this source put in the batch of ``time_ms``."""
        self.ssc.runtime.input_info.report(time_ms, self.id, StreamInputInfo(self.id, num_records, metadata))

    def reported(self, time_ms: int) -> StreamInputInfo | None:
        """What this source reported for the batch of ``time_ms`` (None once the batch is cleaned up)."""
        return self.ssc.runtime.input_info.get(time_ms).get(self.id)

    def snapshot(self) -> dict:
        """This source's position and the batches it remembers, as JSON, written beside each checkpoint
        (see :mod:`dstreams.snapshot`); :meth:`restore` reads it back into a new version's stream."""
        return {}

    def restorable_reason(self) -> str | None:
        """None when :meth:`restore` can resume this source in a new version of the application, else why not."""
        return "this kind of source keeps no position that a new version of the application could resume from"

    def restore(self, snapshot: dict) -> None:
        """Resume from a :meth:`snapshot` of the old version's stream (before the context starts)."""
        raise NotImplementedError(self.restorable_reason())

    def remembers(self, time_ms: int) -> bool:
        """Whether this source knows what the batch of ``time_ms`` read (so it can read it again)."""
        return False

    def batch_jobs_done(self, time_ms: int) -> None:
        """Called when the jobs of batch ``time_ms`` ran, before listeners are told the batch completed:
        a source may add to the batch's input info what only its tasks know."""

    def start(self) -> None:
        """Called when the context starts (and again after recovery from a checkpoint)."""

    def stop(self) -> None:
        super().stop()


@dataclass
class StreamInputInfo:
    """What one input stream contributed to one batch."""

    input_stream_id: int
    num_records: int
    metadata: dict = field(default_factory=dict)


class InputInfoTracker:
    """Per batch time, the ``StreamInputInfo`` of every input stream (Spark's ``InputInfoTracker``)."""

    def __init__(self):
        self._infos: dict[int, dict[int, StreamInputInfo]] = {}
        self._lock = threading.Lock()

    def report(self, time_ms, stream_id, info) -> None:
        with self._lock:
            self._infos.setdefault(time_ms, {})[stream_id] = info

    def get(self, time_ms) -> dict:
        with self._lock:
            return dict(self._infos.get(time_ms, {}))

    def cleanup(self, time_ms) -> None:
        with self._lock:
            for t in [t for t in self._infos if t <= time_ms]:
                del self._infos[t]
