"""The Kafka direct stream against the real broker: partitions 1:1, contiguous ranges, exactly once."""
import collections
import re
import time

import pytest
from kafka import KafkaConsumer, TopicPartition

from dstreams import BatchFailedError, StreamingContext
from dstreams.kafka import (
    KafkaParamsError,
    KafkaUnavailableError,
    OffsetRange,
    consumer_cache_stats,
    create_direct_stream,
)
from dstreams.testing import run_batches


def record_batches(stream):
    """Per batch: (offset ranges, sorted values)."""
    out = []
    stream.foreach_rdd(lambda rdd: out.append((rdd.offset_ranges, sorted(r.value.decode() for r in rdd.collect()))))
    return out


def test_partitions_map_one_to_one_and_ranges_are_contiguous(kssc, kafka_params, topic, produce):
    name = topic(partitions=4)
    for p in range(4):
        produce(name, 5, partition=p, prefix=f"p{p}-a")
    stream = create_direct_stream(kssc, [name], kafka_params, starting_offsets="earliest")
    batches = record_batches(stream)
    nparts = []
    stream.foreach_rdd(lambda rdd: nparts.append(rdd.npartitions))
    run_batches(kssc, 1)
    for p in range(4):
        produce(name, 3, partition=p, prefix=f"p{p}-b")
    run_batches(kssc, 2)
    assert nparts == [4, 4, 4]
    first, second, third = batches
    assert first[0] == tuple(OffsetRange(name, p, 0, 5) for p in range(4))
    assert second[0] == tuple(OffsetRange(name, p, 5, 8) for p in range(4))
    assert third[0] == tuple(OffsetRange(name, p, 8, 8) for p in range(4))
    everything = first[1] + second[1] + third[1]
    expected = sorted(f"p{p}-{x}{i}" for p in range(4) for x, n in (("a", 5), ("b", 3)) for i in range(n))
    assert sorted(everything) == expected  # every record exactly once


def test_partition_i_reads_its_own_kafka_partition(kssc, kafka_params, topic, produce):
    name = topic(partitions=3)
    for p in range(3):
        produce(name, 2, partition=p, prefix=f"p{p}-")
    stream = create_direct_stream(kssc, [name], kafka_params, starting_offsets="earliest")
    parts = []
    stream.foreach_rdd(lambda rdd: parts.append(rdd.glom().map(lambda recs: sorted({r.partition for r in recs}))
                                                .collect()))
    run_batches(kssc, 1)
    assert parts == [[[0], [1], [2]]]


def test_max_rate_per_partition(kssc, kafka_params, topic, produce):
    name = topic(partitions=2)
    produce(name, 25, partition=0)
    produce(name, 4, partition=1)
    stream = create_direct_stream(kssc, [name], kafka_params, starting_offsets="earliest", max_rate_per_partition=10)
    batches = record_batches(stream)
    run_batches(kssc, 4)
    counts = [[r.count() for r in ranges] for ranges, _ in batches]
    assert counts == [[10, 4], [10, 0], [5, 0], [0, 0]]
    assert sum(len(values) for _, values in batches) == 29


def test_starting_offsets_latest_and_explicit(kssc, kafka_params, topic, produce):
    name = topic(partitions=2)
    produce(name, 3, partition=0)
    produce(name, 3, partition=1)
    latest = record_batches(create_direct_stream(kssc, [name], kafka_params, starting_offsets="latest"))
    explicit = record_batches(create_direct_stream(kssc, [name], kafka_params,
                                                   starting_offsets={(name, 0): 1, TopicPartition(name, 1): 2}))
    run_batches(kssc, 1)
    assert [r.count() for r in latest[0][0]] == [0, 0]
    assert explicit[0][0] == (OffsetRange(name, 0, 1, 3), OffsetRange(name, 1, 2, 3))


