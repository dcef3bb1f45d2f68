"""RDD: one batch's partitioned, lazy Dask collection.

An ``RDD`` is a Dask graph whose outputs are the keys ``(name, i)``, one per partition, each a Python
list of records. It implements the Dask collection protocol, so ``dask.compute(rdd)`` returns the
records, and it converts to a ``dask.bag.Bag`` (same partitions, same graph) without copying.
Pair operations (``reduce_by_key``, ``join``, ...) follow Spark: a hash partitioner, a
``num_partitions`` argument, and a map-side combine before the shuffle.

This module holds the collection itself: its constructors, the Dask protocol, the narrow
transformations (pipelined) and conversions. The other operations are in base classes of RDD: the pair
operations in :mod:`dstreams.pairs`, the actions (``collect``, ``count``, ...) in :mod:`dstreams.actions`,
sorting and positions in :mod:`dstreams.sorting`, numbers and sampling in :mod:`dstreams.stats`, set
operations in :mod:`dstreams.setops`, ``persist`` and ``checkpoint`` in :mod:`dstreams.persistence`.
"""
from __future__ import annotations

import operator
import uuid

import dask
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from . import shuffle as _shuffle
from ._compat import DataNode, List, Task, TaskRef
from ._names import camel_case_hint
from ._util import (
    call_with_optional_time,  # noqa: F401  (re-exported for operators)
    checked,
    partitions,
)
from .actions import Actions
from .dashboard import html as _html
from .pairs import PairOperations, _CustomPartitioner  # noqa: F401  (older checkpoints refer to it here)
from .partitions import (  # noqa: F401  (tasks refer to these by name)
    _append,
    _as_list,
    _cogroup_parts,
    _combine_locally,
    _concat,
    _count_partition,
    _extend,
    _filter,
    _finalize,
    _flat_map,
    _flat_map_values,
    _fold_partition,
    _foreach,
    _foreach_partition,
    _glom,
    _identity,
    _identity_value,
    _join_flat,
    _keep_first,
    _map,
    _map_partitions,
    _map_partitions_with_index,
    _map_values,
    _merge_combiners,
    _one,
    _pair_with_none,
    _pair_with_one,
    _reduce_concat,
    _reduce_partition,
    _run_steps,
    _seq_from_zero,
    _slice_list,
    _tag,
    _take,
    _write_text,
)
from .persistence import Persistence
from .setops import SetOperations
from .sorting import Sorting
from .stats import Statistics
from .userfuncs import keep_file_names_of


