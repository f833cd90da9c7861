"""Tests of vlab.polymers.transfer on a small synthetic source/target problem."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from vlab.errors import InputError
from vlab.polymers.transfer import pretrain, protocol_a, split_by_unit


def _toy(n=150, seed=0):
    """Target depends on a latent that the source tasks also reveal (transfer should help)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 30))
    latent = np.tanh(X[:, :10] @ rng.normal(size=10) / 3)
    Y = np.column_stack([latent + 0.05 * rng.normal(size=n), latent**2, X[:, 11]])
    y = 0.2 + 0.05 * latent + 0.005 * rng.normal(size=n)
    return X, Y, y


def test_split_is_disjoint_and_complete():
    src, pool = split_by_unit(30, rng=np.random.default_rng(0))
    assert len(src) == 20 and len(pool) == 10
    assert set(src).isdisjoint(pool) and set(src) | set(pool) == set(range(30))
    with pytest.raises(InputError, match="'source_fraction' parameter of split_by_unit"):
        split_by_unit(10, source_fraction=1.5, rng=np.random.default_rng(0))


def test_pretrained_hidden_features_shape():
    X, Y, _ = _toy(80)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = pretrain(X, Y, hidden=(16, 8), max_iter=50)
    assert net.hidden(X).shape == (80, 8)


def test_protocol_a_runs_and_reports_paired_draws():
    X, Y, y = _toy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = protocol_a(
            X,
            y,
            Y,
            n_splits=2,
            draws_per_split=2,
            n_train=20,
            rng=np.random.default_rng(1),
            pretrain_kwargs={"hidden": (32, 16), "max_iter": 200},
        )
    assert res.n_draws == 4 and all(v.shape == (4,) for v in res.mae.values())
    summary = res.summary()
    assert summary["best_transfer"] in ("frozen", "outputs", "finetune")
    # the latent is learnable from the source tasks: transfer beats the mean predictor
    assert summary[f"mae_{summary['best_transfer']}"] < summary["mae_mean"]
