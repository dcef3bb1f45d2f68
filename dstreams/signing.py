"""Signing the files recovery reads besides the metadata checkpoint: data-checkpoint part files and
receiver write-ahead-log records.

With a ``checkpoint_key``, each such file or record is written as ``MAGIC + HMAC-SHA256 + data`` with a
key derived from the checkpoint key (:func:`data_key`), and checked before anything in it is decoded or
unpickled: a forged or modified one is refused with :class:`~dstreams.errors.CheckpointSignatureError`.
Workers get only the derived key (never the checkpoint key itself), and a metadata checkpoint that holds
it writes a reference instead of its bytes (see :mod:`dstreams.checkpoint`).
"""
from __future__ import annotations

import hashlib
import hmac

from .errors import CheckpointSignatureError

MAGIC = b"dstreams-signed 1\n"
_MAC = hashlib.sha256().digest_size
_PURPOSE = b"dstreams data files and write-ahead log v1"


class SigningKey:
    """The key that signs data files and log records; its ``repr`` never shows the key."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes):
        self._key = bytes(key)

    def mac(self, data: bytes) -> bytes:
        return hmac.new(self._key, data, hashlib.sha256).digest()

    def __eq__(self, other):
        return isinstance(other, SigningKey) and hmac.compare_digest(self._key, other._key)

    def __hash__(self):
        return hash(SigningKey)

    def __repr__(self):
        return "SigningKey(<hidden>)"

    def __reduce__(self):  # sent to workers with their tasks (a checkpoint writes a reference instead)
        return SigningKey, (self._key,)


def data_key(checkpoint_key) -> SigningKey | None:
    """The key derived from ``checkpoint_key`` (str or bytes) for data files; None without a key."""
    if checkpoint_key is None:
        return None
    if isinstance(checkpoint_key, SigningKey):
        return checkpoint_key
    raw = checkpoint_key.encode() if isinstance(checkpoint_key, str) else bytes(checkpoint_key)
    return SigningKey(hmac.new(raw, _PURPOSE, hashlib.sha256).digest())


def seal(data: bytes, key: SigningKey | None) -> bytes:
    """``data`` signed with ``key`` (unchanged without a key)."""
    if key is None:
        return data
    return MAGIC + key.mac(data) + data


def unseal(data: bytes, key: SigningKey | None, what: str) -> bytes:
    """The data of a file or record written by :func:`seal`, its signature checked with ``key``.

    With a key, an unsigned or badly signed ``data`` raises CheckpointSignatureError naming ``what``;
    without one, a signature is removed unchecked (the reader trusts the directory).
    """
    signed = data.startswith(MAGIC) and len(data) >= len(MAGIC) + _MAC
    if key is None:
        return data[len(MAGIC) + _MAC:] if signed else data
    if not signed:
        raise CheckpointSignatureError(
            f"{what} is not signed, but the context has a checkpoint_key: it was not decoded. It was written "
            "without a key or replaced; start afresh with a new checkpoint directory if the key was set later")
    mac, body = data[len(MAGIC):len(MAGIC) + _MAC], data[len(MAGIC) + _MAC:]
    if not hmac.compare_digest(mac, key.mac(body)):
        raise CheckpointSignatureError(
            f"{what} failed its signature check (modified, forged, or written with another checkpoint_key): "
            "it was not decoded. Pass the checkpoint_key the application was started with")
    return body
