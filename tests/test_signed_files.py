"""With a checkpoint_key, every file recovery reads is signed: data-checkpoint part files and write-ahead-log
records are refused before decoding when forged or modified, and a pickled payload inside them never runs."""
import pathlib

import cloudpickle
import pytest

from dstreams import recordfile
from dstreams.checkpoint import _read_partition, dumps, loads, read_rdd, write_rdd
from dstreams.errors import CheckpointSignatureError
from dstreams.rdd import RDD
from dstreams.signing import MAGIC, SigningKey, data_key, seal, unseal
from dstreams.sources.receiver.tracker import read_logged_block
from dstreams.sources.receiver.wal import WriteAheadLog


class Trap:
    """Unpickling it creates ``marker``: the test sees whether a forged payload ran."""

    def __init__(self, marker):
        self.marker = pathlib.Path(marker)

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


def test_sealed_data_round_trips_and_a_changed_byte_or_key_is_refused():
    key = data_key("k1")
    sealed = seal(b"payload", key)
    assert unseal(sealed, key, "x") == b"payload"
    assert unseal(sealed, None, "x") == b"payload"  # without a key the signature is removed unchecked
    flipped = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(CheckpointSignatureError, match="x failed its signature check"):
        unseal(flipped, key, "x")
    with pytest.raises(CheckpointSignatureError, match="signature"):
        unseal(sealed, data_key("k2"), "x")
    with pytest.raises(CheckpointSignatureError, match="x is not signed"):
        unseal(b"payload", key, "x")


def test_the_signing_key_is_derived_hidden_and_never_written_into_a_checkpoint():
    key = data_key("the-checkpoint-key")
    assert key != data_key("another") and "<hidden>" in repr(key)
    raw = key._key
    assert raw != b"the-checkpoint-key"
    payload = dumps({"wal_key": key})
    assert raw not in payload and b"the-checkpoint-key" not in payload
    assert loads(payload, None, "the-checkpoint-key")["wal_key"] == key  # derived again from the reader's key
    assert cloudpickle.loads(cloudpickle.dumps(key)) == key  # what a worker gets with its task


def test_a_forged_part_file_is_refused_before_it_is_unpickled(client, tmp_path):
    directory = str(tmp_path / "data")
    write_rdd(RDD.from_list([1, 2, 3, 4], 2, client=client), directory, "secret")
    assert sorted(read_rdd(directory, 2, client, "back", key="secret").collect()) == [1, 2, 3, 4]
    part = tmp_path / "data" / "part-00000"
    assert part.read_bytes().startswith(MAGIC)
    marker = tmp_path / "ran"
    part.write_bytes(cloudpickle.dumps([Trap(marker)]))  # an unsigned pickle in its place
    with pytest.raises(CheckpointSignatureError, match="part-00000 is not signed"):
        read_rdd(directory, 2, client, "forged", key="secret").collect()
    forged = recordfile.dumps([Trap(marker)])  # signed with a key the attacker guessed
    part.write_bytes(seal(forged, data_key("guess")))
    with pytest.raises(CheckpointSignatureError, match="part-00000 failed its signature check"):
        _read_partition(str(part), data_key("secret"))
    assert not marker.exists()
    # the same file read without a key is trusted: the payload runs (what the key protects against)
    _read_partition(str(part), None)
    assert marker.exists()


def test_untrusted_reading_of_record_files_unpickles_nothing(tmp_path):
    marker = tmp_path / "ran"
    for data in (recordfile.dumps([1, Trap(marker)]), cloudpickle.dumps([Trap(marker)]),
                 recordfile.HEADER + recordfile.PICKLE + b"\n" + cloudpickle.dumps([Trap(marker)])):
        with pytest.raises(recordfile.UntrustedPickleError, match="unpickles nothing"):
            recordfile.loads(data, "f", trusted=False)
    assert not marker.exists()
    assert recordfile.loads(recordfile.dumps([(1, "a"), {"k": {2.5}}]), "f", trusted=False) == [(1, "a"), {"k": {2.5}}]


def test_a_forged_write_ahead_log_record_is_refused_before_it_is_unpickled(tmp_path):
    key = data_key("secret")
    wal = WriteAheadLog(str(tmp_path / "log"), writer="w")
    good = wal.write(seal(cloudpickle.dumps(["a", "b"]), key))
    assert read_logged_block(tuple(good), key) == ["a", "b"]
    marker = tmp_path / "ran"
    unsigned = wal.write(cloudpickle.dumps([Trap(marker)]))
    with pytest.raises(CheckpointSignatureError, match="write-ahead log record .* is not signed"):
        read_logged_block(tuple(unsigned), key)
    wrong = wal.write(seal(cloudpickle.dumps([Trap(marker)]), SigningKey(b"guess")))
    with pytest.raises(CheckpointSignatureError, match="failed its signature check"):
        read_logged_block(tuple(wrong), key)
    assert not marker.exists()
