"""Metadata checkpoints: write and read them atomically through fsspec.

A checkpoint file holds one header line (JSON: format, Python and dstreams versions, payload length,
SHA-256, optional HMAC) followed by the cloudpickled state: the DStream graph with the user's functions,
the batch interval, the batch times generated but not finished, and each source's per-batch metadata.
Beside it, ``offsets-<time>.json`` holds the same batch times and source metadata (Kafka offsets) in
plain JSON, readable without unpickling, so an operator can restart a new version of an application
from it.

A checkpoint is code: unpickling it runs whatever it contains. Only read checkpoint directories you
trust, and use ``checkpoint_key`` to sign them.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import sys
import uuid
from dataclasses import dataclass, field

import cloudpickle
import fsspec

from .errors import CheckpointError, CheckpointSignatureError, CheckpointVersionError

logger = logging.getLogger("dstreams")

FORMAT = 1
PREFIX = "checkpoint-"
KEEP = 5


@dataclass
class CheckpointState:
    """What a metadata checkpoint restores."""

    time_ms: int
    batch_ms: int
    checkpoint_dir: str
    graph: object
    pending_times: list = field(default_factory=list)
    sources: dict = field(default_factory=dict)


def _recovered_client():
    from .context import _context_being_recovered

    return _context_being_recovered().client


class _Pickler(cloudpickle.Pickler):
    """cloudpickle, with a Dask client referred to by a user function written as "the recovered
    context's client" (a live client cannot be pickled, and a recovered context has a new one)."""

    def reducer_override(self, obj):
        from distributed import Client

        if isinstance(obj, Client):
            return _recovered_client, ()
        return super().reducer_override(obj)


def dumps(obj) -> bytes:
    """Pickle a stream graph for a checkpoint."""
    import io

    buf = io.BytesIO()
    _Pickler(buf, protocol=cloudpickle.DEFAULT_PROTOCOL).dump(obj)
    return buf.getvalue()


def _versions():
    from . import __version__

    return {"python": f"{sys.version_info.major}.{sys.version_info.minor}", "dstreams": __version__}


def _sign(key, payload: bytes) -> str | None:
    if key is None:
        return None
    if isinstance(key, str):
        key = key.encode()
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


class CheckpointWriter:
    """Writes checkpoints of one context into ``directory``; keeps the newest ``keep``."""

    def __init__(self, directory: str, key=None, keep: int = KEEP):
        self.directory = directory
        self.fs, self.root = fsspec.core.url_to_fs(directory)
        self.fs.makedirs(self.root, exist_ok=True)
        self.key, self.keep = key, keep
        existing = checkpoint_files(directory)
        # newest first; names are checkpoint-<sequence>-<batch time>, the sequence orders writes
        self.seq = int(existing[0].rsplit("/", 1)[-1][len(PREFIX):].split("-")[0]) if existing else 0

    def write(self, state: CheckpointState, sources_json: dict) -> str:
        payload = dumps(state)
        header = {"format": FORMAT, **_versions(), "time_ms": state.time_ms, "batch_ms": state.batch_ms,
                  "length": len(payload),
                  "sha256": hashlib.sha256(payload).hexdigest(), "hmac": _sign(self.key, payload)}
        self.seq += 1
        stamp = f"{self.seq:012d}-{state.time_ms}"
        name = f"{PREFIX}{stamp}"
        offsets = {"time_ms": state.time_ms, "batch_ms": state.batch_ms, "pending_times": state.pending_times,
                   "sources": sources_json}
        self._atomic_write(f"offsets-{stamp}.json", json.dumps(offsets, indent=1).encode())
        self._atomic_write(name, json.dumps(header).encode() + b"\n" + payload)
        self._delete_old()
        return f"{self.root}/{name}"

    def _atomic_write(self, name: str, data: bytes) -> None:
        tmp = f"{self.root}/.{name}.{uuid.uuid4().hex}.tmp"
        with self.fs.open(tmp, "wb") as fh:
            fh.write(data)
        self.fs.mv(tmp, f"{self.root}/{name}")

    def _delete_old(self) -> None:
        for prefix, suffix in ((PREFIX, ""), ("offsets-", ".json")):
            files = sorted(p for p in self.fs.ls(self.root, detail=False)
                           if p.rsplit("/", 1)[-1].startswith(prefix) and p.endswith(suffix))
            for old in files[:-self.keep]:
                try:
                    self.fs.rm(old)
                except FileNotFoundError:
                    pass


def checkpoint_files(directory: str) -> list[str]:
    """Checkpoint files in ``directory``, newest first."""
    fs, root = fsspec.core.url_to_fs(directory)
    if not fs.exists(root):
        return []
    names = [p for p in fs.ls(root, detail=False) if p.rsplit("/", 1)[-1].startswith(PREFIX)]
    local = "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))
    return sorted((p if local else fs.unstrip_protocol(p) for p in names), reverse=True)  # URLs: read_file opens them


