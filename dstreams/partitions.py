"""Functions applied to one partition of an RDD (a list of records), on the workers.

They live at module level so that tasks refer to them by name. ``run_steps`` applies a pipelined chain
of narrow operations in one pass, using the generator form of the record-level ones.
"""
from __future__ import annotations

import copy
import functools
import itertools
import operator
from collections import defaultdict

from . import shuffle as _shuffle
from ._util import Records, as_records

try:  # the compiled loop of the combines (built from _speedups.c where a C compiler is)
    from ._speedups import combine as _compiled_combine
except ImportError:  # pragma: no cover - built where a C compiler is
    _compiled_combine = None


def _map(f, part):
    return Records([f(x) for x in part])


def _flat_map(f, part):
    return Records([y for x in part for y in f(x)])


def _filter(f, part):
    return Records([x for x in part if f(x)])


def _map_partitions(f, part):
    out = f(iter(part))
    return Records() if out is None else Records(out)


def _map_partitions_with_index(f, i, part):
    out = f(i, iter(part))
    return Records() if out is None else Records(out)


def _glom(part):
    return Records([list(part)])


def _identity(part):
    return part


def _concat(parts):
    return Records([x for p in parts for x in p])


def _map_values(f, part):
    return Records([(k, f(v)) for k, v in part])


def _flat_map_values(f, part):
    return Records([(k, y) for k, v in part for y in f(v)])


def _combine_locally(create, merge_value, part):
    acc: dict = {}
    if _compiled_combine is not None:
        _fold(acc, iter(part), create, merge_value)
        return Records(acc.items())
    get = acc.get
    missing = _MISSING
    plain_sum = create is _identity_value and merge_value is operator.add  # reduce_by_key(operator.add)
    for kv in part:  # errors of earlier steps of the chain (the user's functions) pass through as they are
        try:
            k, v = kv
        except (TypeError, ValueError) as e:
            raise _shuffle.not_a_pair(kv) from e
        old = get(k, missing)
        if old is missing:
            acc[k] = create(v)
        elif plain_sum:
            acc[k] = old + v
        else:
            acc[k] = merge_value(old, v)
    return Records(acc.items())


def _fold(acc, it, create, merge):
    """The compiled loop over ``it``; each item it hands back (not a 2-tuple) is unpacked here."""
    compiled_create = None if create is _identity_value else create  # None: the value itself
    compiled_merge = None if merge is operator.add else merge  # None: old + value
    while (left := _compiled_combine(acc, it, compiled_create, compiled_merge)) is not None:
        (kv,) = left
        try:
            k, v = kv
        except (TypeError, ValueError) as e:
            raise _shuffle.not_a_pair(kv) from e
        acc[k] = merge(acc[k], v) if k in acc else create(v)


_MISSING = object()


def _merge_combiners(merge, part):
    acc: dict = {}
    if _compiled_combine is not None:
        _fold(acc, iter(part), _identity_value, merge)
        return Records(acc.items())
    for k, c in part:
        acc[k] = merge(acc[k], c) if k in acc else c
    return Records(acc.items())


def _group_locally(part):
    acc: dict = defaultdict(list)
    for k, v in part:
        acc[k].append(v)
    return Records(acc.items())


def _tag(i, part):
    return Records([(k, (i, v)) for k, v in part])


def _cogroup_partition(n, part):
    acc: dict = {}
    for k, (i, v) in part:
        groups = acc.get(k)
        if groups is None:
            groups = acc[k] = tuple([] for _ in range(n))
        groups[i].append(v)
    return Records(acc.items())


def _cogroup_parts(n, parts):
    return _cogroup_partition(n, [x for p in parts for x in p])


def _join_flat(how, kv):
    k, (left, right) = kv
    if not left and how in ("right", "full"):
        left = [None]
    if not right and how in ("left", "full"):
        right = [None]
    return [(k, (a, b)) for a in left for b in right]


def _reduce_partition(f, part):
    it = iter(part)
    try:
        first = next(it)
    except StopIteration:
        return []
    return [functools.reduce(f, it, first)]


def _fold_partition(zero, f, part):
    return [functools.reduce(f, part, copy.deepcopy(zero))]  # f may change its accumulator in place


def _count_partition(part):
    return [len(part)]


def _foreach(f, part):
    for x in part:
        f(x)
    return []


def _foreach_partition(f, part):
    f(iter(part))
    return []


def _take(n, part):
    return list(itertools.islice(part, n))


def _write_text(path, part):
    import fsspec

    with fsspec.open(path, "w", encoding="utf-8") as fh:
        for x in part:
            fh.write(f"{x}\n")
    return [path]


def _write_pickle(path, part):
    import pickle

    import fsspec

    with fsspec.open(path, "wb") as fh:
        pickle.dump(list(part), fh, protocol=pickle.HIGHEST_PROTOCOL)
    return [path]


def _stream_map(f, it):
    return map(f, it)  # the builtin iterators loop in C


def _stream_flat_map(f, it):
    return itertools.chain.from_iterable(map(f, it))


def _stream_filter(f, it):
    return filter(f, it)


def _stream_map_values(f, it):
    return ((k, f(v)) for k, v in it)


def _stream_flat_map_values(f, it):
    return ((k, y) for k, v in it for y in f(v))


# list-based partition functions and their one-pass generator forms, for pipelined chains
_STREAMING = {}


def _run_steps(steps, index, part):
    """Apply a pipelined chain of narrow steps to one partition in one pass."""
    it = iter(part)
    for func, args, with_index in steps:
        streaming = _STREAMING.get(func)
        if streaming is not None:
            it = streaming(*args, it)
        else:
            extra = (index,) if with_index else ()
            it = func(*args, *extra, it if func in _ONE_PASS else list(it))
    return as_records(it)


def _finalize(results):
    return Records([x for part in results for x in part])


def _slice_list(data, n):
    """Cut ``data`` into ``n`` contiguous slices of near-equal size (Spark's ``parallelize``)."""
    data = list(data)
    size = len(data)
    return [Records(data[i * size // n:(i + 1) * size // n]) for i in range(n)]


def _pair_with_none(x):
    return (x, None)


def _pair_with_one(x):
    return (x, 1)


def _one(_):
    return 1


def _keep_first(a, _b):
    return a


def _identity_value(v):
    return v


def _as_list(v):
    return [v]


def _append(acc, v):
    acc.append(v)
    return acc


def _extend(a, b):
    a.extend(b)
    return a


def _seq_from_zero(copy, zero, seq, v):
    return seq(copy(zero), v)


def _reduce_concat(f, parts):
    vals = [x for p in parts for x in p]
    return [functools.reduce(f, vals)] if vals else []


# list-based partition functions that only iterate their partition once: in a chain they take the
# previous step's iterator as it is, so no list of the intermediate records is built
_ONE_PASS = {_map_partitions, _map_partitions_with_index, _combine_locally, _merge_combiners, _group_locally,
             _tag, _cogroup_partition, _reduce_partition, _fold_partition, _foreach, _foreach_partition, _take,
             _write_text}

_STREAMING.update({_map: _stream_map, _flat_map: _stream_flat_map, _filter: _stream_filter,
                   _map_values: _stream_map_values, _flat_map_values: _stream_flat_map_values})
