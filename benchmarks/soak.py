"""Soak: a word count at 0.2 s batches (about 5,000 records/s) for 30 minutes; after a warm-up (the first
third), the resident memory of the driver (which hosts the Dask scheduler) and of each worker process
must grow by less than 5%.

Run with `make bench`, or alone: `python benchmarks/soak.py [--minutes 5]`; `DSTREAMS_SOAK_MINUTES=5` sets
the duration under `make bench`. Dask's own bounded histories fill during the first minutes (message logs,
profiles, an hour of system-monitor samples); its cache of task-key names (``dask.utils.key_split``, shown
as "key cache", about 16 new names a batch here) is kept under 20,000 names by dstreams' plugins. A short
run measures the histories filling.
"""
from __future__ import annotations

import argparse
import operator
import os
import statistics
import time

import psutil
from dask.utils import key_split
from distributed import Client, LocalCluster

from dstreams import StreamingContext, StreamingListener, _compat

BATCH_S = 0.2
LINES = [f"word{i % 500} other{i % 7} text{i % 13}" for i in range(1000)]  # 1,000 records a batch
SAMPLE_EVERY_S = 5.0
LIMIT_PERCENT = 5.0
MAX_DELAY_S = 2.0  # a stream further behind than this at the end holds a backlog: no measurement


class Delays(StreamingListener):
    def __init__(self):
        self.batches, self.last_delay = 0, 0.0

    def on_batch_completed(self, info):
        self.batches += 1
        self.last_delay = info.scheduling_delay


def _rss(dask_worker=None) -> int:
    return psutil.Process().memory_info().rss


def _worker_keys(dask_worker) -> tuple[int, int]:
    return _compat.worker_metric_keys(dask_worker), key_split.cache_info().currsize


def _bookkeeping(client) -> str:
    sizes = client.run_on_scheduler(lambda dask_scheduler: _compat.scheduler_bookkeeping(dask_scheduler))
    workers = sorted(client.run(_worker_keys).values())
    return (", ".join(f"{k} {v}" for k, v in sizes.items()) + f", key cache {key_split.cache_info().currsize}"
            f"; workers' metric keys {[k for k, _ in workers]}, key caches {[c for _, c in workers]}")


def _growth(samples: list[tuple[float, dict]], warm_up_end: float, window_s: float) -> dict[str, float]:
    """Per process, percent growth from the mean of the samples just after the warm-up to the mean of
    the last ones (``window_s`` each)."""
    base = [s for t, s in samples if warm_up_end <= t < warm_up_end + window_s]
    last = [s for t, s in samples if t >= samples[-1][0] - window_s]
    out = {}
    for name in samples[-1][1]:
        before = statistics.mean(s[name] for s in base if name in s)
        after = statistics.mean(s[name] for s in last if name in s)
        out[name] = 100.0 * (after - before) / before
    return out


def soak(minutes: float) -> dict[str, float]:
    duration = minutes * 60
    warm_up = duration / 3
    window = min(60.0, duration / 10)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        ssc = StreamingContext(client, batch_interval=BATCH_S)
        rec = Delays()
        ssc.add_listener(rec)
        lines = ssc.queue_stream([], default=LINES)
        counts = lines.flat_map(str.split).map(lambda w: (w, 1)).reduce_by_key(operator.add, 2)
        counts.foreach_rdd(lambda rdd: rdd.collect())
        driver = psutil.Process()
        samples: list[tuple[float, dict]] = []
        start = time.monotonic()
        ssc.start()
        try:
            while (elapsed := time.monotonic() - start) < duration:
                sample = {"driver+scheduler": driver.memory_info().rss}
                for i, (_, rss) in enumerate(sorted(client.run(_rss).items())):
                    sample[f"worker {i}"] = rss
                samples.append((elapsed, sample))
                if len(samples) == 1 or abs(elapsed - warm_up) < SAMPLE_EVERY_S / 2:
                    print(f"  {elapsed:6.0f} s: {_bookkeeping(client)}", flush=True)
                time.sleep(SAMPLE_EVERY_S)
            print(f"  {duration:6.0f} s: {_bookkeeping(client)}", flush=True)
        finally:
            ssc.stop(stop_client=False)
        if rec.last_delay > MAX_DELAY_S:
            raise SystemExit(
                f"soak: the stream fell behind (scheduling delay {rec.last_delay:.1f} s after {rec.batches} "
                f"batches): its memory holds the backlog, so growth says nothing about leaks; run on an idle "
                "machine (the benchmark needs about one core)")
        growth = _growth(samples, warm_up, window)
        first, last = samples[0][1], samples[-1][1]
        print(f"soak: {minutes:g} min at {BATCH_S} s batches, {len(LINES) / BATCH_S:.0f} records/s, "
              f"{rec.batches} batches, last scheduling delay {rec.last_delay * 1000:.0f} ms")
        print(f"RSS growth after the warm-up ({warm_up / 60:.1f} min; means over {window:.0f} s):")
        for name, pct in growth.items():
            print(f"  {name:18s} {first[name] / 2**20:6.1f} MB at start, {last[name] / 2**20:6.1f} MB at end, "
                  f"{pct:+5.1f}% after warm-up")
        return growth


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=float(os.environ.get("DSTREAMS_SOAK_MINUTES", 30)),
                        help="duration (default 30, or $DSTREAMS_SOAK_MINUTES)")
    minutes = parser.parse_args().minutes
    if minutes < 1.5:
        parser.error(f"--minutes {minutes:g} is too short to measure growth after a warm-up; give 1.5 or more")
    growth = soak(minutes)
    over = {name: round(pct, 1) for name, pct in growth.items() if pct >= LIMIT_PERCENT}
    assert not over, f"memory grew by {LIMIT_PERCENT}% or more after the warm-up: {over}"


if __name__ == "__main__":
    main()
