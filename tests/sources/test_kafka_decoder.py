"""dstreams' v2 record decoder against kafka-python's own, on the same bytes.

Every case builds a fetch response's record bytes with kafka-python's builders, reads it through
kafka-python's ``Fetcher.PartitionRecords`` and through :class:`FastPartitionRecords`, and expects
the same records and the same reading state (next fetch offset, leader epoch, counters).
"""

from __future__ import annotations

import logging
import struct

import kafka.codec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka import TopicPartition
from kafka.consumer.fetcher import Fetcher
from kafka.errors import CorruptRecordError
from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.legacy_records import LegacyRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords
from kafka.record.util import calc_crc32c

from dstreams import _compat
from dstreams.sources.kafka import decoder

TP = TopicPartition("events", 3)
ATTRIBUTES_AT = 21  # byte offset of a v2 batch's attributes; its CRC covers the bytes from here on
CODECS = [0, 1] + [c for c, has in ((2, kafka.codec.has_snappy), (3, kafka.codec.has_lz4),
                                    (4, kafka.codec.has_zstd)) if has()]  # fmt: skip


def v2_batch(records, base_offset=0, compression=0, attributes=0, **builder_args) -> bytes:
    """One v2 batch of ``records`` (dicts of key, value, headers, timestamp)."""
    builder = DefaultRecordBatchBuilder(
        magic=2, compression_type=compression, is_transactional=builder_args.pop("is_transactional", False),
        producer_id=builder_args.pop("producer_id", -1), producer_epoch=-1, base_sequence=-1,
        batch_size=64 * 1024 * 1024,
    )  # fmt: skip
    for i, r in enumerate(records):
        builder.append(i, timestamp=r.get("timestamp", 1_700_000_000_000 + i), key=r.get("key"),
                       value=r.get("value"), headers=r.get("headers", []))  # fmt: skip
    data = bytearray(builder.build())
    struct.pack_into(">q", data, 0, base_offset)
    if attributes:
        (attrs,) = struct.unpack_from(">h", data, ATTRIBUTES_AT)
        struct.pack_into(">h", data, ATTRIBUTES_AT, attrs | attributes)
        struct.pack_into(">I", data, ATTRIBUTES_AT - 4, calc_crc32c(bytes(data[ATTRIBUTES_AT:])))
    return bytes(data)


def legacy_batch(values, magic, base_offset=0) -> bytes:
    builder = LegacyRecordBatchBuilder(magic=magic, compression_type=0, batch_size=1024 * 1024)
    for i, value in enumerate(values):
        builder.append(base_offset + i, timestamp=1_700_000_000_000 + i if magic else None, key=None, value=value)
    return bytes(builder.build())


def read(cls, data: bytes, fetch_offset: int = 0, step: int | None = None, check_crcs: bool = True):
    """Everything ``cls`` hands out for ``data``, ``step`` records per take, and its state after each take."""
    part = cls(fetch_offset, TP, MemoryRecords(data), check_crcs=check_crcs)
    takes = []
    while part:
        records = part.take(step)
        takes.append((records, part.next_fetch_offset))
        if not records and part:
            raise AssertionError("a take returned nothing while records were left")
    return takes, (part.leader_epoch, part.next_fetch_offset, part.records_read, part.bytes_read)


# dstreams' decoder in both forms: the Python loop, and the compiled loop (with the Python one for
# the batches it hands back)
DECODERS = [decoder.FastPartitionRecords, decoder.CompiledPartitionRecords]


def assert_same(data: bytes, **kwargs):
    expected = read(Fetcher.PartitionRecords, data, **kwargs)
    for cls in DECODERS:
        assert read(cls, data, **kwargs) == expected, cls.__name__
    return [r for records, _ in expected[0] for r in records]


def test_the_decoder_fits_the_installed_kafka_python():
    # If this fails, kafka-python's internals changed: the reader silently falls back to kafka-python's
    # decoding (correct, about 2.5x slower). Adapt the kafka-python part of dstreams/_compat.py (and the
    # decoder) to the new kafka-python.
    assert decoder.SUPPORTED and decoder.enabled()
    assert issubclass(decoder.FastPartitionRecords, Fetcher.PartitionRecords)


