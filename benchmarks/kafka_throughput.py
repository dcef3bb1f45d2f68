"""Kafka throughput: a dstreams word count against bare kafka-python consumers and against streamz.

One run starts a dev broker (noida-db), fills a 4-partition topic with N records of 99 bytes (ten
9-letter words each), and measures on that topic:

(a) the ceiling: one bare kafka-python consumer per partition, each in its own process, reading its
    partition from the start to its end offset and dropping the records; records/s = N / wall time.
    It runs twice, before (b) and after (c); the better run counts, so the ratio is not flattered by
    a slow ceiling run. For reference (not the ceiling), the same consumers with dstreams' record
    decoder plugged in (``dstreams.sources.kafka.decoder``) run once: reading alone, as dstreams reads.
(b) dstreams: ``create_direct_stream(..., starting_offsets="earliest")`` and a word count
    (``flat_map`` over the values' words, ``map`` to pairs, ``reduce_by_key``) on
    ``LocalCluster(n_workers=2, threads_per_worker=1)`` (worker processes); records/s = N / (end of
    the batch that completes the N records - processing start of the first batch), from the
    listener's BatchInfo. Every word must be counted: 10 x N.
(c) streamz: ``Stream.from_kafka_batched(..., dask=True)`` on the same cluster with the same work per
    batch (the words of every value, the pairs, a per-key combine, all as Dask tasks; the per-batch
    dicts are merged on the client); records/s = N / (last batch's result - start). Skipped, saying
    why, when streamz or confluent-kafka is missing or fails here.

The stream reads a backlog (the topic is full before it starts) in batches of 50,000 records per
partition: a batch interval of 0.25 s and max_rate_per_partition 200,000/s. The rate limit is set
well above what the stream processes, so it never holds the stream back: batches run back to back
and records/s is the stream's processing capacity at that batch size.

    python benchmarks/kafka_throughput.py                   # 1,000,000 records
    python benchmarks/kafka_throughput.py --records 200000  # quicker

`make bench` runs it. It prints records/s for each and the ratios dstreams/ceiling and dstreams/streamz.
The dev broker keeps every record in memory and answers a fetch with the partition's whole remaining
log, so consumers here need a large receive_message_max_bytes.
"""
from __future__ import annotations

import argparse
import collections
import multiprocessing
import operator
import os
import queue
import threading
import time

PARTITIONS = 4
WORDS_PER_RECORD = 10
VOCABULARY = [f"word{i:05d}" for i in range(10_000)]
TOPIC = "throughput"
WARMUP_TOPIC = "warm-up"
# noida-db answers a fetch with the partition's whole remaining log: allow large responses.
MAX_RESPONSE_BYTES = 512 * 1024 * 1024


def record(i: int) -> bytes:
    """Record ``i``: ten words of 9 letters separated by spaces, 99 bytes."""
    n = len(VOCABULARY)
    return " ".join([VOCABULARY[(i * 31 + j * 17) % n] for j in range(WORDS_PER_RECORD)]).encode()


def _wait_results(procs, results, n, timeout, what):
    """``n`` items from ``results``, failing fast if a process died."""
    out, deadline = [], time.monotonic() + timeout
    while len(out) < n:
        try:
            out.append(results.get(timeout=0.5))
        except queue.Empty:
            dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            if dead or time.monotonic() > deadline:
                for p in procs:
                    p.kill()
                raise SystemExit(f"{what} failed: exit codes {[p.exitcode for p in procs]}"
                                 + ("" if dead else f", or took over {timeout:.0f}s")) from None
    return out


# --------------------------------------------------------------------------- fill


def _fill_partition(bootstrap: str, partition: int, start: int, stop: int, results) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=512 * 1024,
                             max_request_size=8 * 1024 * 1024, acks=1)
    for i in range(start, stop):
        producer.send(TOPIC, record(i), partition=partition)
    producer.flush(timeout=600)
    producer.close()
    results.put(partition)


