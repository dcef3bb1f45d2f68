"""Output operations: turn the RDD of a batch into a job that runs user code."""
from __future__ import annotations

from .._util import call_with_optional_time, describe, ms_to_datetime
from .base import DStream


class Job:
    """One output operation's work for one batch time."""

    def __init__(self, time_ms: int, output_id: int, description: str, func):
        self.time_ms = time_ms
        self.output_id = output_id
        self.description = description
        self.func = func

    def run(self):
        return self.func()

    def __repr__(self):
        return f"Job({self.description} @ {self.time_ms})"


class ForEachDStream(DStream):
    """Run ``func(rdd)`` or ``func(time, rdd)`` on the driver for every batch."""

    op = "foreach"

    def __init__(self, parent, func, description):
        if not callable(func):
            raise TypeError(f"{description}() needs a function of (rdd) or (time, rdd), got {func!r}")
        super().__init__(parent.ssc, [parent])
        self.func = func
        self.description = f"{description} at {describe(func)}"
        self.output_id = self.ssc.runtime.graph.add_output(self)

    def compute(self, t):
        return self.dependencies[0].get_or_compute(t)

    def generate_job(self, t: int) -> Job | None:
        rdd = self.get_or_compute(t)
        if rdd is None:
            return None
        return Job(t, self.output_id, self.description, lambda: call_with_optional_time(self.func, t, rdd))


def pprint(stream, num):
    def show(time, rdd):
        taken = rdd.take(num + 1)
        print("-------------------------------------------")
        print(f"Time: {time}")
        print("-------------------------------------------")
        for record in taken[:num]:
            print(record)
        if len(taken) > num:
            print("...")
        print("", flush=True)

    return ForEachDStream(stream, show, "pprint")


def save_as_files(stream, prefix, suffix, method):
    """Save each batch with ``rdd.<method>(f"{prefix}-{batch_ms}[.{suffix}]")`` (``save_as_text_file``, ...)."""
    def save(time, rdd):
        ms = int(round(time.timestamp() * 1000))
        getattr(rdd, method)(f"{prefix}-{ms}" + (f".{suffix}" if suffix else ""))

    return ForEachDStream(stream, save, f"{method}s")


__all__ = ["ForEachDStream", "Job", "ms_to_datetime"]