def _offsets_file(path: str) -> str:
    head, name = path.rsplit("/", 1)
    return f"{head}/offsets-{name[len(PREFIX):]}.json"


def read_file(path: str, key=None, on_header=None) -> CheckpointState:
    """Read one checkpoint, checking header, length, checksum and signature before unpickling."""
    fs, _ = fsspec.core.url_to_fs(path)
    with fs.open(path, "rb") as fh:
        data = fh.read()
    line, sep, payload = data.partition(b"\n")
    try:
        header = json.loads(line)
    except ValueError as e:
        raise CheckpointError(f"checkpoint {path} has no readable header (corrupt or not a checkpoint)") from e
    if header.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path} has format {header.get('format')}, this dstreams reads {FORMAT}")
    mine = _versions()
    for what in ("python", "dstreams"):
        if header.get(what) != mine[what]:
            raise CheckpointVersionError(
                f"checkpoint {path} was written by {what} {header.get(what)}, this is {mine[what]}: it is not "
                f"unpickled. Start a new application from the offsets in {_offsets_file(path)} instead "
                "(e.g. create_direct_stream(..., starting_offsets=...)) with a new checkpoint directory"
            )
    if not sep or len(payload) != header.get("length") or hashlib.sha256(payload).hexdigest() != header.get("sha256"):
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt (length or checksum mismatch)")
    if key is not None or header.get("hmac") is not None:
        expected = _sign(key, payload)
        if expected is None or header.get("hmac") is None or not hmac.compare_digest(expected, header["hmac"]):
            raise CheckpointSignatureError(
                f"checkpoint {path} failed its signature check (checkpoint_key missing or different); it was "
                "not unpickled"
            )
    if on_header is not None:
        on_header(header)
    return cloudpickle.loads(payload)


def read_latest(directory: str, key=None, on_header=None) -> CheckpointState | None:
    """The newest good checkpoint in ``directory``; None when there is none at all.

    A bad checkpoint is skipped with a warning; when every one is bad the error names the JSON offsets
    file to restart from.
    """
    files = checkpoint_files(directory)
    if not files:
        return None
    errors = []
    for path in files:
        try:
            return read_file(path, key, on_header)
        except (CheckpointVersionError, CheckpointSignatureError):
            raise  # an older checkpoint would silently lose the newest state
        except CheckpointError as e:
            logger.warning("dstreams: skipping checkpoint: %s", e)
            errors.append(str(e))
        except Exception as e:  # unpickling failed
            logger.warning("dstreams: skipping unreadable checkpoint %s: %s", path, e)
            errors.append(f"{path}: {type(e).__name__}: {e}")
    raise CheckpointError(
        f"no usable checkpoint in {directory}: " + "; ".join(errors)
        + f". To restart, read the offsets in {_offsets_file(files[0])} and start a new application from them"
    )


# ---------------------------------------------------------------------------------------------
# data checkpoints: the partitions of an RDD, written by worker tasks, read back lazily


def _write_partition(path: str, part) -> list:
    fs, p = fsspec.core.url_to_fs(path)
    tmp = f"{p}.{uuid.uuid4().hex}.tmp"
    with fs.open(tmp, "wb") as fh:
        cloudpickle.dump(list(part), fh)
    fs.mv(tmp, p)
    return [path]


def _read_partition(path: str) -> list:
    from ._util import as_records

    with fsspec.open(path, "rb") as fh:
        return as_records(cloudpickle.load(fh))


def write_rdd(rdd, directory: str) -> list[str]:
    """Write every partition of ``rdd`` as ``part-NNNNN`` under ``directory``, in parallel on the workers."""
    from dask._task_spec import Task, TaskRef

    fs, root = fsspec.core.url_to_fs(directory)
    fs.makedirs(root, exist_ok=True)
    base = directory.rstrip("/")
    name = f"data-checkpoint-{rdd.name}"
    layer = {(name, i): Task((name, i), _write_partition, f"{base}/part-{i:05d}", TaskRef(k))
             for i, k in enumerate(rdd.__dask_keys__())}
    return rdd._new(name, layer, [rdd]).compute()


def read_rdd(directory: str, npartitions: int, client, name: str, partitioner=None):
    """An RDD whose partition ``i`` is read from ``directory/part-i`` (its lineage starts there)."""
    from dask._task_spec import Task
    from dask.highlevelgraph import HighLevelGraph

    from .rdd import RDD

    base = directory.rstrip("/")
    layer = {(name, i): Task((name, i), _read_partition, f"{base}/part-{i:05d}") for i in range(npartitions)}
    return RDD(HighLevelGraph.from_collections(name, layer, dependencies=()), name, npartitions, client, partitioner)


def delete_dir(directory: str) -> None:
    fs, root = fsspec.core.url_to_fs(directory)
    try:
        fs.rm(root, recursive=True)
    except FileNotFoundError:
        pass
