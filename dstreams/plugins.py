"""Worker-side state that outlives a batch, held by WorkerPlugins registered from the driver.

A Kafka read borrows a cached consumer of its partition, and a Kafka sink a pooled producer: both are
kept by the worker process between batches, so a batch does not pay for a new connection and a first
fetch. :class:`KafkaClientsPlugin` ties them to the worker's life: registered on every worker (present
and future) when a Kafka stream or sink starts, it closes them all when the worker shuts down.
"""
from __future__ import annotations

import logging

from distributed.diagnostics.plugin import WorkerPlugin

logger = logging.getLogger("dstreams")

KAFKA_CLIENTS = "dstreams-kafka-clients"


class KafkaClientsPlugin(WorkerPlugin):
    """Holds a worker's cached Kafka consumers and pooled producers, and closes them when it stops."""

    name = KAFKA_CLIENTS
    idempotent = True  # registered by every Kafka stream and sink that starts: the first one stays

    def setup(self, worker):
        from .sources.kafka.consumer import ConsumerCache
        from .sources.kafka.sink import ProducerPool

        self.consumers = ConsumerCache()  # clients are opened on first use, not here
        self.producers = ProducerPool()

    def teardown(self, worker):
        self.consumers.close_all()
        self.producers.close_all()


def worker_plugin(dask_worker=None) -> KafkaClientsPlugin | None:
    """The KafkaClientsPlugin of ``dask_worker`` or of the worker running this task; None outside one."""
    if dask_worker is None:
        from distributed import get_worker

        try:
            dask_worker = get_worker()
        except ValueError:  # not in a worker's task
            return None
    plugin = dask_worker.plugins.get(KAFKA_CLIENTS)
    return plugin if getattr(plugin, "consumers", None) is not None else None


def register_kafka_clients(client) -> bool:
    """Register :class:`KafkaClientsPlugin` on every worker of ``client`` (once); whether it is there."""
    try:
        client.register_plugin(KafkaClientsPlugin(), name=KAFKA_CLIENTS)
        return True
    except Exception as exc:  # e.g. workers where dstreams is not installed
        logger.warning("dstreams: could not register the worker plugin %s (%s: %s); cached Kafka clients are "
                       "closed only when the worker process exits", KAFKA_CLIENTS, type(exc).__name__, exc)
        return False
