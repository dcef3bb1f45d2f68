"""Receiver-based sources: your own :class:`Receiver`, and :class:`SocketReceiver` for text lines."""
from .api import Receiver
from .socket import SocketReceiver

__all__ = ["Receiver", "SocketReceiver"]