def test_partition_added_mid_stream_is_read_from_its_start(kssc, kafka_params, topic, produce, kafka_broker):
    name = topic(partitions=1)
    produce(name, 2, partition=0)
    batches = record_batches(create_direct_stream(kssc, [name], kafka_params, starting_offsets="earliest"))
    run_batches(kssc, 1)
    kafka_broker.add_partitions(name, 2)
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers)  # sees the new partition
    for i in range(3):
        producer.send(name, f"new{i}".encode(), partition=1)
    producer.flush()
    producer.close()
    run_batches(kssc, 1)
    assert batches[1][0] == (OffsetRange(name, 0, 2, 2), OffsetRange(name, 1, 0, 3))
    assert batches[1][1] == ["new0", "new1", "new2"]


def test_topic_pattern_picks_up_new_topics(kssc, kafka_params, topic, produce):
    prefix = f"pat{int(time.time() * 1000) % 10**8}"
    a = topic(1, name=f"{prefix}-a")
    produce(a, 1)
    batches = record_batches(create_direct_stream(kssc, re.compile(rf"{prefix}-.*"), kafka_params,
                                                  starting_offsets="earliest"))
    run_batches(kssc, 1)
    b = topic(1, name=f"{prefix}-b")
    produce(b, 2, prefix="b")
    run_batches(kssc, 1)
    assert [r.topic for r in batches[0][0]] == [a]
    assert [r.topic for r in batches[1][0]] == [a, b]
    assert batches[1][1] == ["b0", "b1"]


def test_commit_async_is_visible_to_a_fresh_consumer(kssc, kafka_params, topic, produce):
    name = topic(partitions=2)
    produce(name, 4, partition=0)
    produce(name, 1, partition=1)
    params = dict(kafka_params, group_id=f"g-{name}")
    stream = create_direct_stream(kssc, [name], params, starting_offsets="earliest")
    done = []
    stream.foreach_rdd(lambda rdd: stream.commit_async(rdd.offset_ranges, lambda offsets, err: done.append(err))
                       .result(timeout=30))
    run_batches(kssc, 1)
    assert done == [None]
    fresh = KafkaConsumer(**params)
    try:
        assert fresh.committed(TopicPartition(name, 0)) == 4
        assert fresh.committed(TopicPartition(name, 1)) == 1
    finally:
        fresh.close()
    # a new stream of the same group starts where the group committed
    assert params == dict(kafka_params, group_id=f"g-{name}")  # params never changed


def test_consumers_are_created_once_per_worker_and_partition(kssc, kafka_params, topic, produce, client):
    name = topic(partitions=2)
    stream = create_direct_stream(kssc, [name], kafka_params, starting_offsets="earliest")
    stream.foreach_rdd(lambda rdd: rdd.count())
    before = sum(s["created"] for s in client.run(consumer_cache_stats).values())
    for i in range(5):
        produce(name, 2, partition=0, prefix=f"b{i}-")
        produce(name, 2, partition=1, prefix=f"b{i}-")
        run_batches(kssc, 1)
    created = sum(s["created"] for s in client.run(consumer_cache_stats).values()) - before
    workers = len(client.nthreads())
    assert 2 <= created <= 2 * workers  # at most one per worker and partition, never one per batch


def test_each_partition_is_read_by_the_same_worker_every_batch(kssc, kafka_params, topic, produce, client):
    """Spark's PreferConsistent: partitions spread evenly over the workers and stay where they are."""
    from distributed import get_task_stream

    name = topic(partitions=4)
    stream = create_direct_stream(kssc, [name], kafka_params, starting_offsets="earliest")
    stream.map(lambda r: r.value).foreach_rdd(lambda rdd: rdd.count())
    with get_task_stream(client) as ts:
        for i in range(4):
            for p in range(4):
                produce(name, 3, partition=p, prefix=f"b{i}-")
            run_batches(kssc, 1)
    where: dict[int, set] = {}
    for task in ts.data:
        key = task["key"]
        if isinstance(key, tuple) and str(key[0]).startswith(f"kafka-{stream.id}-"):
            where.setdefault(key[1], set()).add(task["worker"])
    assert sorted(where) == [0, 1, 2, 3]
    assert all(len(w) == 1 for w in where.values()), where  # one worker per partition, every batch
    per_worker = collections.Counter(next(iter(w)) for w in where.values())
    assert sorted(per_worker.values()) == [2, 2] and set(per_worker) == set(client.nthreads())


