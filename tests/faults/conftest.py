"""Fixtures of the kill tests."""
import pytest

DSN = "host=127.0.0.1 dbname=test user=postgres"


@pytest.fixture
def prefix(pg_prefix):
    """Tables of examples/recoverable_wordcount.py under a unique prefix, dropped afterwards."""
    return pg_prefix("counts", "totals", "offsets", base="kill")
