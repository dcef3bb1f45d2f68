"""The hint for a PySpark (camelCase) name asked of a snake_case dstreams object."""
from __future__ import annotations

import re


def snake(name: str) -> str:
    """``reduceByKeyAndWindow`` -> ``reduce_by_key_and_window``; ``foreachRDD`` -> ``foreach_rdd``."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)).lower()


def camel_case_hint(obj, name: str) -> str:
    """``did you mean `reduce_by_key`? ...`` when ``name`` is camelCase, else ``""``."""
    if name.startswith("_") or name == name.lower():
        return ""
    guess = snake(name)
    mean = f"did you mean `{guess}`? " if hasattr(type(obj), guess) else ""
    return f"{mean}(or use dstreams.pyspark for PySpark's names)"
