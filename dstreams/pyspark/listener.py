"""StreamingListener with PySpark's camelCase events over :class:`dstreams.StreamingListener`."""
from __future__ import annotations

from ..listener import StreamingListener as _Listener


class _Event:
    """A listener event: ``batchInfo()``, ``outputOperationInfo()`` or ``receiverInfo()`` give the dstreams
    record (:class:`dstreams.BatchInfo`, ...)."""

    def __init__(self, **fields):
        for name, value in fields.items():
            setattr(self, name, (lambda v: lambda: v)(value))


class StreamingListener(_Listener):
    """Override PySpark's ``onBatchCompleted(batchCompleted)`` and the other events; register with
    ``ssc.addStreamingListener(listener)``. ``batchCompleted.batchInfo()`` is a :class:`dstreams.BatchInfo`."""

    def onStreamingStarted(self, streamingStarted): ...
    def onReceiverStarted(self, receiverStarted): ...
    def onReceiverError(self, receiverError): ...
    def onReceiverStopped(self, receiverStopped): ...
    def onBatchSubmitted(self, batchSubmitted): ...
    def onBatchStarted(self, batchStarted): ...
    def onBatchCompleted(self, batchCompleted): ...
    def onOutputOperationStarted(self, outputOperationStarted): ...
    def onOutputOperationCompleted(self, outputOperationCompleted): ...

    def on_streaming_started(self, time_ms):
        event = _Event()
        event.time = time_ms
        self.onStreamingStarted(event)

    def on_batch_submitted(self, info):
        self.onBatchSubmitted(_Event(batchInfo=info))

    def on_batch_started(self, info):
        self.onBatchStarted(_Event(batchInfo=info))

    def on_batch_completed(self, info):
        self.onBatchCompleted(_Event(batchInfo=info))

    def on_output_operation_started(self, info):
        self.onOutputOperationStarted(_Event(outputOperationInfo=info))

    def on_output_operation_completed(self, info):
        self.onOutputOperationCompleted(_Event(outputOperationInfo=info))

    def on_receiver_started(self, info):
        self.onReceiverStarted(_Event(receiverInfo=info))

    def on_receiver_error(self, info):
        self.onReceiverError(_Event(receiverInfo=info))

    def on_receiver_stopped(self, info):
        self.onReceiverStopped(_Event(receiverInfo=info))
