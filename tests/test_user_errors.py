"""Errors that point at the user's code: functions keep their real file names when cloudpickle copies them, and
messages describe them without ever failing themselves."""
from __future__ import annotations

import functools
import traceback

import cloudpickle
import pytest

from dstreams.userfuncs import describe, keep_file_names, short_path

HERE = short_path(__file__)


def first_line(func) -> int:
    return func.__code__.co_firstlineno


def parse(text):
    return int(text)  # raises on "x": the line after parse's def


def test_a_by_value_copy_keeps_its_file_name_and_its_helpers_too():
    def helper():
        raise KeyError("k")

    def outer():
        return [helper() for _ in range(1)]

    keep_file_names(outer)
    copy = cloudpickle.loads(cloudpickle.dumps(outer))
    assert copy.__code__.co_filename == __file__
    with pytest.raises(KeyError) as ei:
        copy()
    assert [f.filename for f in traceback.extract_tb(ei.value.__traceback__)[1:]] == [__file__] * 3  # + listcomp
    plain = cloudpickle.loads(cloudpickle.dumps(lambda: None))  # what keep_file_names repairs
    assert plain.__code__.co_filename == "<dynamic-code>"


def test_messages_about_odd_functions_never_raise():
    class Odd:
        def __getattr__(self, name):
            raise RuntimeError("no attributes here")

        def __call__(self, x):
            return x

    assert describe(Odd()).startswith("test_messages_about_odd_functions_never_raise.<locals>.Odd (")
    assert describe(len) == "len"
    assert describe(functools.partial(parse)) == f"partial(parse) ({HERE}:{first_line(parse)})"

