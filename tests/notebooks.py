"""Run a notebook in a real IPython kernel and file its output as a notebook frontend does.

nbclient keeps only the messages of the cell it is running: output that a background thread sends
under an earlier cell (as dstreams' threads do, see dstreams.notebook) would be dropped. JupyterLab
and the classic notebook show such output under the cell it names as its parent; :class:`FrontendClient`
does the same, so a test sees each cell's outputs as a user would. The kernel imports dstreams from
this checkout (its PYTHONPATH starts with the repository root).
"""
from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

try:
    import ipykernel  # noqa: F401  (the kernel the notebooks run in)
    import nbclient
    import nbformat
    from nbclient.exceptions import CellExecutionComplete
    from nbclient.util import ensure_async
except ImportError as e:
    raise ImportError(f"the notebook tests need nbclient, nbformat and ipykernel ({e}): "
                      "install the test extra, pip install -e '.[test]'") from e


class FrontendClient(nbclient.NotebookClient):
    """A NotebookClient that files a message under the cell its parent header names, even after that cell
    finished (as JupyterLab does), and keeps every IOPub message it saw in :attr:`messages`."""

    def __init__(self, nb, **kwargs):
        super().__init__(nb, **kwargs)
        self.cells_by_msg: dict[str, tuple] = {}
        self.messages: list[dict] = []

    async def _async_poll_output_msg(self, parent_msg_id, cell, cell_index):
        self.cells_by_msg[parent_msg_id] = (cell, cell_index)
        while True:
            msg = await ensure_async(self.kc.iopub_channel.get_msg(timeout=None))
            self.messages.append(msg)
            parent = msg["parent_header"].get("msg_id")
            if parent == parent_msg_id:
                try:
                    self.process_message(msg, cell, cell_index)
                except CellExecutionComplete:
                    return
            elif msg["msg_type"] == "update_display_data":  # found by its display id, whoever sent it
                self.process_message(msg, cell, cell_index)
            elif parent in self.cells_by_msg and msg["msg_type"] not in ("status", "execute_input"):
                earlier, index = self.cells_by_msg[parent]
                self.process_message(msg, earlier, index)


assert hasattr(nbclient.NotebookClient, "_async_poll_output_msg"), (
    "nbclient no longer has NotebookClient._async_poll_output_msg, which FrontendClient overrides to file "
    "output from background threads under its cell: adapt tests/notebooks.py to this nbclient version")


def kernel_env(**extra) -> dict:
    """The environment of the kernel: this one, with this checkout first on PYTHONPATH."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return dict(os.environ, PYTHONPATH=path, PYTHONUNBUFFERED="1", **extra)


def run(nb, cwd, timeout: int = 60) -> FrontendClient:
    """Execute ``nb`` (a NotebookNode, changed in place) in a new kernel in ``cwd``; returns the client (its
    ``nb`` has the outputs, its ``messages`` everything the kernel published)."""
    client = FrontendClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    client.execute(env=kernel_env())
    return client


def text_of(cell) -> str:
    """Everything a cell shows as text: its streams, its results' and displays' text/plain and text/html, its errors."""
    parts = []
    for out in cell.get("outputs", ()):
        if out["output_type"] == "stream":
            parts.append(out["text"])
        elif out["output_type"] in ("execute_result", "display_data"):
            data = out.get("data", {})
            parts.append(data.get("text/plain", ""))
            parts.append(data.get("text/html", ""))
        elif out["output_type"] == "error":
            parts.append(f"{out['ename']}: {out['evalue']}")
    return "\n".join(parts)


def stream_text(cell, name: str) -> str:
    """What a cell shows of one stream (``stdout`` or ``stderr``)."""
    return "".join(out["text"] for out in cell.get("outputs", ())
                   if out["output_type"] == "stream" and out["name"] == name)


def new_notebook(*sources) -> object:
    """A notebook of code cells with the given sources."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb
