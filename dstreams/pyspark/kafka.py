"""PySpark's ``pyspark.streaming.kafka`` (Spark 2.x's direct stream) over :func:`dstreams.kafka.create_direct_stream`.

Port a PySpark Kafka program by changing its imports::

    from dstreams.pyspark.kafka import KafkaUtils, OffsetRange, TopicAndPartition

    stream = KafkaUtils.createDirectStream(ssc, ["words"], {"metadata.broker.list": "kafka:9092"})
    stream.map(lambda kv: kv[1]).pprint()          # (key, value) pairs, decoded as UTF-8

``kafkaParams`` take Kafka's own setting names (``metadata.broker.list`` or ``bootstrap.servers``,
``group.id``, ``auto.offset.reset`` = ``smallest`` / ``largest`` / ``earliest`` / ``latest``, and any other
``a.b.c`` name that kafka-python knows as ``a_b_c``). A batch's RDD has ``offsetRanges()``; commits go
through the underlying stream (``stream.dstream.commit_async(...)``).
"""
from __future__ import annotations

from dataclasses import dataclass

from .. import kafka as _kafka
from .dstream import DStream
from .rdd import RDD

__all__ = ["KafkaUtils", "OffsetRange", "TopicAndPartition", "utf8_decoder"]


def utf8_decoder(data: bytes | None):
    """PySpark's default decoder: bytes as UTF-8 text (None stays None)."""
    return None if data is None else data.decode("utf-8")


@dataclass(frozen=True)
class TopicAndPartition:
    """A Kafka partition, as PySpark names it."""

    topic: str
    partition: int


@dataclass(frozen=True)
class OffsetRange:
    """PySpark's ``OffsetRange``: the records ``[fromOffset, untilOffset)`` of one partition."""

    topic: str
    partition: int
    fromOffset: int  # noqa: N815 - PySpark's names
    untilOffset: int  # noqa: N815

    @classmethod
    def _of(cls, r: _kafka.OffsetRange) -> OffsetRange:
        return cls(r.topic, r.partition, r.from_offset, r.until_offset)

    def _dstreams(self) -> _kafka.OffsetRange:
        return _kafka.OffsetRange(self.topic, self.partition, self.fromOffset, self.untilOffset)


@dataclass(frozen=True)
class MessageAndMetadata:
    """What a ``messageHandler`` receives: one record with where it came from (raw bytes)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    message: bytes | None


_RESETS = {"smallest": "earliest", "largest": "latest", "earliest": "earliest", "latest": "latest"}


def _params(kafka_params: dict) -> dict:
    """Kafka's setting names (``group.id``) as kafka-python's (``group_id``)."""
    out = {}
    for name, value in dict(kafka_params).items():
        if name in ("metadata.broker.list", "bootstrap.servers"):
            out["bootstrap_servers"] = value.split(",") if isinstance(value, str) else value
        elif name == "auto.offset.reset":
            if value not in _RESETS:
                raise _kafka.KafkaParamsError(
                    f"auto.offset.reset must be one of {sorted(_RESETS)}, got {value!r}")
            out["auto_offset_reset"] = _RESETS[value]
        else:
            out[name.replace(".", "_")] = value
    if "bootstrap_servers" not in out:
        raise _kafka.KafkaParamsError(
            "kafkaParams needs the brokers: {'metadata.broker.list': 'host:9092'} (or 'bootstrap.servers')")
    return out


class _Decode:
    """Turns one Kafka record into what PySpark's direct stream gives (picklable for the workers)."""

    def __init__(self, key_decoder, value_decoder, handler):
        self.key_decoder, self.value_decoder, self.handler = key_decoder, value_decoder, handler

    def __call__(self, r):
        if self.handler is not None:
            return self.handler(MessageAndMetadata(r.topic, r.partition, r.offset, r.key, r.value))
        return self.key_decoder(r.key), self.value_decoder(r.value)


class KafkaUtils:
    """PySpark's ``KafkaUtils``: the direct stream (no receivers)."""

    @staticmethod
    def createDirectStream(ssc, topics, kafkaParams, fromOffsets=None, keyDecoder=utf8_decoder,  # noqa: N802, N803
                           valueDecoder=utf8_decoder, messageHandler=None):  # noqa: N803
        """A stream of ``(key, value)`` pairs decoded by ``keyDecoder``/``valueDecoder`` (UTF-8 by default), or
        of what ``messageHandler(MessageAndMetadata)`` returns; one partition per Kafka partition.

        ``fromOffsets`` maps ``TopicAndPartition`` to the first offset to read; other partitions start by
        ``auto.offset.reset`` (``largest`` unless set), as in Spark.
        """
        starting = None
        if fromOffsets:
            starting = {(tp.topic, tp.partition): int(off) for tp, off in fromOffsets.items()}
        stream = _kafka.create_direct_stream(ssc.ssc, list(topics), _params(kafkaParams), starting_offsets=starting)
        out = DStream(stream.map(_Decode(keyDecoder, valueDecoder, messageHandler)))
        out.kafka_stream = stream  # commit_async / commit, as in Scala's CanCommitOffsets
        return out


def _offset_ranges(self) -> list[OffsetRange]:
    """The offset ranges this Kafka batch read (PySpark's ``KafkaRDD.offsetRanges()``)."""
    ranges = self.rdd.origins  # the Kafka batch's ranges, kept through the stream's decoding step
    if not ranges or not all(isinstance(r, _kafka.OffsetRange) for r in ranges):
        raise AttributeError("offsetRanges(): this RDD is not a batch of a Kafka direct stream; call it on the RDD "
                             "that foreachRDD or transform hands you for KafkaUtils.createDirectStream's stream")
    return [OffsetRange._of(r) for r in ranges]


RDD.offsetRanges = _offset_ranges