def fill(bootstrap: str, n: int) -> float:
    """Produce ``n`` records, a quarter to each partition, one producer process per partition.

    Returns the seconds taken.
    """
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    bounds = [n * p // PARTITIONS for p in range(PARTITIONS + 1)]
    procs = [ctx.Process(target=_fill_partition, args=(bootstrap, p, bounds[p], bounds[p + 1], results))
             for p in range(PARTITIONS)]
    start = time.perf_counter()
    for p in procs:
        p.start()
    _wait_results(procs, results, len(procs), max(300.0, n / 1_000), "filling the topic")
    elapsed = time.perf_counter() - start
    for p in procs:
        p.join()
    return elapsed


def end_offsets(bootstrap: str) -> dict[int, int]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        ends = consumer.end_offsets([TopicPartition(TOPIC, p) for p in range(PARTITIONS)])
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        consumer.close()


# --------------------------------------------------------------------------- (a) the ceiling


def _read_partition(bootstrap: str, partition: int, ready, go, results, dstreams_decoder: bool) -> None:
    from kafka import KafkaConsumer, TopicPartition

    tp = TopicPartition(TOPIC, partition)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             receive_message_max_bytes=MAX_RESPONSE_BYTES, max_poll_records=10_000)
    if dstreams_decoder:
        from dstreams.sources.kafka import decoder

        if not decoder.install(consumer):
            raise SystemExit("dstreams' record decoder is off or does not fit this kafka-python")  # checked before
    consumer.assign([tp])
    end = consumer.end_offsets([tp])[tp]
    ready.put(partition)
    go.wait()
    consumer.seek_to_beginning(tp)
    n = 0
    while consumer.position(tp) < end:
        for records in consumer.poll(timeout_ms=1000).values():
            n += len(records)
    results.put(n)
    consumer.close()


def ceiling(bootstrap: str, n: int, dstreams_decoder: bool = False) -> float:
    """Bare kafka-python consumers, one process per partition, reading all ``n`` records; seconds.

    With ``dstreams_decoder``, the consumers decode with dstreams' record decoder instead of kafka-python's.
    """
    ctx = multiprocessing.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_read_partition, args=(bootstrap, p, ready, go, results, dstreams_decoder))
             for p in range(PARTITIONS)]
    for p in procs:
        p.start()
    # time only the reading: every process has imported kafka-python and connected before "go"
    _wait_results(procs, ready, len(procs), 120.0, "starting the ceiling's consumers")
    start = time.perf_counter()
    go.set()
    counts = _wait_results(procs, results, len(procs), max(120.0, n / 5_000), "the ceiling's consumers")
    elapsed = time.perf_counter() - start
    for p in procs:
        p.join()
    if sum(counts) != n:
        raise SystemExit(f"the ceiling's consumers read {sum(counts)} records, expected {n}")
    return elapsed


# --------------------------------------------------------------------------- (b) dstreams


def warm_up_dstreams(client, bootstrap: str) -> float:
    """One small word count on another topic, so that the measured run starts with warm worker
    processes (imports, first connections), as the ceiling's processes are ready before they are timed."""
    from kafka import KafkaProducer

    from dstreams import StreamingContext
    from dstreams.kafka import create_direct_stream

    started = time.monotonic()
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=10)
    for i in range(4_000):
        producer.send(WARMUP_TOPIC, record(i), partition=i % PARTITIONS)
    producer.flush()
    producer.close()
    ssc = StreamingContext(client, batch_interval=0.5)
    seen = []
    params = {"bootstrap_servers": bootstrap, "receive_message_max_bytes": MAX_RESPONSE_BYTES}
    create_direct_stream(ssc, [WARMUP_TOPIC], params, starting_offsets="earliest") \
        .flat_map(lambda r: r.value.decode().split()).map(lambda w: (w, 1)).reduce_by_key(operator.add) \
        .foreach_rdd(lambda rdd: seen.append(len(rdd.collect())))
    ssc.start()
    deadline = time.monotonic() + 60
    while not any(seen) and time.monotonic() < deadline:
        time.sleep(0.05)
    ssc.stop(stop_client=False)
    return time.monotonic() - started


