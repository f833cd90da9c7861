"""Conductance histograms and trace plots of break-junction data (numpy + matplotlib Agg).

Conductances are in units of the conductance quantum G0 = 2e²/h ≈ 77.48 µS. Experiments
on gold show a sharp histogram peak just below 1 G0 (single-atom contacts), weaker
features near 2 and 3 G0, and a tunnelling tail towards small G after rupture.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> G = np.concatenate([rng.normal(0.97, 0.04, 500), 10 ** rng.uniform(-5, -0.5, 800)])
>>> counts, edges = conductance_histogram(G, bins=30, range=(0.0, 3.0))
>>> counts.shape, edges[:3]
((30,), array([0. , 0.1, 0.2]))
>>> round(histogram_peak(G), 2)
0.97
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from vlab.errors import InputError

__all__ = [
    "EXPERIMENT_WINDOW",
    "PLATEAU_WINDOW",
    "ConditionalResiduals",
    "conductance_histogram",
    "histogram_peak",
    "plateau_length",
    "plot_histogram",
    "plot_histogram_comparison",
    "plot_plateau_lengths",
    "plot_traces",
]

#: Window of the experimental main peak of gold break junctions, G0 (just below 1 G0).
EXPERIMENT_WINDOW = (0.8, 1.1)

_LINEAR_RANGE = (0.0, 3.0)
_LOG_RANGE = (1e-5, 10.0)
_G_LABEL = "Conductance G (G0 = 2e²/h)"
_TAIL = 0.2  # G0; below: the tunnelling tail, left off the linear comparison's y scale


def _flatten(G: object, caller: str) -> np.ndarray:
    """Concatenate an array or a sequence of per-trace arrays into one finite 1-D array."""
    if isinstance(G, np.ndarray):
        values = G.astype(float, copy=False).ravel()
    else:
        try:
            values = np.concatenate([np.ravel(np.asarray(g, dtype=float)) for g in G])  # type: ignore[union-attr]
        except (TypeError, ValueError):
            raise InputError(
                f"The 'G' parameter of {caller} must be an array of conductances in G0, or a "
                f"sequence of such arrays (one per trace). Got {type(G).__name__}."
            ) from None
    if not np.isfinite(values).all() or (values < -1e-6).any():
        raise InputError(
            f"The 'G' parameter of {caller} must hold finite conductances >= 0 G0; got "
            f"{int((~np.isfinite(values)).sum())} non-finite and {int((values < -1e-6).sum())} "
            "negative values. Remove or fix them first."
        )
    return np.clip(values, 0.0, None)


def _edges(bins: int | None, range: tuple[float, float] | None, log: bool, caller: str):
    lo, hi = (_LOG_RANGE if log else _LINEAR_RANGE) if range is None else range
    nbins = (100 if log else 150) if bins is None else bins
    if isinstance(nbins, bool) or not isinstance(nbins, (int, np.integer)) or nbins < 1:
        raise InputError(f"The 'bins' parameter of {caller} must be an integer >= 1. Got {bins!r}.")
    if not (np.isfinite([lo, hi]).all() and hi > lo and (lo > 0 or not log)):
        rule = "0 < low < high" if log else "low < high"
        raise InputError(
            f"The 'range' parameter of {caller} must be (low, high) in G0 with {rule}"
            f"{' on a log axis' if log else ''}. Got {range!r}."
        )
    if log:
        return np.logspace(np.log10(lo), np.log10(hi), nbins + 1)
    return np.linspace(lo, hi, nbins + 1)


def conductance_histogram(
    G: np.ndarray | Sequence[np.ndarray],
    *,
    bins: int | None = None,
    range: tuple[float, float] | None = None,
    log: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of conductances, on a linear or a logarithmic G axis.

    Parameters
    ----------
    G : array_like or sequence of array_like
        Conductances in G0 (all traces pooled; ragged per-trace arrays are accepted).
    bins : int, optional
        Number of bins; default 150 (0.02 G0 wide on the default linear range) or 100 on a
        log axis.
    range : (float, float), optional
        Histogram range in G0; default (0, 3), or (1e-5, 10) if ``log``.
    log : bool
        Logarithmically spaced bins (for the tunnelling tail).

    Returns
    -------
    counts : ndarray of int, shape (bins,)
    edges : ndarray, shape (bins + 1,)
        Bin edges in G0.

    Examples
    --------
    >>> counts, edges = conductance_histogram([0.5, 1.0, 1.01, 2.0], bins=3, range=(0, 3))
    >>> counts.tolist()
    [1, 2, 1]
    >>> conductance_histogram([1e-3, 0.9], bins=2, range=(1e-4, 1.0), log=True)[1].tolist()
    [0.0001, 0.01, 1.0]
    """
    values = _flatten(G, "conductance_histogram")
    edges = _edges(bins, range, log, "conductance_histogram")
    counts, _ = np.histogram(values, bins=edges)
    return counts, edges


