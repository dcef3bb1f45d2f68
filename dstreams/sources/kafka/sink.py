"""Writing batches to Kafka from the workers, plainly or exactly once with transactions.

Each worker process keeps its producers in a pool (one per settings, one per transactional id) and
reuses them across partitions and batches.

Exactly once (``transactional=True``): each output partition is written in one Kafka transaction that
also commits the input offsets of its range for the consumer group (``send_offsets_to_transaction``).
Before writing, the task looks at the group's committed offset: if the range is already committed, the
partition was written by an earlier attempt and is skipped, so a batch that runs again writes nothing
twice. The transactional id is stable per (sink, input partition), so a new attempt's
``init_transactions`` aborts a transaction its dead predecessor left open and fences a zombie.
"""
from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import kafka.errors as kerrors
from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import OffsetAndMetadata

from ..._compat import List, Task, TaskRef
from .clients import (
    KafkaParamsError,
    KafkaUnavailableError,
    open_client,
    open_consumer,
    request_timeout_ms,
    unavailable,
)
from .consumer import params_fingerprint
from .offsets import OffsetRange


class ProducerPool:
    """The producers (one per settings and transactional id) and offset readers a worker keeps."""

    def __init__(self):
        self.lock = threading.Lock()
        self.producers: dict[tuple, KafkaProducer] = {}
        self.offset_readers: dict[tuple, KafkaConsumer] = {}
        self.created = 0

    def close_all(self) -> None:
        with self.lock:
            items = list(self.producers.values()) + list(self.offset_readers.values())
            self.producers.clear()
            self.offset_readers.clear()
        for p in items:
            try:
                p.close()
            except Exception:
                pass


_POOL = ProducerPool()  # outside a worker (a write called directly), or before the plugin is set up


def _pool(dask_worker=None) -> ProducerPool:
    """The pool of the worker running this task (held by its KafkaClientsPlugin), else this process's."""
    from ...plugins import worker_plugin

    plugin = worker_plugin(dask_worker)
    return plugin.producers if plugin is not None else _POOL


def _producer_config(params: Mapping[str, Any]) -> dict:
    from .secrets import masked, reveal

    if not isinstance(params, Mapping) or not params.get("bootstrap_servers"):
        raise KafkaParamsError(
            "producer_params must be a dict of kafka-python KafkaProducer settings with 'bootstrap_servers', "
            f"got {masked(params)!r}"
        )
    config = dict(params)
    unknown = sorted(set(config) - set(KafkaProducer.DEFAULT_CONFIG))
    if unknown:
        raise KafkaParamsError(f"unknown producer_params {unknown}; use kafka-python KafkaProducer settings")
    if "transactional_id" in config:
        raise KafkaParamsError(
            "do not set transactional_id in producer_params: with transactional=True dstreams derives a stable "
            "id per sink and partition from transactional_id_prefix"
        )
    from .settings import check_client_values

    check_client_values(config, KafkaProducer.DEFAULT_CONFIG, "producer_params")
    return reveal(config)  # every producer dstreams opens (plain and transactional sink) is configured here


def producer(params: Mapping[str, Any], transactional_id: str | None = None) -> KafkaProducer:
    """This process's pooled producer for ``params`` (and ``transactional_id``), created once."""
    config = _producer_config(params)
    key = (params_fingerprint(config), transactional_id)
    pool = _pool()
    with pool.lock:
        p = pool.producers.get(key)
        if p is None:
            if transactional_id is not None:
                config["transactional_id"] = transactional_id
            p = open_client(KafkaProducer, config, timeout_ms=request_timeout_ms(config), purpose="writing to Kafka",
                            settings="producer_params")
            if transactional_id is not None:
                p.init_transactions()  # aborts what a dead predecessor left open; fences zombies
            pool.producers[key] = p
            pool.created += 1
        return p


def _drop_producer(params, transactional_id):
    key = (params_fingerprint(_producer_config(params)), transactional_id)
    pool = _pool()
    with pool.lock:
        p = pool.producers.pop(key, None)
    if p is not None:
        try:
            p.close(timeout=5)
        except Exception:
            pass


def producer_pool_stats(dask_worker=None) -> dict:
    """Counters of this worker's producer pool (``client.run(producer_pool_stats)``), or this process's:
    ``producers_created`` and ``pooled``."""
    pool = _pool(dask_worker)
    with pool.lock:
        return {"producers_created": pool.created, "pooled": len(pool.producers)}


