"""polymer-design chains through the engine, merged into a virtual library (small sizes).

The training data come from the data cache if it has the CSV files, else from the shipped stores.
"""

import json

import pytest
import yaml

from vlab.campaign import load_spec, run_campaign
from vlab.errors import InputError, SpecError
from vlab.reports import design_library


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


def test_failed_design_keeps_the_previous_spec_and_is_retried(tmp_path, monkeypatch, capsys):
    import vlab.polymers.design as design
    from vlab.cli import main
    from vlab.errors import CalculationFailed

    def diverges(*args, **kwargs):
        raise CalculationFailed("the forward model diverged")

    args = ["polymers", "design", "--n", "10", "--chains", "2", "--steps", "2"]
    args += ["--particles", "8", "--synchronous", "--out", str(tmp_path)]
    spec = tmp_path / "design.yaml"
    spec.write_text("# the spec of the previous run\n")
    monkeypatch.setattr(design, "run_smc", diverges)
    capsys.readouterr()
    assert main(args) == 1
    out, err = capsys.readouterr()
    store = tmp_path / "design.zarr"
    assert f"{spec} not written: 2 of 2 chains failed." in out
    assert (
        f"vlab: error: The design store {str(store)!r} has no finished chain: 2 of 2 chains "
        "failed and 0 are pending. First error: CalculationFailed: the forward model diverged"
    ) in err  # after the progress bars
    assert "run the same command again with --retry-failed" in err
    assert spec.read_text() == "# the spec of the previous run\n"
    assert sorted(p.name for p in tmp_path.glob("*.yaml")) == ["design.yaml"]  # no draft left
    monkeypatch.undo()
    assert main(args) == 1  # failed chains stay failed without --retry-failed: same message
    assert "has no finished chain: 2 of 2 chains failed" in capsys.readouterr().err
    assert main([*args, "--retry-failed"]) == 0
    out = capsys.readouterr().out
    assert "2 items in" in out and "2 done, 0 failed" in out
    assert yaml.safe_load(spec.read_text())["kind"] == "polymer-design"
    assert (tmp_path / "design-library" / "library.csv").is_file()
