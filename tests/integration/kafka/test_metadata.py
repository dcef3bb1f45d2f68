"""KafkaMetadata against a real broker: discovery, offsets, starting positions, commits."""

import copy
import threading
import time
import uuid

import pytest
from kafka import KafkaConsumer, TopicPartition

from dstreams.sources.kafka.clients import KafkaParamsError, KafkaUnavailableError, consumer_config
from dstreams.sources.kafka.metadata import KafkaMetadata
from dstreams.sources.kafka.offsets import OffsetRange


@pytest.fixture
def meta(kafka_params):
    with KafkaMetadata(kafka_params, timeout_ms=10_000) as m:
        yield m


def tps(topic, *partitions):
    return [TopicPartition(topic, p) for p in partitions]


# -- params


def test_params_are_copied_and_auto_commit_is_off():
    params = {"bootstrap_servers": "localhost:1", "group_id": "g"}
    original = copy.deepcopy(params)
    config = consumer_config(params)
    assert config["enable_auto_commit"] is False
    config["group_id"] = "changed"
    assert params == original


def test_auto_commit_is_refused_with_a_reason(closed_port):
    params = {"bootstrap_servers": f"127.0.0.1:{closed_port}", "enable_auto_commit": True}
    original = dict(params)
    with pytest.raises(KafkaParamsError, match="enable_auto_commit=True.*commit_async") as info:
        KafkaMetadata(params)
    assert "Remove enable_auto_commit" in str(info.value)
    assert params == original


@pytest.mark.parametrize(
    "params, message",
    [
        ({"bootstrap.servers": "x:1"}, "'bootstrap.servers' (did you mean 'bootstrap_servers'?)"),
        ({"bootstrap_servers": "x:1", "group_idd": "g"}, "'group_idd' (did you mean 'group_id'?)"),
        ({"group_id": "g"}, "no 'bootstrap_servers'"),
    ],
)
def test_bad_params_are_explained(params, message):
    with pytest.raises(KafkaParamsError) as info:
        KafkaMetadata(params)
    assert message in str(info.value)


def test_unreachable_bootstrap_servers_fail_quickly_and_clearly(closed_port):
    servers = f"127.0.0.1:{closed_port}"
    started = time.monotonic()
    with pytest.raises(KafkaUnavailableError) as info:
        KafkaMetadata({"bootstrap_servers": servers}, timeout_ms=1_500)
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert f"Kafka brokers at {servers} did not answer within 1.5s" in message
    assert "Check that the brokers are running and reachable" in message
    assert isinstance(info.value, ConnectionError)


# -- discovery


def test_partitions_of_topics_include_partitions_added_later(meta, kafka_broker, topic):
    t = topic(partitions=2)
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    assert meta.partitions(topics=[t, missing]) == tps(t, 0, 1)
    kafka_broker.add_partitions(t, 3)
    assert meta.partitions(topics=[t, missing]) == tps(t, 0, 1, 2)
    assert missing not in meta.partitions(pattern=r".*") and not any(
        tp.topic.startswith("__") for tp in meta.partitions(pattern=r".*")
    )


def test_pattern_picks_up_topics_created_later(meta, topic):
    prefix = f"pat-{uuid.uuid4().hex[:8]}"
    a = topic(partitions=2, name=f"{prefix}-a")
    assert meta.partitions(pattern=rf"{prefix}-.*") == tps(a, 0, 1)
    assert meta.partitions(pattern=prefix) == []  # the pattern must match the whole name
    b = topic(partitions=1, name=f"{prefix}-b")
    assert meta.partitions(pattern=rf"{prefix}-.*") == tps(a, 0, 1) + tps(b, 0)


def test_partitions_needs_topics_or_pattern(meta):
    with pytest.raises(ValueError, match="exactly one of topics"):
        meta.partitions()
    with pytest.raises(ValueError, match="exactly one of topics"):
        meta.partitions(topics=["a"], pattern="a")


# -- offsets


def test_latest_and_earliest_offsets(meta, kafka_broker, topic, produce):
    t = topic(partitions=2)
    produce(t, 5, partition=0)
    produce(t, 2, partition=1)
    p0, p1 = tps(t, 0, 1)
    assert meta.latest_offsets([p0, p1]) == {p0: 5, p1: 2}
    assert meta.earliest_offsets([p0, p1]) == {p0: 0, p1: 0}
    kafka_broker.admin().delete_records({p0: 3})
    assert meta.earliest_offsets([p0, p1]) == {p0: 3, p1: 0}
    assert meta.latest_offsets([]) == {}


def test_read_committed_latest_offset_is_the_last_stable_offset(kafka_params, topic, transactional_producer):
    t = topic()
    tp = TopicPartition(t, 0)
    producer = transactional_producer()
    producer.begin_transaction()
    producer.send(t, value=b"done", partition=0)
    producer.commit_transaction()  # offset 0, marker 1
    producer.begin_transaction()
    producer.send(t, value=b"open", partition=0)
    producer.flush()  # offset 2, transaction still open
    with (
        KafkaMetadata(dict(kafka_params, isolation_level="read_committed")) as committed,
        KafkaMetadata(kafka_params) as uncommitted,
    ):
        assert uncommitted.latest_offsets([tp]) == {tp: 3}
        assert committed.latest_offsets([tp]) == {tp: 2}
        producer.commit_transaction()
        assert committed.latest_offsets([tp]) == {tp: 4}


# -- starting offsets


@pytest.fixture
def two_partitions(topic, produce):
    t = topic(partitions=2)
    produce(t, 10, partition=0)
    produce(t, 4, partition=1)
    return t


