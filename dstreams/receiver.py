"""Deprecated alias of :mod:`dstreams.sources.receiver` (the receivers moved there, with the other sources)."""
import warnings

from .sources.receiver import Receiver, SocketReceiver

warnings.warn("dstreams.receiver is deprecated: import Receiver from dstreams and SocketReceiver from "
              "dstreams.sources.receiver instead", DeprecationWarning, stacklevel=2)

__all__ = ["Receiver", "SocketReceiver"]
