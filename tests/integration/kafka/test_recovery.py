"""Driver recovery with a Kafka direct stream: pending batches rerun with the very same offset ranges."""
import pytest

from dstreams import BatchFailedError, StreamingContext
from dstreams.kafka import OffsetRange, create_direct_stream
from dstreams.testing import ManualClock, run_batches

BATCHES = []  # module level: checkpointed functions refer to these by reference
FAIL = {"at": None}


def record(t, rdd):
    BATCHES.append((t.second, rdd.offset_ranges, sorted(r.value.decode() for r in rdd.collect())))


def fail_once(t, rdd):
    if FAIL["at"] == t.second:
        FAIL["at"] = None
        raise RuntimeError("driver dies here")


def test_failed_batch_is_rerun_with_its_offsets_after_recovery(client, kafka_params, topic, produce, tmp_path):
    name = topic(1)
    ckpt = str(tmp_path / "ckpt")
    BATCHES.clear()

    def setup():
        ssc = StreamingContext(client, 1, clock=ManualClock())
        ssc.checkpoint(ckpt)
        stream = create_direct_stream(ssc, [name], kafka_params, starting_offsets="earliest")
        stream.foreach_rdd(record)
        stream.foreach_rdd(fail_once)
        return ssc

    ssc = StreamingContext.get_or_create(ckpt, setup, client=client)
    produce(name, 3, prefix="a")
    run_batches(ssc, 1)
    produce(name, 2, prefix="b")
    FAIL["at"] = 2
    with pytest.raises(BatchFailedError, match="driver dies here"):
        run_batches(ssc, 1)
    ssc.stop(stop_client=False)
    produce(name, 1, prefix="c")  # arrives while the driver is down

    recovered = StreamingContext.get_or_create(ckpt, lambda: pytest.fail("setup must not run"), client=client,
                                               clock=ManualClock(2000))
    run_batches(recovered, 1)  # reruns batch 2 first, then runs batch 3
    recovered.stop(stop_client=False)
    assert [(t, ranges) for t, ranges, _ in BATCHES] == [
        (1, (OffsetRange(name, 0, 0, 3),)),
        (2, (OffsetRange(name, 0, 3, 5),)),
        (2, (OffsetRange(name, 0, 3, 5),)),  # the rerun reads exactly what the failed batch read
        (3, (OffsetRange(name, 0, 5, 6),)),
    ]
    assert BATCHES[2][2] == ["b0", "b1"] and BATCHES[3][2] == ["c0"]
