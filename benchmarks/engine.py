"""Engine benchmarks: per-batch overhead against the same Dask graph submitted by hand, and the
smallest batch interval at which a 4-partition word count keeps a flat scheduling delay.

Run with `make bench` (or `python benchmarks/engine.py`). Figures are ratios measured in one run.
"""
from __future__ import annotations

import operator
import statistics
import time

from distributed import Client, LocalCluster

from dstreams import RDD, StreamingContext, StreamingListener
from dstreams.testing import ManualClock, run_batches

LINES = [f"word{i % 50} other{i % 7} text{i % 13}" for i in range(4000)]


def wordcount(rdd: RDD, name=None) -> RDD:
    return rdd.flat_map(str.split).map(lambda w: (w, 1)).reduce_by_key(operator.add, 4)


def by_hand(client, n_batches: int) -> float:
    """The same graph per batch, built and computed directly on the client."""
    start = time.perf_counter()
    for i in range(n_batches):
        rdd = RDD.from_list(LINES, 4, client=client, name=f"hand-{i}")
        wordcount(rdd).collect()
    return (time.perf_counter() - start) / n_batches


def with_dstreams(client, n_batches: int) -> float:
    ssc = StreamingContext(client, batch_interval=1, clock=ManualClock())
    out = []
    ssc.queue_stream([LINES] * n_batches).transform(wordcount).foreach_rdd(lambda rdd: out.append(rdd.collect()))
    ssc.start()
    start = time.perf_counter()
    run_batches(ssc, n_batches)
    elapsed = time.perf_counter() - start
    ssc.stop(stop_client=False)
    assert len(out) == n_batches and dict(out[0])["word0"] == 80
    return elapsed / n_batches


class Delays(StreamingListener):
    def __init__(self):
        self.delays = []

    def on_batch_completed(self, info):
        self.delays.append(info.scheduling_delay)


def delay_is_flat(client, interval: float) -> tuple[bool, float]:
    seconds = max(3.0, 10 * interval)
    ssc = StreamingContext(client, batch_interval=interval)
    rec = Delays()
    ssc.add_listener(rec)
    ssc.queue_stream([], default=LINES).transform(wordcount).foreach_rdd(lambda rdd: rdd.collect())
    ssc.start()
    time.sleep(seconds)
    ssc.stop(stop_client=False)
    d = rec.delays
    if len(d) < 6:
        return False, float("nan")
    second_half = d[len(d) // 2:]
    flat = max(second_half) < interval and second_half[-1] <= second_half[0] + interval / 2
    return flat, statistics.mean(second_half)


def main():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        by_hand(client, 3)  # warm up
        n = 30
        hand = statistics.median(by_hand(client, n) for _ in range(3))
        ours = statistics.median(with_dstreams(client, n) for _ in range(3))
        print(f"per-batch time, 4-partition word count of {len(LINES)} lines (2 workers x 1 thread):")
        print(f"  graph submitted by hand : {hand * 1000:7.1f} ms")
        print(f"  dstreams                : {ours * 1000:7.1f} ms")
        print(f"  ratio dstreams / by hand: {ours / hand:7.2f}x (aim <= 1.2x)")
        smallest = None
        for interval in (1.0, 0.5, 0.3, 0.2, 0.1, 0.05):
            flat, mean_delay = delay_is_flat(client, interval)
            print(f"  interval {interval * 1000:5.0f} ms: scheduling delay {'flat' if flat else 'GROWS'}"
                  f" (mean {mean_delay * 1000:.1f} ms over the second half)")
            if flat:
                smallest = interval
            else:
                break
        print(f"smallest batch interval with a flat scheduling delay: "
              f"{'none' if smallest is None else f'{smallest * 1000:.0f} ms'} (aim: 200 ms)")


if __name__ == "__main__":
    main()
