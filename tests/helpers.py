"""Table-driven operation checks, as Spark's TestSuiteBase.testOperation."""
from __future__ import annotations

from dstreams import StreamingContext
from dstreams.testing import ManualClock, run_batches


def _norm(batch, ordered):
    return list(batch) if ordered else sorted(batch, key=repr)


def check_operation(client, inputs, operation, expected, *, ordered=False, batch_interval=1,
                    checkpoint_dir=None, num_batches=None):
    """Spark's ``testOperation``: feed ``inputs`` one batch per interval, compare each batch's output.

    ``operation(stream)`` returns the stream under test; ``expected`` lists the records of each batch.
    """
    ssc = StreamingContext(client, batch_interval=batch_interval, clock=ManualClock())
    try:
        if checkpoint_dir is not None:
            ssc.checkpoint(str(checkpoint_dir))
        outputs = []
        operation(ssc.queue_stream(inputs)).foreach_rdd(lambda rdd: outputs.append(rdd.collect()))
        run_batches(ssc, num_batches or len(expected))
    finally:
        ssc.stop(stop_client=False)
    got = [_norm(b, ordered) for b in outputs]
    want = [_norm(b, ordered) for b in expected]
    assert got == want, f"\n got: {got}\nwant: {want}"
    return outputs


def check_operation2(client, inputs1, inputs2, operation, expected, *, ordered=False):
    """Two input streams: ``operation(stream1, stream2)``."""
    ssc = StreamingContext(client, batch_interval=1, clock=ManualClock())
    try:
        outputs = []
        s1, s2 = ssc.queue_stream(inputs1), ssc.queue_stream(inputs2)
        operation(s1, s2).foreach_rdd(lambda rdd: outputs.append(rdd.collect()))
        run_batches(ssc, len(expected))
    finally:
        ssc.stop(stop_client=False)
    got = [_norm(b, ordered) for b in outputs]
    want = [_norm(b, ordered) for b in expected]
    assert got == want, f"\n got: {got}\nwant: {want}"
