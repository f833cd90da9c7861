"""Bad input to the conductance commands: refused before any work, one line, exit 2, and no
output folder or file made."""

from __future__ import annotations

import shutil

import pytest
import zarr

from vlab import catalog
from vlab.cli import main


@pytest.fixture
def pending(tmp_path):
    """A copy of au-sband-small whose snapshots are all pending (a campaign not run yet)."""
    store = tmp_path / "pending.zarr"
    shutil.copytree(catalog.locate("au-sband-small"), store)
    zarr.open_group(store, mode="r+")["status"][:] = 0
    catalog.consolidate(store)
    return store


def test_a_store_without_done_snapshots_is_named(pending, tmp_path, capsys):
    none_done = f"The store {str(pending)!r} has no done snapshots (309 items, none labelled yet)"
    out = tmp_path / "val"
    for argv, said in (
        (["validate", "spd-bottleneck", str(pending), "--out", str(out)], none_done),
        (
            ["train", str(pending), "--estimator", "bottleneck", "--model", str(tmp_path / "m")],
            none_done,
        ),
        (["predict", str(pending), "--out", str(tmp_path / "p.json")], "holds no structures"),
    ):
        assert main(["conductance", *argv, "--no-progress"]) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("vlab: error: ") and said in err, (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pending.zarr"]  # nothing made


def test_outputs_under_a_file_are_refused_before_any_work(tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("a file")
    for argv, said in (
        (
            ["predict", "au-spd-small", "--no-plot", "--out", str(blocker / "x.json")],
            f"{str(blocker)!r} is a file, not a folder",
        ),
        (
            ["validate", "spd-bottleneck", "au-spd-small", "--out", str(blocker)],
            f"The output folder {str(blocker)!r} is an existing file; give a folder.",
        ),
    ):
        assert main(["conductance", *argv, "--no-progress"]) == 2, argv
        assert said in capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--seed", "-3"], "--seed must be an integer from 0 to 4,294,967,295. Got '-3'."),
        (["--jobs", "0"], "--jobs must be -1 (one process per CPU) or an integer >= 1."),
        (["--estimator", "bottleneck", "--jobs", "2"], "the bottleneck estimator trains in"),
    ],
)
def test_train_options_out_of_range(tmp_path, capsys, options, said):
    argv = ["conductance", "train", "au-spd-small", "--model", str(tmp_path / "m"), *options]
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse's own refusal
        code = stop.code
    assert code == 2 and said in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
