"""Metadata checkpoints: write and read them atomically through fsspec.

A checkpoint file holds one header line (JSON: format, Python and dstreams versions, payload length,
SHA-256, optional HMAC) followed by the cloudpickled state: the DStream graph with the user's functions,
the batch interval, the batch times generated but not finished, and each source's per-batch metadata.
Beside it, ``snapshot-<seq>-<time>.json`` holds the sources' positions and the stateful streams' data
checkpoints as plain JSON (see :mod:`dstreams.snapshot`): a new version of the application, which
cannot load the pickled graph, resumes from it. Data checkpoints (the partitions of a stateful stream's
RDD) are record files (:mod:`dstreams.recordfile`): data, not code.

A checkpoint is code: unpickling it runs whatever it contains. Only read checkpoint directories you
trust, and use ``checkpoint_key`` to sign them.
"""
from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import pickle
import time
import uuid
from dataclasses import dataclass, field

import cloudpickle
import fsspec

from . import recordfile
from .errors import (
    CheckpointError,
    CheckpointSecretError,
    CheckpointSignatureError,
    CheckpointUnreadableError,
    CheckpointVersionError,
)

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


class _Pickler(cloudpickle.Pickler):
    """cloudpickle, with the StreamingContext and its Dask client written as references ("the context",
    "its client"): a user function that refers to them gets the recovered context's after recovery, and
    an RDD in the graph (an initial state) runs on the recovered context's cluster."""

    def persistent_id(self, obj):
        from distributed import Client

        from .context import StreamingContext
        from .signing import SigningKey

        if isinstance(obj, StreamingContext):
            return "context"
        if isinstance(obj, SigningKey):  # never its bytes: the reader derives it from its checkpoint_key
            return "data-key"
        from .sources.kafka.secrets import Secret

        if isinstance(obj, Secret) and obj.env is None and obj.provider is None:
            return ("secret", obj.setting)  # never its value: given again at recovery
        if isinstance(obj, Client):
            return "client"
        return None

    def reducer_override(self, obj):
        from .rdd import RDD

        if isinstance(obj, RDD):
            return RDD._restore, (obj.__getstate__(), obj.client)
        from .sources.kafka.secrets import Secret

        if isinstance(obj, Secret):  # a reference (environment variable, function), never a value
            return obj.checkpoint_reduce()
        return super().reducer_override(obj)


class _Unpickler(pickle.Unpickler):
    """Reads a checkpoint into ``context``: the references :class:`_Pickler` wrote become its own."""

    def __init__(self, data: bytes, context, key=None, secrets=None):
        super().__init__(io.BytesIO(data))
        self.context, self.key, self.secrets = context, key, secrets
        self.missing: set[str] = set()  # secret settings the checkpoint left out and nobody gave

    def _secret(self, setting):
        from .sources.kafka.secrets import Secret

        given = self.secrets(setting) if callable(self.secrets) else (self.secrets or {}).get(setting)
        if given is None:
            self.missing.add(setting)
            return Secret.missing(setting)
        if isinstance(given, Secret):
            return Secret(given._value, setting, env=given.env, provider=given.provider)
        return Secret(given, setting)

    def persistent_load(self, pid):
        if isinstance(pid, tuple) and pid[0] == "secret":
            return self._secret(pid[1])
        if pid == "data-key":
            from .signing import data_key

            return data_key(self.key)
        if self.context is None:  # read for inspection, not into a context
            return None
        if pid == "context":
            return self.context
        if pid == "client":
            return self.context.client
        raise pickle.UnpicklingError(f"unknown reference {pid!r} in a checkpoint")


def dumps(obj) -> bytes:
    """Pickle a stream graph for a checkpoint."""
    buf = io.BytesIO()
    _Pickler(buf, protocol=cloudpickle.DEFAULT_PROTOCOL).dump(obj)
    return buf.getvalue()


def loads(data: bytes, context, key=None):
    """Unpickle a checkpoint written by :func:`dumps` into ``context`` (``key``: its checkpoint key)."""
    return _Unpickler(data, context, key).load()


def _versions():
    from . import __version__
    from ._util import python_version

    return {"python": python_version(), "dstreams": __version__}


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

    #: the newest checkpoint written: ``{"time_ms", "bytes", "duration_ms"}``
    last: dict | None = None

    def write(self, state: CheckpointState, snapshot: dict) -> str:
        from . import snapshot as snapshots

        began = time.perf_counter()
        payload = dumps(state)
        header = {"format": FORMAT, **_versions(), "time_ms": state.time_ms, "batch_ms": state.batch_ms,
                  "length": len(payload),
                  "sha256": hashlib.sha256(payload).hexdigest(), "hmac": _sign(self.key, payload)}
        self.seq += 1
        stamp = f"{self.seq:012d}-{state.time_ms}"
        name = f"{PREFIX}{stamp}"
        self._atomic_write(f"{snapshots.PREFIX}{stamp}.json", snapshots.dumps(snapshot, self.key))
        data = json.dumps(header).encode() + b"\n" + payload
        self._atomic_write(name, data)
        self._delete_old()
        self.last = {"time_ms": state.time_ms, "bytes": len(data),
                     "duration_ms": round((time.perf_counter() - began) * 1000, 3)}
        return f"{self.root}/{name}"

    def _atomic_write(self, name: str, data: bytes) -> None:
        tmp = f"{self.root}/.{name}.{uuid.uuid4().hex}.tmp"
        with self.fs.open(tmp, "wb") as fh:
            fh.write(data)
        self.fs.mv(tmp, f"{self.root}/{name}")

    def _delete_old(self) -> None:
        for prefix, suffix in ((PREFIX, ""), ("snapshot-", ".json")):
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


