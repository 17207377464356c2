"""notebooks/quickstart.ipynb runs top to bottom (check, fine-tune, eval, export, register, infer) on CPU."""

from __future__ import annotations

import nbformat
from conftest import REPO
from nbclient import NotebookClient


def test_quickstart_notebook_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("QUICKSTART_WORKDIR", str(tmp_path))
    monkeypatch.setenv("OCRTRAIN_CACHE", str(tmp_path / "cache"))
    notebook = nbformat.read(REPO / "notebooks" / "quickstart.ipynb", as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": REPO / "notebooks"}}
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 5  # the pictures are inline
    assert (tmp_path / "mlflow.db").is_file() and any((tmp_path / "ocr").iterdir())
    text = "".join(o.get("text", "") for o in outputs)
    assert "registered models:/quickstart-det@champion" in text
