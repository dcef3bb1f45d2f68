"""Property tests: incremental windows equal full recomputation; pair operations equal plain Python."""
import operator
from collections import Counter, defaultdict

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dstreams import RDD, StreamingContext
from dstreams.testing import ManualClock, run_batches

keys = st.sampled_from(["a", "b", "c", "d", "e"])
pairs = st.lists(st.tuples(keys, st.integers(-5, 5)), max_size=12)
# positive values: a zero sum then means "no value left in the window", which is what filter_func is
# for in Spark (it also filters the previous window the next one starts from)
counts = st.lists(st.tuples(keys, st.integers(1, 5)), max_size=12)
SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def run_window(client, batches, window, slide, inverse, ckpt):
    ssc = StreamingContext(client, 1, clock=ManualClock())
    ssc.checkpoint(ckpt)
    out = []
    ssc.queue_stream(batches).reduce_by_key_and_window(
        operator.add, operator.sub if inverse else None, window, slide, 2, lambda kv: kv[1] != 0
    ).foreach_rdd(lambda rdd: out.append(sorted(rdd.collect())))
    try:
        run_batches(ssc, len(batches) + window)
    finally:
        ssc.stop(stop_client=False)
    return out


@SETTINGS
@given(batches=st.lists(counts, min_size=1, max_size=5), window=st.integers(1, 3), slide=st.integers(1, 2))
def test_reduce_by_key_and_window_with_inverse_equals_without(client, tmp_path, batches, window, slide):
    window *= slide
    with_inverse = run_window(client, batches, window, slide, True, str(tmp_path / "a"))
    without = run_window(client, batches, window, slide, False, str(tmp_path / "b"))
    assert with_inverse == without
    # and both equal a plain-Python sliding window
    n = len(batches) + window
    expected = []
    for t in range(slide, n + 1, slide):
        c = Counter()
        for b in batches[max(0, t - window):t]:
            for k, v in b:
                c[k] += v
        expected.append(sorted((k, v) for k, v in c.items() if v != 0))
    assert without == expected


@SETTINGS
@given(data=pairs, other=pairs, parts=st.integers(1, 4), nout=st.integers(1, 4))
def test_pair_operations_equal_python(client, data, other, parts, nout):
    left = RDD.from_list(data, parts, client=client)
    right = RDD.from_list(other, 2, client=client)
    ref = defaultdict(list)
    for k, v in data:
        ref[k].append(v)
    ref_other = defaultdict(list)
    for k, v in other:
        ref_other[k].append(v)

    assert sorted(left.reduce_by_key(operator.add, nout).collect()) == sorted((k, sum(v)) for k, v in ref.items())
    assert sorted(left.group_by_key(nout).map_values(sorted).collect()) == sorted(
        (k, sorted(v)) for k, v in ref.items())
    assert sorted(left.join(right, nout).collect()) == sorted(
        (k, (a, b)) for k in ref for a in ref[k] for b in ref_other.get(k, []))
    full = sorted(left.full_outer_join(right, nout).collect(), key=repr)
    want = []
    for k in set(ref) | set(ref_other):
        for a in ref.get(k, [None]):
            for b in ref_other.get(k, [None]):
                want.append((k, (a, b)))
    assert full == sorted(want, key=repr)
    assert sorted(left.distinct(nout).collect()) == sorted(set(data))
    assert left.count_by_key() == {k: len(v) for k, v in ref.items()}


records = st.lists(st.integers(-3, 6), max_size=14)


@SETTINGS
@given(data=pairs, left=records, right=records, parts=st.integers(1, 4), nout=st.integers(1, 4),
       ascending=st.booleans())
def test_sorting_positions_and_set_operations_equal_python(client, data, left, right, parts, nout, ascending):
    rdd = RDD.from_list(data, parts, client=client)
    # Python's sort is stable, and so is sort_by_key: records of one key keep their order
    assert rdd.sort_by_key(ascending, nout).collect() == sorted(data, key=lambda kv: kv[0], reverse=not ascending)
    assert rdd.zip_with_index().collect() == [(kv, i) for i, kv in enumerate(data)]
    a, b = RDD.from_list(left, parts, client=client), RDD.from_list(right, 2, client=client)
    assert sorted(a.subtract(b, nout).collect()) == sorted(x for x in left if x not in right)
    assert sorted(a.intersection(b, nout).collect()) == sorted(set(left) & set(right))
