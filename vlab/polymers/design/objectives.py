"""Design targets (boxes in property space) and the iQSPR likelihood.

A :class:`Target` is a product of per-property intervals, each a :class:`TargetBox` with
bounds in physical units. Bounds given in other accepted units are converted to the
canonical unit of the property (the unit that predictors must use):

=====================  ================  ==========================================
property               canonical unit    also accepted
=====================  ================  ==========================================
thermal_conductivity   W/(m K)           W/m/K, W m-1 K-1, W/mK, mW/(m K)
Tg, Tm                 K                 degC, °C
density                g/cm^3            g/cm3, g cm-3, kg/m^3
Cp                     J/(kg K)          J/kg/K, J/(g K)
refractive_index       (dimensionless)   "", 1
dielectric_constant    (dimensionless)   "", 1
bandgap                eV                meV
=====================  ================  ==========================================

The likelihood of a candidate is the probability that its predicted property values lie in
the box, for independent normal predictive distributions ``y ~ N(mean, std**2)``:
``log L = sum_p log(Phi((high - mean) / std) - Phi((low - mean) / std))``, computed with
:func:`scipy.special.log_ndtr` so that far tails stay finite.

Examples
--------
>>> target = parse_target(["thermal_conductivity>=0.3 W/(m K)", "Tg>=450 K"])
>>> target.properties
('thermal_conductivity', 'Tg')
>>> pred = {"thermal_conductivity": (np.array([0.35, 0.2]), np.array([0.02, 0.02])),
...         "Tg": (np.array([500.0, 500.0]), np.array([20.0, 20.0]))}
>>> np.round(np.exp(target.log_likelihood(pred)), 3)
array([0.988, 0.   ])
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy.special import log_ndtr

from vlab.errors import InputError, did_you_mean

__all__ = [
    "PROPERTY_SYMBOLS",
    "PROPERTY_UNITS",
    "Predictions",
    "Target",
    "TargetBox",
    "log_probability_in_box",
    "parse_target",
]

Predictions = Mapping[str, tuple[np.ndarray, np.ndarray]]
"""What a predictor returns: per property name, arrays of predictive mean and std."""

# unit -> (scale, offset) to the canonical unit: canonical = value * scale + offset
_K = {"K": (1.0, 0.0), "degC": (1.0, 273.15), "°C": (1.0, 273.15)}
_LAMBDA = {
    "W/(m K)": (1.0, 0.0),
    "W/m/K": (1.0, 0.0),
    "W m-1 K-1": (1.0, 0.0),
    "W/mK": (1.0, 0.0),
    "W/(m·K)": (1.0, 0.0),
    "mW/(m K)": (1e-3, 0.0),
}
_NONE = {"": (1.0, 0.0), "1": (1.0, 0.0)}
_UNITS: dict[str, tuple[str, dict[str, tuple[float, float]], float]] = {
    # name: (canonical unit, accepted units, smallest physical value in canonical unit)
    "thermal_conductivity": ("W/(m K)", _LAMBDA, 0.0),
    "Tg": ("K", _K, 0.0),
    "Tm": ("K", _K, 0.0),
    "density": (
        "g/cm^3",
        {"g/cm^3": (1, 0), "g/cm3": (1, 0), "g cm-3": (1, 0), "kg/m^3": (1e-3, 0)},
        0.0,
    ),
    "Cp": ("J/(kg K)", {"J/(kg K)": (1, 0), "J/kg/K": (1, 0), "J/(g K)": (1e3, 0)}, 0.0),
    "refractive_index": ("", _NONE, 0.0),
    "dielectric_constant": ("", _NONE, 0.0),
    "bandgap": ("eV", {"eV": (1, 0), "meV": (1e-3, 0)}, 0.0),
}
PROPERTY_UNITS: Mapping[str, str] = {name: spec[0] for name, spec in _UNITS.items()}
"""Canonical unit of every property a target may name."""
PROPERTY_SYMBOLS: Mapping[str, str] = {
    "thermal_conductivity": "λ",
    "Tg": "Tg",
    "Tm": "Tm",
    "density": "ρ",
    "Cp": "Cp",
    "refractive_index": "n",
    "dielectric_constant": "ε",
    "bandgap": "Eg",
}
"""Short symbol of every property a target may name (figure captions)."""


def _norm_unit(unit: str) -> str:
    return " ".join(unit.replace("·", " ").split()).replace("( ", "(").replace(" )", ")")


def _to_canonical(name: str, value: float, unit: str) -> float:
    canonical, accepted, _ = _UNITS[name]
    table = {_norm_unit(u): f for u, f in accepted.items()}
    factor = table.get(_norm_unit(unit))
    if factor is None:
        shown = ", ".join(repr(u) for u in accepted if u not in ("1",))
        raise InputError(
            f"The unit {unit!r} is not possible for the property {name!r} (a "
            f"{'dimensionless quantity' if not canonical else 'quantity in ' + canonical}). "
            f"Use one of {shown}."
        )
    scale, offset = factor
    return value * scale + offset if math.isfinite(value) else value


@dataclass(frozen=True, kw_only=True)
class TargetBox:
    """Interval ``low <= y <= high`` of one property, stored in its canonical unit.

    Parameters
    ----------
    name : str
        Property name, one of :data:`PROPERTY_UNITS`.
    low, high : float
        Bounds in ``unit``; one of them may be infinite (a one-sided target).
    unit : str
        Unit of the bounds; converted to the canonical unit on construction.

    Raises
    ------
    InputError
        Unknown property, impossible unit, empty box (``low >= high``), or a bound below the
        smallest physical value (negative thermal conductivity, Tg below 0 K, ...).

    Examples
    --------
    >>> TargetBox(name="Tg", low=150, unit="degC")
    TargetBox(name='Tg', low=423.15, high=inf, unit='K')
    >>> TargetBox(name="thermal_conductivity", low=0.3, high=0.2, unit="W/(m K)")
    Traceback (most recent call last):
    ...
    vlab.errors.InputError: The target box of 'thermal_conductivity' is empty: low = 0.3 must be
    below high = 0.2 W/(m K). ...
    """

    name: str
    low: float = -math.inf
    high: float = math.inf
    unit: str = ""

    def __post_init__(self) -> None:
        if self.name not in _UNITS:
            raise InputError(
                f"Unknown target property {self.name!r}. Allowed: {', '.join(_UNITS)}."
                + did_you_mean(self.name, _UNITS)
            )
        canonical, _, floor = _UNITS[self.name]
        low, high = (_to_canonical(self.name, float(v), self.unit) for v in (self.low, self.high))
        if math.isnan(low) or math.isnan(high) or not low < high:
            raise InputError(
                f"The target box of {self.name!r} is empty: low = {self.low} must be below "
                f"high = {self.high} {self.unit}. Give an interval with low < high."
            )
        if high <= floor or (math.isfinite(low) and low < floor):
            raise InputError(
                f"The target bounds of {self.name!r} ({self.low}, {self.high} {self.unit}) are "
                f"impossible: {self.name} cannot be below {floor} {canonical}. "
                "Check the sign and the unit."
            )
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        object.__setattr__(self, "unit", canonical)

    def log_probability(self, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
        """``log P(low <= y <= high)`` for ``y ~ N(mean, std**2)`` (elementwise)."""
        return log_probability_in_box(mean, std, self.low, self.high)

    def contains(self, value: np.ndarray) -> np.ndarray:
        """True where ``low <= value <= high``."""
        value = np.asarray(value, dtype=float)
        return (value >= self.low) & (value <= self.high)

    def __str__(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        if math.isinf(self.high):
            return f"{self.name}>={self.low:g}{unit}"
        if math.isinf(self.low):
            return f"{self.name}<={self.high:g}{unit}"
        return f"{self.low:g}<={self.name}<={self.high:g}{unit}"


@dataclass(frozen=True, kw_only=True)
class Target:
    """A box in property space: the product of :class:`TargetBox` intervals.

    Parameters
    ----------
    boxes : tuple of TargetBox
        One box per property; property names must be distinct.

    Examples
    --------
    >>> t = Target(boxes=(TargetBox(name="density", low=1.2, unit="g/cm^3"),))
    >>> t.contains({"density": (np.array([1.3, 1.0]), np.array([0.1, 0.1]))})
    array([ True, False])
    """

    boxes: tuple[TargetBox, ...]

    def __post_init__(self) -> None:
        boxes = tuple(self.boxes)
        if not boxes or not all(isinstance(b, TargetBox) for b in boxes):
            raise InputError(
                f"A Target needs at least one TargetBox. Got {self.boxes!r}; e.g. "
                "parse_target(['thermal_conductivity>=0.3 W/(m K)'])."
            )
        names = [b.name for b in boxes]
        if len(set(names)) != len(names):
            raise InputError(
                f"Each property may appear in one box only. Got {names}; merge the bounds "
                "into one interval."
            )
        object.__setattr__(self, "boxes", boxes)

    @property
    def properties(self) -> tuple[str, ...]:
        """Names of the constrained properties."""
        return tuple(b.name for b in self.boxes)

    def check_properties(self, available: Iterable[str]) -> None:
        """Raise :class:`InputError` if the predictor does not provide a target property."""
        available = sorted(available)
        missing = [p for p in self.properties if p not in available]
        if missing:
            raise InputError(
                f"The target names the properties {missing}, which the predictor does not "
                f"provide. The predictor's properties are {available}."
            )

    def log_likelihood(self, predictions: Predictions) -> np.ndarray:
        """Sum over boxes of ``log P(y in box)`` for each candidate; ``-inf`` where NaN."""
        self.check_properties(predictions)
        total = sum(b.log_probability(*predictions[b.name]) for b in self.boxes)
        return np.where(np.isnan(total), -np.inf, total)

    def contains(self, predictions: Predictions) -> np.ndarray:
        """True where every predicted *mean* lies in its box (a "hit")."""
        self.check_properties(predictions)
        hits = [b.contains(predictions[b.name][0]) for b in self.boxes]
        return np.logical_and.reduce(hits)

    def __str__(self) -> str:
        """The boxes as :func:`parse_target` reads them back (``;`` between boxes)."""
        return "; ".join(str(b) for b in self.boxes)


def log_probability_in_box(
    mean: np.ndarray, std: np.ndarray, low: float, high: float
) -> np.ndarray:
    """Stable ``log(Phi((high - mean)/std) - Phi((low - mean)/std))``.

    The interval is mirrored into the lower tail, where ``log_ndtr`` is accurate, and the
    difference is taken as ``log_ndtr(b) + log1p(-exp(log_ndtr(a) - log_ndtr(b)))``. A zero
    ``std`` gives ``0`` inside the box and ``-inf`` outside.

    Examples
    --------
    >>> float(log_probability_in_box(np.array(0.0), np.array(1.0), 40.0, np.inf))
    -804.608...
    >>> float(np.exp(log_probability_in_box(np.array(0.0), np.array(1.0), -1.0, 1.0)))
    0.6826894921370859
    """
    mean, std = np.broadcast_arrays(np.asarray(mean, float), np.asarray(std, float))
    with np.errstate(divide="ignore", invalid="ignore"):
        a, b = (low - mean) / std, (high - mean) / std
        flip = a > 0  # both bounds in the upper tail: use 1 - Phi(x) = Phi(-x)
        a, b = np.where(flip, -b, a), np.where(flip, -a, b)
        la, lb = log_ndtr(a), log_ndtr(b)
        out = lb + np.log1p(-np.exp(la - lb))
    exact = np.where((mean >= low) & (mean <= high), 0.0, -np.inf)
    return np.where(std > 0, out, np.where(np.isnan(std), np.nan, exact))


_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_TWO_SIDED = re.compile(rf"^\s*({_NUMBER})\s*<=?\s*(\w+)\s*<=?\s*({_NUMBER})\s*(.*?)\s*$")
_ONE_SIDED = re.compile(rf"^\s*(\w+)\s*(>=|<=|>|<)\s*({_NUMBER})\s*(.*?)\s*$")


def _parse_one(text: str) -> TargetBox:
    if not isinstance(text, str):
        raise InputError(f"A target must be a string like 'Tg>=450 K'. Got {text!r}.")
    if m := _TWO_SIDED.match(text):
        low, name, high, unit = m.groups()
        return TargetBox(name=name, low=float(low), high=float(high), unit=unit)
    if m := _ONE_SIDED.match(text):
        name, op, value, unit = m.groups()
        bound = {"low": float(value)} if op.startswith(">") else {"high": float(value)}
        return TargetBox(name=name, unit=unit, **bound)
    raise InputError(
        f"Cannot parse the target {text!r}. Write 'name>=value unit', 'name<=value unit' or "
        "'low<=name<=high unit', e.g. 'thermal_conductivity>=0.3 W/(m K)' or 'Tg>=450 K'."
    )


def parse_target(texts: str | Iterable[str]) -> Target:
    """Parse command-line targets into a :class:`Target`.

    Parameters
    ----------
    texts : str or iterable of str
        Each ``"name>=value unit"``, ``"name<=value unit"`` or ``"low<=name<=high unit"``
        (``>``/``<`` are read as ``>=``/``<=``); a single string may hold several targets
        separated by ``;``. Units are required for dimensional properties.

    Returns
    -------
    Target

    Raises
    ------
    InputError
        Unparseable text, unknown property, impossible unit or bounds, empty box.

    Examples
    --------
    >>> str(parse_target("thermal_conductivity>=0.3 W/(m K); 400<=Tg<=600 K"))
    'thermal_conductivity>=0.3 W/(m K); 400<=Tg<=600 K'
    >>> parse_target("Tg>=450 W/(m K)")
    Traceback (most recent call last):
    ...
    vlab.errors.InputError: The unit 'W/(m K)' is not possible for the property 'Tg' (a quantity
    in K). Use one of 'K', 'degC', '°C'.
    """
    texts = [t for t in texts.split(";") if t.strip()] if isinstance(texts, str) else list(texts)
    if not texts:
        raise InputError(
            "The target is empty. Write one or more 'name>=value unit' boxes separated by ';', "
            "e.g. 'thermal_conductivity>=0.3 W/(m K); Tg>=450 K'."
        )
    return Target(boxes=tuple(_parse_one(t) for t in texts))
