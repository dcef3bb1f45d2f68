"""Opening kafka-python clients from the user's settings: the configuration and the connection.

:func:`consumer_config` turns the user's ``kafka_params`` into a consumer configuration (the dict is
copied and checked, never changed, and auto-commit is always off); :func:`open_consumer` creates the
consumer, failing with :class:`KafkaUnavailableError`, which names the brokers and what to check, when
they do not answer. The driver's metadata consumer (:mod:`.metadata`) and the workers' reading
consumers (:mod:`.consumer`) are opened here.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import kafka.errors as kerrors
from kafka import KafkaConsumer

from .offsets import KafkaSourceError

__all__ = [
    "KafkaParamsError",
    "KafkaUnavailableError",
    "consumer_config",
    "open_consumer",
]


class KafkaParamsError(KafkaSourceError, ValueError):
    """The ``kafka_params`` given to the Kafka source are invalid."""


class KafkaUnavailableError(ConnectionError, KafkaSourceError):
    """The Kafka brokers could not be reached or did not answer in time.

    ``ConnectionError`` comes first: an exception class whose first bases are ``RuntimeError`` and then
    ``OSError`` cannot be rebuilt by the pickling (tblib's) that carries it from a worker to the driver.
    """


def consumer_config(kafka_params: Mapping[str, Any]) -> dict[str, Any]:
    """Copy and check the user's params for a batch-reading or metadata consumer.

    Parameters
    ----------
    kafka_params : Mapping
        kafka-python ``KafkaConsumer`` keyword arguments; ``bootstrap_servers``
        is required. It is copied, never changed.

    Returns
    -------
    dict
        A new dict with ``enable_auto_commit=False``.

    Raises
    ------
    KafkaParamsError
        If ``bootstrap_servers`` is missing, a key is not a kafka-python
        consumer setting (Java-style dotted names get a suggestion), a value
        is not one the setting takes (``security_protocol="BOGUS"``), or
        ``enable_auto_commit`` is true.

    Examples
    --------
    >>> params = {"bootstrap_servers": "localhost:9092", "group_id": "g"}
    >>> consumer_config(params)["enable_auto_commit"]
    False
    >>> "enable_auto_commit" in params
    False
    """
    if not isinstance(kafka_params, Mapping):
        raise KafkaParamsError(
            f"kafka_params must be a dict of kafka-python KafkaConsumer settings, got {type(kafka_params).__name__}"
        )
    config = dict(kafka_params)
    unknown = sorted(set(config) - set(KafkaConsumer.DEFAULT_CONFIG))
    if unknown:
        hints = []
        for key in unknown:
            guess = key.replace(".", "_") if "." in key else None
            if guess not in KafkaConsumer.DEFAULT_CONFIG:
                close = difflib.get_close_matches(key, KafkaConsumer.DEFAULT_CONFIG, n=1)
                guess = close[0] if close else None
            hints.append(f"{key!r}" + (f" (did you mean {guess!r}?)" if guess else ""))
        raise KafkaParamsError(
            f"unknown kafka_params {', '.join(hints)}; kafka_params are passed to kafka-python's "
            f"KafkaConsumer, whose settings use underscores (bootstrap_servers, group_id, ...)"
        )
    if "bootstrap_servers" not in config:  # its value is checked below
        raise KafkaParamsError(
            "kafka_params has no 'bootstrap_servers'; set it to the brokers to contact, "
            "e.g. {'bootstrap_servers': 'localhost:9092'}"
        )
    if config.get("enable_auto_commit"):
        raise KafkaParamsError(
            "kafka_params sets enable_auto_commit=True, which dstreams does not support: each "
            "batch is read as an exact offset range, so committing in the background would mark "
            "records done before the batch is processed. Remove enable_auto_commit (it is always "
            "off) and commit after a batch succeeds with KafkaMetadata.commit / commit_async."
        )
    from .settings import check_client_values

    check_client_values(config, KafkaConsumer.DEFAULT_CONFIG, "kafka_params")
    config["enable_auto_commit"] = False
    return config


def describe_servers(config: Mapping[str, Any]) -> str:
    """The bootstrap servers of a config, as one readable string."""
    servers = config.get("bootstrap_servers")
    if isinstance(servers, (list, tuple)):
        return ",".join(map(str, servers))
    return str(servers)


def unavailable(config: Mapping[str, Any], doing: str, timeout_ms: float | None) -> str:
    """The message of a :class:`KafkaUnavailableError`."""
    within = f" within {timeout_ms / 1000:.1f}s" if timeout_ms is not None else ""
    return (
        f"Kafka brokers at {describe_servers(config)} did not answer{within} while {doing}. "
        f"Check that the brokers are running and reachable from this machine (host, port, "
        f"firewall), that bootstrap_servers names the listener the brokers advertise, that "
        f"security_protocol/SASL/SSL settings match the listener, and that the topics exist."
    )


def open_consumer(config: Mapping[str, Any], *, timeout_ms: int, purpose: str) -> KafkaConsumer:
    """Create a ``KafkaConsumer``, failing with a clear error if brokers are unreachable.

    Parameters
    ----------
    config : Mapping
        A config made by :func:`consumer_config` (possibly adjusted).
    timeout_ms : int
        Bootstrap deadline, used unless the config sets ``bootstrap_timeout_ms``.
    purpose : str
        What the consumer is for, for error messages.

    Raises
    ------
    KafkaUnavailableError
        If no broker answered before the deadline.
    KafkaParamsError
        If kafka-python rejects the configuration.
    """
    config = dict(config)
    config.setdefault("bootstrap_timeout_ms", timeout_ms)
    try:
        return KafkaConsumer(**config)
    except kerrors.KafkaConfigurationError as exc:
        raise KafkaParamsError(f"kafka-python rejected kafka_params for {purpose}: {exc}") from exc
    except (kerrors.RetriableError, OSError) as exc:
        doing = f"connecting for {purpose}"
        raise KafkaUnavailableError(unavailable(config, doing, config["bootstrap_timeout_ms"])) from exc

