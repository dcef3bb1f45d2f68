"""Applying the user's deserializers to the records of one range, and what to do with a record they fail on.

The reading consumer has no deserializers (:mod:`.consumer`): the user's run here, per record, so that a
failure names the record. What happens then is the stream's ``on_deserialization_error``:

* ``"fail"`` (default): the task raises :class:`RecordDeserializationError` and the batch fails;
* ``"skip"``: the record is left out of the batch, logged on the worker and counted;
* ``DeadLetter(topic)``: the record is written, as read (raw key, value and headers, plus headers naming
  where it came from and the error), to a dead-letter topic, acknowledged before the task returns, left
  out of the batch, logged and counted.

Skipped and dead-lettered records are reported to the driver through a Dask ``Queue`` before the task
returns, so the driver finds them when the batch's jobs are done and records them in the batch info
(:func:`drain_reports`).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kafka.consumer.fetcher import ConsumerRecord
from kafka.serializer import Deserializer

from .clients import KafkaParamsError
from .offsets import KafkaSourceError, OffsetRange

__all__ = ["DeadLetter", "RecordDeserializationError", "check_policy", "deserialize_range", "drain_reports"]

logger = logging.getLogger("dstreams")

POLICIES = ("fail", "skip")
#: at most this many records are listed, one by one, in a batch's info and in a task's log lines
LISTED = 20
_SECURITY_PREFIXES = ("ssl_", "sasl_")
_SHARED_SETTINGS = ("bootstrap_servers", "security_protocol", "api_version", "client_id")


@dataclass(frozen=True)
class DeadLetter:
    """Send records that a deserializer fails on to a dead-letter topic, then go on.

    Parameters
    ----------
    topic : str
        The dead-letter topic. Each record is written with its raw key, value and headers, plus the headers
        ``dstreams.topic``, ``dstreams.partition``, ``dstreams.offset``, ``dstreams.field`` and
        ``dstreams.error`` saying where it came from and why it failed.
    producer_params : dict, optional
        kafka-python ``KafkaProducer`` settings. By default the stream's ``bootstrap_servers``,
        ``security_protocol``, ``ssl_*`` and ``sasl_*`` settings.

    Examples
    --------
    >>> DeadLetter("events-dead")
    DeadLetter(topic='events-dead', producer_params=None)
    """

    topic: str
    producer_params: Mapping[str, Any] | None = None

    def __post_init__(self):
        if not isinstance(self.topic, str) or not self.topic.strip():
            raise KafkaParamsError(f"DeadLetter topic must be a non-empty topic name, got {self.topic!r}")
        if self.producer_params is not None:
            from .sink import _producer_config

            _producer_config(self.producer_params)  # refused now, not at the first poison record

    def params(self, kafka_params: Mapping[str, Any]) -> dict:
        """The producer settings: the given ones, or the connection settings of the consumer's."""
        if self.producer_params is not None:
            return dict(self.producer_params)
        return {k: v for k, v in kafka_params.items() if k in _SHARED_SETTINGS or k.startswith(_SECURITY_PREFIXES)}


def check_policy(policy: Any) -> str | DeadLetter:
    """``policy`` if it is a valid ``on_deserialization_error``, else a :class:`KafkaParamsError`."""
    if isinstance(policy, DeadLetter) or (isinstance(policy, str) and policy in POLICIES):
        return policy
    raise KafkaParamsError(
        f"on_deserialization_error must be 'fail' (fail the batch), 'skip' (count, log and leave out such "
        f"records) or DeadLetter('topic') (write them to a dead-letter topic), got {policy!r}"
    )


class RecordDeserializationError(KafkaSourceError):
    """The user's key or value deserializer failed on a record.

    Attributes
    ----------
    topic, partition, offset
        Where the record is.
    field : str
        ``"key"`` or ``"value"``.
    offset_range : OffsetRange or None
        The range that was being read: none of its records were processed.
    """

    def __init__(self, record: ConsumerRecord, field: str, deserializer: Any, cause: BaseException,
                 offset_range: OffsetRange | None = None):
        name = getattr(deserializer, "__qualname__", None) or type(deserializer).__qualname__
        where = f"{record.topic}-{record.partition}"
        batch = ""
        if offset_range is not None and offset_range.from_offset < record.offset:
            batch = (f" The batch read {offset_range}: its records before offset {record.offset} were not "
                     f"processed either, so restarting after offset {record.offset} would lose offsets "
                     f"{offset_range.from_offset}..{record.offset - 1}.")
        super().__init__(
            f"{field}_deserializer {name} failed on the record at offset {record.offset} of {where}: "
            f"{type(cause).__name__}: {cause}.{batch} Fix the deserializer (or make it tolerate such records), "
            f"or create the stream with on_deserialization_error='skip' (such records are counted, logged "
            f"and left out) or on_deserialization_error=DeadLetter('some-topic') (they are written there); "
            f"a failed batch runs again with the same offset ranges when the context is recovered from its "
            f"checkpoint."
        )
        self.topic = record.topic
        self.partition = record.partition
        self.offset = record.offset
        self.field = field
        self.offset_range = offset_range


