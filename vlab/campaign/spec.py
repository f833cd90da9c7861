"""Campaign specs: YAML files parsed at the boundary into frozen dataclasses.

A spec names a registered *kind* of evaluation, its parameters, where the inputs come
from, the chunk size and the output store::

    name: probe-demo                 # campaign (and catalog entry) name
    kind: engine-probe               # `vlab run --help` lists the kinds
    description: a cheap campaign that exercises the engine
    params: {seconds: 0.001}         # kind parameters (validated by the kind)
    inputs:                          # exactly one of generator / file / catalog
      generator: range
      n: 1000
      seed: 0
      params: {}                     # generator parameters
    chunk_size: 100                  # items per Dask task
    store: results/probe.zarr        # relative to the spec file's folder, or s3://BUCKET/PATH
    register: true                   # add the store to the catalog index

Examples
--------
>>> spec = parse_spec({"name": "p", "kind": "engine-probe", "store": "p.zarr",
...                    "inputs": {"generator": "range", "n": 10}})
>>> spec.inputs.n, spec.chunk_size
(10, 100)
>>> parse_spec({"name": "p", "kind": "engine-probe", "store": "p.zarr", "chunksize": 5})
Traceback (most recent call last):
...
vlab.errors.SpecError: spec: unknown key 'chunksize'; allowed keys: chunk_size, ...
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import reprlib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlab import config
from vlab._utils import canonical_json, content_hash
from vlab._yaml import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES, load_yaml_file, one_line
from vlab.catalog.location import StoreURL, as_location, enclosing_store
from vlab.errors import InputError, SpecError, did_you_mean

__all__ = [
    "MAX_CHUNK_SIZE",
    "MAX_INPUT_FILE_BYTES",
    "MAX_ITEMS",
    "MAX_PATH_LENGTH",
    "MAX_RETRIES",
    "MAX_SEED",
    "MAX_TEXT_LENGTH",
    "CampaignSpec",
    "InputsSpec",
    "load_spec",
    "parse_spec",
]

MAX_ITEMS = 10_000_000
"""Most items of one campaign (``inputs.n``, rows of an inputs file)."""
MAX_CHUNK_SIZE = 1_000_000
"""Largest ``chunk_size`` (items per Dask task)."""
MAX_SEED = 2**32 - 1
"""Largest ``inputs.seed`` (seeds are 0 ... 2**32 - 1)."""
MAX_RETRIES = 100
"""Most ``retries`` of a task."""
MAX_INPUT_FILE_BYTES = 64_000_000
"""Largest ``inputs.file`` (bytes)."""
MAX_PATH_LENGTH = 4096
"""Longest ``store`` or ``inputs.file`` path (characters)."""
MAX_NAME_LENGTH = 128
"""Longest name (campaign, kind, generator, catalog entry)."""
MAX_TEXT_LENGTH = 10_000
"""Longest ``description``."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_INPUT_SUFFIXES = (".csv", ".yaml", ".yml", ".json")
_TOP_KEYS = {
    "name",
    "kind",
    "description",
    "params",
    "inputs",
    "chunk_size",
    "store",
    "register",
    "retries",
}
_INPUT_KEYS = {"generator", "n", "seed", "params", "file", "catalog", "select"}
_ONLY_WITH = {"n": "generator", "seed": "generator", "params": "generator", "select": "catalog"}


@dataclass(frozen=True, kw_only=True)
class InputsSpec:
    """Where a campaign's items come from: a generator, a file, or a catalog store."""

    generator: str | None = None
    n: int | None = None
    seed: int = 0
    params: Mapping[str, Any] = field(default_factory=dict)
    file: Path | None = None
    catalog: str | None = None
    select: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class CampaignSpec:
    """A validated campaign spec (see the module docstring for the YAML form)."""

    name: str
    kind: str
    store: Path | StoreURL
    inputs: InputsSpec
    params: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    chunk_size: int = 100
    retries: int = 2
    register: bool = True
    source: str = "<dict>"

    @property
    def spec_hash(self) -> str:
        """Hash of everything that defines the results (not the store location)."""
        return content_hash(self.as_dict(include_store=False))

    def as_dict(self, *, include_store: bool = True) -> dict[str, Any]:
        inputs = {k: v for k, v in vars(self.inputs).items() if v not in (None, {}, ())}
        if self.inputs.file is not None:
            inputs["file"] = str(self.inputs.file)
        out = {
            "name": self.name,
            "kind": self.kind,
            "params": dict(self.params),
            "inputs": inputs,
            "chunk_size": self.chunk_size,
        }
        if include_store:
            out["store"] = str(self.store)
        return json_roundtrip(out)