def test_a_kafka_python_with_other_internals_is_left_to_decode_records_itself(monkeypatch, caplog):
    monkeypatch.setattr(_compat, "CONSUMER_RECORD_FIELDS", _compat.CONSUMER_RECORD_FIELDS[:-1])
    _compat.kafka_partition_records.cache_clear()
    try:
        with caplog.at_level(logging.INFO, logger="dstreams"):
            assert _compat.kafka_partition_records() is None
    finally:
        _compat.kafka_partition_records.cache_clear()
    assert "kafka-python decodes records itself" in caplog.text and "Upgrade dstreams" in caplog.text


def test_the_compiled_loop_was_built():
    # If this fails, `pip install -e .` found no C compiler (or the build failed; `pip install -v -e .`
    # shows why): records are decoded by the Python loop, correctly, about 2x slower.
    assert decoder.COMPILED and decoder.mode() == "compiled"


# every varint width: 1-byte and multi-byte lengths, offset deltas, timestamp deltas (also negative)
SIZES = [0, 1, 63, 64, 127, 128, 8191, 8192, 20_000]
MIXED = (
    [{"value": b"v" * n, "key": (None if n % 2 else b"k" * n)} for n in SIZES]
    + [{"value": None, "key": None}, {"value": None, "key": b""}, {"value": b"", "key": b""}]
    + [{"value": b"t", "timestamp": ts} for ts in (1, 1_700_000_000_000 - 10**9, 1_800_000_000_000, 0)]
    + [{"value": b"h", "headers": [("a", b"1"), ("ключ", None), ("", b""), ("big", b"x" * 300)]}]
)


@pytest.mark.parametrize("compression", CODECS)
def test_records_without_headers_decode_as_kafka_python_decodes_them(compression):
    plain = [r for r in MIXED if "headers" not in r]
    data = v2_batch(plain, base_offset=2**40, compression=compression)
    records = assert_same(data, fetch_offset=2**40)
    assert [r.offset for r in records] == list(range(2**40, 2**40 + len(plain)))


def test_the_compiled_loop_decodes_plain_records_itself_and_hands_back_the_rest():
    fields = ("events", 3, 5, 1000, 1_700_000_000_000, 0, 1_700_000_000_009)
    plain = v2_batch([{"value": b"%d" % i, "key": b"k" if i % 2 else None} for i in range(10)])
    got = decoder._compiled_decode(decoder.ConsumerRecord, plain, 61, 10, *fields)
    assert got is not None and got == decoder.decode_records(plain, 61, 10, *fields)
    assert [r.value for r in got[0]] == [b"%d" % i for i in range(10)] and got[1] == len(plain)
    with_headers = v2_batch([{"value": b"a"}, {"value": b"b", "headers": [("h", b"v")]}])
    assert decoder._compiled_decode(decoder.ConsumerRecord, with_headers, 61, 2, *fields) is None
    assert decoder._compiled_decode(decoder.ConsumerRecord, plain[:-3], 61, 10, *fields) is None  # cut short
    assert decoder._compiled_decode(decoder.ConsumerRecord, b"\xff" * 12, 0, 1, *fields) is None  # overlong
    huge = ("events", 3, 5, 2**63 - 1, 0, 0, 0)  # base offset + delta leaves 64 bits
    assert decoder._compiled_decode(decoder.ConsumerRecord, plain, 61, 10, *huge) is None
    assert decoder.decode_records_compiled(plain, 61, 10, *huge)[0][1].offset == 2**63


@pytest.mark.parametrize("compression", CODECS)
def test_records_of_every_shape_decode_as_kafka_python_decodes_them(compression):
    data = v2_batch(MIXED, base_offset=100, compression=compression)
    records = assert_same(data, fetch_offset=100)
    assert [r.offset for r in records] == list(range(100, 100 + len(MIXED)))
    assert records[-1].headers == [("a", b"1"), ("ключ", None), ("", b""), ("big", b"x" * 300)]
    assert records[0].value == b"" and records[0].key == b""


def test_many_batches_taken_in_pieces_keep_the_same_position_after_every_take():
    data = b"".join(v2_batch([{"value": b"%d" % i} for i in range(n)], base_offset=o)
                    for o, n in ((0, 5), (5, 1), (6, 10_000), (10_006, 3)))  # fmt: skip
    for step in (1, 7, 4_999, None):
        assert len(assert_same(data, step=step)) == 10_009


def test_a_fetch_starting_inside_a_batch_skips_the_records_before_it():
    data = v2_batch([{"value": b"%d" % i} for i in range(10)], base_offset=40)
    records = assert_same(data, fetch_offset=46)
    assert [r.offset for r in records] == [46, 47, 48, 49]