def run_dstreams(client, bootstrap: str, n: int, batch_interval: float, max_rate: float | None,
                 timeout: float) -> tuple[float, list]:
    """The dstreams word count until its batches hold ``n`` records; (seconds, BatchInfo of each batch)."""
    from dstreams import StreamingContext, StreamingListener
    from dstreams.kafka import create_direct_stream

    class Batches(StreamingListener):
        def __init__(self):
            self.infos, self.records, self.done = [], 0, threading.Event()

        def on_batch_completed(self, info):
            if self.done.is_set():
                return
            if info.num_records or self.infos:  # from the first batch with records on
                self.infos.append(info)
                self.records += info.num_records
                if self.records >= n or info.failure_reason:
                    self.done.set()

    words = collections.Counter()
    ssc = StreamingContext(client, batch_interval=batch_interval)
    batches = Batches()
    ssc.add_listener(batches)
    params = {"bootstrap_servers": bootstrap, "group_id": "bench-dstreams",
              "receive_message_max_bytes": MAX_RESPONSE_BYTES}
    stream = create_direct_stream(ssc, [TOPIC], params, starting_offsets="earliest", max_rate_per_partition=max_rate)
    counts = stream.flat_map(lambda r: r.value.decode().split()).map(lambda w: (w, 1)).reduce_by_key(operator.add)
    counts.foreach_rdd(lambda rdd: words.update(dict(rdd.collect())))
    ssc.start()
    try:
        finished = batches.done.wait(timeout)
    finally:
        ssc.stop(stop_client=False)
    ssc.await_termination(0)  # re-raises a failed batch
    failed = [i.failure_reason for i in batches.infos if i.failure_reason]
    if failed:
        raise SystemExit(f"a dstreams batch failed: {failed[0]}")
    if not finished:
        raise SystemExit(f"dstreams did not process {n} records within {timeout:.0f}s "
                         f"({batches.records} in {len(batches.infos)} batches)")
    infos = batches.infos
    if batches.records != n or sum(words.values()) != n * WORDS_PER_RECORD:
        raise SystemExit(f"dstreams processed {batches.records} records and {sum(words.values())} words, "
                         f"expected {n} and {n * WORDS_PER_RECORD}")
    return (infos[-1].processing_end_time_ms - infos[0].processing_start_time_ms) / 1000, infos


# --------------------------------------------------------------------------- (c) streamz


def streamz_unavailable() -> str | None:
    """Why streamz cannot run here, or None."""
    try:
        import confluent_kafka  # noqa: F401
        import streamz  # noqa: F401
    except ImportError as exc:
        return f"{exc} (pip install streamz confluent-kafka)"
    return None


# The per-batch work of (c): what dstreams' flat_map, map and map-side combine do to a partition.
def _words(values):
    return [w for v in values for w in v.decode().split()]


def _pairs(words):
    return [(w, 1) for w in words]


def _combine(pairs):
    acc: dict = {}
    for k, v in pairs:
        acc[k] = acc[k] + v if k in acc else v
    return acc


def run_streamz(bootstrap: str, n: int, poll_interval: float, max_batch_size: int, timeout: float) -> float:
    """The word count with streamz on the default Dask client; seconds."""
    from streamz import Stream

    params = {"bootstrap.servers": bootstrap, "group.id": "bench-streamz", "auto.offset.reset": "earliest",
              "receive.message.max.bytes": MAX_RESPONSE_BYTES, "fetch.max.bytes": MAX_RESPONSE_BYTES // 2,
              "log_level": 3}
    source = Stream.from_kafka_batched(TOPIC, params, poll_interval=poll_interval, npartitions=PARTITIONS,
                                       max_batch_size=max_batch_size, dask=True)
    words = collections.Counter()
    done = threading.Event()
    last = [0.0]

    def merge(counts):
        words.update(counts)
        last[0] = time.perf_counter()
        if sum(words.values()) >= n * WORDS_PER_RECORD:
            done.set()

    source.map(_words).map(_pairs).map(_combine).gather().sink(merge)
    kafka_source = source
    while not hasattr(kafka_source, "poll_kafka"):
        kafka_source = kafka_source.upstreams[0]
    source.start()  # creates the source's consumer (blocks about 1 s), then polls on the client's loop
    start = time.perf_counter()
    try:
        if not done.wait(timeout):
            raise RuntimeError(f"streamz did not count {n * WORDS_PER_RECORD} words within {timeout:.0f}s "
                               f"({sum(words.values())} so far)")
    finally:
        source.stop()
        time.sleep(poll_interval + 0.5)  # the polling loop notices the stop after its sleep
        consumer = getattr(kafka_source, "consumer", None)
        if consumer is not None:
            consumer.close()  # streamz leaves it to garbage collection, after the broker is gone
    if sum(words.values()) != n * WORDS_PER_RECORD:
        raise RuntimeError(f"streamz counted {sum(words.values())} words, expected {n * WORDS_PER_RECORD}")
    return last[0] - start


