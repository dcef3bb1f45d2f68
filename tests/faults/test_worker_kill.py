"""A worker process killed mid-batch, again and again: Dask reruns the lost tasks, the stream goes on, and
every Kafka record is still counted exactly once with running totals equal to the input's."""
import collections
import random
import threading
import time
from pathlib import Path

import psutil
import psycopg
import pytest

from tests.faults.conftest import DSN
from tests.faults.test_driver_kill import WORDS, Driver

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "recoverable_wordcount.py"


def worker_processes(pid):
    """The Dask worker processes under a driver: spawned children of its nannies."""
    out = []
    for child in psutil.Process(pid).children(recursive=True):
        try:
            if "spawn_main" in " ".join(child.cmdline()) and not child.children():
                out.append(child)
        except psutil.NoSuchProcess:
            pass
    return out


@pytest.mark.timeout(300)
def test_worker_killed_mid_batch_counts_exactly_once(kafka_broker, topic, prefix, tmp_path):
    name = topic(2)
    rng = random.Random(42)
    produced = collections.Counter()
    stop = threading.Event()

    def produce_while_running():
        while not stop.is_set():
            for p in range(2):
                lines = [" ".join(rng.choices(WORDS, k=4)) for _ in range(10)]
                kafka_broker.produce(name, lines, partition=p)
                produced.update(w for line in lines for w in line.split())
            stop.wait(0.1)

    driver = Driver(["--bootstrap-servers", kafka_broker.bootstrap_servers, "--topic", name, "--checkpoint",
                     str(tmp_path / "ckpt"), "--dsn", DSN, "--table-prefix", prefix, "--interval", "0.3",
                     "--processes", "--stop-when-caught-up"])
    producer = threading.Thread(target=produce_while_running)
    producer.start()
    killed = 0
    try:
        driver.wait_for("stored", 120)
        for _ in range(3):
            time.sleep(rng.uniform(0.2, 1.0))
            workers = worker_processes(driver.proc.pid)
            assert workers, "no worker process found under the driver"
            rng.choice(workers).kill()  # SIGKILL: the nanny starts a new one
            killed += 1
            driver.wait_for("stored", 120)  # the stream goes on
    finally:
        stop.set()
        producer.join()
    assert driver.proc.wait(180) == 0, "".join(driver.log[-40:])
    assert killed == 3
    with psycopg.connect(DSN) as conn:
        counts = dict(conn.execute(f"SELECT word, n FROM {prefix}counts").fetchall())
        totals = dict(conn.execute(f"SELECT word, n FROM {prefix}totals").fetchall())
    assert counts == dict(produced)
    assert totals == dict(produced)
