"""What the Streaming page shows, built from the messages the driver sends (plain dicts, JSON-able).

The model lives in the Dask scheduler (see :mod:`dstreams.dashboard.plugin`) and knows nothing of the
engine: it takes messages and answers :meth:`StreamingModel.view` for the page, and
:meth:`StreamingModel.current` for the Prometheus collector. Messages, each with ``"run"`` (the
context's run id):

- ``{"type": "started", "batch_ms", "started_ms", "sources": [{"id", "name", "kind"}], "outputs": [...]}``
- ``{"type": "batch", "batch": {"time_ms", "status": "queued" | "processing" | "completed" | "failed",
  "submitted_ms", "started_ms", "ended_ms", "records", "inputs": {source: {"records", "partitions":
  [[topic, partition, from, until, latest, committed]]}}, "outputs": [{"id", "description", "start_ms", "end_ms",
  "failure"}], "checkpoint": {"time_ms", "bytes", "duration_ms"} | None}}``
- ``{"type": "receiver", "receiver": {"name", "stream_id", "active", "worker", "restarts", "last_error",
  "last_error_time_ms"}}``
- ``{"type": "stopped", "stopped_ms", "error": str | None}``
"""
from __future__ import annotations

import collections
import statistics

#: completed batches a run keeps (the charts and the table show the newest of them)
MAX_BATCHES = 1000
#: runs kept: the newest is shown; a stopped run stays visible until the next one starts
MAX_RUNS = 5
#: completed batches the charts draw and the input rate is averaged over
CHART_BATCHES = 300
RATE_BATCHES = 10
TABLE_BATCHES = 50
#: upper bounds (seconds) of the delay histograms the Prometheus collector exports
BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, float("inf"))
DELAYS = ("scheduling_delay", "processing_time", "total_delay")


class Histogram:
    """Cumulative counts per bucket, a sum and a count: a Prometheus histogram's data."""

    def __init__(self):
        self.counts = [0] * len(BUCKETS)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.sum += value
        self.count += 1
        for i, bound in enumerate(BUCKETS):
            if value <= bound:
                self.counts[i] += 1


