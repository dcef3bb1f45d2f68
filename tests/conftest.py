"""Shared fixtures: one small in-process Dask cluster per session, a fresh context per test."""
from __future__ import annotations

import pytest
from distributed import Client, LocalCluster

from dstreams import StreamingContext
from dstreams.testing import ManualClock


@pytest.fixture(scope="session")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=2, processes=False, dashboard_address=":0") as cluster:
        with Client(cluster, set_as_default=False) as c:
            yield c


@pytest.fixture
def ssc(client):
    """A StreamingContext with a 1 s batch interval on a ManualClock; stopped after the test."""
    ctx = StreamingContext(client, batch_interval=1, clock=ManualClock())
    yield ctx
    ctx.stop(stop_client=False)


