"""Output operations: turn the RDD of a batch into a job that runs user code."""
from __future__ import annotations

from .._util import call_with_optional_time, describe, ms_to_datetime
from .base import DStream


class Job:
    """One output operation's work for one batch time."""

    def __init__(self, time_ms: int, output_id: int, description: str, func):
        self.time_ms = time_ms
        self.output_id = output_id
        self.description = description
        self.func = func

    def run(self):
        return self.func()

    def __repr__(self):
        return f"Job({self.description} @ {self.time_ms})"


class ForEachDStream(DStream):
    """Run ``func(rdd)`` or ``func(time, rdd)`` on the driver for every batch."""

    op = "foreach"

    def __init__(self, parent, func, description):
        if not callable(func):
            raise TypeError(f"{description}() needs a function of (rdd) or (time, rdd), got {func!r}")
        super().__init__(parent.ssc, [parent])
        self.func = func
        self.description = f"{description} at {describe(func)}"
        self.output_id = self.ssc.runtime.graph.add_output(self)

    def compute(self, t):
        return self.dependencies[0].get_or_compute(t)

    def generate_job(self, t: int) -> Job | None:
        rdd = self.get_or_compute(t)
        if rdd is None:
            return None
        return Job(t, self.output_id, self.description, lambda: call_with_optional_time(self.func, t, rdd))


def pprint(stream, num):
    def show(time, rdd):
        taken = rdd.take(num + 1)
        print("-------------------------------------------")
        print(f"Time: {time}")
        print("-------------------------------------------")
        for record in taken[:num]:
            print(record)
        if len(taken) > num:
            print("...")
        print("", flush=True)

    return ForEachDStream(stream, show, "pprint")


def save_as_text_files(stream, prefix, suffix):
    def save(time, rdd):
        ms = int(round(time.timestamp() * 1000))
        rdd.save_as_text_file(f"{prefix}-{ms}" + (f".{suffix}" if suffix else ""))

    return ForEachDStream(stream, save, "save_as_text_files")


def to_kafka(stream, topic, producer_params, transactional, group_id, transactional_id_prefix):
    from ..sources.kafka import settings, sink

    settings.check_topic_name(topic, "to_kafka() topic")
    sink._producer_config(producer_params)
    settings.check_flag(transactional, "to_kafka() transactional")
    for what, value in (("group_id", group_id), ("transactional_id_prefix", transactional_id_prefix)):
        if value is not None and (not isinstance(value, str) or not value):
            raise ValueError(f"to_kafka() {what} must be a non-empty string or None, got {value!r}")
        if value is not None and not transactional:
            raise ValueError(f"to_kafka() {what}={value!r} is only used with transactional=True; pass "
                             f"transactional=True, or leave {what} out")
    if transactional and group_id is None:
        raise ValueError("to_kafka(transactional=True) needs group_id: the consumer group whose offsets each "
                         "transaction commits (the group_id of the direct stream), e.g. group_id='wordcount'")
    sources = _kafka_sources(stream)

    def write(time, rdd):
        t = int(round(time.timestamp() * 1000))
        ranges = None
        if transactional and len(sources) == 1:
            ranges = sources[0].batch_ranges.get(t)
        consumer_params = dict(sources[0].kafka_params) if len(sources) == 1 else None
        sink.write(rdd, topic, producer_params, transactional, offset_ranges=ranges, group_id=group_id,
                   consumer_params=consumer_params, transactional_id_prefix=transactional_id_prefix)

    if transactional and len(sources) != 1:
        raise ValueError(
            f"to_kafka(transactional=True) commits the input offsets of one Kafka direct stream, but stream "
            f"'{stream.name}' reads from {len(sources)}; write each direct stream's results separately"
        )
    out = ForEachDStream(stream, write, "to_kafka")

    def on_start():
        from ..plugins import register_kafka_clients

        register_kafka_clients(out.ssc.client)  # the workers close their pooled producers when they stop
        if transactional:  # abort what a dead predecessor left open
            prefix = transactional_id_prefix or sink.default_prefix(group_id, topic)
            sink.abort_open_transactions(producer_params, sink.transactional_ids(prefix, sources[0].current_offsets))

    out.on_start = on_start
    return out


def _kafka_sources(stream):
    found, todo, seen = [], [stream], set()
    while todo:
        s = todo.pop()
        if id(s) in seen:
            continue
        seen.add(id(s))
        if type(s).__name__ == "DirectKafkaInputDStream":
            found.append(s)
        todo.extend(s.dependencies)
    return found


__all__ = ["ForEachDStream", "Job", "ms_to_datetime"]
