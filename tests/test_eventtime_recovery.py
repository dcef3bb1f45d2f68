"""A driver stopped with open event-time windows: the recovered run emits what a failure-free run emits."""
import operator
import os

import pytest

from dstreams import StreamingContext
from dstreams.testing import ManualClock, run_batches

OUT = []  # module level: functions in checkpoints refer to it by reference
FILES = [("a.txt", 0.5, "k,1\nk,3\n"), ("b.txt", 1.5, "k,12\nj,2\n"), ("c.txt", 2.5, "k,5\nj,14\n"),
         ("d.txt", 3.5, "k,31\n"), ("e.txt", 4.5, "j,40\n")]


def parse(line):
    key, ts = line.split(",")
    return key, float(ts)


def remember(t, rdd):
    OUT.append((t.second, sorted(rdd.collect())))


def setup(client, ckpt, src):
    ssc = StreamingContext(client, 1, clock=ManualClock())
    ssc.checkpoint(str(ckpt))
    events = ssc.text_file_stream(str(src)).map(parse).with_event_time(operator.itemgetter(1), max_delay=1)
    events.map(lambda r: (r[0], 1)).reduce_by_key_and_event_window(operator.add, 10).foreach_rdd(remember)
    return ssc


def write(src, name, mtime, text):
    (src / name).write_text(text)
    os.utime(src / name, (mtime, mtime))


def run(client, tmp_path, stop_after=None):
    src, ckpt = tmp_path / "in", tmp_path / "ckpt"
    src.mkdir(parents=True)
    OUT.clear()
    ssc = setup(client, ckpt, src)
    ssc.start()
    for f in FILES[:stop_after or len(FILES)]:
        write(src, *f)
        run_batches(ssc, 1)
    ssc.stop(stop_client=False)
    if stop_after is None:
        return list(OUT)
    for f in FILES[stop_after:]:  # written while the driver is down
        write(src, *f)
    recovered = StreamingContext.get_or_create(str(ckpt), lambda: pytest.fail("setup called"), client=client,
                                               clock=ManualClock(len(FILES) * 1000 + 500))
    recovered.start()
    recovered._scheduler.wait_for(len(FILES) * 1000, 30)
    recovered.stop(stop_client=False)
    return list(OUT)


def test_recovery_with_open_windows_emits_what_a_failure_free_run_emits(client, tmp_path):
    whole = run(client, tmp_path / "whole")
    # windows open when the driver stops after batch 2 are emitted after recovery: [10, 20) at batch 4
    assert whole == [(1, []), (2, [(("j", 0.0, 10.0), 1), (("k", 0.0, 10.0), 2)]), (3, []),
                     (4, [(("j", 10.0, 20.0), 1), (("k", 10.0, 20.0), 1)]), (5, [])]
    assert run(client, tmp_path / "recovered", stop_after=2) == whole
