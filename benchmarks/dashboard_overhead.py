"""The cost of the Streaming page and its metrics on a running stream.

A word count at 0.2 s batches runs for a while with the page on, then off, in turns; the figure is the
CPU time of the whole process (driver, in-process scheduler and workers) per batch, with the page
against without, measured in this run. The aim is an overhead under 2% of the engine's per-batch time.

Run with `make bench`, or alone: `python benchmarks/dashboard_overhead.py [--seconds 20] [--rounds 3]`.
"""
from __future__ import annotations

import argparse
import operator
import statistics
import time
import urllib.request

import dask
from distributed import Client, LocalCluster

from dstreams import StreamingContext, StreamingListener
from dstreams.dashboard.reporter import DashboardReporter

BATCH_S = 0.2
LINES = [f"word{i % 500} other{i % 7} text{i % 13}" for i in range(1000)]
REPORTER: list[tuple[float, float, float]] = []  # per run with the page: its costs per batch


class Count(StreamingListener):
    def __init__(self):
        self.batches = 0
        self.processing = []

    def on_batch_completed(self, info):
        self.batches += 1
        self.processing.append(info.processing_delay)


def one_run(client, seconds: float, page: bool) -> tuple[float, float]:
    """(CPU seconds per batch, mean processing time per batch) of one run; with the page, also prints
    what its reporter spent per batch."""
    with dask.config.set({"dstreams.dashboard": page}):
        ssc = StreamingContext(client, batch_interval=BATCH_S)
        counter = Count()
        ssc.add_listener(counter)
        ssc.queue_stream([], default=LINES).flat_map(str.split).map(lambda w: (w, 1)) \
            .reduce_by_key(operator.add, 2).foreach_rdd(lambda rdd: rdd.collect())
        ssc.start()
        time.sleep(2 * BATCH_S)  # past the first batch
        cpu, batches = time.process_time(), counter.batches
        time.sleep(seconds)
        cpu, batches = time.process_time() - cpu, counter.batches - batches
        if page:  # while it runs, someone watches: the page polls its data every second
            urllib.request.urlopen(f"{ssc.runtime.dashboard_url}/data.json", timeout=10).read()
        ssc.stop(stop_client=False)
    reporter = next((r for r in ssc.runtime.bus.listeners if isinstance(r, DashboardReporter)), None)
    if reporter is not None:
        n = max(1, counter.batches)
        REPORTER.append((reporter.listener_seconds / n, reporter.sender_cpu_seconds / n, reporter.sends / n))
    return cpu / max(1, batches), statistics.mean(counter.processing[2:])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        one_run(client, 2, True)  # warm up
        on, off = [], []
        for _ in range(args.rounds):
            on.append(one_run(client, args.seconds, True))
            off.append(one_run(client, args.seconds, False))
    cpu_on, cpu_off = statistics.median(c for c, _ in on), statistics.median(c for c, _ in off)
    proc_on, proc_off = statistics.median(p for _, p in on), statistics.median(p for _, p in off)
    print(f"Streaming page overhead, word count at {BATCH_S} s batches, {len(LINES)} lines a batch "
          f"({args.rounds} rounds of {args.seconds:g} s each way):")
    print(f"  CPU per batch    : {cpu_on * 1000:6.1f} ms with the page, {cpu_off * 1000:6.1f} ms without: "
          f"{100 * (cpu_on / cpu_off - 1):+5.1f}%")
    print(f"  processing time  : {proc_on * 1000:6.1f} ms with the page, {proc_off * 1000:6.1f} ms without: "
          f"{100 * (proc_on / proc_off - 1):+5.1f}%")
    listener, sender, sends = (statistics.median(r[i] for r in REPORTER[1:]) for i in range(3))
    print(f"  the page's reporter, per batch: {listener * 1000:.2f} ms in its listener callbacks (on the batch's "
          f"threads), {sender * 1000:.2f} ms CPU sending ({sends:.2f} calls to the scheduler): "
          f"{100 * (listener + sender) / cpu_off:.1f}% of the engine's CPU per batch")


if __name__ == "__main__":
    main()
