"""Windowed and stateful streams whose parent has another output operation.

A second output operation on the parent may compute the parent's RDD, part of it, or nothing; the
window or state built on that parent must give the same batches as when it is the parent's only user
(the other operation must not release data the window or state still reads).
"""
import operator

import pytest

from dstreams import StateSpec, StreamingContext
from dstreams.testing import ManualClock, run_batches

# about when data is released, not about what crosses processes: the in-process cluster is enough
pytestmark = pytest.mark.parametrize("client", ["in-process"], indirect=True)

add, sub = operator.add, operator.sub
INPUTS = [[1, 2], [3], [4, 5, 6], [], [7], [8, 9]]


def by_parity(x):
    return (x % 2, x)


def running_sum(values, state):
    return sum(values) + (state or 0)


def track(key, value, state):
    total = value + state.get_option(0)
    state.update(total)
    return (key, total)


# name -> (the parent built from the input stream, the operator on that parent)
FAMILY = {
    "window": (None, lambda p: p.window(3, 1)),
    "window-with-slide": (None, lambda p: p.window(4, 2)),
    "count_by_window": (None, lambda p: p.count_by_window(3)),
    "reduce_by_window": (None, lambda p: p.reduce_by_window(add, None, 3)),
    "reduce_by_window-inverse": (None, lambda p: p.reduce_by_window(add, sub, 3)),
    "count_by_value_and_window": (lambda s: s.map(lambda x: x % 3), lambda p: p.count_by_value_and_window(2)),
    "reduce_by_key_and_window": (lambda s: s.map(by_parity), lambda p: p.reduce_by_key_and_window(add, None, 3)),
    "reduce_by_key_and_window-inverse": (lambda s: s.map(by_parity),
                                         lambda p: p.reduce_by_key_and_window(add, sub, 4, 2)),
    "group_by_key_and_window": (lambda s: s.map(by_parity),
                                lambda p: p.group_by_key_and_window(2).map_values(sorted)),
    "update_state_by_key": (lambda s: s.map(by_parity), lambda p: p.update_state_by_key(running_sum)),
    "map_with_state": (lambda s: s.map(by_parity), lambda p: p.map_with_state(StateSpec.function(track))),
}

# what the other output operations on the parent do with the parent's RDD
OTHER = {
    "nothing": [lambda rdd: None],
    "all, part or nothing": [lambda rdd: rdd.collect(), lambda rdd: rdd.take(1), lambda rdd: rdd.is_empty()],
}


def run(client, directory, other=None, other_first=True):
    """Every operator of FAMILY in one context, each on its own parent; with ``other``, each parent also
    has those output operations (before or after the operator's). Returns each operator's batches."""
    ssc = StreamingContext(client, batch_interval=1, clock=ManualClock())
    out = {name: [] for name in FAMILY}
    try:
        ssc.checkpoint(str(directory))
        source = ssc.queue_stream(INPUTS)
        for name, (prep, op) in FAMILY.items():
            parent = prep(source) if prep is not None else source.map(lambda x: x)
            if other is not None and other_first:
                for f in OTHER[other]:
                    parent.foreach_rdd(f)
            op(parent).foreach_rdd(lambda rdd, got=out[name]: got.append(sorted(rdd.collect(), key=repr)))
            if other is not None and not other_first:
                for f in OTHER[other]:
                    parent.foreach_rdd(f)
        run_batches(ssc, len(INPUTS) + 1)
    finally:
        ssc.stop(stop_client=False)
    return out


@pytest.fixture(scope="module")
def alone(client, tmp_path_factory):
    """Each operator's batches when it is its parent's only user."""
    got = run(client, tmp_path_factory.mktemp("alone"))
    for name, batches in got.items():
        assert any(batches), f"{name} gave no record: a lost batch would not show"
    return got


@pytest.mark.parametrize("other,other_first", [(o, True) for o in OTHER] + [("nothing", False)])
def test_another_output_on_the_parent_changes_nothing(client, tmp_path, alone, other, other_first):
    got = run(client, tmp_path, other, other_first)
    assert {n: b for n, b in got.items() if b != alone[n]} == {}


def test_the_reported_case(alone):
    assert alone["window"] == [
        [1, 2], [1, 2, 3], [1, 2, 3, 4, 5, 6], [3, 4, 5, 6], [4, 5, 6, 7], [7, 8, 9], [7, 8, 9]]
