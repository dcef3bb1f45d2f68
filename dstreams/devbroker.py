"""Deprecated alias of :mod:`dstreams.dev.broker` (the development broker moved there)."""
import warnings

from .dev.broker import DevBroker, DevBrokerError, find_noida_db

warnings.warn("dstreams.devbroker is deprecated: import DevBroker from dstreams.dev.broker instead",
              DeprecationWarning, stacklevel=2)

__all__ = ["DevBroker", "DevBrokerError", "find_noida_db"]
