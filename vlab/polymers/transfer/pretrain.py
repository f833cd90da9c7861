"""Multi-task pretraining on source properties: an ensemble of small numpy networks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vlab.errors import InputError
from vlab.polymers import _mlp

__all__ = ["PretrainOptions", "PretrainedNet", "pretrain"]


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

    def member_predictions(self, X) -> np.ndarray:
        """Each member's predictions in original units, shape ``(n_members, n, n_tasks)``."""
        flags = np.asarray(self.log_tasks)
        return np.stack(
            [np.where(flags, np.exp(out), out) for out in (m.predict(X) for m in self.members)]
        )

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
