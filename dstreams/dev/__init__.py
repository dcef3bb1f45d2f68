"""Development tools, not the engine: :class:`DevBroker`, a real Kafka-protocol broker for tests and demos."""
from .broker import DevBroker, DevBrokerError, find_noida_db

__all__ = ["DevBroker", "DevBrokerError", "find_noida_db"]
