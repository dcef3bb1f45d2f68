"""Fixtures of the kill tests: a unique PostgreSQL table prefix, dropped afterwards."""
import uuid

import psycopg
import pytest

DSN = "host=127.0.0.1 dbname=test user=postgres"


@pytest.fixture
def prefix():
    """Tables of examples/recoverable_wordcount.py under a unique prefix."""
    p = f"kill_{uuid.uuid4().hex[:8]}_"
    yield p
    with psycopg.connect(DSN) as conn:
        for table in ("counts", "totals", "offsets"):
            conn.execute(f"DROP TABLE IF EXISTS {p}{table}")
