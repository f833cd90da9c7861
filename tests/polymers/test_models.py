"""Tests of vlab.polymers.models: uncertainty, pipelines, save/load without pickle."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import Ridge

from vlab.errors import DataFileError, IncompatibleVersionError, InputError
from vlab.polymers.models import (
    EnsembleRegressor,
    ForestRegressorStd,
    PolymerPropertyModel,
    load_model,
    save_model,
)

ALKYL = [f"*CC(*){'C' * k}" for k in range(8)] + ["*CC*", "*CCO*", "*CC(*)c1ccccc1", "*CC(*)Cl"]


def test_ensemble_std_grows_away_from_data():
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, size=(80, 1))
    y = np.sin(3 * X[:, 0]) + 0.05 * rng.normal(size=80)
    model = EnsembleRegressor(n_estimators=5, random_state=0).fit(X, y)
    mean, std = model.predict([[0.0], [5.0]], return_std=True)
    assert abs(mean[0] - 0.0) < 0.3
    assert std[1] > 3 * std[0]
    # one row or two: the same prediction up to floating-point summation order
    np.testing.assert_allclose(model.predict([[0.0]]), mean[:1], rtol=1e-12, atol=1e-12)


def test_ensemble_is_reproducible_and_cloneable():
    X = np.random.default_rng(0).normal(size=(30, 2))
    y = X[:, 0]
    a = EnsembleRegressor(Ridge(), n_estimators=3, random_state=4).fit(X, y).predict(X)
    b = clone(EnsembleRegressor(Ridge(), n_estimators=3, random_state=4)).fit(X, y).predict(X)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(InputError, match="'n_estimators' parameter of EnsembleRegressor"):
        EnsembleRegressor(n_estimators=0).fit(X, y)


def test_forest_std():
    X = np.linspace(0, 1, 40)[:, None]
    f = ForestRegressorStd(n_estimators=30, random_state=0).fit(X, X[:, 0] > 0.5)
    _, std = f.predict([[0.1], [0.5]], return_std=True)
    assert std[0] < std[1]


def test_polymer_model_learns_chain_length():
    y = np.array([len(s) for s in ALKYL], dtype=float)
    model = PolymerPropertyModel(n_bits=256, random_state=0).fit(ALKYL, y)
    mean, std = model.predict(ALKYL, return_std=True)
    assert np.mean(np.abs(mean - y)) < 1.0
    assert (std >= 0).all()


def test_save_load_roundtrip(tmp_path):
    y = np.c_[np.arange(len(ALKYL)), np.arange(len(ALKYL)) ** 0.5]
    model = PolymerPropertyModel(n_bits=128, random_state=0).fit(ALKYL, y)
    path = save_model(model, tmp_path / "m")
    assert path.name == "m.npz" and sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]
    for loaded in (load_model(tmp_path / "m"), PolymerPropertyModel.load(path)):
        pairs = zip(model.predict(ALKYL[:4], return_std=True), loaded.predict(ALKYL[:4], True))
        for a, b in pairs:
            np.testing.assert_array_equal(a, b)
    assert model.save(tmp_path / "again.npz").read_bytes() == path.read_bytes()


def _tamper(path, **changes):
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    meta = json.loads(str(arrays.pop("metadata")))
    np.savez(path, metadata=np.array(json.dumps(meta | changes)), **arrays)


def test_a_tampered_format_is_a_one_line_error(tmp_path):
    model = PolymerPropertyModel(n_bits=64, descriptors=False, random_state=0)
    path = model.fit(ALKYL, np.arange(len(ALKYL))).save(tmp_path / "m")
    _tamper(path, format_version=3)
    with pytest.raises(IncompatibleVersionError, match="has format version 3") as err:
        load_model(path)
    assert "\n" not in str(err.value)
    _tamper(path, format_version=2, format="vlab-conductance-surrogate")
    with pytest.raises(DataFileError, match="is not a saved PolymerPropertyModel") as err:
        load_model(path)
    assert "\n" not in str(err.value)


def test_format_version_1_pairs_still_load(tmp_path):
    model = PolymerPropertyModel(n_bits=64, descriptors=False, random_state=0)
    path = model.fit(ALKYL, np.arange(len(ALKYL))).save(tmp_path / "m")
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    meta = json.loads(str(arrays.pop("metadata")))
    np.savez(tmp_path / "old.npz", **arrays)
    legacy = meta | {"format": "vlab.polymers.PolymerPropertyModel/1"}
    (tmp_path / "old.json").write_text(json.dumps(legacy))
    loaded = load_model(tmp_path / "old.json")
    np.testing.assert_array_equal(loaded.predict(ALKYL), model.predict(ALKYL))
    (tmp_path / "old.npz").write_bytes(b"")  # the pair's arrays damaged, then missing
    with pytest.raises(DataFileError, match=r"Could not read the arrays .*old\.npz"):
        load_model(tmp_path / "old.json")
    (tmp_path / "old.npz").unlink()
    with pytest.raises(DataFileError, match=r"Could not read the arrays .*old\.npz"):
        load_model(tmp_path / "old.json")
    (tmp_path / "old.json").write_text(json.dumps(meta | {"format": "something/0"}))
    with pytest.raises(IncompatibleVersionError, match="has format 'something/0'"):
        load_model(tmp_path / "old.json")


def test_save_refuses_other_regressors(tmp_path):
    model = PolymerPropertyModel(ForestRegressorStd(n_estimators=5), n_bits=32).fit(
        ALKYL, np.arange(len(ALKYL))
    )
    with pytest.raises(InputError, match="save_model supports"):
        save_model(model, tmp_path / "f")


def test_leave_one_out_skill_against_the_mean_predictor():
    from vlab.polymers.models import ModelSkill, leave_one_out_skill

    smiles = ["*CC*", "*CC(*)C", "*CC(*)CC", "*CC(*)CCC", "*CC(*)CCCC", "*CC(*)CCCCC"]
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    model = PolymerPropertyModel(ForestRegressorStd(n_estimators=20, random_state=0), n_bits=64)
    skill = leave_one_out_skill(model, smiles, y)
    assert isinstance(skill, ModelSkill) and skill.n == 6
    assert skill.baseline_mae == pytest.approx(np.mean(np.abs(y - (y.sum() - y) / 5)))
    assert skill.spread == pytest.approx(np.std(y, ddof=1)) and skill.std_scale > 0
    with pytest.raises(InputError, match="at least 3 training points.*Got 2 inputs and 2 values"):
        leave_one_out_skill(model, smiles[:2], y[:2])


def test_skill_holds_out_all_rows_of_one_polymer_together():
    from vlab.polymers.models import cross_validated_skill, leave_one_out_skill

    # rows 0 and 1 are one polymer (a cyclic shift), rows 2 and 3 another (a period multiple)
    smiles = ["*CCO*", "*OCC*", "*CC(*)C", "*CC(C)CC(*)C", "*CC(*)CC", "*CC(*)CCC"]
    y = np.array([1.0, 1.0, 2.0, 2.0, 5.0, 6.0])
    groups = [[0, 1], [0, 1], [2, 3], [2, 3], [4], [5]]
    others = np.array([np.delete(y, g).mean() for g in groups])
    model = PolymerPropertyModel(ForestRegressorStd(n_estimators=5, random_state=0), n_bits=32)
    skill = leave_one_out_skill(model, smiles, y)
    assert skill.n == 6
    assert skill.baseline_mae == pytest.approx(np.mean(np.abs(y - others)))
    with pytest.raises(InputError, match="at least 5 distinct repeat units.*6 points of 4"):
        cross_validated_skill(model, smiles, y, folds=5)
    assert cross_validated_skill(model, smiles, y, folds=4).n == 6


@pytest.mark.parametrize(
    ("mae", "interval", "verdict"),
    [
        (0.2, [0.3, 0.6], "skill 60%: leave-one-out MAE 0.200 vs 0.500 K for predicting the mean"),
        (0.48, [0.9, 0.9], "no skill: leave-one-out MAE 0.480 vs 0.500 K for predicting the mean"),
    ],
)
def test_model_card_interval_is_calibrated_or_the_training_spread(mae, interval, verdict):
    from vlab.polymers.models import ModelCard, ModelSkill

    skill = ModelSkill(n=10, mae=mae, baseline_mae=0.5, std_scale=3.0, spread=0.9)
    card = ModelCard(property="p", symbol="p", units="K", estimator="e", training="t", skill=skill)
    assert card.interval(np.array([0.1, 0.2])).tolist() == pytest.approx(interval)
    assert card.verdict().startswith(verdict)
    assert ModelCard.from_dict(card.as_dict()) == card


def test_ensemble_validates_input_and_follows_its_members_on_nan():
    from sklearn.ensemble import HistGradientBoostingRegressor

    X = np.random.default_rng(0).normal(size=(30, 2))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        EnsembleRegressor(Ridge(), n_estimators=2).fit(X, X[:-1, 0])
    X[0, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        EnsembleRegressor(Ridge(), n_estimators=2).fit(X, X[:, 0])
    hist = HistGradientBoostingRegressor(max_iter=5)
    model = EnsembleRegressor(hist, n_estimators=2, random_state=0).fit(X, np.arange(30.0))
    assert model.n_features_in_ == 2 and np.isfinite(model.predict(X[:2])).all()
    with pytest.raises(ValueError, match="expecting 2 features"):
        model.predict(X[:, :1])


def test_leave_one_out_cache_has_its_own_folder(tmp_path, monkeypatch):
    from vlab import config
    from vlab.polymers import models

    calls = []

    def measured(model, smiles, y):
        calls.append(len(smiles))
        return models.ModelSkill(n=2, mae=0.1, baseline_mae=0.2, std_scale=1.0, spread=0.3)

    monkeypatch.setattr(models, "leave_one_out_skill", measured)
    monkeypatch.setattr(models, "_SKILLS", {})
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert models.model_cache_dir() == tmp_path / "xdg" / "vlab" / "models"
    with config.override({"polymers.model_cache_dir": str(tmp_path / "models")}):
        assert models.model_cache_dir() == tmp_path / "models"
        model = PolymerPropertyModel(n_bits=8)
        skill = models._cached_skill(model, ["*CC*", "*CCO*"], np.array([1.0, 2.0]))
        models._SKILLS.clear()
        again = models._cached_skill(model, ["*CC*", "*CCO*"], np.array([1.0, 2.0]))
    assert calls == [2] and again == skill
    assert len(list((tmp_path / "models").glob("leave-one-out-*.json"))) == 1


@pytest.mark.parametrize(
    ("smiles", "y", "message"),
    [
        (["*CC*", "*CCO*"], [1.0, np.nan], r"1 of the 2 values are not finite .* \('\*CCO\*'\)"),
        ([], [], r"at least 2 repeat units and one value .* Got 0 units and 0"),
        (["*CC*", "*CCO*"], [1.0], r"Got 2 units and 1 values"),
        ("*CC*", [1.0], r"takes a list of repeat-unit SMILES; got one string"),
    ],
)
def test_fit_names_what_it_cannot_learn(smiles, y, message):
    with pytest.raises(InputError, match=message):
        PolymerPropertyModel(n_bits=32).fit(smiles, y)
