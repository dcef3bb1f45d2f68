"""Per-batch operators: input batches in, expected output per batch out (Spark's BasicOperationsSuite)."""
import operator

import pytest

from tests.helpers import check_operation, check_operation2

add = operator.add

CASES = [
    ("map", [[1, 2], [3, 4], [5, 6]], lambda s: s.map(str), [["1", "2"], ["3", "4"], ["5", "6"]]),
    ("flat_map", [["a b", "c"], ["d e f"]], lambda s: s.flat_map(str.split), [["a", "b", "c"], ["d", "e", "f"]]),
    ("filter", [[1, 2, 3, 4], [5, 6]], lambda s: s.filter(lambda x: x % 2 == 0), [[2, 4], [6]]),
    ("map_partitions", [[1, 2, 3, 4], [5, 6]], lambda s: s.map_partitions(lambda it: [sum(it)]).reduce(add),
     [[10], [11]]),
    ("glom", [[1, 2, 3, 4]], lambda s: s.repartition(2).glom().map(len), [[2, 2]]),
    ("repartition", [list(range(10))],
     lambda s: s.repartition(5).glom().map(lambda p: (len(p) > 0, 1)).reduce_by_key(add), [[(True, 5)]]),
    ("repartition keeps records", [list(range(10))], lambda s: s.repartition(3), [list(range(10))]),
    ("count", [[1, 2, 3], [], [4]], lambda s: s.count(), [[3], [0], [1]]),
    ("reduce", [[1, 2, 3], [4], []], lambda s: s.reduce(add), [[6], [4], []]),
    ("count_by_value", [["a", "b", "a"], ["c"]], lambda s: s.count_by_value(), [[("a", 2), ("b", 1)], [("c", 1)]]),
    ("map_values", [[("a", 1), ("b", 2)]], lambda s: s.map_values(lambda v: v * 10), [[("a", 10), ("b", 20)]]),
    ("flat_map_values", [[("a", 2)]], lambda s: s.flat_map_values(range), [[("a", 0), ("a", 1)]]),
    ("reduce_by_key", [[("a", 1), ("b", 1), ("a", 1)], [("a", 5)], []],
     lambda s: s.reduce_by_key(add), [[("a", 2), ("b", 1)], [("a", 5)], []]),
    ("reduce_by_key partitions", [[("a", 1), ("b", 1), ("a", 1)]],
     lambda s: s.reduce_by_key(add, 3).glom().map(len).reduce(add), [[2]]),
    ("group_by_key", [[("a", 1), ("b", 2), ("a", 3)]],
     lambda s: s.group_by_key().map_values(sorted), [[("a", [1, 3]), ("b", [2])]]),
    ("combine_by_key", [[("a", 1), ("a", 2), ("b", 3)]],
     lambda s: s.combine_by_key(lambda v: (v, 1), lambda c, v: (c[0] + v, c[1] + 1),
                                lambda c1, c2: (c1[0] + c2[0], c1[1] + c2[1])),
     [[("a", (3, 2)), ("b", (3, 1))]]),
    ("transform", [[1, 2], [3]], lambda s: s.transform(lambda rdd: rdd.map(lambda x: x * 2)), [[2, 4], [6]]),
    ("transform with time", [[1], [2]], lambda s: s.transform(lambda t, rdd: rdd.map(lambda x: (t.second, x))),
     [[(1, 1)], [(2, 2)]]),
    ("union with itself", [[1], [2]], lambda s: s.union(s.map(lambda x: -x)), [[1, -1], [2, -2]]),
]


@pytest.mark.parametrize("name,inputs,op,expected", CASES, ids=[c[0] for c in CASES])
def test_operation(client, name, inputs, op, expected):
    check_operation(client, inputs, op, expected)


JOIN_IN1 = [[("a", 1), ("b", 2)], [("a", 1), ("a", 2), ("b", 3)], [("c", 9)], []]
JOIN_IN2 = [[("a", "x")], [("a", "y"), ("b", "z"), ("d", "w")], [], [("e", 1)]]

