"""read_range against a real broker: exact ranges, the consumer cache, errors.

The range rules follow Spark's KafkaRDDSuite ("iterator boundary conditions",
"compacted topic"): empty ranges, single offsets, records past the end of a
range, offsets without records, and ranges that cannot be served.
"""

import copy
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.serializer import DefaultSerializer

from dstreams.sources.kafka import decoder
from dstreams.sources.kafka.clients import KafkaParamsError, KafkaUnavailableError
from dstreams.sources.kafka.consumer import (
    RecordDeserializationError,
    borrow_consumer,
    close_all,
    consumer_cache_stats,
    read_range,
)
from dstreams.sources.kafka.metadata import KafkaMetadata
from dstreams.sources.kafka.offsets import OffsetRange, OffsetsBeyondLogEndError, OffsetsDeletedError


def values(records):
    return [(r.offset, r.value) for r in records]


def expected(offsets, prefix="m", first=0):
    return [(o, f"{prefix}{i}".encode()) for i, o in enumerate(offsets, start=first)]


def delta(before):
    after = consumer_cache_stats()
    return {k: after[k] - before[k] for k in ("created", "temporary", "closed")}


def test_empty_range_returns_nothing_without_contacting_a_broker(closed_port):
    before = consumer_cache_stats()
    params = {"bootstrap_servers": f"127.0.0.1:{closed_port}"}
    assert read_range(params, OffsetRange("nowhere", 0, 5, 5)) == []
    assert delta(before) == {"created": 0, "temporary": 0, "closed": 0}


def test_empty_range_stays_empty_after_more_records_arrive(kafka_params, topic, produce):
    t = topic()
    produce(t, 3)
    assert values(read_range(kafka_params, OffsetRange(t, 0, 0, 3))) == expected([0, 1, 2])
    produce(t, 4, prefix="late")
    assert read_range(kafka_params, OffsetRange(t, 0, 3, 3)) == []
    assert read_range(kafka_params, OffsetRange(t, 0, 0, 0)) == []


def test_single_offset_ranges_return_exactly_one_record(kafka_params, topic, produce):
    t = topic()
    produce(t, 5)
    for offset in (0, 2, 4):
        records = read_range(kafka_params, OffsetRange(t, 0, offset, offset + 1))
        assert values(records) == [(offset, f"m{offset}".encode())]
        assert (records[0].topic, records[0].partition) == (t, 0)


def test_records_past_until_are_never_returned(kafka_params, topic, produce):
    # The broker answers a fetch with the whole remaining log: the reader must cut it.
    t = topic()
    produce(t, 10)
    assert values(read_range(kafka_params, OffsetRange(t, 0, 0, 4))) == expected(range(4))
    assert values(read_range(kafka_params, OffsetRange(t, 0, 3, 7))) == expected(range(3, 7), first=3)


def test_successive_ranges_are_contiguous_and_reuse_one_consumer(kafka_params, topic, produce):
    t = topic(partitions=2)
    produce(t, 12, partition=1)
    before = consumer_cache_stats()
    batches = [OffsetRange(t, 1, a, b) for a, b in [(0, 4), (4, 8), (8, 12)]]
    read = [r for batch in batches for r in read_range(kafka_params, batch)]
    assert values(read) == expected(range(12))
    produce(t, 3, partition=1, prefix="n")
    assert values(read_range(kafka_params, OffsetRange(t, 1, 12, 15))) == expected(range(12, 15), "n")
    # and going back (a recomputed batch) works with the same consumer
    assert values(read_range(kafka_params, OffsetRange(t, 1, 2, 3))) == [(2, b"m2")]
    assert delta(before) == {"created": 1, "temporary": 0, "closed": 0}
    # another partition gets its own consumer
    produce(t, 1, partition=0)
    assert values(read_range(kafka_params, OffsetRange(t, 0, 0, 1))) == [(0, b"m0")]
    assert delta(before)["created"] == 2


def test_busy_cached_consumer_means_a_temporary_one(kafka_params, topic, produce):
    t = topic()
    produce(t, 3)
    before = consumer_cache_stats()
    with borrow_consumer(kafka_params, TopicPartition(t, 0)) as busy:
        assert busy.assignment() == {TopicPartition(t, 0)}
        assert values(read_range(kafka_params, OffsetRange(t, 0, 0, 3))) == expected(range(3))
        assert delta(before) == {"created": 1, "temporary": 1, "closed": 1}
    assert values(read_range(kafka_params, OffsetRange(t, 0, 1, 2))) == [(1, b"m1")]
    assert delta(before) == {"created": 1, "temporary": 1, "closed": 1}


