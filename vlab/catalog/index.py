"""The catalog index: named stores described by small YAML files.

Two folders hold the index, and :func:`list_entries` reads both:

* the **shipped** entries, found through the package from any working directory
  (``vlab/catalog/shipped``, which is the repository's ``catalogs/`` folder; configuration key
  ``catalog.shipped_dir`` points elsewhere);
* the **user's** entries (:func:`index_dir`: configuration key ``catalog.index_dir``, by default
  ``$XDG_DATA_HOME/vlab/catalogs``, i.e. ``~/.local/share/vlab/catalogs``), where campaigns, the
  demo and ``vlab polymers ingest`` register what they write. A user entry shadows a shipped entry
  of the same name: what you computed last is what ``open`` gives. This folder may be on object
  storage (``s3://BUCKET/PREFIX``), so that pods without a shared volume share one index.

Each ``NAME.yaml`` file describes one store::

    name: au-sband-small
    description: s-band conductance of 2x2 Au break-junction snapshots
    schema_version: 1
    location: data/au-sband-small.zarr     # relative to the YAML file, absolute, or s3://...
    kind: conductance-reference

Files are read with ``yaml.safe_load`` and limits (:mod:`vlab._yaml`); nothing is
ever unpickled. A file that cannot be read is skipped with a warning, so one broken entry never
hides the others.

Examples
--------
>>> import tempfile
>>> from vlab import config
>>> with config.override({"catalog.index_dir": tempfile.mkdtemp()}):
...     _ = register("demo", "/tmp/demo.zarr", description="a demo store", kind="engine-probe")
...     [e.name for e in list_entries() if e.index_file.parent == index_dir()]
['demo']
>>> "au-sband-small" in [e.name for e in list_entries()]  # shipped, found from any folder
True
"""

from __future__ import annotations

import difflib
import os
import posixpath
import re
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import xarray as xr
import yaml

from vlab import config
from vlab._yaml import load_yaml_file, one_line
from vlab.catalog.location import StoreURL, as_location, is_url, storage_errors
from vlab.catalog.schema import SCHEMA_VERSION
from vlab.catalog.store import open_store
from vlab.errors import CatalogError, InputError, did_you_mean

__all__ = [
    "CatalogEntry",
    "get_entry",
    "index_dir",
    "list_entries",
    "open",
    "register",
    "shipped_dir",
]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_KEYS = {"name", "description", "schema_version", "location", "kind", "license", "source"}


@dataclass(frozen=True, kw_only=True)
class CatalogEntry:
    """One named store of the catalog."""

    name: str
    description: str
    schema_version: int
    location: Path | StoreURL
    kind: str = ""
    license: str = ""
    source: str = ""
    index_file: Path | None = None

    @property
    def missing(self) -> bool:
        """True when the entry's location is a local folder that does not exist (a store on
        object storage is not looked up here)."""
        return not is_url(self.location) and not Path(self.location).exists()

    def checked_location(self) -> Path | StoreURL:
        """The store's location; a :class:`CatalogError` naming the entry's file when it is a
        local folder that does not exist (the store was moved or deleted)."""
        if self.missing:
            where = f"delete {str(self.index_file)!r}" if self.index_file else "remove the entry"
            raise CatalogError(
                f"The catalog entry {self.name!r} points to {str(self.location)!r}, which does "
                "not exist: the store was moved or deleted. Register it again where it is now "
                f"(vlab.catalog.register), or {where}."
            )
        return self.location

    def open(self) -> xr.Dataset:
        """Open the store lazily (see :func:`vlab.catalog.store.open_store`)."""
        return open_store(self.checked_location())


def index_dir() -> Path | StoreURL:
    """The folder of the user's catalog entries (configuration key ``catalog.index_dir``).

    By default ``$XDG_DATA_HOME/vlab/catalogs`` (``~/.local/share/vlab/catalogs``), the same from
    every working directory; an ``s3://BUCKET/PREFIX`` URL puts it on object storage.
    Campaigns register the stores they write here.
    """
    configured = config.get("catalog.index_dir")
    if configured:
        return as_location(str(configured)).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or "~/.local/share"
    return Path(data_home).expanduser() / "vlab" / "catalogs"


