"""PySpark's KafkaUtils.createDirectStream through the facade, against the broker."""
import pytest

from dstreams.kafka import KafkaParamsError
from dstreams.pyspark import StreamingContext
from dstreams.pyspark.kafka import KafkaUtils, OffsetRange, TopicAndPartition
from dstreams.testing import run_batches


def pyspark_params(kafka_params):
    """The broker as PySpark programs give it: Kafka's own setting names."""
    servers = kafka_params["bootstrap_servers"]
    out = {"metadata.broker.list": servers if isinstance(servers, str) else ",".join(servers),
           "auto.offset.reset": "smallest"}
    out.update({k.replace("_", "."): v for k, v in kafka_params.items() if k != "bootstrap_servers"})
    return out


def test_a_direct_stream_gives_decoded_pairs_and_its_offset_ranges(kssc, kafka_params, topic, produce):
    name = topic(partitions=2)
    produce(name, 3, partition=0, prefix="a")
    produce(name, 2, partition=1, prefix="b")
    ssc = StreamingContext._of(kssc)
    stream = KafkaUtils.createDirectStream(ssc, [name], pyspark_params(kafka_params))
    values, ranges = [], []

    def keep(rdd):
        ranges.append(rdd.offsetRanges())
        values.append(sorted(v for _, v in rdd.collect()))

    stream.foreachRDD(keep)
    run_batches(kssc, 1)
    assert values == [["a0", "a1", "a2", "b0", "b1"]]  # (key, value) pairs decoded as UTF-8
    assert ranges == [[OffsetRange(name, 0, 0, 3), OffsetRange(name, 1, 0, 2)]]


def test_from_offsets_and_a_message_handler(kssc, kafka_params, topic, produce):
    name = topic(partitions=1)
    produce(name, 5, partition=0, prefix="m")
    ssc = StreamingContext._of(kssc)
    stream = KafkaUtils.createDirectStream(ssc, [name], pyspark_params(kafka_params),
                                           fromOffsets={TopicAndPartition(name, 0): 3},
                                           messageHandler=lambda m: (m.offset, m.message.decode()))
    out = []
    stream.foreachRDD(lambda rdd: out.append(sorted(rdd.collect())))
    run_batches(kssc, 1)
    assert out == [[(3, "m3"), (4, "m4")]]


def test_kafka_params_without_brokers_or_with_a_bad_reset_are_refused(kssc):
    ssc = StreamingContext._of(kssc)
    with pytest.raises(KafkaParamsError, match="metadata.broker.list"):
        KafkaUtils.createDirectStream(ssc, ["t"], {"group.id": "g"})
    with pytest.raises(KafkaParamsError, match="auto.offset.reset must be one of"):
        KafkaUtils.createDirectStream(ssc, ["t"], {"metadata.broker.list": "x:1", "auto.offset.reset": "soonest"})
