"""How a context, a DStream, an RDD and a BatchInfo look in a notebook (``_repr_html_``), and the context's
one-line status.

The functions read what the objects hold and never talk to the cluster: a repr is quick and works
after ``stop()`` and on a closed client. :func:`text_repr` and :func:`html_repr` wrap a ``__repr__`` or a
``_repr_html_`` so that it never raises: an object whose ``__init__`` failed half-way, or one in a state
nobody thought of, shows what can be shown.
"""
from __future__ import annotations

import functools
import html

from .._util import fmt_ms, ms_to_datetime

_CSS = ("<style>.dstreams-repr table {border-collapse: collapse; margin: 2px 0}"
        " .dstreams-repr th, .dstreams-repr td {text-align: left; padding: 1px 10px 1px 0; vertical-align: top}"
        "</style>")
_STATE_COLOURS = {"active": "#2e7d32", "completed": "#2e7d32", "processing": "#1565c0", "queued": "#546e7a",
                  "initialized": "#546e7a", "stopped": "#6d4c41", "failed": "#c62828"}


# -- never raising -------------------------------------------------------------------------------
def fallback_text(obj) -> str:
    return f"<{type(obj).__name__}>"


def text_repr(method):
    """Decorate a ``__repr__``: when it raises, the repr is ``<ClassName>``."""
    @functools.wraps(method)
    def safe(self):
        try:
            return method(self)
        except Exception:
            return fallback_text(self)

    return safe


def html_repr(method):
    """Decorate a ``_repr_html_``: when it raises, the HTML is the (never raising) text repr."""
    @functools.wraps(method)
    def safe(self):
        try:
            return method(self)
        except Exception:
            try:
                text = repr(self)
            except Exception:
                text = fallback_text(self)
            return f"<pre>{esc(text)}</pre>"

    return safe


# -- pieces ---------------------------------------------------------------------------------------
def esc(value) -> str:
    return html.escape(str(value))


def seconds(value) -> str:
    """``0.153 s``, or ``-`` when not known yet."""
    return "-" if value is None else f"{value:.3f} s"


def one_line(text, limit: int = 300) -> str:
    """``text`` on one line, cut at ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def link(url: str, label: str) -> str:
    return f'<a href="{esc(url)}" target="_blank" rel="noopener">{esc(label)}</a>'


def table(rows, header=None) -> str:
    """An HTML table: without ``header``, of ``(label, html)`` rows (the label is escaped here); with one,
    of rows of cells that are HTML already."""
    head = "<tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>" if header else ""
    body = "".join(
        "<tr>" + "".join(f"<th>{esc(cell)}</th>" if i == 0 and not header else f"<td>{cell}</td>"
                         for i, cell in enumerate(row)) + "</tr>"
        for row in rows)
    return f"<table>{head}{body}</table>"


def titled(title: str, body: str) -> str:
    return f'<div class="dstreams-repr">{_CSS}<strong>{title}</strong>{body}</div>'


def count(n, noun: str) -> str:
    """``1 record``, ``2 records``, ``3 batches``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}{'es' if noun.endswith('ch') else 's'}"


def badge(state: str) -> str:
    colour = _STATE_COLOURS.get(state, "#546e7a")
    return (f'<span style="background: {colour}; color: white; border-radius: 3px; padding: 0 5px">'
            f'{esc(state)}</span>')


# -- BatchInfo ------------------------------------------------------------------------------------
def batch_status(info) -> str:
    """``queued``, ``processing``, ``completed`` or ``failed``."""
    if info.processing_end_time_ms is not None:
        return "failed" if info.failure_reason else "completed"
    return "processing" if info.processing_start_time_ms is not None else "queued"


def batch_time(ms: int) -> str:
    """``2026-11-24 07:09:02`` or, off the second, ``2026-11-24 07:09:02.500``."""
    text = f"{ms_to_datetime(ms):%Y-%m-%d %H:%M:%S.%f}"
    return text[:-7] if ms % 1000 == 0 else text[:-3]


