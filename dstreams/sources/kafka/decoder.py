"""A faster decoder for Kafka's v2 record batches, plugged into kafka-python's fetcher.

kafka-python decodes every record of a fetch response in pure Python through several layers
(``DefaultRecordBatch._read_msg``, a ``DefaultRecord`` object, then the fetcher's loop, which builds
the ``ConsumerRecord``): most of a direct stream's CPU for light jobs. :func:`decode_records` decodes
the records of one v2 batch in a single loop, straight into kafka-python's ``ConsumerRecord`` (several
times faster; see docs/performance.md), and :func:`install` makes a reading consumer's fetcher use it.

Everything else stays kafka-python's: connections, fetch requests and sessions, positions, leader
epochs, decompression (the batch's own ``_maybe_uncompress``) and CRC checks. What this module does
not handle it leaves to kafka-python's own code, unchanged:

* a fetch response that lists aborted transactions (``isolation_level='read_committed'`` over
  aborted transactional writes): the whole response;
* legacy (v0 and v1) message sets: from the first such batch of a response on;
* a consumer with deserializers (the dstreams reader has none; it deserializes itself).

It relies on kafka-python internals that have been the same from 2.2 to 3.0 (the consumer's fetcher, its
``PartitionRecords``, a ``DefaultRecordBatch``'s decompressed buffer), reached through
:mod:`dstreams._compat`, which checks them once. :data:`SUPPORTED` says whether they fit; where they
differ, :func:`install` does nothing and kafka-python decodes as usual.

The loop has a compiled form (``_cdecoder``, built from ``_cdecoder.c`` when dstreams is installed
where a C compiler is; faster than the Python loop) for records without headers; it hands any other
batch (headers, or bytes that do not add up) to the Python loop, which decodes the headers or raises
the error. :data:`COMPILED` says whether it was built. The environment variable
``DSTREAMS_KAFKA_DECODER`` (read on the workers when a consumer is created) chooses: ``dstreams``
(the default: compiled where built, else Python), ``python`` (the Python loop only) or
``kafka-python`` (the decoder off).
"""

from __future__ import annotations

import os

from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import CorruptRecordError

from ... import _compat

try:
    from ._cdecoder import decode as _compiled_decode
except ImportError:  # pragma: no cover - built where a C compiler is
    _compiled_decode = None

__all__ = ["COMPILED", "SUPPORTED", "decode_records", "enabled", "install", "mode"]

_LOG_APPEND_TIME = 1
_new = tuple.__new__
_PartitionRecords = _compat.kafka_partition_records()
_batch_records = _compat.v2_batch_records

SUPPORTED = _PartitionRecords is not None
"""True when the installed kafka-python has the internals the decoder plugs into."""


COMPILED = _compiled_decode is not None
"""True when the compiled form of the decoding loop was built and imports."""

_MODES = ("dstreams", "python", "kafka-python")


def mode() -> str:
    """The decoder :func:`install` plugs in: ``"compiled"``, ``"python"`` or ``"kafka-python"`` (off).

    Raises
    ------
    ValueError
        If ``DSTREAMS_KAFKA_DECODER`` holds something else than ``dstreams``, ``python`` or
        ``kafka-python``.
    """
    wanted = os.environ.get("DSTREAMS_KAFKA_DECODER", "dstreams")
    if wanted not in _MODES:
        raise ValueError(
            f"DSTREAMS_KAFKA_DECODER={wanted!r} is not a decoder: use one of {', '.join(_MODES)} "
            "(or leave it unset for dstreams')"
        )
    if wanted == "kafka-python" or not SUPPORTED:
        return "kafka-python"
    return "compiled" if wanted == "dstreams" and COMPILED else "python"


def enabled() -> bool:
    """Whether :func:`install` will plug the decoder in (supported and not turned off)."""
    return mode() != "kafka-python"


def decode_records_compiled(buf, pos, count, *batch_fields):
    """:func:`decode_records` through the compiled loop where it can, else through the Python one."""
    got = _compiled_decode(ConsumerRecord, buf, pos, count, *batch_fields)
    return got if got is not None else decode_records(buf, pos, count, *batch_fields)


def _uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    """An unsigned varint at ``pos``, still zigzag-encoded; (value, next position)."""
    value = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise CorruptRecordError(f"a varint longer than 10 bytes ends at byte {pos} of a record batch")