def test_log_append_time_batches_take_the_batch_timestamp():
    data = v2_batch([{"value": b"a", "timestamp": 5}, {"value": b"b", "timestamp": 9}], attributes=0x08)
    records = assert_same(data)
    assert [(r.timestamp, r.timestamp_type) for r in records] == [(9, 1), (9, 1)]


def test_control_batches_are_skipped_and_move_the_position():
    marker = v2_batch([{"key": b"\x00\x00\x00\x01", "value": b"\x00\x00\x00\x00\x00\x00"}], base_offset=3,
                      attributes=0x30, is_transactional=True, producer_id=7)  # fmt: skip
    data = v2_batch([{"value": b"x"}] * 3, is_transactional=True, producer_id=7) + marker
    data += v2_batch([{"value": b"y"}], base_offset=4)
    records = assert_same(data)
    assert [r.offset for r in records] == [0, 1, 2, 4]


@pytest.mark.parametrize("magic", [0, 1])
def test_legacy_message_sets_are_left_to_kafka_python(magic):
    data = legacy_batch([b"old0", b"old1"], magic) + v2_batch([{"value": b"new"}], base_offset=2)
    records = assert_same(data)
    assert [(r.offset, r.value) for r in records] == [(0, b"old0"), (1, b"old1"), (2, b"new")]


def test_a_damaged_batch_fails_its_crc_check():
    data = bytearray(v2_batch([{"value": b"abcdef"}] * 3))
    data[-3] ^= 0xFF
    for cls in (*DECODERS, Fetcher.PartitionRecords):
        with pytest.raises(CorruptRecordError, match="crc"):
            read(cls, bytes(data))


@pytest.mark.parametrize("at", [-2, -4, -5, -12])
def test_a_record_that_does_not_add_up_is_corrupt_without_crc_checks(at):
    # the last record ends: value length, b"abcdef", 1 header: key length, b"h", value length, b"v"
    data = bytearray(v2_batch([{"value": b"abcdef", "headers": [("h", b"v")]}] * 2))
    data[at] = 0x7E  # a header count, header length or value length (63) that runs past the record
    for cls in (*DECODERS, Fetcher.PartitionRecords):
        with pytest.raises(CorruptRecordError):
            read(cls, bytes(data), check_crcs=False)


def test_decode_records_refuses_an_overlong_varint():
    with pytest.raises(CorruptRecordError, match="varint"):
        decoder.decode_records(b"\xff" * 12, 0, 1, "t", 0, -1, 0, 0, 0, 0)


def test_the_decoder_can_be_turned_off(monkeypatch):
    class Consumer:
        _fetcher = type("FetcherStandIn", (), {})()

    monkeypatch.setenv("DSTREAMS_KAFKA_DECODER", "kafka-python")
    assert not decoder.install(Consumer())
    assert not hasattr(Consumer._fetcher, "PartitionRecords")
    monkeypatch.setenv("DSTREAMS_KAFKA_DECODER", "python")
    assert decoder.install(Consumer())
    assert Consumer._fetcher.PartitionRecords is decoder.FastPartitionRecords
    monkeypatch.delenv("DSTREAMS_KAFKA_DECODER")
    assert decoder.install(Consumer())
    assert Consumer._fetcher.PartitionRecords is decoder.CompiledPartitionRecords
    monkeypatch.setenv("DSTREAMS_KAFKA_DECODER", "fast")
    with pytest.raises(ValueError, match="DSTREAMS_KAFKA_DECODER='fast' is not a decoder: use one of"):
        decoder.install(Consumer())


headers = st.lists(st.tuples(st.text(max_size=5), st.none() | st.binary(max_size=20)), max_size=3)
a_record = st.fixed_dictionaries(
    {"key": st.none() | st.binary(max_size=40), "value": st.none() | st.binary(max_size=300)},
    optional={"headers": headers, "timestamp": st.integers(0, 2**41)},
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batches=st.lists(st.lists(a_record, min_size=1, max_size=30), min_size=1, max_size=4),
    compression=st.sampled_from(CODECS),
    step=st.none() | st.integers(1, 40),
    skip=st.integers(0, 5),
)
def test_any_records_decode_as_kafka_python_decodes_them(batches, compression, step, skip):
    data, base = b"", 0
    for batch in batches:
        data += v2_batch(batch, base_offset=base, compression=compression)
        base += len(batch)
    records = assert_same(data, step=step, fetch_offset=min(skip, base - 1))
    assert len(records) == base - min(skip, base - 1)
