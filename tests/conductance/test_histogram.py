"""Tests of conductance histograms, peak finding and plots (synthetic data)."""

from __future__ import annotations

import numpy as np
import pytest

from vlab.conductance.displacement import rupture_elongation
from vlab.conductance.histogram import (
    EXPERIMENT_WINDOW,
    ConditionalResiduals,
    conductance_histogram,
    histogram_peak,
    plateau_length,
    plot_histogram,
    plot_histogram_comparison,
    plot_plateau_lengths,
    plot_traces,
)
from vlab.errors import InputError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _synthetic(rng: np.random.Generator, peak: float = 0.97, n_tail: int = 3000) -> np.ndarray:
    """A break-junction-like sample: tunnelling tail (the most counts), a sharp peak, weak 2 G0."""
    tail = 10 ** rng.uniform(-6, np.log10(0.3), n_tail)
    main = rng.normal(peak, 0.04, 800)
    second = rng.normal(1.9, 0.1, 250)
    plateau = rng.uniform(0.3, 3.0, 600)
    return np.concatenate([tail, main, second, plateau])


def test_linear_histogram_counts_and_edges():
    counts, edges = conductance_histogram([0.05, 0.5, 1.0, 1.01, 2.99, 3.5], bins=3, range=(0, 3))
    assert edges.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert counts.tolist() == [2, 2, 1]  # 3.5 G0 lies outside the range


def test_default_ranges_and_bins():
    counts, edges = conductance_histogram(np.linspace(0, 3, 301))
    assert len(counts) == 150 and edges[[0, -1]].tolist() == [0.0, 3.0]
    counts, edges = conductance_histogram(np.array([1e-4, 1.0]), log=True)
    assert len(counts) == 100 and edges[[0, -1]] == pytest.approx([1e-5, 10.0])
    assert counts.sum() == 2


def test_log_histogram_has_log_spaced_bins_and_keeps_the_tail():
    rng = np.random.default_rng(1)
    G = _synthetic(rng)
    counts, edges = conductance_histogram(G, bins=70, range=(1e-6, 10), log=True)
    assert np.allclose(np.diff(np.log10(edges)), 0.1)  # 10 bins per decade
    assert counts.sum() == G.size
    assert (counts[:50] > 0).all()  # the tail fills every bin from 1e-6 to 0.1 G0 ...
    linear, _ = conductance_histogram(G)
    assert linear[0] > 0.4 * G.size  # ... which a linear axis piles into its first bin


def test_ragged_per_trace_input_is_pooled():
    traces = [np.array([0.9, 1.0]), np.array([1.95]), [0.1, 0.2, 0.95]]
    counts, _ = conductance_histogram(traces, bins=3, range=(0, 3))
    assert counts.tolist() == [4, 2, 0]  # 1.0 G0 opens the second bin


def test_tiny_negative_noise_is_clipped_but_real_negatives_are_rejected():
    counts, _ = conductance_histogram([-1e-12, 0.5], bins=1, range=(0, 1))
    assert counts.tolist() == [2]
    with pytest.raises(
        InputError, match=r"finite conductances >= 0 G0; got 0 non-finite and 1 negative"
    ):
        conductance_histogram([-0.5, 0.5])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"G": [1.0, np.nan]}, "got 1 non-finite and 0 negative values"),
        ({"G": 3.0}, "The 'G' parameter of conductance_histogram must be an array of conductances"),
        (
            {"G": [1.0], "bins": 0},
            "The 'bins' parameter of conductance_histogram must be an integer >= 1. Got 0.",
        ),
        ({"G": [1.0], "range": (3, 0)}, r"The 'range' parameter .* low < high. Got \(3, 0\)."),
        (
            {"G": [1.0], "range": (0, 3), "log": True},
            r"0 < low < high on a log axis. Got \(0, 3\).",
        ),
    ],
)
def test_histogram_rejects_bad_input(kwargs, message):
    G = kwargs.pop("G")
    with pytest.raises(InputError, match=message):
        conductance_histogram(G, **kwargs)


