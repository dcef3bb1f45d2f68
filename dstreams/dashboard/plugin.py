"""The scheduler's side of the Streaming page: a scheduler plugin that keeps the model and serves the page.

:class:`StreamingPagePlugin` is registered by the driver (``client.register_plugin``), so it runs
wherever the Dask scheduler runs, which therefore needs dstreams installed. It adds two routes to the
scheduler's own HTTP server (the one serving the Dask dashboard, no server of its own):

- ``/streaming``: the page (static HTML and JavaScript that draws the charts);
- ``/streaming/data.json``: :meth:`StreamingModel.view`, which the page polls every second
  (``?run=<id>`` for an earlier run).

The driver sends its messages with :func:`receive` through ``Client.run_on_scheduler``.
"""
from __future__ import annotations

import importlib.resources
import json
import logging
import weakref

from distributed.diagnostics.plugin import SchedulerPlugin
from tornado import web

from .model import StreamingModel

logger = logging.getLogger("dstreams")

PLUGIN_NAME = "dstreams-streaming-page"
ROUTE = "/streaming"

#: the plugins alive in this process (one per scheduler), for the Prometheus collector
LIVE: weakref.WeakSet = weakref.WeakSet()


class StreamingPagePlugin(SchedulerPlugin):
    """Keeps a :class:`StreamingModel` of the runs the drivers report, and serves it."""

    name = PLUGIN_NAME
    idempotent = True  # every context registers it; the first one stays, with the runs it knows

    def __init__(self):
        self.model = StreamingModel()

    def __getstate__(self):  # sent to the scheduler empty
        return {}

    def __setstate__(self, state):
        self.model = StreamingModel()

    async def start(self, scheduler) -> None:
        self.scheduler = scheduler
        app = getattr(scheduler, "http_application", None)
        if app is None:
            logger.warning("dstreams: this Dask scheduler has no HTTP server: no Streaming page")
            return
        app.add_handlers(r".*$", [
            (ROUTE + r"/?", PageHandler),
            (ROUTE + r"/data\.json", DataHandler, {"plugin": self}),
        ])
        LIVE.add(self)
        from .. import _compat
        from . import metrics

        _compat.add_dashboard_page(scheduler, ROUTE.strip("/"))  # "Streaming" in the dashboard's menu bar
        metrics.register()

    async def close(self) -> None:
        LIVE.discard(self)  # its scheduler is closing: its runs leave the metrics

    def receive(self, messages: list) -> None:
        for msg in messages:
            try:
                self.model.apply(msg)
            except Exception:  # a malformed message must not break the page or the scheduler
                logger.exception("dstreams: the Streaming page could not take the message %r", msg)


def receive(messages: list, dask_scheduler=None) -> bool:
    """Run on the scheduler (``client.run_on_scheduler(receive, messages)``): hand the driver's messages
    to the plugin. False when the plugin is not there (the scheduler restarted)."""
    plugin = dask_scheduler.plugins.get(PLUGIN_NAME)
    if plugin is None:
        return False
    plugin.receive(messages)
    return True


class PageHandler(web.RequestHandler):
    def get(self):
        page = importlib.resources.files("dstreams.dashboard").joinpath("page.html").read_text()
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.write(page)


class DataHandler(web.RequestHandler):
    def initialize(self, plugin):
        self.plugin = plugin

    def get(self):
        run = self.get_query_argument("run", None)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.write(json.dumps(self.plugin.model.view(run), default=str, allow_nan=False))