class RunModel:
    """One run of one StreamingContext."""

    def __init__(self, msg: dict):
        self.run = msg["run"]
        self.batch_ms = int(msg["batch_ms"])
        self.started_ms = msg.get("started_ms")
        self.stopped_ms = None
        self.error = None
        self.sources = {s["name"]: dict(s) for s in msg.get("sources", ())}
        self.outputs = list(msg.get("outputs", ()))
        self.active: dict[int, dict] = {}  # queued or processing, by batch time
        self.done: collections.deque = collections.deque(maxlen=MAX_BATCHES)
        self.completed = self.failed = self.records = 0
        self.records_by_source: collections.Counter = collections.Counter()
        self.receivers: dict[str, dict] = {}
        self.checkpoint = None
        self.histograms = {name: Histogram() for name in DELAYS}

    @property
    def state(self) -> str:
        if self.stopped_ms is None:
            return "running"
        return "failed" if self.error else "stopped"

    def batch(self, b: dict) -> None:
        t = int(b["time_ms"])
        if b["status"] in ("queued", "processing"):
            self.active[t] = b
            return
        self.active.pop(t, None)
        self.done.append(b)
        if b["status"] == "failed":  # its records were not processed: counted when a later batch does
            self.failed += 1
        else:
            self.completed += 1
            self.records += int(b.get("records") or 0)
        point = _point(b, self.batch_ms)
        for name in DELAYS:
            if point[name] is not None:
                self.histograms[name].observe(point[name])
        for name, info in (b.get("inputs") or {}).items():
            if b["status"] != "failed":
                self.records_by_source[name] += int(info.get("records") or 0)
            source = self.sources.setdefault(name, {"name": name, "kind": "input"})
            source["last_records"] = info.get("records")
            if info.get("partitions") is not None:
                source["partitions"] = [
                    {"topic": p[0], "partition": p[1], "from": p[2], "until": p[3], "latest": p[4],
                     "lag": None if p[4] is None else max(0, p[4] - p[3]),
                     "committed": p[5] if len(p) > 5 else None} for p in info["partitions"]]
        if b.get("checkpoint"):
            self.checkpoint = b["checkpoint"]

    def input_rate(self) -> float | None:
        """Records per second over the last completed batches."""
        last = [b for b in list(self.done)[-RATE_BATCHES:] if b["status"] == "completed"]
        if not last:
            return None
        return sum(int(b.get("records") or 0) for b in last) * 1000.0 / (len(last) * self.batch_ms)

    def _receiver_rate(self, receiver: dict) -> float | None:
        """Records per second its stream put in the last batch."""
        source = next((s for s in self.sources.values() if s.get("id") == receiver.get("stream_id")), None)
        if source is None or source.get("last_records") is None:
            return None
        return source["last_records"] * 1000.0 / self.batch_ms

    def view(self) -> dict:
        done = list(self.done)
        series = [_point(b, self.batch_ms) for b in done[-CHART_BATCHES:]]
        delays = [p["total_delay"] for p in series if p["total_delay"] is not None]
        return {
            "run": self.run, "state": self.state, "batch_interval": self.batch_ms / 1000.0,
            "started_ms": self.started_ms, "stopped_ms": self.stopped_ms, "error": self.error,
            "batches_completed": self.completed, "batches_failed": self.failed, "records": self.records,
            "input_rate": self.input_rate(),
            "keeping_up": None if not delays else statistics.median(delays[-RATE_BATCHES:]) <= self.batch_ms / 1000.0,
            "series": series,
            "active": [self.active[t] for t in sorted(self.active)],
            "recent": done[-TABLE_BATCHES:][::-1],
            "sources": [dict(s, records=self.records_by_source.get(n, 0)) for n, s in sorted(self.sources.items())],
            "receivers": [dict(self.receivers[n], rate=self._receiver_rate(self.receivers[n]))
                          for n in sorted(self.receivers)],
            "checkpoint": self.checkpoint,
            "outputs": self.outputs,
        }


def _seconds(end, start):
    return None if end is None or start is None else (end - start) / 1000.0


def _point(b: dict, batch_ms: int) -> dict:
    return {"time_ms": b["time_ms"], "records": b.get("records") or 0,
            "input_rate": (b.get("records") or 0) * 1000.0 / batch_ms,
            "scheduling_delay": _seconds(b.get("started_ms"), b.get("submitted_ms")),
            "processing_time": _seconds(b.get("ended_ms"), b.get("started_ms")),
            "total_delay": _seconds(b.get("ended_ms"), b.get("submitted_ms")),
            "failed": b["status"] == "failed"}


class StreamingModel:
    """The runs the scheduler heard of, newest last."""

    def __init__(self):
        self.runs: collections.OrderedDict[str, RunModel] = collections.OrderedDict()

    def apply(self, msg: dict) -> None:
        kind, run = msg.get("type"), msg.get("run")
        if kind == "started":
            self.runs.pop(run, None)
            self.runs[run] = RunModel(msg)
            while len(self.runs) > MAX_RUNS:
                self.runs.popitem(last=False)
            return
        model = self.runs.get(run)
        if model is None:  # the scheduler restarted or the run's start was not seen: nothing to add to
            return
        if kind == "batch":
            model.batch(msg["batch"])
        elif kind == "receiver":
            r = msg["receiver"]
            model.receivers[r["name"]] = r
        elif kind == "stopped":
            model.stopped_ms = msg.get("stopped_ms")
            model.error = msg.get("error")
            model.active.clear()

    def current(self) -> RunModel | None:
        """The run the page shows: the newest one started."""
        return next(reversed(self.runs.values()), None)

    def view(self, run: str | None = None) -> dict:
        model = self.runs.get(run) if run else self.current()
        return {"run": None if model is None else model.view(),
                "runs": [{"run": m.run, "state": m.state, "started_ms": m.started_ms}
                         for m in reversed(self.runs.values())]}
