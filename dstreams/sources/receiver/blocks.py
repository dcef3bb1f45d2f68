"""ReceivedBlockTracker: the driver's book of received blocks (Spark's ``ReceivedBlockTracker``).

Blocks arrive from the receivers as futures followed by their metadata, wait unallocated, are given
to the batch of ``t`` (those received until ``t``), and are released when that batch is cleaned up.
It does no I/O: where a batch reads a block from is decided by the caller.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

#: returned by a ``readable`` function for a block that cannot be read now: it waits for a later batch
WAIT = object()


@dataclass
class ReceivedBlock:
    """One block a receiver stored: its future, the replica's (if any), where each is, its record count."""

    stream_id: int
    key: str
    future: object | None
    replica: object | None
    num_records: int
    attempt: int
    received_ms: int
    where: tuple = ()  # worker address of the primary, then of the replica
    copy: object | None = None  # a copy made for a batch when every copy sat on a busy worker
    segment: tuple | None = None  # (path, offset, length) in the write-ahead log, when there is one

    def meta(self) -> tuple:
        """What a checkpoint keeps of a logged block: ``(key, num_records, segment)``."""
        return (self.key, self.num_records, tuple(self.segment))

    def live_copies(self) -> list:
        """``[(future, worker address)]`` of the copies still on the cluster (none: the block was lost)."""
        where = (list(self.where) + [None, None])[:2]
        return [(f, w) for f, w in zip((self.future, self.replica), where, strict=True)
                if f is not None and f.status == "finished"]

    def release(self) -> None:
        for f in (self.future, self.replica, self.copy):
            if f is not None:
                f.release()
        self.future = self.replica = self.copy = None


