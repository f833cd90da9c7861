"""Train the surrogate from a reference store, validate it, and run it as a campaign kind."""

import json

import numpy as np
import pytest
import yaml

from vlab.campaign import load_spec, run_campaign
from vlab.catalog import open_store
from vlab.cli import main
from vlab.conductance import ConductanceSurrogate
from vlab.errors import SpecError

pytest.importorskip("dscribe", reason="the surrogate's descriptors need dscribe")

REF = {
    "name": "ref",
    "kind": "conductance-reference",
    "params": {"fidelity": "sband"},
    "inputs": {"catalog": "bj"},
    "chunk_size": 50,
    "store": "ref.zarr",
}


def _run(tmp_path, data):
    path = tmp_path / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data))
    return run_campaign(load_spec(path), progress=False)


def test_train_validate_and_predict_as_a_campaign(tmp_path, capsys, tiny_md_spec):
    protocol = {
        "speed": 1.0,
        "equilibration": 0.2,
        "max_elongation": 4.0,
        "snapshot_every": 0.2,
        "post_rupture": 0.6,
    }
    _run(tmp_path, tiny_md_spec(n=4, temperatures=[4, 300], protocol=protocol))
    ref = _run(tmp_path, REF)
    model = tmp_path / "sur.npz"
    assert (
        main(
            [
                "conductance",
                "train",
                "ref",
                "--model",
                str(model),
                "--set",
                "n_estimators=2",
                "--holdout",
                "0.25",
                "--set",
                "electrode_coupling=true",
                "--set",
                "bootstrap=false",
                "--set",
                "descriptor_settings.n_max=5",
                "--jobs",
                "2",
            ]
        )
        == 0
    )
    bar = capsys.readouterr().err.split("\r")[-1]  # a progress bar over the members
    assert "training members: 100%" in bar and " 2/2 " in bar, bar
    report = json.loads(model.with_suffix(".report.json").read_text())
    assert "verbose" not in report["params"] and "n_jobs" not in report["params"]
    assert report["held_out"]["n"] > 0 and model.with_suffix(".parity.png").is_file()
    assert report["electrode_coupling"] is True and report["bootstrap"] is False
    assert report["params"]["descriptor_settings"]["n_max"] == 5
    loaded = ConductanceSurrogate.load(model).get_params()
    assert loaded["bootstrap"] is False and loaded["descriptor_settings"].n_max == 5
    capsys.readouterr()
    assert main(["conductance", "validate", str(model), "ref", "--out", str(tmp_path / "v")]) == 0
    assert json.loads(capsys.readouterr().out)["stores"]["ref"]["n"] == ref.done
    sur = _run(
        tmp_path,
        {
            **REF,
            "name": "sur",
            "kind": "conductance-surrogate",
            "store": "sur.zarr",
            "params": {"model": str(model)},
        },
    )
    assert sur.done == ref.done and sur.failed == 0
    g, std = open_store(sur.store)["conductance"].values, open_store(sur.store)["conductance_std"]
    assert np.isfinite(g).all() and (std.values >= 0).all()
    fast_spec = {
        **REF,
        "name": "fast",
        "kind": "conductance-surrogate",
        "store": "fast.zarr",
        "params": {"model": "spd-bottleneck"},  # a shipped model, by name
    }
    # these small wires lie outside the fast model's range of use (112-160 atoms): said once,
    # before any work, and the campaign still runs
    with pytest.warns(UserWarning, match=r"spd-bottleneck model is for junctions like its"):
        fast = _run(tmp_path, fast_spec)
    assert fast.done == ref.done and fast.failed == 0
    g = open_store(fast.store)["conductance"].values
    assert np.isfinite(g).all() and (g >= 0).all()


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(SpecError, match="'model' must be the path of a model saved by") as err:
        _run(tmp_path, {**REF, "kind": "conductance-surrogate", "params": {"model": "x.npz"}})
    assert "spd-bottleneck" in str(err.value) and "'x.npz'" in str(err.value)


def test_a_file_that_is_no_model_is_refused_before_a_store_is_made(tmp_path):
    (tmp_path / "rows.csv").write_text("smiles\n*CC*\n")
    spec = {**REF, "kind": "conductance-surrogate", "params": {"model": str(tmp_path / "rows.csv")}}
    with pytest.raises(SpecError, match=r"is a file, but not a model saved by"):
        _run(tmp_path, spec)
    assert not (tmp_path / "ref.zarr").exists()


def test_train_options_name_what_is_wrong(tmp_path, capsys):
    args = ["conductance", "train", "au-sband-small", "--model", str(tmp_path / "m.npz")]
    assert main([*args, "--set", "estimators=2"]) == 2
    assert "Unknown ConductanceSurrogate parameter(s) ['estimators']" in capsys.readouterr().err
    assert main([*args, "--set", "n_estimators"]) == 2
    assert "--set takes NAME=VALUE" in capsys.readouterr().err
    assert main([*args, "--preset", "fast"]) == 2
    assert "Unknown ConductanceSurrogate preset 'fast'; presets: default" in capsys.readouterr().err


def test_a_model_path_is_read_beside_the_spec(tmp_path, monkeypatch):
    import shutil

    from vlab.conductance.shipped import shipped_model_file

    folder = tmp_path / "m"
    folder.mkdir()
    shutil.copy(shipped_model_file("spd-bottleneck"), folder / "bn.npz")
    spec = folder / "sur.yaml"
    spec.write_text(yaml.safe_dump({**REF, "kind": "conductance-surrogate",
                                    "params": {"model": "bn.npz"}}))  # fmt: skip
    monkeypatch.chdir(tmp_path)  # not the spec's folder
    assert load_spec(spec).params["model"] == str(folder / "bn.npz")
