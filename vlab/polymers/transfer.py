"""Small-data transfer learning to thermal conductivity (Protocols A and B, Tg model).

A multi-task perceptron is pretrained on *source* tasks: PI1070 MD properties other than
thermal conductivity (:func:`~vlab.polymers.datasets.pi1070_source_columns`), optionally
together with other data (PoLyInfo Tg of polymers, ideal-gas Cp of small molecules
featurised with ``kind="molecule"``) whose rows miss the PI1070 columns (masked loss;
:func:`stack_tasks` builds such a block-diagonal task matrix). From a few target points
the learners below are compared on the same draws and the same input features ``X``:

``outputs`` (a)
    ridge regression on the pretrained network's predicted source properties (frozen);
``outputs+x`` (a)
    ridge on the input features and the predicted properties, the two blocks weighted by
    leave-one-out error on the training points;
``frozen`` (a)
    ridge on the last hidden layer of the pretrained network (ReLU activations used as they
    are: standardising sparse units that are almost always zero in 28 points blows them up);
``finetune`` (b)
    the pretrained network with a new output (initialised by ridge on its hidden layer),
    trained on the target points with an L2 pull towards the pretrained weights;
``scratch`` (c)
    the same ridge learner on the input features alone (its penalty chosen by leave-one-out
    cross-validation over a wide grid), and ``scratch_mlp``: the network of (b) from a random
    initialisation; ``mean`` predicts the training mean.

No leakage: the caller passes only allowed source columns; Protocol A splits rows (unique
canonical repeat units) into a source part, whose source properties alone are used for
pretraining, and a target pool, from which the training draws come; the test points of a
draw are the rest of the pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from rdkit import Chem
from sklearn.feature_selection import VarianceThreshold
from sklearn.linear_model import RidgeCV
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vlab.errors import InputError
from vlab.polymers import _mlp
from vlab.polymers.features import MorganCounts, RDKitDescriptors
from vlab.polymers.smiles import oligomer

__all__ = [
    "PretrainOptions",
    "PretrainedNet",
    "TgCVResult",
    "TransferResult",
    "capped_unit",
    "featurize",
    "plot_report",
    "pretrain",
    "protocol_a",
    "protocol_b",
    "signed_log1p",
    "source_overlap",
    "split_by_unit",
    "stack_tasks",
    "tg_cv",
]

#: Ridge penalties searched by leave-one-out (efficient GCV) for every ridge learner.
ALPHAS = np.logspace(-5, 6, 23)
#: Relative weights (input features, predicted properties) tried by ``outputs+x``.
_BLOCK_WEIGHTS = ((1.0, 0.0), (1.0, 0.5), (1.0, 1.0), (0.5, 1.0), (0.0, 1.0), (1.0, 2.0))
_TRANSFER = ("outputs", "outputs+x", "frozen", "finetune")
_LEARNERS = ("scratch", *_TRANSFER, "scratch_mlp", "mean")


# --- features ---------------------------------------------------------------------------


def signed_log1p(X) -> np.ndarray:
    """``sign(x) log(1 + |x|)`` elementwise: tames count and descriptor scales.

    Examples
    --------
    >>> signed_log1p([[0.0, np.e - 1, -(np.e - 1)]]).round(6).tolist()
    [[0.0, 1.0, -1.0]]
    """
    X = np.asarray(X, dtype=float)
    return np.sign(X) * np.log1p(np.abs(X))


def featurize(
    smiles: Sequence[str],
    *,
    n_bits: int = 1024,
    normalized: bool = False,
    kind: str = "repeat_unit",
):
    """Count Morgan fingerprints (radius 2) and RDKit descriptors of repeat units.

    Parameters
    ----------
    smiles : sequence of str
        Repeat units with two ``*`` (or molecules with ``kind="molecule"``).
    n_bits : int, default 1024
        Length of the Morgan count vector.
    normalized : bool, default False
        True if the units are already primitive (as returned by the loaders with
        ``normalize=True``): skips the costly second normalisation.
    kind : {"repeat_unit", "molecule"}, default "repeat_unit"
        Ordinary molecules (small-molecule source data) get the same columns: Morgan
        counts over all their atoms and the descriptors of the molecule (see
        :mod:`vlab.polymers.features` for how this compares with repeat units).

    Returns
    -------
    ndarray, shape (n, n_bits + n_descriptors)
        Raw features (invalid units give rows of NaN); apply :func:`signed_log1p` for
        learning.

    Examples
    --------
    >>> featurize(["*CC*", "*CC(*)C"], n_bits=64).shape[0]
    2
    >>> featurize(["CCC"], n_bits=64, kind="molecule").shape == featurize(["*CC*"], n_bits=64).shape
    True
    """
    opts = {"normalize": not normalized, "on_error": "nan", "kind": kind}
    morgan = MorganCounts(n_bits=n_bits, **opts).fit_transform(list(smiles))
    desc = RDKitDescriptors(**opts).fit_transform(list(smiles))
    return np.hstack([morgan, desc])


def split_by_unit(n: int, *, source_fraction: float = 2 / 3, rng: np.random.Generator):
    """Random split of ``n`` unique repeat units into source and target-pool indices."""
    if not 0 < source_fraction < 1:
        raise InputError(
            f"The 'source_fraction' parameter of split_by_unit must be in (0, 1). "
            f"Got {source_fraction!r}."
        )
    perm = rng.permutation(n)
    cut = round(source_fraction * n)
    return np.sort(perm[:cut]), np.sort(perm[cut:])


# --- pretraining ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PretrainOptions:
    """Architecture and optimiser of the pretrained network (and of fine-tuning).

    Attributes
    ----------
    hidden : tuple of int
        Hidden layer widths (ReLU).
    n_members : int
        Independently initialised networks whose outputs are averaged.
    epochs, patience : int
        Maximum epochs and early-stopping patience (10 % of the rows held out).
    l2 : float
        Weight decay of the pretraining.
    learning_rate : float
        Adam step.
    finetune_l2, finetune_epochs, finetune_learning_rate
        Fine-tuning: pull towards the pretrained weights, epochs over the target points, step.
    """

    hidden: tuple[int, ...] = (512, 128)
    n_members: int = 2
    epochs: int = 150
    patience: int = 25
    l2: float = 3e-3
    learning_rate: float = 1e-3
    finetune_l2: float = 1e-1
    finetune_epochs: int = 100
    finetune_learning_rate: float = 3e-4


@dataclass(frozen=True, kw_only=True)
class PretrainedNet:
    """Pretrained multi-task networks (an ensemble) and the log flags of their tasks."""

    members: tuple[_mlp.MLPWeights, ...]
    log_tasks: tuple[bool, ...]

    def outputs(self, X) -> np.ndarray:
        """Predicted source properties in the learning scale (log for positive tasks)."""
        return np.mean([m.predict(X) for m in self.members], axis=0)

    def predict(self, X) -> np.ndarray:
        """Predicted source properties in their original units, shape ``(n, n_tasks)``."""
        out = self.outputs(X)
        return np.where(np.asarray(self.log_tasks), np.exp(out), out)

    def hidden(self, X) -> np.ndarray:
        """Last hidden layers of all members, side by side."""
        return np.hstack([m.hidden(X) for m in self.members])


def _log_positive(Y: np.ndarray) -> tuple[np.ndarray, tuple[bool, ...]]:
    flags = tuple(bool(np.all(c[np.isfinite(c)] > 0)) for c in Y.T)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(np.asarray(flags), np.log(np.where(Y > 0, Y, np.nan)), Y)
    return out, flags


def pretrain(
    X, Y, *, options: PretrainOptions = PretrainOptions(), rng: np.random.Generator
) -> PretrainedNet:
    """Fit the multi-task network to source properties ``Y`` (NaN = not observed).

    Parameters
    ----------
    X : ndarray, shape (n, d)
        Input features.
    Y : ndarray, shape (n, k)
        Source properties; strictly positive columns are learned as logarithms, all tasks
        standardised and weighted equally over their observed entries.
    options : PretrainOptions
        Architecture and optimiser.
    rng : numpy.random.Generator
        Initialisation, mini-batches and hold-out.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 5)); Y = np.column_stack([X[:, 0], np.exp(X[:, 1])])
    >>> net = pretrain(X, Y, options=PretrainOptions(hidden=(8,), epochs=5), rng=rng)
    >>> net.predict(X[:3]).shape, net.log_tasks
    ((3, 2), (False, True))
    """
    X = np.asarray(X, dtype=float)
    Y = np.asarray(Y, dtype=float).reshape(len(X), -1)
    if len(X) < 10:
        raise InputError(f"pretrain needs at least 10 source rows. Got {len(X)}; add source data.")
    Yl, flags = _log_positive(Y)
    opt = _mlp.TrainOptions(
        epochs=options.epochs,
        learning_rate=options.learning_rate,
        l2=options.l2,
        l2_head=options.l2,
        patience=options.patience,
    )
    members = tuple(
        _mlp.train(X, Yl, hidden=options.hidden, options=opt, rng=rng)
        for _ in range(options.n_members)
    )
    return PretrainedNet(members=members, log_tasks=flags)


# --- learners on few target points ------------------------------------------------------


def _ridge(A, y, tr, te, *, standardize=True):
    steps = [VarianceThreshold(), StandardScaler()] if standardize else [VarianceThreshold()]
    model = make_pipeline(*steps, RidgeCV(alphas=ALPHAS))
    return model.fit(A[tr], y[tr]).predict(A[te])


def _block_ridge(blocks, y, tr, te):
    """Ridge on weighted standardised blocks; weights and penalty by leave-one-out."""
    scaled = []
    for B in blocks:
        keep = VarianceThreshold().fit(B[tr]).get_support()
        sc = StandardScaler().fit(B[tr][:, keep])
        scaled.append(sc.transform(B[:, keep]) / np.sqrt(keep.sum()))
    best = None
    for w in _BLOCK_WEIGHTS:
        Z = np.hstack([wi * S for wi, S in zip(w, scaled)])
        model = RidgeCV(alphas=ALPHAS / 1e3).fit(Z[tr], y[tr])
        if best is None or model.best_score_ > best[0]:
            best = (model.best_score_, model.predict(Z[te]))
    return best[1]


def _finetune(net: PretrainedNet, X, y, tr, te, options: PretrainOptions, rng):
    opt = _mlp.TrainOptions(
        epochs=options.finetune_epochs,
        batch_size=16,
        learning_rate=options.finetune_learning_rate,
        l2=options.finetune_l2,
        l2_head=1e-3,
        validation_fraction=0.0,
    )
    preds = []
    mu, sd = y[tr].mean(), y[tr].std() or 1.0
    for member in net.members:
        H = member.hidden(X)
        head = make_pipeline(VarianceThreshold(), RidgeCV(alphas=ALPHAS)).fit(H[tr], y[tr])
        coef = np.zeros(H.shape[1])
        coef[head[0].get_support()] = head[-1].coef_
        init = _mlp.with_head(member, coef, head[-1].intercept_, mu, sd)
        tuned = _mlp.train(X[tr], y[tr], init=init, new_head=False, options=opt, rng=rng)
        preds.append(tuned.predict(X[te])[:, 0])
    return np.mean(preds, axis=0)


def _scratch_mlp(X, y, tr, te, options: PretrainOptions, rng):
    opt = _mlp.TrainOptions(
        epochs=options.finetune_epochs,
        batch_size=16,
        learning_rate=options.learning_rate,
        l2=options.l2 * 10,
        l2_head=options.l2 * 10,
        validation_fraction=0.0,
    )
    preds = [
        _mlp.train(X[tr], y[tr], hidden=options.hidden, options=opt, rng=rng).predict(X[te])
        for _ in range(options.n_members)
    ]
    return np.mean(preds, axis=0)[:, 0]


def _predict_all(net, X, y, tr, te, *, P, H, options, rng, learners) -> dict[str, np.ndarray]:
    funcs = {
        "scratch": lambda: _ridge(X, y, tr, te),
        "outputs": lambda: _ridge(P, y, tr, te),
        "outputs+x": lambda: _block_ridge([X, P], y, tr, te),
        "frozen": lambda: _ridge(H, y, tr, te, standardize=False),
        "finetune": lambda: _finetune(net, X, y, tr, te, options, rng),
        "scratch_mlp": lambda: _scratch_mlp(X, y, tr, te, options, rng),
        "mean": lambda: np.full(len(te), y[tr].mean()),
    }
    return {k: funcs[k]() for k in learners}


def _check_learners(learners) -> tuple[str, ...]:
    bad = [k for k in learners if k not in _LEARNERS]
    if bad or "scratch" not in learners:
        raise InputError(
            f"The 'learners' parameter must list names among {', '.join(_LEARNERS)} and "
            f"include 'scratch'. Got {list(learners)!r}."
        )
    return tuple(learners)


# --- results ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class TransferResult:
    """Per-draw test errors of a transfer protocol.

    Attributes
    ----------
    mae, r2 : dict of str to ndarray
        Per draw, for each learner (MAE in the target unit; R² NaN for one-point tests).
    n_train, n_draws : int
        Training points per draw and number of draws.
    split : ndarray of int
        Source/target split of each draw.
    y_true : ndarray
        Test targets of all draws, concatenated; ``draw`` gives the draw of each.
    y_pred : dict of str to ndarray
        Predictions aligned with ``y_true``.
    draw : ndarray of int
        Draw index of each test prediction.
    protocol : str
        ``"A"`` or ``"B"``.
    """

    mae: dict[str, np.ndarray]
    r2: dict[str, np.ndarray]
    n_train: int
    n_draws: int
    split: np.ndarray
    y_true: np.ndarray
    y_pred: dict[str, np.ndarray]
    draw: np.ndarray
    protocol: str = "A"
    notes: dict[str, object] = field(default_factory=dict)

    def best_transfer(self) -> str:
        """The transfer learner with the lowest mean MAE."""
        return min((k for k in _TRANSFER if k in self.mae), key=lambda k: self.mae[k].mean())

    def ratio(self, learner: str, reference: str = "scratch") -> np.ndarray:
        """Per-draw MAE ratio ``learner / reference`` (paired)."""
        return self.mae[learner] / self.mae[reference]

    def summary(self) -> dict[str, object]:
        """Means and spreads of MAE, R², paired ratios to scratch, and the best transfer.

        For one-point test sets (leave-one-out) the MAE mean is the LOO MAE and the R² is
        that of the pooled predictions (``r2_pooled_*``, always given).
        """
        out: dict[str, object] = {"n_draws": self.n_draws, "n_train": self.n_train}
        for k, v in self.mae.items():
            ratio = self.ratio(k)
            out.update(
                {
                    f"mae_{k}": float(v.mean()),
                    f"mae_{k}_std": float(v.std()),
                    f"r2_{k}": float(np.nanmean(self.r2[k]))
                    if np.isfinite(self.r2[k]).any()
                    else float("nan"),
                    f"r2_pooled_{k}": float(r2_score(self.y_true, self.y_pred[k])),
                    f"ratio_{k}": float(ratio.mean()),
                    f"ratio_{k}_std": float(ratio.std()),
                    f"wins_{k}": float((v < self.mae["scratch"]).mean()),
                }
            )
        best = self.best_transfer()
        out.update(
            best_transfer=best,
            mae_transfer=float(self.mae[best].mean()),
            ratio_transfer=float(self.ratio(best).mean()),
            ratio_transfer_std=float(self.ratio(best).std()),
            ratio_of_means=float(self.mae[best].mean() / self.mae["scratch"].mean()),
        )
        return out


def _collect(records, *, n_train, protocol, notes) -> TransferResult:
    names = records[0]["pred"].keys()
    y_true = np.concatenate([r["y"] for r in records])
    y_pred = {k: np.concatenate([r["pred"][k] for r in records]) for k in names}
    one_point = all(len(r["y"]) == 1 for r in records)
    mae = {k: np.array([mean_absolute_error(r["y"], r["pred"][k]) for r in records]) for k in names}
    return TransferResult(
        mae=mae,
        r2={
            k: np.array([np.nan if one_point else r2_score(r["y"], r["pred"][k]) for r in records])
            for k in names
        },
        n_train=n_train,
        n_draws=len(records),
        split=np.array([r["split"] for r in records]),
        y_true=y_true,
        y_pred=y_pred,
        draw=np.concatenate([np.full(len(r["y"]), i) for i, r in enumerate(records)]),
        protocol=protocol,
        notes=notes,
    )


# --- protocols --------------------------------------------------------------------------


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
    learners: Sequence[str] = _LEARNERS,
    rng: np.random.Generator,
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
    """
    learners = _check_learners(learners)
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
            pred = _predict_all(
                net, X, y, tr, te, P=P, H=H, options=options, rng=rng, learners=learners
            )
            records.append({"y": y[te], "pred": pred, "split": s})
    return _collect(
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
    learners: Sequence[str] = _LEARNERS,
    rng: np.random.Generator,
) -> TransferResult:
    """Protocol B: leave-one-out over a small target table (e.g. experimental λ).

    The network is pretrained once on ``(X_source, Y_source)`` (plus ``extra``), which the
    caller keeps disjoint from the target rows; each target row is then predicted by the
    learners trained on all the other target rows.
    """
    learners = _check_learners(learners)
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
        pred = _predict_all(
            net, X, y, tr, te, P=P, H=H, options=options, rng=rng, learners=learners
        )
        records.append({"y": y[te], "pred": pred, "split": 0})
    return _collect(records, n_train=len(X) - 1, protocol="B", notes={})


