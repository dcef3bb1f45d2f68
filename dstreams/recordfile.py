"""The file format of saved records (data checkpoints of stateful streams): data, not code.

A file is one line ``dstreams-records 1 <encoding>`` followed by the records of one partition:

- ``msgpack``: every record of plain Python values (None, bool, int, float, complex, str, bytes, list,
  tuple, dict, set, frozenset, Decimal, UUID, date, time, datetime, timedelta, nested in any way) is
  written as MessagePack with typed extensions for what MessagePack lacks, so that any version of the
  application, of dstreams and of Python reads it back. A value of another type (an instance of the
  application's own class, a NumPy scalar...) is pickled inside the file, on its own: only that value
  needs its class when read back.
- ``pickle``: the whole partition pickled, when MessagePack cannot hold it (a str with lone surrogates).

Files without the header line are read as the pickled partitions that dstreams wrote before.

``loads(..., trusted=False)`` unpickles nothing: a file that holds pickled values (or is pickled whole)
is refused with :class:`UntrustedPickleError`.
"""
from __future__ import annotations

import datetime
import decimal
import uuid

import cloudpickle
import msgpack

from .errors import CheckpointError

HEADER = b"dstreams-records 1 "
MSGPACK, PICKLE = b"msgpack", b"pickle"

# extension type codes (never reuse a code for another type: files outlive versions)
_TUPLE, _SET, _FROZENSET, _BIGINT, _COMPLEX, _DECIMAL, _UUID = 1, 2, 3, 4, 5, 6, 7
_DATE, _TIME, _DATETIME, _TIMEDELTA = 8, 9, 10, 11
_PICKLED = 127


def _pack(value) -> bytes:
    return msgpack.packb(value, default=_default, strict_types=True, use_bin_type=True)


def _default(obj):
    t = type(obj)
    if t is tuple:
        return msgpack.ExtType(_TUPLE, _pack(list(obj)))
    if t is set or t is frozenset:
        return msgpack.ExtType(_SET if t is set else _FROZENSET, _pack(list(obj)))
    if t is int:  # beyond 64 bits
        return msgpack.ExtType(_BIGINT, str(obj).encode())
    if t is complex:
        return msgpack.ExtType(_COMPLEX, _pack([obj.real, obj.imag]))
    if t is decimal.Decimal:
        return msgpack.ExtType(_DECIMAL, str(obj).encode())
    if t is uuid.UUID:
        return msgpack.ExtType(_UUID, obj.bytes)
    if t is datetime.date:
        return msgpack.ExtType(_DATE, obj.isoformat().encode())
    if t is datetime.datetime or t is datetime.time:
        code = _DATETIME if t is datetime.datetime else _TIME
        return msgpack.ExtType(code, _pack([obj.isoformat(), _pack_tz(obj.tzinfo), obj.fold]))
    if t is datetime.timedelta:
        return msgpack.ExtType(_TIMEDELTA, _pack([obj.days, obj.seconds, obj.microseconds]))
    return msgpack.ExtType(_PICKLED, cloudpickle.dumps(obj))


def _pack_tz(tz):
    """A fixed offset as seconds (it is in the ISO text too); any other tzinfo (zoneinfo) pickled."""
    if tz is None or type(tz) is datetime.timezone:
        return None
    return cloudpickle.dumps(tz)


class UntrustedPickleError(CheckpointError):
    """A record file holds pickled values, and it is read in a mode that unpickles nothing."""


def _refuse(path: str):
    raise UntrustedPickleError(
        f"record file {path} holds pickled values, and this recovery unpickles nothing (trusted=False): it was "
        "not unpickled. Recover with a checkpoint_key (signed files are trusted), or keep state of plain values "
        "(numbers, strings, bytes, lists, tuples, dicts, sets, dates, Decimal, UUID)")


def _unpack(data: bytes, path: str = "<bytes>", trusted: bool = True):
    if trusted:
        hook = _ext
    else:
        def hook(code, data):
            if code == _PICKLED or (code in (_DATETIME, _TIME) and _unpack(data, path, False)[1] is not None):
                _refuse(path)
            return _ext(code, data)
    return msgpack.unpackb(data, ext_hook=hook, strict_map_key=False, raw=False, use_list=True)


def _ext(code: int, data: bytes):
    if code == _TUPLE:
        return tuple(_unpack(data))
    if code == _SET:
        return set(_unpack(data))
    if code == _FROZENSET:
        return frozenset(_unpack(data))
    if code == _BIGINT:
        return int(data)
    if code == _COMPLEX:
        return complex(*_unpack(data))
    if code == _DECIMAL:
        return decimal.Decimal(data.decode())
    if code == _UUID:
        return uuid.UUID(bytes=data)
    if code == _DATE:
        return datetime.date.fromisoformat(data.decode())
    if code in (_DATETIME, _TIME):
        text, tz, fold = _unpack(data)
        value = (datetime.datetime if code == _DATETIME else datetime.time).fromisoformat(text)
        if tz is not None:
            value = value.replace(tzinfo=cloudpickle.loads(tz))
        return value.replace(fold=fold)
    if code == _TIMEDELTA:
        return datetime.timedelta(*_unpack(data))
    if code == _PICKLED:
        return cloudpickle.loads(data)
    raise ValueError(f"a saved record has the extension type {code}, which this dstreams does not know: the "
                     "file was written by a newer dstreams; upgrade dstreams to read it")


def dumps(records: list) -> bytes:
    """One partition's records as the bytes of a record file."""
    try:
        return HEADER + MSGPACK + b"\n" + _pack(list(records))
    except (UnicodeEncodeError, ValueError, OverflowError, TypeError):  # not representable: pickle it all
        return HEADER + PICKLE + b"\n" + cloudpickle.dumps(list(records))


def loads(data: bytes, path: str = "<bytes>", trusted: bool = True) -> list:
    """The records of a record file (or of an older dstreams' pickled partition); with ``trusted=False``
    pickled values are refused (:class:`UntrustedPickleError`) instead of unpickled."""
    if not data.startswith(HEADER):
        if not trusted:
            _refuse(path)
        return cloudpickle.loads(data)
    line, _, body = data.partition(b"\n")
    encoding = line[len(HEADER):]
    if encoding == MSGPACK:
        return _unpack(body, path, trusted)
    if encoding == PICKLE:
        if not trusted:
            _refuse(path)
        return cloudpickle.loads(body)
    raise ValueError(f"record file {path} has the encoding {encoding.decode(errors='replace')!r}, which this "
                     "dstreams does not read: it was written by a newer dstreams; upgrade dstreams to read it")