def json_roundtrip(obj: Any) -> Any:
    import json

    return json.loads(canonical_json(obj))


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlong = 3, 60, 60, 40
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = _REPR.maxfrozenset = 4


def _short(value: Any) -> str:
    """``repr(value)`` on one line, bounded in length and in work (shared, huge values)."""
    try:
        text = _REPR.repr(value)
    except (ValueError, RecursionError):  # e.g. an int of more than 4,300 digits
        text = f"a {type(value).__name__}"
    return one_line(text, 80)


def _fail(source: str, message: str) -> SpecError:
    return SpecError(one_line(f"{source}: {message}"))


def _check_keys(data: Mapping, allowed: set[str], source: str, where: str = "") -> None:
    for key in data:
        if key not in allowed:
            raise _fail(
                source,
                f"unknown key {where}{_short(key)}; allowed keys: {', '.join(sorted(allowed))}."
                + did_you_mean(key, allowed),
            )


def _typed(data: Mapping, key: str, types: type | tuple, source: str, what: str, default=...):
    if key not in data:
        if default is ...:
            raise _fail(source, f"the required key {_label(data, key)!r} is missing ({what}).")
        return default
    value = data[key]
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in _tuple(types)):
        raise _fail(source, f"the {_label(data, key)!r} key must be {what}. Got {_short(value)}.")
    return value


class _Section(dict):
    """A nested mapping of a spec that knows its place (``inputs``) for messages."""

    def __init__(self, data: Mapping, where: str) -> None:
        super().__init__(data)
        self.where = where


def _label(data: Mapping, key: str) -> str:
    return f"{getattr(data, 'where', '')}{key}"


def _tuple(types: type | tuple) -> tuple:
    return types if isinstance(types, tuple) else (types,)


def _integer(data: Mapping, key: str, bounds: tuple[int, int, str], source: str, default=...):
    """An int (not a bool, not a float) within ``bounds`` = (low, high, name of the limit)."""
    low, high, limit = bounds
    allowed = f"an integer from {low:,} to {high:,} ({limit})"
    value = _typed(data, key, int, source, allowed, default)
    if value < low:
        least = "> 0" if low == 1 else f">= {low:,}"
        raise _fail(
            source,
            f"the {_label(data, key)!r} key must be {least}. Got {_short(value)}. "
            f"Allowed: {allowed}.",
        )
    if value > high:
        raise _fail(
            source,
            f"the {_label(data, key)!r} key must be <= {high:,} ({limit}). Got {_short(value)}.",
        )
    return value


def _text(
    data: Mapping, key: str, source: str, what: str, default=..., *, limit=MAX_NAME_LENGTH
) -> str:
    """A string without NUL or control characters (newlines and tabs only in long text)."""
    value = _typed(data, key, str, source, what, default)
    allowed = "\n\t" if limit == MAX_TEXT_LENGTH else ""
    bad = next((c for c in value if _is_control(c) and c not in allowed), None)
    if bad is not None:
        raise _fail(
            source,
            f"the {_label(data, key)!r} key must be {what} without control characters; "
            "got the character "
            f"{bad!r} in {_short(value)}.",
        )
    if len(value) > limit:
        raise _fail(
            source,
            f"the {_label(data, key)!r} key must be {what} of at most {limit:,} characters. "
            f"Got {len(value):,} characters.",
        )
    return value


