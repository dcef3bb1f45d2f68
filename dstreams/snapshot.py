"""Snapshots: the state of a running graph as data, so that a new version of an application resumes it.

Beside every metadata checkpoint (the pickled graph, which only the same code can load), the
checkpoint writer saves ``snapshot-<seq>-<time>.json``: for every source, its position as plain JSON
(Kafka offsets and each remembered batch's offset ranges, the files a file stream took), and for every
stateful stream, where its data checkpoints are (the records of its state, saved by the workers).
Streams are keyed by name: the name given with :meth:`DStream.named`, or else one derived from the
stream's place in the graph (``"update-state-by-key-5"``).

``StreamingContext.get_or_create(directory, setup, upgrade=True)`` (or a checkpoint the running code
cannot load) builds the new graph with ``setup()`` and restores each source and stateful stream whose
name is in the snapshot: the state from its newest data checkpoint, and the sources from their
remembered batches, so that the batches after that data checkpoint run again on the same input and
the state goes on exactly.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass, field

from ._util import fmt_ms

logger = logging.getLogger("dstreams")

FORMAT = 1
PREFIX = "snapshot-"


def is_stateful(stream) -> bool:
    return getattr(stream, "needs_checkpoint", False)


def _kept(graph):
    """The streams a snapshot keeps: every source and every stateful stream."""
    return [s for s in graph.streams if getattr(s, "is_input", False) or is_stateful(s)]


def take(graph, time_ms: int, batch_ms: int, pending_times) -> dict:
    """The snapshot of ``graph`` (JSON-able) after batch ``time_ms`` was generated."""
    from . import __version__
    from ._util import python_version

    return {
        "format": FORMAT, "python": python_version(), "dstreams": __version__,
        "time_ms": time_ms, "batch_ms": batch_ms, "zero_ms": graph.zero_time, "pending_times": list(pending_times),
        "streams": {s.name: {"op": s.op, "lineage": s.lineage(), "named": s.explicit_name} for s in _kept(graph)},
        "sources": {s.name: s.snapshot() for s in graph.inputs},
        "state": {s.name: s.state_snapshot() for s in graph.streams if is_stateful(s)},
    }


def _body(snapshot: dict) -> bytes:
    return json.dumps({k: v for k, v in snapshot.items() if k != "hmac"}, sort_keys=True).encode()


def dumps(snapshot: dict, key=None) -> bytes:
    """The snapshot as JSON, signed (``hmac``) when a checkpoint key is given."""
    out = dict(snapshot)
    if key is not None:
        key = key.encode() if isinstance(key, str) else key
        out["hmac"] = hmac.new(key, _body(snapshot), hashlib.sha256).hexdigest()
    return json.dumps(out, indent=1).encode()


def loads(data: bytes, path: str, key=None) -> dict:
    """Read a snapshot, checking its format and, with a key, its signature."""
    from .checkpoint import CheckpointError, CheckpointSignatureError

    try:
        snapshot = json.loads(data)
    except ValueError as e:
        raise CheckpointError(f"snapshot {path} is not readable JSON (corrupt or cut short)") from e
    if not isinstance(snapshot, dict) or snapshot.get("format") != FORMAT:
        found = snapshot.get("format") if isinstance(snapshot, dict) else None
        raise CheckpointError(f"snapshot {path} has format {found}, this dstreams reads {FORMAT}")
    if key is not None or snapshot.get("hmac") is not None:
        k = None if key is None else (key.encode() if isinstance(key, str) else key)
        expected = None if k is None else hmac.new(k, _body(snapshot), hashlib.sha256).hexdigest()
        if expected is None or snapshot.get("hmac") is None or not hmac.compare_digest(expected, snapshot["hmac"]):
            raise CheckpointSignatureError(
                f"snapshot {path} failed its signature check (checkpoint_key missing or different); pass the "
                "checkpoint_key the application was started with")
    return snapshot


@dataclass
class UpgradeState:
    """What :meth:`StreamingContext.start` needs to resume a graph restored from a snapshot."""

    time_ms: int                 # the last batch the old application generated
    zero_ms: int                 # its zero time: batch times stay on the same grid
    pending_times: list          # the batches to run again, in order
    report: dict = field(default_factory=dict)  # stream name -> "restored" | "not found" | "not used"


def restore(graph, snapshot: dict, path: str) -> UpgradeState:
    """Restore the sources and stateful streams of a new ``graph`` from an old application's ``snapshot``.

    Raises :class:`CheckpointError` when the streams cannot be matched by name or the sources no longer
    remember the batches the state needs run again.
    """
    from .checkpoint import CheckpointError

    old = snapshot["streams"]
    if snapshot["batch_ms"] != graph.batch_ms:
        raise CheckpointError(
            f"cannot resume from {path}: it was written with a batch interval of {fmt_ms(snapshot['batch_ms'])}, "
            f"the new application has {fmt_ms(graph.batch_ms)}; keep the batch interval, or start afresh with a "
            "new checkpoint directory")
    report, matched, unmatched = {}, [], []
    for stream in _kept(graph):
        entry = old.get(stream.name)
        if stream.explicit_name:
            (matched if entry is not None else unmatched).append(stream)
            report[stream.name] = "restored" if entry is not None else "not found"
        elif entry is not None and not entry["named"] and entry["lineage"] == stream.lineage():
            matched.append(stream)
            report[stream.name] = "restored"
        else:
            unmatched.append(stream)
    unused = sorted(set(old) - {s.name for s in matched})
    unnamed = [s for s in unmatched if not s.explicit_name]
    if unnamed and unused:
        listed = ", ".join(f"'{n}' ({old[n]['op']})" for n in unused)
        raise CheckpointError(
            f"cannot resume from {path}: the graph changed and its streams {', '.join(repr(s.name) for s in unnamed)} "
            f"have no name that the checkpoint knows. The checkpoint holds {listed}. Name the sources and stateful "
            "streams of the new version after them, e.g. stream.named('" + unused[0] + "'), or start afresh with "
            "a new checkpoint directory")
    for stream in unmatched:
        report[stream.name] = "not found"
    for name in unused:
        report[name] = "not used"
    for stream in matched:
        if getattr(stream, "is_input", False) and stream.restorable_reason() is not None:
            raise CheckpointError(f"cannot resume stream '{stream.name}' from {path}: {stream.restorable_reason()}")
    resume_at = _resume_time(graph, snapshot, matched, path)
    for stream in matched:
        if getattr(stream, "is_input", False):
            stream.restore(snapshot["sources"][stream.name])
        else:
            stream.restore_state(snapshot["state"][stream.name], resume_at)
    last = snapshot["time_ms"]
    if resume_at is None:  # no state to rebuild: run again what was pending, as a recovery does
        rerun = sorted(snapshot["pending_times"])
    else:
        rerun = list(range(resume_at + graph.batch_ms, last + graph.batch_ms, graph.batch_ms))
    _check_sources_remember(graph, snapshot, matched, rerun, path)
    return UpgradeState(last, snapshot["zero_ms"], rerun, report)


def _resume_time(graph, snapshot, matched, path):
    """The batch time of the data checkpoint every restored stateful stream has (None without any)."""
    from .checkpoint import CheckpointError

    stateful = [s for s in matched if is_stateful(s)]
    if not stateful:
        return None
    common = None
    for s in stateful:
        times = {int(t) for t in snapshot["state"][s.name]["checkpoints"]} | {snapshot["zero_ms"]}
        common = times if common is None else common & times
    if not common:
        raise CheckpointError(
            f"cannot resume from {path}: the stateful streams {', '.join(repr(s.name) for s in stateful)} have no "
            "data checkpoint of the same batch; give them the same checkpoint interval, let the old version run "
            "until they checkpoint together, or start afresh")
    return max(common)


def _check_sources_remember(graph, snapshot, matched, rerun, path):
    from .checkpoint import CheckpointError

    generated = [t for t in rerun if t <= snapshot["time_ms"]]
    for stream in matched:
        if not getattr(stream, "is_input", False):
            continue
        missing = [t for t in generated if not stream.remembers(t)]
        if missing:
            raise CheckpointError(
                f"cannot resume from {path}: source '{stream.name}' no longer remembers the input of the batches "
                f"{missing[0]} to {missing[-1]} ms that rebuild the state; the old version's data checkpoints "
                "were further apart than its sources remembered (ssc.remember() a longer duration), or start "
                "afresh")


def describe(report: dict) -> str:
    groups = {}
    for name, what in sorted(report.items()):
        groups.setdefault(what, []).append(name)
    return "; ".join(f"{what}: {', '.join(names)}" for what, names in groups.items()) or "nothing to restore"
