"""Transfer protocols A and B, the multi-task source blocks they pretrain on, and the Tg model.

No leakage: the caller passes only allowed source columns; Protocol A splits rows (unique
canonical repeat units) into a source part, whose source properties alone are used for
pretraining, and a target pool, from which the training draws come; the test points of a
draw are the rest of the pool. Extra source rows may not stand for a target polymer
(:func:`source_overlap`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from rdkit import Chem
from sklearn.metrics import mean_absolute_error, r2_score

from vlab.errors import InputError
from vlab.polymers.smiles import oligomer
from vlab.polymers.transfer._learners import LEARNERS, check_learners, predict_all
from vlab.polymers.transfer.features import split_by_unit
from vlab.polymers.transfer.pretrain import PretrainOptions, pretrain
from vlab.polymers.transfer.results import TransferResult, collect

__all__ = [
    "TgCVResult",
    "capped_unit",
    "protocol_a",
    "protocol_b",
    "source_overlap",
    "stack_tasks",
    "tg_cv",
]


def stack_tasks(*blocks) -> tuple[np.ndarray, np.ndarray]:
    """Rows of several source data sets with disjoint tasks, for multi-task pretraining.

    Parameters
    ----------
    *blocks : (X_i, Y_i)
        Features (same columns in every block) and targets of one data set (1-D for one
        task).

    Returns
    -------
    X : ndarray, shape (sum n_i, d)
    Y : ndarray, shape (sum n_i, sum k_i)
        Block diagonal: the tasks of block i are NaN (unobserved, masked in the loss) on the
        rows of the other blocks.

    Examples
    --------
    >>> X, Y = stack_tasks((np.zeros((2, 3)), np.array([1.0, 2.0])), (np.ones((1, 3)), [[5.0]]))
    >>> X.shape, Y.tolist()
    ((3, 3), [[1.0, nan], [2.0, nan], [nan, 5.0]])
    """
    if not blocks:
        raise InputError("stack_tasks needs at least one (X, Y) block. Got none.")
    Xs = [np.asarray(X, dtype=float) for X, _ in blocks]
    Ys = [np.asarray(Y, dtype=float).reshape(len(X), -1) for X, (_, Y) in zip(Xs, blocks)]
    if len({X.shape[1] for X in Xs}) != 1:
        raise InputError(
            "The blocks of stack_tasks must have the same feature columns. Got widths "
            f"{[X.shape[1] for X in Xs]}."
        )
    widths = [Y.shape[1] for Y in Ys]
    Y = np.full((sum(len(X) for X in Xs), sum(widths)), np.nan)
    row = col = 0
    for Yi in Ys:
        Y[row : row + len(Yi), col : col + Yi.shape[1]] = Yi
        row, col = row + len(Yi), col + Yi.shape[1]
    return np.vstack(Xs), Y


def _stack_sources(X_src, Y_src, extra):
    """Rows of the source part and of extra data sets, with NaN for unobserved tasks."""
    if extra is None:
        return X_src, Y_src
    X_extra, Y_extra = (np.asarray(a, dtype=float) for a in extra)
    Y_extra = Y_extra.reshape(len(X_extra), -1)
    if Y_src.shape[1] == 0:
        return X_extra, Y_extra
    k, m = Y_src.shape[1], Y_extra.shape[1]
    top = np.hstack([Y_src, np.full((len(Y_src), m), np.nan)])
    bottom = np.hstack([np.full((len(Y_extra), k), np.nan), Y_extra])
    return np.vstack([X_src, X_extra]), np.vstack([top, bottom])


def capped_unit(smiles: str) -> str:
    """Canonical SMILES of the hydrogen-capped repeat unit (what the descriptors see).

    Examples
    --------
    >>> capped_unit("*CC(*)C"), capped_unit("*CCO*")
    ('CCC', 'CCO')
    """
    return Chem.MolToSmiles(oligomer(smiles, 1, cap="H"))


def source_overlap(units: Sequence[str], extra_keys: Sequence[str]) -> list[str]:
    """Extra source rows that stand for a target polymer (leakage check).

    A key of the extra data overlaps if it is one of the target repeat units (e.g. a Tg
    row of a PI1070 polymer) or, for a molecule without ``*`` (small-molecule Cp rows), if
    it is the hydrogen-capped form of a target unit: such a molecule has exactly the
    descriptors of that polymer's repeat unit. Units are compared as given (use the
    normalised keys of the loaders for both).

    Examples
    --------
    >>> source_overlap(["*CC(*)C", "*CCO*"], ["*CC(*)C", "CCC", "CCCC", "OCCO"])
    ['*CC(*)C', 'CCC']
    """
    units = set(units)
    molecules = [k for k in extra_keys if "*" not in k]
    capped = {capped_unit(u) for u in units} if molecules else set()
    return sorted({k for k in extra_keys if k in units or ("*" not in k and k in capped)})


def _check_disjoint(units, extra_units, where: str):
    if units is None or extra_units is None:
        return
    shared = source_overlap(units, extra_units)
    if shared:
        raise InputError(
            f"The extra source data of {where} share {len(shared)} repeat units with the "
            f"target rows (e.g. {shared[:3]}; molecules count when they are a capped target "
            "unit). Remove them from the extra data first (see source_overlap)."
        )


def protocol_a(
    X,
    y,
    Y_source,
    *,
    n_splits: int = 4,
    draws_per_split: int = 5,
    n_train: int = 28,
    source_fraction: float = 2 / 3,
    extra: tuple[np.ndarray, np.ndarray] | None = None,
    units: Sequence[str] | None = None,
    extra_units: Sequence[str] | None = None,
    options: PretrainOptions = PretrainOptions(),
    learners: Sequence[str] = LEARNERS,
    rng: np.random.Generator,
    progress: Callable[[int], None] | None = None,
) -> TransferResult:
    """Protocol A: per split pretrain on the source part, then few-point target draws.

    Parameters
    ----------
    X : ndarray, shape (n, d)
        Features of unique repeat units (all learners see these).
    y : ndarray, shape (n,)
        Target (thermal conductivity, W/(m K)); read only inside the target pool.
    Y_source : ndarray, shape (n, k), or None
        Source properties (never the target or columns derived from it); read only in the
        source part of each split. None: pretrain on ``extra`` alone.
    n_splits, draws_per_split : int
        Source/pool splits, and training draws from each pool.
    n_train : int
        Training points per draw; the test set is the rest of the pool.
    extra : (X_extra, Y_extra), optional
        More source rows with other tasks (e.g. Tg, small-molecule Cp; several data sets
        via :func:`stack_tasks`), multi-task pretraining with a masked loss.
    units, extra_units : sequence of str, optional
        Repeat units of ``X`` and keys of ``extra`` (repeat units or molecules); if both
        are given no extra row may stand for a row of ``X`` (:func:`source_overlap`).
    options : PretrainOptions
        Network and fine-tuning settings.
    learners : sequence of str
        Subset of ``scratch, outputs, outputs+x, frozen, finetune, scratch_mlp, mean``.
    rng : numpy.random.Generator
        Splits, draws and network initialisation.
    progress : callable, optional
        Called with 1 after each draw (``n_splits * draws_per_split`` calls in all).
    """
    learners = check_learners(learners)
    _check_disjoint(units, extra_units, "protocol_a")
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    if Y_source is None and extra is None:
        raise InputError("protocol_a needs source tasks: give Y_source, extra or both.")
    Y_source = np.empty((len(X), 0)) if Y_source is None else np.asarray(Y_source, float)
    split_rng, rng = rng.spawn(2)  # same splits and draws whatever the networks consume
    records = []
    for s in range(n_splits):
        src, pool = split_by_unit(len(X), source_fraction=source_fraction, rng=split_rng)
        pool = pool[np.isfinite(y[pool])]
        if len(pool) <= n_train + 2:
            raise InputError(
                f"The target pool has {len(pool)} rows with a target, too few for "
                f"n_train={n_train}; lower n_train or source_fraction."
            )
        net = pretrain(*_stack_sources(X[src], Y_source[src], extra), options=options, rng=rng)
        P, H = net.outputs(X), net.hidden(X)
        for _ in range(draws_per_split):
            perm = split_rng.permutation(pool)
            tr, te = perm[:n_train], perm[n_train:]
            pred = predict_all(
                net, X, y, tr, te, P=P, H=H, options=options, rng=rng, learners=learners
            )
            records.append({"y": y[te], "pred": pred, "split": s})
            if progress is not None:
                progress(1)
    return collect(
        records, n_train=n_train, protocol="A", notes={"source_fraction": source_fraction}
    )


def protocol_b(
    X,
    y,
    X_source,
    Y_source,
    *,
    extra: tuple[np.ndarray, np.ndarray] | None = None,
    options: PretrainOptions = PretrainOptions(),
    learners: Sequence[str] = LEARNERS,
    rng: np.random.Generator,
    progress: Callable[[int], None] | None = None,
) -> TransferResult:
    """Protocol B: leave-one-out over a small target table (e.g. experimental λ).

    The network is pretrained once on ``(X_source, Y_source)`` (plus ``extra``), which the
    caller keeps disjoint from the target rows; each target row is then predicted by the
    learners trained on all the other target rows. ``progress``, if given, is called with 1
    after each row.
    """
    learners = check_learners(learners)
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    net = pretrain(
        *_stack_sources(np.asarray(X_source, float), np.asarray(Y_source, float), extra),
        options=options,
        rng=rng,
    )
    P, H = net.outputs(X), net.hidden(X)
    records = []
    for i in range(len(X)):
        tr, te = np.delete(np.arange(len(X)), i), np.array([i])
        pred = predict_all(net, X, y, tr, te, P=P, H=H, options=options, rng=rng, learners=learners)
        records.append({"y": y[te], "pred": pred, "split": 0})
        if progress is not None:
            progress(1)
    return collect(records, n_train=len(X) - 1, protocol="B", notes={})


# --- Tg model alone -------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class TgCVResult:
    """K-fold cross-validation of the source network on one property (Tg in K)."""

    mae: np.ndarray
    r2: np.ndarray
    n: int

    def summary(self) -> dict[str, float]:
        """Mean and std over folds."""
        return {
            "mae": float(self.mae.mean()),
            "mae_std": float(self.mae.std()),
            "r2": float(self.r2.mean()),
            "n": self.n,
            "n_folds": len(self.mae),
        }


def tg_cv(
    X, y, *, n_folds: int = 5, options: PretrainOptions = PretrainOptions(), rng
) -> TgCVResult:
    """``n_folds``-fold CV MAE of the (single-task) pretraining network on ``y``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 4)); y = 300 + 50 * X[:, 0]
    >>> res = tg_cv(X, y, options=PretrainOptions(hidden=(16,), epochs=30, n_members=1), rng=rng)
    >>> res.n, len(res.mae), bool(res.mae.mean() < 40)
    (100, 5, True)
    """
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(y) & np.isfinite(X).all(axis=1)
    X, y = X[ok], y[ok]
    folds = np.array_split(rng.permutation(len(X)), n_folds)
    maes, r2s = [], []
    for te in folds:
        tr = np.setdiff1d(np.arange(len(X)), te)
        pred = pretrain(X[tr], y[tr, None], options=options, rng=rng).predict(X[te])[:, 0]
        maes.append(mean_absolute_error(y[te], pred))
        r2s.append(r2_score(y[te], pred))
    return TgCVResult(mae=np.array(maes), r2=np.array(r2s), n=len(X))
