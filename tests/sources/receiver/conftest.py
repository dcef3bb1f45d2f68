"""Leak check: after each receiver test, no receiver task, block or stop event is left on the cluster."""
from __future__ import annotations

import pytest

from .support import wait_until


def _leftovers(client):
    keys = [str(k) for k in client.who_has()]
    keys += [str(k) for ks in client.processing().values() for k in ks]
    return sorted(k for k in keys if k.startswith(("rblock-", "receiver-task-")))


@pytest.fixture(autouse=True)
def no_receiver_leftovers(request):
    yield
    if "client" not in request.fixturenames:
        return
    client = request.getfixturevalue("client")
    wait_until(lambda: not _leftovers(client), timeout=10,
               what=f"receiver tasks and blocks to be gone after the test: {_leftovers(client)}")
