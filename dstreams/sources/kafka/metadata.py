"""Driver-side Kafka metadata: partitions, offsets and commits, never records.

:class:`KafkaMetadata` wraps one kafka-python ``KafkaConsumer`` that is never
subscribed nor assigned. The Kafka direct stream asks it, once per batch, which
partitions exist and how far their logs go, decides the offset ranges, and lets
the workers read them (:mod:`dstreams.sources.kafka.consumer`). The consumer is
opened from the user's ``kafka_params`` by :mod:`dstreams.sources.kafka.clients`.
"""

from __future__ import annotations

import concurrent.futures
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import kafka.errors as kerrors
from kafka import TopicPartition
from kafka.structs import OffsetAndMetadata

from .clients import (
    KafkaParamsError,
    KafkaUnavailableError,
    consumer_config,
    describe_servers,
    open_consumer,
    request_timeout_ms,
    unavailable,
)
from .offsets import KafkaSourceError, OffsetRange

__all__ = [  # the names from .clients are still importable from here, where they used to be
    "KafkaMetadata",
    "KafkaParamsError",
    "KafkaUnavailableError",
    "consumer_config",
    "open_consumer",
]

log = logging.getLogger(__name__)

_RESETS = ("earliest", "latest")


class KafkaCommitError(KafkaSourceError):
    """Committing offsets for a consumer group failed."""


def _topic_partition(key: Any) -> TopicPartition:
    """A ``TopicPartition`` from a ``TopicPartition`` or ``(topic, partition)`` tuple."""
    if (
        isinstance(key, tuple)
        and len(key) == 2
        and isinstance(key[0], str)
        and isinstance(key[1], int)
        and not isinstance(key[1], bool)
    ):
        return TopicPartition(*key)
    raise KafkaParamsError(f"starting offsets are keyed by TopicPartition or (topic, partition) tuples, got {key!r}")



