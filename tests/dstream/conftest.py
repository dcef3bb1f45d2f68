"""The operator tables run twice: on the in-process cluster, and on worker processes started without a
nanny (each with its own hash seed), where user functions are pickled and keys hashed in other processes."""
import pytest


@pytest.fixture(scope="session", params=["in-process", "worker-processes"])
def client(request, client):
    if request.param == "in-process":
        return client
    return request.getfixturevalue("process_client")
