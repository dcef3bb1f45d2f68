"""The Streaming page and the metrics of a Kafka direct stream: offset ranges, latest offsets, lag, commits."""
from prometheus_client.parser import text_string_to_metric_families

from dstreams.kafka import create_direct_stream
from dstreams.testing import run_batches
from tests.dashboard.test_page import get, wait_for


def test_the_page_shows_each_partitions_range_latest_offset_lag_and_commit(kssc, kafka_params, topic, produce):
    name = topic(partitions=2)
    produce(name, 30, partition=0)
    produce(name, 4, partition=1)
    params = dict(kafka_params, group_id=f"g-{name}")
    stream = create_direct_stream(kssc, [name], params, starting_offsets="earliest",
                                  max_rate_per_partition=10).named("events")  # 10 records a batch at most
    stream.foreach_rdd(lambda rdd: stream.commit(rdd.offset_ranges))
    run_batches(kssc, 2)
    run = wait_for(kssc, lambda r: r["batches_completed"] == 2, "2 batches")
    (source,) = run["sources"]
    assert (source["name"], source["kind"], source["records"]) == ("events", "kafka", 24)
    by_partition = {p["partition"]: p for p in source["partitions"]}
    # the second batch read 10..20 of partition 0 (rate-limited) with 30 on the broker: 10 behind
    assert {k: by_partition[0][k] for k in ("topic", "from", "until", "latest", "lag")} == {
        "topic": name, "from": 10, "until": 20, "latest": 30, "lag": 10}
    assert {k: by_partition[1][k] for k in ("from", "until", "latest", "lag")} == {
        "from": 4, "until": 4, "latest": 4, "lag": 0}
    assert (by_partition[0]["committed"], by_partition[1]["committed"]) == (20, 4)
    text = get(kssc.runtime.dashboard_url.replace("/streaming", "/metrics")).decode()
    samples = {(s.name, s.labels.get("partition")): s.value for f in text_string_to_metric_families(text)
               for s in f.samples if s.labels.get("topic") == name}
    assert samples[("dstreams_kafka_lag_records", "0")] == 10 and samples[("dstreams_kafka_lag_records", "1")] == 0
    assert samples[("dstreams_kafka_committed_offset", "0")] == 20
