"""Ingest the polymer data sources into catalog stores (one item per row of the published file).

Each source of :data:`vlab.polymers.SOURCES` becomes a zarr store that holds the rows of its
file in file order: the repeat unit as written (``smiles``), its canonical and normalised
keys (``canonical_smiles``, ``repeat_unit``; empty for an invalid row), why an invalid row is
skipped (``problem``), and every value column under its vlab name with its units
(temperatures in K). Attributes give the provenance: source, license, citation, URL and
sha256 of the file, rows read, distinct repeat units, skipped bad rows with examples. It is
registered in the catalog as ``polymers-NAME``.

:func:`vlab.polymers.load_source` reads such a store when the file is not in the data cache,
and gives the same table as from the file. vlab ships the stores of the sources its polymer
lab needs (``catalogs/polymers-*.yaml``), made with this function.

Examples
--------
``vlab polymers ingest experimental_tc`` then, in Python::

    import vlab.catalog
    ds = vlab.catalog.open("polymers-experimental_tc")
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from vlab import catalog
from vlab._utils import content_hash
from vlab.catalog.schema import Status, Variable
from vlab.errors import StoreError, VlabError

__all__ = ["ingest_source"]

_MAX_CHUNK = 20_000
_AS_WRITTEN = Variable(dtype="str", long_name="repeat unit as written in the file")


def _compact(values: np.ndarray) -> np.ndarray:
    """float32 if every value survives the round trip exactly, else float64."""
    values = np.asarray(values, dtype=float)
    small = values.astype(np.float32)
    return small if np.array_equal(small.astype(float), values, equal_nan=True) else values


def _columns(rows, units) -> tuple[dict[str, Variable], dict[str, np.ndarray]]:
    """Store variables and per-row values of the rows' keys, problems, numbers and text."""
    outputs = {
        "canonical_smiles": Variable(dtype="str", long_name="canonical repeat unit (as written)"),
        "repeat_unit": Variable(dtype="str", long_name="normalised canonical repeat unit"),
        "problem": Variable(dtype="str", long_name="why the row is skipped ('' if valid)"),
    }
    values = {
        "canonical_smiles": np.array(rows.keys["canonical"], dtype=object),
        "repeat_unit": np.array(rows.keys["normalized"], dtype=object),
        "problem": np.array(rows.problems, dtype=object),
    }
    for col, column in rows.values.items():
        values[col] = _compact(column)
        outputs[col] = Variable(
            dtype=str(values[col].dtype), units=units.get(col, "1"), long_name=col
        )
    for col, column in rows.text.items():
        outputs[col] = Variable(dtype="str", long_name=col)
        values[col] = np.array(column, dtype=object)
    return outputs, values


