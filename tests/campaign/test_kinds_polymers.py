"""polymer-predict through the engine, and the polymer sources as catalog stores."""

import json
import re

import numpy as np
import pytest
import yaml

import vlab.catalog
from vlab.campaign import load_spec, run_campaign
from vlab.cli import main
from vlab.errors import InputError, SpecError


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
    with pytest.raises(SpecError, match="'model' must be 'builtin:experimental-tc', a registered"):
        run_campaign(_spec(tmp_path, params={"model": "nope.json"}), progress=False)


def test_the_kind_names_the_builtin_model_as_the_science_package_does():
    from vlab.campaign.kinds.polymers import PredictParams
    from vlab.polymers import BUILTIN_TC_MODEL

    assert PredictParams().model == BUILTIN_TC_MODEL


def test_ingest_embedded_sources_and_predict_from_the_cli(tmp_path, capsys):
    assert main(["polymers", "ingest", "experimental_tc", "--out", str(tmp_path)]) == 0
    ds = vlab.catalog.open("polymers-experimental_tc")
    assert ds.sizes["item"] >= 30 and ds["thermal_conductivity"].attrs["units"]
    assert ds.attrs["license"] and int(ds.attrs["n_raw"]) >= ds.sizes["item"]
    assert (ds["status"].values == 1).all()
    capsys.readouterr()
    assert main(["polymers", "predict", "*CC*", "C*C"]) == 1  # C*C is not a repeat unit
    out = capsys.readouterr().out.splitlines()
    assert re.match(r"# thermal conductivity λ \[W/\(m K\)\]: (mean|scratch_ridge|scratch_forest|"
                    r"md_as_is|md_correction|md_frozen): ", out[0])  # fmt: skip
    assert "(amorphous); the variant most often chosen by 3 x 5-fold inner CV" in out[0]
    assert "trained on the embedded measured table experimental_tc" in out[0]
    assert out[0].endswith(f", {ds.sizes['item']} points.")
    # the nested leave-one-out error next to the mean predictor's, and what the intervals are
    assert re.fullmatch(
        r"# (skill |little skill \()-?\d+%\)?: nested leave-one-out MAE 0\.0\d\d vs 0\.0\d\d "
        r"W/\(m K\) for predicting the mean; ± is the 68 % and \[low, high\] the 95 % "
        r"interval, conformal on a split by chemical family \(\d+ Butina clusters held out in "
        r"5 folds\)\.",
        out[1],
    )
    m = re.fullmatch(r"\*CC\*\tλ = (0\.\d\d\d) ± (0\.\d\d\d) \[(\d\.\d+), (\d\.\d+)\] "
                     r"W/\(m K\)\tin its training data \(W/\(m K\)\): 0\.330 \(semicrystalline\)",
                     out[2])  # fmt: skip
    mean, half, low, high = map(float, m.groups())
    assert low < mean - half < mean < mean + half < high  # the 95 % interval is the wider one
    assert out[3].startswith("C*C\terror: ")
    assert main(["polymers", "predict", "--morphology", "semicrystalline", "*CC*"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "morphology flag (semicrystalline)" in out[0] and out[2].startswith("*CC*\tλ = ")
    assert main(["polymers", "ingest", "nope"]) == 2


def test_ingest_twice_keeps_the_store_and_names_replace(tmp_path, capsys):
    from vlab.cli.polymers import SOURCE_NAMES
    from vlab.polymers import SOURCES

    assert tuple(sorted(SOURCES)) == SOURCE_NAMES  # the names the help lists
    argv = ["polymers", "ingest", "experimental_tc", "--out", str(tmp_path)]
    assert main(argv) == 0
    store = tmp_path / "polymers-experimental_tc.zarr"
    written = sorted((p.name, p.stat().st_mtime_ns) for p in store.rglob("*"))
    capsys.readouterr()
    assert main(argv) == 0  # the same source file, complete: kept, not written again
    assert capsys.readouterr().out.endswith("(already ingested, kept; --replace writes it again)\n")
    assert sorted((p.name, p.stat().st_mtime_ns) for p in store.rglob("*")) == written
    vlab.catalog.update_attrs(store, {"source_sha256": "0" * 64})  # another file's store
    assert main(argv) == 1
    assert "is not a complete store of the current 'experimental_tc' source" in (
        capsys.readouterr().err
    )
    assert main([*argv, "--replace"]) == 0
    assert vlab.catalog.open("polymers-experimental_tc").attrs["source_sha256"] != "0" * 64
    assert main(["polymers", "ingest", "all", "polymon_tg"]) == 2
    assert "'all' ingests every source and stands alone" in capsys.readouterr().err


def test_ingest_into_another_folder_says_the_name_moves(tmp_path):
    from vlab.workflows.ingest import ingest_source

    first = ingest_source("experimental_tc", tmp_path / "a")
    with pytest.warns(UserWarning) as caught:
        second = ingest_source("experimental_tc", tmp_path / "b")
    assert [str(w.message) for w in caught] == [
        f"The catalog name 'polymers-experimental_tc' now names {second.resolve()} (it named "
        f"{first.resolve()}, which is unchanged but no longer found by that name)."
    ]
    with pytest.warns(UserWarning, match="now names"):
        ingest_source("experimental_tc", tmp_path / "a")  # and back
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a shipped entry shadowed: no warning
        ingest_source("radonpy_pi1070", tmp_path / "a")


def test_ingest_goes_on_past_a_source_it_cannot_read(tmp_path, capsys):
    from vlab import config

    out = tmp_path / "stores"
    argv = ["polymers", "ingest", "xenonpy_polymer_genome", "experimental_tc", "--out", str(out)]
    with config.override({"data.cache_dir": str(tmp_path / "empty"), "data.offline": True}):
        assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("experimental_tc: ")  # the second source was ingested
    assert (out / "polymers-experimental_tc.zarr").is_dir()
    assert captured.err.startswith(
        "vlab: error: xenonpy_polymer_genome: The file xenonpy_tests_polymer_test_data.csv of "
        "source 'xenonpy_polymer_genome' is not in the data cache "
    )
    assert "ingest xenonpy_polymer_genome` writes one" not in captured.err  # no circular advice
    assert captured.err.endswith(
        "vlab: error: 1 of the 2 sources could not be ingested (the reasons are above); the "
        "others were.\n"
    )


def test_replacing_a_store_its_rows_are_read_from_keeps_it_until_the_new_one_is_whole(
    tmp_path, capsys, monkeypatch
):
    """With no CSV file in the cache, the rows of radonpy_pi1070 come from its catalog store:
    the very store --replace writes again. An interrupt while writing leaves it as it was."""
    from vlab import config
    from vlab.workflows import ingest

    out = tmp_path / "stores"
    argv = ["polymers", "ingest", "radonpy_pi1070", "--out", str(out)]
    store = out / "polymers-radonpy_pi1070.zarr"
    with config.override({"data.cache_dir": str(tmp_path / "empty"), "data.offline": True}):
        assert main(argv) == 0
        first = vlab.catalog.open("polymers-radonpy_pi1070")["repeat_unit"].values
        assert vlab.catalog.get_entry("polymers-radonpy_pi1070").location == store
        written = ingest._write

        def interrupted(path, *args):
            written(path, *args)
            raise KeyboardInterrupt

        monkeypatch.setattr(ingest, "_write", interrupted)
        with pytest.raises(KeyboardInterrupt):
            ingest.ingest_source("radonpy_pi1070", out, replace=True)
        assert sorted(p.name for p in out.iterdir()) == [store.name]  # nothing half-done left
        monkeypatch.setattr(ingest, "_write", written)
        capsys.readouterr()
        assert main([*argv, "--replace"]) == 0, capsys.readouterr().err
        assert sorted(p.name for p in out.iterdir()) == [store.name]
        again = vlab.catalog.open("polymers-radonpy_pi1070")["repeat_unit"].values
    assert again.tolist() == first.tolist() and len(first) == 1077
    assert main(["status", str(store), "--verify"]) == 0


def test_builtin_model_refuses_one_string_and_invalid_units():
    from vlab.errors import InvalidSMILESError
    from vlab.polymers import BUILTIN_TC_MODEL, experimental_tc_model, featurize
    from vlab.workflows.polymers import training_similarity

    model, _ = experimental_tc_model()
    with pytest.raises(InputError, match=r"takes a list of repeat-unit SMILES; got one string"):
        model.predict("*CC(*)c1ccccc1")  # was 14 NaN, one per character
    with pytest.raises(InvalidSMILESError, match=r"The repeat unit '\*CC' is not a valid"):
        model.predict(["*CC", "*CC(*)C"])  # was [nan, 0.209]
    with pytest.raises(InputError, match=r"^featurize takes a list of SMILES; got one string"):
        featurize("*CC*")
    with pytest.raises(InputError, match=r"^training_similarity takes a list"):
        training_similarity(BUILTIN_TC_MODEL, "*CC(*)C")
    with pytest.raises(InvalidSMILESError, match=r"'\*CC' is not a valid"):
        training_similarity(BUILTIN_TC_MODEL, ["*CC"])


def test_units_with_atoms_no_training_unit_has_are_far():
    from vlab.polymers import BUILTIN_TC_MODEL
    from vlab.workflows.polymers import training_similarity

    found = training_similarity(BUILTIN_TC_MODEL, ["*[U]C*", "*CC(*)[N+](C)(C)C", "*CC(*)c1ccccc1"])
    assert [f["unseen_atoms"] for f in found] == [["U"], ["N+"], []]
    assert [f["far"] for f in found] == [True, True, False]
    assert found[0]["similarity"] > 0.3  # near by the fingerprints alone


def test_builtin_model_card_measures_its_skill():
    from vlab.polymers import experimental_tc_model, load_experimental_tc
    from vlab.polymers.transfer import MEASURED_PROCEDURE

    model, card = experimental_tc_model()
    y = np.asarray(load_experimental_tc().column("thermal_conductivity"))
    mean_mae = np.mean([abs(v - np.delete(y, i).mean()) for i, v in enumerate(y)])
    assert card.n_train == len(y) == model.fit.n and card.skill.n == len(y)
    assert card.skill.baseline_mae == pytest.approx(mean_mae)  # the same folds for the mean
    assert card.validation == "nested leave-one-out" and 0 < card.skill.mae < 0.1
    assert sum(model.fit.chosen.values()) == len(y)  # one nested selection per fold
    assert model.fit.variant in MEASURED_PROCEDURE and set(model.fit.chosen) <= set(
        MEASURED_PROCEDURE
    )
    std = np.array([0.01, 0.02])
    assert 0 < model.fit.z68 < model.fit.z95
    np.testing.assert_allclose(card.interval(std), std * model.fit.z68)
    np.testing.assert_allclose(card.interval_95(std), std * model.fit.z95)
    low, high = model.interval(["*CC*"], level=0.95)
    assert low[0] < model.predict(["*CC*"])[0] < high[0]
    with pytest.raises(InputError, match="The 'level' must be 0.68 or 0.95"):
        model.interval(["*CC*"], level=0.9)
    # one polymer written three ways (a repeat unit is normalised first): one prediction
    same = model.predict(["*C*", "*CC*", "*CCCC*"])
    assert same[0] == same[1] == same[2]


def test_builtin_model_morphology_is_checked(tmp_path):
    from vlab.polymers.transfer import build_measured_tc

    with pytest.raises(InputError, match="morphology must be one of amorphous, semicrystalline"):
        build_measured_tc(morphology="glassy", cache_dir=tmp_path)
    with pytest.raises(SpecError, match="'morphology' must be 'amorphous' or 'semicrystalline'"):
        run_campaign(_spec(tmp_path, params={"morphology": "glassy"}), progress=False)


def test_saved_model_prints_its_card_or_says_it_is_unmeasured(tmp_path, capsys):
    from vlab.polymers import ModelCard, ModelSkill, PolymerPropertyModel, save_model

    smiles = ["*CC*", "*CC(*)C", "*CC(*)CC", "*CC(*)CCC", "*CCO*", "*CC(*)c1ccccc1"]
    model = PolymerPropertyModel(n_bits=64, descriptors=False, random_state=0)
    model.set_params(regressor=None).fit(smiles, [1.0, 1.2, 1.4, 1.6, 1.1, 1.9])
    bare = save_model(model, tmp_path / "bare")
    skill = ModelSkill(n=6, mae=0.1, baseline_mae=0.25, std_scale=1.5, spread=0.3)
    card = ModelCard(
        property="density ρ",
        symbol="ρ",
        units="g/cm^3",
        estimator="toy",
        training="six",
        n_train=6,
        skill=skill,
    )
    carded = save_model(model, tmp_path / "carded", card=card)
    capsys.readouterr()
    assert main(["polymers", "predict", "*CC*", "--model", str(bare)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        "# prediction [1]: bootstrap ensemble of 5 MLPs (64 hidden units) on "
        "count-Morgan fingerprints (radius 2, 64 bits), trained on data not recorded in bare.npz."
    )
    assert out[1] == (
        "# error not measured (no leave-one-out record with this model): the ± is the "
        "ensemble spread, not a calibrated interval."
    )
    assert main(["polymers", "predict", "*CC*", "--model", str(carded)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "# density ρ [g/cm^3]: toy, trained on six, 6 points."
    assert out[1] == (
        "# skill 60%: leave-one-out MAE 0.100 vs 0.250 g/cm^3 for predicting the mean; the ± "
        "is the predictive std × 1.50, calibrated on the leave-one-out errors."
    )
    mean, std = model.predict(["*CC*"], return_std=True)
    assert out[2] == f"*CC*\tρ = {mean[0]:.3f} ± {1.5 * std[0]:.3f} g/cm^3"
    # the morphology is the built-in model's input: another model refuses it, not ignores it
    assert main(["polymers", "predict", "*CC*", "--model", str(carded), "--morphology",
                 "semicrystalline"]) == 2  # fmt: skip
    assert capsys.readouterr().err == (
        "vlab: error: polymer-predict: 'morphology' is an input of the built-in model "
        "(builtin:experimental-tc) only; the model 'carded.npz' has none. Leave 'morphology' "
        "out, or train a model on measured values of one morphology.\n"
    )
    # a campaign stores the model's own property and units, and refuses others
    run_campaign(_spec(tmp_path, params={"model": str(carded)}), progress=False)
    ds = vlab.catalog.open("screen")
    assert ds["mean"].attrs["units"] == "g/cm^3"
    assert ds["mean"].attrs["long_name"] == "predicted density ρ (ensemble mean)"
    for params, said in (
        ({"model": str(carded), "property": "Tg"}, "'property' says 'Tg'"),
        ({"model": str(carded), "units": "K"}, "'units' says 'K'"),
        ({"property": "Tg", "units": "K"}, "the model predicts thermal_conductivity in W m-1 K-1"),
        ({"model": str(carded), "morphology": "amorphous"}, "'morphology' is an input of the"),
    ):
        with pytest.raises(SpecError, match=said):
            run_campaign(_spec(tmp_path, params=params, store="other.zarr"), progress=False)
    spelt = _spec(tmp_path, params={"property": "thermal conductivity", "units": "W/(m K)"})
    assert spelt.params["property"] == "thermal conductivity"  # other spellings of the same


def test_transfer_to_a_file_fails_before_any_work(tmp_path, capsys):
    (tmp_path / "notes").write_text("mine\n")
    assert main(["polymers", "transfer", "--out", str(tmp_path / "notes")]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"vlab: error: {str(tmp_path / 'notes')!r} already exists, where a new folder or file "
        "was to be made\n"
    )
    assert (tmp_path / "notes").read_text() == "mine\n"


def test_transfer_with_cp_and_no_chemicals_package_fails_before_any_work(
    tmp_path, capsys, monkeypatch
):
    import sys

    monkeypatch.setitem(sys.modules, "chemicals", None)  # as if not installed
    out = tmp_path / "report"
    assert main(["polymers", "transfer", "--sources", "pi1070+cp", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        "vlab: error: The Python package 'chemicals', needed for the 'cp' transfer source, "
    )
    assert err.endswith("pip install 'vlab[polymers]'.\n") and not out.exists()


@pytest.mark.slow
def test_transfer_command_writes_a_report(tmp_path, capsys):
    # PI1070 from the data cache, else from the shipped store polymers-radonpy_pi1070
    args = ["--splits", "1", "--draws", "2", "--epochs", "3", "--out", str(tmp_path)]
    # an earlier report with another variant: its figure goes with it, other files stay
    (tmp_path / "transfer.json").write_text(
        json.dumps({"files": {"protocol_a-cp": str(tmp_path / "protocol_a-cp.png")}})
    )
    for name in ("protocol_a-cp.png", "protocol_a-mine.png"):
        (tmp_path / name).write_bytes(b"png")
    capsys.readouterr()
    assert main(["polymers", "transfer", *args]) == 0
    assert not (tmp_path / "protocol_a-cp.png").exists()
    assert (tmp_path / "protocol_a-mine.png").exists()
    # the bar counts 1 x 2 draws of protocol A, then one fit per row of protocol B
    bar = capsys.readouterr().err.split("\r")[-1]
    done = re.search(r"pi1070: protocol B: 100%.* (\d+)/(\d+) ", bar)
    assert done and done[1] == done[2] and int(done[1]) > 2, bar

    def refuse(constant):
        raise ValueError(f"not standard JSON: {constant}")

    # standard JSON: an undefined R² (splits with one test point) is null, not NaN
    report = json.loads((tmp_path / "transfer.json").read_text(), parse_constant=refuse)
    assert report["protocol_b"]["r2_mean"] is None
    assert report["protocol_a"]["n_draws"] == 2 and "thermal_conductivity" not in str(
        report["source_tasks"]
    )
    assert (tmp_path / "protocol_a.png").is_file() and (tmp_path / "protocol_b.png").is_file()


def test_the_builtin_models_items_change_with_its_table(monkeypatch):
    """Predictions of the built-in model from before a change of its embedded table are not
    the same items as those after it (they would be copied as current)."""
    from vlab.campaign import get_kind
    from vlab.polymers.transfer import measured

    kind = get_kind("polymer-predict")
    params = kind.check_params({})
    before = kind.identity(params)
    assert before["model"].startswith("builtin:experimental-tc@")
    smiles, y, morph = measured._table()
    monkeypatch.setattr(measured, "_table", lambda: (smiles, y + 0.001, morph))
    assert kind.identity(params)["model"] != before["model"]
