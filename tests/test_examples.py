"""Run every example program as a user would, and check it exits 0 and prints what it should.

Examples named ``kafka_*.py`` need a broker and are tested with the Kafka integration tests, as are the
notebooks (``*.ipynb``, run in a real kernel by tests/integration/kafka/test_kafka_examples.py).
A new example is picked up automatically; give it an entry in ``EXPECTED`` (a notebook: a test there).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
TIMEOUT_S = 60  # each example is meant to finish in well under 20 s

#: lines each example must print (each one as a whole line, ignoring surrounding spaces)
EXPECTED = {
    "wordcount_queue.py": ["word counts over all batches:", "the: 4", "quick: 2"],
    "windowed_counts.py": [
        "t=4s  last 3 s: {'blog': 1, 'docs': 1, 'home': 2}  since start: {'blog': 1, 'docs': 2, 'home': 3}",
        "windowed and running counts match the expected values",
    ],
    "text_file_stream.py": ["total lines: 9 in 3 files"],
    "socket_wordcount.py": ["word counts over all batches:", "the: 4", "quick: 2", "fox: 2"],
    "recoverable_wordcount.py": ["a new context", "words counted: 240"],
    "connection_pool.py": [
        "partitions written: 32 in 4 batches",
        "the pool opened at most max_size connections per worker and reused them",
        "pooled connections open after the workers shut down: 0",
        "rows in the table: 320 of 320 (all correct)",
    ],
}

EXAMPLES = sorted(p for p in EXAMPLES_DIR.glob("*.py") if not p.name.startswith("kafka_"))


def test_examples_are_found():
    assert EXAMPLES, f"no example programs found in {EXAMPLES_DIR}"


def test_every_notebook_is_run():
    from tests.integration.kafka.test_kafka_examples import NOTEBOOKS

    found = sorted(p.name for p in EXAMPLES_DIR.glob("*.ipynb"))
    assert found and set(found) <= set(NOTEBOOKS), (
        f"examples/ has notebooks {found} but tests/integration/kafka/test_kafka_examples.py runs {NOTEBOOKS}: "
        "add a test that runs the new one and checks its outputs, and name it in NOTEBOOKS")


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(path, tmp_path):
    if path.name not in EXPECTED:
        pytest.fail(
            f"examples/{path.name} has no expected output: add an entry for it to EXPECTED in {__file__}, "
            "with a line it must print"
        )
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    try:
        proc = subprocess.run(
            [sys.executable, str(path)], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"examples/{path.name} did not finish within {TIMEOUT_S} s; output so far:\n"
                    f"{_text(e.stdout)}\n{_text(e.stderr)}")
    report = (f"examples/{path.name} exited {proc.returncode}\n"
              f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}")
    assert proc.returncode == 0, report
    lines = {line.strip() for line in proc.stdout.splitlines()}
    missing = [want for want in EXPECTED[path.name] if want.strip() not in lines]
    assert not missing, f"missing output lines {missing}\n{report}"


def _text(out) -> str:
    if out is None:
        return ""
    return out.decode(errors="replace") if isinstance(out, bytes) else out