def ingest_source(name: str, folder: str | os.PathLike, *, replace: bool = False) -> Path:
    """Write the rows of source ``name`` (validated, with their keys) as a catalog store.

    Returns the path ``FOLDER/polymers-NAME.zarr``, registered as ``polymers-NAME``. A
    complete store of the same source file that is already there is kept as it is (and
    registered again) unless ``replace``: ingesting twice writes nothing twice. The store is
    written beside its path and then moved there, so an error or an interrupt leaves a store
    that was there (with ``replace``) as it was.

    Raises
    ------
    StoreError
        If another store (or an unfinished one) is at that path and ``replace`` is false.
    """
    from vlab.polymers import SOURCES
    from vlab.polymers.datasets import STORE_LAYOUT, source_rows, store_name

    title = store_name(name)  # an InputError names the registered sources
    src = SOURCES[name]
    store = Path(folder) / f"{title}.zarr"
    if store.exists() and not replace:
        done = _ingested(store, name, src.sha256)
        if done is None:
            raise StoreError(
                f"{store} exists but is not a complete store of the current {name!r} source "
                "(another file, an older vlab, or an ingest that was stopped); it is left "
                "untouched. Give --replace (replace=True) to write it again, or another --out."
            )
        _register(title, store, name, src, done)
        return store
    rows = source_rows(name).with_keys()
    n = len(rows)
    outputs, values = _columns(rows, src.units)
    _, bad = rows.validated(normalize=True)
    n_units = len({k for k, why in zip(rows.keys["normalized"], rows.problems) if not why})
    attrs = catalog.provenance(
        title=title,
        kind="polymer-source",
        kind_version=_KIND_VERSION,
        layout=STORE_LAYOUT,
        summary="one item per row of the published file, in file order; values in vlab units",
        source=name,
        source_file=src.filename,
        source_url=src.url or "shipped inside the vlab package",
        source_sha256=src.sha256,
        license=src.license,
        citation=src.citation,
        description=src.description,
        converted_from_celsius=json.dumps(list(src.celsius)),
        text_columns=json.dumps(list(rows.text)),
        n_raw=n,
        n_repeat_units=n_units,
        n_bad_rows=int(bad.count),
        bad_row_examples=json.dumps([list(e) for e in bad.examples]),
    )
    chunk = max(1, min(n, _MAX_CHUNK))
    # written beside, then swapped in: an error or Ctrl-C leaves the store there (the one
    # the rows may have been read from) as it was
    partial = store.with_name(f".{store.name}.partial-{os.getpid()}")
    try:
        _write(partial, rows, outputs, values, attrs, chunk, name, src.sha256)
        old = store.with_name(f".{store.name}.old-{os.getpid()}")
        if store.exists():
            store.rename(old)
        try:
            partial.rename(store)
        except BaseException:
            if old.exists() and not store.exists():
                old.rename(store)
            raise
        shutil.rmtree(old, ignore_errors=True)
    finally:
        if partial.exists():
            shutil.rmtree(partial, ignore_errors=True)
    _register(title, store, name, src, (n, n_units))
    return store


def _write(store: Path, rows, outputs, values, attrs, chunk: int, name: str, sha256: str) -> None:
    n = len(rows)
    catalog.create_store(
        store,
        chunk_size=chunk,
        inputs={"smiles": (_AS_WRITTEN, np.array(rows.smiles, dtype=object))},
        outputs=outputs,
        input_hashes=[content_hash(name, sha256, i, s) for i, s in enumerate(rows.smiles)],
        attrs=attrs,
    )
    for start, stop in catalog.chunk_bounds(n, chunk):
        catalog.write_chunk(
            store,
            start,
            {k: v[start:stop] for k, v in values.items()},
            status=np.full(stop - start, Status.DONE),
            outputs=outputs,
            ledger={"worker": np.full(stop - start, "ingest", dtype=object)},
        )
    catalog.consolidate(store)


_KIND_VERSION = "2"


def _ingested(store: Path, name: str, sha256: str) -> tuple[int, int] | None:
    """``(rows, repeat units)`` of a complete ingest of source ``name`` (file ``sha256``) at
    ``store``, else None."""
    if not catalog.store_exists(store):
        return None
    try:
        group = catalog.open_group(store)
        attrs = dict(group.attrs)
        status = np.asarray(group["status"][:])
    except (VlabError, KeyError, OSError, ValueError):
        return None
    same = (
        attrs.get("source") == name
        and attrs.get("source_sha256") == sha256
        and str(attrs.get("kind_version")) == _KIND_VERSION
    )
    if not same or catalog.count_status(status)["done"] != status.size:
        return None
    return int(attrs.get("n_raw", status.size)), int(attrs.get("n_repeat_units", 0))


def _register(title: str, store: Path, name: str, src, counts: tuple[int, int]) -> None:
    import warnings

    from vlab.errors import CatalogError

    try:
        before = catalog.get_entry(title)
    except CatalogError:
        before = None
    mine = before is not None and before.index_file is not None  # not a shipped entry
    mine = mine and str(before.index_file.parent) == str(catalog.index_dir())
    entry = catalog.register(
        title,
        store,
        kind="polymer-source",
        license=src.license,
        description=f"{name}: {counts[0]} rows of {src.filename}, {counts[1]} distinct repeat "
        "units",
        source=name,
    )
    if mine and str(before.location) != str(entry.location):
        warnings.warn(
            f"The catalog name {title!r} now names {entry.location} (it named "
            f"{before.location}, which is unchanged but no longer found by that name).",
            UserWarning,
            stacklevel=3,
        )