JOIN_CASES = [
    ("join", lambda a, b: a.join(b),
     [[("a", (1, "x"))], [("a", (1, "y")), ("a", (2, "y")), ("b", (3, "z"))], [], []]),
    ("left_outer_join", lambda a, b: a.left_outer_join(b),
     [[("a", (1, "x")), ("b", (2, None))], [("a", (1, "y")), ("a", (2, "y")), ("b", (3, "z"))], [("c", (9, None))],
      []]),
    ("right_outer_join", lambda a, b: a.right_outer_join(b),
     [[("a", (1, "x"))], [("a", (1, "y")), ("a", (2, "y")), ("b", (3, "z")), ("d", (None, "w"))], [],
      [("e", (None, 1))]]),
    ("full_outer_join", lambda a, b: a.full_outer_join(b),
     [[("a", (1, "x")), ("b", (2, None))],
      [("a", (1, "y")), ("a", (2, "y")), ("b", (3, "z")), ("d", (None, "w"))], [("c", (9, None))],
      [("e", (None, 1))]]),
    ("cogroup", lambda a, b: a.cogroup(b).map_values(lambda g: (sorted(g[0]), sorted(g[1]))),
     [[("a", ([1], ["x"])), ("b", ([2], []))], [("a", ([1, 2], ["y"])), ("b", ([3], ["z"])), ("d", ([], ["w"]))],
      [("c", ([9], []))], [("e", ([], [1]))]]),
    ("transform_with", lambda a, b: a.transform_with(b, lambda r1, r2: r1.keys().union(r2.keys()).distinct()),
     [["a", "b"], ["a", "b", "d"], ["c"], ["e"]]),
    ("union", lambda a, b: a.union(b).map(lambda kv: kv[0]),
     [["a", "b", "a"], ["a", "a", "b", "a", "b", "d"], ["c"], ["e"]]),
]


@pytest.mark.parametrize("name,op,expected", JOIN_CASES, ids=[c[0] for c in JOIN_CASES])
def test_two_stream_operation(client, name, op, expected):
    check_operation2(client, JOIN_IN1, JOIN_IN2, op, expected)


def test_ssc_union_of_many_streams(ssc):
    from dstreams.testing import run_batches

    streams = [ssc.queue_stream([[i], [i * 10]]) for i in range(1, 4)]
    out = []
    ssc.union(*streams).foreach_rdd(lambda rdd: out.append(sorted(rdd.collect())))
    run_batches(ssc, 2)
    assert out == [[1, 2, 3], [10, 20, 30]]


def test_task_keys_are_readable_and_unique_per_batch(ssc):
    from dstreams.testing import run_batches

    names = []
    mapped = ssc.queue_stream([[1], [2]]).map(str)
    mapped.foreach_rdd(lambda t, rdd: names.append(rdd.name))
    run_batches(ssc, 2)
    assert names == [f"map-{mapped.id}-1000-{ssc.run_id}", f"map-{mapped.id}-2000-{ssc.run_id}"]


CALLS = []  # module level: the in-process workers call the function by reference


def _tag(x):
    CALLS.append(x)
    return x


@pytest.mark.parametrize("client", ["in-process"], indirect=True)  # counts calls in this process
def test_persisted_stream_computes_each_batch_once(ssc, client):
    """Two outputs on a persisted stream share one computation per batch."""
    from dstreams.testing import run_batches

    CALLS.clear()
    s = ssc.queue_stream([[1, 2], [3]]).map(_tag).persist()
    a, b = [], []
    s.foreach_rdd(lambda rdd: a.append(sorted(rdd.collect())))
    s.foreach_rdd(lambda rdd: b.append(rdd.count()))
    run_batches(ssc, 2)
    assert a == [[1, 2], [3]] and b == [2, 1]
    assert sorted(CALLS) == [1, 2, 3]
