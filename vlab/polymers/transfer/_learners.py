"""Learners on a few target points, compared on the same draws (private).

Each takes the rows ``tr`` to train on and returns predictions on the rows ``te``; see
:mod:`vlab.polymers.transfer` for what each learner is.
"""

from __future__ import annotations

import numpy as np
from sklearn.feature_selection import VarianceThreshold
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vlab.errors import InputError
from vlab.polymers import _mlp
from vlab.polymers.transfer.pretrain import PretrainedNet, PretrainOptions

#: Ridge penalties searched by leave-one-out (efficient GCV) for every ridge learner.
ALPHAS = np.logspace(-5, 6, 23)
#: Relative weights (input features, predicted properties) tried by ``outputs+x``.
_BLOCK_WEIGHTS = ((1.0, 0.0), (1.0, 0.5), (1.0, 1.0), (0.5, 1.0), (0.0, 1.0), (1.0, 2.0))
#: Learners that use the pretrained network (``best_transfer`` picks among them).
TRANSFER_LEARNERS = ("outputs", "outputs+x", "frozen", "finetune")
#: Every learner, in report order.
LEARNERS = ("scratch", *TRANSFER_LEARNERS, "scratch_mlp", "mean")


def ridge(A, y, tr, te, *, standardize=True):
    steps = [VarianceThreshold(), StandardScaler()] if standardize else [VarianceThreshold()]
    model = make_pipeline(*steps, RidgeCV(alphas=ALPHAS))
    return model.fit(A[tr], y[tr]).predict(A[te])


def block_ridge(blocks, y, tr, te):
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


def finetune(net: PretrainedNet, X, y, tr, te, options: PretrainOptions, rng):
    members = finetune_members(net, X[tr], y[tr], options, rng)
    return np.mean([m.predict(X[te])[:, 0] for m in members], axis=0)


def finetune_members(net: PretrainedNet, X, y, options: PretrainOptions, rng):
    """Each member with a new head (ridge on its hidden layer), trained on ``(X, y)``."""
    opt = _mlp.TrainOptions(
        epochs=options.finetune_epochs,
        batch_size=16,
        learning_rate=options.finetune_learning_rate,
        l2=options.finetune_l2,
        l2_head=1e-3,
        validation_fraction=0.0,
    )
    tuned = []
    mu, sd = y.mean(), y.std() or 1.0
    for member in net.members:
        H = member.hidden(X)
        head = make_pipeline(VarianceThreshold(), RidgeCV(alphas=ALPHAS)).fit(H, y)
        coef = np.zeros(H.shape[1])
        coef[head[0].get_support()] = head[-1].coef_
        init = _mlp.with_head(member, coef, head[-1].intercept_, mu, sd)
        tuned.append(_mlp.train(X, y, init=init, new_head=False, options=opt, rng=rng))
    return tuned


def scratch_mlp(X, y, tr, te, options: PretrainOptions, rng):
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


def predict_all(net, X, y, tr, te, *, P, H, options, rng, learners) -> dict[str, np.ndarray]:
    funcs = {
        "scratch": lambda: ridge(X, y, tr, te),
        "outputs": lambda: ridge(P, y, tr, te),
        "outputs+x": lambda: block_ridge([X, P], y, tr, te),
        "frozen": lambda: ridge(H, y, tr, te, standardize=False),
        "finetune": lambda: finetune(net, X, y, tr, te, options, rng),
        "scratch_mlp": lambda: scratch_mlp(X, y, tr, te, options, rng),
        "mean": lambda: np.full(len(te), y[tr].mean()),
    }
    return {k: funcs[k]() for k in learners}


def check_learners(learners) -> tuple[str, ...]:
    bad = [k for k in learners if k not in LEARNERS]
    if bad or "scratch" not in learners:
        raise InputError(
            f"The 'learners' parameter must list names among {', '.join(LEARNERS)} and "
            f"include 'scratch'. Got {list(learners)!r}."
        )
    return tuple(learners)
