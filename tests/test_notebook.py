"""experiments/notebook_api.ipynb runs in a fresh Jupyter kernel without an error and shows a run, a sweep and a
loaded run folder each as a DataFrame and a figure (nbformat, nbclient and ipykernel come with the test extra)."""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_example_notebook_runs_and_shows_tables_and_figures(tmp_path, monkeypatch):
    nb = nbformat.read(ROOT / "experiments" / "notebook_api.ipynb", as_version=4)
    # The kernel is a child process: it imports this checkout's collapsim and writes its runs/ in tmp_path.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    NotebookClient(nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(tmp_path)}}).execute()

    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(o.output_type != "error" for c in code for o in c.outputs)  # execute() raises on one anyway
    shown = [o.get("data", {}) for c in code for o in c.outputs if o.output_type in ("execute_result", "display_data")]
    tables = [d for d in shown if "<table" in d.get("text/html", "") and "generation" in d["text/html"]]
    images = [d for d in shown if d.get("image/png")]
    assert len(tables) == 3 and len(images) == 3, [sorted(d) for d in shown]
    assert "<th>alpha</th>" in tables[1]["text/html"]  # the sweep's table, one column per alpha
    runs = sorted(p.name.split("-")[0] for p in (tmp_path / "runs").iterdir())
    assert runs == ["gaussian", "sweep"]
