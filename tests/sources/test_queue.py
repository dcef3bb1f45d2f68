"""queue_stream: one batch per item, all at once, defaults, RDD items, bad items."""
import pytest

from dstreams.testing import run_batches


def collect(ssc, stream, n):
    out = []
    stream.foreach_rdd(lambda rdd: out.append(sorted(rdd.collect())))
    run_batches(ssc, n)
    return out


def test_one_at_a_time(ssc):
    assert collect(ssc, ssc.queue_stream([[1, 2], [3]]), 3) == [[1, 2], [3], []]


def test_all_at_once(ssc):
    assert collect(ssc, ssc.queue_stream([[1, 2], [3]], one_at_a_time=False), 2) == [[1, 2, 3], []]


def test_default_when_empty(ssc):
    assert collect(ssc, ssc.queue_stream([[1]], default=[0]), 3) == [[1], [0], [0]]


def test_rdd_items_and_push(ssc):
    stream = ssc.queue_stream([ssc.parallelize([1, 2], 2)])
    out = []
    stream.foreach_rdd(lambda rdd: out.append(sorted(rdd.collect())))
    run_batches(ssc, 1)
    stream.push([7])
    run_batches(ssc, 1)
    assert out == [[1, 2], [7]]


@pytest.mark.parametrize("bad", ["abc", 5])
def test_bad_items_say_what_to_do(ssc, bad):
    with pytest.raises(TypeError, match=r"each batch must be a list of records or an RDD"):
        ssc.queue_stream([[1], bad])
