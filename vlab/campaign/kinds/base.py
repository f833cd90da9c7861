"""Registry of campaign kinds: what an item is, how it is evaluated, what is stored.

A :class:`Kind` bundles plain functions (no Dask in them):

- ``check_params(mapping) -> params``: validate and complete the kind's parameters; the
  built-in kinds return a :class:`KindParams` (a frozen, keyword-only dataclass that reads
  as a mapping of JSON-able values) made by :func:`parse_params`;
- ``generators``: named input generators ``(gen_params, n, rng) -> list[item]``, and
  ``generator_params``: the names each generator takes (``inputs.params`` with any other name
  is refused before any work; a generator missing there takes any); ``item_fields``: the
  fields every item needs (items of a file or a store without them are refused);
- ``outputs(params, items) -> {name: Variable}``: what is stored per item;
- ``evaluate_one(item, params, context) -> result`` (timed per item; raising fails only that
  item) or ``evaluate_batch(items, params, context) -> list[result | Exception]`` for kinds
  that are faster in batches (a failing item returns its exception, the others go on);
- ``setup(params) -> context``: expensive per-worker preparation (a loaded model), done once
  per worker process and cached;
- ``identity(params) -> dict``: the calculator/model id and version, part of every item's
  content hash and of the store's provenance (default: kind, version and parameters;
  ``identity_extra(params) -> dict`` adds keys to that default, e.g. digests of input data);
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

import dataclasses
import math
import numbers
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from vlab.catalog.schema import Variable
from vlab.errors import SpecError, did_you_mean

__all__ = [
    "SOURCE_HASH",
    "Item",
    "Kind",
    "KindParams",
    "get_kind",
    "kind_names",
    "parse_params",
    "plain",
    "register_kind",
]

Item = dict[str, Any]

#: Key under which an item may carry the content hash it already has: an item read from a
#: done item of a store of the same kind and calculator is the same calculation. The runner
#: takes the hash from there (and drops the key) instead of hashing the item's contents.
SOURCE_HASH = "__source_hash__"


def _no_setup(params: Mapping[str, Any]) -> None:
    return None


@dataclass(frozen=True, kw_only=True)
class Kind:
    """A registered kind of evaluation (see the module docstring)."""

    name: str
    version: str
    description: str
    check_params: Callable[[Mapping[str, Any]], Mapping[str, Any]]
    outputs: Callable[[Mapping[str, Any], Sequence[Item]], dict[str, Variable]]
    evaluate_one: Callable[[Item, Mapping[str, Any], Any], dict[str, Any]] | None = None
    evaluate_batch: Callable[[Sequence[Item], Mapping[str, Any], Any], list] | None = None
    generators: Mapping[str, Callable[[Mapping[str, Any], int, Any], list[Item]]] = field(
        default_factory=dict
    )
    generator_params: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: Fields every item must have (checked before any work for items from a file or store).
    item_fields: tuple[str, ...] = ()
    setup: Callable[[Mapping[str, Any]], Any] = _no_setup
    identity: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None
    identity_extra: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None
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
        """The identity of ``params``: ``identity(params)``, else kind, version and parameters
        (plus whatever ``identity_extra(params)`` adds)."""
        if self.identity is not None:
            return self.identity(params)
        default = {"id": self.name, "version": self.version, "params": plain(params)}
        return default | (self.identity_extra(params) if self.identity_extra else {})


# --------------------------------------------------------------------------- parameters
class KindParams(Mapping):
    """Base of the kinds' parameter classes: frozen keyword-only dataclasses of typed fields.

    A subclass declares each parameter as a field with its default and, in the field's
    ``metadata``, its limits: ``min``/``max`` (numbers, and each element of a tuple),
    ``max_len`` (tuples) and ``choices`` (strings). :func:`parse_params` builds it from a
    spec's mapping. An instance reads as a read-only mapping of its fields (``params["x"]``,
    ``dict(params)``), so code written for parameter dicts works unchanged, and it hashes
    (:func:`vlab._utils.content_hash`) like the equal dict.
    """

    def __getitem__(self, key: str) -> Any:
        if key in self._names():
            return getattr(self, key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    @classmethod
    def _names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    def to_dict(self) -> dict[str, Any]:
        """The parameters as plain JSON data (nested mappings as dicts, tuples as lists)."""
        return plain(self)


P = TypeVar("P", bound=KindParams)


def plain(value: Any) -> Any:
    """``value`` with every mapping turned into a dict and every tuple into a list."""
    if isinstance(value, Mapping):
        return {key: plain(v) for key, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    return value


def short_repr(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters (one line)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_params(cls: type[P], data: Any, *, kind: str, where: str = "") -> P:
    """Check the mapping ``data`` against the fields of ``cls`` and build it.

    Values keep the type they were given (an int given for a float stays an int, so that
    content hashes do not change), except sequences, which become tuples. ``where`` is the
    dotted path of a nested mapping (e.g. ``"structure"``) used in the messages.

    Raises
    ------
    SpecError
        One line naming the kind and the key: an unknown key (with the allowed ones), a value
        of the wrong type (``bool`` is not an int; an int is a float) or out of its range.

    Examples
    --------
    >>> @dataclass(frozen=True, kw_only=True)
    ... class Demo(KindParams):
    ...     n: int = field(default=1, metadata={"min": 1, "max": 10})
    >>> parse_params(Demo, {"n": 3}, kind="demo")["n"]
    3
    >>> parse_params(Demo, {"n": 30}, kind="demo")
    Traceback (most recent call last):
    ...
    vlab.errors.SpecError: demo: 'n' must be an integer >= 1 and <= 10. Got 30.
    """
    prefix = f"{where}." if where else ""
    if not isinstance(data, Mapping):
        what = f"{where!r}" if where else "'params'"
        raise SpecError(f"{kind}: {what} must be a mapping. Got {short_repr(data)}.")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(map(str, set(data) - set(fields)))
    if unknown:
        noun = f"{where} key(s)" if where else "parameter(s)"
        hint = did_you_mean(unknown[0], fields) if len(unknown) == 1 else ""
        raise SpecError(f"{kind}: unknown {noun} {unknown}; allowed: {sorted(fields)}.{hint}")
    hints = typing.get_type_hints(cls)
    values = {
        name: _check_value(value, hints[name], fields[name].metadata, kind, prefix + name)
        for name, value in data.items()
    }
    return cls(**values)


def _check_value(value: Any, tp: Any, meta: Mapping, kind: str, key: str) -> Any:
    """``value`` checked against the type ``tp`` and the limits in ``meta``."""
    args = typing.get_args(tp)
    if isinstance(tp, type) and issubclass(tp, KindParams):
        return parse_params(tp, value, kind=kind, where=key)
    if type(None) in args:  # X | None
        if value is None:
            return None
        (tp,) = [a for a in args if a is not type(None)]
        return _check_value(value, tp, meta, kind, key)
    if typing.get_origin(tp) is tuple:
        return _check_tuple(value, args, meta, kind, key)
    if typing.get_origin(tp) in (Mapping, dict):
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise _bad(kind, key, "a mapping of names", value)
        return dict(value)
    _check_scalar(value, tp, meta, kind, key)
    return value


def _check_tuple(value: Any, args: tuple, meta: Mapping, kind: str, key: str) -> tuple:
    tp = args[0]
    n = None if len(args) == 2 and args[1] is Ellipsis else len(args)
    if n is not None:
        rule = f"a list of {n} {_rule(tp, meta, plural=True)}"
    else:
        rule = f"a list of {_rule(tp, meta, plural=True)}"
        if "max_len" in meta:
            rule += f" (at most {meta['max_len']:,} of them)"
    if not isinstance(value, (list, tuple)):
        raise _bad(kind, key, rule, value)
    if (n is not None and len(value) != n) or len(value) > meta.get("max_len", math.inf):
        raise _bad(kind, key, rule, value)
    for v in value:
        if not _scalar_ok(v, tp, meta):
            raise _bad(kind, key, rule, value)
    return tuple(value)


_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
_PLURALS = {bool: "booleans", int: "integers", float: "numbers", str: "strings"}


def _rule(tp: type, meta: Mapping, *, plural: bool = False) -> str:
    rule = (_PLURALS if plural else _WORDS)[tp]
    if "choices" in meta:
        return ("one of " if not plural else "each one of ") + repr(tuple(meta["choices"]))
    limits = [f"{op} {_num(meta[k])}" for k, op in (("min", ">="), ("max", "<=")) if k in meta]
    return f"{rule} {' and '.join(limits)}" if limits else rule


def _num(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"


def _scalar_ok(value: Any, tp: type, meta: Mapping) -> bool:
    if tp is bool:
        return isinstance(value, bool)
    if tp is str:
        return isinstance(value, str) and value in meta.get("choices", (value,))
    integral = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if tp is int:
        ok = integral
    else:
        ok = integral or (isinstance(value, numbers.Real) and math.isfinite(value))
    return ok and meta.get("min", -math.inf) <= value <= meta.get("max", math.inf)


def _check_scalar(value: Any, tp: type, meta: Mapping, kind: str, key: str) -> None:
    if not _scalar_ok(value, tp, meta):
        raise _bad(kind, key, _rule(tp, meta), value)


def _bad(kind: str, key: str, rule: str, value: Any) -> SpecError:
    return SpecError(f"{kind}: {key!r} must be {rule}. Got {short_repr(value)}.")


def spec_error(kind: str, err: Exception) -> SpecError:
    """A one-line :class:`SpecError` of ``kind`` carrying the message of ``err``."""
    return SpecError(f"{kind}: " + " ".join(str(err).split()))


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
            + did_you_mean(name, kind_names())
        )
    return _REGISTRY[name]