@pytest.mark.parametrize("peak", [0.85, 0.97, 1.5])
def test_peak_found_above_the_tunnelling_tail(peak):
    G = _synthetic(np.random.default_rng(int(peak * 100)), peak=peak)
    assert histogram_peak(G) == pytest.approx(peak, abs=0.02)


def test_threshold_is_what_hides_the_tail():
    G = _synthetic(np.random.default_rng(3), n_tail=20000)
    assert histogram_peak(G, threshold=0.0) < 0.3  # the raw histogram is dominated by the tail
    assert histogram_peak(G) == pytest.approx(0.97, abs=0.02)


def test_peak_refinement_is_between_bins():
    G = np.concatenate([np.full(10, 0.95), np.full(20, 0.97), np.full(10, 0.99)])
    assert histogram_peak(G, bin_width=0.02, smooth=1) == pytest.approx(0.97, abs=0.005)
    skewed = np.concatenate([np.full(10, 0.95), np.full(20, 0.97), np.full(15, 0.99)])
    assert histogram_peak(skewed, bin_width=0.02, smooth=1) > histogram_peak(
        G, bin_width=0.02, smooth=1
    )


def test_peak_errors():
    with pytest.raises(
        InputError, match=r"found no conductance between threshold=0.3 and upper=3.0 G0 among 2"
    ):
        histogram_peak([0.01, 0.1])
    with pytest.raises(InputError, match="needs 0 <= threshold < upper"):
        histogram_peak([1.0], threshold=2.0, upper=1.0)
    g = np.r_[np.full(50, 0.95), np.full(30, 1.9)]
    for smooth in (150, 0, -5, 2.5, True):
        with pytest.raises(InputError, match=r"smooth is the width of the moving average in bins"):
            histogram_peak(g, smooth=smooth)
    with pytest.raises(InputError, match=r"makes 2,700,000,000 bins .* at most 100,000"):
        histogram_peak(g, bin_width=1e-9)  # was an allocation of 20 GiB
    assert 0.3 <= histogram_peak(g, smooth=67) <= 3.0  # the widest allowed: half the bins


def test_plot_histogram_writes_png(tmp_path):
    G = _synthetic(np.random.default_rng(0))
    out = plot_histogram(G, tmp_path / "hist.png", title="synthetic")
    assert out == tmp_path / "hist.png"
    assert out.read_bytes()[:8] == PNG_MAGIC
    log_out = plot_histogram(G, tmp_path / "hist_log.png", log=True)
    assert log_out.stat().st_size > 1000


def test_plot_traces_writes_png(tmp_path):
    x = np.linspace(0, 3, 31)
    traces = [np.where(x < 2, 1.0, 10 ** (-2.3 * (x - 2))), np.where(x < 1.5, 2.0, 0.0)]
    out = plot_traces([x, x], traces, tmp_path / "traces.png", log=True, offset=1.0)
    assert out.read_bytes()[:8] == PNG_MAGIC
    out = plot_traces(np.stack([x, x]), np.stack(traces), str(tmp_path / "lin.png"))
    assert out.exists()


def test_plot_traces_colours_and_names_each_label_once(tmp_path, monkeypatch):
    import vlab.conductance.histogram as histogram

    figures = []
    monkeypatch.setattr(histogram, "_save", lambda fig, path, who: figures.append(fig) or path)
    x = np.linspace(0, 1, 5)
    plot_traces([x, x, x], [x, x, x], tmp_path / "t.png", labels=["4 K", "300 K", "4 K"])
    ax = figures[0].axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["4 K", "300 K", "1 G0"]
    colours = [line.get_color() for line in ax.get_lines()[:3]]
    assert colours[0] == colours[2] != colours[1]
    with pytest.raises(InputError, match="one label per trace. Got 1 labels for 3 traces"):
        plot_traces([x, x, x], [x, x, x], tmp_path / "t.png", labels=["4 K"])


