"""Registry of campaign kinds: what an item is, how it is evaluated, what is stored.

A :class:`Kind` bundles plain functions (no Dask in them):

- ``check_params(dict) -> dict``: validate and complete the kind's parameters (JSON-able);
- ``generators``: named input generators ``(gen_params, n, rng) -> list[item]``;
- ``outputs(params, items) -> {name: Variable}``: what is stored per item;
- ``evaluate_one(item, params, context) -> result`` (timed per item; raising fails only that
  item) or ``evaluate_batch(items, params, context) -> list[result | Exception]`` for kinds
  that are faster in batches (a failing item returns its exception, the others go on);
- ``setup(params) -> context``: expensive per-worker preparation (a loaded model), done once
  per worker process and cached;
- ``identity(params) -> dict``: the calculator/model id and version, part of every item's
  content hash and of the store's provenance;
- ``progress_units(params, item) -> int`` (optional): units of progress (``progress_unit``,
  e.g. SMC steps) an item reports while it runs with
  :func:`vlab.campaign.progress.report_progress`; without it the progress bar counts items.

Items are dicts of JSON scalars, numpy arrays or ase.Atoms; results are dicts of numbers or
arrays matching ``outputs``. Kinds register themselves with :func:`register_kind`; the
science kinds live in the modules of ``vlab.campaign.kinds`` (``probe``, ``conductance``,
``polymers``, ``design``) that adapt the pure science
packages.

Examples
--------
>>> kind = get_kind("engine-probe")
>>> params = kind.check_params({"seconds": 0})
>>> items = kind.generators["range"]({}, 3, None)
>>> [kind.evaluate_one(item, params, None)["value"] for item in items]
[0.0, 1.0, 4.0]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vlab.catalog.schema import Variable
from vlab.errors import SpecError

__all__ = ["Item", "Kind", "get_kind", "kind_names", "register_kind"]

Item = dict[str, Any]


def _no_setup(params: Mapping[str, Any]) -> None:
    return None


@dataclass(frozen=True, kw_only=True)
class Kind:
    """A registered kind of evaluation (see the module docstring)."""

    name: str
    version: str
    description: str
    check_params: Callable[[Mapping[str, Any]], dict[str, Any]]
    outputs: Callable[[Mapping[str, Any], Sequence[Item]], dict[str, Variable]]
    evaluate_one: Callable[[Item, Mapping[str, Any], Any], dict[str, Any]] | None = None
    evaluate_batch: Callable[[Sequence[Item], Mapping[str, Any], Any], list] | None = None
    generators: Mapping[str, Callable[[Mapping[str, Any], int, Any], list[Item]]] = field(
        default_factory=dict
    )
    setup: Callable[[Mapping[str, Any]], Any] = _no_setup
    identity: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None
    items_from_dataset: Callable[[Any, Mapping[str, Any]], list[Item]] | None = None
    input_attrs: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    progress_units: Callable[[Mapping[str, Any], Item], int] | None = None
    progress_unit: str = "item"

    def __post_init__(self) -> None:
        if (self.evaluate_one is None) == (self.evaluate_batch is None):
            raise TypeError(
                f"Kind {self.name!r} needs exactly one of evaluate_one, evaluate_batch."
            )

    def identify(self, params: Mapping[str, Any]) -> dict[str, Any]:
        if self.identity is not None:
            return self.identity(params)
        return {"id": self.name, "version": self.version, "params": dict(params)}


_REGISTRY: dict[str, Kind] = {}


def register_kind(kind: Kind) -> Kind:
    """Add ``kind`` to the registry (replacing a kind of the same name)."""
    _REGISTRY[kind.name] = kind
    return kind


def _load_plugins() -> None:
    """Register the built-in kinds (imported on first use: they pull in the science)."""
    from vlab.campaign.kinds import conductance, design, polymers, probe  # noqa: F401


def kind_names() -> list[str]:
    """Names of all registered kinds."""
    _load_plugins()
    return sorted(_REGISTRY)


def get_kind(name: str) -> Kind:
    """The registered kind ``name``; a :class:`SpecError` lists the known kinds otherwise."""
    if name not in _REGISTRY:
        _load_plugins()
    if name not in _REGISTRY:
        raise SpecError(
            f"Unknown campaign kind {name!r}; registered kinds: {', '.join(kind_names())}."
        )
    return _REGISTRY[name]
