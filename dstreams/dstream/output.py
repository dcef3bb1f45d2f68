"""Output operations: turn the RDD of a batch into a job that runs user code."""
from __future__ import annotations

from .. import userfuncs
from .._util import call_with_optional_time, describe_failure, ms_to_datetime
from .base import DStream
from .usercode import explain, upstream


class Job:
    """One output operation's work for one batch time.

    ``stream`` is the stream whose work it is (an output operation's, or a stream's data checkpoint):
    a failure's reason names the user's call it came from among that stream's and its parents'.
    """

    def __init__(self, time_ms: int, output_id: int, description: str, func, stream=None):
        self.time_ms = time_ms
        self.output_id = output_id
        self.description = description
        self.func = func
        self.stream = stream

    def run(self):
        return self.func()

    def failure_reason(self, exc: BaseException) -> str:
        """What went wrong, for ``OutputOperationInfo.failure_reason`` and the batch's error."""
        if self.stream is None:
            return describe_failure(exc)
        # an output operation's description names its call and function already; a data checkpoint's does not
        own = self.stream if self.output_id >= 0 else None
        return explain(exc, upstream(self.stream), own=own)

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
        where = self.call_site or description
        if userfuncs.is_user_function(func):
            where += f" (the function {userfuncs.defined_at(func)})"
        self.description = where
        self.output_id = self.ssc.runtime.graph.add_output(self)

    def compute(self, t):
        return self.dependencies[0].get_or_compute(t)

    def generate_job(self, t: int) -> Job | None:
        rdd = self.get_or_compute(t)
        if rdd is None:
            return None
        return Job(t, self.output_id, self.description, lambda: call_with_optional_time(self.func, t, rdd), self)


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
