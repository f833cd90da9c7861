"""Conductance-displacement histograms: where traces break, their alignment, the counts."""

import numpy as np
import pytest

from vlab.conductance import (
    displacement_histogram,
    plateau_length,
    plot_displacement_histogram,
    rupture_elongation,
)
from vlab.errors import InputError


def test_rupture_is_where_g_last_falls_through_the_threshold():
    x = np.arange(8.0)
    #   index:     0    1    2    3    4    5    6    7
    g = np.array([3.0, 1.0, 0.2, 1.0, 0.9, 0.7, 0.1, 0.0])
    # falls through 0.5 twice (1 -> 2 and 5 -> 6); the last one: 5 + (0.5 - 0.7) / (0.1 - 0.7)
    assert rupture_elongation(x, g) == pytest.approx(5 + 1 / 3, abs=1e-9)
    assert rupture_elongation(x, g, threshold=0.15) == pytest.approx(5 + 0.55 / 0.6, abs=1e-9)
    assert rupture_elongation(x, np.full(8, 1.0)) is None  # still in contact at the end
    assert rupture_elongation(x, np.full(8, 0.1)) is None  # never above the threshold
    assert rupture_elongation(x, np.r_[np.full(7, 2.0), 0.5]) is None  # at 0.5 is not below


def test_rupture_rejects_bad_input():
    with pytest.raises(
        InputError, match=r"break threshold of rupture_elongation must be a conductance > 0 G0"
    ):
        rupture_elongation([0.0, 1.0], [1.0, 0.0], threshold=0.0)
    with pytest.raises(InputError, match="break threshold"):
        rupture_elongation([0.0, 1.0], [1.0, 0.0], threshold=float("nan"))
    with pytest.raises(InputError, match="2 elongations and 3 conductances"):
        rupture_elongation([0.0, 1.0], [1.0, 0.5, 0.0])
    with pytest.raises(InputError, match="'conductance' parameter of rupture_elongation"):
        rupture_elongation([0.0, 1.0], [1.0, np.nan])


def test_traces_are_aligned_at_their_break_and_counted_per_bin():
    x = np.array([0.0, 1.0, 2.0, 3.0])
    broken = np.array([1.5, 1.2, 1.0, 0.0])  # breaks at 2.5: displacements -2.5 ... 0.5
    intact = np.array([2.5, 2.0, 1.5, 1.0])  # never falls through 0.5: left out
    h = displacement_histogram(
        [x, x + 7.0, x], [broken, broken, intact], x_bin=1.0, g_bins=3, g_range=(0.0, 3.0)
    )
    assert (h.traces, h.traces_total) == (2, 3)
    assert h.x_edges.tolist() == [-3.0, -2.0, -1.0, 0.0, 1.0]  # the shift removes the +7 Å
    assert h.g_edges.tolist() == [0.0, 1.0, 2.0, 3.0]
    expected = np.zeros((4, 3), dtype=int)
    expected[0, 1] = expected[1, 1] = expected[2, 1] = 2  # G 1.5, 1.2, 1.0 of both traces
    expected[3, 0] = 2  # G 0 after the break
    np.testing.assert_array_equal(h.counts, expected)
    np.testing.assert_allclose(h.density, expected / 2)
    # unaligned: every trace counted on its elongation
    raw = displacement_histogram([x, x], [broken, intact], align_at=None, x_bin=1.0, g_bins=3)
    assert (raw.traces, raw.counts.sum(), raw.x_edges[0], raw.x_edges[-1]) == (2, 8, 0.0, 3.0)
    # log axis: G = 0 is not counted
    log = displacement_histogram([x], [broken], log=True)
    assert log.counts.sum() == 3 and log.g_edges[0] == pytest.approx(1e-5)


