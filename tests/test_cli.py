import subprocess
import sys

import pytest

from vlab.cli import main

SUBCOMMANDS = [["demo"], ["run"], ["status"], ["catalog"], ["kinds"], ["config"]]


def test_top_level_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for (name,) in SUBCOMMANDS:
        assert name in out


@pytest.mark.parametrize("words", SUBCOMMANDS, ids=lambda w: w[0])
def test_every_subcommand_has_useful_help(words, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*words, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: vlab" in out and len(out.splitlines()) >= 5


def test_run_missing_spec_prints_one_line_and_exits_2():
    proc = subprocess.run(
        [sys.executable, "-m", "vlab.cli", "run", "no-such-file.yaml"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "no-such-file.yaml" in lines[0] and "Traceback" not in proc.stderr


def test_bad_spec_key_is_named(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "name: x\nkind: engine-probe\nstore: x.zarr\nchunk_size: -3\n"
        "inputs: {generator: range, n: 3}\n"
    )
    assert main(["run", str(spec), "--synchronous"]) == 2
    err = capsys.readouterr().err
    assert "'chunk_size'" in err and "Got -3" in err


def test_run_status_and_catalog_roundtrip(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "name: cli-probe\nkind: engine-probe\nstore: out/p.zarr\nchunk_size: 4\n"
        "params: {fail_every: 5}\ninputs: {generator: range, n: 10}\n"
    )
    assert main(["run", str(spec), "--synchronous", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "10 items" in out and "8 done, 2 failed" in out
    assert main(["status", str(tmp_path / "out/p.zarr"), "--json"]) == 0
    out = capsys.readouterr().out
    assert '"done": 8' in out and "fails on purpose" in out
    assert main(["catalog", "list"]) == 0
    assert "cli-probe" in capsys.readouterr().out
    assert main(["catalog", "show", "cli-probe"]) == 0
    assert "engine-probe" in capsys.readouterr().out
    assert main(["catalog", "open", "nope"]) == 2
    assert "No catalog entry named 'nope'" in capsys.readouterr().err


def test_status_of_a_missing_store_is_one_clear_line(tmp_path, capsys):
    assert main(["status", str(tmp_path / "none.zarr")]) == 1
    assert "No vlab store at" in capsys.readouterr().err


def test_kinds_lists_the_probe(capsys):
    assert main(["kinds"]) == 0
    assert "engine-probe" in capsys.readouterr().out


def _tiny_experiment(folder, model: str, train: dict | None = None) -> str:
    """A 2-trace virtual experiment (one-atom necks between 2x2 electrodes, 104 atoms)."""
    import yaml

    md = {
        "name": "cli-md",
        "kind": "break-junction-md",
        "params": {
            "structure": {
                "builder": "contact",
                "neck_cross_section": [1, 1],
                "electrode_cross_section": [2, 2],
                "length": 2,
                "electrode_layers": 3,
            },
            "protocol": {"speed": 0.5, "equilibration": 1.0, "max_elongation": 5.0},
        },
        "inputs": {"generator": "traces", "n": 2, "seed": 1},
        "chunk_size": 1,
        "store": "md.zarr",
    }
    spec = {
        "name": "cli-experiment",
        "model": {"path": model, **({"train": train} if train else {})},
        "campaigns": {
            "md": md,
            "surrogate": {
                "name": "cli-surrogate",
                "kind": "conductance-surrogate",
                "inputs": {"catalog": "cli-md"},
                "store": "surrogate.zarr",
            },
            "reference": {
                "name": "cli-sband",
                "kind": "conductance-reference",
                "params": {"snapshot_stride": 3},
                "inputs": {"catalog": "cli-md"},
                "store": "sband.zarr",
            },
        },
        "figure": "experiment.png",
        "summary": "experiment.json",
    }
    path = folder / "experiment.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)


def test_conductance_experiment_trains_runs_and_draws(tmp_path, capsys):
    pytest.importorskip("dscribe")
    import json
    from pathlib import Path

    committed = Path(__file__).resolve().parents[1] / "catalogs/data/au-sband-large.zarr"
    train = {"stores": [str(committed)], "params": {"n_estimators": 2}, "holdout": 0.5}
    spec = _tiny_experiment(tmp_path, "model.npz", train)
    assert main(["conductance", "experiment", spec, "--synchronous", "--no-progress"]) == 0
    out = capsys.readouterr().out
    summary = json.loads(out[out.index("{") :])
    assert summary["traces"] == 2 and summary["atoms_per_structure"] == 104
    assert summary["model"]["held_out_traces"] == 1  # of the 2 committed 160-atom traces
    assert 0 < summary["model"]["n_train"] < 32
    assert (tmp_path / "model.npz").is_file() and (tmp_path / "experiment.png").is_file()
    assert summary["snapshots_reference"] < summary["snapshots_surrogate"]
    assert json.loads((tmp_path / "experiment.json").read_text()) == summary


def test_conductance_experiment_errors_are_one_line(tmp_path, capsys):
    spec = _tiny_experiment(tmp_path, "missing.npz")
    assert main(["conductance", "experiment", spec, "--synchronous"]) == 2
    err = capsys.readouterr().err
    assert "missing.npz' does not exist and 'model.train' is not given" in err
    assert main(["conductance", "experiment", str(tmp_path / "none.yaml")]) == 2
    assert "no such experiment file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["conductance", "experiment", "--help"])
    assert "histograms side by side" in capsys.readouterr().out