MAX_PEAK_BINS = 100_000
"""Most bins :func:`histogram_peak` makes (a bin width of 3e-5 G0 over 0.3-3 G0)."""


def histogram_peak(
    G: np.ndarray | Sequence[np.ndarray],
    *,
    threshold: float = 0.3,
    upper: float = 3.0,
    bin_width: float = 0.02,
    smooth: int = 3,
) -> float:
    """Position in G0 of the main conductance-histogram peak above the tunnelling tail.

    Values below ``threshold`` (the tunnelling tail, which dominates the raw counts) and above
    ``upper`` are ignored; the rest is histogrammed with bins of ``bin_width`` G0, smoothed with
    a moving average over ``smooth`` bins, and the most populated bin is refined by a
    parabola through it and its two neighbours.

    Parameters
    ----------
    G : array_like or sequence of array_like
        Conductances in G0.
    threshold, upper : float
        Window of conductances considered, G0.
    bin_width : float
        Histogram bin width, G0.
    smooth : int
        Width of the moving average, bins (1 = none).

    Returns
    -------
    float
        Peak position, G0.

    Raises
    ------
    InputError
        If no value falls inside the window, or the window or bins are invalid.

    Examples
    --------
    >>> histogram_peak([0.01, 0.02, 0.95, 0.96, 0.97, 1.9], bin_width=0.05, smooth=1)
    0.975
    """
    values = _flatten(G, "histogram_peak")
    if not (0 <= threshold < upper) or not (0 < bin_width < upper - threshold):
        raise InputError(
            "histogram_peak needs 0 <= threshold < upper and 0 < bin_width < upper - threshold "
            f"(G0). Got threshold={threshold!r}, upper={upper!r}, bin_width={bin_width!r}."
        )
    nbins = max(1, int(np.ceil((upper - threshold) / bin_width)))
    if nbins > MAX_PEAK_BINS:
        raise InputError(
            f"histogram_peak: bin_width={bin_width!r} G0 makes {nbins:,} bins between "
            f"{threshold} and {upper} G0; at most {MAX_PEAK_BINS:,} (MAX_PEAK_BINS). Give a "
            "wider bin_width."
        )
    if (
        isinstance(smooth, bool)
        or not isinstance(smooth, (int, np.integer))
        or not (1 <= smooth <= max(1, nbins // 2))
    ):
        raise InputError(
            f"histogram_peak: smooth is the width of the moving average in bins, an integer "
            f"from 1 (none) to {max(1, nbins // 2)} (half of the {nbins} bins). Got {smooth!r}."
        )
    window = values[(values >= threshold) & (values <= upper)]
    if window.size == 0:
        raise InputError(
            f"histogram_peak found no conductance between threshold={threshold} and "
            f"upper={upper} G0 among {values.size} values; lower the threshold or check G."
        )
    counts, edges = np.histogram(
        window, bins=nbins, range=(threshold, threshold + nbins * bin_width)
    )
    if smooth > 1:
        counts = np.convolve(counts, np.ones(smooth) / smooth, mode="same")
    i = int(np.argmax(counts))
    centre = 0.5 * (edges[i] + edges[i + 1])
    if 0 < i < len(counts) - 1:
        left, mid, right = counts[i - 1 : i + 2]
        curvature = left - 2 * mid + right
        if curvature < 0:
            centre += 0.5 * bin_width * (left - right) / curvature
    return float(centre)


def _save(fig: Figure, path: str | os.PathLike[str], caller: str) -> Path:
    out = Path(path)
    if out.suffix.lower() != ".png":
        raise InputError(
            f"The 'path' parameter of {caller} must be a .png file (the figure is a PNG). "
            f"Got {str(out)!r}."
        )
    if not out.parent.is_dir():
        raise InputError(
            f"The 'path' parameter of {caller} must be in an existing folder. Got {str(out)!r}; "
            "create the folder first."
        )
    fig.savefig(out, dpi=120, format="png")
    return out


def _outside_note(G: np.ndarray, edges: np.ndarray) -> str:
    """Text saying which share of ``G`` lies outside the histogram's edges ("" if none)."""
    below, above = int(np.less(G, edges[0]).sum()), int(np.greater(G, edges[-1]).sum())
    parts = [
        f"{n} ({n / G.size:.0%}) {side} {edge:g} G0"
        for n, side, edge in ((below, "below", edges[0]), (above, "above", edges[-1]))
        if n
    ]
    return f"not shown: {' and '.join(parts)}" if parts else ""


def _annotate_outside(ax, G: np.ndarray, edges: np.ndarray) -> None:
    """Say under the x axis how many of ``G`` lie outside the drawn range (never over bars)."""
    note = _outside_note(G, edges)
    if note:
        ax.set_xlabel(f"{ax.get_xlabel()}\n({note})")


def plot_histogram(
    G: np.ndarray | Sequence[np.ndarray],
    path: str | os.PathLike[str],
    *,
    bins: int | None = None,
    range: tuple[float, float] | None = None,
    log: bool = False,
    title: str | None = None,
) -> Path:
    """Write a PNG of the conductance histogram, with the experimental 1 G0 peak marked.

    Conductances outside the histogram's range are not drawn; the figure says how many.

    Parameters
    ----------
    G : array_like or sequence of array_like
        Conductances in G0.
    path : str or os.PathLike
        Output PNG file (its folder must exist).
    bins, range, log
        As in :func:`conductance_histogram`.
    title : str, optional
        Figure title.

    Returns
    -------
    pathlib.Path
        The written file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     out = plot_histogram([0.9, 1.0, 1.1], pathlib.Path(folder) / "h.png")
    ...     out.stat().st_size > 0
    True
    """
    counts, edges = conductance_histogram(G, bins=bins, range=range, log=log)
    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    ax.stairs(
        counts,
        edges,
        fill=True,
        color="tab:blue",
        alpha=0.7,
        label=f"{counts.sum():,} conductances",
    )
    ax.axvline(1.0, color="tab:red", linestyle="--", label="1 G0 (experimental peak)")
    ax.set_xscale("log" if log else "linear")
    ax.set_xlabel(_G_LABEL)
    ax.set_ylabel("Counts (snapshots per bin)")
    ax.set_title(title or "Conductance histogram")
    ax.legend()
    _annotate_outside(ax, _flatten(G, "plot_histogram"), edges)
    return _save(fig, path, "plot_histogram")


def _check_samples(samples: object) -> dict[str, np.ndarray]:
    caller = "plot_histogram_comparison"
    if not isinstance(samples, Mapping) or not 1 <= len(samples) <= 4:
        raise InputError(
            f"The 'samples' parameter of {caller} must be a mapping of 1 to 4 labels to "
            f"conductance arrays (G0). Got {type(samples).__name__}"
            f"{f' with {len(samples)} entries' if isinstance(samples, Mapping) else ''}."
        )
    out = {str(label): _flatten(G, caller) for label, G in samples.items()}
    empty = [label for label, G in out.items() if G.size == 0]
    if empty:
        raise InputError(f"{caller} got no conductances for {empty}; every sample needs values.")
    return out


def _draw_window(ax, window: tuple[float, float]) -> None:
    ax.axvspan(*window, color="0.85", zorder=0, label=f"experiment: {window[0]:g}-{window[1]:g} G0")
    ax.axvline(1.0, color="k", lw=0.8, ls=":", zorder=0)


def plot_histogram_comparison(
    samples: Mapping[str, np.ndarray | Sequence[np.ndarray]],
    path: str | os.PathLike[str],
    *,
    peaks: Mapping[str, float | None] | None = None,
    window: tuple[float, float] = EXPERIMENT_WINDOW,
    bins: int | None = None,
    title: str | None = None,
) -> Path:
    """Write a PNG comparing conductance histograms: linear (left) and log (right) G axes.

    Each sample is normalised to a probability density (per G0 on the linear axis, per decade
    on the log axis), so samples of different sizes (e.g. a surrogate on every snapshot and a
    reference on a subset) compare directly. The experimental peak window is shaded and 1 G0
    dotted; each sample's main peak is marked by a dashed line of its colour. The linear panel
    covers 0-3 G0 and says which share of the first sample lies outside it. The linear
    panel's y axis is scaled to the histogram above 0.2 G0 (the tunnelling tail's first bins,
    which hold most snapshots, go off scale; the log panel shows them).

    Parameters
    ----------
    samples : mapping of str to array_like
        Label (legend text) -> conductances in G0 (1 to 4 samples; the first is filled).
    path : str or os.PathLike
        Output PNG file (its folder must exist).
    peaks : mapping of str to float, optional
        Peak positions in G0 by label; default :func:`histogram_peak` of each sample (None or
        a missing label: no marker).
    window : (float, float)
        Experimental peak window, G0; default (0.8, 1.1).
    bins : int, optional
        Bins of the linear panel (default 150 over 0-3 G0); the log panel has 10 per decade.
    title : str, optional
        Figure title.

    Returns
    -------
    pathlib.Path
        The written file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(0.95, 0.05, 300), rng.normal(0.97, 0.05, 100)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     out = plot_histogram_comparison({"model": a, "reference": b},
    ...                                     pathlib.Path(folder) / "c.png")
    ...     out.suffix
    '.png'
    """
    values = _check_samples(samples)
    lo, hi = (float(w) for w in window)
    if not (np.isfinite([lo, hi]).all() and 0 <= lo < hi):
        raise InputError(
            f"The 'window' parameter of plot_histogram_comparison must be (low, high) in G0 "
            f"with 0 <= low < high. Got {window!r}."
        )
    if peaks is None:
        peaks = {label: _peak_or_none(G) for label, G in values.items()}
    fig = Figure(figsize=(10.0, 4.0), layout="constrained")
    lin, log = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    _draw_window(lin, (lo, hi))
    top = 0.0  # highest density above the tunnelling tail (the tail bins go off scale)
    for k, (label, G) in enumerate(values.items()):
        color = f"C{k}"
        for ax, is_log in ((lin, False), (log, True)):
            counts, edges = conductance_histogram(G, bins=None if is_log else bins, log=is_log)
            widths = np.diff(np.log10(edges)) if is_log else np.diff(edges)
            density = counts / (G.size * widths)
            style = {"fill": True, "alpha": 0.45} if k == 0 else {"linewidth": 1.6}
            ax.stairs(density, edges, color=color, label=label if is_log else None, **style)
            if not is_log:
                top = max(top, float(density[edges[:-1] >= _TAIL].max(initial=0.0)))
        peak = peaks.get(label)
        if peak is not None:
            short = label.split(",")[0]
            lin.axvline(peak, color=color, ls="--", lw=1.2, label=f"{short} peak {peak:.3f} G0")
    lin.set(xlabel=_G_LABEL, ylabel="Probability density (1/G0)", xlim=(0, 3))
    edges = conductance_histogram(next(iter(values.values())), bins=bins)[1]
    outside = {
        label.split(",")[0]: float(np.mean(np.less(G, edges[0]) | np.greater(G, edges[-1])))
        for label, G in values.items()
    }
    if any(outside.values()):  # under the axis, never over the bars
        shares = ", ".join(f"{label} {share:.0%}" for label, share in outside.items())
        note = f"outside {edges[0]:g}-{edges[-1]:g} G0, not drawn: {shares}"
        lin.set_xlabel(f"{_G_LABEL}\n" + textwrap.fill(note, 70), fontsize="small")
    if top > 0:
        lin.set_ylim(0, 1.3 * top)
    log.set(xscale="log", xlabel=_G_LABEL, ylabel="Probability density (per decade)")
    log.axvline(1.0, color="k", lw=0.8, ls=":")
    lin.legend(fontsize=8)
    log.legend(fontsize=8, loc="upper left")
    fig.suptitle(title or "Conductance histograms")
    return _save(fig, path, "plot_histogram_comparison")


def _peak_or_none(G: np.ndarray) -> float | None:
    try:
        return histogram_peak(G)
    except InputError:  # nothing above the tunnelling tail
        return None


def plot_traces(
    elongations: np.ndarray | Sequence[np.ndarray],
    conductances: np.ndarray | Sequence[np.ndarray],
    path: str | os.PathLike[str],
    *,
    log: bool = False,
    offset: float = 0.0,
    title: str | None = None,
    labels: Sequence[str] | None = None,
) -> Path:
    """Write a PNG of conductance traces G(elongation), with 1 G0 marked.

    Parameters
    ----------
    elongations, conductances : sequence of 1-D arrays, or 2-D arrays (one row per trace)
        Elongation in Å and conductance in G0 of each trace; paired rows must have equal length.
    path : str or os.PathLike
        Output PNG file (its folder must exist).
    log : bool
        Logarithmic conductance axis (non-positive values are masked).
    offset : float
        Horizontal shift between successive traces, Å (as in experimental papers).
    title : str, optional
        Figure title.
    labels : sequence of str, optional
        A label per trace (e.g. its temperature): traces of one label share a colour and a
        legend entry. Without labels each trace has its own colour.

    Returns
    -------
    pathlib.Path
        The written file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> x = np.linspace(0, 2, 21)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     out = plot_traces([x], [np.exp(-x)], pathlib.Path(folder) / "t.png", log=True)
    ...     out.suffix
    '.png'
    """
    if len(elongations) != len(conductances):
        raise InputError(
            "plot_traces needs one elongation array per conductance array. Got "
            f"{len(elongations)} elongation and {len(conductances)} conductance arrays."
        )
    if labels is not None and len(labels) != len(conductances):
        raise InputError(
            f"plot_traces needs one label per trace. Got {len(labels)} labels for "
            f"{len(conductances)} traces."
        )
    names = [str(label) for label in labels or []]
    colours = {label: f"C{i % 10}" for i, label in enumerate(dict.fromkeys(names))}
    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    for k, (x, g) in enumerate(zip(elongations, conductances)):
        x, g = np.asarray(x, dtype=float), np.asarray(g, dtype=float)
        if x.shape != g.shape or x.ndim != 1:
            raise InputError(
                f"Trace {k} of plot_traces must have 1-D elongation and conductance arrays of "
                f"equal length. Got shapes {x.shape} and {g.shape}."
            )
        style = {}
        if labels is not None:  # one colour per label, each label once in the legend
            label = names[k]
            style = {"color": colours[label], "label": None if label in names[:k] else label}
        ax.plot(x + k * offset, np.where(g > 0, g, np.nan) if log else g, lw=1.0, **style)
    ax.axhline(1.0, color="tab:red", linestyle="--", label="1 G0")
    ax.set_yscale("log" if log else "linear")
    ax.set_xlabel("Elongation (Å)" + (f", traces offset by {offset:g} Å" if offset else ""))
    ax.set_ylabel(_G_LABEL)
    ax.set_title(title or "Conductance traces")
    ax.legend()
    return _save(fig, path, "plot_traces")


# --------------------------------------------------------------------------- plateau lengths
#: Conductance window of the single-atom plateau for plateau lengths, G0.
PLATEAU_WINDOW = (0.8, 1.2)


def _crossing(x0: float, g0: float, x1: float, g1: float, window) -> float:
    """Where G, linear between (x0, g0) outside the window and (x1, g1) inside, crosses the
    window's bound on g0's side."""
    bound = window[1] if g0 > window[1] else window[0]
    return x0 + (x1 - x0) * (bound - g0) / (g1 - g0)


def _one_stretch(x: np.ndarray, caller: str) -> None:
    """Refuse an elongation that decreases: the functions of one stretch would measure
    lengths across a compression."""
    back = np.flatnonzero(np.diff(x) < 0)
    if back.size:
        k = int(back[0])
        raise InputError(
            f"{caller} measures one stretch: the elongation must not decrease, but it goes from "
            f"{x[k]:g} to {x[k + 1]:g} Å at snapshot {k + 1}. Split a trace with compressions "
            "into its stretches first (vlab.conductance.stretches)."
        )


def plateau_length(
    elongation: np.ndarray | Sequence[float],
    conductance: np.ndarray | Sequence[float],
    window: tuple[float, float] = PLATEAU_WINDOW,
) -> float:
    """Length (Å of elongation) of the longest conductance plateau of one trace inside
    ``window`` (G0; by default 0.8-1.2 G0, the single-atom plateau of gold).

    The plateau is the longest run of consecutive snapshots whose G lies inside the window;
    its ends are where G, linear between a snapshot outside and the first (last) one inside,
    crosses the window's bound (a run that starts or ends the trace starts or ends at that
    snapshot). Experiments histogram this length over many traces: on gold at 4 K monatomic
    chains draw plateaus several atoms long. A trace without a snapshot in the window has 0.
    With snapshots far apart the lengths are as coarse as their spacing.

    Examples
    --------
    >>> x = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    >>> plateau_length(x, [2.0, 1.1, 1.0, 0.9, 0.4, 0.01])  # crosses 1.2 at 0.889, 0.8 at 3.2
    2.311
    >>> plateau_length(x, [2.0, 1.9, 1.5, 0.5, 0.1, 0.0])
    0.0
    """
    low, high = window
    if not (np.isfinite(low) and np.isfinite(high) and 0 <= low < high):
        raise InputError(
            f"The plateau window must be two conductances 0 <= low < high (G0). Got {window!r}."
        )
    x = _finite(elongation, "elongation", "plateau_length", "elongations (Å)")
    g = _conductances(conductance, "conductance", "plateau_length")
    if x.shape != g.shape or x.ndim != 1:
        raise InputError(
            "plateau_length needs 1-D elongation and conductance arrays of equal length. Got "
            f"shapes {x.shape} and {g.shape}."
        )
    _one_stretch(x, "plateau_length")
    inside = (g >= low) & (g <= high)
    best, k = 0.0, 0
    while k < g.size:
        if not inside[k]:
            k += 1
            continue
        end = k
        while end + 1 < g.size and inside[end + 1]:
            end += 1
        start_x = x[k] if k == 0 else _crossing(x[k - 1], g[k - 1], x[k], g[k], window)
        stop_x = (
            x[end]
            if end == g.size - 1
            else _crossing(x[end + 1], g[end + 1], x[end], g[end], window)
        )
        best = max(best, float(stop_x - start_x))
        k = end + 1
    return round(best, 6)


def plot_plateau_lengths(
    lengths: Mapping[str, np.ndarray | Sequence[float]],
    path: str | os.PathLike[str],
    *,
    bin_width: float = 0.5,
    window: tuple[float, float] = PLATEAU_WINDOW,
    title: str | None = None,
) -> Path:
    """Write a PNG of plateau-length histograms (one per label, e.g. per temperature), each
    with its mean, and the share of traces never inside the window (length 0) in the legend.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     out = plot_plateau_lengths({"4 K": [2.5, 5.1, 0.0]}, pathlib.Path(folder) / "p.png")
    ...     out.suffix
    '.png'
    """
    if not lengths:
        raise InputError("plot_plateau_lengths needs at least one set of plateau lengths.")
    if not (np.isfinite(bin_width) and bin_width > 0):
        raise InputError(f"The bin width must be a positive length in Å. Got {bin_width!r}.")
    values = {
        str(k): _finite(v, f"lengths[{k!r}]", "plot_plateau_lengths", "plateau lengths (Å)")
        for k, v in lengths.items()
    }
    top = max([float(v.max()) for v in values.values() if v.size] + [bin_width])
    edges = np.arange(0.0, top + 2 * bin_width, bin_width)
    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    for i, (label, v) in enumerate(values.items()):
        counts, _ = np.histogram(v[v > 0], bins=edges)
        mean = float(v.mean()) if v.size else float("nan")
        none = float(np.mean(v == 0)) if v.size else float("nan")
        said = f"{label}: {v.size} traces, mean {mean:.2f} Å, {none:.0%} never inside"
        ax.stairs(counts, edges, fill=True, alpha=0.45, color=f"C{i % 10}", label=said)
        ax.axvline(mean, color=f"C{i % 10}", linestyle="--", lw=1.0)
    ax.set_xlabel(f"Plateau length (Å of elongation with {window[0]:g}-{window[1]:g} G0)")
    ax.set_ylabel("Traces per bin")
    ax.set_title(title or "Plateau lengths")
    ax.legend(fontsize="small")
    return _save(fig, path, "plot_plateau_lengths")


# --------------------------------------------------------------------------- predictive samples
#: Most bins of :class:`ConditionalResiduals`: predictions above ``bin_width`` times this
#: share the last bin (100 G0 at the default width).
RESIDUAL_BINS_MAX = 1000


class ConditionalResiduals:
    """The spread of the reference around a surrogate's prediction, given the prediction.

    A regression model predicts the conditional mean of G. The histogram of those means is
    narrower than the histogram of G itself (wherever the model cannot tell two snapshots
    apart it gives both the same value), so its peak is not the reference's peak. This
    class holds the residuals ``reference - prediction`` of a surrogate on held-out labelled
    snapshots, binned by the prediction, and draws from them: ``sample(predicted)`` gives
    values distributed as the reference is around each prediction, whose histogram is the
    surrogate's estimate of the reference histogram.

    Parameters
    ----------
    predicted, reference : array_like, shape (n,)
        The surrogate's predictions and the reference conductances of the same held-out
        snapshots, G0 (finite; at least ``min_count`` of them). They must not include the
        snapshots whose histogram is estimated.
    bin_width : float
        Width of the bins of predicted G, G0 (> 0).
    min_count : int
        A bin with fewer residuals borrows those of its neighbours (widening by one bin on
        each side at a time) until it has at least this many (>= 1).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ref = rng.choice([0.6, 0.97], 400, p=[0.3, 0.7]) + rng.normal(0, 0.02, 400)
    >>> pred = np.full(400, ref.mean())  # a model that cannot tell the two apart
    >>> round(histogram_peak(pred), 2)
    0.86
    >>> model = ConditionalResiduals(pred[:200], ref[:200])
    >>> round(histogram_peak(model.sample(pred[200:], draws=20, rng=1)), 2)
    0.97
    """

    def __init__(self, predicted, reference, *, bin_width: float = 0.1, min_count: int = 30):
        caller = "ConditionalResiduals"
        p = _finite(predicted, "predicted", caller)
        y = _finite(reference, "reference", caller)
        if p.shape != y.shape:
            raise InputError(
                f"The 'predicted' and 'reference' parameters of {caller} must have the same "
                f"length. Got {p.size} and {y.size}."
            )
        is_number = isinstance(bin_width, int | float) and not isinstance(bin_width, bool)
        if not is_number or not np.isfinite(bin_width) or bin_width <= 0:
            raise InputError(
                f"The 'bin_width' parameter of {caller} must be a number of G0 > 0. "
                f"Got {bin_width!r}."
            )
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise InputError(
                f"The 'min_count' parameter of {caller} must be an integer >= 1. Got {min_count!r}."
            )
        if p.size < min_count:
            raise InputError(
                f"{caller} needs at least min_count={min_count} held-out snapshots. Got {p.size}."
            )
        self.predicted, self.reference = p, y
        self.bin_width, self.min_count = float(bin_width), min_count
        top = max(float(p.max()), 0.0) / self.bin_width  # predictions above the last bin's
        self._n_bins = int(min(np.floor(top), RESIDUAL_BINS_MAX - 1)) + 1  # start share it
        bins = self._bin(p)
        residual = y - p
        below = np.concatenate([[0], np.cumsum(np.bincount(bins, minlength=self._n_bins))])
        self._pools = []
        for k in range(self._n_bins):
            lo = hi = k
            while below[hi + 1] - below[lo] < min_count and (lo > 0 or hi < self._n_bins - 1):
                lo, hi = max(lo - 1, 0), min(hi + 1, self._n_bins - 1)
            self._pools.append(residual[(bins >= lo) & (bins <= hi)])

    def _bin(self, predicted: np.ndarray) -> np.ndarray:
        k = np.floor(np.maximum(predicted, 0.0) / self.bin_width).astype(int)
        return np.minimum(k, self._n_bins - 1)

    def sample(
        self, predicted, *, draws: int = 20, rng: np.random.Generator | int | None = 0
    ) -> np.ndarray:
        """``draws`` values per prediction, ``prediction + residual`` with the residual drawn
        from the prediction's bin (negative values set to 0), flattened (length
        ``draws * len(predicted)``)."""
        p = _finite(predicted, "predicted", "ConditionalResiduals.sample")
        if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
            raise InputError(
                "The 'draws' parameter of ConditionalResiduals.sample must be an integer >= 1. "
                f"Got {draws!r}."
            )
        gen = np.random.default_rng(rng)
        out = np.empty((p.size, draws))
        bins = self._bin(p)
        for k in np.unique(bins):
            rows = np.flatnonzero(bins == k)
            pool = self._pools[k]
            out[rows] = p[rows, None] + pool[gen.integers(0, pool.size, (rows.size, draws))]
        return np.maximum(out, 0.0).ravel()

    def to_dict(self) -> dict:
        """Plain JSON-able dict (inverse of :meth:`from_dict`), residuals to 1e-4 G0."""
        return {
            "predicted_G0": [round(float(v), 4) for v in self.predicted],
            "reference_G0": [round(float(v), 4) for v in self.reference],
            "bin_width": self.bin_width,
            "min_count": self.min_count,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> ConditionalResiduals:
        """The residual model written by :meth:`to_dict`."""
        return cls(
            data["predicted_G0"],
            data["reference_G0"],
            bin_width=float(data["bin_width"]),
            min_count=int(data["min_count"]),
        )


def _finite(values: object, name: str, caller: str, what: str = "conductances (G0)") -> np.ndarray:
    """``values`` as a non-empty 1-D float array of finite numbers, else an InputError that
    says what is wrong with it."""
    start = f"The '{name}' parameter of {caller} must be a non-empty 1-D array of finite {what}"
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise InputError(
            f"{start}. Got a {type(values).__name__} that is not an array of numbers (text, or "
            "lists of different lengths?)."
        ) from None
    if arr.ndim != 1 or arr.size == 0:
        raise InputError(f"{start}. Got shape {arr.shape}.")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise InputError(
            f"{start}. Got {bad.size} non-finite values (NaN or infinite), the first at index "
            f"{int(bad[0])}."
        )
    return arr


def _conductances(values: object, name: str, caller: str) -> np.ndarray:
    """:func:`_finite` conductances that are also >= 0 G0 (to rounding)."""
    arr = _finite(values, name, caller)
    negative = np.flatnonzero(arr < -1e-6)
    if negative.size:
        raise InputError(
            f"The '{name}' parameter of {caller} must hold conductances >= 0 G0. Got "
            f"{negative.size} negative values, the first {arr[negative[0]]:g} at index "
            f"{int(negative[0])}."
        )
    return np.clip(arr, 0.0, None)
