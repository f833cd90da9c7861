"""Conductance-displacement histograms of break-junction traces (numpy + matplotlib Agg).

Besides the conductance histogram, break-junction experiments show a density map of all
traces in the (displacement, G) plane, each trace shifted so that displacement 0 is where it
breaks: where G last falls through ``align_at`` (0.5 G0 by default, between the single-atom
plateau and the tunnelling regime). On gold the map has a band at 1 G0 ending at 0 (the
single-atom plateau; its length is how far the contact stretches before it breaks, longer
at 4 K where monatomic chains form) and, further left, the thicker contacts at 2-3 G0.

Examples
--------
>>> x = np.linspace(0.0, 4.0, 41)
>>> g = np.where(x < 1.0, 2.0, np.where(x < 3.0, 1.0, 0.0))  # 2 G0, a 1 G0 plateau, a break
>>> rupture_elongation(x, g)
2.95
>>> h = displacement_histogram([x, x + 0.5], [g, g], x_bin=0.5)
>>> h.traces, float(h.x_edges[0]), float(h.x_edges[-1])   # both aligned at their break
(2, -3.0, 1.5)
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from vlab.conductance.histogram import (
    _G_LABEL,
    _conductances,
    _edges,
    _finite,
    _one_stretch,
    _save,
)
from vlab.errors import InputError

__all__ = [
    "BREAK_THRESHOLD",
    "DisplacementHistogram",
    "displacement_histogram",
    "plot_displacement_histogram",
    "rupture_elongation",
    "stretches",
]

#: Conductance through which a trace falls when its last contact breaks, G0 (the alignment
#: point of conductance-displacement histograms).
BREAK_THRESHOLD = 0.5

_G_BINS = 60  # 0.05 G0 on (0, 3); 60 log bins span (1e-5, 10) in 0.1 decades
_MAX_X_BINS = 100_000


@dataclass(frozen=True, eq=False)
class DisplacementHistogram:
    """Snapshots of many traces counted on a (displacement, G) grid.

    Attributes
    ----------
    counts : ndarray of int, shape (n_x, n_g)
        Snapshots per bin.
    x_edges : ndarray, shape (n_x + 1,)
        Displacement bin edges, Å (from the break if ``align_at`` is set, else elongation).
    g_edges : ndarray, shape (n_g + 1,)
        Conductance bin edges, G0 (log-spaced if ``log``).
    traces : int
        Traces counted (those that break, if ``align_at`` is set).
    traces_total : int
        Traces given.
    align_at : float or None
        The break threshold of the alignment, G0, or None (unaligned).
    log : bool
        Whether the G axis is logarithmic.
    """

    counts: np.ndarray
    x_edges: np.ndarray
    g_edges: np.ndarray
    traces: int
    traces_total: int
    align_at: float | None
    log: bool

    @property
    def density(self) -> np.ndarray:
        """Snapshots per bin and counted trace (``counts / traces``; zeros if none)."""
        return self.counts / max(self.traces, 1)


def rupture_elongation(
    elongation: np.ndarray | Sequence[float],
    conductance: np.ndarray | Sequence[float],
    threshold: float = BREAK_THRESHOLD,
) -> float | None:
    """Elongation (Å) at which a trace breaks: where G last falls through ``threshold`` (G0).

    Between the last snapshot at or above the threshold and the next one, G is taken as
    linear. None if the trace never falls through it (it does not break within the trace,
    e.g. a long monatomic chain, or it starts below the threshold and stays there).

    Examples
    --------
    >>> rupture_elongation([0.0, 1.0, 2.0, 3.0], [2.0, 1.0, 0.6, 0.1])  # 0.5 between 2 and 3
    2.2
    >>> rupture_elongation([0.0, 1.0], [2.0, 1.0]) is None   # still in contact
    True
    """
    _check_threshold(threshold, "rupture_elongation")
    x = _finite(elongation, "elongation", "rupture_elongation", "elongations (Å)")
    g = _conductances(conductance, "conductance", "rupture_elongation")
    if x.shape != g.shape:
        raise InputError(
            "rupture_elongation needs elongation and conductance arrays of equal length. Got "
            f"{x.size} elongations and {g.size} conductances."
        )
    _one_stretch(x, "rupture_elongation")
    return _break(x, g, threshold)


def stretches(elongation: np.ndarray | Sequence[float]) -> list[np.ndarray]:
    """Indices of the snapshots of each stretch of a trace, in order: the runs along which
    the elongation does not decrease, of two snapshots or more.

    A trace of one stretch is one run; a trace of several stretch-compress cycles
    (``BreakJunctionProtocol(cycles=...)``) has one run per stretch and the compressions
    between them are left out (each stretch ends at its largest elongation and the next one
    starts at the smallest). Plateau lengths, ruptures and conductance-displacement
    histograms are properties of a stretch, as the opening traces of an experiment.

    Examples
    --------
    >>> [s.tolist() for s in stretches([0.0, 1.0, 2.0, 1.0, 0.0, 1.0, 2.0, 3.0])]
    [[0, 1, 2], [4, 5, 6, 7]]
    """
    x = _finite(elongation, "elongation", "stretches", "elongations (Å)")
    cuts = np.flatnonzero(np.diff(x) < 0) + 1
    return [run for run in np.split(np.arange(x.size), cuts) if run.size > 1]


def _break(x: np.ndarray, g: np.ndarray, threshold: float) -> float | None:
    above = np.flatnonzero(g >= threshold)
    if above.size == 0 or above[-1] == g.size - 1:
        return None
    i = int(above[-1])
    step = (threshold - g[i]) / (g[i + 1] - g[i])
    return round(float(x[i] + (x[i + 1] - x[i]) * step), 9)


def _check_threshold(threshold: object, caller: str) -> None:
    ok = isinstance(threshold, (int, float, np.integer, np.floating)) and not isinstance(
        threshold, bool
    )
    if not (ok and math.isfinite(threshold) and threshold > 0):  # type: ignore[arg-type]
        raise InputError(
            f"The break threshold of {caller} must be a conductance > 0 G0 (the default is "
            f"{BREAK_THRESHOLD:g}). Got {threshold!r}."
        )


def _traces(elongations, conductances, caller: str) -> list[tuple[np.ndarray, np.ndarray]]:
    if not isinstance(elongations, (Sequence, np.ndarray)):  # e.g. a generator
        elongations = list(elongations)
    if not isinstance(conductances, (Sequence, np.ndarray)):
        conductances = list(conductances)
    if len(elongations) and np.ndim(elongations[0]) == 0:  # one trace, not a list of traces
        elongations, conductances = [elongations], [conductances]
    if len(elongations) != len(conductances):
        raise InputError(
            f"{caller} needs one elongation array per conductance array. Got "
            f"{len(elongations)} elongation and {len(conductances)} conductance arrays."
        )
    if len(elongations) == 0:
        raise InputError(f"{caller} needs at least one trace. Got none.")
    out = []
    for k, (x, g) in enumerate(zip(elongations, conductances)):
        x = _finite(x, f"elongations[{k}]", caller, "elongations (Å)")
        g = _conductances(g, f"conductances[{k}]", caller)
        if x.shape != g.shape:
            raise InputError(
                f"Trace {k} of {caller} has {x.size} elongations and {g.size} conductances; "
                "each snapshot needs both."
            )
        out.append((x, g))
    return out


def _shifted(traces, align_at: float | None) -> list[np.ndarray | None]:
    """Each trace's displacement axis (elongation minus its break), None if it never breaks."""
    if align_at is None:
        return [x for x, _ in traces]
    shifted: list[np.ndarray | None] = []
    for x, g in traces:
        at = _break(x, g, align_at)
        shifted.append(None if at is None else x - at)
    return shifted


