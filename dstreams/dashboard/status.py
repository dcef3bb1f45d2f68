"""``ssc.status()``: the context's status in a notebook, updated in place as batches finish.

In a Jupyter kernel, :func:`show` displays the context (its HTML repr) with an IPython display handle
(``display(ssc, display_id=True)``) and registers a :class:`LiveStatus` listener that calls
``handle.update(ssc)`` when a batch finishes, a receiver changes and when the context stops, at most
every :data:`UPDATE_EVERY_S` seconds (a change in between is shown when that time is up). Nothing but
IPython is needed: no widgets. Elsewhere (a script, a terminal IPython) :func:`show` prints one line.
"""
from __future__ import annotations

import logging
import sys
import threading
import time

from ..listener import StreamingListener
from . import html

logger = logging.getLogger("dstreams")

#: the live status is redrawn at most this often (seconds)
UPDATE_EVERY_S = 0.5


def in_kernel() -> bool:
    """Whether this process is a Jupyter kernel (an IPython shell with a kernel: displays can be updated)."""
    if "IPython" not in sys.modules:
        return False
    try:
        from IPython import get_ipython

        return getattr(get_ipython(), "kernel", None) is not None
    except Exception:
        return False


class LiveStatus(StreamingListener):
    """Redraws one display of a context (through its IPython display handle) as the context runs."""

    def __init__(self, ssc, handle, every_s: float = UPDATE_EVERY_S):
        self.ssc, self.handle, self.every_s = ssc, handle, every_s
        self.updates = 0  # how many times the display was redrawn
        self._lock = threading.Lock()
        self._last = float("-inf")  # time.monotonic() of the last redraw
        self._timer: threading.Timer | None = None
        self._closed = False

    # -- events ------------------------------------------------------------------------------
    def on_streaming_started(self, time_ms):
        self.changed()

    def on_batch_completed(self, info):
        self.changed()

    def on_receiver_started(self, info):
        self.changed()

    def on_receiver_error(self, info):
        self.changed()

    def on_receiver_stopped(self, info):
        self.changed()

    def on_streaming_stopped(self):
        self.close()

    # -- redrawing ---------------------------------------------------------------------------
    def changed(self) -> None:
        """Redraw now if the last redraw is old enough; else once it is (one pending redraw at most)."""
        with self._lock:
            if self._closed or self._timer is not None:
                return
            wait = self._last + self.every_s - time.monotonic()
            if wait > 0:
                self._timer = threading.Timer(wait, self._redraw_later)
                self._timer.daemon = True
                self._timer.start()
                return
            self._last = time.monotonic()
        self._redraw()

    def _redraw_later(self) -> None:
        with self._lock:
            self._timer = None
            if self._closed:
                return
            self._last = time.monotonic()
        self._redraw()

    def _redraw(self) -> None:
        try:
            self.handle.update(self.ssc)
            self.updates += 1
        except Exception as e:  # the kernel is going away, say: the stream goes on without the display
            logger.debug("dstreams: the notebook status display could not be updated: %s", e)

    def _ipython_display_(self):
        pass  # ssc.status() as a cell's last line: the status is displayed already, once is enough

    def __repr__(self):
        return f"<LiveStatus {'closed' if self._closed else 'live'}, {self.updates} updates>"

    def close(self) -> None:
        """Show the final state and stop redrawing (called when the context stops)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        self._redraw()
        try:
            self.ssc.runtime.bus.remove(self)
        except ValueError:
            pass


def show(ssc) -> LiveStatus | None:
    """Display the context's status, updated in place while it runs (in a Jupyter kernel); else print one
    line. Returns the listener that redraws it, or None when there is none (not in a kernel, or stopped)."""
    if not in_kernel():
        print(html.status_line(ssc), flush=True)
        return None
    from IPython.display import display

    with ssc._state_lock:  # a stop that comes after this sees the listener, and redraws the display last
        handle = display(ssc, display_id=True)
        if ssc.state.value == "stopped":
            return None
        live = LiveStatus(ssc, handle)
        ssc.runtime.bus.add(live)
    return live
