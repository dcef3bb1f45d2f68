"""A long-running stream keeps nothing per batch: not on the driver, the scheduler or the workers.

Without dstreams' span (see ``dstreams/scheduler/spans.py``), each batch of this pipeline leaves
about two Dask spans and fifteen TaskGroups on the scheduler, and some thirty metric keys on each
worker, behind for good.
"""
import operator
import threading
import time

import pytest

from dstreams import StreamingContext, _compat
from dstreams.scheduler.generator import Flush
from dstreams.scheduler.spans import KEY_CACHE_LIMIT, PLUGIN_NAME, WORKER_PLUGIN_NAME
from dstreams.testing import ManualClock, run_batches

WARM_UP, BATCHES = 40, 200  # the same phase of the state's checkpoint interval (10 batches)
LINES = [f"word{i % 50} other{i % 7}" for i in range(200)]

#: how much a count may differ between the end of the warm-up and the last batch; without the span,
#: the 160 batches in between add about 370 spans, 2,400 span groups and 5,000 metric keys per worker
SLACK = {"spans": 0, "span_groups": 20, "task_groups": 5, "task_prefixes": 0, "task_group_objects": 20,
         "driver": 2}
WORKER_SLACK = 16


def _scheduler_sizes(dask_scheduler):
    sizes = _compat.scheduler_bookkeeping(dask_scheduler)
    # live groups (after a collection: other tests leave garbage in this process), leaving out those only
    # Dask's bounded history of the last 100 computations holds: it fills from other tests' computations
    sizes["task_group_objects"] = _compat.task_groups_outside_history(dask_scheduler)
    return sizes


def _metric_keys(dask_worker):
    return _compat.worker_metric_keys(dask_worker)


def _driver_sizes(ssc) -> int:
    """Everything dstreams keeps per batch time on the driver."""
    streams = ssc.runtime.graph.streams
    return (sum(len(s.generated) + len(s.data_checkpoints) for s in streams) + len(ssc.runtime.graph.retired_data)
            + len(ssc._generator.pending) + len(ssc.runtime.input_info._infos))


def _settled_sizes(ssc):
    """Sizes once the last batch's clean-up ran (the generator's queue is empty) and reached the
    scheduler (the client releases keys asynchronously: two reads in a row agree)."""
    done = threading.Event()
    ssc._generator._events.put(Flush(done))
    assert done.wait(30), "the job generator did not reach the flush event within 30 s"
    deadline = time.monotonic() + 30
    previous, sizes = None, ssc.client.run_on_scheduler(_scheduler_sizes)
    while sizes != previous:
        assert time.monotonic() < deadline, f"the scheduler's bookkeeping did not settle within 30 s: {sizes}"
        time.sleep(0.2)  # polling a condition with a deadline
        previous, sizes = sizes, ssc.client.run_on_scheduler(_scheduler_sizes)
    sizes["driver"] = _driver_sizes(ssc)
    return sizes, ssc.client.run(_metric_keys)


@pytest.fixture
def own_client():
    """A cluster of its own: what other tests left on the session's scheduler does not count here."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=2, processes=False, dashboard_address=":0") as cluster:
        with Client(cluster, set_as_default=False) as c:
            yield c


@pytest.mark.timeout(300)
def test_spans_task_groups_and_worker_metrics_stay_bounded_over_200_batches(own_client, tmp_path):
    client = own_client
    ssc = StreamingContext(client, batch_interval=1, clock=ManualClock())
    ssc.checkpoint(str(tmp_path))
    lines = ssc.queue_stream([], default=LINES)
    counts = lines.flat_map(str.split).map(lambda w: (w, 1)).reduce_by_key(operator.add, 2)
    collected = []
    counts.foreach_rdd(lambda rdd: collected.append(len(rdd.collect())))
    lines.map(len).window(3, 1).reduce(operator.add).foreach_rdd(lambda rdd: rdd.collect())
    totals = counts.update_state_by_key(lambda new, old: sum(new) + (old or 0))
    last_total = []
    totals.foreach_rdd(lambda rdd: last_total.append(dict(rdd.collect())["word0"]))
    try:
        run_batches(ssc, WARM_UP)
        before, workers_before = _settled_sizes(ssc)
        run_batches(ssc, BATCHES - WARM_UP)
        after, workers_after = _settled_sizes(ssc)
    finally:
        ssc.stop(stop_client=False)
    assert collected == [57] * BATCHES and last_total[-1] == 4 * BATCHES  # the stream did its work
    grown = {k: after[k] - before[k] for k in SLACK if after[k] - before[k] > SLACK[k]}
    assert not grown, f"grew over {BATCHES - WARM_UP} batches: {grown} (before {before}, after {after})"
    for addr, keys in workers_after.items():
        assert keys - workers_before[addr] <= WORKER_SLACK, (
            f"worker {addr} metric keys grew from {workers_before[addr]} to {keys}")
    assert PLUGIN_NAME in client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.plugins))


def _fill_key_cache(n, dask_worker=None, dask_scheduler=None):
    from dask.utils import key_split

    for i in range(n):
        key_split(f"filler-{i}-{n}")
    return key_split.cache_info().currsize


def _trim_on_worker(dask_worker):
    from dask.utils import key_split

    dask_worker.plugins[WORKER_PLUGIN_NAME].callback.callback()  # what its periodic callback runs
    return key_split.cache_info().currsize


def test_dasks_cache_of_key_names_is_kept_small_on_the_scheduler_and_the_workers(process_client):
    """Every batch's keys are new: Dask's key-name cache would grow to 100,000 keys in every process."""
    ssc = StreamingContext(process_client, batch_interval=1, clock=ManualClock())
    ssc.queue_stream([[1, 2]]).map(str).foreach_rdd(lambda rdd: rdd.collect())
    try:
        run_batches(ssc, 1)
        over = KEY_CACHE_LIMIT + 100
        assert all(n > KEY_CACHE_LIMIT for n in process_client.run(_fill_key_cache, over).values())
        assert all(n < KEY_CACHE_LIMIT for n in process_client.run(_trim_on_worker).values())
        assert process_client.run_on_scheduler(_fill_key_cache, over) > KEY_CACHE_LIMIT
        process_client.submit(sum, [1, 2], pure=False).result()  # a graph arrives: the scheduler trims
        assert process_client.run_on_scheduler(_fill_key_cache, 0) < KEY_CACHE_LIMIT
    finally:
        ssc.stop(stop_client=False)
