"""Bad arguments of create_direct_stream and to_kafka are refused at the call, naming the argument and the value.

Nothing here contacts a broker: every check runs when the stream or the output operation is defined.
"""
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dstreams.kafka import DeadLetter, create_direct_stream

PARAMS = {"bootstrap_servers": "127.0.0.1:9092"}
PRODUCER = {"bootstrap_servers": "127.0.0.1:9092"}
GIVEN = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

not_a_number = st.one_of(st.text(max_size=5), st.booleans(), st.lists(st.integers(), max_size=2), st.just(object()))
bad_rate = st.one_of(st.sampled_from([math.nan, math.inf, -math.inf, 0, 0.0, -1]),
                     st.floats(max_value=0, allow_nan=False), st.integers(max_value=0), not_a_number)
not_a_text_choice = st.one_of(st.text(max_size=8), st.integers(), st.none(), st.booleans())

#: argument of create_direct_stream -> values it refuses
STREAM_ARGUMENTS = {
    "max_rate_per_partition": bad_rate,
    "initial_rate": bad_rate,
    "min_rate": st.one_of(bad_rate, st.none()),
    "poll_timeout_ms": st.one_of(st.integers(max_value=0), st.sampled_from([1.5, math.nan, "30000", True])),
    "broker_wait_s": st.one_of(st.sampled_from(["abc", "-2s", "2 parsecs", math.nan, math.inf, -1, None, True]),
                               st.floats(max_value=-0.001), st.text(alphabet="xyz!?", max_size=5),
                               not_a_number.filter(lambda v: v is not False and not isinstance(v, str))),
    "backpressure": st.one_of(st.sampled_from(["no", "yes", 0, 1, None]), st.text(max_size=4), st.integers()),
    "on_truncation": not_a_text_choice.filter(lambda v: v not in ("fail", "reset")),
    "on_missing_offsets": not_a_text_choice.filter(lambda v: v not in ("error", "earliest")),
    "on_deserialization_error": not_a_text_choice.filter(lambda v: v not in ("fail", "skip")),
}

#: kafka_params setting -> values it refuses
SETTINGS = {
    "bootstrap_servers": st.one_of(st.integers(), st.sampled_from(["", [], [""], [1], {"a": 1}, b"x:1", None])),
    "security_protocol": st.one_of(st.sampled_from(["BOGUS", "plaintext", "TLS"]), st.integers()),
    "auto_offset_reset": st.one_of(st.sampled_from(["beginning", "EARLIEST", "end"]), st.integers()),
    "isolation_level": st.one_of(st.sampled_from(["committed", "READ_COMMITTED"]), st.booleans()),
    "sasl_mechanism": st.sampled_from(["plain", "SCRAM", 1]),
    "request_timeout_ms": st.one_of(st.integers(max_value=-1), st.sampled_from(["10s", 1.5, math.inf, None])),
    "check_crcs": st.sampled_from(["yes", 1, None]),
    "group_id": st.sampled_from(["", 5, b"g"]),
    "value_deserializer": st.one_of(st.integers(), st.text(max_size=5), st.just(b"json")),
    "key_deserializer": st.sampled_from([42, "str", [len]]),
}


@pytest.mark.parametrize("kind,name", [("argument", a) for a in sorted(STREAM_ARGUMENTS)]
                         + [("setting", s) for s in sorted(SETTINGS)])
@GIVEN
@given(data=st.data())
def test_bad_arguments_and_setting_values_are_refused_naming_them(ssc, kind, name, data):
    value = data.draw((STREAM_ARGUMENTS if kind == "argument" else SETTINGS)[name], label=name)
    kwargs, params = ({name: value}, PARAMS) if kind == "argument" else ({}, dict(PARAMS, **{name: value}))
    with pytest.raises((ValueError, TypeError)) as refused:
        create_direct_stream(ssc, ["events"], params, **kwargs)
    assert name in str(refused.value) and repr(value) in str(refused.value)
    assert ssc.runtime.graph.inputs == []  # refused before joining the graph


@GIVEN
@given(topics=st.one_of(st.sampled_from(["", [], [""], ["ok", ""], ["a b"], "x" * 250, [None], 7, b"events",
                                         {"events": 1}, "."]),
                        st.text(min_size=1, max_size=10).filter(lambda t: any(c in t for c in " /:\u00e9*"))))
def test_bad_topics_are_refused_naming_them(ssc, topics):
    with pytest.raises(ValueError) as refused:
        create_direct_stream(ssc, topics, PARAMS)
    assert "topics" in str(refused.value)


def test_good_values_pass(ssc):
    params = dict(PARAMS, security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512",
                  isolation_level="read_committed", auto_offset_reset="earliest", request_timeout_ms=5000,
                  check_crcs=False, group_id="g", bootstrap_servers=["a:1", "b:2"], value_deserializer=bytes.decode)
    stream = create_direct_stream(ssc, ["events", "other.topic_1"], params, max_rate_per_partition=10.5,
                                  backpressure=True, initial_rate=5, poll_timeout_ms=1, broker_wait_s=0,
                                  on_truncation="reset", on_deserialization_error=DeadLetter("dead"))
    assert (stream.max_rate_per_partition, stream.poll_timeout_ms, stream.backpressure) == (10.5, 1, True)


def _to_kafka_cases():
    """(keyword arguments of to_kafka that are wrong, the argument the message must name)."""
    good = {"topic": "out", "producer_params": PRODUCER}
    return st.sampled_from([
        (dict(good, topic=""), "topic"),
        (dict(good, topic="a b"), "topic"),
        (dict(good, topic=None), "topic"),
        (dict(good, producer_params={}), "producer_params"),
        (dict(good, producer_params=None), "producer_params"),
        (dict(good, producer_params={"bootstrap_servers": 123}), "bootstrap_servers"),
        (dict(good, producer_params=dict(PRODUCER, acks="some")), "acks"),
        (dict(good, producer_params=dict(PRODUCER, compression_type="rar")), "compression_type"),
        (dict(good, producer_params=dict(PRODUCER, security_protocol="BOGUS")), "security_protocol"),
        (dict(good, producer_params=dict(PRODUCER, linger_ms=-5)), "linger_ms"),
        (dict(good, producer_params=dict(PRODUCER, **{"bootstrap.servers": "x:1"})), "bootstrap.servers"),
        (dict(good, producer_params=dict(PRODUCER, transactional_id="t")), "transactional_id"),
        (dict(good, transactional="yes"), "transactional"),
        (dict(good, transactional=True), "group_id"),
        (dict(good, transactional=True, group_id=""), "group_id"),
        (dict(good, group_id="g"), "group_id"),
        (dict(good, transactional_id_prefix="p"), "transactional_id_prefix"),
        (dict(good, transactional=True, group_id="g"), "one Kafka direct stream"),  # a queue stream has none
    ])


@GIVEN
@given(case=_to_kafka_cases())
def test_to_kafka_misconfigurations_are_refused_at_the_call(ssc, case):
    kwargs, named = case
    stream = ssc.queue_stream([["a"]])
    outputs = len(ssc.runtime.graph.outputs)
    with pytest.raises((ValueError, TypeError)) as refused:
        stream.to_kafka(**kwargs)
    assert named in str(refused.value)
    assert len(ssc.runtime.graph.outputs) == outputs  # no output operation was added
