"""The Streaming page and the metrics, served by a real Dask scheduler's HTTP server, fed by a real run."""
import json
import re
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dstreams import StreamingContext
from dstreams.errors import BatchFailedError
from dstreams.testing import ManualClock, run_batches


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200
        return r.read()


def view(ssc) -> dict:
    return json.loads(get(f"{ssc.runtime.dashboard_url}/data.json?run={ssc.run_id}"))["run"]


def wait_for(ssc, check, what: str, timeout: float = 20.0) -> dict:
    """Poll the page's data until ``check(run)`` holds (the driver sends it a little later)."""
    deadline = time.monotonic() + timeout
    while True:
        run = view(ssc)
        if run is not None and check(run):
            return run
        assert time.monotonic() < deadline, f"the page did not show {what} within {timeout} s: {run}"
        time.sleep(0.1)


def explode(x):
    raise ValueError(f"bad record {x}")


def test_the_page_shows_the_batches_of_a_running_stream(client):
    ssc = StreamingContext(client, 1, clock=ManualClock())
    ssc.queue_stream([[1, 2], [3], [4, 5, 6]]).named("numbers").map(lambda x: x * 2).foreach_rdd(
        lambda rdd: rdd.collect())
    try:
        run_batches(ssc, 3)
        assert repr(ssc).endswith(f", page {ssc.runtime.dashboard_url}>")
        run = wait_for(ssc, lambda r: r["batches_completed"] == 3, "3 batches")
        assert run["state"] == "running" and run["records"] == 6 and run["batch_interval"] == 1.0
        assert [p["records"] for p in run["series"]] == [2, 1, 3]
        assert [b["time_ms"] for b in run["recent"]] == [3000, 2000, 1000]
        (output,) = run["recent"][0]["outputs"]
        assert re.fullmatch(r"foreach_rdd at .*test_page\.py:\d+ \(the function .*<lambda> at .*test_page\.py:\d+\)",
                            output["description"])
        assert output["failure"] is None
        assert [(s["name"], s["kind"], s["records"]) for s in run["sources"]] == [("numbers", "queue", 6)]
        page = get(ssc.runtime.dashboard_url).decode()
        assert "dstreams &middot; Streaming" in page and "data.json" in page
        status = get(ssc.runtime.dashboard_url.replace("/streaming", "/status")).decode()
        assert '<a href="streaming">Streaming</a>' in status  # in the Dask dashboard's own menu bar
    finally:
        ssc.stop(stop_client=False)
    run = wait_for(ssc, lambda r: r["state"] == "stopped", "the stopped state")
    assert run["batches_completed"] == 3  # a stopped stream's last state stays visible


def test_a_failed_batch_names_the_users_function_and_the_run_failed(client):
    ssc = StreamingContext(client, 1, clock=ManualClock())
    ssc.queue_stream([[1]]).map(explode).foreach_rdd(lambda rdd: rdd.collect())
    with pytest.raises(BatchFailedError):
        run_batches(ssc, 1)
    run = wait_for(ssc, lambda r: r["state"] == "failed", "the failed state")
    assert run["batches_failed"] == 1 and run["batches_completed"] == 0
    failure = run["recent"][0]["outputs"][0]["failure"]
    assert "explode" in failure and "test_page.py" in failure and "bad record 1" in failure
    assert "BatchFailedError" in run["error"]


def test_a_new_run_replaces_the_stopped_one_which_stays_listed(client):
    first = StreamingContext(client, 1, clock=ManualClock())
    first.queue_stream([[1]]).pprint()
    run_batches(first, 1)
    first.stop(stop_client=False)
    wait_for(first, lambda r: r["state"] == "stopped", "the first run stopped")
    second = StreamingContext(client, 2, clock=ManualClock())
    second.queue_stream([[1], [2]]).pprint()
    try:
        run_batches(second, 2)
        wait_for(second, lambda r: r["batches_completed"] == 2, "the second run's batches")
        newest = json.loads(get(f"{second.runtime.dashboard_url}/data.json"))
        assert newest["run"]["run"] == second.run_id and newest["run"]["batch_interval"] == 2.0
        assert [r["run"] for r in newest["runs"]][:2] == [second.run_id, first.run_id]
    finally:
        second.stop(stop_client=False)


def test_prometheus_metrics_on_the_schedulers_own_endpoint(client):
    ssc = StreamingContext(client, 1, clock=ManualClock())
    ssc.queue_stream([[1, 2], [3]]).named("numbers").foreach_rdd(lambda rdd: rdd.count())
    try:
        run_batches(ssc, 2)
        wait_for(ssc, lambda r: r["batches_completed"] == 2, "2 batches")
        text = get(ssc.runtime.dashboard_url.replace("/streaming", "/metrics")).decode()
    finally:
        ssc.stop(stop_client=False)
    families = {f.name: f for f in text_string_to_metric_families(text) if f.name.startswith("dstreams_")}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    assert samples[("dstreams_batches_total", (("status", "completed"),))] == 2
    assert samples[("dstreams_records_total", (("source", "numbers"),))] == 3
    assert samples[("dstreams_running", ())] == 1 and samples[("dstreams_batch_interval_seconds", ())] == 1
    assert families["dstreams_batch_total_delay_seconds"].type == "histogram"
    assert samples[("dstreams_batch_total_delay_seconds_count", ())] == 2


def test_the_page_on_a_command_line_scheduler(process_client):
    """The plugin travels to a `dask scheduler` process, which serves the page from its own HTTP server."""
    ssc = StreamingContext(process_client, 1, clock=ManualClock())
    ssc.queue_stream([[1, 2, 3]]).map(lambda x: x + 1).foreach_rdd(lambda rdd: rdd.collect())
    try:
        run_batches(ssc, 1)
        run = wait_for(ssc, lambda r: r["batches_completed"] == 1, "the batch")
        assert run["records"] == 3
    finally:
        ssc.stop(stop_client=False)


def test_the_page_can_be_turned_off(client):
    import dask

    with dask.config.set({"dstreams.dashboard": False}):
        ssc = StreamingContext(client, 1, clock=ManualClock())
        ssc.queue_stream([[1]]).pprint()
        run_batches(ssc, 1)
        ssc.stop(stop_client=False)
    assert ssc.runtime.dashboard_url is None and "page" not in repr(ssc)
