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
    chunk_size: 100                  # items per zarr chunk = per Dask task
    store: results/probe.zarr        # relative to the spec file's folder
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

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vlab import config
from vlab._utils import canonical_json, content_hash
from vlab.errors import SpecError

__all__ = ["CampaignSpec", "InputsSpec", "load_spec", "parse_spec"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


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
    store: Path
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


def _fail(source: str, message: str) -> SpecError:
    return SpecError(f"{source}: {message}")


def _check_keys(data: Mapping, allowed: set[str], source: str, where: str = "") -> None:
    for key in data:
        if key not in allowed:
            raise _fail(
                source, f"unknown key {where}{key!r}; allowed keys: {', '.join(sorted(allowed))}."
            )


def _typed(data: Mapping, key: str, types: type | tuple, source: str, what: str, default=...):
    if key not in data:
        if default is ...:
            raise _fail(source, f"the required key {key!r} is missing ({what}).")
        return default
    value = data[key]
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in _tuple(types)):
        raise _fail(source, f"the {key!r} key must be {what}. Got {value!r}.")
    return value


def _tuple(types: type | tuple) -> tuple:
    return types if isinstance(types, tuple) else (types,)


def _parse_inputs(data: Any, base: Path, source: str) -> InputsSpec:
    if not isinstance(data, Mapping):
        raise _fail(source, f"the 'inputs' key must be a mapping. Got {data!r}.")
    _check_keys(
        data, {"generator", "n", "seed", "params", "file", "catalog", "select"}, source, "inputs."
    )
    chosen = [k for k in ("generator", "file", "catalog") if k in data]
    if len(chosen) != 1:
        raise _fail(
            source,
            "'inputs' needs exactly one of 'generator', 'file' or 'catalog'; "
            f"got {chosen or 'none'}.",
        )
    kw: dict[str, Any] = {
        "seed": _typed(data, "seed", int, source, "an integer seed", 0),
        "params": dict(_typed(data, "params", Mapping, source, "a mapping", {})),
        "select": dict(_typed(data, "select", Mapping, source, "a mapping", {})),
    }
    if "generator" in data:
        kw["generator"] = _typed(data, "generator", str, source, "a generator name")
        n = _typed(data, "n", int, source, "a positive integer number of items")
        if n <= 0:
            raise _fail(source, f"the 'n' key of 'inputs' must be a positive integer. Got {n}.")
        kw["n"] = n
    elif "file" in data:
        path = (base / _typed(data, "file", str, source, "a file path")).resolve()
        if not path.is_file():
            raise _fail(source, f"the inputs file {str(path)!r} does not exist.")
        kw["file"] = path
    else:
        kw["catalog"] = _typed(data, "catalog", str, source, "a catalog entry name")
    return InputsSpec(**kw)


def parse_spec(data: Any, *, source: str = "spec", base: Path | None = None) -> CampaignSpec:
    """Validate a spec mapping into a :class:`CampaignSpec`; errors name the bad key."""
    if not isinstance(data, Mapping):
        raise _fail(
            source, f"a campaign spec must be a mapping of keys. Got {type(data).__name__}."
        )
    allowed = {
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
    _check_keys(data, allowed, source)
    base = base or Path.cwd()
    name = _typed(data, "name", str, source, "a campaign name")
    if not _NAME.match(name):
        raise _fail(
            source, f"the 'name' key must use letters, digits, '.', '_', '-'. Got {name!r}."
        )
    chunk = _typed(
        data, "chunk_size", int, source, "a positive integer", config.get("campaign.chunk_size")
    )
    retries = _typed(
        data, "retries", int, source, "an integer >= 0", config.get("campaign.retries")
    )
    if chunk <= 0 or retries < 0:
        key, val = ("chunk_size", chunk) if chunk <= 0 else ("retries", retries)
        raise _fail(
            source,
            f"the {key!r} key must be {'> 0' if key == 'chunk_size' else '>= 0'}. Got {val}.",
        )
    store = Path(os.path.expanduser(_typed(data, "store", str, source, "a path to a .zarr store")))
    return CampaignSpec(
        name=name,
        kind=_typed(data, "kind", str, source, "a registered kind name"),
        store=store if store.is_absolute() else (base / store).resolve(),
        inputs=_parse_inputs(data.get("inputs"), base, source)
        if "inputs" in data
        else _fail_missing(source),
        params=dict(_typed(data, "params", Mapping, source, "a mapping", {})),
        description=_typed(data, "description", str, source, "a text", ""),
        chunk_size=chunk,
        retries=retries,
        register=_typed(data, "register", bool, source, "true or false", True),
        source=source,
    )


def _fail_missing(source: str) -> InputsSpec:
    raise _fail(source, "the required key 'inputs' is missing (where the items come from).")


def load_spec(path: str | os.PathLike) -> CampaignSpec:
    """Read and validate a YAML spec file (safe loader only).

    Raises
    ------
    SpecError
        If the file does not exist, is not YAML, or any key is invalid (the message names it).
    """
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"Campaign spec {str(path)!r} not found: no such file.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise SpecError(f"{path}: not valid YAML ({err}).") from None
    except UnicodeDecodeError:
        raise SpecError(f"{path}: not a text file; a campaign spec is YAML text.") from None
    return parse_spec(data, source=str(path), base=path.resolve().parent)
