"""Rules that rank designed candidates into a library.

The sampler's likelihood is ``log P(properties in box)`` under the forward models' predictive
distribution. Ranking the final library by it is one choice among several: it favours
uncertain candidates whose mean lies just below a bound as much as confident ones just above.
The rules here trade that off differently; ``s_p`` is a scale per property (the standard
deviation of its training values):

``likelihood``
    ``log P(in box) + domain`` (the sampler's own likelihood).
``margin-M``
    The same with every finite bound moved ``M * s_p`` into the box.
``lcb-K``
    ``min_p (mean - K * std - low) / s_p`` (and ``(high - mean - K * std) / s_p`` for upper
    bounds), plus ``domain / 50``: a lower confidence bound of the worst property's margin.

Examples
--------
>>> from vlab.polymers.design.objectives import parse_target
>>> target = parse_target(["Tg>=450 K"])
>>> mean = {"Tg": np.array([455.0, 470.0, 440.0])}
>>> std = {"Tg": np.array([40.0, 5.0, 60.0])}
>>> rank_library(mean, std, target, {"Tg": 50.0}, np.zeros(3), "likelihood").tolist()
[1, 0, 2]
>>> rank_library(mean, std, target, {"Tg": 50.0}, np.zeros(3), "lcb-1").tolist()
[1, 0, 2]
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from vlab.errors import InputError
from vlab.polymers.design.objectives import Target, TargetBox, log_probability_in_box

__all__ = ["RULES", "rank_library", "ranking_scores", "shifted_target"]

RULES = (
    "likelihood",
    "margin-0.25",
    "margin-0.5",
    "margin-1",
    "lcb-0",
    "lcb-1",
    "lcb-2",
)


def _parse(rule: str) -> tuple[str, float]:
    kind, _, value = rule.partition("-")
    try:
        number = float(value) if value else 0.0
    except ValueError:
        number = float("nan")
    if (
        kind not in ("likelihood", "margin", "lcb")
        or not number >= 0
        or (kind == "likelihood" and value)
    ):
        raise InputError(
            f"Unknown ranking rule {rule!r}. Allowed: 'likelihood', 'margin-M' or 'lcb-K' "
            "with a number M, K >= 0 (e.g. 'margin-0.5', 'lcb-1')."
        )
    return kind, number


def ranking_scores(
    mean: Mapping[str, np.ndarray],
    std: Mapping[str, np.ndarray],
    target: Target,
    scale: Mapping[str, float],
    domain: np.ndarray,
    rule: str,
) -> np.ndarray:
    """Score of every candidate under ``rule`` (higher is better; NaN predictions score -inf).

    Parameters
    ----------
    mean, std : mapping of str to numpy.ndarray
        Predictive mean and standard deviation per property (canonical units).
    target : Target
        The design target.
    scale : mapping of str to float
        Positive scale ``s_p`` of each target property.
    domain : numpy.ndarray
        Applicability-domain log-weight per candidate (<= 0; zeros for none).
    rule : str
        One of the rules in the module docstring, e.g. ``"margin-0.5"``.
    """
    kind, number = _parse(rule)
    for b in target.boxes:
        s = scale.get(b.name)
        if s is None or not np.isfinite(s) or s <= 0:
            raise InputError(
                f"ranking_scores needs a positive finite scale for {b.name!r}; got {s!r}."
            )
    domain = np.asarray(domain, dtype=float)
    if kind == "lcb":
        worst = None
        for b in target.boxes:
            m, sd, s = mean[b.name], std[b.name], scale[b.name]
            parts = [np.full(np.shape(m), np.inf)]
            if np.isfinite(b.low):
                parts.append((m - number * sd - b.low) / s)
            if np.isfinite(b.high):
                parts.append((b.high - m - number * sd) / s)
            margin = np.minimum.reduce(parts)
            worst = margin if worst is None else np.minimum(worst, margin)
        score = worst + domain / 50.0
    else:
        shift = number if kind == "margin" else 0.0
        score = domain.copy()
        for b in target.boxes:
            d = shift * scale[b.name]
            score = score + log_probability_in_box(mean[b.name], std[b.name], b.low + d, b.high - d)
    return np.where(np.isnan(score), -np.inf, score)


def rank_library(
    mean: Mapping[str, np.ndarray],
    std: Mapping[str, np.ndarray],
    target: Target,
    scale: Mapping[str, float],
    domain: np.ndarray,
    rule: str,
) -> np.ndarray:
    """Candidate indices, best first, under ``rule`` (stable: ties keep their order)."""
    score = ranking_scores(mean, std, target, scale, domain, rule)
    return np.argsort(-score, kind="stable")


def shifted_target(target: Target, scale: Mapping[str, float], margin: float) -> Target:
    """``target`` with every finite bound moved ``margin * scale[p]`` into its box.

    A two-sided box keeps at least a fifth of its width: each bound moves at most 0.4 of it,
    so a large margin aims at the middle of the interval instead of emptying it.

    Examples
    --------
    >>> from vlab.polymers.design.objectives import parse_target
    >>> str(shifted_target(parse_target(["Tg>=450 K"]), {"Tg": 50.0}, 0.5))
    'Tg>=475 K'
    >>> str(shifted_target(parse_target(["400<=Tg<=500 K"]), {"Tg": 50.0}, 2.5))
    '440<=Tg<=460 K'
    """
    if not np.isfinite(margin) or margin < 0:
        raise InputError(f"The target margin must be a number >= 0. Got {margin!r}.")
    boxes = []
    for b in target.boxes:
        d = margin * float(scale[b.name])
        if np.isfinite(b.low) and np.isfinite(b.high):
            d = min(d, 0.4 * (b.high - b.low))
        try:
            boxes.append(TargetBox(name=b.name, low=b.low + d, high=b.high - d, unit=b.unit))
        except InputError:
            raise InputError(
                f"The target {b} aimed {margin:g} training standard deviations ({d:.4g} "
                f"{b.unit}) inside its bounds is impossible ({b.name} has a physical floor). "
                "Use a smaller margin (--margin; 0 aims at the bounds themselves) or a wider "
                "target."
            ) from None
    return Target(boxes=tuple(boxes))
