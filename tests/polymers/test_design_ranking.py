"""Ranking rules of a designed library and targets aimed past their bounds."""

import numpy as np
import pytest

from vlab.errors import InputError
from vlab.polymers.design import parse_target, rank_library, ranking_scores, shifted_target

TARGET = parse_target(["thermal_conductivity>=0.3 W/(m K)", "Tg>=450 K"])
SCALE = {"thermal_conductivity": 0.1, "Tg": 50.0}
# candidate 0: just above both bounds, very uncertain; 1: well above, confident;
# 2: below the λ bound; 3: NaN prediction
MEAN = {
    "thermal_conductivity": np.array([0.31, 0.42, 0.25, np.nan]),
    "Tg": np.array([455.0, 520.0, 600.0, 500.0]),
}
STD = {"thermal_conductivity": np.array([0.2, 0.02, 0.01, 0.1]), "Tg": np.array([80, 10, 5, 10.0])}


@pytest.mark.parametrize("rule", ["likelihood", "margin-0.5", "margin-1", "lcb-0", "lcb-1"])
def test_every_rule_puts_the_confident_clear_candidate_first_and_nan_last(rule):
    order = rank_library(MEAN, STD, TARGET, SCALE, np.zeros(4), rule)
    assert order[0] == 1 and order[-1] == 3
    assert ranking_scores(MEAN, STD, TARGET, SCALE, np.zeros(4), rule)[3] == -np.inf


def test_a_margin_penalises_candidates_just_inside_the_bounds():
    plain = ranking_scores(MEAN, STD, TARGET, SCALE, np.zeros(4), "likelihood")
    moved = ranking_scores(MEAN, STD, TARGET, SCALE, np.zeros(4), "margin-1")
    # margin-1 is the likelihood of the box moved one scale inwards
    aimed = shifted_target(TARGET, SCALE, 1.0)
    pred = {p: (MEAN[p], STD[p]) for p in MEAN}
    np.testing.assert_allclose(moved[:3], aimed.log_likelihood(pred)[:3])
    assert (moved[:3] < plain[:3]).all()
    # the lower confidence bound: worst property margin in scale units
    lcb = ranking_scores(MEAN, STD, TARGET, SCALE, np.zeros(4), "lcb-1")
    np.testing.assert_allclose(lcb[1], min((0.42 - 0.02 - 0.3) / 0.1, (520 - 10 - 450) / 50))


def test_the_domain_term_is_added():
    domain = np.array([0.0, -50.0, 0.0, 0.0])
    assert rank_library(MEAN, STD, TARGET, SCALE, domain, "likelihood")[0] != 1
    lcb = ranking_scores(MEAN, STD, TARGET, SCALE, domain, "lcb-0")
    assert lcb[1] == pytest.approx(min(1.2, 1.4) - 1.0)


def test_shifted_target_moves_both_bounds_of_a_two_sided_box_but_never_empties_it():
    target = parse_target(["400<=Tg<=500 K"])
    (box,) = shifted_target(target, {"Tg": 20.0}, 1.5).boxes
    assert (box.low, box.high) == (430.0, 470.0)
    for margin in (3.0, 5.0):  # 60 and 100 K would cross: each bound moves 40 K at most
        (box,) = shifted_target(target, {"Tg": 20.0}, margin).boxes
        assert (box.low, box.high) == (440.0, 460.0)


@pytest.mark.parametrize("rule", ["best", "margin-x", "lcb--1", "likelihood-2", ""])
def test_unknown_rules_are_clear_errors(rule):
    with pytest.raises(InputError, match=r"Unknown ranking rule .* Allowed: 'likelihood'"):
        ranking_scores(MEAN, STD, TARGET, SCALE, np.zeros(4), rule)


def test_margins_and_scales_are_checked():
    with pytest.raises(InputError, match=r"target margin must be a number >= 0. Got -1"):
        shifted_target(TARGET, SCALE, -1)
    with pytest.raises(InputError, match=r"positive finite scale for 'Tg'; got 0.0"):
        ranking_scores(MEAN, STD, TARGET, {**SCALE, "Tg": 0.0}, np.zeros(4), "likelihood")


def test_a_margin_that_crosses_a_physical_floor_is_blamed_on_the_margin():
    with pytest.raises(InputError, match=r"aimed 2.5 training standard deviations .* smaller "):
        shifted_target(parse_target(["Tg<=100 K"]), {"Tg": 110.0}, 2.5)
    assert str(shifted_target(parse_target(["Tg<=100 K"]), {"Tg": 110.0}, 0.0)) == "Tg<=100 K"
