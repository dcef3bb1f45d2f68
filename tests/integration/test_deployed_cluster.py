"""The same code on a deployed cluster: `dask scheduler` and `dask worker` processes, as in production."""
import os
import subprocess
import sys
import time

import pytest

from dstreams import BatchFailedError, StreamingContext
from dstreams.testing import ManualClock, run_batches


@pytest.fixture(scope="module")
def scheduler_address(tmp_path_factory):
    d = tmp_path_factory.mktemp("cluster")
    sched_file = d / "scheduler.json"
    env = dict(os.environ)
    env.pop("PYTHONHASHSEED", None)  # every process hashes strings differently, as in production
    procs = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--scheduler-file", str(sched_file),
                               "--port", "0", "--dashboard-address", ":0", "--host", "127.0.0.1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=d)]
    try:
        deadline = time.monotonic() + 60
        while not sched_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sched_file.exists(), "dask scheduler did not start within 60 s"
        procs.append(subprocess.Popen([sys.executable, "-m", "dask", "worker", "--scheduler-file", str(sched_file),
                                       "--nworkers", "2", "--nthreads", "1", "--dashboard-address", ":0",
                                       "--host", "127.0.0.1"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=d))
        import json

        address = json.loads(sched_file.read_text())["address"]
        from distributed import Client

        with Client(address, timeout="30s") as c:
            c.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


def test_word_count_on_worker_processes(scheduler_address):
    """A shuffle across processes with per-process string hashing still groups every key once."""
    ssc = StreamingContext(scheduler_address, batch_interval=1, clock=ManualClock())
    try:
        out = []
        text = ["the quick brown fox", "jumps over the lazy dog", "the end"]
        ssc.queue_stream([text * 5, ["fox"]]).repartition(4).flat_map(str.split).count_by_value(3) \
            .foreach_rdd(lambda rdd: out.append(sorted(rdd.collect())))
        run_batches(ssc, 2)
        workers = ssc.client.nthreads()
    finally:
        ssc.stop()
    assert len(workers) == 2
    assert dict(out[0])["the"] == 15 and len(out[0]) == len(set(" ".join(text).split()))
    assert out[1] == [("fox", 1)]
    assert ssc.client.status == "closed"  # owned: created from the address


def test_worker_side_failure_on_processes(scheduler_address):
    ssc = StreamingContext(scheduler_address, batch_interval=1, clock=ManualClock())
    try:
        ssc.queue_stream([["1", "two"]]).map(int).foreach_rdd(lambda rdd: rdd.collect())
        with pytest.raises(BatchFailedError, match="invalid literal for int"):
            run_batches(ssc, 1)
    finally:
        ssc.stop()
