"""The end-to-end proof: a driver killed with SIGKILL at random moments, restarted with get_or_create,
counts every Kafka record exactly once and keeps running totals equal to the input's."""
import collections
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from tests.faults.conftest import DSN

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "recoverable_wordcount.py"
WORDS = "alpha beta gamma delta epsilon zeta eta theta".split()


class Driver:
    def __init__(self, args, script=EXAMPLE):
        self.proc = subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.log.append(line)
            self.lines.put(line)

    def wait_for(self, text, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if text in self.lines.get(timeout=0.2):
                    return
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
        raise AssertionError(f"driver never printed {text!r}:\n" + "".join(self.log[-40:]))


@pytest.mark.timeout(300)
def test_driver_killed_at_random_moments_counts_exactly_once(kafka_broker, topic, prefix, tmp_path):
    name = topic(2)
    rng = random.Random(20261124)
    produced = collections.Counter()

    def produce_chunk():
        for p in range(2):
            lines = [" ".join(rng.choices(WORDS, k=5)) for _ in range(rng.randint(20, 60))]
            kafka_broker.produce(name, lines, partition=p)
            produced.update(w for line in lines for w in line.split())

    args = ["--bootstrap-servers", kafka_broker.bootstrap_servers, "--topic", name, "--checkpoint",
            str(tmp_path / "ckpt"), "--dsn", DSN, "--table-prefix", prefix, "--interval", "0.3"]
    kills = 0
    for run in range(4):
        produce_chunk()
        driver = Driver(args)
        driver.wait_for("a new context" if run == 0 else "recovered from the checkpoint", 90)
        driver.wait_for("started", 90)
        time.sleep(rng.uniform(0.0, 1.5))  # a random moment: before, during or between batches
        driver.proc.send_signal(signal.SIGKILL)
        driver.proc.wait(30)
        kills += 1
    produce_chunk()
    final = Driver(args + ["--stop-when-caught-up"])
    assert final.proc.wait(180) == 0, "".join(final.log[-40:])
    assert "recovered from the checkpoint" in "".join(final.log)
    assert kills == 4
    with psycopg.connect(DSN) as conn:
        counts = dict(conn.execute(f"SELECT word, n FROM {prefix}counts").fetchall())
        totals = dict(conn.execute(f"SELECT word, n FROM {prefix}totals").fetchall())
    assert counts == dict(produced)  # every record counted exactly once across the kills
    assert totals == dict(produced)  # the recovered running state equals the input's totals
