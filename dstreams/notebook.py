"""In Jupyter, what a running context prints goes under the cell that started it.

A context prints from its own threads: ``pprint`` and ``foreach_rdd`` functions run on the job thread,
a failed batch is logged from there, a failed receiver from the receiver tracker's. An IPython kernel
sends the output of such a thread to whichever cell runs at that moment, unless the thread says which
cell it belongs to. So :meth:`StreamingContext.start` captures the starting cell (:func:`capture`) and
every thread the context starts (a :class:`RoutedThread`) sets that cell as its own output parent with
ipykernel's ``set_thread_parent`` (ipykernel 7.4 and newer; with an older kernel, the per-stream
``set_thread_parent`` where it has one): only the thread's own output is routed, the kernel's global
parent (the running cell, for every other thread) is left alone. A thread started by such a thread (a
stop after a failure, say) inherits the cell.

Outside an IPython kernel nothing of this does anything: :func:`capture` returns None without importing
IPython, and a RoutedThread is a plain thread.
"""
from __future__ import annotations

import contextlib
import logging
import sys
import threading

logger = logging.getLogger("dstreams")

_local = threading.local()  # .route: the CellRoute the calling thread sends its output to


class CellRoute:
    """The output parent of one notebook cell, set on a thread with :meth:`enter` and undone with :meth:`exit`."""

    def __init__(self, shell, parent):
        self.shell = shell
        self.parent = parent

    @property
    def msg_id(self) -> str | None:
        """The id of the cell's execute request (output messages name it as their parent)."""
        header = self.parent.get("header", self.parent) if isinstance(self.parent, dict) else {}
        return header.get("msg_id") if isinstance(header, dict) else None

    def _targets(self) -> list:
        """What keeps a per-thread parent: the shell itself when it can set them all (ipykernel >= 7.4),
        else the output streams and display publishers that can."""
        shell = self.shell
        if _settable(shell):
            return [shell]
        candidates = [getattr(shell, "displayhook", None), getattr(shell, "display_pub", None),
                      sys.stdout, sys.stderr]
        return [c for c in candidates if _settable(c)]

    def enter(self) -> list:
        """Send the calling thread's output to the cell; returns what :meth:`exit` needs."""
        tokens = []
        for target in self._targets():
            try:
                tokens.append((target, target.set_thread_parent(self.parent)))
            except Exception as e:  # an ipykernel whose API changed: output goes where the kernel sends it
                logger.debug("dstreams: cannot route thread output to the starting cell: %s", e)
        return tokens

    @staticmethod
    def exit(tokens: list) -> None:
        for target, token in reversed(tokens):
            try:
                target.reset_thread_parent(token)
            except Exception:  # the thread ends anyway; its context goes with it
                pass

    def __repr__(self):
        return f"<CellRoute {self.msg_id}>"


def _settable(obj) -> bool:
    return callable(getattr(obj, "set_thread_parent", None)) and callable(getattr(obj, "reset_thread_parent", None))


def capture() -> CellRoute | None:
    """The cell running now, when this is an IPython kernel that can route a thread's output; else None.

    Never imports IPython: a program that has not imported it is not in a kernel.
    """
    if "IPython" not in sys.modules:
        return None
    try:
        from IPython import get_ipython

        shell = get_ipython()
        get_parent = getattr(shell, "get_parent", None)  # ZMQInteractiveShell: a kernel, not a terminal
        if get_parent is None:
            return None
        parent = get_parent()
        route = CellRoute(shell, parent)
        if not parent or not route._targets():
            return None
        return route
    except Exception as e:
        logger.debug("dstreams: cannot tell which notebook cell runs: %s", e)
        return None


def current() -> CellRoute | None:
    """The route of the calling thread: the cell its output goes to, if it was set by dstreams."""
    return getattr(_local, "route", None)


@contextlib.contextmanager
def threads_routed_to(route: CellRoute | None):
    """Threads started (as :class:`RoutedThread`) inside this block send their output to ``route``."""
    previous = current()
    _local.route = route
    try:
        yield
    finally:
        _local.route = previous


class RoutedThread(threading.Thread):
    """A daemon thread that sends its output where the thread that created it does (see the module doc)."""

    def __init__(self, target, name: str, args: tuple = (), daemon: bool = True):
        super().__init__(target=target, name=name, args=args, daemon=daemon)
        self.route = current()

    def run(self):
        route = self.route
        if route is None:
            return super().run()
        _local.route = route
        tokens = route.enter()
        try:
            return super().run()
        finally:
            route.exit(tokens)
            _local.route = None
