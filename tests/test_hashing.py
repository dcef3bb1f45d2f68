"""The hash partitioner sends a key to the same partition in every process, and equal keys together."""
import datetime
import decimal
import fractions
import subprocess
import sys
import threading
from collections import namedtuple

import pytest

from dstreams import StreamingContext
from dstreams.shuffle import HashPartitioner, portable_hash
from dstreams.testing import ManualClock, run_batches
from tests.helpers import REPO_ROOT
from tests.keytypes import KEYS, PLUS2, UTC, Color, Level, Point


def test_the_same_hash_under_every_hash_seed():
    code = "from dstreams.shuffle import portable_hash; from tests.keytypes import KEYS; " \
           "print([portable_hash(k) for k in KEYS])"
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           cwd=REPO_ROOT, env={"PYTHONHASHSEED": seed}).stdout.strip() for seed in ("1", "2", "3")}
    assert outs == {str([portable_hash(k) for k in KEYS])}


Pair = namedtuple("Pair", "a b")


@pytest.mark.parametrize("a,b", [
    (1, 1.0), (1, True), (Level.HIGH, 2), (decimal.Decimal("1.5"), 1.5),
    (fractions.Fraction(1, 2), 0.5), (complex(2, 0), 2), ("abc", bytearray(b"abc").decode()),
    (b"abc", bytearray(b"abc")), (("a", 1), Pair("a", 1)), (frozenset({1, "x"}), frozenset({"x", 1})),
    (datetime.datetime(2026, 1, 1, 12, tzinfo=UTC), datetime.datetime(2026, 1, 1, 14, tzinfo=PLUS2)),
    (datetime.time(12, tzinfo=UTC), datetime.time(14, tzinfo=PLUS2)),
    (datetime.timedelta(minutes=1), datetime.timedelta(seconds=60)), (Point(1, "a"), Point(1, "a")),
])
def test_keys_that_compare_equal_hash_alike(a, b):
    assert a == b and portable_hash(a) == portable_hash(b)


def test_distinct_keys_spread():
    assert len({HashPartitioner(8)(k) for k in KEYS}) >= 5
    assert portable_hash(Color.RED) != portable_hash(Color.BLUE)


def test_a_key_without_a_process_independent_hash_is_refused_with_the_fix():
    class Holder:
        def __init__(self):
            self.lock = threading.Lock()

        def __hash__(self):
            return 1

    with pytest.raises(TypeError, match=r"keys of type .*Holder cannot be hash-partitioned.*__dask_tokenize__"):
        portable_hash(Holder())
    with pytest.raises(TypeError, match=r"unhashable key \[1\] of type list"):
        portable_hash(("ok", [1]))


def test_reduce_by_key_groups_each_key_once_on_workers_with_other_hash_seeds(process_client):
    """Workers started without a nanny hash str, datetime, Enum and dataclass keys differently from one
    another: each key must still land in one partition."""
    records = [(k, 1) for k in KEYS] * 3
    ssc = StreamingContext(process_client, batch_interval=1, clock=ManualClock())
    out = []
    try:
        ssc.queue_stream([records]).repartition(4).reduce_by_key(lambda a, b: a + b, 3) \
            .foreach_rdd(lambda rdd: out.append(rdd.collect()))
        run_batches(ssc, 1)
    finally:
        ssc.stop(stop_client=False)
    got = out[0]
    assert len(got) == len(KEYS), f"a key was split between partitions: {sorted(map(repr, got))}"
    assert all(count == 3 for _, count in got)