class KafkaMetadata:
    """Partitions, offsets and commits for the Kafka direct stream's driver.

    Wraps one kafka-python ``KafkaConsumer`` that never subscribes, is never
    assigned and never reads records. Calls are serialized by a lock, so the
    object may be shared by the scheduler thread and the commit thread.

    Parameters
    ----------
    kafka_params : Mapping
        kafka-python ``KafkaConsumer`` settings. Copied, never changed.
        ``enable_auto_commit=True`` is refused. ``group_id`` is needed for
        :meth:`commit` and for starting from committed offsets;
        ``isolation_level='read_committed'`` makes :meth:`latest_offsets`
        return last stable offsets; ``auto_offset_reset`` (``'latest'`` by
        default) places partitions that have no explicit or committed offset.
    timeout_ms : int, optional
        Deadline for connecting and for each call. By default the
        ``request_timeout_ms`` of ``kafka_params`` if set, else 30 s
        (``bootstrap_timeout_ms`` in ``kafka_params``, if set, bounds connecting).

    Raises
    ------
    KafkaParamsError
        If ``kafka_params`` are invalid.
    KafkaUnavailableError
        If the brokers cannot be reached within ``timeout_ms``.

    Examples
    --------
    >>> meta = KafkaMetadata({"bootstrap_servers": broker.bootstrap_servers})  # doctest: +SKIP
    >>> parts = meta.partitions(topics=["words"])  # doctest: +SKIP
    >>> meta.latest_offsets(parts)  # doctest: +SKIP
    {TopicPartition(topic='words', partition=0): 42}
    """

    def __init__(self, kafka_params: Mapping[str, Any], *, timeout_ms: int | None = None):
        self._config = consumer_config(kafka_params)
        if timeout_ms is None:
            timeout_ms = request_timeout_ms(self._config)
        self._timeout_ms = timeout_ms
        reset = self._config.get("auto_offset_reset", "latest")
        self._reset = {"smallest": "earliest", "largest": "latest"}.get(reset, reset)
        self._lock = threading.RLock()
        # it never reads records: no deserializers (kafka-python warns about plain callables)
        config = {k: v for k, v in self._config.items() if k not in ("key_deserializer", "value_deserializer")}
        if timeout_ms > config.get("fetch_max_wait_ms", 500):  # kafka-python requires this order
            config.setdefault("request_timeout_ms", timeout_ms)  # bounds topics(), which has no timeout
        self._consumer = open_consumer(config, timeout_ms=timeout_ms, purpose="offset metadata")
        self._commits: concurrent.futures.ThreadPoolExecutor | None = None
        #: the newest offset committed per partition by this process ({TopicPartition: offset})
        self.committed: dict[TopicPartition, int] = {}

    # -- lifecycle

    def close(self) -> None:
        """Wait for pending asynchronous commits, then close the consumer."""
        if self._commits is not None:
            self._commits.shutdown(wait=True)
            self._commits = None
        with self._lock:
            self._consumer.close(autocommit=False)

    def __enter__(self) -> KafkaMetadata:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def group_id(self) -> str | None:
        """The consumer group offsets are committed for, if any."""
        return self._config.get("group_id")

    def _call(self, doing: str, fn: Callable, *args, **kwargs):
        with self._lock:
            try:
                return fn(*args, **kwargs)
            except (kerrors.RetriableError, OSError) as exc:
                raise KafkaUnavailableError(unavailable(self._config, doing, self._timeout_ms)) from exc

    # -- partitions

    def partitions(
        self, topics: Iterable[str] | None = None, pattern: str | re.Pattern | None = None
    ) -> list[TopicPartition]:
        """The partitions of some topics, from freshly fetched cluster metadata.

        Every call asks the brokers again, so partitions added to a topic and
        new topics matching ``pattern`` appear on the next call.

        Parameters
        ----------
        topics : iterable of str, optional
            Topic names. Topics that do not exist are left out (with a log
            message): they have no partitions yet.
        pattern : str or re.Pattern, optional
            A regular expression that must match a whole topic name (like
            Java's ``Pattern.matches`` used by Spark's ``SubscribePattern``).
            Internal topics (``__consumer_offsets``, ...) never match.

        Returns
        -------
        list of TopicPartition
            Sorted by topic, then partition.

        Raises
        ------
        ValueError
            Unless exactly one of ``topics`` and ``pattern`` is given.
        """
        if (topics is None) == (pattern is None):
            raise ValueError("give exactly one of topics (a list of names) or pattern (a regex)")
        existing = self._call("listing topics", self._consumer.topics)
        if pattern is not None:
            regex = re.compile(pattern) if isinstance(pattern, str) else pattern
            wanted = {t for t in existing if regex.fullmatch(t)}
        else:
            names = [topics] if isinstance(topics, str) else list(topics)
            wanted = {t for t in names if t in existing}
            if missing := sorted(set(names) - wanted):
                log.info("Kafka topics %s do not exist (yet) at %s", missing, describe_servers(self._config))
        with self._lock:
            return sorted(TopicPartition(t, p) for t in wanted for p in self._consumer.partitions_for_topic(t) or ())

    # -- offsets

    def latest_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """The log end offset of each partition (the offset the next record gets).

        Under ``isolation_level='read_committed'`` this is the last stable
        offset: records of open transactions are not counted.
        """
        parts = list(partitions)
        if not parts:
            return {}
        return self._call(
            f"fetching the latest offsets of {_names(parts)}",
            self._consumer.end_offsets,
            parts,
            timeout_ms=self._timeout_ms,
        )

    def earliest_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """The first offset still in the log of each partition."""
        parts = list(partitions)
        if not parts:
            return {}
        return self._call(
            f"fetching the earliest offsets of {_names(parts)}",
            self._consumer.beginning_offsets,
            parts,
            timeout_ms=self._timeout_ms,
        )

    def committed_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int | None]:
        """The offsets committed for ``group_id`` (``None`` where nothing was committed).

        Raises
        ------
        KafkaParamsError
            If ``kafka_params`` has no ``group_id``.
        """
        self._require_group("read committed offsets")
        out = {}
        for tp in partitions:
            out[tp] = self._call(
                f"fetching the committed offset of group {self.group_id!r} for {tp.topic}-{tp.partition}",
                self._consumer.committed,
                tp,
                timeout_ms=self._timeout_ms,
            )
        return out

    def starting_offsets(
        self,
        partitions: Iterable[TopicPartition],
        starting: str | Mapping[Any, int | str] | None = None,
    ) -> dict[TopicPartition, int]:
        """Where reading starts in each partition, as Spark's direct stream decides it.

        Parameters
        ----------
        partitions : iterable of TopicPartition
            The partitions to place (usually from :meth:`partitions`).
        starting : None, "earliest", "latest" or Mapping, optional
            ``"earliest"``/``"latest"`` place every partition at the start/end
            of its log. A mapping ``{TopicPartition or (topic, partition):
            offset}`` gives explicit offsets (an int, or ``"earliest"`` /
            ``"latest"``). Partitions it leaves out, and all partitions when
            ``starting`` is ``None``, start like Spark's ``Subscribe`` /
            ``SubscribePattern`` / ``Assign`` strategies do: at the offset
            committed for ``group_id`` if there is one, else by
            ``auto_offset_reset`` (``'latest'`` unless set). A committed
            offset outside the log is also replaced by ``auto_offset_reset``,
            as a Kafka consumer does.

        Returns
        -------
        dict
            ``{TopicPartition: offset}`` for every partition.

        Raises
        ------
        KafkaParamsError
            For an explicit offset outside the partition's log, a key that is
            not one of ``partitions``, or a partition with no explicit or
            committed offset while ``auto_offset_reset`` is neither
            ``'earliest'`` nor ``'latest'``.

        Examples
        --------
        >>> meta.starting_offsets(parts, {("words", 0): 5})  # doctest: +SKIP
        {TopicPartition(topic='words', partition=0): 5, TopicPartition(topic='words', partition=1): 17}
        """
        parts = sorted(partitions)
        explicit: dict[TopicPartition, int | str] = {}
        if isinstance(starting, str):
            if starting not in _RESETS:
                raise KafkaParamsError(
                    f"starting offsets {starting!r} not understood; use 'earliest', 'latest', or a "
                    f"dict {{TopicPartition: offset}}"
                )
            explicit = dict.fromkeys(parts, starting)
        elif isinstance(starting, Mapping):
            explicit = {_topic_partition(k): v for k, v in starting.items()}
            if extra := sorted(set(explicit) - set(parts)):
                raise KafkaParamsError(
                    f"starting offsets name {_names(extra)}, which are not among the partitions "
                    f"read ({_names(parts)}); check the topic names and partition numbers"
                )
        elif starting is not None:
            raise KafkaParamsError(f"starting offsets must be None, 'earliest', 'latest' or a dict, got {starting!r}")
        if not parts:
            return {}
        earliest = self.earliest_offsets(parts)
        latest = self.latest_offsets(parts)
        rest = [tp for tp in parts if tp not in explicit]
        committed = self.committed_offsets(rest) if rest and self.group_id else {}
        out = {}
        for tp in parts:
            lo, hi = earliest[tp], latest[tp]
            if tp in explicit:
                out[tp] = self._explicit(tp, explicit[tp], lo, hi)
                continue
            offset = committed.get(tp)
            if offset is not None and lo <= offset <= hi:
                out[tp] = offset
                continue
            if offset is not None:
                log.warning(
                    "committed offset %d of group %r for %s-%d is outside the log [%d, %d]; using auto_offset_reset=%r",
                    offset,
                    self.group_id,
                    tp.topic,
                    tp.partition,
                    lo,
                    hi,
                    self._reset,
                )
            if self._reset not in _RESETS:
                why = f"group {self.group_id!r} has no valid commit" if self.group_id else "no group_id"
                raise KafkaParamsError(
                    f"no starting offset for {tp.topic}-{tp.partition}: none was given, {why}, "
                    f"and auto_offset_reset={self._reset!r}; pass starting offsets or set "
                    f"auto_offset_reset to 'earliest' or 'latest'"
                )
            out[tp] = lo if self._reset == "earliest" else hi
        return out

    @staticmethod
    def _explicit(tp: TopicPartition, value: int | str, lo: int, hi: int) -> int:
        if value == "earliest":
            return lo
        if value == "latest":
            return hi
        if isinstance(value, bool) or not isinstance(value, int):
            raise KafkaParamsError(
                f"starting offset for {tp.topic}-{tp.partition} must be an int, 'earliest' or 'latest', got {value!r}"
            )
        if not lo <= value <= hi:
            raise KafkaParamsError(
                f"starting offset {value} for {tp.topic}-{tp.partition} is outside its log, which "
                f"holds offsets [{lo}, {hi}); pick an offset in that range (or {hi} to read only "
                f"new records)"
            )
        return value

    # -- commits

    def _require_group(self, doing: str) -> None:
        if not self.group_id:
            raise KafkaParamsError(
                f"cannot {doing}: kafka_params has no group_id; set group_id to the consumer group "
                f"whose offsets dstreams should track"
            )

    def _commit_now(self, offsets: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
        payload = {tp: OffsetAndMetadata(off, "", -1) for tp, off in offsets.items()}
        doing = f"committing offsets {_show(offsets)} for group {self.group_id!r}"
        try:
            self._call(doing, self._consumer.commit, payload, timeout_ms=self._timeout_ms)
        except kerrors.KafkaError as exc:
            raise KafkaCommitError(f"{doing} failed: {exc}") from exc
        self.committed.update(offsets)
        return offsets

    def commit(self, offset_ranges: Iterable[OffsetRange]) -> dict[TopicPartition, int]:
        """Commit the end of each range for ``group_id``, waiting for the broker.

        Commits ``until_offset`` (the next offset to read) per partition; when
        several ranges of one partition are given, the largest wins.

        Returns
        -------
        dict
            The committed ``{TopicPartition: offset}``.

        Raises
        ------
        KafkaParamsError
            If ``kafka_params`` has no ``group_id``.
        KafkaUnavailableError, KafkaCommitError
            If the commit did not succeed.
        """
        self._require_group("commit offsets")
        offsets = _commit_offsets(offset_ranges)
        return self._commit_now(offsets) if offsets else {}

    def commit_async(
        self,
        offset_ranges: Iterable[OffsetRange],
        callback: Callable[[dict[TopicPartition, int], BaseException | None], None] | None = None,
    ) -> concurrent.futures.Future:
        """Commit like :meth:`commit` without waiting.

        Commits run one at a time, in call order, on a background thread.

        Parameters
        ----------
        callback : callable, optional
            Called on that thread as ``callback(offsets, error)`` with the
            ``{TopicPartition: offset}`` committed and ``None``, or the error.

        Returns
        -------
        concurrent.futures.Future
            Resolves to the committed offsets, or raises the commit's error.
        """
        self._require_group("commit offsets")
        offsets = _commit_offsets(offset_ranges)
        if self._commits is None:
            self._commits = concurrent.futures.ThreadPoolExecutor(1, "dstreams-kafka-commit")

        def run() -> dict[TopicPartition, int]:
            error = None
            try:
                return self._commit_now(offsets) if offsets else {}
            except BaseException as exc:
                error = exc
                raise
            finally:
                if callback is not None:
                    try:
                        callback(offsets, error)
                    except Exception:
                        log.exception("offset commit callback %r failed", callback)

        return self._commits.submit(run)


def _commit_offsets(offset_ranges: Iterable[OffsetRange]) -> dict[TopicPartition, int]:
    offsets: dict[TopicPartition, int] = {}
    for r in offset_ranges:
        if not isinstance(r, OffsetRange):
            raise TypeError(f"commit expects OffsetRange objects, got {r!r}")
        tp = r.topic_partition
        offsets[tp] = max(offsets.get(tp, 0), r.until_offset)
    return offsets


def _names(parts: Iterable[TopicPartition]) -> str:
    names = [f"{tp.topic}-{tp.partition}" for tp in parts]
    return ", ".join(names[:10]) + (f", ... ({len(names)} partitions)" if len(names) > 10 else "")


def _show(offsets: Mapping[TopicPartition, int]) -> str:
    return "{" + ", ".join(f"{tp.topic}-{tp.partition}: {o}" for tp, o in sorted(offsets.items())) + "}"