def shipped_dir() -> Path:
    """The folder of the entries shipped with vlab (configuration key ``catalog.shipped_dir``).

    By default the package's ``vlab/catalog/shipped`` folder: the repository's ``catalogs/``,
    installed with the package, so the shipped stores open from any working directory.
    """
    configured = config.get("catalog.shipped_dir")
    if configured:
        return Path(configured).expanduser()
    return Path(__file__).resolve().parent / "shipped"


MAX_INDEX_FILE_BYTES = 65_536
"""Largest catalog index file (bytes): an entry is a few lines."""
_MAX_TEXT = 4096
_SHOWN_NAMES = 20  # names listed in "no such entry" errors


def _text_value(data: dict, key: str, shown: str, *, required: bool = False) -> str:
    value = data.get(key, "")
    if value is None and not required:
        value = ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise CatalogError(
            f"The catalog file {shown}: the {key!r} key must be a non-empty text. "
            f"Got {one_line(repr(value), 60)}."
            if required
            else f"The catalog file {shown}: the {key!r} key must be a text. "
            f"Got {one_line(repr(value), 60)}."
        )
    if len(value) > _MAX_TEXT or any(ord(c) < 32 and c not in "\t\n" for c in value):
        raise CatalogError(
            f"The catalog file {shown}: the {key!r} key must be a text of at most "
            f"{_MAX_TEXT:,} characters without control characters. "
            f"Got {one_line(repr(value), 60)}."
        )
    return value