def _is_control(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Cs")  # NUL, newline, ESC, ... and surrogates


def _name(data: Mapping, key: str, source: str, what: str) -> str:
    value = _text(data, key, source, what)
    if not _NAME.fullmatch(value):
        raise _fail(
            source,
            f"the {_label(data, key)!r} key must be {what} of letters, digits, '.', '_', '-' "
            f"that starts with a letter or digit. Got {_short(value)}.",
        )
    return value


def _plain(value: Any, source: str, where: str, depth: int = 0, budget: list | None = None) -> None:
    """``value`` is plain data: mappings with text keys, lists, text, numbers, bools, null.

    At most :data:`MAX_DEPTH` levels and ``MAX_NODES`` values in all (a value shared by
    reference counts each time it appears), so the walk is bounded.
    """
    budget = [MAX_NODES] if budget is None else budget
    budget[0] -= 1
    shown = repr(one_line(where, 100))
    if depth > MAX_DEPTH:
        raise _fail(source, f"{shown} is nested deeper than {MAX_DEPTH} levels (MAX_DEPTH).")
    if budget[0] < 0:
        raise _fail(source, f"{shown} holds more than {MAX_NODES:,} values (MAX_NODES).")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise _fail(source, f"the keys of {shown} must be text. Got {_short(key)}.")
            _plain(item, source, f"{where}.{key}", depth + 1, budget)
    elif isinstance(value, list):
        for item in value:
            _plain(item, source, where, depth + 1, budget)
    elif isinstance(value, float) and not math.isfinite(value):
        raise _fail(source, f"{shown} must hold finite numbers. Got {_short(value)}.")
    elif value is not None and not isinstance(value, (str, int, float, bool)):
        raise _fail(
            source,
            f"{shown} must hold plain values (text, numbers, true/false, null, lists, "
            f"mappings); got a {type(value).__name__}: {_short(value)} (quote dates).",
        )


def _mapping(data: Mapping, key: str, source: str, where: str) -> dict[str, Any]:
    value = dict(_typed(data, key, Mapping, source, "a mapping", {}))
    _plain(value, source, where)
    return value


def _path_text(data: Mapping, key: str, source: str, what: str) -> Path:
    text = _text(data, key, source, what, limit=MAX_PATH_LENGTH)
    if not text.strip():
        raise _fail(source, f"the {_label(data, key)!r} key must be {what}. Got an empty text.")
    return Path(os.path.expanduser(text))


def _input_file(data: Mapping, base: Path, source: str) -> Path:
    path = (base / _path_text(data, "file", source, "a file path")).resolve()
    shown = one_line(repr(str(path)), 200)
    if path.suffix.lower() not in _INPUT_SUFFIXES:
        allowed = ", ".join(_INPUT_SUFFIXES)
        raise _fail(source, f"the inputs file {shown} must end in {allowed}.")
    try:
        if not path.is_file():
            raise _fail(source, f"the inputs file {shown} does not exist or is not a file.")
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(8192)
    except OSError as err:
        raise _fail(source, f"the inputs file {shown} cannot be read: {err.strerror}.") from None
    if size > MAX_INPUT_FILE_BYTES:
        raise _fail(
            source,
            f"the inputs file {shown} has {size:,} bytes; at most {MAX_INPUT_FILE_BYTES:,} "
            "(MAX_INPUT_FILE_BYTES).",
        )
    if b"\x00" in head:
        raise _fail(source, f"the inputs file {shown} is binary (NUL bytes); it must be text.")
    return path


def _select(data: Mapping, source: str) -> dict[str, Any]:
    """``select``: ``status`` (a text) and ``VARIABLE: [low, high]`` ranges (null = open)."""
    select = _mapping(data, "select", source, "inputs.select")
    statuses = ("pending", "done", "failed")
    for key, value in select.items():
        if key == "status":
            ok = value is None or (isinstance(value, str) and value.lower() in statuses)
        else:
            ok = isinstance(value, list) and len(value) == 2
            ok = ok and all(v is None or _is_number(v) for v in value)
        if not ok:
            raise _fail(
                source,
                f"'inputs.select.{key}' must be "
                + (
                    f"one of {', '.join(statuses)} (null: any)"
                    if key == "status"
                    else "[low, high] numbers (null: unbounded); inputs.select holds 'status' "
                    "and VARIABLE: [low, high] ranges"
                )
                + f". Got {_short(value)}.",
            )
        if key != "status" and None not in value and value[0] > value[1]:
            raise _fail(
                source,
                f"'inputs.select.{key}' is an empty range: low {value[0]} > high {value[1]}.",
            )
    return select


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _parse_inputs(data: Any, base: Path, source: str) -> InputsSpec:
    if not isinstance(data, Mapping):
        raise _fail(source, f"the 'inputs' key must be a mapping. Got {_short(data)}.")
    _check_keys(data, _INPUT_KEYS, source, "inputs.")
    data = _Section(data, "inputs.")
    chosen = [k for k in ("generator", "file", "catalog") if k in data]
    if len(chosen) != 1:
        raise _fail(
            source,
            "'inputs' needs exactly one of 'generator', 'file' or 'catalog'; "
            f"got {chosen or 'none'}.",
        )
    for key, needs in _ONLY_WITH.items():
        if key in data and needs not in data:
            raise _fail(source, f"'inputs.{key}' is used only with 'inputs.{needs}'; remove it.")
    kw: dict[str, Any] = {
        "seed": _integer(data, "seed", (0, MAX_SEED, "MAX_SEED"), source, 0),
        "params": _mapping(data, "params", source, "inputs.params"),
        "select": _select(data, source),
    }
    if "generator" in data:
        kw["generator"] = _name(data, "generator", source, "a generator name")
        kw["n"] = _integer(data, "n", (1, MAX_ITEMS, "MAX_ITEMS"), source)
    elif "file" in data:
        kw["file"] = _input_file(data, base, source)
    else:
        kw["catalog"] = _name(data, "catalog", source, "a catalog entry name")
    return InputsSpec(**kw)


def _forbidden_stores(base: Path) -> dict[Path, str]:
    """Folders a campaign must never write into as its store, by what they are."""
    out = {Path(base.anchor or "/"): "the root folder", base: "the spec's own folder"}
    with contextlib.suppress(RuntimeError, OSError, KeyError):  # no home folder known
        out.setdefault(Path.home().resolve(), "your home folder")
    return out


def _store(data: Mapping, base: Path, source: str) -> Path | StoreURL:
    text = _text(data, "store", source, "a path or URL of a .zarr store", limit=MAX_PATH_LENGTH)
    try:
        location = as_location(text.strip())
    except InputError as err:
        raise _fail(source, f"the 'store': {err}") from None
    if isinstance(location, StoreURL):
        return location
    if "://" in text:  # a file:// URL
        text = str(location)
    path = _path_text({**data, "store": text}, "store", source, "a path to a .zarr store")
    store = path if path.is_absolute() else (base / path).resolve()
    try:
        resolved = store.resolve()
    except (OSError, RuntimeError) as err:  # e.g. a symlink loop
        raise _fail(source, f"the 'store' {_short(str(path))} cannot be resolved: {err}") from None
    forbidden = _forbidden_stores(base)
    for where, hit in (
        ("is", lambda f: resolved == f),
        ("contains", lambda f: resolved in f.parents),
    ):
        for folder, what in forbidden.items():
            if hit(folder):
                raise _fail(
                    source,
                    f"the 'store' {one_line(repr(str(resolved)), 200)} {where} {what}; a store "
                    "must be a new folder (e.g. results/NAME.zarr), never one that holds "
                    "other files.",
                )
    inside = enclosing_store(resolved)
    if inside is not None:
        raise _fail(
            source,
            f"the 'store' {one_line(repr(str(resolved)), 200)} is inside the store "
            f"{one_line(repr(str(inside)), 200)}, which it would change; a store must be a new "
            "folder outside any .zarr store.",
        )
    return store


def _or_configured(data: Mapping, key: str) -> Mapping:
    """``data`` if it has ``key``, else the configured default (``campaign.KEY``), labelled."""
    if key in data:
        return data
    return _Section({key: config.get(f"campaign.{key}")}, "(configuration) campaign.")


def _from_python(value: Any, depth: int = 0, seen: dict | None = None) -> Any:
    """A spec written in Python as YAML would give it: numpy numbers as numbers, tuples as
    lists, paths as text. A container shared by reference is converted once (and stays
    shared); deeper than :data:`MAX_DEPTH`, or past ``MAX_NODES`` containers, values are
    left as they are for :func:`_plain` to refuse."""
    seen = {} if seen is None else seen
    if isinstance(value, (Mapping, list, tuple)):
        if id(value) in seen:
            return seen[id(value)]
        if depth > MAX_DEPTH + 1 or len(seen) > MAX_NODES:
            return value
        seen[id(value)] = value  # a cycle meets the original, which _plain refuses
        if isinstance(value, Mapping):
            out: Any = {k: _from_python(v, depth + 1, seen) for k, v in value.items()}
        else:
            out = [_from_python(v, depth + 1, seen) for v in value]
        seen[id(value)] = out
        return out
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        return value.item()  # a numpy scalar (numpy itself need not be imported here)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def parse_spec(data: Any, *, source: str = "spec", base: Path | None = None) -> CampaignSpec:
    """Validate a spec mapping into a :class:`CampaignSpec`; errors name the bad key.

    Raises
    ------
    SpecError
        One line naming the key, the value received (shortened) and what is allowed
        (bounds: :data:`MAX_ITEMS`, :data:`MAX_CHUNK_SIZE`, :data:`MAX_SEED`,
        :data:`MAX_RETRIES`, :data:`MAX_INPUT_FILE_BYTES`, :data:`MAX_PATH_LENGTH`).
    """
    source = one_line(source, 300)
    if not isinstance(data, Mapping):
        raise _fail(
            source, f"a campaign spec must be a mapping of keys. Got {type(data).__name__}."
        )
    data = _from_python(data)
    _check_keys(data, _TOP_KEYS, source)
    base = (base or Path.cwd()).resolve()
    name = _name(data, "name", source, "a campaign name")
    kind = _name(data, "kind", source, "a registered kind name")
    chunk = _integer(
        _or_configured(data, "chunk_size"),
        "chunk_size",
        (1, MAX_CHUNK_SIZE, "MAX_CHUNK_SIZE"),
        source,
    )
    retries = _integer(
        _or_configured(data, "retries"), "retries", (0, MAX_RETRIES, "MAX_RETRIES"), source
    )
    if "inputs" not in data:
        raise _fail(source, "the required key 'inputs' is missing (where the items come from).")
    store = _store(data, base, source)
    return CampaignSpec(
        name=name,
        kind=kind,
        store=store,
        inputs=_parse_inputs(data["inputs"], base, source),
        params=_model_beside(_mapping(data, "params", source, "params"), base),
        description=_text(data, "description", source, "a text", "", limit=MAX_TEXT_LENGTH),
        chunk_size=chunk,
        retries=retries,
        register=_typed(data, "register", bool, source, "true or false", True),
        source=source,
    )


def _model_beside(params: dict, base: Path) -> dict:
    """``params`` with a relative ``model`` path that names a file beside the spec (under
    ``base``) made absolute: paths in a spec are relative to the spec file. Other values (a
    shipped model's name, a path from the current folder) are left as they are."""
    model = params.get("model")
    if not isinstance(model, str) or not model or os.path.isabs(os.path.expanduser(model)):
        return params
    try:
        beside = (base / model).resolve()
        found = beside.is_file()
    except (OSError, ValueError, RuntimeError):
        return params
    return {**params, "model": str(beside)} if found else params


def load_spec(path: str | os.PathLike) -> CampaignSpec:
    """Read and validate a YAML spec file (safe loader, with limits).

    The file may have at most 1 MB (``vlab._yaml.MAX_FILE_BYTES``), nesting
    depth and alias expansion are limited (``MAX_DEPTH``, ``MAX_NODES`` there), so a hostile
    file fails in milliseconds.

    Raises
    ------
    SpecError
        If the file does not exist, is not YAML, or any key is invalid (the message names it).
    """
    shown = one_line(repr(str(path)), 300)
    try:
        path = Path(path)
        missing, other = not path.is_file(), path.exists()
    except (OSError, ValueError):  # ValueError: a NUL byte in the path
        missing, other = True, False
    if missing and other:
        raise SpecError(f"Campaign spec {shown} is not a regular file; give a YAML spec file.")
    if missing:
        raise SpecError(f"Campaign spec {shown} not found: no such file.")
    data = load_yaml_file(path, error=SpecError, what="campaign spec", max_bytes=MAX_FILE_BYTES)
    return parse_spec(data, source=str(path), base=path.resolve().parent)