def test_displacement_histogram_rejects_bad_input():
    x, g = np.arange(3.0), np.array([1.0, 1.0, 0.0])
    cases = [
        ({"elongations": [x, x], "conductances": [g]}, "2 elongation and 1 conductance arrays"),
        ({"elongations": [], "conductances": []}, "at least one trace"),
        ({"elongations": [x], "conductances": [g[:2]]}, "Trace 0 .* 3 elongations and 2 conduct"),
        ({"x_bin": 0.0}, "'x_bin' parameter of displacement_histogram must be a length > 0"),
        ({"x_range": (1.0, -1.0)}, "'x_range' parameter .* low < high"),
        ({"x_range": 5.0}, "'x_range' parameter"),
        ({"g_bins": 0}, "'g_bins' parameter of displacement_histogram must be an integer >= 1"),
        ({"g_range": (0.0, 3.0), "log": True}, r"'g_range' parameter .* 0 < low < high on a log"),
        ({"align_at": -1.0}, "break threshold of displacement_histogram"),
    ]
    for kwargs, message in cases:
        args = {"elongations": [x], "conductances": [g]} | kwargs
        with pytest.raises(InputError, match=message):
            displacement_histogram(args.pop("elongations"), args.pop("conductances"), **args)


def test_displacement_plot_has_a_panel_per_label_and_survives_traces_that_never_break(tmp_path):
    x = np.linspace(0.0, 5.0, 51)
    broken, intact = np.where(x < 4.0, 1.0, 0.0), np.full(51, 1.0)
    out = plot_displacement_histogram(
        [x, x, x], [broken, intact, intact], tmp_path / "d.png", labels=["4 K", "300 K", "300 K"]
    )
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # no trace breaks at all: empty panels, said in the panel, not an error
    plot_displacement_histogram([x], [intact], tmp_path / "none.png", log=True)
    assert (tmp_path / "none.png").stat().st_size > 5_000
    with pytest.raises(InputError, match="one label per trace. Got 1 labels for 2 traces"):
        plot_displacement_histogram([x, x], [broken, intact], tmp_path / "e.png", labels=["a"])
    with pytest.raises(InputError, match="must be in an existing folder"):
        plot_displacement_histogram([x], [broken], tmp_path / "missing" / "e.png")


def test_a_cycled_trace_has_one_stretch_per_cycle_and_each_breaks_on_its_own():
    from vlab.conductance import stretches
    from vlab.workflows.conductance import _rupture_summary, stretch_traces

    #   stretch 1 (0-4 Å, breaks at 3.5), compression back to 1 Å (contact re-forms),
    #   stretch 2 (1-5 Å, breaks at 4.5)
    x = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    g = np.array([3.0, 2.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.5, 1.0, 1.0, 1.0, 0.0])
    assert [s.tolist() for s in stretches(x)] == [[0, 1, 2, 3, 4], [7, 8, 9, 10, 11]]
    assert [s.tolist() for s in stretches(np.arange(4.0))] == [[0, 1, 2, 3]]
    assert stretches([1.0]) == []
    legs = stretch_traces([{"elongation": x, "conductance": g, "temperature": 4.0}])
    assert [float(rupture_elongation(t["elongation"], t["conductance"])) for t in legs] == [
        3.5,
        4.5,
    ]
    assert _rupture_summary(legs) == {"traces_broken": 2, "rupture_elongation_median_A": 4.0}
    # without the split, the compression would pass for part of a stretch: refused
    with pytest.raises(InputError, match=r"goes from 4 to 3 Å at snapshot 5\. Split a trace"):
        rupture_elongation(x, g)
    with pytest.raises(InputError, match=r"^plateau_length measures one stretch"):
        plateau_length(x, g)


def test_trace_inputs_are_read_as_users_give_them_and_bad_values_are_named():
    x, g = [0.0, 1.0, 2.0], [1.0, 0.6, 0.1]
    assert displacement_histogram(x, g).traces == 1  # one trace as plain lists
    lazy = displacement_histogram((np.asarray(v) for v in [x]), (np.asarray(v) for v in [g]))
    assert lazy.traces == 1  # generators
    with pytest.raises(InputError, match=r"2 negative values, the first -0.5 at index 1"):
        rupture_elongation(x, [1.0, -0.5, -1.0])
    with pytest.raises(InputError, match=r"1 non-finite values \(NaN or infinite\), the first at"):
        displacement_histogram([x], [[1.0, np.nan, 0.0]])
    with pytest.raises(InputError, match="a str that is not an array of numbers"):
        rupture_elongation("abc", g)
    with pytest.raises(InputError, match=r"makes 2,000,000,000 displacement bins .*at most"):
        displacement_histogram([x], [g], x_bin=1e-9)
