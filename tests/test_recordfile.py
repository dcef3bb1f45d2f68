"""Saved records are data: plain values are written without pickle and read back equal, with their types."""
import datetime
import decimal
import enum
import pickle
import uuid
import zoneinfo

import cloudpickle
import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dstreams import recordfile

PLAIN = [
    None, True, False, 0, -1, 2**63 - 1, -(2**63), 2**64, -(2**200), 1.5, float("inf"), 1 + 2j, "", "wörd", b"\x00\xff",
    [], [1, [2, [3]]], (), ("a", 1), (("nested",), ("tuples",)), {"k": 1}, {("a", 1): [1, 2], 3: None},
    {1, 2}, frozenset({"a", ("b", 2)}), {frozenset({1}): "key"}, decimal.Decimal("1.10"), uuid.UUID(int=7),
    datetime.date(2026, 12, 2), datetime.time(7, 12, 9, 5), datetime.datetime(2026, 12, 2, 7, 12, 9, 123456),
    datetime.datetime(2026, 12, 2, 7, 12, tzinfo=datetime.timezone.utc),
    datetime.datetime(2026, 12, 2, 7, 12, tzinfo=datetime.timezone(datetime.timedelta(hours=-3, minutes=-30))),
    datetime.datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
    datetime.time(7, 0, tzinfo=datetime.timezone.utc), datetime.timedelta(days=-1, seconds=5, microseconds=3),
]


def _same(a, b):
    """Equal, and of the same types all the way down (1 == 1.0 == True, and () != [] would hide a bug)."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, float) and a != a:
        assert b != b
    else:
        assert a == b
        if isinstance(a, (datetime.datetime, datetime.time)):
            assert a.tzinfo == b.tzinfo and a.fold == b.fold and a.utcoffset() == b.utcoffset()


def _no_pickle(body):
    """Every extension in a MessagePack body is one of the plain types (nothing pickled)."""
    def hook(code, data):
        assert code != 127, "a plain value was pickled"
        if code in (1, 2, 3, 5, 9, 10, 11):
            _no_pickle(data)
        return None
    msgpack.unpackb(body, ext_hook=hook, strict_map_key=False)


def test_plain_values_round_trip_with_their_types_and_without_pickle():
    data = recordfile.dumps(PLAIN)
    assert data.startswith(b"dstreams-records 1 msgpack\n")
    _no_pickle(data.split(b"\n", 1)[1])
    _same(recordfile.loads(data), PLAIN)


plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text() | st.binary()
    | st.decimals(allow_nan=False) | st.datetimes() | st.dates() | st.timedeltas(),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.text() | st.integers() | st.tuples(st.integers(), st.text()), inner, max_size=4)
    | st.frozensets(st.integers() | st.text(), max_size=4),
    max_leaves=20)


@given(st.lists(plain, max_size=5))
def test_any_plain_records_round_trip(records):
    _same(recordfile.loads(recordfile.dumps(records)), records)


class Colour(enum.Enum):
    RED = 1


class Total:
    def __init__(self, n):
        self.n = n

    def __eq__(self, other):
        return type(other) is Total and other.n == self.n


def test_other_objects_are_pickled_one_by_one_among_plain_records():
    records = [("a", Total(3)), ("b", 2), ("c", Colour.RED)]
    data = recordfile.dumps(records)
    assert data.startswith(b"dstreams-records 1 msgpack\n")
    assert recordfile.loads(data) == records
    body = data.split(b"\n", 1)[1]
    pickled = []
    msgpack.unpackb(body, ext_hook=lambda code, d: pickled.append(code) or None, strict_map_key=False)
    assert pickled.count(127) == 0 and pickled.count(1) == 3  # the tuples are extensions; inside them:
    inner = [msgpack.unpackb(d, ext_hook=lambda code, x: code, strict_map_key=False)
             for d in [e.data for e in msgpack.unpackb(body, strict_map_key=False)]]
    assert inner == [["a", 127], ["b", 2], ["c", 127]]  # only the two objects of the application's types


def test_what_messagepack_cannot_hold_is_pickled_as_a_whole():
    records = [("lone \ud800 surrogate", 1)]
    data = recordfile.dumps(records)
    assert data.startswith(b"dstreams-records 1 pickle\n")
    assert recordfile.loads(data) == records


def test_partitions_pickled_by_an_older_dstreams_are_still_read():
    assert recordfile.loads(cloudpickle.dumps([("a", 1)])) == [("a", 1)]
    assert recordfile.loads(pickle.dumps([("b", 2)])) == [("b", 2)]


def test_a_file_of_a_newer_format_is_refused_with_advice():
    with pytest.raises(ValueError, match="encoding 'arrow'.*upgrade dstreams"):
        recordfile.loads(b"dstreams-records 1 arrow\n...", "part-00000")
    unknown = recordfile.HEADER + b"msgpack\n" + msgpack.packb([msgpack.ExtType(99, b"")])
    with pytest.raises(ValueError, match="extension type 99.*upgrade dstreams"):
        recordfile.loads(unknown)
