"""Sliding-window and running counts, tested deterministically with a manual clock.

The pipeline counts page views per page:

* ``reduce_by_key_and_window(add, sub, 3, 1)``: views in the last 3 batches, updated every batch
  incrementally (previous window + the entering batch - the leaving batch);
* ``update_state_by_key``: the running total since the start.

Both keep data across batches and need a checkpoint directory (a temporary one here).
Instead of waiting for real time, a ``ManualClock`` and ``run_batches`` drive the batches one by one,
so the output per batch is the same on every run; the program checks it against the expected values.

Run it with ``python examples/windowed_counts.py``.
"""
from __future__ import annotations

import operator
import tempfile

from dstreams import StreamingContext
from dstreams.testing import ManualClock, run_batches

VIEWS = [
    ["home", "docs"],          # batch 1 (t = 1 s)
    ["home", "home"],          # batch 2
    ["docs"],                  # batch 3
    ["blog"],                  # batch 4: batch 1 leaves the 3-batch window
    [],                        # batch 5
]

EXPECTED_WINDOW = [
    {"home": 1, "docs": 1},
    {"home": 3, "docs": 1},
    {"home": 3, "docs": 2},
    {"home": 2, "docs": 1, "blog": 1},
    {"docs": 1, "blog": 1},  # 'home' fell to 0 and is dropped by filter_func
]
EXPECTED_TOTAL = {"home": 3, "docs": 2, "blog": 1}


def running_total(new_values, last_total):
    return sum(new_values) + (last_total or 0)


def main() -> None:
    windows: list[dict] = []
    totals: list[dict] = []
    with tempfile.TemporaryDirectory() as checkpoint_dir:
        with StreamingContext(batch_interval=1, clock=ManualClock()) as ssc:
            ssc.checkpoint(checkpoint_dir)
            pairs = ssc.queue_stream(VIEWS).map(lambda page: (page, 1))

            windowed = pairs.reduce_by_key_and_window(
                operator.add, operator.sub, window_duration=3, slide_duration=1,
                filter_func=lambda kv: kv[1] > 0,
            )
            running = pairs.update_state_by_key(running_total)

            windowed.foreach_rdd(lambda rdd: windows.append(dict(rdd.collect())))
            running.foreach_rdd(lambda rdd: totals.append(dict(rdd.collect())))

            times = run_batches(ssc, len(VIEWS))  # starts the context, advances the clock 1 s per batch

    for t, w, total in zip(times, windows, totals, strict=True):
        print(f"t={t // 1000}s  last 3 s: {dict(sorted(w.items()))}  since start: {dict(sorted(total.items()))}")

    assert windows == EXPECTED_WINDOW, f"window counts {windows} != expected {EXPECTED_WINDOW}"
    assert totals[-1] == EXPECTED_TOTAL, f"running totals {totals[-1]} != expected {EXPECTED_TOTAL}"
    print("windowed and running counts match the expected values")


if __name__ == "__main__":
    main()