def _x_edges(shifted, x_bin: float, x_range, caller: str) -> np.ndarray:
    number = isinstance(x_bin, (int, float, np.integer, np.floating)) and not isinstance(
        x_bin, bool
    )
    if not (number and math.isfinite(x_bin) and x_bin > 0):
        raise InputError(
            f"The 'x_bin' parameter of {caller} must be a length > 0 Å. Got {x_bin!r}."
        )
    if x_range is not None:
        try:
            lo, hi = (float(v) for v in x_range)
        except (TypeError, ValueError):
            lo, hi = math.nan, math.nan
        if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
            raise InputError(
                f"The 'x_range' parameter of {caller} must be (low, high) in Å with low < high. "
                f"Got {x_range!r}."
            )
    else:
        used = [x for x in shifted if x is not None]
        if not used:
            return np.array([-x_bin, 0.0, x_bin])
        lo = math.floor(min(float(x.min()) for x in used) / x_bin) * x_bin
        hi = math.ceil(max(float(x.max()) for x in used) / x_bin) * x_bin
        hi = max(hi, lo + x_bin)
    n = max(1, round((hi - lo) / x_bin))
    if n > _MAX_X_BINS:
        raise InputError(
            f"The 'x_bin' parameter of {caller} makes {n:,} displacement bins over "
            f"{hi - lo:g} Å (at most {_MAX_X_BINS:,}). Got {x_bin!r} Å; use wider bins."
        )
    return np.linspace(lo, lo + n * x_bin, n + 1)


