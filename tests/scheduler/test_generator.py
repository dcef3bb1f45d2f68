"""JobGenerator's event loop: what a stop keeps and what it drops."""
from types import SimpleNamespace

from dstreams.scheduler.generator import GenerateJobs, JobGenerator
from dstreams.testing import ManualClock


def test_a_non_graceful_stop_drops_ungenerated_batches_but_keeps_the_clean_up_of_finished_ones():
    """A batch that finished must leave the pending list of the last checkpoint, or a recovered driver
    would run it again; a batch not generated yet is dropped, as Spark's stop does."""
    calls = []
    graph = SimpleNamespace(clear_metadata=lambda t: calls.append(("clear", t)))
    gen = JobGenerator(graph, ManualClock(), 1000, job_scheduler=None,
                       input_info=SimpleNamespace(cleanup=lambda t: None),
                       checkpointer=lambda last, pending: calls.append(("checkpoint", last, pending)))
    gen.last_generated, gen.pending = 2000, {1000, 2000}
    gen._events.put(GenerateJobs(3000))  # due, not generated yet
    gen.clear(1000)  # batch 1000 finished just before the stop
    gen.stop_generating(graceful=False)
    gen._thread.start()
    gen.stop(graceful=False)
    assert not gen._thread.is_alive()
    assert calls == [("clear", 1000), ("checkpoint", 2000, [2000])]


def test_batches_to_rerun_after_recovery_stay_pending_until_they_finish():
    """A checkpoint written while the batches pending at the crash are generated again must still list
    them all: a driver killed then would otherwise skip the ones not yet regenerated (and lose their input)."""
    import threading

    checkpoints, submitted = [], threading.Event()
    graph = SimpleNamespace(zero_time=0, generate_jobs=lambda t: [], batch_jobs_done=lambda t: None,
                            clear_metadata=lambda t: None)
    scheduler = SimpleNamespace(submit=lambda job_set: submitted.set())
    gen = JobGenerator(graph, ManualClock(3500), 1000, job_scheduler=scheduler,
                       input_info=SimpleNamespace(get=lambda t: {}, cleanup=lambda t: None),
                       checkpointer=lambda last, pending: checkpoints.append((last, pending)))
    assert gen.restart(3000, [1000, 2000, 3000]) == [1000, 2000, 3000]
    assert submitted.wait(10)
    gen.stop_generating(graceful=True)
    gen.stop(graceful=True)
    assert checkpoints[0] == (3000, [1000, 2000, 3000])  # not [1000]: 2000 and 3000 were not generated yet
    assert all(pending == [1000, 2000, 3000] for _, pending in checkpoints)