def snapshot_files(directory: str) -> list[str]:
    """Snapshot files in ``directory``, newest first."""
    from .snapshot import PREFIX as SNAPSHOT

    fs, root = fsspec.core.url_to_fs(directory)
    if not fs.exists(root):
        return []
    names = [p for p in fs.ls(root, detail=False)
             if p.rsplit("/", 1)[-1].startswith(SNAPSHOT) and p.endswith(".json")]
    return sorted(names, reverse=True)  # opened through fs, which knows its protocol


def read_latest_snapshot(directory: str, key=None) -> tuple[dict, str] | None:
    """The newest readable snapshot in ``directory`` and its path; None when there is none."""
    from . import snapshot as snapshots

    fs, _ = fsspec.core.url_to_fs(directory)
    for path in snapshot_files(directory):
        with fs.open(path, "rb") as fh:
            data = fh.read()
        try:
            return snapshots.loads(data, path, key), path
        except CheckpointSignatureError:
            raise
        except CheckpointError as e:
            logger.warning("dstreams: skipping snapshot: %s", e)
    return None


def read_file(path: str, key=None, make_context=None, secrets=None) -> CheckpointState:
    """Read one checkpoint, checking header, length, checksum and signature before unpickling.

    ``make_context(header)`` returns the StreamingContext the graph is read into (its references to the
    old context and client become this one's); without it, they are None.
    """
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
                f"checkpoint {path} was written by {what} {header.get(what)}, this is {mine[what]}: its graph is "
                "not unpickled. StreamingContext.get_or_create() resumes the sources and state from the "
                "snapshot beside it, building the graph with setup()"
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
    unpickler = _Unpickler(payload, make_context(header) if make_context is not None else None, key, secrets)
    state = unpickler.load()
    if unpickler.missing:
        names = sorted(unpickler.missing)
        raise CheckpointSecretError(
            f"checkpoint {path} needs the secret Kafka settings {', '.join(names)}, which are never written to a "
            "checkpoint: give them with StreamingContext.get_or_create(..., secrets={"
            + ", ".join(f"{n!r}: ..." for n in names) + "}) (or set them as dstreams.kafka.Secret.from_env(...) "
            "in the params)")
    return state


def read_latest(directory: str, key=None, make_context=None, secrets=None) -> CheckpointState | None:
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
            return read_file(path, key, make_context, secrets)
        except (CheckpointVersionError, CheckpointSignatureError, CheckpointSecretError):
            raise  # an older checkpoint would silently lose the newest state
        except CheckpointError as e:
            logger.warning("dstreams: skipping checkpoint: %s", e)
            errors.append(str(e))
        except Exception as e:  # unpickling failed
            logger.warning("dstreams: skipping unreadable checkpoint %s: %s", path, e)
            errors.append(f"{path}: {type(e).__name__}: {e}")
    raise CheckpointUnreadableError(f"no usable checkpoint in {directory}: " + "; ".join(errors))


# ---------------------------------------------------------------------------------------------
# data checkpoints: the partitions of an RDD, written by worker tasks, read back lazily


def _write_partition(path: str, part, key=None) -> list:
    from .signing import seal

    fs, p = fsspec.core.url_to_fs(path)
    tmp = f"{p}.{uuid.uuid4().hex}.tmp"
    with fs.open(tmp, "wb") as fh:
        fh.write(seal(recordfile.dumps(part), key))
    fs.mv(tmp, p)
    return [path]


def _read_partition(path: str, key=None, trusted: bool = True) -> list:
    from ._util import as_records
    from .signing import unseal

    with fsspec.open(path, "rb") as fh:
        data = unseal(fh.read(), key, f"data checkpoint file {path}")
    return as_records(recordfile.loads(data, path, trusted=trusted))


def write_rdd(rdd, directory: str, key=None) -> list[str]:
    """Write every partition of ``rdd`` as ``part-NNNNN`` under ``directory``, in parallel on the workers;
    signed with ``key`` (the checkpoint key) when given."""
    from ._compat import Task, TaskRef
    from .signing import data_key

    fs, root = fsspec.core.url_to_fs(directory)
    fs.makedirs(root, exist_ok=True)
    base = directory.rstrip("/")
    name = f"data-checkpoint-{rdd.name}"
    key = data_key(key)
    layer = {(name, i): Task((name, i), _write_partition, f"{base}/part-{i:05d}", TaskRef(k), key)
             for i, k in enumerate(rdd.__dask_keys__())}
    return rdd._new(name, layer, [rdd]).compute()


def read_rdd(directory: str, npartitions: int, client, name: str, partitioner=None, key=None, trusted=True):
    """An RDD whose partition ``i`` is read from ``directory/part-i`` (its lineage starts there).

    With ``key`` (the checkpoint key) each file's signature is checked before it is decoded; with
    ``trusted=False`` a file holding pickled values is refused instead of unpickled.
    """
    from dask.highlevelgraph import HighLevelGraph

    from ._compat import Task
    from .rdd import RDD
    from .signing import data_key

    base = directory.rstrip("/")
    key = data_key(key)
    layer = {(name, i): Task((name, i), _read_partition, f"{base}/part-{i:05d}", key, trusted)
             for i in range(npartitions)}
    rdd = RDD(HighLevelGraph.from_collections(name, layer, dependencies=()), name, npartitions, client, partitioner)
    rdd.checkpoint_path = directory
    return rdd


def delete_dir(directory: str) -> None:
    fs, root = fsspec.core.url_to_fs(directory)
    try:
        fs.rm(root, recursive=True)
    except FileNotFoundError:
        pass
