"""Watching a running stream: the Streaming page of the Dask dashboard and Prometheus metrics.

:func:`attach` is called by :meth:`StreamingContext.start`: it registers
:class:`~dstreams.dashboard.plugin.StreamingPagePlugin` on the scheduler and a
:class:`~dstreams.dashboard.reporter.DashboardReporter` listener on the context.
"""
from __future__ import annotations

import logging

logger = logging.getLogger("dstreams")

_warned: set = set()


def page_url(client) -> str | None:
    """The Streaming page's address beside the client's Dask dashboard, or None without a dashboard."""
    try:
        link = client.dashboard_link
    except Exception:
        return None
    if not link:
        return None
    base = link.rsplit("/", 1)[0] if link.rstrip("/").endswith("status") else link.rstrip("/")
    return f"{base}/streaming"


def attach(ssc):
    """Register the page's scheduler plugin and the context's reporter; returns the reporter, or None when
    the scheduler cannot take the plugin (said once per scheduler, with what to install) or the Dask
    setting ``dstreams.dashboard`` is False (``dask.config.set({"dstreams.dashboard": False})``, or the
    environment variable ``DASK_DSTREAMS__DASHBOARD=False``)."""
    import dask

    from .plugin import PLUGIN_NAME, StreamingPagePlugin
    from .reporter import DashboardReporter

    if not dask.config.get("dstreams.dashboard", True):  # turned off by the user
        return None
    client = ssc.client
    try:
        client.register_plugin(StreamingPagePlugin(), name=PLUGIN_NAME)
    except Exception as exc:  # dstreams not installed where the scheduler runs, say
        address = getattr(client.scheduler, "address", "?")
        if address not in _warned:
            _warned.add(address)
            logger.warning(
                "dstreams: the Dask scheduler at %s cannot show the Streaming page (%s: %s): install dstreams "
                "(pip install dstreams) where the scheduler runs and restart it", address, type(exc).__name__, exc)
        return None
    reporter = DashboardReporter(ssc)
    ssc.runtime.bus.add(reporter)
    return reporter