def test_close_all_closes_cached_consumers(kafka_params, topic, produce):
    t = topic()
    produce(t, 2)
    read_range(kafka_params, OffsetRange(t, 0, 0, 1))
    assert consumer_cache_stats()["cached"] >= 1
    before = consumer_cache_stats()
    close_all()
    assert consumer_cache_stats()["cached"] == 0
    assert delta(before)["closed"] == before["cached"]
    assert values(read_range(kafka_params, OffsetRange(t, 0, 1, 2))) == [(1, b"m1")]
    assert delta(before)["created"] == 1


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_records_read_are_those_a_plain_kafka_python_consumer_reads(kafka_params, topic, compression):
    # keys, null keys, empty and larger values, headers (in the last batches only, so that the first ones
    # go through the compiled loop), several producer batches; dstreams' decoder on one side,
    # kafka-python's own on the other
    t = topic()
    tp = TopicPartition(t, 0)
    producer = KafkaProducer(bootstrap_servers=kafka_params["bootstrap_servers"], compression_type=compression,
                             linger_ms=5, batch_size=4096)
    for i in range(400):
        producer.send(t, key=None if i % 3 else f"k{i}".encode(), value=b"v" * (i % 200),
                      headers=[("n", str(i).encode()), ("empty", b"")] if i % 2 and i >= 300 else None,
                      partition=0)
    producer.flush()
    producer.close()
    with borrow_consumer(kafka_params, tp) as consumer:
        assert consumer._fetcher.PartitionRecords is decoder.CompiledPartitionRecords
    ours = read_range(kafka_params, OffsetRange(t, 0, 0, 250)) + read_range(kafka_params, OffsetRange(t, 0, 250, 400))
    plain = KafkaConsumer(**kafka_params, enable_auto_commit=False)
    try:
        plain.assign([tp])
        plain.seek(tp, 0)
        theirs, deadline = [], time.monotonic() + 20
        while len(theirs) < 400 and time.monotonic() < deadline:
            theirs.extend(plain.poll(timeout_ms=500).get(tp, []))
    finally:
        plain.close()
    assert ours == theirs
    assert [r.offset for r in ours] == list(range(400))
    assert ours[301].headers == [("n", b"301"), ("empty", b"")] and ours[1].headers == []
    assert ours[4].key is None and ours[4].value == b"vvvv"


def test_deserializers_are_applied_and_params_left_alone(kafka_params, topic, kafka_broker):
    t = topic()
    kafka_broker.produce(t, ["a", "b"], partition=0, key="k")
    params = dict(
        kafka_params,
        value_deserializer=lambda v: v.decode().upper(),
        key_deserializer=DefaultSerializer(),
        group_id="readers",
    )
    original = copy.copy(params)
    records = read_range(params, OffsetRange(t, 0, 0, 2))
    assert [(r.key, r.value) for r in records] == [("k", "A"), ("k", "B")]
    assert [r.serialized_value_size for r in records] == [1, 1]
    assert params == original


def test_failing_deserializer_names_topic_partition_and_offset(kafka_params, topic, kafka_broker):
    t = topic()
    kafka_broker.produce(t, ['{"n": 0}', '{"n": 1}', "not json", '{"n": 3}'], partition=0)
    params = dict(kafka_params, value_deserializer=json.loads)
    assert [r.value for r in read_range(params, OffsetRange(t, 0, 0, 2))] == [{"n": 0}, {"n": 1}]
    with pytest.raises(RecordDeserializationError) as info:
        read_range(params, OffsetRange(t, 0, 0, 4))
    err = info.value
    assert (err.topic, err.partition, err.offset, err.field) == (t, 0, 2, "value")
    assert f"offset 2 of {t}-0" in str(err)
    assert "value_deserializer loads" in str(err) and "JSONDecodeError" in str(err)
    assert isinstance(err.__cause__, json.JSONDecodeError)
    # the cached consumer is still good
    assert [r.value for r in read_range(params, OffsetRange(t, 0, 3, 4))] == [{"n": 3}]


def test_bad_deserializer_setting_is_refused(kafka_params):
    with pytest.raises(KafkaParamsError, match="value_deserializer must be a callable"):
        read_range(dict(kafka_params, value_deserializer="json"), OffsetRange("t", 0, 0, 1))


def test_range_ending_past_the_log_end_fails_after_a_bounded_wait(kafka_params, topic, produce):
    t = topic()
    produce(t, 3)
    started = time.monotonic()
    with pytest.raises(OffsetsBeyondLogEndError) as info:
        read_range(kafka_params, OffsetRange(t, 0, 1, 5), poll_timeout_ms=700)
    assert 0.6 < time.monotonic() - started < 5
    assert info.value.log_end == 3
    assert info.value.offset_range == OffsetRange(t, 0, 1, 5)
    assert f"cannot read {t}-0 [1, 5)" in str(info.value) and "ends at offset 3" in str(info.value)


def test_range_starting_past_the_log_end_fails_at_once(kafka_params, topic, produce):
    t = topic()
    produce(t, 3)
    started = time.monotonic()
    with pytest.raises(OffsetsBeyondLogEndError) as info:
        read_range(kafka_params, OffsetRange(t, 0, 10, 12), poll_timeout_ms=20_000)
    assert time.monotonic() - started < 5
    assert info.value.log_end == 3


