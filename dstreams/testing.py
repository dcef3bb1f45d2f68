"""Testing helpers for dstreams pipelines: a manual clock and a batch runner.

Examples
--------
>>> import operator
>>> from dstreams import StreamingContext
>>> from dstreams.testing import ManualClock, run_batches
>>> ssc = StreamingContext(client, batch_interval=1, clock=ManualClock())  # doctest: +SKIP
>>> out = []
>>> lines = ssc.queue_stream([["a b", "a"], ["b"]])  # doctest: +SKIP
>>> lines.flat_map(str.split).map(lambda w: (w, 1)).reduce_by_key(operator.add) \\
...      .foreach_rdd(lambda rdd: out.append(sorted(rdd.collect())))  # doctest: +SKIP
>>> run_batches(ssc, 2)  # doctest: +SKIP
>>> out  # doctest: +SKIP
[[('a', 2), ('b', 1)], [('b', 1)]]
"""
from __future__ import annotations

from ._util import to_seconds
from .context import StreamingContextState
from .errors import StreamingError
from .scheduler.clock import ManualClock


def run_batches(ssc, n: int, timeout=60.0) -> list[int]:
    """Start ``ssc`` if needed, then run ``n`` batches by advancing its manual clock one interval at a time.

    Each batch is waited for (up to ``timeout``: seconds, a ``timedelta`` or a string such as ``"1 minute"``)
    until it finished; a failed batch raises its error here. Returns the batch times (ms) that ran.
    """
    timeout = to_seconds(timeout, "run_batches(): timeout")
    clock = ssc.clock
    if not isinstance(clock, ManualClock):
        raise TypeError(
            "run_batches() drives a ManualClock; create the context with "
            "StreamingContext(client, batch_interval, clock=ManualClock())"
        )
    if ssc.state is StreamingContextState.INITIALIZED:
        ssc.start()
    elif ssc.state is StreamingContextState.STOPPED:
        if ssc._error is not None:
            ssc._wait_stopped()
            raise ssc._error
        raise RuntimeError("run_batches(): the StreamingContext is stopped; create a new one")
    times = []
    for _ in range(n):
        clock.advance(ssc.batch_interval)
        t = (clock.time_ms() // ssc.batch_ms) * ssc.batch_ms
        try:
            with ssc._awaited(batches=True):
                ssc._scheduler.wait_for(t, timeout)
        except StreamingError:
            ssc._wait_stopped()  # the failure reaches the caller once the context is stopped and released
            raise
        times.append(t)
    return times


__all__ = ["ManualClock", "run_batches"]