class ReceivedBlockTracker:
    """Per stream: unallocated blocks, blocks per batch, and how many records were received."""

    def __init__(self, stream_ids):
        self._lock = threading.Lock()
        self._unallocated: dict[int, list[ReceivedBlock]] = {i: [] for i in stream_ids}
        self._allocated: dict[int, dict[int, list[ReceivedBlock]]] = {i: {} for i in stream_ids}
        self._cleaned: dict[int, int] = {i: -1 for i in stream_ids}  # batches up to this time were released
        self._received: dict[int, int] = {i: 0 for i in stream_ids}
        self._orphans: dict[str, object] = {}  # block futures whose metadata has not arrived yet
        # write-ahead log: (path, offset) of the logged blocks whose batches were cleaned up
        self._done: dict[int, set] = {i: set() for i in stream_ids}
        self._closed = False

    def add_future(self, future) -> None:
        """A block's (or replica's) future, sent before the block's metadata."""
        with self._lock:
            self._orphans[future.key] = future

    def add_block(self, stream_id: int, msg: dict, received_ms: int) -> ReceivedBlock:
        """The metadata of a block whose futures came before: the block is now received."""
        with self._lock:
            future = self._orphans.pop(msg["key"], None)
            replica = self._orphans.pop(msg["replica"], None) if msg.get("replica") else None
            segment = msg.get("segment")
            block = ReceivedBlock(stream_id, msg["key"], future, replica, int(msg["n"]), msg["attempt"],
                                  received_ms, tuple(msg.get("where") or ()),
                                  segment=tuple(segment) if segment else None)
            if not self._closed:
                self._unallocated[stream_id].append(block)
                self._received[stream_id] += block.num_records
                return block
        block.release()
        return block

    def allocate(self, stream_id: int, time_ms: int, readable) -> tuple[list, list, list]:
        """Give the batch of ``time_ms`` the blocks received until then and not given to an earlier batch.

        ``readable(block)`` says where the batch reads each block from: a future, None (the block was
        lost) or :data:`WAIT` (it stays for a later batch). Returns ``(readable [(block, future)], lost,
        waiting)``. Asked again for a batch, the same blocks come back, or none once it was cleaned up.
        """
        with self._lock:
            again = self._allocated[stream_id].get(time_ms)
            if again is None and time_ms <= self._cleaned[stream_id]:
                return [], [], []
            candidates = again if again is not None else [
                b for b in self._unallocated[stream_id] if b.received_ms <= time_ms]
        found, lost, waiting = [], [], []
        for b in candidates:
            future = readable(b)
            if future is None:
                lost.append(b)
            elif future is WAIT:
                waiting.append(b)
            else:
                found.append((b, future))
        if again is not None:
            return found, [], []
        taken = {id(b) for b, _ in found} | {id(b) for b in lost}
        with self._lock:
            self._allocated[stream_id][time_ms] = [b for b, _ in found] + lost
            self._unallocated[stream_id] = [b for b in self._unallocated[stream_id] if id(b) not in taken]
        return found, lost, waiting

    def cleanup(self, stream_id: int, before_ms: int) -> None:
        """Release the blocks of the batches of ``stream_id`` at or before ``before_ms``."""
        with self._lock:
            per = self._allocated[stream_id]
            blocks = [b for t in [t for t in per if t <= before_ms] for b in per.pop(t)]
            self._cleaned[stream_id] = max(self._cleaned[stream_id], before_ms)
            self._done[stream_id].update((b.segment[0], b.segment[1]) for b in blocks if b.segment)
        for b in blocks:
            b.release()

    # -- write-ahead log -------------------------------------------------------------------
    def wal_state(self, stream_id: int) -> dict:
        """For a checkpoint: the logged blocks of the batches not cleaned up yet, per batch, and the log
        records already done with (whatever is in the log beyond these was received but not allocated)."""
        with self._lock:
            allocated = {t: [b.meta() for b in bl if b.segment]
                         for t, bl in self._allocated[stream_id].items()}
            return {"allocated": allocated, "done": set(self._done[stream_id]),
                    "cleaned": self._cleaned[stream_id]}

    def restore(self, stream_id: int, allocated: dict, unallocated: list, done=(), cleaned: int = -1) -> None:
        """After recovery: the batches' logged blocks and the logged blocks not allocated yet, as
        ``(key, num_records, segment)``; they are read from the log (they have no futures)."""
        def block(meta):
            key, n, segment = meta
            return ReceivedBlock(stream_id, key, None, None, int(n), -1, -1, segment=tuple(segment))

        with self._lock:
            for t, metas in allocated.items():
                self._allocated[stream_id][t] = [block(m) for m in metas]
            self._unallocated[stream_id][:0] = [block(m) for m in unallocated]
            self._received[stream_id] += sum(int(m[1]) for m in unallocated)
            self._done[stream_id].update(done)
            self._cleaned[stream_id] = max(self._cleaned[stream_id], cleaned)

    def needed_paths(self, stream_id: int) -> set:
        """Log files that a block not cleaned up yet is in."""
        with self._lock:
            blocks = list(self._unallocated[stream_id])
            blocks += [b for bl in self._allocated[stream_id].values() for b in bl]
            return {b.segment[0] for b in blocks if b.segment}

    def forget_files(self, stream_id: int, paths) -> None:
        """The log files ``paths`` were deleted: their records need no remembering."""
        paths = set(paths)
        with self._lock:
            self._done[stream_id] = {d for d in self._done[stream_id] if d[0] not in paths}

    def unallocated(self, stream_id: int) -> list[ReceivedBlock]:
        with self._lock:
            return list(self._unallocated[stream_id])

    def has_unallocated(self) -> bool:
        with self._lock:
            return any(self._unallocated.values())

    def num_records(self, stream_id: int) -> int:
        with self._lock:
            return self._received[stream_id]

    def close(self) -> None:
        """Release every block and future held; blocks arriving later are released at once."""
        with self._lock:
            self._closed = True
            blocks = [b for bl in self._unallocated.values() for b in bl]
            blocks += [b for per in self._allocated.values() for bl in per.values() for b in bl]
            for bl in self._unallocated.values():
                bl.clear()
            for per in self._allocated.values():
                per.clear()
            orphans, self._orphans = list(self._orphans.values()), {}
        for b in blocks:
            b.release()
        for f in orphans:
            f.release()
