"""Event time: watermarks per input partition, event-time windows, late records (issue 14)."""
import operator
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dstreams import RDD, StreamingContext, StreamingListener
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


# out-of-order streams: per batch, up to 3 skewed partitions of (key, event time, value) records
record = st.tuples(st.sampled_from("ab"), st.integers(0, 40), st.integers(1, 3))
stream_of_batches = st.lists(st.lists(st.lists(record, max_size=4), min_size=1, max_size=3), min_size=1, max_size=6)


@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
@given(batches=stream_of_batches, window=st.sampled_from([(4, None), (6, 3)]), max_delay=st.integers(0, 6),
       allowed_lateness=st.sampled_from([0, 2]), mode=st.sampled_from(["final", "update"]))
def test_out_of_order_streams_match_the_reference(client, tmp_path, batches, window, max_delay, allowed_lateness,
                                                   mode):
    got = run_event_windows(client, tmp_path, batches, *window, max_delay=max_delay,
                            allowed_lateness=allowed_lateness, mode=mode)
    assert got == expected(batches, *window, max_delay, allowed_lateness, mode)
    marks = [-1e300 if wm is None else wm for _, _, wm in got]
    assert marks == sorted(marks), "the watermark moved backwards"


IDLE = [
    [[("a", 5, 1)], [("b", 5, 1)]],
    [[("a", 12, 1)], []],          # partition 1 is silent: it holds the watermark at 5
    [[("a", 24, 1)], []],
    [[("a", 30, 1)], []],          # partition 1 idle for more than 1 s: only partition 0 counts
]


def test_an_idle_partition_stops_holding_the_watermark_back(client, tmp_path):
    held = run_event_windows(client, tmp_path, IDLE, 10)
    assert [wm for _, _, wm in held] == [5.0, 5.0, 5.0, 5.0] and all(not e for e, _, _ in held)
    freed = run_event_windows(client, tmp_path, IDLE, 10, idle_timeout=1)
    assert freed == expected(IDLE, 10, None, 0, idle_timeout=1)
    assert [wm for _, _, wm in freed] == [5.0, 5.0, 24.0, 30.0]
    assert freed[2][0] == [(("a", 0.0, 10.0), 1), (("a", 10.0, 20.0), 1), (("b", 0.0, 10.0), 1)]


SPANNING = [[[("k", 1, 1)]], [[]], [[("k", 50, 2)]], [[]], [[]], [[("k", 70, 4)]], [[]], [[("k", 200, 1)]]]


def test_a_window_spans_many_batches_and_empty_batches(client, tmp_path):
    got = run_event_windows(client, tmp_path, SPANNING, 100, max_delay=0)
    assert got == expected(SPANNING, 100, None, 0)
    assert [e for e, _, _ in got] == [[], [], [], [], [], [], [], [(("k", 0.0, 100.0), 7)]]


def test_counts_groups_and_the_batch_info(client, tmp_path):
    ssc = StreamingContext(client, batch_interval=1, clock=ManualClock())
    infos = []
    try:
        ssc.checkpoint(str(tmp_path / "ckpt"))
        batches = [[("a", 1), ("b", 2)], [("a", 12)], [("c", 3)]]  # one partition each
        events = ssc.queue_stream([parts_rdd(client, [b]) for b in batches]).with_event_time(
            lambda r: r[1], max_delay=0)
        counts, groups = [], []
        events.count_by_event_window(10).foreach_rdd(lambda rdd: counts.append(rdd.collect()))
        events.group_by_key_and_event_window(10).foreach_rdd(lambda rdd: groups.append(sorted(rdd.collect())))
        late = []
        events.late_records().foreach_rdd(lambda rdd: late.append(rdd.collect()))
        ssc.add_listener(type("Infos", (StreamingListener,), {
            "on_batch_completed": lambda self, info: infos.append(info)})())
        run_batches(ssc, 3)
    finally:
        ssc.stop(stop_client=False)
    assert counts == [[], [((None, 0.0, 10.0), 2)], []]
    assert groups == [[], [(("a", 0.0, 10.0), [1]), (("b", 0.0, 10.0), [2])], []]
    assert late == [[], [], [("c", 3)]]
    reports = [next(iter(i.input_info.values())).metadata["event_time"] for i in infos]
    assert [sorted((r["late_records"], r["open_windows"]) for r in rep.values()) for rep in reports] == [
        [(0, 1), (0, 2)], [(0, 1), (0, 1)], [(1, 1), (1, 1)]]
    assert {r["watermark"] for r in reports[2].values()} == {12.0}
