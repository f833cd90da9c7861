from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import norm

from vlab.errors import InputError
from vlab.polymers.design import Target, TargetBox, log_probability_in_box, parse_target


def test_parse_forms_and_units():
    t = parse_target(
        ["thermal_conductivity>=0.3 W/(m K)", "Tg>=177 degC", "1.1<=density<=1.4 g/cm3"]
    )
    lam, tg, rho = t.boxes
    assert (lam.low, lam.high, lam.unit) == (0.3, math.inf, "W/(m K)")
    assert tg.low == pytest.approx(450.15) and tg.unit == "K"
    assert (rho.low, rho.high) == (1.1, 1.4)
    assert parse_target("thermal_conductivity < 300 mW/(m K)").boxes[0].high == pytest.approx(0.3)
    assert parse_target("refractive_index>=1.6").boxes[0].low == 1.6
    assert parse_target("Tg>=450 K; thermal_conductivity>=0.3 W/m/K").properties == (
        "Tg",
        "thermal_conductivity",
    )


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "thermal_conductivity>=0.3 K",
            r"unit 'K' is not possible for the property 'thermal_conductivity'",
        ),
        ("Tg>=450", r"unit '' is not possible for the property 'Tg'"),
        (
            "thermal_conductivity<=-0.1 W/(m K)",
            "impossible: thermal_conductivity cannot be below 0",
        ),
        ("-0.2<=thermal_conductivity<=0.3 W/(m K)", "impossible"),
        ("Tg>=-300 degC", r"impossible: Tg cannot be below 0\.0 K"),
        ("0.4<=thermal_conductivity<=0.3 W/(m K)", "is empty: low = 0.4 must be below high = 0.3"),
        ("tc>=0.3 W/(m K)", r"Unknown target property 'tc'\. Allowed: thermal_conductivity, Tg"),
        ("thermal conductivity is high", "Cannot parse the target"),
        ("", r"The target is empty\. Write one or more .name>=value unit. boxes"),
    ],
)
def test_bad_targets(text, match):
    with pytest.raises(InputError, match=match):
        parse_target(text)


def test_duplicate_property_and_missing_predictor_property():
    box = TargetBox(name="Tg", low=400, unit="K")
    with pytest.raises(InputError, match="Each property may appear in one box only"):
        Target(boxes=(box, box))
    with pytest.raises(InputError, match=r"predictor does not provide.*\['density'\]"):
        Target(boxes=(box,)).check_properties(["density"])


def test_box_is_frozen_and_keyword_only():
    box = TargetBox(name="Tg", low=400, unit="K")
    with pytest.raises(AttributeError):
        box.low = 1.0
    with pytest.raises(TypeError):
        TargetBox("Tg", 400)


def test_likelihood_and_hits():
    t = parse_target(["thermal_conductivity>=0.3 W/(m K)", "Tg<=500 K"])
    pred = {
        "thermal_conductivity": (np.array([0.4, 0.3, 0.1, 0.4]), np.array([0.01, 0.05, 0.05, 0.0])),
        "Tg": (np.array([400.0, 400.0, 400.0, np.nan]), np.array([10.0, 10.0, 10.0, 10.0])),
    }
    ll = t.log_likelihood(pred)
    assert ll[0] == pytest.approx(0.0, abs=1e-12)
    assert ll[1] == pytest.approx(math.log(0.5))
    assert ll[2] == pytest.approx(norm.logsf(4.0))
    assert ll[3] == -np.inf  # NaN prediction
    assert t.contains(pred).tolist() == [True, True, False, False]


@given(
    mean=st.floats(-50, 50),
    std=st.floats(1e-3, 20),
    low=st.floats(-60, 60),
    width=st.floats(1e-2, 80),
)
def test_hypothesis_log_probability_matches_direct_formula(mean, std, low, width):
    high = low + width
    got = float(log_probability_in_box(np.array(mean), np.array(std), low, high))
    a, b = (low - mean) / std, (high - mean) / std
    # reference without cancellation: use the upper tail when the box lies above the mean
    direct = norm.sf(a) - norm.sf(b) if a > 0 else norm.cdf(b) - norm.cdf(a)
    assert got <= 1e-12
    if direct > 1e-200:
        assert got == pytest.approx(math.log(direct), rel=1e-6, abs=1e-9)
    else:
        assert np.isfinite(got) or direct == 0.0


def test_far_tails_are_finite_and_monotone():
    means = np.array([0.0, -10.0, -100.0, -1000.0])
    ll = log_probability_in_box(means, np.ones(4), 0.0, np.inf)
    assert np.all(np.isfinite(ll))
    assert np.all(np.diff(ll) < 0)
    # both bounds far in the upper tail (mirrored internally)
    two = log_probability_in_box(np.array([0.0]), np.array([1.0]), 40.0, 41.0)
    assert np.isfinite(two[0]) and two[0] == pytest.approx(norm.logsf(40.0), rel=1e-3)


def test_zero_std_is_an_indicator():
    ll = log_probability_in_box(np.array([1.0, 3.0]), np.zeros(2), 0.0, 2.0)
    assert ll.tolist() == [0.0, -np.inf]
