"""polymer-predict through the engine, and the polymer sources as catalog stores."""

import json

import numpy as np
import pytest
import yaml

import vlab.catalog
from vlab.campaign import load_spec, run_campaign
from vlab.cli import main
from vlab.errors import SpecError


def _spec(tmp_path, **change):
    data = {
        "name": "screen",
        "kind": "polymer-predict",
        "chunk_size": 8,
        "store": "s.zarr",
        "inputs": {"file": "cands.csv"},
        **change,
    }
    (tmp_path / "cands.csv").write_text(
        "smiles\n*CC*\n*CC(*)c1ccccc1\nnot-a-polymer\n*CC(*)C\n*OCC*\n*CC*\n"
    )
    path = tmp_path / "screen.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_spec(path)


def test_screen_a_candidate_file_in_batches(tmp_path, client_or_none):
    report = run_campaign(_spec(tmp_path), client=client_or_none, progress=False)
    assert (report.done, report.failed, report.computed, report.copied) == (5, 1, 5, 1)
    ds = vlab.catalog.open("screen")
    mean, std = ds["mean"].values, ds["std"].values
    assert ds["mean"].attrs["units"] == "W m-1 K-1"
    assert np.all((mean[[0, 1, 3, 4]] > 0.05) & (mean[[0, 1, 3, 4]] < 0.6))
    assert np.all(std[[0, 1, 3, 4]] >= 0) and mean[5] == mean[0]  # duplicate copied
    assert "'not-a-polymer' is not a valid polymer SMILES" in str(ds["error"].values[2])


def test_unknown_model_file_is_a_clear_error(tmp_path):
    with pytest.raises(SpecError, match="'model' must be 'builtin:experimental-tc' or the path"):
        run_campaign(_spec(tmp_path, params={"model": "nope.json"}), progress=False)


def test_ingest_embedded_sources_and_predict_from_the_cli(tmp_path, capsys):
    assert main(["polymers", "ingest", "experimental_tc", "--out", str(tmp_path)]) == 0
    ds = vlab.catalog.open("polymers-experimental_tc")
    assert ds.sizes["item"] >= 30 and ds["thermal_conductivity"].attrs["units"]
    assert ds.attrs["license"] and int(ds.attrs["n_raw"]) >= ds.sizes["item"]
    assert (ds["status"].values == 1).all()
    capsys.readouterr()
    assert main(["polymers", "predict", "*CC*", "C*C"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("*CC*\t") and "W m-1 K-1" in out[0] and "error" in out[1]
    assert main(["polymers", "ingest", "nope"]) == 2


@pytest.mark.slow
def test_transfer_command_writes_a_report(tmp_path, capsys):
    import os
    from pathlib import Path

    cache = os.environ.get("VLAB_DATA__CACHE_DIR")
    if not cache or not Path(cache, "RadonPy_PI1070.csv").is_file():
        pytest.skip("needs RadonPy_PI1070.csv in VLAB_DATA__CACHE_DIR (CI: shared/data)")
    assert (
        main(["polymers", "transfer", "--splits", "1", "--draws", "2", "--out", str(tmp_path)]) == 0
    )
    report = json.loads((tmp_path / "transfer.json").read_text())
    assert report["protocol_a"]["n_draws"] == 2 and "thermal_conductivity" not in str(
        report["source_tasks"]
    )
    assert (tmp_path / "protocol_a.png").is_file() and (tmp_path / "protocol_b.png").is_file()
