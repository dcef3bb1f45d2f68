"""Where each Kafka partition is read: evenly spread, the same worker batch after batch (PreferConsistent),
and reads stranded by a cluster that lost every worker run when workers come back."""
import time

import pytest
from distributed import Client, LocalCluster

from dstreams.sources.kafka.placement import StrandedReadsPlugin, assign

A, B, C = "tcp://a", "tcp://b", "tcp://c"


def test_partitions_spread_evenly_and_stay_put():
    first = assign({}, range(5), [A, B])
    assert sorted(first.values()).count(A) in (2, 3) and set(first.values()) == {A, B}
    assert assign(first, range(5), [A, B]) == first  # the next batch: nothing moves


def test_a_worker_that_left_hands_over_only_its_partitions():
    first = assign({}, range(6), [A, B, C])
    second = assign(first, range(6), [A, C])
    assert all(second[p] == w for p, w in first.items() if w != B)  # the others stay
    assert sorted(list(second.values()).count(w) for w in (A, C)) == [3, 3]


def test_a_new_worker_takes_a_fair_share_and_new_partitions_go_to_the_idlest():
    first = assign({}, range(4), [A])
    second = assign(first, range(4), [A, B])
    assert sorted(list(second.values()).count(w) for w in (A, B)) == [2, 2]
    third = assign(second, range(5), [A, B])  # a partition added: nothing else moves
    assert {p: third[p] for p in range(4)} == second
    fewer = assign(third, range(2), [A, B])  # partitions gone: forgotten, and the rest spread again
    assert sorted(fewer) == [0, 1] and sorted(fewer.values()) == [A, B]


def _wait(predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


@pytest.mark.timeout(90)
def test_reads_restricted_to_workers_that_all_left_run_on_a_new_worker():
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster, set_as_default=False) as client:
        client.register_plugin(StrandedReadsPlugin(), name=StrandedReadsPlugin.name)
        gone = next(iter(client.nthreads()))
        cluster.scale(0)
        _wait(lambda: not client.nthreads())
        read = client.submit(int, "1", key=("kafka-0-1000-abc", 0), workers=[gone], allow_other_workers=True,
                             pure=False)
        other = client.submit(int, "2", key="not-a-read", workers=[gone], allow_other_workers=True, pure=False)
        _wait(lambda: client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.unrunnable)) == 2)
        cluster.scale(1)
        assert read.result(timeout=30) == 1  # the plugin lifted its restriction when the worker joined
        time.sleep(0.5)
        assert other.status == "pending"  # what Dask does without it (other tasks are left alone)
