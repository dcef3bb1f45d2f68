"""What the Streaming page and the metrics show for a given history of messages (no cluster)."""
import pytest

from dstreams.dashboard import model as m
from dstreams.dashboard.model import StreamingModel


def started(run="r1", batch_ms=1000, sources=({"id": 0, "name": "lines", "kind": "direct-kafka"},)):
    return {"type": "started", "run": run, "batch_ms": batch_ms, "started_ms": 5, "sources": list(sources),
            "outputs": [{"id": 0, "description": "foreach_rdd at show (app.py:3)"}]}


def batch(t, status="completed", records=10, submitted=None, started=None, ended=None, run="r1", **extra):
    submitted = t if submitted is None else submitted
    b = {"time_ms": t, "status": status, "submitted_ms": submitted, "records": records,
         "started_ms": started, "ended_ms": ended, "inputs": {"lines": {"records": records}}}
    b.update(extra)
    return {"type": "batch", "run": run, "batch": b}


def done(t, delay_ms=0, processing_ms=100, **kw):
    return batch(t, started=t + delay_ms, ended=t + delay_ms + processing_ms, **kw)


def test_summary_counts_rates_and_delays():
    model = StreamingModel()
    model.apply(started())
    for i in range(1, 4):
        model.apply(done(i * 1000, delay_ms=200 * i, records=10 * i))
    model.apply(done(4000, status="failed", records=5))  # not processed: not counted
    view = model.view()["run"]
    assert (view["state"], view["batch_interval"], view["batches_completed"], view["batches_failed"]) == (
        "running", 1.0, 3, 1)
    assert view["records"] == 60 and view["input_rate"] == pytest.approx(20.0)  # the failed batch is not a rate
    assert [p["scheduling_delay"] for p in view["series"]] == [0.2, 0.4, 0.6, 0.0]
    assert [p["total_delay"] for p in view["series"]] == [0.3, 0.5, 0.7, 0.1]
    assert view["keeping_up"] is True
    assert [b["time_ms"] for b in view["recent"]] == [4000, 3000, 2000, 1000]  # newest first


def test_a_stream_that_falls_behind_is_not_keeping_up():
    model = StreamingModel()
    model.apply(started())
    for i in range(1, 6):
        model.apply(done(i * 1000, delay_ms=900 * i, processing_ms=1100))
    assert model.view()["run"]["keeping_up"] is False


def test_active_batches_move_to_completed():
    model = StreamingModel()
    model.apply(started())
    model.apply(batch(1000, status="queued"))
    model.apply(batch(2000, status="queued"))
    model.apply(batch(1000, status="processing", started=1100))
    view = model.view()["run"]
    assert [(b["time_ms"], b["status"]) for b in view["active"]] == [(1000, "processing"), (2000, "queued")]
    model.apply(done(1000))
    view = model.view()["run"]
    assert [b["time_ms"] for b in view["active"]] == [2000] and view["batches_completed"] == 1


def test_kafka_partitions_show_offsets_and_lag():
    model = StreamingModel()
    model.apply(started())
    inputs = {"lines": {"records": 7, "partitions": [["t", 0, 10, 15, 40], ["t", 1, 3, 5, 5], ["t", 2, 0, 0, None]]}}
    model.apply(done(1000, inputs=inputs))
    (source,) = model.view()["run"]["sources"]
    assert source["records"] == 7 and source["last_records"] == 7
    assert [(p["partition"], p["lag"]) for p in source["partitions"]] == [(0, 25), (1, 0), (2, None)]


def test_a_stopped_run_stays_until_the_next_one_starts():
    model = StreamingModel()
    model.apply(started("r1"))
    model.apply(batch(1000, status="queued"))
    model.apply({"type": "stopped", "run": "r1", "stopped_ms": 9, "error": "BatchFailedError: boom"})
    view = model.view()
    assert view["run"]["state"] == "failed" and view["run"]["error"] == "BatchFailedError: boom"
    assert view["run"]["active"] == []  # a stopped run runs nothing
    model.apply(started("r2"))
    view = model.view()
    assert view["run"]["run"] == "r2" and view["run"]["state"] == "running"
    assert [(r["run"], r["state"]) for r in view["runs"]] == [("r2", "running"), ("r1", "failed")]
    assert model.view("r1")["run"]["state"] == "failed"  # an earlier run is still there, asked by id


def test_bounded_runs_and_batches():
    model = StreamingModel()
    for i in range(m.MAX_RUNS + 2):
        model.apply(started(f"r{i}"))
    assert len(model.runs) == m.MAX_RUNS and "r0" not in model.runs
    run = model.current()
    for i in range(1, m.MAX_BATCHES + 50):
        model.apply(done(i * 1000, run=run.run))
    view = model.view()["run"]
    assert len(run.done) == m.MAX_BATCHES and len(view["series"]) == m.CHART_BATCHES
    assert len(view["recent"]) == m.TABLE_BATCHES and view["batches_completed"] == m.MAX_BATCHES + 49


def test_messages_of_an_unknown_run_are_ignored():
    model = StreamingModel()
    model.apply(done(1000, run="never-started"))
    assert model.view() == {"run": None, "runs": []}


def test_histograms_count_every_batch_cumulatively():
    model = StreamingModel()
    model.apply(started())
    for delay in (0, 40, 400, 4000):
        model.apply(done(1000 + delay, delay_ms=delay, processing_ms=0))
    h = model.current().histograms["scheduling_delay"]
    bounds = dict(zip(m.BUCKETS, h.counts, strict=True))
    assert (bounds[0.01], bounds[0.05], bounds[0.5], bounds[5.0], bounds[float("inf")]) == (1, 2, 3, 4, 4)
    assert h.count == 4 and h.sum == pytest.approx(4.44)
