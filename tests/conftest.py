"""Shared fixtures: one small in-process Dask cluster per session, a fresh context per test."""
from __future__ import annotations

import faulthandler
import os
import re
import socket
import sys
import uuid

import pytest
from distributed import Client, LocalCluster

from dstreams import StreamingContext
from dstreams.dev.broker import DevBroker
from dstreams.testing import ManualClock

#: a test (setup, call and teardown) still running this many seconds after its pytest-timeout is a hang:
#: pytest-timeout should have failed it; if Python itself is stuck (a lock in a finalizer, the GIL held
#: by native code), this C-level watchdog prints every thread's stack to stderr and exits, so a hang
#: fails the run in minutes and shows where it was, instead of stalling CI
WATCHDOG_GRACE_S = float(os.environ.get("DSTREAMS_TEST_WATCHDOG_GRACE_S", 180))


def _watchdog_s(item) -> float:
    marker = item.get_closest_marker("timeout")
    if marker is not None and marker.args:
        timeout = float(marker.args[0])
    else:
        timeout = float(item.config.getini("timeout") or 0)
    return max(timeout, 1.0) + WATCHDOG_GRACE_S


def _terminal_fd(config) -> int:
    """The stderr the run started with: pytest's fd capture points fd 2 at a temporary file."""
    try:
        return config.pluginmanager.getplugin("capturemanager")._global_capturing.err.targetfd_save
    except AttributeError:  # capture off (-s) or another pytest layout: fd 2 is the terminal
        return sys.__stderr__.fileno()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    faulthandler.dump_traceback_later(_watchdog_s(item), exit=True, file=_terminal_fd(item.config))
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


@pytest.fixture(scope="session")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=2, processes=False, dashboard_address=":0") as cluster:
        with Client(cluster, set_as_default=False) as c:
            yield c


@pytest.fixture(scope="session")
def process_client(tmp_path_factory):
    """A cluster of two worker processes started without a nanny, each with its own PYTHONHASHSEED, as
    `dask worker --no-nanny` runs them: what crosses processes (pickling, hashing, placement) is tested."""
    from tests.helpers import dask_cli_cluster

    workers = [(["--no-nanny", "--nthreads", "1"], {"PYTHONHASHSEED": seed}) for seed in ("1", "2")]
    with dask_cli_cluster(tmp_path_factory.mktemp("process-cluster"), workers, nworkers=2) as address:
        with Client(address, set_as_default=False) as c:
            yield c


@pytest.fixture
def ssc(client):
    """A StreamingContext with a 1 s batch interval on a ManualClock; stopped after the test."""
    ctx = StreamingContext(client, batch_interval=1, clock=ManualClock())
    yield ctx
    ctx.stop(stop_client=False)




# -- a real Kafka-protocol broker (noida-db, see dstreams.dev.broker), started once per session on first use

@pytest.fixture(scope="session")
def kafka_broker():
    """One DevBroker for the whole session."""
    with DevBroker() as broker:
        yield broker


@pytest.fixture
def kafka_params(kafka_broker):
    """Consumer params for the session broker.

    noida-db answers a fetch with the partition's whole remaining log, whatever
    the size limits, so allow large responses.
    """
    return {
        "bootstrap_servers": kafka_broker.bootstrap_servers,
        "receive_message_max_bytes": 256 * 1024 * 1024,
        "request_timeout_ms": 10_000,
    }


@pytest.fixture
def topic(kafka_broker, request):
    """Factory: ``topic(partitions=1)`` creates a topic with a unique name and returns the name."""

    def make(partitions: int = 1, name: str | None = None) -> str:
        if name is None:
            base = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name)[:60]
            name = f"{base}-{uuid.uuid4().hex[:8]}"
        kafka_broker.create_topic(name, partitions)
        return name

    return make


@pytest.fixture
def produce(kafka_broker):
    """``produce(topic, n, partition=0, prefix="m")`` sends values ``prefix0..prefix{n-1}``.

    Returns the offsets the records got, in order.
    """

    def send(topic: str, n: int, partition: int = 0, prefix: str = "m") -> list[int]:
        placed = kafka_broker.produce(topic, [f"{prefix}{i}" for i in range(n)], partition=partition)
        assert all(p == partition for p, _ in placed)
        return [offset for _, offset in placed]

    return send


@pytest.fixture
def closed_port():
    """A local port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def transactional_producer(kafka_broker):
    """Factory of transactional producers (closed after the test)."""
    producers = []

    from kafka import KafkaProducer

    def make() -> KafkaProducer:
        producer = KafkaProducer(
            bootstrap_servers=kafka_broker.bootstrap_servers, transactional_id=f"tx-{uuid.uuid4().hex[:8]}"
        )
        producer.init_transactions()
        producers.append(producer)
        return producer

    yield make
    for producer in producers:
        producer.close(timeout=5)


# -- PostgreSQL (127.0.0.1:5432, trust auth, database test) for the exactly-once tests

@pytest.fixture
def pg_prefix():
    """``pg_prefix(*tables, base="t")``: a unique table prefix; those tables are dropped after the test."""
    import psycopg

    made = []

    def make(*tables, base="t"):
        prefix = f"{base}_{uuid.uuid4().hex[:8]}_"
        made.append((prefix, tables))
        return prefix

    yield make
    with psycopg.connect("host=127.0.0.1 dbname=test user=postgres") as conn:
        for prefix, tables in made:
            for table in tables:
                conn.execute(f"DROP TABLE IF EXISTS {prefix}{table}")
