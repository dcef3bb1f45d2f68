"""The modules that moved keep their old, documented import paths for a while, with a DeprecationWarning."""
import importlib
import sys

import pytest


@pytest.mark.parametrize("old,new,names", [
    ("dstreams.devbroker", "dstreams.dev.broker", ["DevBroker", "DevBrokerError", "find_noida_db"]),
    ("dstreams.receiver", "dstreams.sources.receiver", ["Receiver", "SocketReceiver"]),
])
def test_old_module_warns_and_gives_the_same_objects(old, new, names, monkeypatch):
    monkeypatch.delitem(sys.modules, old, raising=False)  # imported fresh, so that it warns
    with pytest.warns(DeprecationWarning, match=f"{old} is deprecated.*{new}"):
        module = importlib.import_module(old)
    for name in names:
        assert getattr(module, name) is getattr(importlib.import_module(new), name)