# --------------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000, help="records to produce and read (default 1,000,000)")
    ap.add_argument("--batch-interval", type=float, default=0.25,
                    help="dstreams batch interval and streamz poll interval, seconds (default 0.25)")
    ap.add_argument("--max-rate-per-partition", type=float, default=200_000,
                    help="dstreams max_rate_per_partition, records/s; streamz gets max_batch_size = this x the "
                         "interval (default 200,000: batches of 50,000 per partition; 0: unlimited)")
    ap.add_argument("--no-streamz", action="store_true", help="skip the streamz measurement")
    args = ap.parse_args()
    n, interval = args.records, args.batch_interval
    max_rate = args.max_rate_per_partition or None
    per_batch = int(max_rate * interval) if max_rate else n
    timeout = max(120.0, n / 5_000)

    from distributed import Client, LocalCluster

    from dstreams.dev.broker import DevBroker

    with DevBroker() as broker:
        bootstrap = broker.bootstrap_servers
        broker.create_topic(TOPIC, PARTITIONS)
        broker.create_topic(WARMUP_TOPIC, PARTITIONS)
        took = fill(bootstrap, n)
        ends = end_offsets(bootstrap)
        if sum(ends.values()) != n:
            raise SystemExit(f"the topic holds {sum(ends.values())} records after the fill, expected {n}: {ends}")
        print(f"filled {TOPIC!r} ({PARTITIONS} partitions) with {n:,} records of {len(record(0))} bytes "
              f"in {took:.1f}s ({n / took:,.0f} records/s)", flush=True)

        warm_s = ceiling(bootstrap, n)  # the broker serves a log's first read more slowly: warm it up
        print(f"warm-up read of every partition: {warm_s:.1f}s (not counted)", flush=True)
        ceil_s = [ceiling(bootstrap, n)]
        print(f"(a) ceiling, bare kafka-python, 1 process per partition: {n / ceil_s[0]:9,.0f} records/s "
              f"({ceil_s[0]:.1f}s)", flush=True)
        from dstreams.sources.kafka import decoder

        if decoder.enabled():
            fast_s = ceiling(bootstrap, n, dstreams_decoder=True)
            print(f"    reference: the same with dstreams' record decoder:  {n / fast_s:9,.0f} records/s "
                  f"({fast_s:.1f}s; not the ceiling)", flush=True)
        else:
            print("    reference with dstreams' record decoder skipped: the decoder is off", flush=True)

        # the workers (started below, with this environment) pause the collector while records are decoded,
        # as a throughput-minded deployment would set it (see docs/performance.md)
        os.environ.setdefault("DSTREAMS_KAFKA_GC_PAUSE", "1")
        print(f"    DSTREAMS_KAFKA_GC_PAUSE={os.environ['DSTREAMS_KAFKA_GC_PAUSE']} on the dask workers", flush=True)
        with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster, \
                Client(cluster) as client:
            print(f"warm-up of the dask workers (a small word count on another topic): "
                  f"{warm_up_dstreams(client, bootstrap):.1f}s (not counted)", flush=True)
            ds_s, infos = run_dstreams(client, bootstrap, n, interval, max_rate, timeout)
            ds_rate = n / ds_s
            print(f"(b) dstreams word count:                                {ds_rate:9,.0f} records/s "
                  f"({ds_s:.1f}s; {len(infos)} batches, interval {interval:g}s, max_rate_per_partition "
                  f"{max_rate and f'{max_rate:,.0f}'}; batch processing times "
                  f"{', '.join(f'{i.processing_delay:.1f}' for i in infos)}s)", flush=True)

            sz_rate, why = None, ("--no-streamz" if args.no_streamz else streamz_unavailable())
            if why is None:
                try:
                    sz_s = run_streamz(bootstrap, n, interval, per_batch, timeout)
                    sz_rate = n / sz_s
                    print(f"(c) streamz word count:                                 {sz_rate:9,.0f} records/s "
                          f"({sz_s:.1f}s; poll_interval {interval:g}s, max_batch_size {per_batch:,})", flush=True)
                except Exception as exc:  # noqa: BLE001 - report and go on
                    why = f"{type(exc).__name__}: {exc}"
            if why is not None:
                print(f"(c) streamz skipped: {why}", flush=True)

        ceil_s.append(ceiling(bootstrap, n))
        print(f"(a) ceiling again:                                      {n / ceil_s[1]:9,.0f} records/s "
              f"({ceil_s[1]:.1f}s)", flush=True)

    ceil_rate = n / min(ceil_s)
    print(f"dstreams / ceiling: {ds_rate / ceil_rate:.2f}x (aim >= 0.8x; ceiling = the better run, "
          f"{ceil_rate:,.0f} records/s)")
    if sz_rate is not None:
        print(f"dstreams / streamz: {ds_rate / sz_rate:.2f}x (aim > 1x)")


if __name__ == "__main__":
    main()