def batch_summary(info) -> str:
    """``2026-11-24 07:09:02.500: 280 records, scheduling 0.003 s, processing 0.152 s, total 0.155 s``."""
    text = (f"{batch_time(info.batch_time_ms)}: {count(info.num_records, 'record')}, "
            f"scheduling {seconds(info.scheduling_delay)}, processing {seconds(info.processing_delay)}, "
            f"total {seconds(info.total_delay)}")
    status = batch_status(info)
    if status == "failed":
        text += f", failed: {one_line(info.failure_reason, 200)}"
    elif status != "completed":
        text += f", {status}"
    return text


def batch_text(info) -> str:
    return f"<BatchInfo {batch_summary(info)}, {count(len(info.output_operations), 'output operation')}>"


def batch_html(info) -> str:
    rows = [
        ("Batch time", esc(f"{batch_time(info.batch_time_ms)} ({info.batch_time_ms} ms)")),
        ("Status", badge(batch_status(info))),
        ("Records", esc(info.num_records)),
        ("Scheduling delay", seconds(info.scheduling_delay)),
        ("Processing time", seconds(info.processing_delay)),
        ("Total delay", seconds(info.total_delay)),
    ]
    if info.input_info:
        rows.append(("Inputs", esc(", ".join(
            f"stream {stream_id}: {count(getattr(inp, 'num_records', '?'), 'record')}"
            for stream_id, inp in sorted(info.input_info.items())))))
    body = table(rows)
    ops = sorted(info.output_operations.items())
    if ops:
        body += table(
            [(esc(op.id), esc(op.description), seconds(op.duration),
              esc(op.failure_reason) if op.failure_reason else ("ok" if op.end_time_ms is not None else "running"))
             for _, op in ops],
            header=("output operation", "description", "duration", "status"))
    return titled("BatchInfo", body)


# -- RDD ------------------------------------------------------------------------------------------
def rdd_html(rdd) -> str:
    d = rdd.__dict__
    partitioner = d.get("partitioner")
    rows = [
        ("Name", esc(d.get("name", "?"))),
        ("Partitions", esc(d.get("npartitions", "?"))),
        ("Partitioner", esc(partitioner) if partitioner is not None else "none"),
        ("Persisted", "yes" if d.get("_persisted") is not None else "no"),
    ]
    return titled("RDD", table(rows))


# -- DStream --------------------------------------------------------------------------------------
def lineage(stream) -> list:
    """The streams ``stream`` is built from, sources first, ending with ``stream`` itself (each once)."""
    order, seen = [], set()

    def visit(s):
        if id(s) in seen:
            return
        seen.add(id(s))
        for parent in s.__dict__.get("dependencies", ()):
            visit(parent)
        order.append(s)

    visit(stream)
    return order


def _duration(ms, unset: str) -> str:
    return esc(fmt_ms(ms)) if ms else unset


def _slide(stream) -> str:
    try:
        return esc(fmt_ms(stream.slide_ms))
    except Exception:  # no parent yet, or a source of a context that is gone
        return "-"


def dstream_html(stream) -> str:
    d = stream.__dict__
    rows = [
        ("Name", esc(d.get("name", "?"))),
        ("Operator", esc(f"{getattr(stream, 'op', '?')} ({type(stream).__name__})")),
        ("Slide", _slide(stream)),
        ("Remember", _duration(d.get("remember_ms"), "its slide, at least (set on start)")),
        ("Checkpoint interval", _duration(d.get("checkpoint_ms"), "none")),
        ("Persisted", "yes" if d.get("must_persist") else "no"),
    ]
    chain = lineage(stream)
    lineage_rows = []
    for s in chain:
        name = esc(s.__dict__.get("name", "?"))
        parents = ", ".join(esc(p.__dict__.get("name", "?")) for p in s.__dict__.get("dependencies", ())) or "source"
        lineage_rows.append((f"<b>{name}</b>" if s is stream else name, esc(getattr(s, "op", "?")), parents,
                             _slide(s)))
    body = table(rows) + "<div>Lineage, sources first:</div>" + table(
        lineage_rows, header=("stream", "operator", "from", "slide"))
    return titled(f"DStream '{esc(d.get('name', '?'))}'", body)


