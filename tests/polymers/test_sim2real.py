"""Sim2Real transfer: measured table, the estimator, nested comparison, scaling fit."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem

from vlab.errors import InputError
from vlab.polymers import load_experimental_tc
from vlab.polymers.transfer import (
    MORPHOLOGIES,
    SIM2REAL_LEARNERS,
    PretrainOptions,
    Sim2RealComparison,
    Sim2RealRegressor,
    morphology_flags,
    nested_compare,
    outer_splits,
    paired_ratio_interval,
    power_law_fit,
    pretrain,
    select_variant,
)

TINY = PretrainOptions(hidden=(8,), n_members=2, epochs=20, finetune_epochs=5)


def test_measured_table_rows_are_cited_and_valid():
    t = load_experimental_tc()
    assert len(t) == 46 and len(set(t.smiles)) == len(t)  # canonical repeat units, once each
    assert all(len(s.strip()) > 10 for s in t.text["source"])
    assert all(m in MORPHOLOGIES for m in t.text["morphology"])
    assert all(Chem.MolFromSmiles(s) is not None and s.count("*") == 2 for s in t.smiles)
    web = [s for s in t.text["source"] if "http" in s]
    assert len(web) >= 12  # the rows from web tables and later sources carry their URL
    assert morphology_flags(t.text["morphology"]).shape == (len(t), 1)


def test_morphology_flags_bad_value():
    with pytest.raises(InputError, match="morphology must be one of amorphous, semicrystalline"):
        morphology_flags(["glassy"])


@pytest.fixture(scope="module")
def sim():
    """A simulated property (source) and a shifted, noisy 'measured' one."""
    rng = np.random.default_rng(0)
    Xs = rng.normal(size=(300, 6))
    sim = 0.2 + 0.05 * Xs[:, 0] + 0.02 * Xs[:, 1]
    net = pretrain(Xs, sim[:, None], options=TINY, rng=rng)
    X = rng.normal(size=(24, 6))
    morph = (rng.uniform(size=24) < 0.5).astype(float)[:, None]
    y = 0.8 * (0.2 + 0.05 * X[:, 0] + 0.02 * X[:, 1]) + 0.05 * morph[:, 0]
    y = y + rng.normal(0, 0.005, 24)
    return net, X, morph, y


@pytest.mark.parametrize("learner", SIM2REAL_LEARNERS)
def test_every_learner_fits_and_predicts_with_std(sim, learner):
    net, X, morph, y = sim
    A = np.hstack([X, morph])
    model = Sim2RealRegressor(net, learner=learner, n_extra=1, options=TINY, random_state=0)
    mean, std = model.fit(A[:20], y[:20]).predict(A[20:], return_std=True)
    assert mean.shape == std.shape == (4,)
    assert np.all(np.isfinite(mean)) and np.all(std > 0)


def test_correction_beats_mean_and_md_as_is(sim):
    net, X, morph, y = sim
    A = np.hstack([X, morph])
    err = {}
    for learner in ("mean", "as_is", "outputs"):
        model = Sim2RealRegressor(net, learner=learner, n_extra=1, random_state=0)
        err[learner] = np.abs(model.fit(A[:16], y[:16]).predict(A[16:]) - y[16:]).mean()
    assert err["outputs"] < err["mean"] and err["outputs"] < err["as_is"]


def test_estimator_errors_name_the_input(sim):
    net, X, _, y = sim
    with pytest.raises(InputError, match="'learner' parameter of Sim2RealRegressor"):
        Sim2RealRegressor(net, learner="magic").fit(X, y)
    with pytest.raises(InputError, match="needs a pretrained 'net'"):
        Sim2RealRegressor(learner="outputs").fit(X, y)
    with pytest.raises(InputError, match="'n_extra' parameter"):
        Sim2RealRegressor(learner="scratch", n_extra=6).fit(X, y)


def test_nested_compare_identical_folds(sim):
    net, X, morph, y = sim
    variants = ("mean", "scratch_ridge", "scratch_forest", "md_as_is", "md_correction")
    splits = outer_splits(len(y), kind="kfold", n_repeats=1, n_folds=4,
                          rng=np.random.default_rng(0))  # fmt: skip
    res = nested_compare(
        X, y, morph, {"md": net}, splits=splits, variants=variants, inner_folds=3,
        rng=np.random.default_rng(0),
    )  # fmt: skip
    assert len(res.chosen) == 4 and set(res.chosen) <= set(variants)
    assert set(res.chosen_scratch) <= {"scratch_ridge", "scratch_forest"}
    for name in (*variants, "best", "scratch"):
        assert res.pred[name].shape == res.y.shape
    assert res.metrics("md_correction")["mae"] < res.metrics("mean")["mae"]
    with pytest.raises(InputError, match="need the pretrained networks"):
        nested_compare(X, y, morph, {}, splits=outer_splits(4), variants=variants,
                       rng=np.random.default_rng(0))  # fmt: skip
    with pytest.raises(InputError, match="include 'mean'"):
        nested_compare(X, y, morph, {"md": net}, splits=outer_splits(4), variants=["md_as_is"],
                       rng=np.random.default_rng(0))  # fmt: skip


def test_outer_splits_cover_every_row():
    splits = outer_splits(11, kind="kfold", n_repeats=3, n_folds=5, rng=np.random.default_rng(0))
    counts = np.bincount(np.concatenate(splits), minlength=11)
    assert np.all(counts == 3)
    with pytest.raises(InputError, match="'loo' or 'kfold'"):
        outer_splits(5, kind="bootstrap")


def test_paired_ratio_interval_and_power_law():
    rng = np.random.default_rng(0)
    a = rng.uniform(0.01, 0.05, 40)
    b = a * rng.uniform(1.2, 1.6, 40)
    r, lo, hi = paired_ratio_interval(a, b, rng=rng)
    assert lo < r < hi < 1
    with pytest.raises(InputError, match="two 1-D error arrays"):
        paired_ratio_interval(a, b[:5], rng=rng)
    sizes = np.array([50, 100, 200, 400, 800])
    errs = 0.05 * sizes[:, None] ** -0.3 * rng.uniform(0.8, 1.2, (1, 40))
    fit = power_law_fit(sizes, errs, rng=rng)
    assert fit["exponent"] == pytest.approx(0.3, abs=1e-6)
    assert all(lo <= hi for lo, hi in zip(fit["band_low"], fit["band_high"]))
    with pytest.raises(InputError, match="power_law_fit needs errors of shape"):
        power_law_fit(sizes, errs[:2], rng=rng)


def test_member_predictions_are_in_original_units(sim):
    net, X, _, _ = sim
    members = net.member_predictions(X)
    assert members.shape == (2, len(X), 1)
    assert np.all(members > 0)  # λ-like task learned as a logarithm, returned in units
    np.testing.assert_allclose(
        np.log(members).mean(axis=0), np.log(net.predict(X)), rtol=1e-10, atol=1e-12
    )


def test_select_variant_picks_the_lowest_inner_error(sim):
    net, X, morph, y = sim
    A = np.hstack([X, morph])
    best, err = select_variant(
        A, y, {"md": net}, n_extra=1, candidates=("mean", "md_correction"),
        rng=np.random.default_rng(0),
    )  # fmt: skip
    assert best == "md_correction" == min(err, key=err.get) and set(err) == {"mean", best}
    with pytest.raises(InputError, match="select_variant needs candidates among the variants"):
        select_variant(A, y, {}, n_extra=1, candidates=("forest",), rng=np.random.default_rng(0))


def test_selection_sums_the_errors_of_independent_inner_partitions(sim):
    _, X, morph, y = sim
    A = np.hstack([X, morph])
    _, err = select_variant(A, y, {}, n_extra=1, candidates=("mean",), inner_folds=4,
                            inner_repeats=3, rng=np.random.default_rng(5))  # fmt: skip
    rng = np.random.default_rng(5)
    rng.integers(2**31 - 1)  # the model seed is drawn first
    expected = 0.0
    for _ in range(3):  # three different partitions of all rows into 4 folds
        for te in np.array_split(rng.permutation(len(y)), 4):
            expected += np.abs(y[te] - np.delete(y, te).mean()).sum()
    assert err["mean"] == pytest.approx(expected)
    for bad in (0, 1.5, True):
        with pytest.raises(InputError, match=f"inner_repeats must be an integer >= 1. Got {bad!r}"):
            select_variant(A, y, {}, n_extra=1, candidates=("mean",), inner_repeats=bad,
                           rng=np.random.default_rng(0))  # fmt: skip
    with pytest.raises(InputError, match="inner_folds must be an integer >= 2. Got 1"):
        nested_compare(X, y, morph, {}, splits=outer_splits(4), inner_folds=1,
                       variants=("mean", "scratch_ridge", "scratch_forest"),
                       rng=np.random.default_rng(0))  # fmt: skip


def test_family_folds_hold_out_whole_clusters():
    from vlab.polymers.transfer.measured import _family_folds
    from vlab.polymers.uncertainty import butina_clusters

    smiles = list(load_experimental_tc().smiles)
    folds, n_families = _family_folds(smiles, len(smiles))
    groups = butina_clusters(smiles, cutoff=0.7)
    assert sorted(np.concatenate(folds).tolist()) == list(range(len(smiles)))
    for te in folds:  # no family on both sides of a fold
        rest = np.setdiff1d(np.arange(len(smiles)), te)
        assert not set(groups[te]) & set(groups[rest])
    assert n_families == groups.max() + 1 and len(folds) == 5


def test_record_and_network_round_trip_through_one_file_without_pickle(sim, tmp_path):
    from vlab.errors import DataFileError
    from vlab.polymers.transfer.measured import MeasuredFit, _read_record, _write_record

    net, X, _, _ = sim
    fit = MeasuredFit(
        columns=list(range(X.shape[1])), variant="md_correction", n=3, nested_mae=0.05,
        nested_mae_mean=0.06, chosen={"md_correction": 3}, scale=1.2, z68=1.0, z95=2.0,
        family_mae=0.1, n_families=2,
    )  # fmt: skip
    path = _write_record(tmp_path / "record.npz", "k" * 20, fit, net)
    assert [p.name for p in tmp_path.iterdir()] == ["record.npz"]  # no temporary file left
    back_fit, back, meta = _read_record(path, "k" * 20)
    assert back_fit == fit and meta["measured_with"]["rdkit"]
    assert back.log_tasks == net.log_tasks and len(back.members) == len(net.members)
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    np.testing.assert_array_equal(back.hidden(X), net.hidden(X))
    assert _read_record(path, "other settings") is None
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DataFileError, match="record.npz"):
        _read_record(path, "k" * 20)


def test_chosen_counts_and_most_chosen_break_ties_by_name():
    res = Sim2RealComparison(
        y=np.zeros(4),
        row=np.arange(4),
        fold=np.arange(4),
        pred={},
        std={},
        chosen=("md_finetune", "md_correction", "md_correction", "md_finetune"),
        chosen_scratch=("ridge", "ridge", "net", "ridge"),
    )
    assert res.chosen_counts() == {"md_correction": 2, "md_finetune": 2}
    assert res.chosen_counts("chosen_scratch") == {"net": 1, "ridge": 3}
    assert res.most_chosen() == "md_correction"
    with pytest.raises(InputError, match="'which' of chosen_counts must be 'chosen' or"):
        res.chosen_counts("best")


def test_builtin_model_ships_measured_for_the_current_settings(tmp_path):
    from vlab.polymers.transfer import build_measured_tc

    model = build_measured_tc(cache_dir=tmp_path)
    # the shipped record matches the table and settings of this code: nothing is measured
    assert model.origin.startswith("shipped (measured with vlab ")
    assert "scikit-learn" in model.origin and "rdkit" in model.origin
    assert not list(tmp_path.iterdir())
    mean, std = model.predict(["*CC*", "*CC(*)c1ccccc1"], return_std=True)
    assert np.isfinite(mean).all() and (std > 0).all()
    # a unit with descriptors RDKit cannot compute (NaN for germanium) gets the training rows'
    # fill values: its prediction does not depend on the other units of the call
    germanium = "*C1CCC(CC1)[Ge](C)(C)*"
    alone = model.predict([germanium], return_std=True)
    with_others = model.predict(["*CC*", "*CC(*)c1ccccc1", germanium], return_std=True)
    # (equal to rounding: the networks' matrix products differ with the batch size)
    assert alone[0][0] == pytest.approx(with_others[0][2], rel=1e-6)
    assert alone[1][0] == pytest.approx(with_others[1][2], rel=1e-6)


def test_shipped_record_is_used_only_for_its_settings(tmp_path):
    from vlab.polymers.transfer import SHIPPED_FILE
    from vlab.polymers.transfer.measured import _read_shipped, _settings_key, _table

    smiles, y, morph = _table()
    key = _settings_key(smiles, y, morph)
    fit, net, origin = _read_shipped(SHIPPED_FILE, key)
    assert origin.startswith("shipped (measured with")
    assert fit.n == len(y) and len(fit.columns) == len(net.members[0].x_mean)
    assert _read_shipped(SHIPPED_FILE, "0" * 20) is None
    assert _read_shipped(tmp_path / "missing.npz", key) is None
    assert _settings_key(smiles, y + 0.001, morph) != key  # a changed table measures anew
    assert _settings_key(smiles[::-1], y[::-1], morph[::-1]) != key


def test_a_cached_record_comes_first_and_a_broken_shipped_file_is_named(tmp_path, monkeypatch):
    from dataclasses import replace

    from vlab._utils import content_hash
    from vlab.errors import DataFileError
    from vlab.polymers.transfer import SHIPPED_FILE, build_measured_tc, measured

    smiles, y, morph = measured._table()
    settings = measured._settings_key(smiles, y, morph)
    fit, net, _ = measured._read_shipped(SHIPPED_FILE, settings)
    versions = measured._versions()
    key = content_hash(settings, versions["vlab"], versions["scikit-learn"])[:20]
    mine = replace(fit, variant="scratch_ridge")
    measured._write_record(tmp_path / f"measured-tc-{key}.npz", settings, mine, net)
    model = build_measured_tc(cache_dir=tmp_path)
    assert model.origin == "read from the model cache" and model.fit.variant == "scratch_ridge"
    # a damaged cache file is not an error: the shipped record is used (and nothing measured)
    (tmp_path / f"measured-tc-{key}.npz").write_bytes(b"not a zip file")
    model = build_measured_tc(cache_dir=tmp_path)
    assert model.origin.startswith("shipped (measured with")

    broken = tmp_path / "broken.npz"
    broken.write_bytes(SHIPPED_FILE.read_bytes()[:1000])
    monkeypatch.setattr(measured, "SHIPPED_FILE", broken)
    with pytest.raises(DataFileError, match="broken.npz"):
        build_measured_tc(cache_dir=tmp_path / "empty")


def test_shipped_calibration_is_what_the_code_measures_with_the_shipped_network():
    from vlab.polymers.transfer import SHIPPED_FILE, featurize, signed_log1p
    from vlab.polymers.transfer import measured as m
    from vlab.polymers.uncertainty import IntervalCalibrator

    smiles, y, morph = m._table()
    fit, net, _ = m._read_shipped(SHIPPED_FILE, m._settings_key(smiles, y, morph))
    X = signed_log1p(featurize(smiles, normalized=True)[:, fit.columns])
    folds, n_families = m._family_folds(smiles, len(y))
    fam = nested_compare(
        X, y, morph, {"md": net}, splits=folds, variants=m.MEASURED_PROCEDURE,
        rng=np.random.default_rng(4),
    )  # fmt: skip
    calib = IntervalCalibrator.fit(fam.y, fam.pred["best"], fam.std["best"])
    assert n_families == fit.n_families
    assert fam.metrics("best")["mae"] == pytest.approx(fit.family_mae, rel=1e-6)
    assert (calib.a, calib.z[0.68], calib.z[0.95]) == pytest.approx(
        (fit.scale, fit.z68, fit.z95), rel=1e-6
    )