# --- Tg model alone ---------------------------------------------------------------------


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


# --- report plots -----------------------------------------------------------------------


def plot_report(result: TransferResult, path, *, learner: str | None = None, unit="W/(m K)"):
    """PNG with the paired per-draw MAE (transfer vs scratch) and a parity plot.

    Parameters
    ----------
    result : TransferResult
        Output of :func:`protocol_a` or :func:`protocol_b`.
    path : str or Path
        PNG file to write.
    learner : str, optional
        Transfer learner to show (default: :meth:`TransferResult.best_transfer`).

    Returns
    -------
    pathlib.Path
    """
    import matplotlib

    matplotlib.use("Agg")
    from pathlib import Path

    import matplotlib.pyplot as plt

    learner = learner or result.best_transfer()
    if learner not in result.mae:
        raise InputError(
            f"The 'learner' parameter of plot_report must be one of {sorted(result.mae)}. "
            f"Got {learner!r}."
        )
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.5))
    _paired_panel(ax1, result, learner, unit)
    _parity_panel(ax2, result, learner, unit)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _paired_panel(ax, result, learner, unit):
    a, b = result.mae["scratch"], result.mae[learner]
    if result.protocol == "B":
        ax.hist([a, b], bins=12, label=["scratch", learner])
        ax.set(xlabel=f"LOO absolute error ({unit})", ylabel="polymers")
        ax.legend()
        return
    lim = (0.9 * min(a.min(), b.min()), 1.1 * max(a.max(), b.max()))
    ax.scatter(a, b, c=result.split, cmap="viridis", s=25)
    ax.plot(lim, lim, "k-", lw=0.8)
    ax.plot(lim, [0.9 * v for v in lim], "k--", lw=0.8, label="0.9 x scratch")
    ratio = result.ratio(learner)
    ax.set(
        xlim=lim,
        ylim=lim,
        xlabel=f"scratch MAE ({unit})",
        ylabel=f"{learner} MAE ({unit})",
        title=f"{result.n_draws} draws; ratio {ratio.mean():.3f} ± {ratio.std():.3f}",
    )
    ax.legend(loc="upper left")


def _parity_panel(ax, result, learner, unit):
    for name, marker in (("scratch", "x"), (learner, "o")):
        ax.scatter(result.y_true, result.y_pred[name], s=8, marker=marker, alpha=0.5, label=name)
    lo, hi = result.y_true.min(), result.y_true.max()
    ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
    ax.set(xlabel=f"true ({unit})", ylabel=f"predicted ({unit})", title="test predictions")
    ax.legend()