def _g_edges(g_bins: object, g_range: object, log: bool, caller: str) -> np.ndarray:
    if isinstance(g_bins, bool) or not isinstance(g_bins, (int, np.integer)) or g_bins < 1:
        raise InputError(
            f"The 'g_bins' parameter of {caller} must be an integer >= 1. Got {g_bins!r}."
        )
    try:
        return _edges(g_bins, g_range, log, caller)
    except InputError:
        rule = "0 < low < high on a log axis" if log else "low < high"
        raise InputError(
            f"The 'g_range' parameter of {caller} must be (low, high) in G0 with {rule}. "
            f"Got {g_range!r}."
        ) from None


def _histogram(traces, shifted, x_edges, g_edges, align_at, log) -> DisplacementHistogram:
    used = [(s, g) for s, (_, g) in zip(shifted, traces) if s is not None]
    counts = np.zeros((len(x_edges) - 1, len(g_edges) - 1), dtype=np.int64)
    for s, g in used:
        keep = g > 0 if log else np.ones(g.size, dtype=bool)
        counts += np.histogram2d(s[keep], g[keep], bins=(x_edges, g_edges))[0].astype(np.int64)
    return DisplacementHistogram(
        counts=counts,
        x_edges=x_edges,
        g_edges=g_edges,
        traces=len(used),
        traces_total=len(traces),
        align_at=align_at,
        log=log,
    )


def displacement_histogram(
    elongations: Sequence[np.ndarray] | np.ndarray,
    conductances: Sequence[np.ndarray] | np.ndarray,
    *,
    align_at: float | None = BREAK_THRESHOLD,
    x_bin: float = 0.25,
    x_range: tuple[float, float] | None = None,
    g_bins: int = _G_BINS,
    g_range: tuple[float, float] | None = None,
    log: bool = False,
) -> DisplacementHistogram:
    """Conductance-displacement histogram of break-junction traces.

    Parameters
    ----------
    elongations, conductances : sequence of 1-D arrays
        Elongation (Å) and conductance (G0) of each trace's snapshots, in order.
    align_at : float or None
        Shift each trace so that 0 is where G last falls through this conductance (G0,
        :func:`rupture_elongation`); traces that never do are left out. None: elongation as
        it is, every trace counted.
    x_bin : float
        Width of the displacement bins, Å (> 0).
    x_range : (float, float), optional
        Displacement range, Å; default: all counted snapshots, in whole bins.
    g_bins : int
        Number of conductance bins (>= 1).
    g_range : (float, float), optional
        Conductance range, G0; default (0, 3), or (1e-5, 10) if ``log``.
    log : bool
        Logarithmically spaced conductance bins (snapshots with G <= 0 are not counted).

    Returns
    -------
    DisplacementHistogram
    """
    caller = "displacement_histogram"
    if align_at is not None:
        _check_threshold(align_at, caller)
    traces = _traces(elongations, conductances, caller)
    shifted = _shifted(traces, align_at)
    x_edges = _x_edges(shifted, x_bin, x_range, caller)
    g_edges = _g_edges(g_bins, g_range, log, caller)
    return _histogram(traces, shifted, x_edges, g_edges, align_at, log)