def test_plot_errors(tmp_path):
    x = np.linspace(0, 1, 5)
    with pytest.raises(
        InputError, match="one elongation array per conductance array. Got 2 elongation and 1"
    ):
        plot_traces([x, x], [x], tmp_path / "t.png")
    with pytest.raises(
        InputError, match=r"Trace 0 of plot_traces must have 1-D .* Got shapes \(5,\) and \(4,\)"
    ):
        plot_traces([x], [x[:4]], tmp_path / "t.png")
    with pytest.raises(InputError, match="must be in an existing folder"):
        plot_histogram([1.0], tmp_path / "missing" / "h.png")


def test_plot_histogram_comparison_writes_png(tmp_path):
    rng = np.random.default_rng(4)
    samples = {"model": _synthetic(rng, peak=0.95), "reference": _synthetic(rng, n_tail=500)}
    out = plot_histogram_comparison(samples, tmp_path / "cmp.png", title="two samples")
    assert out.read_bytes()[:8] == PNG_MAGIC and out.stat().st_size > 5000
    only_tail = {"tail": 10 ** rng.uniform(-5, -1, 100)}  # no peak above 0.3 G0: no marker
    out = plot_histogram_comparison(only_tail, tmp_path / "tail.png", peaks={"tail": None})
    assert out.exists()
    assert EXPERIMENT_WINDOW == (0.8, 1.1)


@pytest.mark.parametrize(
    ("samples", "kwargs", "message"),
    [
        ([1.0, 2.0], {}, "must be a mapping of 1 to 4 labels to conductance arrays .* Got list."),
        ({}, {}, "Got dict with 0 entries."),
        ({"a": np.array([])}, {}, r"got no conductances for \['a'\]"),
        ({"a": [1.0, -2.0]}, {}, "1 negative values"),
        ({"a": [1.0]}, {"window": (1.1, 0.8)}, r"0 <= low < high. Got \(1.1, 0.8\)."),
    ],
)
def test_plot_histogram_comparison_errors(tmp_path, samples, kwargs, message):
    with pytest.raises(InputError, match=message):
        plot_histogram_comparison(samples, tmp_path / "c.png", **kwargs)


def test_figures_say_what_lies_outside_the_linear_range():
    from vlab.conductance.histogram import _outside_note

    G = np.array([0.5, 1.0, 2.0, 4.0, 7.0])
    assert _outside_note(G, np.array([0.0, 3.0])) == "not shown: 2 (40%) above 3 G0"
    assert _outside_note(G, np.array([0.0, 10.0])) == ""
    assert _outside_note(G, np.array([1.0, 5.0])) == (
        "not shown: 1 (20%) below 1 G0 and 1 (20%) above 5 G0"
    )


# --------------------------------------------------------------------------- predictive samples
def test_conditional_residuals_restore_the_spread_a_point_model_hides():
    rng = np.random.default_rng(3)
    contact = rng.random(3000) < 0.6  # single-atom contacts, else thicker necks
    ref = np.where(contact, rng.choice([0.6, 0.97], 3000, p=[0.3, 0.7]), rng.uniform(1.5, 3, 3000))
    ref = ref + rng.normal(0.0, 0.02, 3000)
    pred = np.where(contact, 0.86, ref + rng.normal(0.0, 0.05, 3000))  # blind inside contacts
    assert abs(histogram_peak(pred) - 0.86) < 0.02
    model = ConditionalResiduals(pred[:1500], ref[:1500])
    draws = model.sample(pred[1500:], draws=10, rng=0)
    assert draws.shape == (15000,) and draws.min() >= 0.0
    assert abs(histogram_peak(draws) - histogram_peak(ref[1500:])) < 0.02
    # draws come from the residuals of the prediction's own bin
    thick = model.sample(np.array([2.2]), draws=200, rng=1)
    assert np.abs(thick - 2.2).max() < 0.3
    assert np.array_equal(model.sample(pred[:5], rng=7), model.sample(pred[:5], rng=7))
    again = ConditionalResiduals.from_dict(model.to_dict())
    assert np.allclose(again.sample(pred[:50], rng=2), model.sample(pred[:50], rng=2), atol=2e-4)