def close_all() -> None:
    """Close every producer pooled outside a worker's plugin (in this process)."""
    _POOL.close_all()


def _committed(consumer_params, group_id, ranges) -> dict:
    bootstrap = consumer_params.get("bootstrap_servers")
    key = (params_fingerprint(dict(consumer_params)), group_id)
    timeout_ms = request_timeout_ms(consumer_params)
    doing = f"reading the offsets group {group_id!r} committed"
    pool = _pool()
    with pool.lock:
        c = pool.offset_readers.get(key)
        if c is None:
            cfg = {k: v for k, v in consumer_params.items()
                   if k in KafkaConsumer.DEFAULT_CONFIG and k not in ("key_deserializer", "value_deserializer")}
            cfg.update(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False)
            c = pool.offset_readers[key] = open_consumer(cfg, timeout_ms=timeout_ms, purpose=doing,
                                                         settings="consumer_params")
    try:
        return {r.topic_partition: c.committed(r.topic_partition, timeout_ms=timeout_ms) for r in ranges}
    except (kerrors.RetriableError, OSError) as exc:
        raise KafkaUnavailableError(unavailable(consumer_params, doing, timeout_ms)) from exc


def _encode(x):
    if x is None or isinstance(x, bytes):
        return x
    if isinstance(x, str):
        return x.encode("utf-8")
    return x  # the producer's serializer handles it (or raises naming the type)


def _send_all(p, topic, part):
    futures = []
    for record in part:
        if isinstance(record, tuple) and len(record) == 2:
            key, value = record
        else:
            key, value = None, record
        futures.append(p.send(topic, value=_encode(value), key=_encode(key)))
    return futures


def write_partition(topic, params, part) -> list[int]:
    """Send one partition's records (values, or ``(key, value)`` pairs) and wait until they are acked."""
    p = producer(params)
    for f in _send_all(p, topic, part):
        f.get(timeout=60)
    return [len(part)]


def write_partition_transactionally(topic, params, txn_id, consumer_params, group_id, ranges, part) -> list[int]:
    """Write one partition and commit its input ``ranges`` in one transaction; skip if already committed.

    The pooled producer of ``txn_id`` is fenced when another worker wrote this partition since (its
    ``init_transactions`` bumped the epoch): it is then replaced and the write tried once more.
    """
    try:
        return _write_transaction(topic, params, txn_id, consumer_params, group_id, ranges, part)
    except kerrors.KafkaError as exc:
        if not _fenced(exc):
            raise
        _drop_producer(params, txn_id)
        return _write_transaction(topic, params, txn_id, consumer_params, group_id, ranges, part)


