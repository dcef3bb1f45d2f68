"""Secret Kafka settings never reach a checkpoint or an error message, and are given again at recovery."""
import io
import pathlib

import cloudpickle
import pytest

from dstreams import StreamingContext
from dstreams.checkpoint import CheckpointState, CheckpointWriter, read_latest
from dstreams.errors import CheckpointSecretError
from dstreams.kafka import KafkaParamsError, Secret, create_direct_stream
from dstreams.sources.kafka import sink
from dstreams.sources.kafka.clients import consumer_config
from dstreams.sources.kafka.secrets import protect
from dstreams.sources.kafka.stream import DirectKafkaInputDStream
from dstreams.testing import ManualClock

PASSWORD = "pa55-w0rd-never-written"
SSL_PASSWORD = "ssl-key-pa55phrase"
SERVERS = "127.0.0.1:1"  # nothing is contacted: the graph is only checkpointed and read back


def sasl(**more):
    return {"bootstrap_servers": SERVERS, "security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN",
            "sasl_plain_username": "app", "sasl_plain_password": PASSWORD, "ssl_password": SSL_PASSWORD, **more}


def secrets_in(obj) -> list:
    """Every Secret reachable from ``obj`` (the graph, the sink's closure...)."""
    found = []

    class Finder(cloudpickle.Pickler):
        def persistent_id(self, o):
            if isinstance(o, Secret):
                found.append(o)
                return "secret"
            if isinstance(o, StreamingContext) or type(o).__name__ == "Client":
                return "ref"
            return None

    Finder(io.BytesIO()).dump(obj)
    return found


def checkpointed(client, directory, **params):
    ssc = StreamingContext(client, 1, clock=ManualClock())
    ssc.checkpoint(str(directory))
    stream = create_direct_stream(ssc, ["events"], sasl(group_id="g", **params))
    stream.map(lambda r: r.value).to_kafka("out", sasl())
    writer = CheckpointWriter(str(directory))
    writer.write(CheckpointState(1000, 1000, str(directory), ssc.runtime.graph, []),
                 {"format": 1, "streams": {}, "sources": {}, "state": {}})
    ssc.stop()
    return stream


def every_byte(directory: pathlib.Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file())


def make_context(client):
    return lambda header: StreamingContext(client, header["batch_ms"] / 1000.0, clock=ManualClock())


def test_a_checkpoint_holds_no_secret_and_recovery_takes_them_again(client, tmp_path):
    directory = tmp_path / "ckpt"
    stream = checkpointed(client, directory)
    assert consumer_config(stream.kafka_params)["sasl_plain_password"] == PASSWORD  # the live stream has it
    data = every_byte(directory)
    assert data and PASSWORD.encode() not in data and SSL_PASSWORD.encode() not in data
    with pytest.raises(CheckpointSecretError, match=r"sasl_plain_password, ssl_password.*secrets="):
        read_latest(str(directory), make_context=make_context(client))
    state = read_latest(str(directory), make_context=make_context(client),
                        secrets={"sasl_plain_password": PASSWORD, "ssl_password": Secret(SSL_PASSWORD)})
    recovered = next(s for s in state.graph.streams if isinstance(s, DirectKafkaInputDStream))
    config = consumer_config(recovered.kafka_params)
    assert (config["sasl_plain_password"], config["ssl_password"]) == (PASSWORD, SSL_PASSWORD)
    found = secrets_in(state.graph)  # the source's params and the sink's producer_params
    assert len(found) == 4 and {s.get() for s in found} == {PASSWORD, SSL_PASSWORD}


def test_a_secret_from_the_environment_is_checkpointed_as_its_name(client, tmp_path, monkeypatch):
    monkeypatch.setenv("DSTREAMS_TEST_KAFKA_PASSWORD", PASSWORD)
    directory = tmp_path / "ckpt"
    checkpointed(client, directory, sasl_plain_password=Secret.from_env("DSTREAMS_TEST_KAFKA_PASSWORD"))
    assert PASSWORD.encode() not in every_byte(directory)
    state = read_latest(str(directory), make_context=make_context(client),
                        secrets=lambda setting: {"ssl_password": SSL_PASSWORD,
                                                 "sasl_plain_password": "sink"}[setting])
    recovered = next(s for s in state.graph.streams if isinstance(s, DirectKafkaInputDStream))
    assert consumer_config(recovered.kafka_params)["sasl_plain_password"] == PASSWORD  # the source's, from its variable
    monkeypatch.delenv("DSTREAMS_TEST_KAFKA_PASSWORD")
    with pytest.raises(KafkaParamsError, match="DSTREAMS_TEST_KAFKA_PASSWORD, which is not set"):
        consumer_config(recovered.kafka_params)


def test_secrets_reach_workers_as_values_and_never_show_in_a_repr():
    secret = Secret(PASSWORD, "sasl_plain_password")
    assert PASSWORD not in repr(secret) and PASSWORD not in repr(protect(sasl(group_id="g")))
    assert cloudpickle.loads(cloudpickle.dumps(secret)).get() == PASSWORD  # a task's arguments on a worker


def test_error_messages_mask_secret_settings():
    bad = {"sasl_plain_password": PASSWORD, "ssl_password": SSL_PASSWORD, "security_protocol": "SASL_SSL"}
    with pytest.raises(KafkaParamsError) as caught:
        sink._producer_config(bad)  # no bootstrap_servers: the dict is printed
    assert "sasl_plain_password" in str(caught.value) and "*****" in str(caught.value)
    assert PASSWORD not in str(caught.value) and SSL_PASSWORD not in str(caught.value)
    with pytest.raises(KafkaParamsError) as caught:
        consumer_config(sasl(group_id="g", security_protocol="SASL-SSL"))
    assert PASSWORD not in str(caught.value)
