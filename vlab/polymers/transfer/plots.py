"""Report figure of a transfer protocol: paired per-draw MAE and a parity plot."""

from __future__ import annotations

from vlab.errors import InputError
from vlab.polymers.transfer.results import TransferResult

__all__ = ["plot_report"]


def plot_report(result: TransferResult, path, *, learner: str | None = None, unit="W/(m K)"):
    """PNG with the paired per-draw MAE (transfer vs scratch) and a parity plot.

    Parameters
    ----------
    result : TransferResult
        Output of :func:`~vlab.polymers.transfer.protocol_a` or
        :func:`~vlab.polymers.transfer.protocol_b`.
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