def as_deserializer(field: str, d: Any) -> Callable | None:
    """The user's deserializer as ``f(topic, headers, data)``, or ``None``."""
    if d is None:
        return None
    if isinstance(d, Deserializer):

        def fn(topic, headers, data):
            return d.deserialize(topic, headers, data)
    elif callable(d):

        def fn(topic, headers, data):
            return d(data)
    else:
        raise KafkaParamsError(
            f"{field}_deserializer must be a callable taking bytes or a kafka.serializer.Deserializer, got {d!r}"
        )
    fn.user_deserializer = d  # for error messages
    return fn


def _deserialize(record: ConsumerRecord, kd: Callable | None, vd: Callable | None, offset_range) -> ConsumerRecord:
    changes = {}
    for name, fn in (("key", kd), ("value", vd)):
        if fn is None:
            continue
        try:
            changes[name] = fn(record.topic, record.headers, getattr(record, name))
        except Exception as exc:
            raise RecordDeserializationError(record, name, getattr(fn, "user_deserializer", fn), exc,
                                             offset_range) from exc
    return record._replace(**changes)


@dataclass(frozen=True)
class Reporting:
    """Where a read task reports the records it skipped: the stream's queue and the batch time."""

    queue: str
    time_ms: int


def deserialize_range(records, kd, vd, offset_range: OffsetRange, policy="fail", kafka_params=None,
                      reporting: Reporting | None = None) -> list:
    """Deserialize ``records`` (one range); records that fail are handled by ``policy``."""
    out, failed = [], []
    for record in records:
        try:
            out.append(_deserialize(record, kd, vd, offset_range))
        except RecordDeserializationError as exc:
            if policy == "fail":
                raise
            failed.append((record, exc))
    if failed:
        _handle_failed(failed, offset_range, policy, kafka_params, reporting)
    return out


def _handle_failed(failed, offset_range, policy, kafka_params, reporting) -> None:
    action = "skipped" if policy == "skip" else "dead_lettered"
    if action == "dead_lettered":
        _dead_letter(policy, kafka_params, failed)
    for record, exc in failed[:LISTED]:
        logger.warning("dstreams: %s the record at offset %d of %s-%d (on_deserialization_error=%r): %s",
                       action.replace("_", "-"), record.offset, record.topic, record.partition, policy,
                       exc.__cause__ if exc.__cause__ is not None else exc)
    if len(failed) > LISTED:
        logger.warning("dstreams: %s %d more records of %s that deserializers failed on", action.replace("_", "-"),
                       len(failed) - LISTED, offset_range)
    items = [{"topic": r.topic, "partition": r.partition, "offset": r.offset, "field": e.field,
              "error": f"{type(e.__cause__).__name__}: {e.__cause__}", "action": action} for r, e in failed]
    if reporting is not None:
        _report(reporting, items, offset_range)


def _dead_letter(dead: DeadLetter, kafka_params, failed) -> None:
    from .sink import producer

    p = producer(dead.params(kafka_params or {}))
    futures = []
    for record, exc in failed:
        headers = list(record.headers or []) + [
            ("dstreams.topic", record.topic.encode()),
            ("dstreams.partition", str(record.partition).encode()),
            ("dstreams.offset", str(record.offset).encode()),
            ("dstreams.field", exc.field.encode()),
            ("dstreams.error", f"{type(exc.__cause__).__name__}: {exc.__cause__}".encode()),
        ]
        futures.append(p.send(dead.topic, value=record.value, key=record.key, headers=headers))
    for f in futures:
        f.get(timeout=60)  # written before the batch can succeed


def _report(reporting: Reporting, items, offset_range) -> None:
    try:
        from distributed import Queue, get_client

        Queue(reporting.queue, client=get_client()).put({"time_ms": reporting.time_ms, "records": items})
    except Exception:  # the records were logged above: the count in the batch info is what is lost
        logger.exception("dstreams: could not report %d records of %s left out of batch %d ms to the driver",
                         len(items), offset_range, reporting.time_ms)


def drain_reports(client, queue_name: str, time_ms: int, stream_name: str) -> dict | None:
    """On the driver: the records the read tasks of batch ``time_ms`` left out, as batch info metadata
    (``{"skipped": n, "dead_lettered": n, "records": [first LISTED records]}``), or None."""
    from distributed import Queue

    q = Queue(queue_name, client=client)
    reports = q.get(batch=True)
    seen, records = set(), []
    for report in reports:
        if report["time_ms"] != time_ms:
            logger.warning("dstreams: Kafka stream '%s': a report of records left out of batch %d ms came "
                           "with batch %d ms", stream_name, report["time_ms"], time_ms)
        for item in report["records"]:
            key = (item["topic"], item["partition"], item["offset"], item["field"])
            if key not in seen:  # a range read twice (a task run again) counts its records once
                seen.add(key)
                records.append(item)
    if not records:
        return None
    records.sort(key=lambda r: (r["topic"], r["partition"], r["offset"]))
    return {
        "skipped": sum(r["action"] == "skipped" for r in records),
        "dead_lettered": sum(r["action"] == "dead_lettered" for r in records),
        "records": records[:LISTED],
    }
