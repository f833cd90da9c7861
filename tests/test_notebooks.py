"""The notebooks run top to bottom on the shipped data, and are stored without outputs."""

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat comes with the 'test' extra")
nbclient = pytest.importorskip("nbclient", reason="nbclient comes with the 'test' extra")

FOLDER = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(FOLDER.glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name}: strip outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom(path, tmp_path, monkeypatch):
    # a fresh machine: no data cache, no network; the kernel inherits this environment (and
    # the private catalog index of conftest.py), so only the shipped catalog entries are there
    monkeypatch.setenv("VLAB_DATA__CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("VLAB_DATA__OFFLINE", "true")
    work = tmp_path / "run"  # the notebook's working folder: its figures go there
    work.mkdir()
    before = sorted(p.name for p in FOLDER.iterdir())
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(work)}}
    )
    client.execute(cwd=str(work))
    stderr = [
        out.get("text", "")
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if out.get("name") == "stderr"
    ]
    assert not [text for text in stderr if "TqdmWarning" in text], stderr
    assert sorted(p.name for p in FOLDER.iterdir()) == before, "the notebook wrote into notebooks/"
    assert not (tmp_path / "empty-cache").exists() or not any((tmp_path / "empty-cache").iterdir())