def test_sparse_bins_borrow_from_their_neighbours():
    pred = np.array([0.05] * 40 + [5.05])  # one residual alone at 5 G0
    ref = np.concatenate([np.full(40, 0.1), [4.0]])
    model = ConditionalResiduals(pred, ref, bin_width=0.1, min_count=30)
    got = model.sample(np.array([5.05]), draws=500, rng=0)
    assert set(np.round(got - 5.05, 6)) == {-1.05, 0.05}  # its own and the ones far below
    model = ConditionalResiduals(pred, ref, bin_width=0.1, min_count=1)
    assert set(np.round(model.sample(np.array([5.05]), draws=50, rng=0), 6)) == {4.0}


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (([1.0, 2.0], [1.0]), {}, "must have the same length. Got 2 and 1"),
        (([1.0, np.nan], [1.0, 1.0]), {}, "'predicted' parameter of ConditionalResiduals must be"),
        (([1.0], "x"), {}, "'reference' parameter of ConditionalResiduals must be"),
        (([1.0] * 40, [1.0] * 40), {"bin_width": 0}, "'bin_width' .* a number of G0 > 0"),
        (([1.0] * 40, [1.0] * 40), {"min_count": 0}, "'min_count' .* an integer >= 1"),
        (([1.0] * 4, [1.0] * 4), {}, "needs at least min_count=30 held-out snapshots. Got 4"),
    ],
)
def test_conditional_residuals_reject_bad_input(args, kwargs, message):
    with pytest.raises(InputError, match=message):
        ConditionalResiduals(*args, **kwargs)


def test_conditional_residual_draws_reject_bad_input():
    model = ConditionalResiduals([1.0] * 40, [1.1] * 40)
    with pytest.raises(InputError, match="'draws' parameter of ConditionalResiduals.sample"):
        model.sample([1.0], draws=0)
    with pytest.raises(InputError, match="'predicted' parameter of ConditionalResiduals.sample"):
        model.sample([])


