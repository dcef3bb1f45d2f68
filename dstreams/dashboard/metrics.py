"""Prometheus metrics of the running stream, on the Dask scheduler's own ``/metrics`` endpoint.

When ``prometheus_client`` is installed where the scheduler runs, :func:`register` adds a collector to
its default registry, which Dask's ``/metrics`` handler exports. The series describe the newest run
that each scheduler of this process knows (a new run starts its counters again, as a restarted
process does in Prometheus):

========================================================  =========  ==========================================
``dstreams_running``                                      gauge      1 while the stream runs, else 0
``dstreams_batch_interval_seconds``                       gauge      the batch interval
``dstreams_batches_total{status="completed"|"failed"}``   counter    batches done
``dstreams_records_total{source}``                        counter    records read, per source
``dstreams_input_rate_records_per_second``                gauge      over the last 10 batches
``dstreams_last_batch_<delay>_seconds``                   gauge      of the last batch done
``dstreams_batch_<delay>_seconds``                        histogram  of every batch done
``dstreams_kafka_lag_records{topic,partition}``           gauge      latest offset minus the last batch's end
``dstreams_kafka_offset{topic,partition}``                gauge      the last batch's end offset
``dstreams_kafka_committed_offset{topic,partition}``      gauge      the newest offset the stream committed
``dstreams_receiver_restarts_total{receiver}``            counter    receiver restarts
``dstreams_receiver_active{receiver}``                    gauge      1 while the receiver runs
``dstreams_checkpoint_duration_seconds``                  gauge      the last checkpoint's write time
``dstreams_checkpoint_bytes``                             gauge      the last checkpoint's size
========================================================  =========  ==========================================

where ``<delay>`` is ``scheduling_delay``, ``processing_time`` or ``total_delay``.
"""
from __future__ import annotations

import threading

from .model import BUCKETS, DELAYS

_registered = False
_lock = threading.Lock()


def register() -> bool:
    """Add the collector to ``prometheus_client``'s default registry, once per process; False without
    ``prometheus_client``."""
    global _registered
    try:
        import prometheus_client
    except ImportError:
        return False
    with _lock:
        if not _registered:
            prometheus_client.REGISTRY.register(StreamingCollector())
            _registered = True
    return True


class StreamingCollector:
    """Reads the models of the live :class:`StreamingPagePlugin`\\ s when Prometheus scrapes."""

    def describe(self):
        return []  # no fixed set: the series depend on the runs

    def collect(self):
        from . import plugin

        for p in list(plugin.LIVE):
            run = p.model.current()
            if run is not None:
                yield from run_metrics(run)


def run_metrics(run):
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
    )

    view = run.view()
    yield GaugeMetricFamily("dstreams_running", "1 while the stream runs, else 0",
                            value=1 if view["state"] == "running" else 0)
    yield GaugeMetricFamily("dstreams_batch_interval_seconds", "The batch interval", value=view["batch_interval"])
    batches = CounterMetricFamily("dstreams_batches", "Batches done", labels=["status"])
    batches.add_metric(["completed"], run.completed)
    batches.add_metric(["failed"], run.failed)
    yield batches
    records = CounterMetricFamily("dstreams_records", "Records read, per source", labels=["source"])
    for name in sorted(run.sources):
        records.add_metric([name], run.records_by_source.get(name, 0))
    yield records
    if view["input_rate"] is not None:
        yield GaugeMetricFamily("dstreams_input_rate_records_per_second", "Records per second over the last "
                                "10 batches", value=view["input_rate"])
    last = view["series"][-1] if view["series"] else None
    for name in DELAYS:
        text = name.replace("_", " ")
        if last is not None and last[name] is not None:
            yield GaugeMetricFamily(f"dstreams_last_batch_{name}_seconds", f"The {text} of the last batch done",
                                    value=last[name])
        h = run.histograms[name]
        buckets = [(_bound(b), c) for b, c in zip(BUCKETS, h.counts, strict=True)]
        yield HistogramMetricFamily(f"dstreams_batch_{name}_seconds", f"The {text} of the batches done",
                                    buckets=buckets, sum_value=h.sum)
    lag = GaugeMetricFamily("dstreams_kafka_lag_records", "Latest offset minus the last batch's end offset",
                            labels=["topic", "partition"])
    offset = GaugeMetricFamily("dstreams_kafka_offset", "The last batch's end offset", labels=["topic", "partition"])
    committed = GaugeMetricFamily("dstreams_kafka_committed_offset", "The newest offset the stream committed",
                                  labels=["topic", "partition"])
    for source in view["sources"]:
        for p in source.get("partitions") or ():
            labels = [p["topic"], str(p["partition"])]
            offset.add_metric(labels, p["until"])
            if p["lag"] is not None:
                lag.add_metric(labels, p["lag"])
            if p.get("committed") is not None:
                committed.add_metric(labels, p["committed"])
    yield lag
    yield offset
    yield committed
    restarts = CounterMetricFamily("dstreams_receiver_restarts", "Receiver restarts", labels=["receiver"])
    active = GaugeMetricFamily("dstreams_receiver_active", "1 while the receiver runs", labels=["receiver"])
    for r in view["receivers"]:
        restarts.add_metric([r["name"]], r.get("restarts") or 0)
        active.add_metric([r["name"]], 1 if r.get("active") else 0)
    yield restarts
    yield active
    if view["checkpoint"]:
        c = view["checkpoint"]
        yield GaugeMetricFamily("dstreams_checkpoint_duration_seconds", "The last checkpoint's write time",
                                value=c["duration_ms"] / 1000.0)
        yield GaugeMetricFamily("dstreams_checkpoint_bytes", "The last checkpoint's size", value=c["bytes"])


def _bound(b: float) -> str:
    return "+Inf" if b == float("inf") else repr(b)
