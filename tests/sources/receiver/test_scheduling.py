"""The receiver placement policy and the capacity check (pure functions)."""
import pytest

from dstreams.sources.receiver.scheduling import check_capacity, choose_worker


@pytest.mark.parametrize("nthreads,load,preferred,exclude,want", [
    ({"a": 2, "b": 2}, {}, None, (), "a"),                 # ties: address order
    ({"a": 2, "b": 2}, {"a": 1}, None, (), "b"),           # spread receivers
    ({"a": 4, "b": 2}, {"a": 1}, None, (), "a"),           # most threads left free
    ({"a": 2, "b": 2}, {}, "b", (), "b"),                  # preferred address
    ({"a": 2, "b": 2}, {}, "worker-b", (), "b"),           # preferred name
    ({"a": 2, "b": 2}, {}, "gone", (), "a"),               # preferred worker not live: the policy decides
    ({"a": 2, "b": 2}, {}, "a", ("a",), "b"),              # a dead worker is never chosen, even preferred
    ({"a": 2}, {}, None, ("a",), None),                    # nowhere to run
])
def test_choose_worker(nthreads, load, preferred, exclude, want):
    names = {"a": "worker-a", "b": "worker-b"}
    assert choose_worker(nthreads, load, preferred, exclude, names) == want


def test_capacity():
    check_capacity(3, 2)
    with pytest.raises(RuntimeError, match=r"2 receiver stream\(s\) would take 2 of the 2 worker thread\(s\)"):
        check_capacity(2, 2)
    with pytest.raises(RuntimeError, match="at least 1 threads"):
        check_capacity(0, 0)


def test_default_parallelism_leaves_out_the_threads_receivers_hold(client):
    from dstreams import StreamingContext
    from dstreams.testing import ManualClock

    ssc = StreamingContext(client, 1, clock=ManualClock())
    threads = sum(client.nthreads().values())
    assert ssc.default_parallelism() == threads
    ssc.socket_text_stream("127.0.0.1", 9)
    assert ssc.default_parallelism() == threads - 1
