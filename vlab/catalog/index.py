"""The catalog index: named stores described by small YAML files.

The index is a folder (``catalog.index_dir`` in the configuration; by default the first
``catalogs/`` folder found in the working directory or up to three folders above it, else
``~/.local/share/vlab/catalogs``). Each ``NAME.yaml`` file in it (or in
its ``local/`` sub-folder, where campaigns register what they write) describes one store::

    name: au-sband-small
    description: s-band conductance of 2x2 Au break-junction snapshots
    schema_version: 1
    location: data/au-sband-small.zarr     # relative to the YAML file, or absolute
    kind: conductance-reference

Files are read with ``yaml.safe_load``; nothing is ever unpickled.

Examples
--------
>>> import tempfile
>>> from vlab import config
>>> with config.override({"catalog.index_dir": tempfile.mkdtemp()}):
...     _ = register("demo", "/tmp/demo.zarr", description="a demo store", kind="engine-probe")
...     [e.name for e in list_entries()]
['demo']
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import xarray as xr
import yaml

from vlab import config
from vlab.catalog.schema import SCHEMA_VERSION
from vlab.catalog.store import open_store
from vlab.errors import CatalogError

__all__ = ["CatalogEntry", "get_entry", "index_dir", "list_entries", "open", "register"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_KEYS = {"name", "description", "schema_version", "location", "kind", "license", "source"}


@dataclass(frozen=True, kw_only=True)
class CatalogEntry:
    """One named store of the catalog."""

    name: str
    description: str
    schema_version: int
    location: Path
    kind: str = ""
    license: str = ""
    source: str = ""
    index_file: Path | None = None

    def open(self) -> xr.Dataset:
        """Open the store lazily (see :func:`vlab.catalog.store.open_store`)."""
        return open_store(self.location)


def index_dir() -> Path:
    """The folder of the catalog index (configuration key ``catalog.index_dir``)."""
    configured = config.get("catalog.index_dir")
    if configured:
        return Path(configured).expanduser()
    here = Path.cwd()
    for folder in (here, *list(here.parents)[:3]):  # also from notebooks/ and other subfolders
        if (folder / "catalogs").is_dir():
            return folder / "catalogs"
    return Path("~/.local/share/vlab/catalogs").expanduser()


def _parse(path: Path) -> CatalogEntry:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise CatalogError(f"The catalog file {str(path)!r} is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise CatalogError(f"The catalog file {str(path)!r} must hold a mapping.")
    unknown = set(data) - _KEYS
    missing = {"name", "location"} - set(data)
    if unknown or missing:
        raise CatalogError(
            f"The catalog file {str(path)!r} has unknown keys {sorted(unknown)} or misses "
            f"{sorted(missing)}; allowed keys: {sorted(_KEYS)}."
        )
    location = Path(str(data["location"])).expanduser()
    if not location.is_absolute():
        location = (path.parent / location).resolve()
    return CatalogEntry(
        name=str(data["name"]),
        description=str(data.get("description", "")),
        schema_version=int(data.get("schema_version", SCHEMA_VERSION)),
        location=location,
        kind=str(data.get("kind", "")),
        license=str(data.get("license", "")),
        source=str(data.get("source", "")),
        index_file=path,
    )


def list_entries() -> list[CatalogEntry]:
    """All entries of the index, sorted by name.

    An entry registered by a campaign (``local/NAME.yaml``) shadows a shipped entry
    (``NAME.yaml``) of the same name: what you computed last is what ``open`` gives.
    """
    root = index_dir()
    entries = {}
    for path in [*sorted(root.glob("*.yaml")), *sorted(root.glob("local/*.yaml"))]:
        entry = _parse(path)
        entries[entry.name] = entry
    return sorted(entries.values(), key=lambda e: e.name)


def get_entry(name: str) -> CatalogEntry:
    """The entry called ``name``.

    Raises
    ------
    CatalogError
        If there is no such entry; the message lists the names there are.
    """
    entries = list_entries()
    for entry in entries:
        if entry.name == name:
            return entry
    known = ", ".join(e.name for e in entries) or "none"
    raise CatalogError(
        f"No catalog entry named {name!r} in {str(index_dir())!r}. Known entries: {known}. "
        "List them with `vlab catalog list`."
    )


def open(name: str) -> xr.Dataset:
    """Open the named store as a lazy xarray Dataset: ``vlab.catalog.open("NAME")``."""
    return get_entry(name).open()


def register(
    name: str,
    location: str | os.PathLike,
    *,
    description: str = "",
    kind: str = "",
    license: str = "",
    source: str = "",
) -> CatalogEntry:
    """Add or replace the entry ``name`` in ``INDEX/local/NAME.yaml``."""
    if not _NAME.match(name):
        raise CatalogError(
            f"The catalog name {name!r} must start with a letter or digit and use only "
            "letters, digits, '.', '_' and '-'."
        )
    folder = index_dir() / "local"
    folder.mkdir(parents=True, exist_ok=True)
    entry = {
        "name": name,
        "description": description,
        "schema_version": SCHEMA_VERSION,
        "location": str(Path(location).expanduser().resolve()),
        "kind": kind,
        "license": license,
        "source": source,
    }
    target = folder / f"{name}.yaml"
    tmp = target.with_suffix(".yaml.tmp")
    tmp.write_text(yaml.safe_dump(entry, sort_keys=False), encoding="utf-8")
    tmp.replace(target)
    return _parse(target)


def entry_dict(entry: CatalogEntry) -> dict:
    """The entry as plain data (for printing)."""
    out = asdict(entry)
    out["location"] = str(entry.location)
    out["index_file"] = str(entry.index_file)
    return out
