"""Results and offsets in one PostgreSQL transaction per partition; restart from the stored offsets."""
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "kafka_postgres_exactly_once.py"
DSN = "host=127.0.0.1 dbname=test user=postgres"


@pytest.fixture
def prefix(pg_prefix):
    return pg_prefix("word_counts", "kafka_offsets")


def run_example(bootstrap, topic, prefix, batches=2):
    proc = subprocess.run([sys.executable, str(EXAMPLE), "--bootstrap-servers", bootstrap, "--topic", topic,
                           "--dsn", DSN, "--table-prefix", prefix, "--batches", str(batches), "--interval", "0.5"],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout


def test_restart_resumes_from_offsets_stored_in_postgres(kafka_broker, topic, prefix):
    name = topic(2)
    kafka_broker.produce(name, ["a b", "b c"] * 5, partition=0)
    kafka_broker.produce(name, ["c"] * 4, partition=1)
    out1 = run_example(kafka_broker.bootstrap_servers, name, prefix)
    assert "resuming from offsets stored in PostgreSQL: []" in out1
    kafka_broker.produce(name, ["a"] * 3, partition=1)
    out2 = run_example(kafka_broker.bootstrap_servers, name, prefix)
    assert "resuming from offsets stored in PostgreSQL: [(0, 10), (1, 4)]" in out2
    with psycopg.connect(DSN) as conn:
        counts = dict(conn.execute(f"SELECT word, n FROM {prefix}word_counts").fetchall())
        offsets = sorted(conn.execute(f"SELECT part, until_offset FROM {prefix}kafka_offsets").fetchall())
    assert counts == {"a": 8, "b": 10, "c": 9}  # every record counted exactly once over two runs
    assert offsets == [(0, 10), (1, 7)]


def test_a_batch_stored_twice_counts_once(kafka_broker, prefix):
    sys.path.insert(0, str(EXAMPLE.parent))
    try:
        import kafka_postgres_exactly_once as ex
    finally:
        sys.path.pop(0)
    from collections import namedtuple

    from dstreams.kafka import OffsetRange

    Rec = namedtuple("Rec", "value")
    ex.stored_offsets(DSN, prefix, "app", "t")  # creates the tables
    r = OffsetRange("t", 0, 0, 2)
    assert ex.store_partition(DSN, prefix, "app", r, [Rec(b"x y"), Rec(b"x")]) == [3]
    assert ex.store_partition(DSN, prefix, "app", r, [Rec(b"x y"), Rec(b"x")]) == [0]  # the rerun
    with psycopg.connect(DSN) as conn:
        assert dict(conn.execute(f"SELECT word, n FROM {prefix}word_counts").fetchall()) == {"x": 2, "y": 1}
