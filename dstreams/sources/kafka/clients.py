"""Opening kafka-python clients from the user's settings: the configuration and the connection.

:func:`consumer_config` turns the user's ``kafka_params`` into a consumer configuration (the dict is
copied and checked, never changed, and auto-commit is always off). :func:`open_client` creates a
client within a deadline, failing with :class:`KafkaUnavailableError`, which names the brokers and
what to check, when they do not answer in time. Every client dstreams creates is opened here: the
driver's metadata consumer (:mod:`.metadata`), the workers' reading consumers (:mod:`.consumer`), and
the sink's producers and committed-offset readers (:mod:`.sink`).
"""

from __future__ import annotations

import difflib
import logging
import threading
from collections.abc import Mapping
from typing import Any

import kafka.errors as kerrors
from kafka import KafkaConsumer

from .offsets import KafkaSourceError

__all__ = [
    "DEFAULT_TIMEOUT_MS",
    "KafkaParamsError",
    "KafkaUnavailableError",
    "consumer_config",
    "open_client",
    "open_consumer",
]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_MS = 30_000
"""The deadline for connecting and for each call, unless the settings give ``request_timeout_ms``."""

_LATE_MS = 1_000
"""How long the wait for a new client goes on past kafka-python's own bootstrap deadline before it is given up."""


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
    from .secrets import reveal

    return reveal(config)  # every consumer dstreams opens (reader, metadata, commit) is configured here


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
        f"Check that the brokers are running and reachable from this machine (host name resolution, "
        f"port, firewall), that bootstrap_servers names the listener the brokers advertise, that "
        f"security_protocol/SASL/SSL settings match the listener, and that the topics exist."
    )


def request_timeout_ms(params: Mapping[str, Any]) -> int:
    """The deadline the user's settings give to connecting and to each call: their ``request_timeout_ms``,
    else :data:`DEFAULT_TIMEOUT_MS` (``bootstrap_timeout_ms``, if set, still bounds connecting)."""
    return params.get("request_timeout_ms", DEFAULT_TIMEOUT_MS)


def open_client(client_class: type, config: Mapping[str, Any], *, timeout_ms: int, purpose: str,
                settings: str = "kafka_params"):
    """Create a kafka-python client (``KafkaConsumer``, ``KafkaProducer``, ...) within a deadline.

    kafka-python bounds its bootstrap by ``bootstrap_timeout_ms`` (``timeout_ms`` unless the config sets
    it), but only while its network thread runs: a thread blocked in a host name lookup that does not
    return keeps the constructor waiting for ever. So the client is created on a helper thread, which is
    given up a moment after the deadline; a client it still makes is closed at once.

    Parameters
    ----------
    client_class : type
        The kafka-python client class.
    config : Mapping
        Its settings (copied).
    timeout_ms : int
        Bootstrap deadline, used unless the config sets ``bootstrap_timeout_ms``.
    purpose : str
        What the client is for, for error messages.
    settings : str
        The name of the user's settings, for error messages.

    Raises
    ------
    KafkaUnavailableError
        If no broker answered before the deadline.
    KafkaParamsError
        If kafka-python rejects the configuration.

    Examples
    --------
    >>> from kafka import KafkaProducer
    >>> producer = open_client(KafkaProducer, {"bootstrap_servers": "localhost:9092"}, timeout_ms=10_000,
    ...                        purpose="writing to Kafka", settings="producer_params")  # doctest: +SKIP
    """
    config = dict(config)
    config.setdefault("bootstrap_timeout_ms", timeout_ms)
    deadline_ms = config["bootstrap_timeout_ms"]
    doing = f"connecting for {purpose}"
    creation = _Creation(client_class, config)
    if not creation.wait((deadline_ms + _LATE_MS) / 1000):
        raise KafkaUnavailableError(unavailable(config, doing, deadline_ms))
    exc = creation.error
    if isinstance(exc, kerrors.KafkaConfigurationError):
        raise KafkaParamsError(f"kafka-python rejected {settings} for {purpose}: {exc}") from exc
    if isinstance(exc, (kerrors.RetriableError, OSError)):
        raise KafkaUnavailableError(unavailable(config, doing, deadline_ms)) from exc
    if exc is not None:
        raise exc
    return creation.client


class _Creation:
    """A kafka-python client created on a helper thread, which closes it if the caller gave up waiting."""

    def __init__(self, client_class: type, config: dict):
        self.client = self.error = None
        self._given_up = False
        self._lock = threading.Lock()
        self._done = threading.Event()
        threading.Thread(target=self._create, args=(client_class, config), name="dstreams-kafka-connect",
                         daemon=True).start()

    def _create(self, client_class: type, config: dict) -> None:
        client = error = None
        try:
            client = client_class(**config)
        except Exception as exc:
            error = exc
        with self._lock:
            late = self._given_up
            if not late:
                self.client, self.error = client, error
            self._done.set()
        if late and client is not None:
            try:
                client.close()
            except Exception:
                log.debug("closing a Kafka client made after its deadline failed", exc_info=True)

    def wait(self, timeout_s: float) -> bool:
        """Whether the creation ended (a client or an error) within ``timeout_s``; else it is given up."""
        if not self._done.wait(timeout_s):
            with self._lock:
                self._given_up = not self._done.is_set()
        return not self._given_up


def open_consumer(config: Mapping[str, Any], *, timeout_ms: int, purpose: str,
                  settings: str = "kafka_params") -> KafkaConsumer:
    """A ``KafkaConsumer`` made by :func:`open_client`: within a deadline, failing with a clear error if the
    brokers do not answer (see there)."""
    return open_client(KafkaConsumer, config, timeout_ms=timeout_ms, purpose=purpose, settings=settings)