def plot_displacement_histogram(
    elongations: Sequence[np.ndarray] | np.ndarray,
    conductances: Sequence[np.ndarray] | np.ndarray,
    path: str | os.PathLike[str],
    *,
    labels: Sequence[str] | None = None,
    align_at: float | None = BREAK_THRESHOLD,
    x_bin: float = 0.25,
    log: bool = False,
    title: str | None = None,
    noun: str = "traces",
) -> Path:
    """Write a PNG of the conductance-displacement histogram, one panel per label.

    Parameters
    ----------
    elongations, conductances, align_at, x_bin, log
        As for :func:`displacement_histogram`.
    path : str or os.PathLike
        Output PNG file (its folder must exist).
    labels : sequence of str, optional
        A label per trace (e.g. its temperature): one panel per label, on the same axes and
        colour scale (in a row up to three panels, else two per row). Without labels, one
        panel.
    title : str, optional
        Figure title.
    noun : str
        What the curves are, in the panel titles ("2 of 3 traces"; e.g. "stretches").

    Examples
    --------
    >>> import tempfile, pathlib
    >>> x = np.linspace(0.0, 4.0, 41)
    >>> g = np.where(x < 3.0, 1.0, 1e-3)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     out = plot_displacement_histogram([x], [g], pathlib.Path(folder) / "2d.png")
    ...     out.suffix
    '.png'
    """
    caller = "plot_displacement_histogram"
    if align_at is not None:
        _check_threshold(align_at, caller)
    traces = _traces(elongations, conductances, caller)
    if labels is not None and len(labels) != len(traces):
        raise InputError(
            f"{caller} needs one label per trace. Got {len(labels)} labels for "
            f"{len(traces)} traces."
        )
    names = [str(label) for label in labels] if labels is not None else [""] * len(traces)
    shifted = _shifted(traces, align_at)
    x_edges = _x_edges(shifted, x_bin, None, caller)
    g_edges = _edges(_G_BINS, None, log, caller)
    panels = {}
    for name in dict.fromkeys(names):
        rows = [k for k, n in enumerate(names) if n == name]
        panels[name] = _histogram(
            [traces[k] for k in rows], [shifted[k] for k in rows], x_edges, g_edges, align_at, log
        )
    filled = np.concatenate([h.density[h.counts > 0] for h in panels.values()])
    # the few bins just after the break (every trace passes there) would wash out the rest
    top = float(np.percentile(filled, 99)) if filled.size else 1.0
    columns = len(panels) if len(panels) <= 3 else 2
    rows = math.ceil(len(panels) / columns)
    fig = Figure(figsize=(4.2 * columns + 1.0, 3.6 * rows + 0.4), layout="constrained")
    grid = fig.subplots(rows, columns, sharex=True, sharey=True, squeeze=False)
    axes = grid.ravel()[: len(panels)]
    for spare in grid.ravel()[len(panels) :]:
        spare.set_visible(False)
    mesh = None
    for i, (ax, (name, h)) in enumerate(zip(axes, panels.items())):
        shown = np.ma.masked_equal(h.density.T, 0.0)
        mesh = ax.pcolormesh(h.x_edges, h.g_edges, shown, cmap="viridis", vmin=0.0, vmax=top)
        ax.axhline(1.0, color="tab:red", linestyle="--", lw=0.8, alpha=0.7)
        if align_at is not None:
            ax.axvline(0.0, color="0.4", linestyle=":", lw=1.0)
        counted = f"{h.traces} of {h.traces_total} {noun}"
        if align_at is None:
            counted = f"{h.traces} {noun}"
        ax.set_title(f"{name}: {counted}" if name else counted, fontsize="medium")
        if align_at is not None and h.traces == 0:
            ax.text(
                0.5,
                0.5,
                f"no trace falls\nthrough {align_at:g} G0",
                transform=ax.transAxes,
                ha="center",
                va="center",
            )
        ax.set_yscale("log" if log else "linear")
        if i + columns >= len(panels):  # the lowest panel of its column
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xlabel(
                f"Displacement from the break (Å; 0: G falls through {align_at:g} G0)"
                if align_at is not None
                else "Elongation (Å)",
                fontsize="small",
            )
        if i % columns == 0:
            ax.set_ylabel(_G_LABEL)
    fig.colorbar(mesh, ax=list(axes), label="Snapshots per trace and bin", extend="max")
    fig.suptitle(title or "Conductance-displacement histogram")
    return _save(fig, path, caller)
