"""Tests of vlab.polymers.transfer (and its numpy network) on small synthetic problems."""

from __future__ import annotations

import numpy as np
import pytest

from vlab.errors import InputError
from vlab.polymers import _mlp
from vlab.polymers.transfer import (
    PretrainOptions,
    capped_unit,
    featurize,
    plot_report,
    pretrain,
    protocol_a,
    protocol_b,
    source_overlap,
    split_by_unit,
    stack_tasks,
    tg_cv,
)
from vlab.workflows.polymers import TRANSFER_SOURCES, parse_variants, transfer_inputs

SMALL = PretrainOptions(hidden=(32, 16), n_members=1, epochs=150, patience=30, finetune_epochs=20)


def _toy(n=150, seed=0):
    """Target depends on a latent that the source tasks reveal (transfer should help)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 12))
    latent = np.tanh(X[:, 0] * X[:, 1] + 0.5 * X[:, 2] ** 2 - 0.5)  # not linear in X
    Y = np.column_stack([latent + 0.05 * rng.normal(size=n), np.exp(latent), X[:, 11]])
    y = 0.2 + 0.05 * latent + 0.002 * rng.normal(size=n)
    return X, Y, y


def test_split_is_disjoint_and_complete():
    src, pool = split_by_unit(30, rng=np.random.default_rng(0))
    assert len(src) == 20 and len(pool) == 10
    assert set(src).isdisjoint(pool) and set(src) | set(pool) == set(range(30))
    with pytest.raises(InputError, match="'source_fraction' parameter of split_by_unit"):
        split_by_unit(10, source_fraction=1.5, rng=np.random.default_rng(0))


def test_network_learns_a_smooth_function_and_ignores_missing_labels():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    Y = np.column_stack([X[:, 0] - X[:, 1], np.where(rng.random(300) < 0.5, X[:, 2], np.nan)])
    w = _mlp.train(X, Y, hidden=(32,), options=_mlp.TrainOptions(epochs=80), rng=rng)
    test = rng.normal(size=(100, 4))
    pred = w.predict(test)
    assert np.corrcoef(pred[:, 0], test[:, 0] - test[:, 1])[0, 1] > 0.95
    assert np.corrcoef(pred[:, 1], test[:, 2])[0, 1] > 0.9
    with pytest.raises(InputError, match="needs at least one finite value"):
        _mlp.train(X, np.full((300, 1), np.nan), rng=rng)


def test_finetune_l2_keeps_hidden_weights_near_pretrained():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 5))
    base = _mlp.train(X, X[:, :2], hidden=(16,), options=_mlp.TrainOptions(epochs=20), rng=rng)
    head = _mlp.with_head(base, np.zeros(16), 0.0, 0.0, 1.0)
    drift = {}
    for l2 in (0.0, 100.0):
        opt = _mlp.TrainOptions(epochs=50, l2=l2, validation_fraction=0.0, learning_rate=1e-2)
        tuned = _mlp.train(X[:20], X[:20, 4], init=head, new_head=False, options=opt, rng=rng)
        drift[l2] = np.abs(tuned.coefs[0] - base.coefs[0]).mean()
    assert drift[100.0] < 0.2 * drift[0.0]


def test_pretrain_logs_positive_tasks_and_checks_size():
    X, Y, _ = _toy(80)
    net = pretrain(X, Y, options=SMALL, rng=np.random.default_rng(0))
    assert net.log_tasks == (False, True, False)
    assert net.hidden(X).shape == (80, 16)
    assert (net.predict(X)[:, 1] > 0).all()
    with pytest.raises(InputError, match="at least 10 source rows. Got 5"):
        pretrain(X[:5], Y[:5], options=SMALL, rng=np.random.default_rng(0))


def test_protocol_a_transfer_beats_scratch_on_a_learnable_latent():
    X, Y, y = _toy(600)
    res = protocol_a(
        X, y, Y, n_splits=2, draws_per_split=2, n_train=20, options=SMALL,
        rng=np.random.default_rng(1),
    )  # fmt: skip
    assert res.n_draws == 4 and all(v.shape == (4,) for v in res.mae.values())
    assert len(res.y_true) == len(res.draw) == 4 * (200 - 20)
    summary = res.summary()
    transfer = [summary[f"mae_{k}"] for k in ("outputs", "outputs+x", "frozen", "finetune")]
    assert summary["mae_transfer"] == summary[f"mae_{summary['best_transfer']}"] == min(transfer)
    assert summary["mae_outputs"] < 0.8 * summary["mae_scratch"]
    assert summary["mae_outputs"] < summary["mae_mean"]


def test_protocol_a_checks_learners_and_disjoint_extra():
    X, Y, y = _toy(60)
    with pytest.raises(InputError, match="'learners' parameter must list names"):
        protocol_a(X, y, Y, learners=["outputs"], rng=np.random.default_rng(0))
    with pytest.raises(InputError, match="share 1 repeat units"):
        protocol_a(
            X, y, Y, extra=(X[:2], y[:2]), units=["*C*", "*CC(*)C"], extra_units=["*C*"],
            rng=np.random.default_rng(0),
        )  # fmt: skip
    with pytest.raises(InputError, match="too few for n_train=28"):
        protocol_a(X, y, Y, options=SMALL, rng=np.random.default_rng(0))


def test_protocol_a_multitask_extra_rows_and_protocol_b(tmp_path):
    X, Y, y = _toy(200)
    extra = (X[150:], Y[150:, 0] * 50 + 300)  # a Tg-like task on other rows
    res = protocol_a(
        X[:150], y[:150], Y[:150, 1:], extra=extra, n_splits=1, draws_per_split=2,
        n_train=15, options=SMALL, learners=["scratch", "outputs", "finetune"],
        rng=np.random.default_rng(2),
    )  # fmt: skip
    assert set(res.mae) == {"scratch", "outputs", "finetune"}
    b = protocol_b(
        X[:12], y[:12], X[20:], Y[20:], options=SMALL, learners=["scratch", "outputs", "mean"],
        rng=np.random.default_rng(3),
    )  # fmt: skip
    summary = b.summary()
    assert b.n_draws == 12 and b.n_train == 11 and np.isnan(b.r2["scratch"]).all()
    assert np.isfinite(summary["r2_pooled_outputs"])
    for result in (res, b):
        png = plot_report(result, tmp_path / f"{result.protocol}.png")
        assert png.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(InputError, match="'learner' parameter of plot_report"):
        plot_report(b, tmp_path / "x.png", learner="nope")


def test_tg_cv_reports_folds_and_drops_missing():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = 300 + 40 * X[:, 0]
    y[:5] = np.nan
    res = tg_cv(X, y, n_folds=3, options=SMALL, rng=rng)
    assert res.n == 55 and res.mae.shape == (3,)
    assert res.summary()["mae"] < 0.5 * np.abs(y[5:] - y[5:].mean()).mean()


def test_featurize_is_translation_invariant():
    F = featurize(["*CCO*", "*COC*", "*CC(*)C"], n_bits=128)
    assert F.shape[1] > 128 and np.allclose(F[0, :128], F[1, :128])
    assert not np.allclose(F[0, :128], F[2, :128])


def test_masked_loss_gradients_match_finite_differences():
    rng = np.random.default_rng(4)
    Z = rng.normal(size=(7, 3)).astype(np.float64)
    T = rng.normal(size=(7, 2))
    M = rng.random((7, 2)) < 0.7
    coefs, inter = _mlp._init([3, 5, 2], rng)
    params = [p.astype(np.float64) + 0.1 for p in coefs + inter]
    tw = np.array([1.0, 0.5])
    _, grads = _mlp._gradients(params, Z, T, M, tw)
    eps = 1e-6
    for k, p in enumerate(params):
        idx = tuple(rng.integers(s) for s in p.shape)
        p[idx] += eps
        up = _mlp._gradients(params, Z, T, M, tw)[0]
        p[idx] -= 2 * eps
        down = _mlp._gradients(params, Z, T, M, tw)[0]
        p[idx] += eps
        assert grads[k][idx] == pytest.approx((up - down) / (2 * eps), rel=1e-4, abs=1e-7)


def test_stack_tasks_is_block_diagonal():
    X, Y = stack_tasks((np.zeros((2, 4)), np.ones((2, 2))), (np.ones((3, 4)), np.arange(3.0)))
    assert X.shape == (5, 4) and Y.shape == (5, 3)
    assert np.isnan(Y[:2, 2]).all() and np.isnan(Y[2:, :2]).all()
    np.testing.assert_array_equal(Y[2:, 2], [0, 1, 2])
    with pytest.raises(InputError, match="same feature columns. Got widths \\[4, 3\\]"):
        stack_tasks((np.zeros((2, 4)), np.ones(2)), (np.zeros((2, 3)), np.ones(2)))


def test_cp_molecules_cannot_leak_target_polymers():
    assert capped_unit("*CC(*)c1ccccc1") == "CCc1ccccc1"
    targets = ["*CC(*)C", "*CC(*)c1ccccc1", "*CCO*"]
    molecules = ["CCC", "CCc1ccccc1", "CCCO", "O", "OCCO"]  # propane, ethylbenzene: capped units
    assert source_overlap(targets, molecules) == ["CCC", "CCc1ccccc1"]
    X = np.arange(5.0)[:, None] * np.ones((5, 3))
    extras = {"cp": (molecules, X, np.array([70.0, 130.0, 85.0, 33.0, 80.0]))}
    (X_cp, Y_cp), keys = transfer_inputs(("pi1070", "cp"), targets, extras)
    assert keys == ["CCCO", "O", "OCCO"] and Y_cp[:, 0].tolist() == [85.0, 33.0, 80.0]
    assert X_cp[:, 0].tolist() == [2.0, 3.0, 4.0]
    assert not set(keys) & {capped_unit(u) for u in targets}
    # protocol_a refuses extra rows whose molecule is a capped target unit
    Xt, Y, y = _toy(60)
    with pytest.raises(InputError, match="share 1 repeat units .* capped target unit"):
        protocol_a(
            Xt[:3], y[:3], Y[:3], extra=(Xt[3:5], y[3:5]), units=targets,
            extra_units=["CCCO", "CCC"], rng=np.random.default_rng(0),
        )  # fmt: skip


def test_multitask_pretraining_with_polymer_and_molecule_blocks():
    X, Y, y = _toy(260)
    tg_like = (X[150:210], 300 + 50 * Y[150:210, 0])
    cp_like = (X[210:], 80 + 20 * Y[210:, 1])  # another task, other rows
    extra = stack_tasks(tg_like, cp_like)
    assert extra[1].shape == (110, 2)
    res = protocol_a(
        X[:150], y[:150], Y[:150, 2:], extra=extra, n_splits=1, draws_per_split=2,
        n_train=15, options=SMALL, learners=["scratch", "outputs"], rng=np.random.default_rng(5),
    )  # fmt: skip
    assert res.n_draws == 2 and np.isfinite(res.mae["outputs"]).all()


def test_parse_variants():
    assert parse_variants("pi1070+tg+cp,cp") == [("pi1070", "tg", "cp"), ("cp",)]
    assert set(TRANSFER_SOURCES) == {"pi1070", "tg", "cp"}
    assert "thermal_conductivity" not in TRANSFER_SOURCES["pi1070"]
    with pytest.raises(InputError, match="names among pi1070, tg, cp .* Got 'pi1070\\+lambda'"):
        parse_variants(["pi1070+lambda"])
    with pytest.raises(InputError, match="Got 'cp\\+cp'"):
        parse_variants(["cp+cp"])


def test_one_point_draws_compare_learners_by_the_ratio_of_their_loo_maes():
    """Leave-one-out draws have one test point each: the mean of per-draw ratios of single
    absolute errors would blow up wherever scratch is nearly exact (here 17 for a learner
    with the lower LOO MAE); the ratio of the LOO MAEs is reported, without a spread."""
    from vlab.polymers.transfer.results import collect

    y = [1.0, 2.0, 3.0]
    scratch, finetune = [1.001, 2.1, 3.1], [1.05, 2.05, 3.05]
    records = [
        {"y": np.array([t]), "pred": {"scratch": np.array([s]), "finetune": np.array([f])},
         "split": 0}
        for t, s, f in zip(y, scratch, finetune, strict=True)
    ]  # fmt: skip
    summary = collect(records, n_train=2, protocol="B", notes={}).summary()
    assert summary["best_transfer"] == "finetune"
    assert summary["ratio_transfer"] == pytest.approx(0.05 / (0.201 / 3))
    assert summary["ratio_transfer"] == summary["ratio_of_means"] == summary["ratio_finetune"]
    assert np.isnan(summary["ratio_transfer_std"]) and summary["wins_finetune"] == 2 / 3
    # test sets of several points: the mean of the paired per-draw ratios, with its spread
    records = [
        {"y": np.array([1.0, 2.0]), "pred": {"scratch": np.array([1.1, 2.1]),
         "finetune": np.array([1.05, 2.05])}, "split": 0},
        {"y": np.array([1.0, 2.0]), "pred": {"scratch": np.array([1.2, 2.2]),
         "finetune": np.array([1.3, 2.3])}, "split": 0},
    ]  # fmt: skip
    summary = collect(records, n_train=2, protocol="A", notes={}).summary()
    assert summary["ratio_transfer"] == pytest.approx((0.5 + 1.5) / 2)
    assert summary["ratio_transfer_std"] == pytest.approx(0.5)
