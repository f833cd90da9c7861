"""Evaluation of Sim2Real variants on a small measured table: nested selection, scaling.

Variants (:data:`SIM2REAL_VARIANTS`) pair a pretrained network (by key: ``"md"`` is
trained on the simulated target alone, ``"mt+md"`` on several simulated properties
including it, ``"mt"`` on the others only) with a :class:`Sim2RealRegressor` learner. All
variants see identical outer folds; within each outer training set an inner K-fold picks
the variant (and, separately, the strongest learner without a network), whose outer
predictions are then reported once (:func:`nested_compare`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import r2_score

from vlab.errors import InputError
from vlab.polymers.transfer.pretrain import PretrainedNet, PretrainOptions
from vlab.polymers.transfer.sim2real import Sim2RealRegressor

__all__ = [
    "INNER_REPEATS",
    "SIM2REAL_VARIANTS",
    "Sim2RealComparison",
    "nested_compare",
    "outer_splits",
    "paired_ratio_interval",
    "power_law_fit",
    "select_variant",
]

#: Variant name -> (network key or None, learner).
SIM2REAL_VARIANTS: dict[str, tuple[str | None, str]] = {
    "mean": (None, "mean"),
    "scratch_ridge": (None, "scratch"),
    "scratch_forest": (None, "forest"),
    "md_as_is": ("md", "as_is"),
    "md_correction": ("md", "outputs"),
    "md_frozen": ("md", "frozen"),
    "md_finetune": ("md", "finetune"),
    "multitask_md_outputs": ("mt+md", "outputs"),
    "multitask_md_frozen": ("mt+md", "frozen"),
    "multitask_outputs": ("mt", "outputs"),
    "multitask_frozen": ("mt", "frozen"),
}
#: Variants without a network: the candidates of the strongest scratch learner.
SCRATCH_VARIANTS = ("scratch_ridge", "scratch_forest")
#: Partitions of the inner folds whose errors a selection sums (see :func:`nested_compare`).
INNER_REPEATS = 3


def outer_splits(n: int, *, kind: str = "loo", n_repeats: int = 5, n_folds: int = 5, rng=None):
    """Test-index arrays: leave-one-out, or ``n_repeats`` x ``n_folds`` random folds.

    Examples
    --------
    >>> len(outer_splits(6)), len(outer_splits(10, kind="kfold", n_repeats=2, n_folds=5,
    ...                                         rng=np.random.default_rng(0)))
    (6, 10)
    """
    if kind == "loo":
        return [np.array([i]) for i in range(n)]
    if kind != "kfold":
        raise InputError(f"The 'kind' of outer_splits must be 'loo' or 'kfold'. Got {kind!r}.")
    return [
        np.sort(f) for _ in range(n_repeats) for f in np.array_split(rng.permutation(n), n_folds)
    ]


def _model(name, nets, n_extra, options, seed):
    key, learner = SIM2REAL_VARIANTS[name]
    net = None if key is None else nets[key]
    return Sim2RealRegressor(
        net, learner=learner, n_extra=n_extra, options=options, random_state=seed, n_boot=8
    )


def _fit_predict(name, nets, A, y, tr, te, n_extra, options, seed):
    model = _model(name, nets, n_extra, options, seed).fit(A[tr], y[tr])
    return model.predict(A[te], return_std=True)


@dataclass(frozen=True, kw_only=True)
class Sim2RealComparison:
    """Outer-fold predictions of every variant and of the nested selections.

    ``pred``/``std`` have one entry per (outer fold, test row), aligned with ``y`` and
    ``row``; ``"best"`` and ``"scratch"`` are the nested selections (chosen on inner folds
    among all variants and among :data:`SCRATCH_VARIANTS`), ``chosen``/``chosen_scratch``
    the names picked per outer fold.
    """

    y: np.ndarray
    row: np.ndarray
    fold: np.ndarray
    pred: dict[str, np.ndarray]
    std: dict[str, np.ndarray]
    chosen: tuple[str, ...]
    chosen_scratch: tuple[str, ...]

    def errors(self, name: str) -> np.ndarray:
        """Absolute error per measured row, averaged over the folds that test it."""
        err = np.abs(self.pred[name] - self.y)
        n = self.row.max() + 1
        return np.bincount(self.row, err, n) / np.maximum(np.bincount(self.row, None, n), 1)

    def metrics(self, name: str) -> dict[str, float]:
        """MAE, pooled R² and Spearman correlation of the outer predictions."""
        return {
            "mae": float(np.mean(np.abs(self.pred[name] - self.y))),
            "r2": float(r2_score(self.y, self.pred[name])),
            "spearman": float(spearmanr(self.y, self.pred[name]).statistic),
        }

    def chosen_counts(self, which: str = "chosen") -> dict[str, int]:
        """How many outer folds picked each name (``which``: "chosen" or "chosen_scratch")."""
        if which not in ("chosen", "chosen_scratch"):
            raise InputError(
                f"The 'which' of chosen_counts must be 'chosen' or 'chosen_scratch'. Got {which!r}."
            )
        names, counts = np.unique(getattr(self, which), return_counts=True)
        return dict(zip(names.tolist(), counts.tolist()))

    def most_chosen(self) -> str:
        """The variant picked most often on the inner folds (first by name on a tie)."""
        counts = self.chosen_counts()
        return max(counts, key=counts.get)


def nested_compare(
    X,
    y,
    extra,
    nets: Mapping[str, PretrainedNet],
    *,
    splits: Sequence[np.ndarray],
    variants: Sequence[str] = tuple(SIM2REAL_VARIANTS),
    inner_folds: int = 5,
    inner_repeats: int = INNER_REPEATS,
    options: PretrainOptions | None = None,
    rng: np.random.Generator,
) -> Sim2RealComparison:
    """All variants on identical outer folds, with selection on inner folds.

    Parameters
    ----------
    X : ndarray, shape (n, d)
        Features of the measured polymers (the networks' input).
    y : ndarray, shape (n,)
        Measured values.
    extra : ndarray, shape (n, k)
        Columns given to every head (e.g. :func:`morphology_flags`).
    nets : mapping of str to PretrainedNet
        Networks by key (``"md"``, ``"mt+md"``, ``"mt"``) as the variants need.
    splits : sequence of ndarray
        Outer test indices (:func:`outer_splits`); the rest of the rows train.
    variants : sequence of str
        Names from :data:`SIM2REAL_VARIANTS`; must include the scratch variants and "mean".
    inner_folds : int
        Folds of the selection inside each outer training set.
    inner_repeats : int
        Independent partitions into ``inner_folds`` folds; the selection sums the errors
        over all of them (one partition of a few dozen rows picks among many variants
        noisily).
    rng : numpy.random.Generator
        Inner folds and model seeds.
    """
    variants = _check_variants(variants, nets)
    _check_inner(inner_folds, inner_repeats)
    y = np.asarray(y, dtype=float)
    extra = np.asarray(extra, dtype=float).reshape(len(y), -1)
    A = np.hstack([np.asarray(X, dtype=float), extra])
    n_extra = extra.shape[1]
    seed = int(rng.integers(2**31 - 1))
    out = {k: [] for k in ("y", "row", "fold")}
    pred = {k: [] for k in (*variants, "best", "scratch")}
    std = {k: [] for k in pred}
    chosen, chosen_scratch = [], []
    for f, te in enumerate(splits):
        tr = np.setdiff1d(np.arange(len(y)), te)
        outer = {v: _fit_predict(v, nets, A, y, tr, te, n_extra, options, seed) for v in variants}
        inner = _inner_mae(variants, nets, A, y, tr, n_extra, options, seed, inner_folds,
                           inner_repeats, rng)  # fmt: skip
        best = min(variants, key=inner.get)
        best_scratch = min(SCRATCH_VARIANTS, key=inner.get)
        chosen.append(best)
        chosen_scratch.append(best_scratch)
        sources = [*((v, v) for v in variants), ("best", best), ("scratch", best_scratch)]
        for name, src in sources:
            pred[name].append(outer[src][0])
            std[name].append(outer[src][1])
        out["y"].append(y[te])
        out["row"].append(te)
        out["fold"].append(np.full(len(te), f))
    cat = {k: np.concatenate(v) for k, v in out.items()}
    return Sim2RealComparison(
        y=cat["y"],
        row=cat["row"],
        fold=cat["fold"],
        pred={k: np.concatenate(v) for k, v in pred.items()},
        std={k: np.concatenate(v) for k, v in std.items()},
        chosen=tuple(chosen),
        chosen_scratch=tuple(chosen_scratch),
    )


def _check_variants(variants, nets):
    variants = tuple(variants)
    bad = [v for v in variants if v not in SIM2REAL_VARIANTS]
    missing = [k for k in ("mean", *SCRATCH_VARIANTS) if k not in variants]
    if bad or missing:
        raise InputError(
            f"The variants must be names among {', '.join(SIM2REAL_VARIANTS)} and include "
            f"'mean' and {', '.join(SCRATCH_VARIANTS)}. Got {list(variants)!r}."
        )
    need = {SIM2REAL_VARIANTS[v][0] for v in variants} - {None}
    if need - set(nets):
        raise InputError(
            f"The variants need the pretrained networks {sorted(need)}; 'nets' has {sorted(nets)}."
        )
    return variants


def select_variant(
    A,
    y,
    nets: Mapping[str, PretrainedNet],
    *,
    n_extra: int,
    candidates: Sequence[str],
    variants: Sequence[str] | None = None,
    inner_folds: int = 5,
    inner_repeats: int = INNER_REPEATS,
    options: PretrainOptions | None = None,
    rng: np.random.Generator,
) -> tuple[str, dict[str, float]]:
    """The candidate with the lowest K-fold error on all rows (the selection of
    :func:`nested_compare`, applied to the whole table to pick the model to deploy).

    Parameters
    ----------
    A : ndarray, shape (n, d + n_extra)
        Features followed by the ``n_extra`` columns given to every head.
    y : ndarray, shape (n,)
    nets : mapping of str to PretrainedNet
    candidates : sequence of str
        Names from :data:`SIM2REAL_VARIANTS` to choose from.
    variants : sequence of str, optional
        Variants whose errors are computed (default: the candidates).
    inner_folds, inner_repeats : int
        ``inner_repeats`` partitions into ``inner_folds`` folds, as in :func:`nested_compare`.

    Returns
    -------
    best : str
    errors : dict of str to float
        Summed absolute K-fold error of each variant (units of ``y``).
    """
    variants = tuple(candidates if variants is None else variants)
    bad = [v for v in (*variants, *candidates) if v not in SIM2REAL_VARIANTS]
    if bad or not set(candidates) <= set(variants):
        raise InputError(
            f"select_variant needs candidates among the variants, all names from "
            f"{', '.join(SIM2REAL_VARIANTS)}. Got candidates {list(candidates)!r}, variants "
            f"{list(variants)!r}."
        )
    _check_inner(inner_folds, inner_repeats)
    A, y = np.asarray(A, dtype=float), np.asarray(y, dtype=float)
    seed = int(rng.integers(2**31 - 1))
    err = _inner_mae(variants, nets, A, y, np.arange(len(y)), n_extra, options, seed,
                     inner_folds, inner_repeats, rng)  # fmt: skip
    return min(candidates, key=err.get), err


def _check_inner(inner_folds, inner_repeats) -> None:
    for name, value, low in (("inner_folds", inner_folds, 2), ("inner_repeats", inner_repeats, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise InputError(f"{name} must be an integer >= {low}. Got {value!r}.")


def _inner_mae(variants, nets, A, y, tr, n_extra, options, seed, n_folds, n_repeats, rng):
    err = {v: 0.0 for v in variants}
    for _ in range(n_repeats):
        for te in np.array_split(rng.permutation(tr), min(n_folds, len(tr))):
            inner_tr = np.setdiff1d(tr, te)
            for v in variants:
                p, _ = _fit_predict(v, nets, A, y, inner_tr, te, n_extra, options, seed)
                err[v] += float(np.abs(p - y[te]).sum())
    return err


def paired_ratio_interval(err_a, err_b, *, level: float = 0.9, n_boot: int = 2000, rng):
    """Bootstrap interval (over rows, paired) of ``mean(err_a) / mean(err_b)``.

    Returns
    -------
    ratio, low, high : float

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a = rng.uniform(size=50); r, lo, hi = paired_ratio_interval(a, 2 * a, rng=rng)
    >>> round(r, 6), round(lo, 6), round(hi, 6)
    (0.5, 0.5, 0.5)
    """
    a, b = np.asarray(err_a, float), np.asarray(err_b, float)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise InputError(
            f"paired_ratio_interval needs two 1-D error arrays of one length >= 2. Got shapes "
            f"{a.shape} and {b.shape}."
        )
    idx = rng.integers(len(a), size=(n_boot, len(a)))
    ratios = a[idx].mean(axis=1) / b[idx].mean(axis=1)
    tail = (1 - level) / 2
    lo, hi = np.quantile(ratios, [tail, 1 - tail])
    return float(a.mean() / b.mean()), float(lo), float(hi)


def power_law_fit(sizes, errors, *, level: float = 0.9, n_boot: int = 1000, rng):
    """Fit ``MAE(N) = a N^(-b)`` to per-row errors at each size, with a bootstrap band.

    Parameters
    ----------
    sizes : sequence of float
        Pretraining set sizes N.
    errors : ndarray, shape (len(sizes), n_rows)
        Absolute error of each measured row at each size (paired: same rows).

    Returns
    -------
    dict
        ``a``, ``exponent`` (b) with ``exponent_low``/``exponent_high``, ``mae`` per size and
        the band ``band_low``/``band_high`` of the fitted curve at each size.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> N = np.array([50, 100, 200, 400]); e = 0.1 * N[:, None] ** -0.2 * np.ones((4, 30))
    >>> round(power_law_fit(N, e, rng=rng)["exponent"], 6)
    0.2
    """
    logn = np.log(np.asarray(sizes, dtype=float))
    E = np.asarray(errors, dtype=float)
    if E.ndim != 2 or E.shape[0] != len(logn) or len(logn) < 2:
        raise InputError(
            f"power_law_fit needs errors of shape (n_sizes >= 2, n_rows). Got {E.shape} for "
            f"{len(logn)} sizes."
        )

    def fit(mae):
        slope, icpt = np.polyfit(logn, np.log(mae), 1)
        return np.exp(icpt), -slope

    a, b = fit(E.mean(axis=1))
    idx = rng.integers(E.shape[1], size=(n_boot, E.shape[1]))
    boot = np.array([fit(E[:, i].mean(axis=1)) for i in idx])
    curves = boot[:, :1] * np.exp(-boot[:, 1:] * logn[None, :])
    tail = (1 - level) / 2
    return {
        "a": float(a),
        "exponent": float(b),
        "exponent_low": float(np.quantile(boot[:, 1], tail)),
        "exponent_high": float(np.quantile(boot[:, 1], 1 - tail)),
        "mae": E.mean(axis=1).tolist(),
        "band_low": np.quantile(curves, tail, axis=0).tolist(),
        "band_high": np.quantile(curves, 1 - tail, axis=0).tolist(),
    }