class RDD(PairOperations, Actions, Sorting, Statistics, SetOperations, Persistence):
    """The records of one batch: a lazy, partitioned Dask collection.

    Parameters
    ----------
    graph : HighLevelGraph or Mapping
        The Dask graph; it computes keys ``(name, i)`` for ``i`` in ``range(npartitions)``.
    name : str
        Graph name of the partitions. Readable and unique per batch: ``f"{op}-{stream_id}-{batch_ms}"``.
    npartitions : int
        Number of partitions.
    client : distributed.Client, optional
        Where actions (``collect``, ``count``, ...) run. Without one, Dask's current scheduler is used.
    partitioner : HashPartitioner, optional
        Set when the records are pairs already hash-partitioned by key.

    Examples
    --------
    >>> rdd = RDD.from_list([1, 2, 3, 4], num_partitions=2)
    >>> rdd.map(lambda x: x * 10).collect()
    [10, 20, 30, 40]
    >>> import dask
    >>> dask.compute(rdd.filter(lambda x: x % 2))[0]
    [1, 3]
    """

    def __init__(self, graph, name: str, npartitions: int, client=None, partitioner=None):
        if not isinstance(graph, HighLevelGraph):
            graph = HighLevelGraph.from_collections(name, dict(graph), dependencies=())
        self.dask = graph
        self.name = name
        self.npartitions = int(npartitions)
        self.client = client
        self.partitioner = partitioner
        self._persisted = None
        #: what the source says of each partition (a Kafka offset range, say), kept while partitions stay
        #: 1:1 with the source's (narrow operations); None after a shuffle or repartition
        self.origins = None
        # (source RDD, steps) when this RDD is a chain of narrow operations over ``source``
        self._fused = None

    # -- pickling (an RDD inside a checkpointed graph, e.g. an initial state) -----------------
    def __getstate__(self):
        state = dict(self.__dict__)
        state["client"] = None
        state["_persisted"] = None
        state["_fused"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.setdefault("origins", None)
        self.__dict__.update(state)

    @classmethod
    def _restore(cls, state, client):
        """An RDD read from a checkpoint: it runs on the recovered context's cluster (``client``)."""
        rdd = cls.__new__(cls)
        rdd.__setstate__(state)
        rdd.client = client
        return rdd

    # -- constructors ----------------------------------------------------------------------
    @classmethod
    def from_list(cls, data, num_partitions: int | None = None, client=None, name: str | None = None):
        """An RDD holding ``data`` (any iterable) in ``num_partitions`` contiguous slices."""
        data = list(data)
        n = num_partitions if num_partitions is not None else max(1, min(len(data), 2))
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"num_partitions must be a positive integer, got {num_partitions!r}")
        name = name or f"parallelize-{tokenize(data, n)}-{uuid.uuid4().hex[:8]}"  # unique per call
        layer = {(name, i): DataNode((name, i), part) for i, part in enumerate(_slice_list(data, n))}
        return cls(HighLevelGraph.from_collections(name, layer, dependencies=()), name, n, client)

    @classmethod
    def empty(cls, client=None, name: str | None = None):
        """An RDD with one empty partition."""
        return cls.from_list([], 1, client=client, name=name)

    # -- Dask collection protocol ----------------------------------------------------------
    def __dask_graph__(self):
        return self.dask

    def __dask_keys__(self):
        return [(self.name, i) for i in range(self.npartitions)]

    def __dask_layers__(self):
        return (self.name,)

    def __dask_tokenize__(self):
        return self.name

    def __dask_postcompute__(self):
        return _finalize, ()

    def __dask_postpersist__(self):
        return self._rebuild, ()

    def _rebuild(self, dsk, *args, rename=None):
        name = self.name
        if rename:
            name = rename.get(name, name)
        out = RDD(dsk, name, self.npartitions, self.client, self.partitioner)
        out.origins = self.origins
        out.checkpoint_path = self.checkpoint_path
        return out

    @property
    def __dask_scheduler__(self):
        # compute on this RDD's cluster: dask.compute(rdd) works without a default client
        return self.client.get if self.client is not None else dask.threaded.get

    __dask_optimize__ = staticmethod(lambda dsk, keys, **kwargs: dsk)

    @_html.text_repr
    def __repr__(self):
        d = self.__dict__  # not self.name: on a half-built RDD that would go through __getattr__
        return f"RDD<{d.get('name', '?')}, npartitions={d.get('npartitions', '?')}>"

    @_html.html_repr
    def _repr_html_(self):
        return _html.rdd_html(self)

    # -- building blocks -------------------------------------------------------------------
    def _new(self, name, layer, dependencies, npartitions=None, partitioner=None):
        graph = HighLevelGraph.from_collections(name, layer, dependencies=dependencies)
        n = self.npartitions if npartitions is None else npartitions
        return RDD(graph, name, n, self.client, partitioner)

    def _name(self, op, name, *token_args):
        return name or f"{op}-{tokenize(self.name, *token_args)}"

    def _per_partition(self, op, func, *args, name=None, with_index=False, keep_partitioner=False):
        """A new RDD whose partition ``i`` is ``func(*args, [i,] partition_i)``.

        Chains of such narrow operations are pipelined, as Spark pipelines narrow dependencies: the new
        RDD's task applies every step of the chain to its source partition in one pass, record-level
        steps (map, flat_map, filter, ...) as generators, so no list is built between them.
        """
        name = self._name(op, name, func, *args)
        keep_file_names_of(args)  # the user's functions: their real file names in the workers' tracebacks
        step = (func, args, with_index)
        if self._fused is not None and self._persisted is None:
            source, steps = self._fused[0], self._fused[1] + (step,)
        else:
            source, steps = self, (step,)
        layer = {}
        for i in range(self.npartitions):
            if len(steps) == 1:
                extra = (i,) if with_index else ()
                layer[(name, i)] = Task((name, i), func, *args, *extra, TaskRef((source.name, i)))
            else:
                layer[(name, i)] = Task((name, i), _run_steps, steps, i, TaskRef((source.name, i)))
        out = source._new(name, layer, [source], partitioner=self.partitioner if keep_partitioner else None)
        out.origins = self.origins
        out._fused = (source, steps)
        return out

    def _to_one(self, op, partial_func, combine_func, name=None):
        """Partials per partition, combined into a one-partition RDD."""
        name = self._name(op, name, partial_func, combine_func)
        keep_file_names_of((combine_func,))
        parts = self._per_partition(op + "-partial", partial_func, name=name + "-partial")
        layer = {
            (name, 0): Task((name, 0), combine_func, List(*[TaskRef(k) for k in parts.__dask_keys__()]))
        }
        return parts._new(name, layer, [parts], npartitions=1)

    # -- transformations -------------------------------------------------------------------
    def map(self, f, name=None):
        """Apply ``f`` to every record."""
        return self._per_partition("map", _map, f, name=name)

    def flat_map(self, f, name=None):
        """Apply ``f`` to every record and flatten the iterables it returns."""
        return self._per_partition("flat-map", _flat_map, f, name=name)

    def filter(self, f, name=None):
        """Keep the records for which ``f`` is true."""
        return self._per_partition("filter", _filter, f, name=name, keep_partitioner=True)

    def map_partitions(self, f, name=None):
        """Apply ``f`` to an iterator over each partition; it returns an iterable of records."""
        return self._per_partition("map-partitions", _map_partitions, f, name=name)

    def map_partitions_with_index(self, f, name=None):
        """Like :meth:`map_partitions`, with ``f(index, iterator)``."""
        return self._per_partition(
            "map-partitions-with-index", _map_partitions_with_index, f, name=name, with_index=True
        )

    def glom(self, name=None):
        """Turn each partition into one record: the list of its records."""
        return self._per_partition("glom", _glom, name=name)

    def union(self, *others, name=None):
        """The partitions of this RDD followed by those of ``others``."""
        rdds = (self,) + others
        name = name or f"union-{tokenize(*[r.name for r in rdds])}"
        layer, i = {}, 0
        for r in rdds:
            for key in r.__dask_keys__():
                layer[(name, i)] = Task((name, i), _identity, TaskRef(key))
                i += 1
        return self._new(name, layer, list(rdds), npartitions=i)

    def repartition(self, num_partitions: int, name=None):
        """Spread the records evenly over ``num_partitions`` partitions (a shuffle)."""
        _shuffle.HashPartitioner(num_partitions)  # validates
        name = self._name("repartition", name, num_partitions)
        split = f"{name}-split"
        layer = {}
        for i in range(self.npartitions):
            layer[(split, i)] = Task(
                (split, i), _shuffle.split_round_robin, TaskRef((self.name, i)), i, num_partitions
            )
        refs = List(*[TaskRef((split, i)) for i in range(self.npartitions)])
        for j in range(num_partitions):
            layer[(name, j)] = Task((name, j), _shuffle.gather_bucket, j, refs)
        return self._new(name, layer, [self], num_partitions)

    @checked(num_partitions=partitions(optional=False))
    def coalesce(self, num_partitions: int, shuffle: bool = False, name=None):
        """Merge neighbouring partitions into ``num_partitions`` (as Spark's ``coalesce``).

        Without ``shuffle`` it never makes more partitions than there are, and moves no record between
        workers beyond joining neighbours; with ``shuffle=True`` it is :meth:`repartition`.

        Examples
        --------
        >>> RDD.from_list(range(6), 3).coalesce(2).glom().collect()
        [[0, 1], [2, 3, 4, 5]]
        """
        if shuffle:
            return self.repartition(num_partitions, name=name)
        n = min(num_partitions, self.npartitions)
        name = self._name("coalesce", name, n)
        groups = _slice_list(range(self.npartitions), n)
        layer = {
            (name, j): Task((name, j), _concat, List(*[TaskRef((self.name, i)) for i in g]))
            for j, g in enumerate(groups)
        }
        return self._new(name, layer, [self], n)

    def distinct(self, num_partitions=None, name=None):
        """The distinct records (they must be hashable)."""
        pairs = self.map(_pair_with_none)
        return pairs.reduce_by_key(_keep_first, num_partitions, name=name and name + "-reduce").map(
            operator.itemgetter(0), name=name
        )

    def get_num_partitions(self) -> int:
        """The number of partitions (Spark's ``getNumPartitions``; also the attribute ``npartitions``).

        Examples
        --------
        >>> RDD.from_list(range(10), 3).get_num_partitions()
        3
        """
        return self.npartitions

    # -- conversions -----------------------------------------------------------------------
    def to_bag(self):
        """The same partitions as a ``dask.bag.Bag`` (no copy: same graph and keys)."""
        import dask.bag as db

        return db.Bag(self.dask, self.name, self.npartitions)

    def to_dataframe(self, meta=None, columns=None):
        """A Dask DataFrame over the records (tuples, dicts or scalars), as ``Bag.to_dataframe``."""
        return self.to_bag().to_dataframe(meta=meta, columns=columns)

    def __getattr__(self, name):
        # only for attributes the RDD does not have: a source may say where its own ones are to be found
        hint = ATTRIBUTE_HINTS.get(name) if not name.startswith("__") else None
        hint = hint or camel_case_hint(self, name)
        raise AttributeError(f"{self!r} has no attribute {name!r}" + (f": {hint}" if hint else ""))


#: attributes that sources give their RDDs, with where to find them: ``rdd.<name>`` on another RDD raises an
#: AttributeError saying so (the Kafka source registers ``offset_ranges``)
ATTRIBUTE_HINTS: dict[str, str] = {}
