"""OffsetRange: an immutable [from, until) of one partition (no broker needed)."""

import dataclasses
import json
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kafka import TopicPartition

from dstreams.sources.kafka.offsets import OffsetRange


def test_count_and_topic_partition():
    r = OffsetRange("words", 2, 10, 15)
    assert r.count() == 5
    assert r.topic_partition == TopicPartition("words", 2)
    assert OffsetRange("words", 0, 7, 7).count() == 0
    assert OffsetRange.of(TopicPartition("words", 2), 10, 15) == r
    assert OffsetRange.of(("words", 2), 10, 15) == r


def test_repr_and_str():
    r = OffsetRange("words", 2, 10, 15)
    assert repr(r) == "OffsetRange('words', 2, 10, 15)"
    assert eval(repr(r)) == r
    assert str(r) == "words-2 [10, 15)"


def test_is_immutable_hashable_and_picklable():
    r = OffsetRange("words", 0, 1, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.until_offset = 3
    assert {r: 1}[OffsetRange("words", 0, 1, 2)] == 1
    assert pickle.loads(pickle.dumps(r)) == r
    assert not hasattr(r, "__dict__")


@pytest.mark.parametrize(
    "args, error, words",
    [
        (("t", 0, 5, 4), ValueError, ["until_offset 4", "before from_offset 5", "t-0"]),
        (("t", 0, -1, 4), ValueError, ["from_offset", ">= 0", "-1"]),
        (("t", 0, 0, -2), ValueError, ["until_offset", ">= 0"]),
        (("t", -1, 0, 1), ValueError, ["partition", ">= 0"]),
        (("", 0, 0, 1), ValueError, ["topic", "non-empty"]),
        ((None, 0, 0, 1), ValueError, ["topic"]),
        (("t", 0, 1.5, 2), TypeError, ["from_offset", "int", "float"]),
        (("t", True, 0, 1), TypeError, ["partition", "int", "bool"]),
    ],
)
def test_invalid_ranges_are_refused_with_clear_errors(args, error, words):
    with pytest.raises(error) as info:
        OffsetRange(*args)
    for word in words:
        assert word in str(info.value)


def test_json_round_trip_is_plain():
    r = OffsetRange("words", 3, 100, 250)
    data = r.to_json()
    assert data == {"topic": "words", "partition": 3, "from_offset": 100, "until_offset": 250}
    assert OffsetRange.from_json(json.loads(json.dumps(data))) == r


def test_from_json_names_missing_and_unknown_keys():
    with pytest.raises(ValueError, match=r"missing keys \['until_offset'\].*unknown keys \['until'\]"):
        OffsetRange.from_json({"topic": "t", "partition": 0, "from_offset": 1, "until": 2})
    with pytest.raises(TypeError, match="expects a dict"):
        OffsetRange.from_json(["t", 0, 1, 2])
    with pytest.raises(ValueError, match="before from_offset"):
        OffsetRange.from_json({"topic": "t", "partition": 0, "from_offset": 3, "until_offset": 2})


@given(
    topic=st.text(alphabet="abcXYZ09._-", min_size=1, max_size=20),
    partition=st.integers(0, 10_000),
    start=st.integers(0, 2**62),
    length=st.integers(0, 2**20),
)
def test_json_round_trip_property(topic, partition, start, length):
    r = OffsetRange(topic, partition, start, start + length)
    assert OffsetRange.from_json(json.loads(json.dumps(r.to_json()))) == r
    assert r.count() == length