def test_starting_offsets_earliest_latest_and_default(meta, kafka_params, two_partitions):
    t = two_partitions
    p0, p1 = parts = tps(t, 0, 1)
    assert meta.starting_offsets(parts, "earliest") == {p0: 0, p1: 0}
    assert meta.starting_offsets(parts, "latest") == {p0: 10, p1: 4}
    # no group, no explicit offsets: auto_offset_reset, 'latest' unless set (Kafka's default)
    assert meta.starting_offsets(parts) == {p0: 10, p1: 4}
    with KafkaMetadata(dict(kafka_params, auto_offset_reset="earliest")) as early:
        assert early.starting_offsets(parts) == {p0: 0, p1: 0}


def test_partitions_missing_from_explicit_offsets_start_like_spark(meta, kafka_params, two_partitions):
    t = two_partitions
    p0, p1 = parts = tps(t, 0, 1)
    assert meta.starting_offsets(parts, {(t, 0): 3}) == {p0: 3, p1: 4}
    assert meta.starting_offsets(parts, {p0: "earliest", p1: "latest"}) == {p0: 0, p1: 4}
    with KafkaMetadata(dict(kafka_params, auto_offset_reset="earliest")) as early:
        assert early.starting_offsets(parts, {p1: 2}) == {p0: 0, p1: 2}
    # with a group: its committed offset wins over auto_offset_reset, explicit offsets over both
    group = f"g-{uuid.uuid4().hex[:8]}"
    with KafkaMetadata(dict(kafka_params, group_id=group, auto_offset_reset="earliest")) as grouped:
        grouped.commit([OffsetRange(t, 1, 0, 2)])
        assert grouped.starting_offsets(parts) == {p0: 0, p1: 2}
        assert grouped.starting_offsets(parts, {p1: 3}) == {p0: 0, p1: 3}
    with KafkaMetadata(dict(kafka_params, group_id=group, auto_offset_reset="none")) as strict:
        with pytest.raises(KafkaParamsError, match=f"no starting offset for {t}-0.*auto_offset_reset='none'"):
            strict.starting_offsets(parts)


def test_explicit_starting_offsets_are_checked(meta, two_partitions):
    t = two_partitions
    parts = tps(t, 0, 1)
    with pytest.raises(KafkaParamsError, match=rf"starting offset 11 for {t}-0 is outside its log.*\[0, 10\)"):
        meta.starting_offsets(parts, {(t, 0): 11})
    with pytest.raises(KafkaParamsError, match=f"name {t}-7, which are not among the partitions"):
        meta.starting_offsets(parts, {(t, 7): 0})
    with pytest.raises(KafkaParamsError, match="TopicPartition or \\(topic, partition\\)"):
        meta.starting_offsets(parts, {t: 0})
    with pytest.raises(KafkaParamsError, match="'beginning' not understood"):
        meta.starting_offsets(parts, "beginning")


# -- commits


def test_commit_is_visible_to_a_fresh_consumer_of_the_group(kafka_params, two_partitions):
    t = two_partitions
    p0, p1 = tps(t, 0, 1)
    group = f"g-{uuid.uuid4().hex[:8]}"
    with KafkaMetadata(dict(kafka_params, group_id=group)) as meta:
        ranges = [OffsetRange(t, 0, 0, 5), OffsetRange(t, 0, 5, 7), OffsetRange(t, 1, 0, 2)]
        assert meta.commit(ranges) == {p0: 7, p1: 2}
        assert meta.committed_offsets([p0, p1]) == {p0: 7, p1: 2}
    fresh = KafkaConsumer(bootstrap_servers=kafka_params["bootstrap_servers"], group_id=group,
                          enable_auto_commit=False)  # fmt: skip
    try:
        assert fresh.committed(p0) == 7 and fresh.committed(p1) == 2
    finally:
        fresh.close(autocommit=False)


def test_commit_async_calls_back_and_commits(kafka_params, two_partitions):
    t = two_partitions
    p0 = TopicPartition(t, 0)
    group = f"g-{uuid.uuid4().hex[:8]}"
    called = []
    done = threading.Event()

    def callback(offsets, error):
        called.append((offsets, error, threading.current_thread().name))
        done.set()

    with KafkaMetadata(dict(kafka_params, group_id=group)) as meta:
        future = meta.commit_async([OffsetRange(t, 0, 3, 9)], callback=callback)
        assert future.result(timeout=10) == {p0: 9}
        assert done.wait(10)
        assert called[0][:2] == ({p0: 9}, None)
        assert called[0][2].startswith("dstreams-kafka-commit")
        assert meta.committed_offsets([p0]) == {p0: 9}


def test_commit_needs_a_group(meta):
    with pytest.raises(KafkaParamsError, match="cannot commit offsets: kafka_params has no group_id"):
        meta.commit([OffsetRange("t", 0, 0, 1)])


def test_committed_offset_outside_the_log_falls_back_to_auto_offset_reset(kafka_params, kafka_broker, two_partitions):
    t = two_partitions
    p0, p1 = parts = tps(t, 0, 1)
    group = f"g-{uuid.uuid4().hex[:8]}"
    with KafkaMetadata(dict(kafka_params, group_id=group, auto_offset_reset="earliest")) as meta:
        meta.commit([OffsetRange(t, 0, 0, 2), OffsetRange(t, 1, 0, 1)])
        kafka_broker.admin().delete_records({p0: 6})
        assert meta.starting_offsets(parts) == {p0: 6, p1: 1}


def test_request_timeout_bounds_connecting_by_default(closed_port):
    started = time.monotonic()
    with pytest.raises(KafkaUnavailableError, match="did not answer within 1.0s"):
        KafkaMetadata({"bootstrap_servers": f"127.0.0.1:{closed_port}", "request_timeout_ms": 1000})
    assert time.monotonic() - started < 5
