"""Test artifacts (the browser test's screenshots): saved under ``test-artifacts/`` (gitignored), listed at the
end of the run so that CI can keep them."""
from __future__ import annotations

import re

import pytest

ARTIFACTS = pytest.StashKey[list]()


@pytest.fixture
def artifact(request):
    """``artifact("name.png")``: a path under ``test-artifacts/`` to save a file to, listed at the end of the run."""

    def path(name: str):
        directory = request.config.rootpath / "test-artifacts"
        directory.mkdir(exist_ok=True)
        p = directory / re.sub(r"[^\w.-]+", "-", name)
        request.config.stash.setdefault(ARTIFACTS, []).append(p)
        return p

    return path


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    saved = [p for p in config.stash.get(ARTIFACTS, []) if p.exists()]
    if saved:
        terminalreporter.write_line("test artifacts: " + ", ".join(str(p) for p in saved))
