"""Per-draw test errors of a transfer protocol and their summary."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.metrics import mean_absolute_error, r2_score

from vlab.polymers.transfer._learners import TRANSFER_LEARNERS

__all__ = ["TransferResult"]


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
        return min(
            (k for k in TRANSFER_LEARNERS if k in self.mae), key=lambda k: self.mae[k].mean()
        )

    def ratio(self, learner: str, reference: str = "scratch") -> np.ndarray:
        """Per-draw MAE ratio ``learner / reference`` (paired)."""
        return self.mae[learner] / self.mae[reference]

    def summary(self) -> dict[str, object]:
        """Means and spreads of MAE, R², paired ratios to scratch, and the best transfer.

        For one-point test sets (leave-one-out) the MAE mean is the LOO MAE and the R² is
        that of the pooled predictions (``r2_pooled_*``, always given). Their ratios
        (``ratio_*``) are then ratios of the LOO MAEs, without a spread (NaN): the ratio of
        two single absolute errors says nothing, and their mean is dominated by the points
        that scratch happens to predict almost exactly.
        """
        out: dict[str, object] = {"n_draws": self.n_draws, "n_train": self.n_train}
        paired = len(self.y_true) > self.n_draws  # test sets of more than one point
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
                    f"ratio_{k}": float(ratio.mean() if paired else self._of_means(k)),
                    f"ratio_{k}_std": float(ratio.std() if paired else np.nan),
                    f"wins_{k}": float((v < self.mae["scratch"]).mean()),
                }
            )
        best = self.best_transfer()
        out.update(
            best_transfer=best,
            mae_transfer=float(self.mae[best].mean()),
            ratio_transfer=out[f"ratio_{best}"],
            ratio_transfer_std=out[f"ratio_{best}_std"],
            ratio_of_means=self._of_means(best),
        )
        return out

    def _of_means(self, learner: str) -> float:
        return float(self.mae[learner].mean() / self.mae["scratch"].mean())


def collect(records, *, n_train, protocol, notes) -> TransferResult:
    """The :class:`TransferResult` of per-draw records ``{"y", "pred", "split"}``."""
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
