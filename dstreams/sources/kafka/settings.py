"""Checking the values of the arguments and settings of the Kafka source and sink, where they are given.

:func:`check_client_values` checks the values of kafka-python consumer and producer settings (names are
checked by :func:`.clients.consumer_config` and :func:`.sink._producer_config`); the other functions
check one argument of :func:`dstreams.kafka.create_direct_stream` or ``DStream.to_kafka``. Each error
names the argument, what was given and what to give.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from ..._util import to_seconds
from .clients import KafkaParamsError

__all__ = ["check_client_values", "check_flag", "check_positive_int", "check_rate", "check_seconds",
           "check_topic_name"]

_CHOICES = {
    "security_protocol": ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"),
    "auto_offset_reset": ("earliest", "latest", "smallest", "largest", "none"),
    "isolation_level": ("read_uncommitted", "read_committed"),
    "sasl_mechanism": (None, "PLAIN", "GSSAPI", "OAUTHBEARER", "SCRAM-SHA-256", "SCRAM-SHA-512", "AWS_MSK_IAM"),
    "compression_type": (None, "gzip", "snappy", "lz4", "zstd"),
    "acks": (0, 1, -1, "all"),
}
_TEXT = ("group_id", "group_instance_id", "client_id", "transactional_id")
_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_topic_name(value: Any, what: str) -> str:
    """A valid Kafka topic name (ASCII letters, digits, ``.``, ``_``, ``-``; at most 249), else an error."""
    if not isinstance(value, str) or not _TOPIC.fullmatch(value) or value in (".", ".."):
        raise KafkaParamsError(
            f"{what} must be a Kafka topic name (1 to 249 ASCII letters, digits, '.', '_' or '-'), got {value!r}"
        )
    return value


def check_rate(value: Any, what: str, *, optional: bool = True) -> float | None:
    """A positive, finite records-per-second rate (or None when ``optional``)."""
    if value is None and optional:
        return None
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        none = " or None" if optional else ""
        raise KafkaParamsError(f"{what} must be a positive, finite number of records per second{none} "
                               f"(e.g. 1000), got {value!r}")
    return float(value)


def check_positive_int(value: Any, what: str, unit: str, example: int) -> int:
    """A whole number >= 1."""
    if not _is_int(value) or value < 1:
        raise KafkaParamsError(f"{what} must be a positive whole number of {unit} (e.g. {example}), got {value!r}")
    return value


def check_seconds(value: Any, what: str, example: float) -> float:
    """A finite number of seconds >= 0 (a number, a ``timedelta`` or a Dask duration string such as ``"2m"``)."""
    try:
        return to_seconds(value, what)
    except (TypeError, ValueError) as e:
        raise KafkaParamsError(f"{what} must be a finite number of seconds >= 0 (e.g. {example}, or a string such "
                               f"as '2 minutes'), got {value!r}") from e


def check_flag(value: Any, what: str) -> bool:
    """``True`` or ``False``: a string such as ``"no"`` is refused, not taken as true."""
    if not isinstance(value, bool):
        raise KafkaParamsError(f"{what} must be True or False, got {value!r}")
    return value


def _check_servers(servers: Any, what: str) -> None:
    items = [servers] if isinstance(servers, str) else servers
    if isinstance(items, (list, tuple)) and items and all(isinstance(s, str) and s.strip() for s in items):
        return
    raise KafkaParamsError(
        f"{what}['bootstrap_servers'] must be 'host:port' or a list of 'host:port' strings "
        f"(e.g. 'localhost:9092'), got {servers!r}"
    )


def check_client_values(config: Mapping[str, Any], defaults: Mapping[str, Any], what: str) -> None:
    """Check the values of kafka-python client settings whose names are already known.

    ``defaults`` is the client's ``DEFAULT_CONFIG``: a setting whose default is a bool must be a bool, one
    whose default is an int a whole number >= 0; settings with a fixed set of values must be one of them.
    """
    _check_servers(config.get("bootstrap_servers"), what)
    for key, value in config.items():
        if key == "bootstrap_servers":
            continue
        if key in _CHOICES:
            if value not in _CHOICES[key] or isinstance(value, bool):
                choices = ", ".join(repr(c) for c in _CHOICES[key])
                raise KafkaParamsError(f"{what}['{key}'] must be one of {choices}; got {value!r}")
            continue
        if key in _TEXT:
            if value is not None and (not isinstance(value, str) or not value):
                raise KafkaParamsError(f"{what}['{key}'] must be a non-empty string or None, got {value!r}")
            continue
        default = defaults.get(key)
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise KafkaParamsError(f"{what}['{key}'] must be True or False, got {value!r}")
        elif _is_int(default) and (not _is_int(value) or value < 0):
            raise KafkaParamsError(
                f"{what}['{key}'] must be a whole number >= 0 (kafka-python's default is {default}), got {value!r}"
            )
