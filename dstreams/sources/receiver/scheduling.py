"""Where receivers run: a pure policy (Spark's ``ReceiverSchedulingPolicy``), no cluster access."""
from __future__ import annotations

from ...errors import ReceiverError


def choose_worker(nthreads: dict, load: dict, preferred: str | None = None, exclude=(),
                  names: dict | None = None) -> str | None:
    """The worker address a receiver should run on, or None when no worker can take it.

    Parameters
    ----------
    nthreads : dict
        ``{address: threads}`` of the live workers.
    load : dict
        ``{address: receivers running there}``.
    preferred : str, optional
        The receiver's ``preferred_worker``: an address or a worker name; used when that worker is live.
    exclude : iterable of str
        Addresses not to use (a worker seen dying).
    names : dict, optional
        ``{address: worker name}``, to match ``preferred`` by name.

    Otherwise the worker with the most threads left free by receivers wins (ties: fewest receivers,
    then address order), which spreads receivers and keeps threads for the batches.

    Examples
    --------
    >>> choose_worker({"a": 2, "b": 2}, {"a": 1})
    'b'
    >>> choose_worker({"a": 2, "b": 2}, {}, preferred="a")
    'a'
    """
    exclude = set(exclude)
    live = {a: n for a, n in nthreads.items() if a not in exclude}
    if not live:
        return None
    if preferred is not None:
        if preferred in live:
            return preferred
        for addr, name in (names or {}).items():
            if addr in live and str(name) == str(preferred):
                return addr
    return min(live, key=lambda a: (-(live[a] - load.get(a, 0)), load.get(a, 0), a))


def check_capacity(total_threads: int, num_receivers: int) -> None:
    """Refuse to run receivers that would take every worker thread (nothing left for the batches)."""
    if num_receivers >= total_threads:
        raise ReceiverError(
            f"cannot start the StreamingContext: its {num_receivers} receiver stream(s) would take "
            f"{num_receivers} of the {total_threads} worker thread(s) of the Dask cluster, since each receiver "
            "holds one thread for its whole life, leaving none to process the batches; give the cluster "
            f"at least {num_receivers + 1} threads (more workers, or LocalCluster(threads_per_worker=...)), "
            "or use fewer receiver streams"
        )