def test_offset_ranges_in_transform_and_gone_after_shuffle(kssc, kafka_params, topic, produce):
    name = topic(partitions=2)
    produce(name, 2, partition=0)
    stream = create_direct_stream(kssc, [name], kafka_params, starting_offsets="earliest")
    seen = []

    def keep(rdd):
        seen.append(rdd.offset_ranges)
        return rdd.map(lambda r: (r.value, 1)).reduce_by_key(lambda a, b: a + b)

    errors = []

    def after_shuffle(rdd):
        try:
            _ = rdd.offset_ranges
        except AttributeError as e:
            errors.append(str(e))

    stream.transform(keep).foreach_rdd(after_shuffle)
    run_batches(kssc, 1)
    assert seen == [(OffsetRange(name, 0, 0, 2), OffsetRange(name, 1, 0, 0))]
    assert errors and "no attribute 'offset_ranges': Kafka offset ranges exist" in errors[0]


def test_bad_value_fails_the_batch_naming_the_record(kssc, kafka_params, topic, produce):
    name = topic(partitions=1)
    produce(name, 3, partition=0, prefix="")  # values "0", "1", "2"
    kafka_broker_value = {"value_deserializer": lambda b: 10 // int(b.decode())}
    stream = create_direct_stream(kssc, [name], dict(kafka_params, **kafka_broker_value), starting_offsets="earliest")
    stream.foreach_rdd(lambda rdd: rdd.collect())
    with pytest.raises(BatchFailedError, match=rf"offset 0 of {name}-0: ZeroDivisionError"):
        run_batches(kssc, 1)


def test_unreachable_bootstrap_servers_fail_at_start_quickly(kssc, closed_port):
    stream = create_direct_stream(kssc, ["t"], {"bootstrap_servers": f"127.0.0.1:{closed_port}",
                                                "bootstrap_timeout_ms": 2000})
    stream.pprint()
    started = time.monotonic()
    with pytest.raises(KafkaUnavailableError, match=f"127.0.0.1:{closed_port}"):
        kssc.start()
    assert time.monotonic() - started < 20


@pytest.mark.parametrize("params,message", [
    ({"bootstrap_servers": "x:1", "enable_auto_commit": True}, "enable_auto_commit"),
    ({"bootstrap.servers": "x:1"}, "did you mean 'bootstrap_servers'"),
    ({}, "bootstrap_servers"),
])
def test_bad_params_are_refused_when_the_stream_is_made(kssc, params, message):
    with pytest.raises(KafkaParamsError, match=message):
        create_direct_stream(kssc, ["t"], params)


def test_bad_topics_and_rates_are_refused(kssc, kafka_params):
    with pytest.raises(KafkaParamsError, match="non-empty list of topic names or a compiled regex"):
        create_direct_stream(kssc, [], kafka_params)
    with pytest.raises(KafkaParamsError, match="max_rate_per_partition must be a positive, finite number"):
        create_direct_stream(kssc, ["t"], kafka_params, max_rate_per_partition=0)


def test_backpressure_sets_a_rate_from_batch_times(client, kafka_params, topic, produce):
    """Real time: the PID estimator needs real processing delays (a manual clock makes them 0)."""
    name = topic(partitions=1)
    produce(name, 2000, partition=0)
    ssc = StreamingContext(client, batch_interval=0.2)
    try:
        stream = create_direct_stream(ssc, [name], kafka_params, starting_offsets="earliest", backpressure=True,
                                      initial_rate=50, min_rate=5)
        batches = record_batches(stream)
        ssc.start()
        deadline = time.monotonic() + 30
        while stream.rate_limit == 50 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stream.rate_limit != 50, "the PID estimator never set a rate"
        assert stream.rate_limit >= 5
    finally:
        ssc.stop(stop_client=False)
    assert batches[0][0][0].count() == 10  # initial rate x 0.2 s interval
    assert sum(len(v) for _, v in batches) == sum(r.count() for ranges, _ in batches for r in ranges)

def test_broker_restart_mid_stream_waits_and_loses_nothing(kssc, kafka_params, topic, produce, kafka_broker):
    import threading

    name = topic(partitions=2)
    produce(name, 3, partition=0, prefix="before")
    batches = record_batches(create_direct_stream(kssc, [name], kafka_params, starting_offsets="earliest"))
    run_batches(kssc, 1)
    kafka_broker.stop()
    restarter = threading.Timer(1.5, kafka_broker.start)
    restarter.start()
    try:
        run_batches(kssc, 1, timeout=90)  # generated while the broker is down: waits for it
    finally:
        restarter.join()
    produce(name, 2, partition=1, prefix="after")
    run_batches(kssc, 1, timeout=90)
    values = [v for _, vs in batches for v in vs]
    assert sorted(values) == ["after0", "after1", "before0", "before1", "before2"]
    ranges = [r for rs, _ in batches for r in rs]
    for p in (0, 1):
        mine = [r for r in ranges if r.partition == p]
        assert all(a.until_offset == b.from_offset for a, b in zip(mine, mine[1:], strict=False))


class InputInfos(__import__("dstreams").StreamingListener):
    def __init__(self):
        self.infos = []

    def on_batch_completed(self, info):
        self.infos.append(info.input_info)


def test_offsets_deleted_by_retention_fail_the_batch_naming_them(kssc, kafka_params, topic, produce, kafka_broker):
    name = topic(1)
    produce(name, 5)
    stream = create_direct_stream(kssc, [name], kafka_params, starting_offsets={(name, 0): 0})
    stream.foreach_rdd(lambda rdd: rdd.count())
    kssc.start()
    kafka_broker.admin().delete_records({TopicPartition(name, 0): 3})
    with pytest.raises(BatchFailedError, match=rf"{name}-0 \[0, 5\).*earliest available offset is 3"):
        run_batches(kssc, 1)


def test_offsets_deleted_by_retention_skipped_on_request(kssc, kafka_params, topic, produce, kafka_broker):
    name = topic(1)
    produce(name, 5)
    stream = create_direct_stream(kssc, [name], kafka_params, starting_offsets={(name, 0): 0},
                                  on_missing_offsets="earliest")
    batches = record_batches(stream)
    listener = InputInfos()
    kssc.add_listener(listener)
    kssc.start()
    kafka_broker.admin().delete_records({TopicPartition(name, 0): 3})
    run_batches(kssc, 1)
    assert batches[0][0] == (OffsetRange(name, 0, 3, 5),)
    assert batches[0][1] == ["m3", "m4"]
    meta = next(iter(listener.infos[0].values())).metadata
    assert meta["skipped_offsets"] == {f"{name}-0": {"wanted": 0, "earliest": 3}}


def test_workers_close_their_cached_consumers_when_they_stop(kafka_params, topic, produce):
    """Each worker's consumer cache is held by its KafkaClientsPlugin, which closes it when the worker stops."""
    from distributed import Client, LocalCluster

    from dstreams.plugins import KAFKA_CLIENTS
    from dstreams.testing import ManualClock

    name = topic(2)
    produce(name, 3, partition=0)
    produce(name, 3, partition=1)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster, set_as_default=False) as client:
        ssc = StreamingContext(client, 1, clock=ManualClock())
        out = []
        create_direct_stream(ssc, [name], kafka_params, starting_offsets="earliest") \
            .foreach_rdd(lambda rdd: out.append(rdd.count()))
        run_batches(ssc, 1)
        ssc.stop(stop_client=False)
        assert list(client.run(consumer_cache_stats).values()) == [
            {"created": 2, "temporary": 0, "closed": 0, "cached": 2}]
        (worker,) = cluster.workers.values()
        plugin = worker.plugins[KAFKA_CLIENTS]
    assert out == [6]
    assert plugin.consumers.stats() == {"created": 2, "temporary": 0, "closed": 2, "cached": 0}
