"""DirectKafkaInputDStream: Kafka without receivers, one Dask partition per Kafka partition.

At each batch the driver asks the brokers for the latest offsets (it never reads records), clamps them
by the rate limit, and records one ``OffsetRange`` per partition: batch k's ``until_offset`` is batch
k+1's ``from_offset``. The workers read the ranges through cached consumers.
"""
from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Mapping

from kafka import TopicPartition

from ...dstream.input import InputDStream
from ...scheduler.rate import PIDRateEstimator, RateController
from . import placement
from .clients import KafkaParamsError, KafkaUnavailableError, consumer_config
from .consumer import DEFAULT_POLL_TIMEOUT_MS
from .deserialization import Reporting, as_deserializer, check_policy, drain_reports
from .metadata import KafkaMetadata
from .offsets import OffsetRange
from .rdd import KafkaRDD
from .secrets import protect
from .settings import check_flag, check_positive_int, check_rate, check_seconds, check_topic_name
from .truncation import TRUNCATION_POLICIES, OffsetsTruncatedError, find_truncations

logger = logging.getLogger("dstreams")


class DirectKafkaInputDStream(InputDStream):
    """See :func:`dstreams.kafka.create_direct_stream`."""

    op = "kafka"
    recoverable = True

    def __init__(self, ssc, topics, kafka_params, starting_offsets=None, max_rate_per_partition=None,
                 backpressure=False, initial_rate=None, min_rate=100.0, poll_timeout_ms=DEFAULT_POLL_TIMEOUT_MS,
                 broker_wait_s=120.0, on_missing_offsets="error", on_truncation="fail",
                 on_deserialization_error="fail"):
        # every argument is checked before the stream joins the context's graph
        if on_missing_offsets not in ("error", "earliest"):
            raise KafkaParamsError(
                f"on_missing_offsets must be 'error' (fail the batch) or 'earliest' (skip to the earliest "
                f"available offset with a warning), got {on_missing_offsets!r}"
            )
        if on_truncation not in TRUNCATION_POLICIES:
            raise KafkaParamsError(
                f"on_truncation must be 'fail' (fail the batch naming the partitions) or 'reset' (read them again "
                f"from their log start, with a warning), got {on_truncation!r}"
            )
        kafka_params = protect(kafka_params)  # secrets wrapped: never in a checkpoint, a log or a message
        consumer_config(kafka_params)
        for field in ("key", "value"):
            as_deserializer(field, kafka_params.get(f"{field}_deserializer"))
        checked = {
            "on_missing_offsets": on_missing_offsets,
            "on_truncation": on_truncation,
            "on_deserialization_error": check_policy(on_deserialization_error),
            "kafka_params": kafka_params,
            "starting_offsets": starting_offsets,
            "max_rate_per_partition": check_rate(max_rate_per_partition, "max_rate_per_partition"),
            "initial_rate": check_rate(initial_rate, "initial_rate"),
            "backpressure": check_flag(backpressure, "backpressure"),
            "min_rate": check_rate(min_rate, "min_rate", optional=False),
            "poll_timeout_ms": check_positive_int(poll_timeout_ms, "poll_timeout_ms", "milliseconds", 30_000),
            "broker_wait_s": check_seconds(broker_wait_s, "broker_wait_s", 120),
        }
        self.topics, self.pattern = _topics(topics)
        super().__init__(ssc)
        self.__dict__.update(checked)
        self.rate_limit: float | None = None  # records/s for the whole stream, set by backpressure
        self.current_offsets: dict[TopicPartition, int] | None = None
        self.batch_ranges: dict[int, tuple[OffsetRange, ...]] = {}
        self.metadata: KafkaMetadata | None = None
        self.assignment: dict[TopicPartition, str] = {}  # the worker that reads each partition
        self.pinned = False  # whether reads are placed on workers (see .placement)
        self.report_queue: str | None = None  # the Dask Queue read tasks report records left out to

    _transient = InputDStream._transient + ("metadata", "assignment", "pinned", "report_queue")

    def __setstate__(self, state):
        super().__setstate__(state)
        self.__dict__.setdefault("on_truncation", "fail")  # a checkpoint of an older version
        self.metadata = None
        self.assignment, self.pinned, self.report_queue = {}, False, None
        self.__dict__.setdefault("on_deserialization_error", "fail")

    def snapshot(self):
        return {
            "current_offsets": [[tp.topic, tp.partition, o] for tp, o in sorted((self.current_offsets or {}).items())],
            "batches": {str(t): [r.to_json() for r in ranges] for t, ranges in sorted(self.batch_ranges.items())},
        }

    def restorable_reason(self):
        return None

    def restore(self, snapshot):
        """Resume at the offsets of ``snapshot``; its remembered batches run again on the same ranges."""
        offsets = {TopicPartition(t, p): o for t, p, o in snapshot["current_offsets"]}
        if self.topics is not None:  # a topic the new version no longer reads is left behind
            offsets = {tp: o for tp, o in offsets.items() if tp.topic in self.topics}
        self.current_offsets = offsets
        self.batch_ranges = {int(t): tuple(OffsetRange.from_json(r) for r in ranges)
                             for t, ranges in snapshot["batches"].items()}

    def remembers(self, time_ms):
        return time_ms in self.batch_ranges

    # -- life cycle ------------------------------------------------------------------------
    def start(self):
        from ...plugins import register_kafka_clients

        register_kafka_clients(self.ssc.client)  # the workers close their cached consumers when they stop
        self.pinned = placement.register(self.ssc.client)
        self.report_queue = f"dstreams-kafka-left-out-{uuid.uuid4().hex}"
        self.metadata = KafkaMetadata(self.kafka_params)
        if self.current_offsets is None:
            parts = self._partitions()
            self.current_offsets = self.metadata.starting_offsets(parts, self.starting_offsets)
        if self.backpressure:
            estimator = PIDRateEstimator(self.ssc.batch_ms, min_rate=self.min_rate)
            self.ssc.add_listener(RateController(self, estimator))
            self.rate_limit = self.initial_rate

    def stop(self):
        super().stop()
        if self.metadata is not None:
            self.metadata.close()
            self.metadata = None

    # -- per batch -------------------------------------------------------------------------
    def _partitions(self):
        return self.metadata.partitions(topics=self.topics, pattern=self.pattern)

    def _with_broker(self, what, fn):
        """Call ``fn``; while the brokers are unreachable, retry with backoff up to ``broker_wait_s``."""
        deadline = time.monotonic() + self.broker_wait_s
        delay = 0.2
        while True:
            try:
                return fn()
            except KafkaUnavailableError:
                if time.monotonic() >= deadline:
                    raise
                logger.warning("dstreams: Kafka unreachable while %s; retrying in %.1fs", what, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def latest_offsets(self):
        """The log end offset of every partition that exists now (new partitions are added to
        ``current_offsets`` at their log start)."""
        return self._poll_brokers()[1]

    def _poll_brokers(self):
        def ask():
            parts = self._partitions()
            new = [tp for tp in parts if tp not in self.current_offsets]
            if new:  # partitions added while running are read from their start
                start = self.metadata.earliest_offsets(new)
                logger.info("dstreams: new Kafka partitions %s, reading from their start", new)
                self.current_offsets.update(start)
            return {tp.topic for tp in parts}, self.metadata.latest_offsets(parts)

        return self._with_broker("asking for the latest offsets", ask)

    def check_truncation(self, latest, present_topics) -> dict:
        """Fail (or, with ``on_truncation='reset'``, reset) partitions whose log no longer reaches the
        offset to read next; returns the resets, for the batch info."""
        found = find_truncations(self.current_offsets, latest, present_topics)
        if not found:
            return {}
        if self.on_truncation == "fail":
            raise OffsetsTruncatedError(self.name, found)
        gone = [t for t in found if t.found is None]
        for t in gone:
            del self.current_offsets[t.topic_partition]
        cut = [t.topic_partition for t in found if t.found is not None]
        earliest = self._with_broker("asking for the earliest offsets",
                                     lambda: self.metadata.earliest_offsets(cut)) if cut else {}
        resets = {}
        for t in found:
            to = earliest.get(t.topic_partition)
            if to is not None:
                self.current_offsets[t.topic_partition] = to
            logger.warning("dstreams: Kafka stream '%s': %s; %s (on_truncation='reset')", self.name, t.describe(),
                           "dropping the partition" if to is None else f"reading it again from offset {to}")
            resets[f"{t.topic}-{t.partition}"] = {"expected": t.expected, "found": t.found, "reset_to": to}
        return resets

    def clamp(self, latest: dict) -> dict:
        """Limit each partition's range by ``max_rate_per_partition`` and the backpressure rate."""
        secs = self.ssc.batch_ms / 1000.0
        lag = {tp: max(0, latest[tp] - self.current_offsets[tp]) for tp in latest}
        limits = {}
        if self.rate_limit is not None:
            total_lag = sum(lag.values())
            for tp, n in lag.items():
                share = self.rate_limit * (n / total_lag if total_lag else 1.0 / max(1, len(lag)))
                limits[tp] = share
        if self.max_rate_per_partition is not None:
            for tp in lag:
                limits[tp] = min(limits.get(tp, self.max_rate_per_partition), self.max_rate_per_partition)
        if not limits:
            return dict(latest)
        out = {}
        for tp, end in latest.items():
            if tp in limits:
                allowed = max(int(secs * limits[tp]), 1)  # at least one record, so a stream never stalls
                out[tp] = min(end, self.current_offsets[tp] + allowed)
            else:
                out[tp] = end
        return out

    def compute(self, t):
        if t in self.batch_ranges:  # a batch restored from a checkpoint: read exactly what it read before
            ranges = self.batch_ranges[t]
            self.report(t, sum(r.count() for r in ranges), offsets=ranges)
            return self._rdd(t, ranges)
        if self.batch_ranges and t < max(self.batch_ranges):
            raise RuntimeError(
                f"Kafka stream '{self.name}' has no offset ranges for the past batch {t} ms: it was "
                "forgotten (older than the remember duration); raise ssc.remember() or checkpoint the "
                "stream that needs it more often"
            )
        present_topics, latest = self._poll_brokers()
        metadata = {"latest_offsets": {f"{tp.topic}:{tp.partition}": offset for tp, offset in latest.items()}}
        if resets := self.check_truncation(latest, present_topics):
            metadata["offset_resets"] = resets
        if self.on_missing_offsets == "earliest" and (skipped := self.skip_deleted(latest)):
            metadata["skipped_offsets"] = skipped
        until = self.clamp(latest)
        ranges = tuple(
            OffsetRange(tp.topic, tp.partition, self.current_offsets[tp], until[tp]) for tp in sorted(until)
        )
        # partitions of a missing topic keep their offsets: checked again when the topic comes back
        self.current_offsets.update((r.topic_partition, r.until_offset) for r in ranges)
        self.batch_ranges[t] = ranges
        self.report(t, sum(r.count() for r in ranges), offsets=ranges, **metadata)
        return self._rdd(t, ranges)

    def _rdd(self, t, ranges):
        reporting = Reporting(self.report_queue, t) if self.on_deserialization_error != "fail" else None
        return KafkaRDD.build(self.rdd_name(t), self.kafka_params, ranges, self.poll_timeout_ms, self.ssc.client,
                              self.place(ranges), self.on_deserialization_error, reporting)

    def batch_jobs_done(self, t):
        """Record in batch ``t``'s info the offsets committed so far (``committed_offsets``) and the records
        its read tasks left out (``deserialization_errors``, see ``on_deserialization_error``)."""
        info = self.reported(t)
        committed = dict(self.metadata.committed) if self.metadata is not None else {}
        if committed and info is not None:
            info.metadata["committed_offsets"] = {f"{tp.topic}:{tp.partition}": off for tp, off in committed.items()}
        if self.on_deserialization_error == "fail" or self.report_queue is None:
            return
        left_out = drain_reports(self.ssc.client, self.report_queue, t, self.name)
        if left_out is not None and info is not None:
            info.metadata["deserialization_errors"] = left_out

    def place(self, ranges) -> list[str] | None:
        """The worker that should read each range (see :mod:`.placement`), or None to let Dask choose."""
        if not self.pinned:
            return None
        workers = self.ssc.runtime.task_workers()
        if not workers:
            return None
        self.assignment = placement.assign(self.assignment, [r.topic_partition for r in ranges], workers)
        return [self.assignment[r.topic_partition] for r in ranges]

    def skip_deleted(self, latest) -> dict:
        """Move partitions whose next offsets were deleted by retention to the earliest available one."""
        earliest = self._with_broker("asking for the earliest offsets",
                                     lambda: self.metadata.earliest_offsets(list(latest)))
        skipped = {}
        for tp, first in earliest.items():
            if self.current_offsets[tp] < first:
                logger.warning("dstreams: %s-%s offsets %s..%s were deleted before being read; skipping to %s "
                               "(on_missing_offsets='earliest')", tp.topic, tp.partition,
                               self.current_offsets[tp], first, first)
                skipped[f"{tp.topic}-{tp.partition}"] = {"wanted": self.current_offsets[tp], "earliest": first}
                self.current_offsets[tp] = first
        return skipped

    def clear_metadata(self, time_ms):
        super().clear_metadata(time_ms)
        for t in [t for t in self.batch_ranges if t <= time_ms - self.remember_ms]:
            del self.batch_ranges[t]

    # -- commits ---------------------------------------------------------------------------
    def commit_async(self, offset_ranges, callback=None):
        """Commit the ends of ``offset_ranges`` for the consumer group, in the background.

        Call it after the batch's output succeeded: ``stream.commit_async(rdd.offset_ranges)``.
        ``callback(offsets, error)`` is called when the commit finished.
        """
        if self.metadata is None:
            raise RuntimeError("commit_async() needs a started StreamingContext")
        return self.metadata.commit_async(offset_ranges, callback)

    def commit(self, offset_ranges):
        """Commit the ends of ``offset_ranges`` and wait for the broker."""
        if self.metadata is None:
            raise RuntimeError("commit() needs a started StreamingContext")
        return self.metadata.commit(offset_ranges)


def _topics(topics):
    if isinstance(topics, re.Pattern):
        return None, topics
    names = [topics] if isinstance(topics, str) else None
    if names is None and not isinstance(topics, (bytes, Mapping)):
        try:
            names = list(topics)
        except TypeError:
            names = None
    if not names:
        raise KafkaParamsError(
            f"topics must be a topic name, a non-empty list of topic names or a compiled regex "
            f"(re.compile('events-.*')), got {topics!r}"
        )
    for name in names:
        check_topic_name(name, "each of topics")
    return names, None
