"""The Kafka sink: plain writes, and exactly-once transactional writes that commit input offsets."""
import os

import pytest
from kafka import KafkaConsumer, TopicPartition

from dstreams import StreamingContext
from dstreams.kafka import create_direct_stream, producer_pool_stats, write
from dstreams.testing import ManualClock, run_batches


def read_all(bootstrap, topic, committed_only=True):
    c = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=1500,
                      isolation_level="read_committed" if committed_only else "read_uncommitted",
                      receive_message_max_bytes=64 * 1024 * 1024)
    c.assign([TopicPartition(topic, p) for p in c.partitions_for_topic(topic)])
    c.seek_to_beginning()
    try:
        return [(m.key.decode() if m.key else None, m.value.decode()) for m in c]
    finally:
        c.close()


def committed(bootstrap, group, topic, partitions):
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return [c.committed(TopicPartition(topic, p)) for p in range(partitions)]
    finally:
        c.close()


def test_plain_write_of_values_and_pairs(client, kafka_broker, topic):
    out = topic(1)
    params = {"bootstrap_servers": kafka_broker.bootstrap_servers}
    from dstreams import RDD

    rdd = RDD.from_list(["v1", ("k", "v2"), b"v3"], 2, client=client)
    assert write(rdd, out, params) == 3
    assert sorted(read_all(kafka_broker.bootstrap_servers, out), key=str) == [("k", "v2"), (None, "v1"), (None, "v3")]
    before = sum(s["producers_created"] for s in client.run(producer_pool_stats).values())
    write(rdd, out, params)
    assert sum(s["producers_created"] for s in client.run(producer_pool_stats).values()) == before  # pooled


def test_transactional_write_per_partition_commits_input_offsets(kssc, kafka_params, kafka_broker, topic, produce):
    src, out = topic(2), topic(2)
    produce(src, 3, partition=0, prefix="a")
    produce(src, 2, partition=1, prefix="b")
    group = f"g-{src}"
    stream = create_direct_stream(kssc, [src], dict(kafka_params, group_id=group))  # starts at committed/latest
    # nothing committed yet and auto_offset_reset=latest: start from the beginning explicitly instead
    stream.starting_offsets = "earliest"
    written = []
    stream.foreach_rdd(lambda rdd: written.append(
        write(rdd.map(lambda r: r.value.decode().upper()), out, {"bootstrap_servers": kafka_broker.bootstrap_servers},
              transactional=True, group_id=group, consumer_params=kafka_params)))
    stream.foreach_rdd(lambda rdd: written.append(
        write(rdd.map(lambda r: r.value.decode().upper()), out, {"bootstrap_servers": kafka_broker.bootstrap_servers},
              transactional=True, group_id=group, consumer_params=kafka_params)))  # the same batch again
    run_batches(kssc, 1)
    assert written == [5, 0]  # the second run found the input committed and wrote nothing
    values = sorted(v for _, v in read_all(kafka_broker.bootstrap_servers, out))
    assert values == ["A0", "A1", "A2", "B0", "B1"]
    assert committed(kafka_broker.bootstrap_servers, group, src, 2) == [3, 2]


def test_to_kafka_after_a_shuffle_writes_one_transaction(kssc, kafka_params, kafka_broker, topic, produce):
    src, out = topic(2), topic(1)
    produce(src, 4, partition=0, prefix="")
    produce(src, 2, partition=1, prefix="")
    group = f"g-{src}"
    stream = create_direct_stream(kssc, [src], dict(kafka_params, group_id=group), starting_offsets="earliest")
    stream.map(lambda r: (r.value.decode(), 1)).reduce_by_key(lambda a, b: a + b) \
        .map(lambda kv: (kv[0], str(kv[1]))) \
        .to_kafka(out, {"bootstrap_servers": kafka_broker.bootstrap_servers}, transactional=True, group_id=group)
    run_batches(kssc, 2)
    assert sorted(read_all(kafka_broker.bootstrap_servers, out)) == [("0", "2"), ("1", "2"), ("2", "1"), ("3", "1")]
    assert committed(kafka_broker.bootstrap_servers, group, src, 2) == [4, 2]


def test_transactional_write_needs_offsets_and_group(client, kafka_broker):
    from dstreams import RDD
    from dstreams.kafka import KafkaParamsError

    rdd = RDD.from_list(["x"], 1, client=client)
    params = {"bootstrap_servers": kafka_broker.bootstrap_servers}
    with pytest.raises(KafkaParamsError, match="needs group_id"):
        write(rdd, "t", params, transactional=True)
    with pytest.raises(KafkaParamsError, match="needs the batch's input offset ranges"):
        write(rdd, "t", params, transactional=True, group_id="g")
    with pytest.raises(KafkaParamsError, match="do not set transactional_id"):
        write(rdd, "t", dict(params, transactional_id="x"))


