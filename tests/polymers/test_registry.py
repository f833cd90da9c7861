"""Models trained on catalog stores, registered by name and used by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from vlab import catalog
from vlab.cli import main
from vlab.errors import CatalogError, InputError, SpecError
from vlab.polymers import (
    PolymerPropertyModel,
    cross_validated_skill,
    load_model,
    load_model_card,
    load_model_training,
    register_model,
    registered_models,
    resolve_model,
)
from vlab.polymers.datasets import source_rows
from vlab.workflows.polymers import train_model

N_ROWS = 40
PROBE = ["*CC(*)c1ccccc1", "*CC*", "*CCO*", "*Oc1ccc(cc1)C(C)(C)c1ccc(cc1)OC(=O)*"]


def _pi1070_head() -> tuple[list[str], np.ndarray]:
    """The first rows of the PI1070 source that have a thermal conductivity, read directly."""
    rows = source_rows("radonpy_pi1070")
    y = np.asarray(rows.values["thermal_conductivity"], float)
    keep = np.flatnonzero(np.isfinite(y))[:N_ROWS]
    return [rows.smiles[i] for i in keep], y[keep]


@pytest.fixture
def small_store(tmp_path):
    """A catalog store ``pi-small`` holding those rows (and a NaN row, which is skipped)."""
    smiles, y = _pi1070_head()
    ds = xr.Dataset(
        {
            "smiles": ("item", np.array([*smiles, "*CCCC*"], dtype=object)),
            "thermal_conductivity": ("item", [*y, np.nan], {"units": "W/(m K)"}),
        }
    )
    path = tmp_path / "pi-small.zarr"
    ds.to_zarr(path, zarr_format=3, consolidated=False)
    catalog.register("pi-small", path, description="40 PI1070 rows")
    return "pi-small"


def _fast(name: str, **kw):
    return train_model(
        "thermal_conductivity", "pi-small", name=name, n_bits=64, folds=2, seed=3, **kw
    )


def test_model_trained_from_a_store_equals_one_trained_on_the_rows_read_directly(small_store):
    summary = _fast("lam-small")
    smiles, y = _pi1070_head()
    direct = PolymerPropertyModel(n_bits=64, descriptors=False, random_state=3).fit(smiles, y)
    registered = load_model(resolve_model("lam-small"))
    mean_a, std_a = registered.predict(PROBE, return_std=True)
    mean_b, std_b = direct.predict(PROBE, return_std=True)
    np.testing.assert_allclose(mean_a, mean_b, rtol=1e-12)
    np.testing.assert_allclose(std_a, std_b, rtol=1e-12)
    # saved with the identity of what it learned from
    (training,) = load_model_training(summary["path"])
    assert training == {
        "store": "pi-small",
        "property": "thermal_conductivity",
        "n_rows": N_ROWS,
        "sha256": catalog.training_digest("pi-small", "thermal_conductivity"),
    }
    card = load_model_card(summary["path"])
    assert (card.n_train, card.units, card.validation) == (
        N_ROWS,
        "W/(m K)",
        "2-fold cross-validation",
    )
    skill = cross_validated_skill(
        PolymerPropertyModel(n_bits=64, descriptors=False, random_state=3),
        smiles,
        y,
        folds=2,
        random_state=3,
    )
    assert card.skill == skill


def test_a_registered_model_is_used_by_name(small_store, capsys):
    from vlab.campaign import get_kind
    from vlab.campaign.kinds.polymers import _identity

    _fast("lam-small")
    assert list(registered_models()) == ["lam-small"]
    assert main(["polymers", "predict", "--model", "lam-small", *PROBE[:2]]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("# thermal_conductivity [W/(m K)]: bootstrap ensemble of 5 MLPs")
    assert "catalog store pi-small (sha256 " in out[0]
    assert "2-fold cross-validation MAE" in out[1]
    assert out[2].startswith("*CC(*)c1ccccc1\tthermal_conductivity = ")
    assert "in its training data" not in out[2]  # not a PI1070 row
    assert "far from its training data" not in out[2]  # like some of them (Tanimoto 0.54)
    # a unit less similar to them than nearly all of them are to each other is flagged
    assert main(["polymers", "predict", "--model", "lam-small", "*C1CCC(CC1)C(C)(C)*"]) == 0
    far = capsys.readouterr().out.splitlines()[2]
    assert "\tfar from its training data: the nearest training unit, " in far
    assert "1 of the 40 rows its interval was calibrated on was as far from their data" in far
    # these 40 rows are hydrocarbons: a germanium (or oxygen) atom is new to the model
    assert main(["polymers", "predict", "--model", "lam-small", "*C1CCC(CC1)[Ge](C)(C)*"]) == 0
    far = capsys.readouterr().out.splitlines()[2]
    assert "\tfar from its training data: no training unit has Ge atoms; the nearest " in far
    # a training row: its measured value follows the prediction, also written another way
    smiles, y = _pi1070_head()
    assert main(["polymers", "predict", "--model", "lam-small", f"[*]{smiles[0][1:]}"]) == 0
    line = capsys.readouterr().out.splitlines()[2]
    assert line.endswith(f"\tin its training data (W/(m K)): {y[0]:.3f}"), line
    kind = get_kind("polymer-predict")
    params = kind.check_params({"model": "lam-small", "property": "thermal_conductivity"})
    assert params["model"] == str(resolve_model("lam-small"))
    before = _identity(params)["model"]
    # replaced under the same name: the items' identity follows the file's content
    _fast("lam-small", replace=True)
    assert _identity(params)["model"] == before  # same data, same seed: same file
    train_model(
        "thermal_conductivity", "pi-small", name="lam-small", n_bits=32, folds=2, replace=True
    )
    assert _identity(params)["model"] != before
    assert main(["polymers", "models"]) == 0
    listing = capsys.readouterr().out
    assert listing.startswith("lam-small\tthermal_conductivity [W/(m K)]; trained on pi-small")
    assert f"({N_ROWS} rows, sha256 " in listing


def test_registering_twice_keeps_the_first_model_unless_replaced(small_store, monkeypatch):
    path = _fast("lam-small")["path"]
    before = Path(path).read_bytes()

    def no_training(*args, **kwargs):
        raise AssertionError("trained before the name was checked")

    monkeypatch.setattr("vlab.polymers.cross_validated_skill", no_training)
    with pytest.raises(InputError, match=r"model named 'lam-small' is already registered"):
        _fast("lam-small")  # refused before any training
    assert Path(path).read_bytes() == before


def test_train_shows_a_bar_over_the_folds_and_the_fit_unless_told_not_to(small_store, capsys):
    shown = load_model(_fast("lam-small")["path"])  # 2 folds, then the fit on all rows
    bar = capsys.readouterr().err.split("\r")[-1]
    assert "training thermal_conductivity: 100%" in bar and " 3/3 " in bar, bar
    argv = ["thermal_conductivity=pi-small", "--name", "lam-quiet", "--bits", "64"]
    assert main(["polymers", "train", *argv, "--folds", "2", "--seed", "3", "--no-progress"]) == 0
    assert capsys.readouterr().err == ""
    quiet = load_model(resolve_model("lam-quiet"))
    assert load_model_card(resolve_model("lam-quiet")) == load_model_card(
        resolve_model("lam-small")
    )
    np.testing.assert_array_equal(quiet.predict(PROBE), shown.predict(PROBE))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["Tg=pi-small", "--name", "m"],
            r"the catalog store 'pi-small' \(training data Tg=pi-small\) has no property 'Tg'",
        ),
        (
            ["Tg=nowhere", "--name", "m"],
            r"training data Tg=nowhere names the store 'nowhere', which is not in the catalog",
        ),
        (
            ["Tg=pi-smal", "--name", "m"],
            r"store 'pi-smal', which is not in the catalog; .* Did you mean 'pi-small'\?$",
        ),
        (["Tg", "--name", "m"], r"^vlab: error: The training data \(PROPERTY=STORE\) must be"),
        (
            ["status=polymers-radonpy_pi1070", "--name", "m"],
            r"holds 'status', but not as a property \(a number per row that is not the engine's "
            r"bookkeeping\); its properties: Cp, Cv, Rg, ",
        ),
        (
            ["smiles=pi-small", "--name", "m"],
            r"holds 'smiles', but not as a property .*; its properties: thermal_conductivity\.$",
        ),
        (
            ["thermal_conductivity=pi-small", "--name", "../x"],
            r"A model name must be 1 to 100 letters",
        ),
    ],
)
def test_train_refuses_bad_input_in_one_line(small_store, capsys, argv, message):
    import re

    assert main(["polymers", "train", *argv]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and re.search(message, err[0]), err
    assert captured.out == ""  # no "training ..." line before the refusal
    assert registered_models() == {}


def test_train_counts_a_polymer_written_twice_once(tmp_path, capsys):
    ds = xr.Dataset(
        {
            "smiles": ("item", np.array(["*CCO*", "*OCC*", "*CC(*)C", "*CC(*)CC"], dtype=object)),
            "Tg": ("item", [200.0, 201.0, 250.0, 260.0], {"units": "K"}),
        }
    )
    ds.to_zarr(tmp_path / "twice.zarr", zarr_format=3, consolidated=False)
    catalog.register("twice", tmp_path / "twice.zarr", description="one polymer twice")
    assert main(["polymers", "train", "Tg=twice", "--name", "m", "--folds", "4"]) == 2
    err = capsys.readouterr().err
    assert "has 4 finished rows with a value of 'Tg' (3 distinct repeat units)" in err
    assert "needs at least 4 distinct units (give a smaller --folds" in err
    ds.isel(item=[0, 1, 2]).to_zarr(tmp_path / "two.zarr", zarr_format=3, consolidated=False)
    catalog.register("two", tmp_path / "two.zarr", description="two polymers")
    assert main(["polymers", "train", "Tg=two", "--name", "m", "--folds", "2"]) == 2
    assert "needs at least 3 distinct units (give more data)." in capsys.readouterr().err
    assert registered_models() == {}


def test_unknown_model_names_list_the_registered_ones(small_store):
    from vlab.campaign import get_kind

    with pytest.raises(InputError, match=r"No registered model named 'nope' .* registered: none"):
        resolve_model("nope")
    _fast("lam-small")
    with pytest.raises(SpecError, match=r"registered: lam-small\) or the path .* Got 'nope'"):
        get_kind("polymer-predict").check_params({"model": "nope"})
    with pytest.raises(SpecError, match=r"\(no such name or file\)\. Did you mean 'lam-small'\?$"):
        get_kind("polymer-predict").check_params({"model": "lam-smal"})


def test_store_errors_are_catalog_errors_by_default(small_store):
    with pytest.raises(CatalogError, match=r"has no property 'Tg'"):
        catalog.training_rows("pi-small", "Tg")


def test_cross_validated_skill_refuses_bad_folds():
    model = PolymerPropertyModel(n_bits=32, descriptors=False)
    with pytest.raises(InputError, match=r"folds must be an integer >= 2. Got 1"):
        cross_validated_skill(model, ["*CC*"] * 4, [1, 2, 3, 4], folds=1)


def test_register_model_refuses_a_bad_name():
    model = PolymerPropertyModel(n_bits=32, descriptors=False, random_state=0)
    model.fit(["*CC*", "*CCO*", "*CC(*)C"], [1.0, 2.0, 3.0])
    with pytest.raises(InputError, match=r"Got 'a/b'"):
        register_model("a/b", model)


def test_training_set_reads_once_what_the_three_readers_give(small_store):
    got = catalog.training_set("pi-small", "thermal_conductivity")
    smiles, y = catalog.training_rows("pi-small", "thermal_conductivity")
    assert got.smiles == smiles and len(smiles) == N_ROWS  # the NaN row is not a training row
    np.testing.assert_array_equal(got.values, y)
    assert got.units == catalog.training_units("pi-small", "thermal_conductivity") == "W/(m K)"
    assert got.sha256 == catalog.training_digest("pi-small", "thermal_conductivity")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # 5 iterations
def test_models_registered_from_python_without_a_card_list_what_they_record(capsys):
    from vlab.polymers import EnsembleRegressor, default_mlp

    units = ["*CC*", "*CCO*", "*CC(*)c1ccccc1", "*c1ccc(*)cc1"]
    members = EnsembleRegressor(default_mlp(max_iter=5), n_estimators=1, random_state=0)
    model = PolymerPropertyModel(members, n_bits=32, descriptors=False).fit(units, [1, 2, 3, 4])
    register_model("with-property", model, training=[{"source": "mine", "property": "Tg"}])
    register_model("bare", model)
    assert main(["polymers", "models"]) == 0
    rows = dict(line.split("\t", 1) for line in capsys.readouterr().out.splitlines())
    assert rows["with-property"].startswith("Tg [units not recorded]; trained on mine")
    assert rows["bare"].startswith("property not recorded")


def test_rows_that_ingest_marked_invalid_are_not_learned():
    # the shipped raw Tg store keeps 4 rows that are no valid repeat unit (with a Tg each)
    ds = catalog.open("polymers-polymon_tg_raw")
    bad = {str(s) for s, p in zip(ds["smiles"].values, ds["problem"].values) if str(p)}
    assert len(bad) == 4
    smiles, values = catalog.training_rows("polymers-polymon_tg_raw", "Tg")
    assert not bad & set(smiles) and np.isfinite(values).all()


def test_one_unreadable_model_file_does_not_hide_the_others(small_store, capsys):
    from vlab.polymers import models_dir

    _fast("lam-small")
    (models_dir() / "broken.npz").write_bytes(b"not a model")
    assert main(["polymers", "models"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].startswith("broken\tunreadable: ") and rows[1].startswith("lam-small\t")


def test_predict_says_when_a_models_training_data_is_no_longer_there(small_store, tmp_path, capsys):
    _fast("lam-small")
    smiles, y = _pi1070_head()
    ds = xr.Dataset(
        {
            "smiles": ("item", np.array(smiles, dtype=object)),
            "thermal_conductivity": ("item", y + 1.0),
        }
    )
    ds.to_zarr(tmp_path / "other.zarr", zarr_format=3, consolidated=False)
    catalog.register("pi-small", tmp_path / "other.zarr")  # the name now names other data
    assert main(["polymers", "predict", "--model", "lam-small", smiles[0]]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[2] == (
        "# its training data (pi-small) is not in the catalog as it was when the model was "
        "trained: units of its training data and units far from it are not marked."
    )
    assert "in its training data" not in out[3]
