"""The same code on a deployed cluster: `dask scheduler` and `dask worker` processes, as in production."""
import pytest

from dstreams import BatchFailedError, StreamingContext
from dstreams.testing import ManualClock, run_batches
from tests.helpers import dask_cli_cluster


@pytest.fixture(scope="module")
def scheduler_address(tmp_path_factory):
    """Two workers under one nanny command (`dask worker --nworkers 2`)."""
    with dask_cli_cluster(tmp_path_factory.mktemp("cluster"), [(["--nworkers", "2", "--nthreads", "1"], {})],
                          nworkers=2) as address:
        yield address


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
