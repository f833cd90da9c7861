"""polymer-design chains through the engine, merged into a virtual library (small sizes).

The training data come from the data cache if it has the CSV files, else from the shipped stores.
"""

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

import vlab.catalog
from vlab._utils import content_hash
from vlab.campaign import load_spec, run_campaign
from vlab.campaign.kinds.design import DEFAULT_MARGIN
from vlab.catalog import training_rows
from vlab.errors import InputError, SpecError
from vlab.polymers.design import parse_target
from vlab.workflows.polymers import design_library


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
            "forward_model": "ridge",  # the GP (minutes to fit on all Tg) has its own tests
            **params,
        },
        "inputs": {"generator": "chains", "n": 2, "seed": 3},
    }
    path = tmp_path / "des.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_spec(path)


def test_chains_then_library(tmp_path):
    training = {"thermal_conductivity": "polymers-radonpy_pi1070", "Tg": "polymers-polymon_tg"}
    report = run_campaign(_spec(tmp_path, training=training), progress=False)
    assert report.done == 2
    summary = design_library(report.store, tmp_path / "lib", n=30)
    assert summary["library_size"] == 30 and summary["valid_fraction"] == 1.0
    assert 0 <= summary["predicted_hit_rate"] <= 1 and summary["novel_fraction"] > 0.5
    assert summary["hit_rates_judged_by"].startswith("the sampler's own forward models")
    header = (tmp_path / "lib" / "library.csv").read_text().splitlines()[0]
    assert "nearest_training" in header and "std_Tg" in header
    saved = json.loads((tmp_path / "lib" / "design-report.json").read_text())
    assert saved["target"].startswith("thermal_conductivity>=0.3")
    assert saved["forward_models"].startswith("Bayesian ridge")  # provenance names the models
    # the chains aimed DEFAULT_MARGIN training stds past each bound; judged on the target
    assert saved["margin"] == DEFAULT_MARGIN
    aimed = {b.name: b.low for b in parse_target(saved["aimed_at"]).boxes}
    for prop, store in training.items():
        _, values = training_rows(store, prop)
        low = {"thermal_conductivity": 0.3, "Tg": 450.0}[prop]
        assert aimed[prop] == pytest.approx(low + DEFAULT_MARGIN * np.std(values), rel=1e-5)
    with (tmp_path / "lib" / "library.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        inside = float(row["mean_thermal_conductivity"]) >= 0.3 and float(row["mean_Tg"]) >= 450
        assert row["predicted_in_target"] == str(inside)
    # one row per polymer, however the chains wrote its repeat unit
    from vlab.polymers.smiles import normalize_repeat_unit

    polymers = [normalize_repeat_unit(row["smiles"]) for row in rows]
    assert len(set(polymers)) == len(polymers)
    # asked for more than the chains found: said
    with pytest.warns(UserWarning, match=r"holds \d+ candidates, fewer than the 100000 asked"):
        more = design_library(report.store, tmp_path / "lib-all", n=100_000)
    assert more["library_size"] == more["candidate_pool"] < 100_000


def test_a_two_sided_box_is_narrowed_not_emptied_by_the_default_margin(tmp_path):
    target = "thermal_conductivity>=0.3 W/(m K); 400<=Tg<=600 K"
    report = run_campaign(_spec(tmp_path, target=target), progress=False)
    assert report.done == 2
    summary = design_library(report.store, tmp_path / "lib", n=10)
    (_, tg) = parse_target(summary["aimed_at"]).boxes
    assert (tg.low, tg.high) == pytest.approx((480.0, 520.0))  # 0.4 of the width at most


def test_margin_zero_aims_at_the_target_itself(tmp_path):
    report = run_campaign(_spec(tmp_path, margin=0), progress=False)
    summary = design_library(report.store, tmp_path / "lib", n=10)
    assert summary["margin"] == 0 and summary["aimed_at"] == summary["target"]


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        ({"target": "density>=1 g/cm3"}, InputError, "forward models predict"),
        ({"target": "Tg>=500 K; Tg<=400 K"}, InputError, "may appear in one box only"),
        ({"n_steps": 0}, SpecError, "'n_steps' must be an integer >= 1"),
        ({"temperature": 3}, SpecError, "unknown parameter"),
        ({"forward_model": "forest"}, SpecError, "'forward_model' must be one of"),
        ({"margin": -0.5}, SpecError, "'margin' must be a number >= 0 and <= 5"),
        ({"margin": "big"}, SpecError, "'margin' must be a number"),
        ({"order": 30}, SpecError, "'order' must be an integer >= 2 and <= 20"),
        ({"n_augment": -1}, SpecError, "'n_augment' must be an integer >= 0 and <= 100"),
    ],
)
def test_bad_design_targets_are_clear_errors(tmp_path, params, error, message):
    with pytest.raises(error, match=message):
        run_campaign(_spec(tmp_path, **params), progress=False)


