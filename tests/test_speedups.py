"""The compiled combine loop (``dstreams._speedups``) against the Python form of the same functions."""

from __future__ import annotations

import collections
import operator
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dstreams import partitions as P

Pair = collections.namedtuple("Pair", "k v")


def both_forms(fn, *args, monkeypatch):
    """``fn(*args)`` through the compiled loop and through the Python loop (list-copied inputs)."""
    *head, part = args
    compiled = fn(*head, list(part))
    with monkeypatch.context() as m:
        m.setattr(P, "_compiled_combine", None)
        python = fn(*head, list(part))
    return compiled, python


def test_the_compiled_loop_was_built():
    # If this fails, `pip install -e .` found no C compiler (or the build failed; `pip install -v -e .`
    # shows why): the combines run their Python loops, correctly, more slowly.
    assert P._compiled_combine is not None


keys = st.one_of(st.integers(-3, 3), st.text(max_size=2), st.booleans(), st.tuples(st.integers(0, 2)))
pairs = st.lists(st.tuples(keys, st.integers(-10, 10)), max_size=60)


@settings(max_examples=80, deadline=None)
@given(part=pairs)
def test_combines_agree_with_the_python_loops(part):
    mp = pytest.MonkeyPatch()
    try:
        for fn, args in (
            (P._combine_locally, (P._identity_value, operator.add)),  # reduce_by_key(operator.add)
            (P._combine_locally, (P._identity_value, max)),  # a user's function
            (P._combine_locally, (P._as_list, P._append)),  # group_by_key's map side
            (P._merge_combiners, (operator.add,)),
            (P._merge_combiners, (lambda a, b: a * 2 + b,)),
        ):
            compiled, python = both_forms(fn, *args, part, monkeypatch=mp)
            assert list(compiled) == list(python)  # same keys, values and order
            assert type(compiled) is type(python)
    finally:
        mp.undo()


def test_records_that_unpack_as_python_unpacks_them_are_pairs(monkeypatch):
    part = [("a", 1), ["a", 2], "b3", Pair("c", 4), ("a", 5), ("b", "x")]
    compiled, python = both_forms(P._combine_locally, P._identity_value, operator.add, part,
                                  monkeypatch=monkeypatch)  # fmt: skip
    assert list(compiled) == list(python) == [("a", 8), ("b", "3x"), ("c", 4)]


@pytest.mark.parametrize("bad", [("a", 1, 2), 7, None, "abc"])
def test_a_record_that_is_not_a_pair_is_named(bad, monkeypatch):
    for compiled in (True, False):
        if not compiled:
            monkeypatch.setattr(P, "_compiled_combine", None)
        with pytest.raises(TypeError, match=re.escape(f"a pair operation needs (key, value) records, got {bad!r};")):
            P._combine_locally(P._identity_value, operator.add, [("a", 1), bad, ("a", 2)])


def test_errors_of_user_functions_and_of_the_records_iterator_pass_through():
    def merge(a, b):
        raise ZeroDivisionError("user merge")

    with pytest.raises(ZeroDivisionError, match="user merge"):
        P._combine_locally(P._identity_value, merge, [("a", 1), ("a", 2)])
    with pytest.raises(TypeError, match="unhashable"):
        P._combine_locally(P._identity_value, operator.add, [([1], 1)])
    with pytest.raises(TypeError, match="unsupported operand"):
        P._combine_locally(P._identity_value, operator.add, [("a", 1), ("a", "x")])

    def records():
        yield ("a", 1)
        raise KeyError("upstream map")

    with pytest.raises(KeyError, match="upstream map"):
        P._combine_locally(P._identity_value, operator.add, records())
