import json
import re
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


def test_run_status_and_catalog_roundtrip(tmp_path, capsys, monkeypatch):
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "name: cli-probe\nkind: engine-probe\nstore: out/p.zarr\nchunk_size: 4\n"
        "params: {fail_every: 5}\ninputs: {generator: range, n: 10}\n"
    )
    assert main(["run", str(spec), "--synchronous", "--no-progress"]) == 1  # items failed
    out, err = capsys.readouterr()
    assert "10 items" in out and "8 done, 2 failed" in out
    assert "2 items failed" in err and "--retry-failed" in err
    assert main(["status", str(tmp_path / "out/p.zarr"), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)  # JSON alone, for scripts
    assert record["done"] == 8 and record["failed"] == 2 and record["kind"] == "engine-probe"
    assert "fails on purpose" in record["failed_items"][0]["error"]
    assert main(["status", str(tmp_path / "out/p.zarr"), "--errors", "1"]) == 0
    assert "... and 1 more failed items (--errors N shows N)" in capsys.readouterr().out
    assert main(["status", str(tmp_path / "out/p.zarr"), "--verify", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    (tmp_path / "cli-probe").write_text("a file named like the catalog entry")
    monkeypatch.chdir(tmp_path)
    assert main(["status", "cli-probe", "--json"]) == 0  # the entry, not the file
    assert json.loads(capsys.readouterr().out)["items"] == 10
    with pytest.raises(SystemExit) as code:
        main(["status", str(tmp_path / "out/p.zarr"), "--errors", "-1"])
    assert code.value.code == 2
    assert "--errors must be an integer >= 0. Got '-1'." in capsys.readouterr().err
    assert main(["catalog", "list"]) == 0
    assert "cli-probe" in capsys.readouterr().out
    assert main(["catalog", "show", "cli-probe"]) == 0
    assert "engine-probe" in capsys.readouterr().out
    assert main(["catalog", "open", "nope"]) == 2
    assert "No catalog entry named 'nope'" in capsys.readouterr().err
    # a store given by its path, registered or not
    store = str(tmp_path / "out/p.zarr")
    assert main(["catalog", "show", store]) == 0
    shown = capsys.readouterr().out
    assert f"store: {store} (catalog entry: cli-probe)" in shown and "items: 10 (0 pending" in shown
    assert main(["catalog", "open", store]) == 0
    assert f"vlab.catalog.open_store({store!r})" in capsys.readouterr().out
    assert main(["catalog", "list", "cli", "extra"]) == 2
    assert "takes at most one PATTERN; got also 'extra'" in capsys.readouterr().err


def test_catalog_list_keeps_its_columns_for_long_names_and_shows_where_undescribed_stores_are(
    _private_catalog, capsys
):
    long_name = "design-screen-thermal_conductivity-with-a-long-name"
    (_private_catalog / "somewhere.zarr").mkdir()
    (_private_catalog / "long.yaml").write_text(
        f"name: {long_name}\nlocation: somewhere.zarr\nkind: polymer-predict\n"
    )
    assert main(["catalog", "list"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    kind_columns = {row.index(kind) for row in rows for kind in ("polymer-predict",) if kind in row}
    kind_columns |= {row.index("conductance-reference") for row in rows if "au-spd-2x2 " in row}
    assert len(kind_columns) == 1, rows
    (row,) = [r for r in rows if long_name in r]
    assert "(no description) " in row and str(_private_catalog / "somewhere.zarr") in row


def test_catalog_list_takes_a_pattern_and_cuts_rows_to_the_terminal(
    _private_catalog, capsys, monkeypatch
):
    import os
    import sys

    assert main(["catalog", "list", "spd-2x2-test"]) == 0
    head, *rows = capsys.readouterr().out.splitlines()
    assert head.startswith("catalog: 3 of ") and "entries match 'spd-2x2-test'" in head
    assert [r.split()[0] for r in rows] == [
        "au-spd-2x2-test",
        "au-spd-2x2-test-c",
        "au-spd-2x2-test-d",
    ]
    assert main(["catalog", "list", "au-sband-*"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert rows and all(r.split()[0].startswith("au-sband-") for r in rows)
    assert max(len(r) for r in rows) > 120  # piped: whole descriptions
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.setattr("shutil.get_terminal_size", lambda: os.terminal_size((100, 40)))
    assert main(["catalog", "list", "au-sband-*"]) == 0
    *rows, hint = capsys.readouterr().out.splitlines()[1:]
    assert all(len(r) <= 100 for r in rows) and rows[0].endswith("...")
    assert hint == "(vlab catalog show NAME: the whole entry)"


def test_an_entry_whose_store_was_deleted_is_marked_and_named_in_one_clear_line(
    _private_catalog, tmp_path, capsys
):
    gone = tmp_path / "moved-away.zarr"
    (_private_catalog / "gone.yaml").write_text(f"name: gone\nlocation: {gone}\nkind: k\n")
    assert main(["catalog", "list"]) == 0
    (row,) = [r for r in capsys.readouterr().out.splitlines() if " gone " in r]
    assert row.endswith(f"[missing: {gone}]")
    expected = (
        f"vlab: error: The catalog entry 'gone' points to {str(gone)!r}, which does not exist: "
        "the store was moved or deleted. Register it again where it is now "
        f"(vlab.catalog.register), or delete {str(_private_catalog / 'gone.yaml')!r}.\n"
    )
    for args in (["catalog", "open", "gone"], ["status", "gone"], ["catalog", "export", "gone"]):
        assert main([*args, str(tmp_path / "copy.zarr")] if "export" in args else args) == 2
        assert capsys.readouterr().err == expected, args


def test_status_of_a_missing_store_is_one_clear_line(tmp_path, capsys):
    assert main(["status", str(tmp_path / "none.zarr")]) == 2
    err = capsys.readouterr().err
    assert "none.zarr' does not exist" in err and "catalog entry name" in err
    assert main(["status", str(tmp_path)]) == 2
    assert "is not a vlab store (no zarr.json)" in capsys.readouterr().err


def test_kinds_lists_the_probe(capsys):
    assert main(["kinds"]) == 0
    assert "engine-probe" in capsys.readouterr().out


def _tiny_experiment(md_spec, folder, model: str, train: dict | None = None) -> str:
    """A 2-trace virtual experiment (one-atom necks between 2x2 electrodes, 104 atoms)."""
    import yaml

    protocol = {"speed": 0.5, "equilibration": 1.0, "max_elongation": 5.0}
    md = md_spec("cli-md", store="md.zarr", seed=1, protocol=protocol)
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


def test_conductance_experiment_trains_runs_and_draws(tmp_path, capsys, tiny_md_spec):
    """The end-to-end experiment from the command line, training its missing model (the
    in-process runs of tests/conductance/test_experiment.py use a ready model)."""
    pytest.importorskip("dscribe")
    import json
    from pathlib import Path

    committed = Path(__file__).resolve().parents[1] / "catalogs/data/au-sband-large.zarr"
    train = {"stores": [str(committed)], "params": {"n_estimators": 2}, "holdout": 0.5}
    spec = _tiny_experiment(tiny_md_spec, tmp_path, "model.npz", train)
    assert main(["conductance", "experiment", spec, "--synchronous", "--no-progress"]) == 0
    out = capsys.readouterr().out
    summary = json.loads(out[out.index("{") :])
    assert summary["traces"] == 2 and summary["atoms_per_structure"] == 104
    assert summary["model"]["held_out_traces"] == 1  # of the 2 committed 160-atom traces
    assert 0 < summary["model"]["n_train"] < 32
    assert (tmp_path / "model.npz").is_file() and (tmp_path / "experiment.png").is_file()
    assert summary["snapshots_reference"] < summary["snapshots_surrogate"]
    assert json.loads((tmp_path / "experiment.json").read_text()) == summary


def test_conductance_experiment_errors_are_one_line(tmp_path, capsys, tiny_md_spec):
    spec = _tiny_experiment(tiny_md_spec, tmp_path, "missing.npz")
    assert main(["conductance", "experiment", spec, "--synchronous"]) == 2
    err = capsys.readouterr().err
    assert "missing.npz' does not exist and 'model.train' is not given" in err
    assert main(["conductance", "experiment", str(tmp_path / "none.yaml")]) == 2
    assert "no such experiment file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["conductance", "experiment", "--help"])
    assert "histograms side by side" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------
# Bad input is refused before any cluster starts (in well under a second).


@pytest.fixture
def no_cluster(monkeypatch):
    """Make every way of starting a Dask cluster fail the test (and record it)."""
    import distributed

    import vlab.campaign.cluster

    started = []

    def forbidden(name):
        def start(*args, **kwargs):
            started.append(name)
            raise AssertionError(f"{name} was called: a cluster started before the error")

        return start

    monkeypatch.setattr(distributed, "LocalCluster", forbidden("LocalCluster"))
    monkeypatch.setattr(distributed, "Client", forbidden("Client"))
    monkeypatch.setattr(vlab.campaign.cluster, "connect", forbidden("connect"))
    from vlab.campaign import kind_names

    kind_names()  # the kinds' modules are imported once, outside the timed calls
    return started


def _timed_main(argv, capsys):
    import time

    start = time.perf_counter()
    code = main(argv)
    seconds = time.perf_counter() - start
    return code, capsys.readouterr().err, seconds


PROBE = "name: p\nkind: engine-probe\nstore: p.zarr\ninputs: {generator: range, n: 5}\n"
BAD_SPECS = {
    "unknown kind": (
        PROBE.replace("engine-probe", "engine-prob"),
        "Unknown campaign kind 'engine-prob'; registered kinds: ",
    ),
    "unknown kind, the hint": (
        PROBE.replace("engine-probe", "engine-prob"),
        "polymer-predict. Did you mean 'engine-probe'?",
    ),
    "wrong parameter type": (
        PROBE + "params: {seconds: fast}\n",
        "engine-probe: 'seconds' must be a number >= 0. Got 'fast'.",
    ),
    "misspelt key": (PROBE + "chunksize: 5\n", "unknown key 'chunksize'; allowed keys: chunk_size"),
    "misspelt key, the hint": (PROBE + "chunksize: 5\n", "store. Did you mean 'chunk_size'?"),
    "misspelt inputs key": (
        PROBE.replace("n: 5", "n: 5, sed: 1"),
        "unknown key inputs.'sed'; allowed keys:",
    ),
    "unknown parameter": (
        PROBE + "params: {second: 1}\n",
        "engine-probe: unknown parameter(s) ['second']; allowed: ['busy', 'fail_every', "
        "'seconds']. Did you mean 'seconds'?",
    ),
    "unknown parameter, no close one": (
        PROBE + "params: {colour: 1}\n",
        "allowed: ['busy', 'fail_every', 'seconds'].\n",
    ),
    "unknown generator": (
        PROBE.replace("generator: range", "generator: rnage"),
        "the 'inputs.generator' 'rnage' is not a generator of kind 'engine-probe'; its "
        "generators: range.",
    ),
    "chunk size": (PROBE + "chunk_size: 0\n", "the 'chunk_size' key must be > 0. Got 0."),
}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_run_refuses_a_bad_spec_fast_and_before_any_cluster(case, tmp_path, capsys, no_cluster):
    text, message = BAD_SPECS[case]
    spec = tmp_path / "p.yaml"
    spec.write_text(text)
    code, err, seconds = _timed_main(["run", str(spec), "--no-progress"], capsys)
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1
    assert f"vlab: error: {spec}: " in err  # the message names the file
    assert no_cluster == [] and seconds < 1.0
    assert not (tmp_path / "p.zarr").exists()


def test_run_prints_its_header_only_for_a_spec_whose_kind_and_parameters_are_good(
    tmp_path, capsys, no_cluster
):
    spec = tmp_path / "p.yaml"
    spec.write_text(PROBE + "params: {second: 1}\n")
    assert main(["run", str(spec), "--no-progress"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "unknown parameter(s) ['second']" in err


def test_run_refuses_a_store_path_that_is_a_file(tmp_path, capsys, no_cluster):
    spec = tmp_path / "p.yaml"
    spec.write_text(PROBE)
    (tmp_path / "p.zarr").write_text("not a store")
    code, err, seconds = _timed_main(["run", str(spec)], capsys)
    assert code == 2 and no_cluster == [] and seconds < 1.0
    assert f"the 'store' path '{tmp_path / 'p.zarr'}' is a file; it is left untouched" in err
    assert (tmp_path / "p.zarr").read_text() == "not a store"


def test_run_refuses_bad_cluster_options_before_the_spec_runs(tmp_path, capsys, no_cluster):
    spec = tmp_path / "p.yaml"
    spec.write_text(PROBE)
    code, err, _ = _timed_main(["run", str(spec), "--workers", "0"], capsys)
    assert code == 2 and "The number of workers must be >= 1. Got 0." in err
    code, err, _ = _timed_main(["run", str(spec), "--scheduler", "localhost:8786"], capsys)
    assert code == 2 and "must look like tcp://HOST:PORT. Got 'localhost:8786'" in err
    assert no_cluster == [] and not (tmp_path / "p.zarr").exists()


def test_a_store_being_written_is_refused_fast_and_before_any_cluster(tmp_path, capsys, no_cluster):
    from vlab.catalog import StoreLock

    spec = tmp_path / "p.yaml"
    spec.write_text(PROBE)
    with StoreLock(tmp_path / "p.zarr"):
        code, err, seconds = _timed_main(["run", str(spec), "--no-progress"], capsys)
    assert code == 2 and no_cluster == [] and seconds < 1.0
    assert f"The store '{tmp_path / 'p.zarr'}' is being written by another campaign (pid" in err
    assert len(err.strip().splitlines()) == 1


def test_demo_refuses_a_store_being_written_before_any_cluster(tmp_path, capsys, no_cluster):
    from vlab.catalog import StoreLock

    out = tmp_path / "demo"
    argv = ["demo", "--quick", "--out", str(out)]
    with StoreLock(out / "stores" / "breakjunction.zarr"):
        assert main(argv) == 2  # the first call imports the MD modules; the timed one does not
        code, err, seconds = _timed_main(argv, capsys)
    assert code == 2 and no_cluster == [] and seconds < 1.0
    assert "breakjunction.zarr' is being written by another campaign" in err


@pytest.mark.parametrize(
    "options, message",
    [
        (["--target", "Tg>=abc"], "--target 'Tg>=abc': Cannot parse the target 'Tg>=abc'."),
        (
            ["--target", "density>=1 g/cm3"],
            "--target 'density>=1 g/cm3' names density; the forward models predict "
            "thermal_conductivity, Tg.",
        ),
        (["--target", "thermal_conductivty>=0.3"], "Did you mean 'thermal_conductivity'?"),
        (["--target", " ; "], "--target ' ; ': The target is empty. Write one or more"),
        (
            ["--training", "Tm=polymers-polymon_tg"],
            "--training Tm=polymers-polymon_tg: the target ('thermal_conductivity>=0.3 W/(m K); "
            "Tg>=450 K') does not constrain 'Tm'; give training stores for Tg, "
            "thermal_conductivity.",
        ),
        (
            ["--training", "Tg=nowhere"],
            "--training Tg=nowhere names the store 'nowhere', which is not in the catalog",
        ),
    ],
)
def test_design_refuses_a_bad_target_before_any_cluster(
    options, message, tmp_path, capsys, no_cluster
):
    pytest.importorskip("rdkit")
    out = tmp_path / "design"
    argv = ["polymers", "design", *options, "--out", str(out), "--workers", "2"]
    assert main(argv) == 2  # the first call imports the design modules; the timed one does not
    assert capsys.readouterr().out == "" and not out.exists()  # nothing printed or made
    code, err, seconds = _timed_main(argv, capsys)
    assert code == 2, err
    assert message in err and no_cluster == [] and seconds < 1.0
    assert err.startswith(f"vlab: error: {options[0]} "), err
    assert ".yaml" not in err and "params" not in err  # no spec the user did not write


def test_experiment_refuses_a_bad_campaign_before_any_cluster(
    tmp_path, capsys, no_cluster, tiny_md_spec
):
    import yaml

    train = {"stores": ["au-sband-large"]}
    path = _tiny_experiment(tiny_md_spec, tmp_path, "model.npz", train)  # the model is missing
    spec = yaml.safe_load((tmp_path / "experiment.yaml").read_text())
    spec["campaigns"]["md"]["params"]["protocol"]["sped"] = 0.5
    (tmp_path / "experiment.yaml").write_text(yaml.safe_dump(spec))
    assert main(["conductance", "experiment", path]) == 2  # imports the MD modules
    code, err, seconds = _timed_main(["conductance", "experiment", path], capsys)
    assert code == 2 and no_cluster == [] and seconds < 1.0
    assert "experiment.yaml: campaigns.md: break-junction-md: unknown" in err and "'sped'" in err
    assert not (tmp_path / "model.npz").exists()  # refused before training the surrogate


# ``vlab ARGS...`` in a fresh process in which starting a Dask cluster ends the process (exit 3)
GUARDED_VLAB = (
    "import sys, distributed, vlab.campaign.cluster as cluster\n"
    "def forbidden(*args, **kwargs):\n"
    "    print('a Dask cluster was started before the error', file=sys.stderr)\n"
    "    sys.exit(3)\n"
    "distributed.LocalCluster = distributed.Client = cluster.connect = forbidden\n"
    "from vlab.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def test_a_bad_spec_and_a_locked_store_fail_in_a_subprocess_before_any_cluster(tmp_path):
    """In a fresh process, as a user meets them: one line, exit status 2, and no cluster (the
    in-process tests above do the same with the imports warm and the time measured)."""
    vlab = [sys.executable, "-c", GUARDED_VLAB]
    spec = tmp_path / "p.yaml"
    spec.write_text(PROBE.replace("engine-probe", "engine-prob"))
    bad = subprocess.run([*vlab, "run", str(spec)], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2, bad.stderr
    assert "Unknown campaign kind 'engine-prob'" in bad.stderr
    assert "Dask dashboard" not in bad.stdout
    spec.write_text(PROBE)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from vlab.catalog import StoreLock\n"
            f"with StoreLock({str(tmp_path / 'p.zarr')!r}):\n"
            "    print('locked', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        locked = subprocess.run(
            [*vlab, "run", str(spec)], capture_output=True, text=True, timeout=120
        )
    finally:
        holder.kill()
        holder.wait()
    assert locked.returncode == 2, locked.stderr
    assert f"is being written by another campaign (pid {holder.pid} on" in locked.stderr
    assert "Dask dashboard" not in locked.stdout
    assert len(locked.stderr.strip().splitlines()) == 1
    # the guard works: without the lock, the same run reaches the cluster and is stopped there
    started = subprocess.run(
        [*vlab, "run", str(spec), "--no-progress"], capture_output=True, text=True, timeout=120
    )
    assert started.returncode == 3 and "a Dask cluster was started" in started.stderr, (
        started.stderr
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["polymers", "predict", "*CC*", "--model"],
        ["conductance", "predict", "au-sband-small", "--no-plot", "--no-progress", "--model"],
    ],
)
def test_a_model_file_that_is_not_one_is_bad_input(tmp_path, capsys, argv):
    bad = tmp_path / "notes.npz"
    bad.write_text("not a model")
    assert main([*argv, str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vlab: error: Could not read a saved ") and "notes.npz" in err, err


def test_polymers_predict_exits_2_when_no_smiles_is_valid_1_when_some_are_not(capsys):
    huge = "*" + "C" * 20_000 + "*"  # used to crash RDKit (exit 139)
    assert main(["polymers", "predict", "xx", huge]) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        "vlab: error: none of the 2 SMILES given is a valid repeat unit (the reasons are "
        "above); nothing was predicted.\n"
    )
    rows = [line for line in captured.out.splitlines() if not line.startswith("#")]
    assert rows[0].startswith("xx\terror: The repeat unit 'xx' is not a valid polymer SMILES")
    assert "at most 2,000 (MAX_SMILES_LENGTH)" in rows[1] and len(rows[1]) < 600
    assert main(["polymers", "predict", "xx", "*CC*"]) == 1
    captured = capsys.readouterr()
    assert "*CC*\tλ = " in captured.out and "xx\terror:" in captured.out
    assert captured.err == (
        "vlab: error: 1 of the 2 SMILES given is not a valid repeat unit (the reasons are "
        "above); the others were predicted.\n"
    )
    assert main(["polymers", "predict", "*CC(*)c1ccccc1", "*CC*", "*CC(*)c1ccc(O)cc1"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    # rows of the built-in model's embedded table get their measured value and morphology
    rows = captured.out.splitlines()[2:]
    assert rows[0].endswith("\tin its training data (W/(m K)): 0.140 (amorphous)"), rows[0]
    assert rows[1].endswith("\tin its training data (W/(m K)): 0.330 (semicrystalline)")
    assert "training data" not in rows[2]
    # a unit less similar to the training data than nearly all calibration rows is flagged
    germanium = "*C1CCC(CC1)[Ge](C)(C)*"
    assert main(["polymers", "predict", "*CC(*)c1ccc(O)cc1", germanium, "*CC*"]) == 0
    rows = capsys.readouterr().out.splitlines()[2:]
    assert "far from" not in rows[0] + rows[2]
    assert rows[1].endswith(
        "\tfar from its training data: no training unit has Ge atoms; the nearest training "
        "unit, *O[Si](*)(C)C, has Tanimoto "
        "similarity 0.12, and 1 of the 46 rows its interval was calibrated on was as far from "
        "their data: the interval may be too narrow"
    ), rows[1]
    # a thermal conductivity is not negative: the 95 % interval stops at 0
    assert main(["polymers", "predict", "*C(F)(F)C(*)(F)C(F)(F)F"]) == 0
    row = capsys.readouterr().out.splitlines()[2]
    assert re.search(r"λ = 0\.\d{3} ± 0\.\d{3} \[0\.000, 0\.\d{3}\] W/\(m K\)", row), row


def test_vlab_warnings_are_one_line_and_debug_keeps_pythons_form(tmp_path):
    """The fast model's range-of-use warning, seen from a shell: one ``vlab: warning:`` line
    (the exit status stays 0); with --debug, Python's own form with file and line."""
    pytest.importorskip("dscribe")
    from ase.io import write

    from vlab.conductance import build_wire

    path = tmp_path / "wire.xyz"
    write(path, build_wire("Au", cross_section=(1, 1), length=6, electrode_layers=3))
    cmd = [sys.executable, "-m", "vlab.cli", "conductance", "predict", str(path),
           "--model", "spd-bottleneck", "--out", str(tmp_path / "p.json")]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vlab: warning: The spd-bottleneck model")
    assert "48 atoms" in lines[0]
    debug = subprocess.run([*cmd[:3], "--debug", *cmd[3:]], capture_output=True, text=True,
                           timeout=120)  # fmt: skip
    assert debug.returncode == 0 and "UserWarning: The spd-bottleneck model" in debug.stderr


@pytest.mark.parametrize(
    ("words", "listed"),
    [
        ([], ["demo", "run", "conductance"]),
        (["conductance"], ["predict", "learn"]),
        (["polymers"], ["predict", "design"]),
    ],
)
def test_a_command_group_without_a_command_prints_its_commands(words, listed, capsys):
    assert main(words) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith(f"usage: {' '.join(['vlab', *words])} ")
    for name in listed:
        assert re.search(rf"\n    {name}\s", captured.err), name


def test_catalog_without_an_action_prints_its_help(capsys):
    assert main(["catalog"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("usage: vlab catalog ")
    for action in ("list", "show", "open", "export"):
        assert re.search(rf"\n    {action}\s", captured.err), action
    assert "Catalog entries name stores" in captured.err


def test_status_names_the_calculator_of_a_reference_store(capsys):
    assert main(["status", "au-spd-2x2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "  calculator: eht-spd v2 (au-tail)" in lines
    assert main(["status", "au-sband-small"]) == 0
    assert "  calculator: sband-tb v1" in capsys.readouterr().out.splitlines()


def test_catalog_show_counts_the_items_and_names_the_calculator(_private_catalog, tmp_path, capsys):
    assert main(["catalog", "show", "au-spd-small"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2:] == [
        "items: 309 (0 pending, 309 done, 0 failed)",
        "calculator: eht-spd v2 (au-tail)",
    ]
    gone = tmp_path / "moved-away.zarr"
    (_private_catalog / "gone.yaml").write_text(f"name: gone\nlocation: {gone}\nkind: k\n")
    assert main(["catalog", "show", "gone"]) == 0  # the entry, and that its store is gone
    shown = capsys.readouterr().out.splitlines()
    assert shown[-2].startswith("index_file: ")
    assert shown[-1] == f"store: missing ({gone} does not exist: moved or deleted)"


def test_outputs_default_to_the_configured_results_folder(tmp_path, monkeypatch, capsys):
    """`--out` defaults live in `results_dir` (VLAB_RESULTS_DIR, a top-level setting)."""
    import json

    monkeypatch.setenv("VLAB_RESULTS_DIR", str(tmp_path / "runs"))
    assert main(["conductance", "plot", "au-spd-small"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["summary_json"] == str(tmp_path / "runs/figures/au-spd-small-summary.json")
    with pytest.raises(SystemExit):
        main(["conductance", "plot", "--help"])
    assert "RESULTS_DIR/figures" in capsys.readouterr().out


def test_bad_outputs_and_stores_are_refused_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("keep me")
    (tmp_path / "folder").mkdir()
    cases = [
        (["conductance", "plot", "au-spd-small", "--out", "afile"], "is an existing file"),
        (["conductance", "predict", "au-spd-small", "--out", "afile"], "must be a .json file"),
        (["conductance", "predict", "au-spd-small", "--out", "folder"], "must be a .json file"),
        (["conductance", "plot", "folder"], "'folder' is a folder but not a vlab store"),
        (
            ["conductance", "validate", "spd-bottleneck", "au-spd-small", "--out", "v.json"],
            "validate --out is a folder",
        ),
        (["status", "au-spd-smal"], "Did you mean 'au-spd-small'?"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        assert message in capsys.readouterr().err, argv
    assert (tmp_path / "afile").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "folder"]  # nothing made
    with pytest.raises(SystemExit) as exit_info:
        main(["conductance", "plot", "au-spd-small", "--traces", "0"])
    assert exit_info.value.code == 2
    assert "--traces must be an integer >= 1. Got '0'." in capsys.readouterr().err


def test_an_interrupt_says_whether_the_command_resumes():
    from vlab.cli import _interrupted, _Terminated

    train = ["polymers", "train", "Tg=polymers-polymon_tg", "--name", "tg"]
    assert _interrupted(KeyboardInterrupt(), train) == (
        "vlab: interrupted; this command keeps nothing of an unfinished run: "
        "vlab polymers train Tg=polymers-polymon_tg --name tg"
    )
    for argv in (["conductance", "predict", "s.xyz"], ["catalog", "export", "a", "b.zarr"]):
        assert "keeps nothing of an unfinished run" in _interrupted(KeyboardInterrupt(), argv)
    assert _interrupted(_Terminated(), ["run", "spec.yaml"]) == (
        "vlab: terminated (SIGTERM). Run the same command again to resume: vlab run spec.yaml"
    )
