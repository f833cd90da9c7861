"""polymer-design chains through the engine, merged into a virtual library (small sizes)."""

import json
import os
from pathlib import Path

import pytest
import yaml

from vlab.campaign import load_spec, run_campaign
from vlab.errors import InputError, SpecError
from vlab.reports import design_library

pytestmark = pytest.mark.skipif(
    not os.environ.get("VLAB_DATA__CACHE_DIR")
    or not Path(os.environ["VLAB_DATA__CACHE_DIR"], "RadonPy_PI1070.csv").is_file(),
    reason="needs the public polymer data in VLAB_DATA__CACHE_DIR (CI points it at shared/data)",
)


def _spec(tmp_path, **params):
    data = {
        "name": "des",
        "kind": "polymer-design",
        "chunk_size": 1,
        "store": "des.zarr",
        "params": {
            "n_steps": 4,
            "n_particles": 16,
            "keep": 40,
            "order": 4,
            "n_augment": 1,
            **params,
        },
        "inputs": {"generator": "chains", "n": 2, "seed": 3},
    }
    path = tmp_path / "des.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_spec(path)


def test_chains_then_library(tmp_path):
    report = run_campaign(_spec(tmp_path), progress=False)
    assert report.done == 2
    summary = design_library(report.store, tmp_path / "lib", n=30)
    assert summary["library_size"] == 30 and summary["valid_fraction"] == 1.0
    assert 0 <= summary["hit_rate"] <= 1 and summary["novel_fraction"] > 0.5
    header = (tmp_path / "lib" / "library.csv").read_text().splitlines()[0]
    assert "nearest_training" in header and "std_Tg" in header
    saved = json.loads((tmp_path / "lib" / "design-report.json").read_text())
    assert saved["target"].startswith("thermal_conductivity>=0.3")


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        ({"target": "density>=1 g/cm3"}, InputError, "forward models predict"),
        ({"target": "Tg>=500 K; Tg<=400 K"}, InputError, "may appear in one box only"),
        ({"n_steps": 0}, SpecError, "'n_steps' must be an integer >= 1"),
        ({"temperature": 3}, SpecError, "unknown parameter"),
    ],
)
def test_bad_design_targets_are_clear_errors(tmp_path, params, error, message):
    with pytest.raises(error, match=message):
        run_campaign(_spec(tmp_path, **params), progress=False)