def decode_records(
    buf: bytes,
    pos: int,
    count: int,
    topic: str,
    partition: int,
    leader_epoch: int,
    base_offset: int,
    first_timestamp: int,
    timestamp_type: int,
    max_timestamp: int,
) -> tuple[list[ConsumerRecord], int, int]:
    """Decode the ``count`` records of a v2 batch whose (uncompressed) records start at ``buf[pos]``.

    Parameters
    ----------
    buf : bytes
        The batch: its header, then its records (decompressed).
    pos : int
        Where the first record starts.
    count : int
        The batch's record count.
    topic, partition, leader_epoch
        Copied into every record.
    base_offset, first_timestamp, timestamp_type, max_timestamp
        From the batch header: a record's offset is ``base_offset`` plus its delta; its timestamp is
        ``first_timestamp`` plus its delta, or ``max_timestamp`` for log-append time.

    Returns
    -------
    (list of ConsumerRecord, int, int)
        The records, as kafka-python's fetcher would build them (``checksum`` None, serialized
        sizes -1 for a null key or value and for no headers), the position after the last one, and
        the records' size in bytes, their length fields not counted (kafka-python's ``bytes_read``).

    Raises
    ------
    kafka.errors.CorruptRecordError
        If a record's fields do not add up to its length, or the batch ends inside a record.

    Examples
    --------
    >>> from kafka.record.memory_records import MemoryRecordsBuilder
    >>> builder = MemoryRecordsBuilder(magic=2, compression_type=0, batch_size=1024)
    >>> _ = builder.append(timestamp=1000, key=b"k", value=b"v")
    >>> builder.close()
    >>> buf = bytes(builder.buffer())
    >>> records, end, size = decode_records(buf, 61, 1, "t", 0, -1, 0, 1000, 0, 1000)
    >>> records[0].key, records[0].value, records[0].timestamp, end == len(buf)
    (b'k', b'v', 1000, True)
    """
    out: list[ConsumerRecord] = []
    append = out.append
    size = 0
    append_time = timestamp_type == _LOG_APPEND_TIME
    try:
        for _ in range(count):
            # Each varint is zigzag-encoded; one and two bytes are decoded inline (the common cases).
            b = buf[pos]
            if b < 0x80:
                v, pos = b, pos + 1
            elif buf[pos + 1] < 0x80:
                v, pos = (b & 0x7F) | (buf[pos + 1] << 7), pos + 2
            else:
                v, pos = _uvarint(buf, pos)
            length = (v >> 1) ^ -(v & 1)
            size += length
            start = pos
            pos += 1  # attributes: int8, unused
            b = buf[pos]
            if b < 0x80:
                v, pos = b, pos + 1
            else:
                v, pos = _uvarint(buf, pos)
            timestamp = max_timestamp if append_time else first_timestamp + ((v >> 1) ^ -(v & 1))
            b = buf[pos]
            if b < 0x80:
                v, pos = b, pos + 1
            elif buf[pos + 1] < 0x80:
                v, pos = (b & 0x7F) | (buf[pos + 1] << 7), pos + 2
            else:
                v, pos = _uvarint(buf, pos)
            offset = base_offset + ((v >> 1) ^ -(v & 1))
            b = buf[pos]
            if b < 0x80:
                v, pos = b, pos + 1
            else:
                v, pos = _uvarint(buf, pos)
            key_size = (v >> 1) ^ -(v & 1)
            if key_size >= 0:
                key = buf[pos : pos + key_size]
                pos += key_size
            else:
                key, key_size = None, -1
            b = buf[pos]
            if b < 0x80:
                v, pos = b, pos + 1
            elif buf[pos + 1] < 0x80:
                v, pos = (b & 0x7F) | (buf[pos + 1] << 7), pos + 2
            else:
                v, pos = _uvarint(buf, pos)
            value_size = (v >> 1) ^ -(v & 1)
            if value_size >= 0:
                value = buf[pos : pos + value_size]
                pos += value_size
            else:
                value, value_size = None, -1
            if buf[pos] == 0:  # no headers
                pos += 1
                headers, header_size = [], -1
            else:
                headers, header_size, pos = _headers(buf, pos)
            if pos - start != length:
                raise CorruptRecordError(
                    f"invalid record size: expected to read {length} bytes in record payload, "
                    f"but instead read {pos - start}"
                )
            append(_new(ConsumerRecord, (
                topic, partition, leader_epoch, offset, timestamp, timestamp_type, key, value, headers, None,
                key_size, value_size, header_size,
            )))  # fmt: skip
    except IndexError as exc:
        raise CorruptRecordError(f"a record batch of {topic}-{partition} ends inside a record") from exc
    if pos > len(buf):  # the last record's key, value or a header was cut short
        raise CorruptRecordError(f"a record batch of {topic}-{partition} ends inside a record")
    return out, pos, size