def test_worker_killed_mid_transaction_leaves_exactly_one_output_per_input(kafka_params, kafka_broker, topic,
                                                                           produce, tmp_path):
    """A worker process dies inside a transaction; Dask reruns the task elsewhere; no duplicate, no loss."""
    from distributed import Client, LocalCluster

    src, out = topic(2), topic(2)
    produce(src, 20, partition=0, prefix="p0-")
    produce(src, 20, partition=1, prefix="p1-")
    group = f"g-{src}"
    marker = str(tmp_path / "killed-once")

    def die_once_serializer(value):
        # runs inside producer.send(), i.e. inside the open transaction
        if value == b"P1-7" and not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)
        return value

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as pclient:
        ssc = StreamingContext(pclient, batch_interval=1, clock=ManualClock())
        stream = create_direct_stream(ssc, [src], dict(kafka_params, group_id=group), starting_offsets="earliest")
        stream.map(lambda r: r.value.decode().upper().encode()).to_kafka(
            out, {"bootstrap_servers": kafka_broker.bootstrap_servers, "value_serializer": die_once_serializer},
            transactional=True, group_id=group)
        try:
            run_batches(ssc, 1, timeout=120)
        finally:
            ssc.stop(stop_client=False)
    assert os.path.exists(marker), "the worker was not killed: the test did not test anything"
    values = sorted(v for _, v in read_all(kafka_broker.bootstrap_servers, out))
    assert values == sorted(f"P{p}-{i}" for p in (0, 1) for i in range(20))
    assert committed(kafka_broker.bootstrap_servers, group, src, 2) == [20, 20]


def test_transactions_left_open_by_a_crash_are_aborted_at_start(kssc, kafka_params, kafka_broker, topic):
    from kafka import KafkaProducer

    src, out = topic(1), topic(1)
    group = f"g-{src}"
    zombie = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers,
                           transactional_id=f"dstreams-{group}-{out}-{src}-0")  # the sink's id for partition 0
    zombie.init_transactions()
    zombie.begin_transaction()
    zombie.send(out, b"left open by a crash", partition=0)
    zombie.flush()
    reader = KafkaConsumer(bootstrap_servers=kafka_broker.bootstrap_servers, isolation_level="read_committed")
    tp = TopicPartition(out, 0)
    try:
        assert reader.end_offsets([tp])[tp] == 0  # the open transaction blocks read_committed readers
        stream = create_direct_stream(kssc, [src], dict(kafka_params, group_id=group), starting_offsets="earliest")
        stream.to_kafka(out, {"bootstrap_servers": kafka_broker.bootstrap_servers}, transactional=True,
                        group_id=group)
        kssc.start()  # before any batch runs
        assert reader.end_offsets([tp])[tp] == 2  # aborted: the record and its abort marker are stable
        assert read_all(kafka_broker.bootstrap_servers, out) == []
    finally:
        reader.close()
        zombie.close(timeout=1)


def test_a_pooled_producer_fenced_by_another_workers_attempt_is_replaced(kssc, kafka_params, kafka_broker, topic,
                                                                          produce):
    """The partition's previous writer was on another worker: its init_transactions fenced ours."""
    from kafka import KafkaProducer

    src, out = topic(1), topic(1)
    group = f"g-{src}"
    params = {"bootstrap_servers": kafka_broker.bootstrap_servers}
    stream = create_direct_stream(kssc, [src], dict(kafka_params, group_id=group), starting_offsets="earliest")
    stream.map(lambda r: r.value).to_kafka(out, params, transactional=True, group_id=group)
    produce(src, 2, prefix="a")
    run_batches(kssc, 1)
    other = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers,
                          transactional_id=f"dstreams-{group}-{out}-{src}-0")
    other.init_transactions()  # what the same partition's task on another worker does: fences the pooled one
    other.close()
    produce(src, 2, prefix="b")
    run_batches(kssc, 1)
    assert sorted(v for _, v in read_all(kafka_broker.bootstrap_servers, out)) == ["a0", "a1", "b0", "b1"]
    assert committed(kafka_broker.bootstrap_servers, group, src, 1) == [4]


def test_fencing_is_recognised_however_kafka_python_reports_it():
    """Fenced directly, or a later send refused because an earlier request of the transaction was fenced."""
    import kafka.errors as kerrors

    from dstreams.sources.kafka.sink import _fenced

    assert _fenced(kerrors.ProducerFencedError())
    assert _fenced(kerrors.KafkaError("Cannot perform send because at least one previous transactional or "
                                      "idempotent request has failed with errors.", kerrors.ProducerFencedError()))
    chained = kerrors.KafkaError("commit failed")
    chained.__cause__ = kerrors.ProducerFencedError()
    assert _fenced(chained)
    assert not _fenced(kerrors.KafkaError("Cannot perform send", kerrors.KafkaTimeoutError()))
    assert not _fenced(kerrors.KafkaTimeoutError())