def _parse(path: Path, origin: StoreURL | None = None) -> CatalogEntry:
    """The entry of the index file ``path`` (a local copy of ``origin``, if given)."""
    shown = one_line(repr(str(origin or path)), 300)
    try:
        data = load_yaml_file(
            path, error=CatalogError, what="catalog file", max_bytes=MAX_INDEX_FILE_BYTES
        )
    except CatalogError as err:
        text = str(err).replace(repr(str(path)), shown).replace(str(path), str(origin or path))
        raise CatalogError(text) from None
    if not isinstance(data, dict):
        raise CatalogError(f"The catalog file {shown} must hold a mapping.")
    unknown = set(data) - _KEYS
    missing = {"name", "location"} - set(data)
    if unknown or missing:
        unknown_shown = f"[{', '.join(sorted(one_line(repr(k), 40) for k in unknown))}]"
        raise CatalogError(
            f"The catalog file {shown} has unknown keys {unknown_shown} or misses "
            f"{sorted(missing)}; allowed keys: {sorted(_KEYS)}."
        )
    name = _text_value(data, "name", shown, required=True)
    if not _NAME.fullmatch(name) or len(name) > 128:
        raise CatalogError(
            f"The catalog file {shown}: the 'name' {one_line(repr(name), 60)} must start with a "
            "letter or digit and use only letters, digits, '.', '_' and '-'."
        )
    version = data.get("schema_version", SCHEMA_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or not 0 <= version <= 1000:
        raise CatalogError(
            f"The catalog file {shown}: 'schema_version' must be an integer from 0 to 1000. "
            f"Got {one_line(repr(version), 60)}."
        )
    text = _text_value(data, "location", shown, required=True)
    if "\n" in text or "\t" in text:
        raise CatalogError(f"The catalog file {shown}: 'location' must be a path on one line.")
    try:
        location = as_location(text).expanduser()
    except InputError as err:
        raise CatalogError(f"The catalog file {shown}: 'location': {err}") from None
    if not location.is_absolute() and origin is not None:
        try:
            key = posixpath.normpath(posixpath.join(origin.parent.key, str(location)))
            location = as_location(f"s3://{origin.bucket}/{key}")
        except InputError as err:
            raise CatalogError(f"The catalog file {shown}: 'location': {err}") from None
    elif not location.is_absolute():
        location = (path.parent / location).resolve()
    return CatalogEntry(
        name=name,
        description=_text_value(data, "description", shown),
        schema_version=version,
        location=location,
        kind=_text_value(data, "kind", shown),
        license=_text_value(data, "license", shown),
        source=_text_value(data, "source", shown),
        index_file=origin or path,
    )


def _read_remote_folder(folder: StoreURL) -> list[CatalogEntry]:
    """The entries of an index folder on object storage (each file read through a local copy)."""
    fs = folder.fs()
    with storage_errors(folder):
        fs.invalidate_cache()
        keys = sorted(fs.glob(f"{folder.bucket}/{folder.key}/*.yaml"))
    entries = []
    with tempfile.TemporaryDirectory() as tmp:
        for key in keys:
            origin = StoreURL(f"s3://{key}")
            local = Path(tmp) / origin.name
            try:
                with storage_errors(origin):
                    if fs.size(key) > MAX_INDEX_FILE_BYTES:
                        raise CatalogError(
                            f"The catalog file {str(origin)!r} has more than "
                            f"{MAX_INDEX_FILE_BYTES:,} bytes."
                        )
                    local.write_bytes(fs.cat_file(key))
                entries.append(_parse(local, origin))
            except (CatalogError, OSError, ValueError, TypeError) as err:
                _skip_warning(f"Skipping the catalog entry {str(origin)!r}: {err}")
    return entries


_SKIPPED: set[str] = set()  # the broken entries already said, once per process


def _skip_warning(message: str) -> None:
    """Say once per process that a broken entry file is skipped (the index is read often)."""
    if message not in _SKIPPED:
        _SKIPPED.add(message)
        warnings.warn(message, stacklevel=4)


def _read_folder(folder: Path | StoreURL) -> list[CatalogEntry]:
    if is_url(folder):
        return _read_remote_folder(folder)
    entries = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            entries.append(_parse(path))
        except (CatalogError, OSError, ValueError, TypeError) as err:
            _skip_warning(f"Skipping the catalog entry {str(path)!r}: {err}")
    return entries


def list_entries() -> list[CatalogEntry]:
    """All entries, shipped and the user's, sorted by name.

    A user entry (in :func:`index_dir`) shadows a shipped entry (in :func:`shipped_dir`) of the
    same name. Files that cannot be read are skipped with a warning.
    """
    entries = {}
    for folder in (shipped_dir(), index_dir()):
        for entry in _read_folder(folder):
            entries[entry.name] = entry
    return sorted(entries.values(), key=lambda e: e.name)


def get_entry(name: str) -> CatalogEntry:
    """The entry called ``name``.

    Raises
    ------
    CatalogError
        If there is no such entry; the message lists the names there are (or, for a name that
        reads as a path, says that there is no store there either).
    """
    if isinstance(name, os.PathLike):
        name = os.fspath(name)
    if not isinstance(name, str) or not name.strip():
        raise CatalogError(
            f"A catalog entry name must be a non-empty text (vlab catalog list shows them). Got "
            f"{name!r}."
        )
    entries = list_entries()
    for entry in entries:
        if entry.name == name:
            return entry
    text = str(name)
    here = Path(text).expanduser()
    if here.exists():  # a local file or folder of that name
        if (here / "zarr.json").is_file():
            raise CatalogError(
                f"{text!r} is a store, not a catalog entry: open it by its path "
                "(vlab.catalog.open_store), or register it under a name."
            )
        what = "a file" if here.is_file() else "a folder"
        raise CatalogError(
            f"{text!r} is {what} but not a vlab store (no zarr.json), and no catalog entry has "
            "that name. Give the path of a store written by vlab, or a catalog entry name "
            f"(vlab catalog list).{did_you_mean(text, [e.name for e in entries])}"
        )
    if "/" in text or "\\" in text or text.endswith(".zarr"):  # meant as a path
        raise CatalogError(
            f"No store at {text!r} (no such folder) and no catalog entry of that name. Give "
            "the path of a store written by vlab, or a catalog entry name (vlab catalog list)."
            f"{did_you_mean(text, [e.name for e in entries])}"
        )
    raise CatalogError(
        f"No catalog entry named {name!r} (shipped: {str(shipped_dir())!r}; yours: "
        f"{str(index_dir())!r}). {_known_names([e.name for e in entries], str(name))} "
        "List them with `vlab catalog list`."
    )


def locate(name_or_path: str | os.PathLike) -> Path | StoreURL:
    """The location of a store given by its path (or URL), or else by its catalog name.

    Raises
    ------
    CatalogError
        If there is no store at that path and no catalog entry of that name (see
        :func:`get_entry`: the message says which, and names near entries).
    """
    from vlab.catalog.store import store_exists

    path = as_location(name_or_path)
    if store_exists(path):
        return path
    return get_entry(str(name_or_path)).checked_location()


def _known_names(names: list[str], wanted: str, shown: int = _SHOWN_NAMES) -> str:
    """``Known entries: ...`` for an error message: all names when there are few, else the
    closest to ``wanted`` and a count."""
    if not names:
        return "Known entries: none."
    if len(names) <= shown:
        return f"Known entries: {', '.join(names)}.{did_you_mean(wanted, names)}"
    close = difflib.get_close_matches(wanted, names, n=5, cutoff=0.5)
    hint = f"Closest: {', '.join(close)}. " if close else ""
    return f"{hint}{len(names)} entries are known: {', '.join(names[:shown])}, ..."


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
    """Add or replace the user's entry ``name`` (``index_dir()/NAME.yaml``).

    A local ``location`` that holds no vlab store (yet) is registered with a ``UserWarning``:
    ``open(name)`` fails until a store is written there.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise CatalogError(
            f"The catalog name {name!r} must start with a letter or digit and use only "
            "letters, digits, '.', '_' and '-'."
        )
    if not isinstance(location, str | os.PathLike | StoreURL) or not str(location).strip():
        raise CatalogError(
            f"The location of catalog entry {name!r} must be the path or URL of a store. Got "
            f"{location!r}."
        )
    where = as_location(location)
    if not is_url(where) and not (where.expanduser() / "zarr.json").is_file():
        what = "nothing" if not where.expanduser().exists() else "no vlab store (no zarr.json)"
        warnings.warn(
            f"vlab.catalog.register({name!r}): there is {what} at {str(where)!r}; the entry is "
            f"written, but vlab.catalog.open({name!r}) fails until a store is written there.",
            UserWarning,
            stacklevel=2,
        )
    folder = index_dir()
    entry = {
        "name": name,
        "description": description,
        "schema_version": SCHEMA_VERSION,
        "location": str(as_location(location).expanduser().resolve()),
        "kind": kind,
        "license": license,
        "source": source,
    }
    if is_url(folder):
        return _register_remote(folder / f"{name}.yaml", entry)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.yaml"
    tmp = target.with_suffix(".yaml.tmp")
    tmp.write_text(yaml.safe_dump(entry, sort_keys=False), encoding="utf-8")
    try:  # checked as a reader will read it, before it replaces an entry there
        parsed = _parse(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(target)
    return parsed


def _register_remote(target: StoreURL, entry: dict) -> CatalogEntry:
    """Write an entry on object storage (one PUT: readers see the old or the new file)."""
    text = yaml.safe_dump(entry, sort_keys=False)
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / target.name
        local.write_text(text, encoding="utf-8")
        parsed = _parse(local, target)  # checked before it replaces an entry there
    with storage_errors(target):
        target.fs().pipe_file(f"{target.bucket}/{target.key}", text.encode("utf-8"))
    return parsed


def entry_dict(entry: CatalogEntry) -> dict:
    """The entry as plain data (for printing)."""
    out = asdict(entry)
    out["location"] = str(entry.location)
    out["index_file"] = str(entry.index_file)
    return out
