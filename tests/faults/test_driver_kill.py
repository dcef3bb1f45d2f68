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
from tests.helpers import die_with_parent

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "recoverable_wordcount.py"
WORDS = "alpha beta gamma delta epsilon zeta eta theta".split()


class Driver:
    def __init__(self, args, script=EXAMPLE, dstreams_version=None):
        command = [sys.executable, str(script), *args]
        if dstreams_version is not None:  # the same program under another dstreams version string
            command = [sys.executable, "-c", "import dstreams, runpy, sys; "
                       f"dstreams.__version__ = {dstreams_version!r}; sys.argv = sys.argv[1:]; "
                       "runpy.run_path(sys.argv[0], run_name='__main__')", str(script), *args]
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     preexec_fn=die_with_parent)
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


def word_count_setup(kafka_broker, topic, prefix, tmp_path, rng):
    """A 2-partition topic, the example's arguments, and ``produce_chunk()`` adding random lines to both
    partitions while counting their words in ``produced``."""
    name = topic(2)
    produced = collections.Counter()

    def produce_chunk():
        for p in range(2):
            lines = [" ".join(rng.choices(WORDS, k=5)) for _ in range(rng.randint(20, 60))]
            kafka_broker.produce(name, lines, partition=p)
            produced.update(w for line in lines for w in line.split())

    args = ["--bootstrap-servers", kafka_broker.bootstrap_servers, "--topic", name, "--checkpoint",
            str(tmp_path / "ckpt"), "--dsn", DSN, "--table-prefix", prefix, "--interval", "0.3"]
    return args, produced, produce_chunk


@pytest.mark.timeout(300)
def test_driver_killed_at_random_moments_counts_exactly_once(kafka_broker, topic, prefix, tmp_path):
    rng = random.Random(20261124)
    args, produced, produce_chunk = word_count_setup(kafka_broker, topic, prefix, tmp_path, rng)
    kills = 0
    drivers = []
    for run in range(4):
        produce_chunk()
        driver = Driver(args)
        drivers.append(driver)
        driver.wait_for("a new context" if run == 0 else "recovered from the checkpoint", 90)
        driver.wait_for("started", 90)
        time.sleep(rng.uniform(0.0, 1.5))  # a random moment: before, during or between batches
        driver.proc.send_signal(signal.SIGKILL)
        driver.proc.wait(30)
        kills += 1
    produce_chunk()
    final = Driver(args + ["--stop-when-caught-up"])
    drivers.append(final)
    assert final.proc.wait(180) == 0, "".join(final.log[-40:])
    assert "recovered from the checkpoint" in "".join(final.log)
    assert kills == 4
    with psycopg.connect(DSN) as conn:
        counts = dict(conn.execute(f"SELECT word, n FROM {prefix}counts").fetchall())
        totals = dict(conn.execute(f"SELECT word, n FROM {prefix}totals").fetchall())
    logs = "".join(f"--- run {i}:\n" + "".join(d.log) for i, d in enumerate(drivers))
    assert counts == dict(produced), logs  # every record counted exactly once across the kills
    assert totals == dict(produced), logs  # the recovered running state equals the input's totals


@pytest.mark.timeout(300)
def test_a_new_version_resumes_the_killed_one_exactly(kafka_broker, topic, prefix, tmp_path):
    """Version 1 is killed; version 2 (a changed function, one more operator, a new dstreams version
    string) starts from the same checkpoint directory, is killed too, and the totals go on exactly."""
    rng = random.Random(20261202)
    args, produced, produce_chunk = word_count_setup(kafka_broker, topic, prefix, tmp_path, rng)
    produce_chunk()
    v1 = Driver(args)
    v1.wait_for("a new context", 90)
    v1.wait_for("stored", 90)  # a batch went in
    time.sleep(rng.uniform(1.2, 2.0))  # past a data checkpoint of the state (every 1.2 s)
    v1.proc.send_signal(signal.SIGKILL)
    v1.proc.wait(30)
    for run in range(2):
        produce_chunk()
        v2 = Driver(args + ["--app-version", "2"] + (["--stop-when-caught-up"] if run else []),
                    dstreams_version="99.0")
        if run == 0:
            v2.wait_for("version 2 resumed: {'lines': 'restored', 'totals': 'restored'}", 90)
            v2.wait_for("started", 90)
            time.sleep(rng.uniform(0.0, 1.5))
            v2.proc.send_signal(signal.SIGKILL)
            v2.proc.wait(30)
    assert v2.proc.wait(180) == 0, "".join(v2.log[-40:])
    with psycopg.connect(DSN) as conn:
        counts = dict(conn.execute(f"SELECT word, n FROM {prefix}counts").fetchall())
        totals = dict(conn.execute(f"SELECT word, n FROM {prefix}totals").fetchall())
    assert counts == dict(produced)  # every record counted exactly once across versions and kills
    assert totals == dict(produced)  # version 2's state went on from version 1's, nothing twice or lost
