"""Event time: watermarks per input partition, event-time windows, late records (issue 14)."""
import operator
import uuid

from dstreams import RDD, StreamingContext
from dstreams._compat import DataNode
from dstreams.testing import ManualClock, run_batches
from tests.dstream.eventtime_reference import reference


def parts_rdd(client, parts):
    """An RDD with exactly these partitions (partition ``i`` is the input partition ``i``)."""
    name = f"parts-{uuid.uuid4().hex[:8]}"
    parts = parts or [[]]
    return RDD({(name, i): DataNode((name, i), list(p)) for i, p in enumerate(parts)}, name, len(parts), client)


def run_event_windows(client, tmp_path, batches, window, slide=None, max_delay=0, allowed_lateness=0,
                      mode="final", idle_timeout=None):
    """Run ``batches`` (lists of partitions of (key, ts, value)) through reduce_by_key_and_event_window;
    returns per batch (emitted records, late records, watermark)."""
    ssc = StreamingContext(client, batch_interval=1, clock=ManualClock())
    try:
        ssc.checkpoint(str(tmp_path / f"ckpt-{uuid.uuid4().hex[:6]}"))
        source = ssc.queue_stream([parts_rdd(client, b) for b in batches])
        events = source.with_event_time(lambda r: r[1], max_delay=max_delay, idle_timeout=idle_timeout)
        out = events.map(lambda r: (r[0], r[2])).reduce_by_key_and_event_window(
            operator.add, window, slide, allowed_lateness=allowed_lateness, mode=mode)
        got, late = [], []
        out.foreach_rdd(lambda rdd: got.append(sorted(rdd.collect(), key=repr)))
        out.late_records().foreach_rdd(lambda rdd: late.append(sorted(rdd.collect(), key=repr)))
        run_batches(ssc, len(batches))
        marks = [out.event_time_info(t * 1000)["watermark"] for t in range(1, len(batches) + 1)]
    finally:
        ssc.stop(stop_client=False)
    return list(zip(got, late, marks, strict=True))


def expected(batches, *args, **kwargs):
    return [(sorted(e, key=repr), sorted(la, key=repr), wm) for e, la, wm in reference(batches, *args, **kwargs)]


TUMBLING = [
    [[("a", 1, 1), ("a", 3, 1)], [("b", 2, 5)]],
    [[("a", 9, 1)], [("b", 11, 5)]],           # watermark 9 - 2 = 7 (partition 0 holds it back)
    [[("a", 4, 1), ("a", 13, 1)], []],         # a at 4 is late: behind the watermark 7
    [[], [("b", 30, 1)]],
    [[("a", 40, 1)]],
]


def test_tumbling_final_mode_matches_the_reference(client, tmp_path):
    got = run_event_windows(client, tmp_path, TUMBLING, 10, max_delay=2)
    assert got == expected(TUMBLING, 10, None, 2)
    assert got[4][0] == [(("a", 10.0, 20.0), 1), (("b", 10.0, 20.0), 5)]  # [30, 40) waits: watermark 28
    assert [wm for _, _, wm in got] == [0.0, 7.0, 9.0, 11.0, 28.0]
    assert got[2][1] == [("a", 1)]


def test_update_mode_and_sliding_windows(client, tmp_path):
    got = run_event_windows(client, tmp_path, TUMBLING, 10, 5, max_delay=2, allowed_lateness=3, mode="update")
    assert got == expected(TUMBLING, 10, 5, 2, 3, "update")
    assert any(rec[2] is False for batch in got for rec in batch[0])
    assert any(rec[2] is True for batch in got for rec in batch[0])