def test_deleted_offsets_fail_naming_the_earliest_available(kafka_params, kafka_broker, topic, produce):
    t = topic()
    produce(t, 10)
    tp = TopicPartition(t, 0)
    assert values(read_range(kafka_params, OffsetRange(t, 0, 0, 2))) == expected(range(2))
    kafka_broker.admin().delete_records({tp: 4})
    with pytest.raises(OffsetsDeletedError) as info:
        read_range(kafka_params, OffsetRange(t, 0, 1, 6), poll_timeout_ms=5_000)
    assert info.value.earliest_available == 4
    message = str(info.value)
    assert f"{t}-0 [1, 6)" in message and "earliest available offset is 4" in message
    assert values(read_range(kafka_params, OffsetRange(t, 0, 4, 6))) == expected(range(4, 6), first=4)


def test_unreachable_brokers_fail_quickly_and_clearly(closed_port):
    servers = f"127.0.0.1:{closed_port}"
    started = time.monotonic()
    with pytest.raises(KafkaUnavailableError) as info:
        read_range({"bootstrap_servers": servers}, OffsetRange("t", 0, 0, 1), poll_timeout_ms=1_000)
    assert time.monotonic() - started < 5
    assert servers in str(info.value) and "reading t-0" in str(info.value)


def test_range_ending_on_a_transaction_marker_returns_without_waiting(kafka_params, topic, transactional_producer):
    t = topic()
    producer = transactional_producer()
    producer.begin_transaction()
    for i in range(3):
        producer.send(t, value=f"c{i}".encode(), partition=0)
    producer.commit_transaction()  # offsets 0-2, commit marker at 3
    tp = TopicPartition(t, 0)
    with KafkaMetadata(kafka_params) as meta:
        assert meta.latest_offsets([tp]) == {tp: 4}
    started = time.monotonic()
    records = read_range(kafka_params, OffsetRange(t, 0, 0, 4), poll_timeout_ms=20_000)
    assert values(records) == [(0, b"c0"), (1, b"c1"), (2, b"c2")]
    assert read_range(kafka_params, OffsetRange(t, 0, 3, 4), poll_timeout_ms=20_000) == []
    assert time.monotonic() - started < 3


def test_read_committed_skips_aborted_transactions(kafka_params, topic, transactional_producer):
    t = topic()
    producer = transactional_producer()
    for prefix, commit, n in [("c", True, 3), ("a", False, 3), ("d", True, 2)]:
        producer.begin_transaction()
        for i in range(n):
            producer.send(t, value=f"{prefix}{i}".encode(), partition=0)
        producer.flush()  # so the aborted records really are in the log
        producer.commit_transaction() if commit else producer.abort_transaction()
    # log: c0-c2 at 0-2, marker 3, a0-a2 at 4-6, abort marker 7, d0-d1 at 8-9, marker 10
    everything = OffsetRange(t, 0, 0, 11)
    committed = read_range(dict(kafka_params, isolation_level="read_committed"), everything)
    assert values(committed) == [(0, b"c0"), (1, b"c1"), (2, b"c2"), (8, b"d0"), (9, b"d1")]
    uncommitted = read_range(kafka_params, everything)
    assert [v for _, v in values(uncommitted)] == [b"c0", b"c1", b"c2", b"a0", b"a1", b"a2", b"d0", b"d1"]
    # a range made only of aborted records and markers is empty under read_committed
    assert read_range(dict(kafka_params, isolation_level="read_committed"), OffsetRange(t, 0, 3, 8)) == []


def test_concurrent_reads_of_one_partition_are_safe(kafka_params, topic, produce):
    t = topic()
    produce(t, 40)
    before = consumer_cache_stats()
    ranges = [OffsetRange(t, 0, a, a + 5) for a in range(0, 40, 5)] * 3

    def read(r):
        return values(read_range(kafka_params, r))

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(read, ranges))
    assert results == [expected(range(r.from_offset, r.until_offset), first=r.from_offset) for r in ranges]
    d = delta(before)
    assert d["created"] == 1  # one cached consumer; overlapping reads used temporary ones
    assert d["closed"] == d["temporary"]


def test_reads_leave_the_garbage_collector_alone_by_default(monkeypatch):
    import gc

    from dstreams.sources.kafka.consumer import GC_PAUSE_ENV, _gc_paused

    monkeypatch.delenv(GC_PAUSE_ENV, raising=False)
    with _gc_paused():
        assert gc.isenabled()  # other tasks on the worker keep their collector
    monkeypatch.setenv(GC_PAUSE_ENV, "yes")
    with pytest.raises(ValueError, match=r"DSTREAMS_KAFKA_GC_PAUSE='yes' on this worker: use 1 .* or 0"):
        with _gc_paused():
            pass


def test_reads_pause_the_garbage_collector_when_asked_and_restore_it(monkeypatch):
    import gc

    from dstreams.sources.kafka.consumer import GC_PAUSE_ENV, _gc_paused

    monkeypatch.setenv(GC_PAUSE_ENV, "1")
    assert gc.isenabled()
    with _gc_paused():
        assert not gc.isenabled()
        with _gc_paused():  # a second read in another thread of the process
            assert not gc.isenabled()
        assert not gc.isenabled()  # the first read still runs
    assert gc.isenabled()
    gc.disable()
    try:
        with _gc_paused():
            pass
        assert not gc.isenabled()  # off before: stays off
    finally:
        gc.enable()