# -- StreamingContext -----------------------------------------------------------------------------
def context_state(ssc) -> str:
    state = ssc.__dict__.get("_state")
    value = getattr(state, "value", "unknown")
    return "failed" if value == "stopped" and ssc.__dict__.get("_error") is not None else value


def _scheduler_address(ssc):
    address = ssc.__dict__.get("_active_key")
    if address is None:
        try:
            address = ssc.client.scheduler.address
        except Exception:  # closed, or never connected
            address = None
    return address


def _dashboard(ssc) -> tuple[str, str, bool] | None:
    """(label, url, reachable): the Streaming page once started with it, else the Dask dashboard; not
    reachable once the context closed its client (and the cluster it made)."""
    runtime = ssc.__dict__.get("runtime")
    page = getattr(runtime, "dashboard_url", None)
    if page:
        closed = getattr(ssc.__dict__.get("client"), "status", None) in ("closed", "closing")
        return "Streaming page", page, not closed
    try:  # the cluster object knows it; Client.dashboard_link would ask the scheduler (no I/O in a repr)
        dask_link = ssc.client.cluster.dashboard_link
    except Exception:  # a client connected by address, or closed
        dask_link = None
    return ("Dask dashboard", dask_link, True) if dask_link else None


def status_line(ssc) -> str:
    """The context on one line: state, batches, the last batch's delays and the page."""
    batch_ms = ssc.__dict__.get("batch_ms")
    text = f"StreamingContext {context_state(ssc)}, batch {fmt_ms(batch_ms) if batch_ms else '?'}"
    history = ssc.__dict__.get("_history")
    if history is not None:
        text += (f": {count(history.completed, 'batch')} completed, {history.failed} failed, "
                 f"{count(history.records, 'record')}")
        last = history.last
        if last is not None:
            text += f"; last batch {batch_summary(last)}"
    error = ssc.__dict__.get("_error")
    if error is not None:
        text += f"; stopped by {one_line(f'{type(error).__name__}: {error}', 200)}"
    where = _dashboard(ssc)
    if where is not None and where[2]:
        text += f"; {where[0]} {where[1]}"
    return text


def context_html(ssc) -> str:
    d = ssc.__dict__
    batch_ms = d.get("batch_ms")
    rows = [("State", badge(context_state(ssc))),
            ("Batch interval", esc(fmt_ms(batch_ms)) if batch_ms else "?")]
    error = d.get("_error")
    if error is not None:
        rows.append(("Stopped by", esc(one_line(f"{type(error).__name__}: {error}", 500))))
    address = _scheduler_address(ssc)
    if address:
        rows.append(("Scheduler", esc(address)))
    where = _dashboard(ssc)
    if where is not None:
        label, url, reachable = where
        rows.append(("Dashboard", link(url, f"{label}: {url}") if reachable
                     else esc(f"{label}: {url} (gone: its cluster was closed)")))
    runtime = d.get("runtime")
    graph = getattr(runtime, "graph", None)
    if graph is not None:
        rows.append(("Streams", esc(f"{count(len(graph.inputs), 'input')}, "
                                    f"{count(len(graph.outputs), 'output operation')}")))
    history = d.get("_history")
    if history is not None:
        rows.append(("Batches", esc(f"{history.completed} completed, {history.failed} failed, "
                                    f"{count(history.records, 'record')}")))
        last = history.last
        if last is not None:
            rows.append(("Last batch", esc(f"{batch_time(last.batch_time_ms)}: "
                                           f"{count(last.num_records, 'record')}")))
            rows.append(("Last batch's delays", esc(
                f"scheduling {seconds(last.scheduling_delay)}, processing {seconds(last.processing_delay)}, "
                f"total {seconds(last.total_delay)}")))
            if last.failure_reason:
                rows.append(("Last batch failed", esc(one_line(last.failure_reason, 500))))
    run_id = d.get("run_id")
    title = "StreamingContext" + (f" <small>run {esc(run_id)}</small>" if run_id else "")
    return titled(title, table(rows))
