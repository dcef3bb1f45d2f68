"""Secret Kafka settings (passwords, tokens): kept out of checkpoints, logs and error messages.

The Kafka source and sink wrap the value of every secret setting (:data:`SECRET_SETTINGS`, and any setting
whose name holds ``password``, ``token`` or ``secret``) in a :class:`Secret`. Its ``repr`` never shows the
value; a metadata checkpoint writes a :class:`Secret` given as a plain value as a marker naming the setting
(one made with :meth:`Secret.from_env` or :meth:`Secret.from_callable` as that reference), and a recovery
that does not call ``setup()`` gets the value again from ``get_or_create(..., secrets={setting: value})``.
The clients dstreams opens get the plain value (:func:`reveal`), as do the worker tasks that open them.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

SECRET_SETTINGS = frozenset({"sasl_plain_password", "ssl_password", "sasl_oauth_token_provider"})
_SECRET_WORDS = ("password", "token", "secret")
MASK = "*****"

_MISSING = object()


def is_secret_setting(name: str) -> bool:
    """Whether the setting ``name`` holds a secret."""
    return name in SECRET_SETTINGS or any(w in str(name).lower() for w in _SECRET_WORDS)


class Secret:
    """The value of a secret Kafka setting, never written to a checkpoint nor shown.

    Examples
    --------
    >>> params = {"bootstrap_servers": "broker:9093", "security_protocol": "SASL_SSL",
    ...           "sasl_mechanism": "PLAIN", "sasl_plain_username": "app",
    ...           "sasl_plain_password": Secret.from_env("KAFKA_PASSWORD")}
    >>> params["sasl_plain_password"]
    Secret.from_env('KAFKA_PASSWORD')
    """

    __slots__ = ("_value", "env", "provider", "setting")

    def __init__(self, value=_MISSING, setting: str | None = None, *, env: str | None = None, provider=None):
        self._value, self.setting, self.env, self.provider = value, setting, env, provider

    @classmethod
    def from_env(cls, variable: str) -> Secret:
        """The value of the environment variable ``variable`` on the driver, read when a client is opened."""
        return cls(env=variable)

    @classmethod
    def from_callable(cls, function) -> Secret:
        """The value ``function()`` returns on the driver when a client is opened (the function is checkpointed)."""
        if not callable(function):
            raise TypeError(f"Secret.from_callable() takes a function, got {type(function).__name__}")
        return cls(provider=function)

    @classmethod
    def missing(cls, setting: str) -> Secret:
        """A secret left out of a checkpoint: give it again with ``get_or_create(..., secrets=...)``."""
        return cls(setting=setting)

    @property
    def is_missing(self) -> bool:
        return self._value is _MISSING and self.env is None and self.provider is None

    def get(self, setting: str | None = None):
        """The plain value; a clear error when it cannot be had."""
        from .clients import KafkaParamsError

        name = setting or self.setting or "a secret setting"
        if self.env is not None:
            try:
                return os.environ[self.env]
            except KeyError:
                raise KafkaParamsError(f"the Kafka setting {name} is read from the environment variable {self.env}, "
                                       "which is not set on the driver; set it before starting the application"
                                       ) from None
        if self.provider is not None:
            return self.provider()
        if self._value is _MISSING:
            raise KafkaParamsError(
                f"the Kafka setting {name} was kept out of the checkpoint (secrets never enter one): give it again "
                f"with StreamingContext.get_or_create(..., secrets={{{name!r}: ...}}), or set it in the params as "
                "dstreams.kafka.Secret.from_env('VARIABLE')")
        return self._value

    def checkpoint_reduce(self):
        """How a metadata checkpoint writes it: the reference, or a marker naming the setting."""
        if self.env is not None:
            return Secret.from_env, (self.env,)
        if self.provider is not None:
            return Secret.from_callable, (self.provider,)
        return Secret.missing, (self.setting,)

    def __reduce__(self):  # sent to a worker with its task: the plain value, read on the driver
        return Secret, (self.get(), self.setting)

    def __repr__(self):
        if self.env is not None:
            return f"Secret.from_env({self.env!r})"
        if self.provider is not None:
            return "Secret.from_callable(...)"
        return "Secret.missing()" if self._value is _MISSING else "Secret('*****')"

    def __eq__(self, other):
        return (isinstance(other, Secret) and (self._value, self.env, self.provider)
                == (other._value, other.env, other.provider))

    def __hash__(self):
        return hash((Secret, self.env))


def protect(params):
    """A copy of ``params`` with the value of every secret setting wrapped in a :class:`Secret` (anything
    not a dict is returned as it is, for the caller to refuse)."""
    if not isinstance(params, Mapping):
        return params
    return {k: (Secret(v, k) if is_secret_setting(k) and v is not None and not isinstance(v, Secret) else
                (Secret(v._value, k, env=v.env, provider=v.provider) if isinstance(v, Secret) and v.setting is None
                 else v))
            for k, v in params.items()}


def reveal(params: Mapping[str, Any]) -> dict:
    """A copy of ``params`` with every :class:`Secret` replaced by its value, for opening a client."""
    return {k: (v.get(k) if isinstance(v, Secret) else v) for k, v in params.items()}


def masked(params) -> Any:
    """``params`` with the values of secret settings hidden, for messages and logs."""
    if not isinstance(params, Mapping):
        return params
    return {k: (MASK if is_secret_setting(k) and v is not None else v) for k, v in params.items()}