def test_failed_design_keeps_the_previous_spec_and_is_retried(
    tmp_path, monkeypatch, capsys, _private_catalog
):
    import vlab.polymers.design as design
    from vlab.cli import main
    from vlab.errors import CalculationFailed

    def diverges(*args, **kwargs):
        raise CalculationFailed("the forward model diverged")

    args = ["polymers", "design", "--n", "10", "--chains", "2", "--steps", "2"]
    args += ["--forward-model", "ridge"]
    args += ["--particles", "8", "--synchronous", "--out", str(tmp_path)]
    spec = tmp_path / "design.yaml"
    spec.write_text("# the spec of the previous run\n")
    capsys.readouterr()
    with monkeypatch.context() as patched:
        patched.setattr(design, "run_smc", diverges)
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
    assert main(args) == 1  # failed chains stay failed without --retry-failed: same message
    assert "has no finished chain: 2 of 2 chains failed" in capsys.readouterr().err
    assert main([*args, "--retry-failed", "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert "2 items in" in out and "2 done, 0 failed" in out
    assert "step/s" not in err and "%|" not in err  # --no-progress: no bar over the chains
    assert yaml.safe_load(spec.read_text())["kind"] == "polymer-design"
    assert (tmp_path / "design-library" / "library.csv").is_file()
    assert (_private_catalog / "design.yaml").is_file()  # registered in the test's own catalog
    # the same --out with other options: refused in the options' words, nothing touched
    written = sorted((p.name, p.stat().st_mtime_ns) for p in store.rglob("*"))
    assert main([*args, "--seed", "7", "--steps", "3"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"vlab: error: {tmp_path} holds the design 'design' of another run (--seed 0 -> 7; "
        "--steps 2 -> 3). Give the same options to resume it, another --name "
        f"or --out for a new design, or delete {store} to start over.\n"
    )
    assert sorted((p.name, p.stat().st_mtime_ns) for p in store.rglob("*")) == written
    assert main([*args, "--margin", "2.5", "--no-progress"]) == 0  # the default, given: resumes
    assert "computed 0" in capsys.readouterr().out
    assert main([*args, "--margin", "2"]) == 2
    assert "(--margin 2.5 -> 2.0)" in capsys.readouterr().err


def test_store_and_library_report_plausibility(tmp_path, monkeypatch):
    import vlab.polymers.design as design

    report = run_campaign(_spec(tmp_path), progress=False)
    ds = vlab.catalog.open_store(report.store)
    assert ds["plausible"].dtype == bool and ds["strain_flags"].attrs["long_name"]
    found = ds["smiles"].values != ""
    sa = ds["sa_score"].values
    assert np.all((sa[found] >= 1) & (sa[found] <= 10)) and np.isnan(sa[~found]).all()
    drawn = {}
    monkeypatch.setattr(design, "draw_grid", lambda smiles, path, **kw: drawn.update(kw))
    summary = design_library(report.store, tmp_path / "lib", n=30)
    rows = list(csv.DictReader((tmp_path / "lib" / "library.csv").open()))
    assert list(rows[0])[:2] == ["rank", "smiles"]
    assert {"plausible", "sa_score", "strain_flags"} <= set(rows[0])
    plausible = [r["plausible"] == "True" for r in rows]
    assert plausible == sorted(plausible, reverse=True)  # plausible candidates ranked first
    for r in rows:
        assert (r["plausible"] == "True") == (not r["strain_flags"] and float(r["sa_score"]) <= 6)
    assert summary["plausible_fraction"] == pytest.approx(np.mean(plausible))
    title = drawn["title"]
    # ranked by the box the chains aimed at (past the target by the default margin)
    assert summary["aimed_at"] == "thermal_conductivity>=0.464045 W/(m K); Tg>=722.953 K"
    assert title.startswith(
        "Top 10 of 30 candidates by likelihood P(λ ≥ 0.464045 W/(m K), Tg ≥ 722.953 K) (the "
        "box the chains aimed at) under the forward models (mean ± std)\nimplausible "
        "candidates (strained rings or SA score > 6) excluded: "
    )
    assert f"excluded: {summary['top10_implausible_excluded']} of them" in title
    for legend in drawn["legends"]:
        assert re.fullmatch(
            r"#\d+ λ -?\d+\.\d+ ± \d+\.\d+ W/\(m K\), Tg -?\d+(\.\d+)? ± \d+(\.\d+)? K\nSA \d\.\d",
            legend,
        ), legend


def test_cli_sizes_the_run_from_n_and_counts_steps(tmp_path, capsys):
    from vlab.cli import main

    args = ["polymers", "design", "--n", "6", "--particles", "4", "--synchronous"]
    args += ["--forward-model", "ridge", "--training", "Tg=polymers-polymon_tg"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    # max(20, ceil(30 * 6 / (2 * 4))) = 23 steps per chain; the bar counts them
    assert "2 chains x 4 particles x 23 SMC steps for a library of 6" in out
    assert "design: 100%" in err and "46/46" in err and "step/s" in err
    params = yaml.safe_load((tmp_path / "design.yaml").read_text())["params"]
    assert params["n_steps"] == 23 and params["training"] == {"Tg": "polymers-polymon_tg"}


@pytest.mark.parametrize(
    ("option", "value"), [("--n", "0"), ("--chains", "-1"), ("--steps", "x"), ("--particles", "0")]
)
def test_cli_design_sizes_must_be_positive(option, value, capsys):
    from vlab.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["polymers", "design", option, value])
    assert exc.value.code == 2
    assert f"argument {option}: {option} must be an integer >= 1. Got {value!r}." in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize("value", ["-1", "6", "x"])
def test_cli_design_margin_is_checked(value, capsys):
    from vlab.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["polymers", "design", "--margin", value])
    assert exc.value.code == 2
    assert f"--margin must be a number from 0 to 5 (standard deviations). Got {value!r}." in (
        capsys.readouterr().err
    )


def test_the_default_margin_is_the_one_chosen_without_the_judge(capsys):
    from vlab.campaign.kinds.design import DesignParams
    from vlab.cli import main

    chosen = Path(__file__).parents[2] / "benchmarks" / "results" / "design_selection.json"
    assert (
        DesignParams().margin == DEFAULT_MARGIN == json.loads(chosen.read_text())["chosen_margin"]
    )
    with pytest.raises(SystemExit) as exc:
        main(["polymers", "design", "--help"])
    assert exc.value.code == 0
    assert f"(default {DEFAULT_MARGIN:g}; 0 aims" in " ".join(capsys.readouterr().out.split())


def test_progress_reports_reach_the_bar_from_workers(dask_client):
    import time

    from vlab.campaign.progress import ProgressBar

    def work(n):
        from vlab.campaign.progress import report_progress

        for _ in range(n):
            report_progress(1)
        return n

    with ProgressBar([3, 4, 5], [0, 1], client=dask_client, enabled=False) as bar:
        futures = [dask_client.submit(work, k, pure=False) for k in (3, 4)]
        dask_client.gather(futures)
        deadline = time.monotonic() + 10
        while bar.n < 7 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert bar.n == 7  # counted from the events, before any chunk is written
        bar.done([0], futures[0].key)
        bar.done([1], futures[1].key)
        assert bar.n == 7  # written chunks add only what was not reported


def test_progress_reports_in_a_synchronous_run():
    from vlab.campaign.progress import ProgressBar, report_progress

    with ProgressBar([5, 5], [0, 1], enabled=False) as bar:
        report_progress(2)
        assert bar.n == 2
        bar.done([0])  # the first item: 3 units that were not reported
        report_progress(1)
        bar.done([1])
        assert bar.n == 10
    report_progress(1)  # nobody listens: a no-op
    assert bar.n == 10


def test_forward_models_learn_from_named_catalog_stores():
    from vlab.campaign.kinds.design import _params, _training_data
    from vlab.polymers.datasets import source_rows
    from vlab.polymers.design import MorganRidgeModels, parse_target

    target = parse_target("thermal_conductivity>=0.3 W/(m K)")
    training = {"thermal_conductivity": "polymers-radonpy_pi1070"}
    params = _params({"target": str(target), "training": training})
    assert params.training == training
    from_store = _training_data(target, params.training)["thermal_conductivity"]
    rows = source_rows("radonpy_pi1070")  # the same rows read directly (CSV cache or package)
    y = np.asarray(rows.values["thermal_conductivity"], float)
    known = np.isfinite(y)  # the rows with a value: what a model learns from
    direct = ([s for s, k in zip(rows.smiles, known, strict=True) if k], y[known])
    assert from_store[0] == direct[0]
    np.testing.assert_array_equal(from_store[1], direct[1])
    probe = ["*CC(*)c1ccccc1", "*c1ccc(Oc2ccc(N3C(=O)c4ccc(*)cc4C3=O)cc2)cc1"]
    a = MorganRidgeModels().fit({"thermal_conductivity": from_store})(probe)
    b = MorganRidgeModels().fit({"thermal_conductivity": direct})(probe)
    np.testing.assert_array_equal(a["thermal_conductivity"][0], b["thermal_conductivity"][0])


def test_designs_learned_from_a_store_are_keyed_on_its_content(tmp_path):
    import shutil

    import zarr

    from vlab import catalog
    from vlab.campaign import get_kind
    from vlab.campaign.kinds.design import training_digest
    from vlab.polymers.datasets import source_rows

    kind = get_kind("polymer-design")
    target = "thermal_conductivity>=0.3 W/(m K)"
    name = "polymers-radonpy_pi1070"
    rows = source_rows("radonpy_pi1070")
    values = [None if np.isnan(v) else float(v) for v in rows.values["thermal_conductivity"]]
    assert training_digest(name, "thermal_conductivity") == content_hash(
        list(rows.smiles), values
    )  # the rows it learns from, whatever the store's layout
    plain = kind.identify(kind.check_params({"target": target}))
    named = kind.identify(
        kind.check_params({"target": target, "training": {"thermal_conductivity": name}})
    )
    assert "training_sha256" not in plain
    assert named["training_sha256"] == {
        "thermal_conductivity": training_digest(name, "thermal_conductivity")
    }
    # a copy with one value changed, under another name: other content, other identity
    entry = {e.name: e for e in catalog.list_entries()}[name]
    copy = tmp_path / "pi-changed.zarr"
    shutil.copytree(entry.location, copy)
    lam = zarr.open_array(str(copy / "thermal_conductivity"), mode="r+")
    lam[0] = float(lam[0]) + 0.1
    catalog.register("pi-changed", copy, description="PI1070, one value changed")
    changed = kind.identify(
        kind.check_params({"target": target, "training": {"thermal_conductivity": "pi-changed"}})
    )
    assert changed["training_sha256"] != named["training_sha256"]


@pytest.mark.parametrize(
    ("training", "message"),
    [
        ({"Tg": "polymers-nowhere"}, r"store 'polymers-nowhere', which is not in the catalog"),
        ({"Tg": "polymers-radonpy_pi1070"}, r"'polymers-radonpy_pi1070' .* has no property 'Tg'"),
        ({"density": "polymers-polymon_tg"}, r"params.training names \['density'\]"),
    ],
)
def test_missing_training_store_or_variable_is_a_clear_error(training, message):
    from vlab.campaign.kinds.design import _params

    with pytest.raises(SpecError, match=message) as err:
        _params({"training": training})
    assert "\n" not in str(err.value)


def test_cli_training_option_must_be_property_equals_store(tmp_path, capsys):
    from vlab.cli import main

    assert main(["polymers", "design", "--training", "Tg", "--out", str(tmp_path)]) == 2
    assert "--training must be PROPERTY=STORE, e.g. Tg=polymers-polymon_tg. Got 'Tg'." in (
        capsys.readouterr().err
    )


def test_forward_models_are_fitted_once_per_process_for_the_same_training_data():
    from vlab.campaign.kinds import design
    from vlab.polymers.design import MorganRidgeModels

    smiles = ["*CC*", "*CC(*)C", "*CC(*)c1ccccc1", "*CCO*", "*CC(*)Cl", "*C(F)(F)C(*)(F)F"]
    tg = np.array([200.0, 270.0, 373.0, 206.0, 354.0, 400.0])
    first = design._forward_models("ridge", {"Tg": (smiles, tg)})
    again = design._forward_models("ridge", {"Tg": (list(smiles), tg.copy())})
    assert again is first  # equal data: the fitted models are reused
    changed = design._forward_models("ridge", {"Tg": (smiles, tg + 1.0)})
    assert changed is not first  # other values: fitted anew
    fresh = MorganRidgeModels().fit({"Tg": (smiles, tg + 1.0)})
    probe = ["*CC(*)CC*", "*CC(*)c1ccccc1"]
    for got, want in zip(changed(probe)["Tg"], fresh(probe)["Tg"], strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_target_no_training_value_reaches_is_said_before_the_run(tmp_path, capsys):
    import json

    from vlab.campaign.kinds.design import training_in_target
    from vlab.cli import main

    found = training_in_target("Tg>=2000 K")["Tg"]
    assert found["in_target"] == 0 and found["max"] < 2000 < found["n"]
    args = ["polymers", "design", "--n", "4", "--particles", "4", "--steps", "2"]
    args += ["--forward-model", "ridge", "--synchronous", "--target", "Tg>=2000 K"]
    with pytest.warns(UserWarning, match="no training polymer's Tg lies in the target box") as got:
        assert main([*args, "--out", str(tmp_path)]) == 0
    assert (
        f"({found['n']} training values, {found['min']:g}-{found['max']:g} K): the forward "
        "model extrapolates there" in str(got[0].message)
    )
    report = json.loads((tmp_path / "design-library" / "design-report.json").read_text())
    assert report["training_in_target"] == {"Tg": found}


def test_the_library_pool_keeps_one_row_per_polymer():
    """Chains can write one polymer from different atoms (``*Nc1ccc(C(*)=O)cc1`` is
    ``*C(=O)Nc1ccc(*)cc1``): the pool keeps its most likely row once."""
    import xarray as xr

    from vlab.workflows.polymers import _design_pool

    smiles = ["*C(=O)Nc1ccc(*)cc1", "*Nc1ccc(C(*)=O)cc1", "*CC(*)c1ccccc1", "*CC*"]
    data = {
        "smiles": ("row", np.array(smiles, dtype=object)),
        "log_likelihood": ("row", [-3.0, -1.0, -2.0, -4.0]),
        "mean_Tg": ("row", [500.0, 510.0, 370.0, 200.0]),
        "std_Tg": ("row", [10.0, 10.0, 10.0, 10.0]),
        "sa_score": ("row", [2.0, 2.0, 2.0, 2.0]),
        "strain_flags": ("row", np.array(["", "", "", ""], dtype=object)),
        "plausible": ("row", [True, True, True, True]),
    }
    pool, hits = _design_pool(xr.Dataset(data), ["Tg"], parse_target("Tg>=450 K"))
    assert list(pool["smiles"]) == ["*Nc1ccc(C(*)=O)cc1", "*CC(*)c1ccccc1", "*CC*"]
    assert list(pool["mean_Tg"]) == [510.0, 370.0, 200.0]
    assert len(hits) == 3 and hits.sum() == 1  # the pool's polymers, each once