def _fenced(exc: BaseException) -> bool:
    """Whether ``exc`` says the producer was fenced: kafka-python raises ``ProducerFencedError`` itself,
    or, when an earlier request of the transaction already failed with it, a ``KafkaError`` that carries
    it as an argument."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, kerrors.ProducerFencedError) or any(
                isinstance(a, kerrors.ProducerFencedError) for a in getattr(exc, "args", ())):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _write_transaction(topic, params, txn_id, consumer_params, group_id, ranges, part) -> list[int]:
    committed = _committed(consumer_params, group_id, ranges)
    if all(committed[r.topic_partition] is not None and committed[r.topic_partition] >= r.until_offset
           for r in ranges):
        return [0]  # an earlier attempt wrote this partition and committed its input
    p = producer(params, txn_id)
    try:
        p.begin_transaction()
        _send_all(p, topic, part)
        offsets = {r.topic_partition: OffsetAndMetadata(r.until_offset, "", -1) for r in ranges}
        p.send_offsets_to_transaction(offsets, group_id)
        p.commit_transaction()
    except BaseException:
        try:
            p.abort_transaction()
        except Exception:
            _drop_producer(params, txn_id)  # a producer in an unknown state is never reused
        raise
    return [len(part)]


def default_prefix(group_id: str, topic: str) -> str:
    return f"dstreams-{group_id}-{topic}"


def transactional_ids(prefix: str, partitions) -> list[str]:
    """The stable transactional ids a sink uses: one per input partition, and one for whole batches."""
    return [f"{prefix}-{tp.topic}-{tp.partition}" for tp in partitions] + [f"{prefix}-all"]


def abort_open_transactions(producer_params: Mapping[str, Any], transactional_ids_) -> None:
    """Abort what a crashed run left open under these ids (``init_transactions`` does it), so that
    read_committed readers are not blocked until the sink next writes each partition."""
    config = {k: v for k, v in _producer_config(producer_params).items()
              if k not in ("key_serializer", "value_serializer")}  # nothing is sent
    for tid in transactional_ids_:
        p = open_client(KafkaProducer, dict(config, transactional_id=tid), timeout_ms=request_timeout_ms(config),
                        purpose=f"aborting the transactions left open under {tid!r}", settings="producer_params")
        try:
            p.init_transactions()
        finally:
            p.close(timeout=5)


def write(rdd, topic: str, producer_params: Mapping[str, Any], transactional: bool = False, *,
          offset_ranges=None, group_id: str | None = None, consumer_params: Mapping[str, Any] | None = None,
          transactional_id_prefix: str | None = None) -> int:
    """Write every record of ``rdd`` to ``topic`` from the workers; returns the number written.

    A record is a value or a ``(key, value)`` pair; ``str`` is UTF-8 encoded, ``bytes`` sent as is,
    anything else needs ``value_serializer`` / ``key_serializer`` in ``producer_params``.

    Parameters
    ----------
    transactional : bool
        Exactly once: each partition is written in a transaction that also commits its input offsets
        for ``group_id``, and a partition whose input is already committed is skipped. Needs the batch's
        input offset ranges: from the direct stream's batch itself (partitions kept 1:1, e.g. after
        ``map``/``filter``), or ``offset_ranges=`` (then the batch is written in one transaction).
        Readers must use ``isolation_level="read_committed"``.
    group_id : str
        The consumer group whose offsets the transactions commit (transactional only). Start the
        direct stream with this group and no explicit ``starting_offsets`` to resume where it committed.
    consumer_params : dict, optional
        Settings to read the group's committed offsets (default: ``bootstrap_servers`` of the producer).
    transactional_id_prefix : str, optional
        Stable prefix of the transactional ids (default ``f"dstreams-{group_id}-{topic}"``).
    """
    from ...rdd import RDD

    if not isinstance(rdd, RDD):
        raise TypeError(f"write() needs an RDD, got {type(rdd).__name__}")
    if not isinstance(topic, str) or not topic:
        raise KafkaParamsError(f"topic must be a topic name, got {topic!r}")
    _producer_config(producer_params)
    name = f"kafka-write-{rdd.name}"
    if not transactional:
        layer = {(name, i): Task((name, i), write_partition, topic, dict(producer_params), TaskRef(k))
                 for i, k in enumerate(rdd.__dask_keys__())}
        return sum(rdd._new(name, layer, [rdd]).compute())

    if not group_id:
        raise KafkaParamsError("a transactional write needs group_id: the consumer group whose offsets it commits")
    consumer_params = dict(consumer_params or {"bootstrap_servers": producer_params["bootstrap_servers"]})
    prefix = transactional_id_prefix or default_prefix(group_id, topic)
    aligned = rdd.origins
    if aligned is not None and len(aligned) == rdd.npartitions:
        tids = transactional_ids(prefix, [r.topic_partition for r in aligned])
        parts = [(rdd.__dask_keys__()[i], (r,), tids[i]) for i, r in enumerate(aligned)]
        src = rdd
    else:
        ranges = tuple(offset_ranges or ())
        if not ranges or not all(isinstance(r, OffsetRange) for r in ranges):
            raise KafkaParamsError(
                "a transactional write needs the batch's input offset ranges: write the direct stream's batch "
                "(or a map/filter of it, which keeps its partitions), or pass offset_ranges=rdd.offset_ranges "
                "taken from the direct stream's batch"
            )
        src = rdd.coalesce(1, name=f"{name}-all")
        parts = [(src.__dask_keys__()[0], ranges, transactional_ids(prefix, [])[-1])]
    layer = {
        (name, i): Task((name, i), write_partition_transactionally, topic, dict(producer_params), tid,
                        consumer_params, group_id, List(*ranges), TaskRef(key))
        for i, (key, ranges, tid) in enumerate(parts)
    }
    return sum(src._new(name, layer, [src], npartitions=len(parts)).compute())
