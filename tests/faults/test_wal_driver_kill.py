"""Zero data loss with the write-ahead log: a reliable receiver's acknowledged records all reach the
output although the driver (and its in-process cluster) is killed with SIGKILL while receiving."""
import random
import signal
import time
from pathlib import Path

import pytest

from tests.faults.test_driver_kill import Driver

SCRIPT = Path(__file__).resolve().parent / "wal_driver.py"


def _acked(source: Path) -> int:
    try:
        return int((source / "ack").read_text() or 0)
    except FileNotFoundError:
        return 0


@pytest.mark.timeout(300)
def test_acknowledged_records_survive_driver_kills(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    total = 3000
    args = ["--checkpoint", str(tmp_path / "ckpt"), "--source", str(source), "--total", str(total)]
    rng = random.Random(20261124)
    acked_at_kill = []
    for run in range(3):
        driver = Driver(args, script=SCRIPT)
        driver.wait_for("a new context" if run == 0 else "recovered from the checkpoint", 90)
        driver.wait_for("started", 90)
        before = _acked(source)
        deadline = time.monotonic() + 30
        while _acked(source) == before and time.monotonic() < deadline:  # receiving again
            time.sleep(0.05)
        time.sleep(rng.uniform(0.2, 1.5))
        driver.proc.send_signal(signal.SIGKILL)
        driver.proc.wait(30)
        acked_at_kill.append(_acked(source))
    assert 0 < acked_at_kill[-1] < total, acked_at_kill  # the kills hit while records were received
    final = Driver(args + ["--until-done"], script=SCRIPT)
    assert final.proc.wait(180) == 0, "".join(final.log[-40:])
    assert "recovered from the checkpoint" in "".join(final.log)
    out = set((source / "out").read_text().split())
    # the source never sends an acknowledged record again: those acknowledged before a kill came back
    # from the log (or were processed before it)
    assert {f"r{i}" for i in range(max(acked_at_kill))} <= out
    assert out == {f"r{i}" for i in range(total)}