def _headers(buf: bytes, pos: int) -> tuple[list[tuple[str, bytes | None]], int, int]:
    """A record's headers at ``pos``; (headers, serialized size, next position)."""
    v, pos = _uvarint(buf, pos)
    count = (v >> 1) ^ -(v & 1)
    if count < 0:
        raise CorruptRecordError(f"found invalid number of record headers {count}")
    headers = []
    size = 0
    for _ in range(count):
        v, pos = _uvarint(buf, pos)
        key_len = (v >> 1) ^ -(v & 1)
        if key_len < 0:
            raise CorruptRecordError(f"invalid negative header key size {key_len}")
        raw_key = buf[pos : pos + key_len]
        pos += key_len
        v, pos = _uvarint(buf, pos)
        value_len = (v >> 1) ^ -(v & 1)
        if value_len >= 0:
            value = buf[pos : pos + value_len]
            pos += value_len
            size += value_len
        else:
            value = None
        headers.append((raw_key.decode("utf-8"), value))
        size += len(raw_key)
    return headers, (size if headers else -1), pos


class _Resume:
    """A ``MemoryRecords`` stand-in that hands out ``first``, then the rest of ``records``."""

    def __init__(self, first, records):
        self._first, self._records = first, records

    def next_batch(self):
        if self._first is not None:
            batch, self._first = self._first, None
            return batch
        return self._records.next_batch()


if SUPPORTED:

    class FastPartitionRecords(_PartitionRecords):
        """kafka-python's buffered fetch of one partition, its v2 batches decoded by :func:`decode_records`."""

        _decode = staticmethod(decode_records)

        def decode_batches(self, tp, records):
            if self.aborted_transactions:
                yield from self.kafka_python_records(tp, records)
                return
            try:
                last = None
                batch = records.next_batch()
                while batch is not None:
                    if batch.magic != 2:  # a legacy message set: kafka-python's own code from here on
                        yield from self.kafka_python_records(tp, _Resume(batch, records))
                        return
                    last = batch
                    if self.check_crcs and not batch.validate_crc():
                        raise CorruptRecordError(
                            f"Record batch for partition {tp} at offset {batch.base_offset} failed crc check"
                        )
                    self.leader_epoch = batch.leader_epoch
                    if batch.is_control_batch:  # a transaction marker: not a record
                        self.next_fetch_offset = batch.next_offset
                    else:
                        buf, start, count = _batch_records(batch)
                        decoded, end, size = self._decode(
                            buf, start, count, tp.topic, tp.partition, batch.leader_epoch,
                            batch.base_offset, batch.first_timestamp, batch.timestamp_type, batch.max_timestamp,
                        )  # fmt: skip
                        if end != len(buf):
                            raise CorruptRecordError(f"{len(buf) - end} unconsumed bytes after all records consumed")
                        self.records_read += len(decoded)
                        self.bytes_read += size
                        for record in decoded:
                            self.next_fetch_offset = record[3] + 1  # the offset
                            yield record
                    batch = records.next_batch()
                if last is not None:
                    # v2 keeps a batch's last offset even when compaction removed its last record
                    self.next_fetch_offset = last.next_offset
                self.drain()
            except StopIteration as exc:  # inside a generator it would end the iteration silently
                raise RuntimeError(f"StopIteration raised unpacking records of {tp}") from exc

    class CompiledPartitionRecords(FastPartitionRecords):
        """:class:`FastPartitionRecords` through the compiled loop (see :data:`COMPILED`)."""

        _decode = staticmethod(decode_records_compiled)

else:  # pragma: no cover - depends on the installed kafka-python
    FastPartitionRecords = CompiledPartitionRecords = None


def install(consumer) -> bool:
    """Make ``consumer``'s fetcher decode v2 batches with :func:`decode_records`.

    Returns
    -------
    bool
        Whether it did: False when turned off or when kafka-python's internals differ (then the
        consumer decodes with kafka-python's own code, as before).
    """
    which = mode()
    if which == "kafka-python":
        return False
    return _compat.set_partition_records(
        consumer, CompiledPartitionRecords if which == "compiled" else FastPartitionRecords)