def test_conductance_plot_draws_the_store_and_its_temperatures(tmp_path, capsys):
    """``vlab conductance plot``: traces, the histogram (linear, log) and, for a store of two
    temperatures, their histograms side by side; the summary's peaks are those of the store's
    snapshots at each temperature."""
    import json
    from pathlib import Path

    from vlab import catalog
    from vlab.cli import main

    assert main(["conductance", "plot", "au-spd-small", "--out", str(tmp_path)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(summary["files"]) == {
        "histogram",
        "histogram_log",
        "traces",
        "histogram_temperatures",
        "plateaus",
        "histogram_displacement",
    }
    for path in summary["files"].values():
        assert Path(path).stat().st_size > 10_000
    ds = catalog.select(catalog.open("au-spd-small"), status="done")
    g, temperature = ds["conductance"].values, ds["temperature"].values
    assert summary["snapshots"] == g.size == 309
    assert summary["stretches"] == summary["traces"] == 24  # one stretch per trace
    for t in (4, 300):
        expected = round(float(histogram_peak(g[temperature == t])), 3)
        assert summary[f"histogram_peak_G0_{t}K"] == expected
    # plateau lengths: those of each trace, by temperature
    traces, elongation = ds["trace"].values, ds["elongation"].values
    for t in (4, 300):
        lengths = [
            plateau_length(elongation[traces == k], g[traces == k])
            for k in np.unique(traces[temperature == t])
        ]
        assert summary[f"plateau_length_mean_A_{t}K"] == round(float(np.mean(lengths)), 3)
        assert summary[f"plateau_length_median_A_{t}K"] == round(float(np.median(lengths)), 3)
        # ruptures: the traces whose G falls through 0.5 G0, and where
        breaks = [
            rupture_elongation(elongation[traces == k], g[traces == k])
            for k in np.unique(traces[temperature == t])
        ]
        broke = [b for b in breaks if b is not None]
        assert summary[f"traces_broken_{t}K"] == len(broke) > 0
        assert summary[f"rupture_elongation_median_A_{t}K"] == round(float(np.median(broke)), 3)
    assert summary["traces_broken"] == summary["traces_broken_4K"] + summary["traces_broken_300K"]
    assert summary["plateau_window_G0"] == [0.8, 1.2]
    assert summary["snapshot_spacing_A"] == pytest.approx(0.4, abs=0.01)  # every 4th snapshot


def test_plateau_length_is_the_longest_run_inside_the_window_with_crossings_interpolated():
    x = np.arange(10.0)
    #   index:     0    1    2    3    4    5    6    7    8    9
    g = np.array([3.0, 1.0, 0.5, 1.2, 1.0, 0.9, 0.8, 0.6, 0.0, 0.0])
    # run 1: index 1 alone, crossing 1.2 at 0.9 (from 3.0) and 0.8 at 1.4 (to 0.5): 0.5 Å
    # run 2: indices 3-6 (1.2 and 0.8 are inside), entered where G rises through 0.8 between
    # 0.5 and 1.2 (2 + 0.3 / 0.7), left where it falls through 0.8 towards 0.6 (at 6.0)
    assert plateau_length(x, g) == pytest.approx(6.0 - (2 + 0.3 / 0.7), abs=1e-6)
    assert plateau_length(x, np.full(10, 1.0)) == 9.0  # inside from the first to the last
    assert plateau_length(x, np.linspace(3.0, 2.0, 10)) == 0.0  # never inside
    # another window: runs at index 2 (1.6 to 2.286) and index 7 (6.5 to 7.333, leaving
    # through the lower bound 0.4 towards index 8): the second is longer
    assert plateau_length(x, g, window=(0.4, 0.7)) == pytest.approx(7 + 1 / 3 - 6.5, abs=1e-6)
    assert plateau_length([0.0, 1.0], [2.0, 0.0]) == 0.0  # jumps over the window


def test_plateau_length_and_its_plot_reject_bad_input(tmp_path):
    with pytest.raises(InputError, match="plateau window must be two conductances"):
        plateau_length([0.0, 1.0], [1.0, 1.0], window=(1.2, 0.8))
    with pytest.raises(InputError, match="equal length"):
        plateau_length([0.0, 1.0, 2.0], [1.0, 1.0])
    with pytest.raises(InputError, match="'elongation' parameter of plateau_length .* elongations"):
        plateau_length([0.0, np.nan], [1.0, 1.0])
    with pytest.raises(InputError, match="needs at least one set"):
        plot_plateau_lengths({}, tmp_path / "p.png")
    with pytest.raises(InputError, match="bin width must be a positive length"):
        plot_plateau_lengths({"4 K": [1.0]}, tmp_path / "p.png", bin_width=0)
    out = plot_plateau_lengths({"4 K": [2.5, 5.0, 0.0], "300 K": [1.0]}, tmp_path / "p.png")
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_residual_bins_are_bounded_and_negative_predictions_share_the_first():
    """One absurd prediction once made a million bins (minutes of work); predictions all
    below 0 made none (an IndexError when sampling)."""
    far = ConditionalResiduals(np.r_[np.ones(39), 1e5], np.ones(40))
    assert far._n_bins == 1000
    below = ConditionalResiduals(np.full(40, -1.0), np.ones(40))
    np.testing.assert_allclose(below.sample([0.5], draws=3, rng=0), [2.5, 2.5, 2.5])
