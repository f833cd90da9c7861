"""Zarr v3 stores written through xarray: create, write chunk regions, read the ledger, lock.

The protocol that keeps results safe (see ../DESIGN.md, "Engine rules"):

1. :func:`create_store` writes a *template* once: metadata of every variable, the inputs
   and the ledger's ``input_hash``; outputs are left unwritten (they read as their fill
   value), the ``status`` of every item reads 0 (pending).
2. Each chunk of items is written by :func:`write_chunk` (or several at once by
   :func:`write_chunks`) exactly once per evaluation, as region writes by one writer (a zarr
   chunk may hold several chunks, see :func:`zarr_chunk_items`; it is replaced whole and
   atomically). Outputs and ledger columns are written first and ``status`` last, so an item
   marked done always has its outputs on disk; rewriting a chunk is idempotent.
3. :func:`writer_lock` refuses a second concurrent writer. For a local store it is a
   :class:`StoreLock`, an ``flock`` on ``STORE.lock``, released by the kernel when the writing
   process dies (even by SIGKILL), so a crashed campaign never leaves a stale lock behind.
   For a store on object storage it is a :class:`~vlab.catalog.lease.StoreLease`, a lease
   object ``STORE.lock`` that expires unless renewed.

A store location is a local path, a ``file://`` URL or an ``s3://BUCKET/PATH`` URL
(:mod:`vlab.catalog.location`); every function here takes any of them, and every zarr group is
opened through :func:`open_group`, so local and remote stores share one code path. Object
storage has no rename: a new remote store is laid out with the root attribute
``vlab_layout: "incomplete"``, which is set to ``"complete"`` last. A store whose layout is
incomplete reads as absent, and :func:`create_store` removes it before starting again.

Examples
--------
>>> import numpy as np, tempfile, pathlib
>>> from vlab.catalog.schema import Variable
>>> path = pathlib.Path(tempfile.mkdtemp()) / "demo.zarr"
>>> out = {"y": Variable(units="1", long_name="y")}
>>> create_store(path, chunk_size=2, inputs={"x": (Variable(long_name="x"), np.arange(3.0))},
...              outputs=out, input_hashes=["a", "b", "c"], attrs={"title": "demo"})
>>> write_chunk(path, 0, {"y": np.array([1.0, 4.0])}, status=[1, 1], outputs=out)
>>> read_ledger(path)["status"].tolist()
[1, 1, 0]
>>> open_store(path)["y"].values.tolist()[:2]
[1.0, 4.0]
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import shutil
import socket
import subprocess
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr
import zarr
from zarr.codecs import ZstdCodec

from vlab.catalog.integrity import checksum_names, item_checksums
from vlab.catalog.location import (
    Location,
    StoreURL,
    as_location,
    enclosing_store,
    is_url,
    storage_errors,
)
from vlab.catalog.schema import ITEM_DIM, LEDGER_VARIABLES, SCHEMA_VERSION, Status, Variable
from vlab.errors import InputError, StoreError, StoreLockedError, VlabError

__all__ = [
    "ChunkData",
    "StoreLock",
    "add_checksums",
    "chunk_bounds",
    "consolidate",
    "count_status",
    "create_store",
    "export_store",
    "open_group",
    "open_store",
    "provenance",
    "read_ledger",
    "store_exists",
    "update_attrs",
    "write_chunk",
    "write_chunks",
    "writer_lock",
    "zarr_chunk_items",
]

_COMPRESSOR = ZstdCodec(level=3)
_PACKAGES = (
    "vlab",
    "numpy",
    "dask",
    "distributed",
    "xarray",
    "zarr",
    "ase",
    "rdkit",
    "scikit-learn",
    "asap3",
    "dscribe",
)


def chunk_bounds(n_items: int, chunk_size: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` of the item chunks.

    >>> chunk_bounds(5, 2)
    [(0, 2), (2, 4), (4, 5)]
    """
    return [(s, min(s + chunk_size, n_items)) for s in range(0, n_items, chunk_size)]


MAX_ZARR_CHUNK_BYTES = 8 * 2**20
"""Largest uncompressed zarr chunk of one variable that :func:`zarr_chunk_items` picks."""


def zarr_chunk_items(chunk_size: int, n_items: int, *, target: int, item_bytes: int = 8) -> int:
    """Items per zarr chunk of a new store whose items are written ``chunk_size`` at a time.

    A whole number of chunks of ``chunk_size`` items (so a chunk never straddles two zarr
    chunks), about ``target`` items (at least one chunk), at most
    :data:`MAX_ZARR_CHUNK_BYTES` for a variable of ``item_bytes`` bytes per item, at most the
    store. Fewer, larger zarr chunks make :func:`write_chunks` write fewer objects: every
    zarr chunk written costs a file (or an object-store request) per variable, whatever its
    size. ``target`` at most ``chunk_size`` gives one zarr chunk per chunk.

    >>> zarr_chunk_items(10, 1000, target=256), zarr_chunk_items(100, 1000, target=256)
    (260, 300)
    >>> zarr_chunk_items(10, 1000, target=1), zarr_chunk_items(10, 50, target=256)
    (10, 50)
    """
    chunk_size, n_items = max(1, int(chunk_size)), max(1, int(n_items))
    per = -(-max(1, int(target)) // chunk_size)  # chunks per zarr chunk, rounded up
    per = min(per, max(1, MAX_ZARR_CHUNK_BYTES // max(1, chunk_size * int(item_bytes))))
    return min(per * chunk_size, n_items)


def _git_commit() -> str:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def provenance(**extra: Any) -> dict[str, Any]:
    """Provenance attributes: vlab version, git commit, package versions, time, plus ``extra``.

    Values that are not strings or numbers are stored as JSON text.
    """
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    attrs = {
        "vlab_version": versions.get("vlab", "unknown"),
        "git_commit": _git_commit(),
        "package_versions": json.dumps(versions, sort_keys=True),
        "schema_version": SCHEMA_VERSION,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "Conventions": "CF-1.10",
    }
    for key, value in extra.items():
        attrs[key] = value if isinstance(value, (str, int, float)) else json.dumps(value)
    return attrs


def _lazy_fill(var: Variable, n_items: int, chunk_size: int):
    shape = (n_items, *var.shape)
    if var.is_text:  # variable-length text is written eagerly (zarr has no lazy fill for it)
        return np.full(shape, "", dtype=object)
    chunks = (chunk_size, *var.shape)
    return da.full(shape, var.fill, dtype=var.dtype, chunks=chunks)


def _data_array(var: Variable, data) -> xr.Variable:
    return xr.Variable((ITEM_DIM, *var.dims), data, attrs=var.attrs())


def create_store(
    path: str | os.PathLike | StoreURL,
    *,
    chunk_size: int,
    inputs: Mapping[str, tuple[Variable, np.ndarray]],
    outputs: Mapping[str, Variable],
    input_hashes: Sequence[str],
    attrs: Mapping[str, Any],
) -> None:
    """Write the template of a new store (see the module docstring), all or nothing.

    The template is laid out under a temporary name beside ``path`` (``.NAME.partial``) and
    renamed into place when complete, so a process killed (or a disk that fills up) while a
    large store is being laid out leaves no half-made store behind; the next attempt removes
    the leftover. On object storage, which has no rename, the layout is written in place and
    marked complete last (see the module docstring). Callers that may race for the same
    location hold its :func:`writer_lock`.

    Raises
    ------
    StoreError
        If something already exists at ``path`` (it is never overwritten).
    """
    path = as_location(path)
    if is_url(path):
        _clear_incomplete(path)
    if path.exists() or (not is_url(path) and path.is_symlink()):
        raise StoreError(
            f"Cannot create a store at {str(path)!r}: it already exists and is "
            "left untouched. Choose another path or delete it."
        )
    n = len(input_hashes)
    chunk_size = max(1, min(int(chunk_size), n))  # never a chunk larger than the store
    variables: dict[str, xr.Variable] = {}
    for name, (var, values) in inputs.items():
        variables[name] = _data_array(var, np.asarray(values))
    for name, var in outputs.items():
        variables[name] = _data_array(var, _lazy_fill(var, n, chunk_size))
    for name, var in LEDGER_VARIABLES.items():
        variables[name] = _data_array(var, _lazy_fill(var, n, chunk_size))
    variables["input_hash"] = _data_array(
        LEDGER_VARIABLES["input_hash"], np.asarray(input_hashes, dtype=object)
    )
    covered = sorted({*inputs, *outputs, "status", "input_hash"})
    ds = xr.Dataset(variables, attrs={**attrs, "checksum_variables": json.dumps(covered)})
    encoding = {
        name: {"compressors": (_COMPRESSOR,), "chunks": (chunk_size, *v.shape[1:])}
        for name, v in ds.variables.items()
    }
    if is_url(path):
        _write_remote(ds, path, encoding=encoding, compute=False)
        return
    partial = path.with_name(f".{path.name}.partial")
    if partial.exists():
        shutil.rmtree(partial)
    try:
        ds.to_zarr(
            partial, mode="w-", compute=False, encoding=encoding, zarr_format=3, consolidated=False
        )
        os.rename(partial, path)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


_INCOMPLETE = "incomplete"


def _write_remote(ds: xr.Dataset, url: StoreURL, **kw: Any) -> None:
    """``ds.to_zarr`` at ``url``, marked incomplete until everything is written."""
    ds = ds.copy()
    ds.attrs["vlab_layout"] = _INCOMPLETE
    with storage_errors(url):
        ds.to_zarr(_zarr_store(url), mode="w-", zarr_format=3, consolidated=False, **kw)
        group = zarr.open_group(_zarr_store(url), mode="r+", zarr_format=3)
        group.attrs["vlab_layout"] = "complete"  # last: the store exists from now on


def _clear_incomplete(url: StoreURL) -> None:
    """Remove the layout left at ``url`` by a creation that did not finish, if there is one."""
    meta = _root_meta(url)
    if meta is not None and meta.get("attributes", {}).get("vlab_layout") == _INCOMPLETE:
        with storage_errors(url):
            url.fs().rm(url.url, recursive=True)
            url.fs().invalidate_cache()


def _zarr_store(location: Location, *, read_only: bool = False):
    """What zarr and xarray open: the local path, or an fsspec store for a URL."""
    if not is_url(location):
        return location
    from zarr.storage import FsspecStore

    from vlab.catalog.location import filesystem, storage_options

    filesystem()  # a clear message if s3fs is missing
    return FsspecStore.from_url(
        location.url, storage_options=storage_options(), read_only=read_only
    )


def open_group(path: str | os.PathLike | StoreURL, mode: str = "r", **kw: Any) -> zarr.Group:
    """The root zarr group of the store at ``path`` (local or on object storage).

    Every group of a store is opened here. ``mode`` is zarr's (``"r"``, ``"r+"``); ``kw``
    goes to :func:`zarr.open_group` (e.g. ``use_consolidated``).

    Raises
    ------
    StoreError
        If there is no (complete) vlab store at ``path``, or object storage cannot be reached.
    """
    location = _check_store(path)
    store = _zarr_store(location, read_only=mode == "r")
    if not is_url(location):
        return zarr.open_group(store, mode=mode, zarr_format=3, **kw)
    with storage_errors(location):
        return zarr.open_group(store, mode=mode, zarr_format=3, **kw)


def _root_meta(location: Location) -> dict | None:
    """The root ``zarr.json`` of a store as a dict, or ``None`` if there is none.

    Raises
    ------
    StoreError
        If the file is there but is not a JSON object (a damaged store).
    """
    if not is_url(location):
        try:
            text = (location / "zarr.json").read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return _parsed_root(text, location)
    fs = location.fs()
    with storage_errors(location):
        try:
            text = fs.cat_file(f"{location.url}/zarr.json")
        except FileNotFoundError:
            text = None
    if text is not None:
        return _parsed_root(text, location)
    location.check_bucket()  # a missing bucket is named, not taken for a missing store
    return None


def _parsed_root(text: bytes, location: Location) -> dict:
    try:
        meta = json.loads(text)
    except (ValueError, UnicodeDecodeError) as err:
        why = f"not JSON: {' '.join(str(err).split())[:120]}"
    else:
        if isinstance(meta, dict):
            return meta
        why = f"a JSON {type(meta).__name__}, not an object"
    raise StoreError(
        f"The store {str(location)!r} is damaged: its metadata file zarr.json is {why}. "
        "vlab cannot rebuild it; restore the store from a copy, or move it aside and run its "
        "campaign again."
    )


def _check_store(path: str | os.PathLike | StoreURL) -> Location:
    location = as_location(path)
    if not is_url(location):
        if not (location / "zarr.json").is_file():
            raise StoreError(f"No vlab store at {str(location)!r}: the folder has no zarr.json.")
        return location
    meta = _root_meta(location)
    if meta is None:
        raise StoreError(f"No vlab store at {str(location)!r}: there is no zarr.json.")
    if meta.get("attributes", {}).get("vlab_layout") == _INCOMPLETE:
        raise StoreError(
            f"No vlab store at {str(location)!r}: its creation did not finish (an incomplete "
            "layout, removed when the campaign creates the store again)."
        )
    return location


def store_exists(path: str | os.PathLike | StoreURL) -> bool:
    """Whether a complete vlab store is at ``path``."""
    meta = _root_meta(as_location(path))
    return meta is not None and meta.get("attributes", {}).get("vlab_layout") != _INCOMPLETE


def open_store(path: str | os.PathLike | StoreURL) -> xr.Dataset:
    """Open a store lazily (dask-backed xarray Dataset); nothing is loaded yet."""
    location = _check_store(path)
    consolidated = bool(_root_meta(location).get("consolidated_metadata"))
    store = _zarr_store(location, read_only=True)
    if not is_url(location):
        return xr.open_zarr(store, consolidated=consolidated, zarr_format=3)
    with storage_errors(location):
        return xr.open_zarr(store, consolidated=consolidated, zarr_format=3)


def read_ledger(path: str | os.PathLike | StoreURL, columns: Sequence[str] = ("status",)) -> dict:
    """Read ledger columns (whole arrays, no xarray decoding: fast for 1e5 items)."""
    group = open_group(path, "r")
    return {name: np.asarray(group[name][...]) for name in columns}


@dataclass(frozen=True)
class ChunkData:
    """One chunk of items to write with :func:`write_chunks`.

    Attributes
    ----------
    start : int
        Index of the chunk's first item; the chunk covers ``len(status)`` items.
    values : mapping of str to ndarray
        Output arrays of the chunk's items (first axis: item). Outputs not given are read
        from the store when checksums are computed.
    status : sequence of int
        The items' status codes (:class:`vlab.catalog.schema.Status`).
    ledger : mapping of str to ndarray, optional
        Ledger columns (``duration``, ``error``, ``worker``, ``checksum``, ...).
    inputs : mapping of str to ndarray, optional
        The chunk's encoded inputs (as :func:`vlab.catalog.items.encode_items` makes them),
        used for the checksums instead of reading them from the store.
    rewrite_inputs : bool
        Also write ``inputs``: repairs a chunk whose inputs were damaged.
    """

    start: int
    values: Mapping[str, np.ndarray]
    status: Sequence[int]
    ledger: Mapping[str, np.ndarray] | None = None
    inputs: Mapping[str, np.ndarray] | None = None
    rewrite_inputs: bool = False


def write_chunk(
    path: str | os.PathLike,
    start: int,
    values: Mapping[str, np.ndarray],
    *,
    status: Sequence[int],
    outputs: Mapping[str, Variable],
    ledger: Mapping[str, np.ndarray] | None = None,
    inputs: Mapping[str, np.ndarray] | None = None,
    rewrite_inputs: bool = False,
) -> None:
    """Write one chunk's outputs and ledger columns, then its ``status`` (last).

    In a store with checksums (:mod:`vlab.catalog.integrity`) each item's checksum is written
    with the ledger. It covers the inputs, which are read from the store unless ``inputs``
    (``{name: array of this chunk's items}``, as :func:`vlab.catalog.items.encode_items`
    makes them) are given; with ``rewrite_inputs`` those inputs are also written, which
    repairs a chunk whose inputs were damaged. Outputs not in ``values`` are read from the
    store. :func:`write_chunks` writes several chunks at once.
    """
    chunk = ChunkData(start, values, status, ledger, inputs, rewrite_inputs)
    write_chunks(path, [chunk], outputs=outputs)


def write_chunks(
    path: str | os.PathLike,
    chunks: Sequence[ChunkData],
    *,
    outputs: Mapping[str, Variable],
) -> None:
    """Write several chunks: every output and ledger column first, then every ``status``.

    The chunks must not overlap. Chunks that follow each other and carry the same variables
    are written as one region per variable, and the variables are written concurrently, so a
    batch of completed chunks costs far less than writing them one by one (and less still
    when the store's zarr chunks hold several chunks, see :func:`zarr_chunk_items`). The
    guarantee of :func:`write_chunk` holds for each item: its ``status`` is written only
    after its outputs and ledger columns are on disk, so an interruption leaves items
    pending, never done without their outputs.

    A zarr chunk that holds items of several chunks is rewritten whole with the items it
    already has (read back first); each zarr chunk is replaced atomically (a new file renamed
    into place, one object PUT), so a rewrite interrupted at any point keeps the items written
    before. Regions of one variable are written one after the other, never two at once into
    the same zarr chunk. A chunk given with ``rewrite_inputs`` may lie in zarr chunks that
    cannot be read (a damaged store being repaired): their items are marked pending first,
    then the unreadable zarr chunks are removed (they read as fill values until written).
    """
    if not chunks:
        return
    group = _open_for_writing(path)
    covered = _covered(group)
    runs: list[list] = []  # [start, stop, kind, [chunks]]: contiguous, with the same variables
    for chunk in sorted(chunks, key=lambda c: c.start):
        start, stop = int(chunk.start), int(chunk.start) + len(chunk.status)
        if runs and start < runs[-1][1]:
            raise StoreError(
                f"write_chunks: the chunks starting at items {runs[-1][3][-1].start} and "
                f"{start} of {str(path)!r} overlap; each item is written once per batch."
            )
        kind = (
            tuple(chunk.values),
            tuple(chunk.ledger or ()),
            None if chunk.inputs is None else tuple(chunk.inputs),
            bool(chunk.rewrite_inputs and chunk.inputs),
        )
        if runs and runs[-1][1] == start and runs[-1][2] == kind:
            runs[-1][1] = stop
            runs[-1][3].append(chunk)
        else:
            runs.append([start, stop, kind, [chunk]])
    for start, stop, (_, _, _, rewrite), _members in runs:
        if rewrite:
            _clear_unreadable(group, start, stop)
    writes, flags = [], []
    for start, stop, (_, _, _, rewrite), members in runs:
        body = {name: _joined([c.values[name] for c in members]) for name in members[0].values}
        ledger = {
            name: _joined([c.ledger[name] for c in members]) for name in members[0].ledger or ()
        }
        inputs = None
        if members[0].inputs is not None:
            inputs = {
                name: _joined([c.inputs[name] for c in members]) for name in members[0].inputs
            }
        status = _joined([np.asarray(c.status, dtype=np.int8) for c in members])
        if covered is not None and "checksum" not in ledger:
            ledger["checksum"] = _chunk_checksums(
                group, covered, start, stop, status, body, outputs, ledger, inputs
            )
        body.update(ledger)
        if rewrite:
            body.update(inputs)
        for name, data in body.items():  # zarr directly: one region write per variable and run
            array = _array(group, name)
            data = np.asarray(data)
            if data.dtype.kind not in "OUT" and data.dtype != array.dtype:
                data = data.astype(array.dtype)
            writes.append((array, start, stop, data))
        flags.append((_array(group, "status"), start, stop, status))
    try:
        _write_all(writes)  # concurrently
        _write_all(flags)  # last: a done item has its outputs on disk
    except Exception as err:
        _check_readable(group, path, runs, err)
        raise


def _joined(parts: list) -> np.ndarray:
    """The chunks' arrays of one variable, one after the other (along the item axis)."""
    return np.asarray(parts[0]) if len(parts) == 1 else np.concatenate(parts, axis=0)


def _array(group, name: str):
    """``group[name]``, looked up once per group opened by :func:`_open_for_writing`."""
    arrays = _ARRAYS.setdefault(id(group), {})
    if name not in arrays:
        # a batch of chunks is encoded together, not one chunk per thread hand-off
        with zarr.config.set({"codec_pipeline.batch_size": _ENCODE_BATCH}):
            arrays[name] = group[name]
    return arrays[name]


_ENCODE_BATCH = 32  # zarr chunks encoded per batch by the arrays that write_chunks writes


def _covered(group) -> list[str] | None:
    """:func:`checksum_names` of a group opened by :func:`_open_for_writing`, looked up once."""
    arrays = _ARRAYS.setdefault(id(group), {})
    if _COVERED_KEY not in arrays:
        arrays[_COVERED_KEY] = checksum_names(group)
    return arrays[_COVERED_KEY]


_COVERED_KEY = " checksum_names"  # not a valid variable name


def _write_all(writes) -> None:
    """Write ``[(array, start, stop, data), ...]`` into their regions.

    The arrays are written concurrently; the regions of one array one after the other (two
    regions may share a zarr chunk, which is read, updated and replaced whole).
    """
    if len(writes) == 1:
        array, start, stop, data = writes[0]
        array[start:stop] = data
        return
    import asyncio

    from zarr.core.sync import sync

    by_array: dict[int, list] = {}
    for write in writes:
        by_array.setdefault(id(write[0]), []).append(write)

    async def _one_array(regions):
        for array, start, stop, data in regions:
            await array._async_array.setitem(slice(start, stop), data)

    async def _all():
        await asyncio.gather(*(_one_array(regions) for regions in by_array.values()))

    sync(_all())


def _unreadable(group, start: int, stop: int) -> dict[str, list[int]]:
    """``{variable: [first item of each unreadable zarr chunk]}`` around ``[start, stop)``."""
    status = _array(group, "status")
    n, size = int(status.shape[0]), int(status.chunks[0])
    blocks = range((start // size) * size, min(-(-stop // size) * size, n), size)
    bad: dict[str, list[int]] = {}
    for name in sorted(group.array_keys()):
        array = _array(group, name)
        if array.ndim == 0 or int(array.chunks[0]) != size:
            continue
        for lo in blocks:
            try:
                array[lo : min(lo + size, n)]
            except Exception:
                bad.setdefault(name, []).append(lo)
    return bad


def _check_readable(group, path, runs, err: Exception) -> None:
    """Raise a clear :class:`StoreError` if ``err`` came from zarr chunks that cannot be read."""
    for start, stop, *_ in runs:
        bad = _unreadable(group, start, stop)
        if bad:
            name, starts = next(iter(bad.items()))
            raise StoreError(
                f"The store {str(path)!r} has zarr chunks that cannot be read ({name!r} from "
                f"item {starts[0]}, {type(err).__name__}: {str(err)[:120]}): run `vlab status "
                "STORE --verify --repair`, then the campaign again."
            ) from err


def _clear_unreadable(group, start: int, stop: int) -> None:
    """Remove the zarr chunks around items ``[start, stop)`` that cannot be read.

    Every item of a zarr chunk that is removed is marked pending first (``status`` 0), so no
    item reads as done without its data, whenever the process stops.
    """
    from zarr.core.sync import sync

    bad = _unreadable(group, start, stop)
    if not bad:
        return
    status = _array(group, "status")
    n, size = int(status.shape[0]), int(status.chunks[0])

    def remove(name: str, starts) -> None:
        array = _array(group, name)
        for lo in starts:
            key = array.metadata.encode_chunk_key((lo // size,) + (0,) * (array.ndim - 1))
            sync((array._async_array.store_path / key).delete())

    remove("status", bad.pop("status", []))  # pending from now on
    for lo in sorted({lo for starts in bad.values() for lo in starts}):
        hi = min(lo + size, n)
        status[lo:hi] = np.zeros(hi - lo, np.int8)
    for name, starts in bad.items():
        remove(name, starts)


_GROUPS: dict[Location, tuple[Any, Any]] = {}
_ARRAYS: dict[int, dict[str, Any]] = {}  # arrays of the groups in _GROUPS, by id(group)


def _open_for_writing(path: str | os.PathLike):
    """The store's zarr group opened for writing, reused while its metadata is unchanged."""
    path = as_location(path)
    # A remote store already opened is checked by the HEAD request of its stamp alone.
    path = path if is_url(path) and path in _GROUPS else _check_store(path).resolve()
    stamp = _meta_stamp(path)
    cached = _GROUPS.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    group = open_group(path, "r+")
    if cached is not None:
        _ARRAYS.pop(id(cached[1]), None)
    if len(_GROUPS) > 16:
        _GROUPS.clear()
        _ARRAYS.clear()
    _GROUPS[path] = (stamp, group)
    return group


def _meta_stamp(location: Location) -> Any:
    """Changes whenever the store's root metadata is rewritten."""
    if not is_url(location):
        meta = (location / "zarr.json").stat()
        return (meta.st_ino, meta.st_mtime_ns)
    fs = location.fs()
    with storage_errors(location):
        try:
            key = f"{location.key}/zarr.json"
            return fs.call_s3("head_object", Bucket=location.bucket, Key=key)["ETag"]
        except FileNotFoundError:
            missing = f"No vlab store at {str(location)!r}: there is no zarr.json."
            raise StoreError(missing) from None


def _chunk_checksums(group, covered, start, stop, flags, values, outputs, ledger, inputs):
    """The checksums of items ``[start, stop)`` as they are about to be written."""
    columns: dict[str, np.ndarray] = {"status": flags}
    for name in covered:
        if name == "status":
            continue
        if name in values:
            var = outputs[name]
            columns[name] = np.asarray(values[name], dtype=object if var.is_text else var.dtype)
        elif name in ledger:
            columns[name] = np.asarray(ledger[name], dtype=object)
        elif inputs is not None and name in inputs:
            columns[name] = np.asarray(inputs[name])
        else:
            columns[name] = np.asarray(group[name][start:stop])
    return item_checksums(columns)


def add_checksums(path: str | os.PathLike | StoreURL) -> int:
    """Record checksums for a store written without them; returns the items sealed.

    The store's *current* content is taken as correct: run this only on a store you trust
    (e.g. one you just exported). Items already checksummed are left as they are.
    """
    path = _check_store(path)
    group = open_group(path, "r+", use_consolidated=False)
    n = int(group["status"].shape[0])
    chunk = int(group["status"].chunks[0])
    if "checksum" not in group:
        var = LEDGER_VARIABLES["checksum"]
        array = group.create_array(
            "checksum",
            shape=(n,),
            chunks=(chunk,),
            dtype=var.dtype,
            fill_value=0,
            compressors=(_COMPRESSOR,),
            dimension_names=(ITEM_DIM,),
        )
        array.attrs.update(var.attrs())
    covered = checksum_names(group)
    if covered is None:
        skip = {*LEDGER_VARIABLES} - {"status", "input_hash"}
        covered = sorted(name for name in group.array_keys() if name not in skip)
        group.attrs["checksum_variables"] = json.dumps(covered)
    sealed = 0
    for start, stop in chunk_bounds(n, chunk):
        columns = {name: np.asarray(group[name][start:stop]) for name in covered}
        old = np.asarray(group["checksum"][start:stop])
        todo = (old == 0) & (columns["status"] != Status.PENDING)
        if todo.any():
            new = np.where(todo, item_checksums(columns), old).astype(np.uint64)
            group["checksum"][start:stop] = new
            sealed += int(todo.sum())
    if _root_meta(path).get("consolidated_metadata"):
        consolidate(path)
    return sealed


def update_attrs(path: str | os.PathLike | StoreURL, attrs: Mapping[str, Any]) -> None:
    """Add or replace attributes of the store's root group."""
    open_group(path, "r+").attrs.update(dict(attrs))


def lost_metadata(path: str | os.PathLike | StoreURL) -> list[str]:
    """Variables that the store's consolidated metadata lists but whose own ``zarr.json`` is
    gone (their chunks may be intact). Readers of the consolidated metadata still see them;
    consolidating again would drop them (see :func:`restore_metadata`)."""
    location = as_location(path)
    meta = (_root_meta(location) or {}).get("consolidated_metadata") or {}
    names = sorted((meta.get("metadata") or {}).keys())
    if not is_url(location):
        return [n for n in names if not (location / n / "zarr.json").is_file()]
    fs = location.fs()
    with storage_errors(location):
        return [n for n in names if not fs.exists(f"{location.url}/{n}/zarr.json")]


def restore_metadata(path: str | os.PathLike | StoreURL) -> list[str]:
    """Write back the ``zarr.json`` of the variables :func:`lost_metadata` finds, from the
    store's consolidated copy (the same document); returns their names."""
    location = as_location(path)
    lost = lost_metadata(location)
    if not lost:
        return []
    meta = _root_meta(location)["consolidated_metadata"]["metadata"]
    for name in lost:
        text = json.dumps(meta[name], indent=2)
        if is_url(location):
            with storage_errors(location):
                location.fs().pipe_file(f"{location.url}/{name}/zarr.json", text.encode())
        else:
            target = location / name / "zarr.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(".zarr.json.partial")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, target)
    return lost


def consolidate(path: str | os.PathLike | StoreURL) -> None:
    """Consolidate the metadata once, at the end of a campaign.

    Variables whose own metadata file was lost are first restored from the consolidated copy
    (:func:`restore_metadata`, with a ``UserWarning``): consolidating never drops a variable.
    """
    location = _check_store(path)
    restored = restore_metadata(location)
    if restored:
        warnings.warn(
            f"The store {str(location)!r} had lost the metadata file of {', '.join(restored)}; "
            "it was restored from the store's consolidated metadata.",
            UserWarning,
            stacklevel=2,
        )
    store = _zarr_store(location) if is_url(location) else str(location)
    with warnings.catch_warnings():  # "consolidated metadata is not in the v3 spec (yet)"
        warnings.simplefilter("ignore", category=UserWarning)
        zarr.consolidate_metadata(store, zarr_format=3)


def count_status(status: np.ndarray) -> dict[str, int]:
    """``{"pending": n, "done": n, "failed": n}`` from a ``status`` column.

    A byte that is no status at all (a damaged ledger) counts as pending: it is computed again.
    """
    status = np.asarray(status)
    done = int(np.count_nonzero(status == Status.DONE))
    failed = int(np.count_nonzero(status == Status.FAILED))
    return {"pending": int(status.size) - done - failed, "done": done, "failed": failed}


def writer_lock(path: str | os.PathLike | StoreURL, *, ttl: float | None = None):
    """The exclusive writer lock of a store: ``with writer_lock(path): ...``.

    A :class:`StoreLock` (``flock``) for a local store, a
    :class:`~vlab.catalog.lease.StoreLease` for a store on object storage (``ttl``: seconds,
    by default the configuration key ``storage.lease_ttl``). Both refuse a second writer with
    a :class:`~vlab.errors.StoreLockedError` that names the store and the holder.
    """
    location = as_location(path)
    if is_url(location):
        from vlab.catalog.lease import StoreLease

        return StoreLease(location, ttl=ttl)
    return StoreLock(location)


class StoreLock:
    """Exclusive writer lock of a local store: ``with StoreLock(path): ...``.

    The lock belongs to the store's resolved path, so a second writer that reaches the same
    store through a symbolic link (to the store or to a folder above it) is refused too.

    Raises
    ------
    StoreLockedError
        If another live process holds the lock.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.store = Path(path)
        resolved = Path(os.path.realpath(self.store))
        self.path = resolved.with_name(resolved.name + ".lock")
        self._fd: int | None = None

    def __enter__(self) -> StoreLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown process"
            os.close(fd)
            raise StoreLockedError(
                f"The store {str(self.store)!r} is being written by another campaign "
                f"({holder}). Wait for it to finish or stop it; two writers are refused so "
                "that results never interleave."
            ) from None
        os.ftruncate(fd, 0)
        stamp = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {stamp}".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def export_store(
    source: str | os.PathLike | StoreURL,
    target: str | os.PathLike | StoreURL,
    *,
    status: str | None = "done",
    float32: bool = True,
    chunk_size: int | None = None,
) -> Location:
    """Copy a store into a compact one: selected items, float32, zstd, consolidated.

    ``float32`` casts every float64 variable to float32 (positions then round-trip to about
    1e-6 Å, not bit-exactly); the target's ``derived_from`` and ``compaction`` attributes say so.
    The target gets checksums of its own values (:func:`add_checksums`).

    Raises
    ------
    StoreError
        If ``target`` exists (it is never overwritten).
    """
    from vlab.catalog.query import select

    target = as_location(target)
    source = as_location(source)
    if is_url(target):
        _clear_incomplete(target)
    if target.exists():
        raise StoreError(f"Cannot export to {str(target)!r}: it exists and is left untouched.")
    inside = None if is_url(target) else enclosing_store(target)
    if inside is not None:
        raise InputError(
            f"Cannot export to {str(target)!r}: it is inside the store {str(inside)!r}, which "
            "it would change. Give a path outside any .zarr store."
        )
    ds = select(open_store(source), status=status)
    ds = ds.drop_vars([v for v in ("checksum",) if v in ds.variables])
    ds.attrs.pop("checksum_variables", None)
    if float32:
        ds = ds.assign(
            {
                n: v.astype("float32", keep_attrs=True)
                for n, v in ds.data_vars.items()
                if v.dtype == np.float64
            }
        )
    n = ds.sizes[ITEM_DIM]
    size = chunk_size or max(1, min(n, 1000))
    ds = ds.chunk({ITEM_DIM: size})
    for var in ds.variables.values():
        var.encoding = {}
    counts = count_status(ds["status"].values) if "status" in ds else {}
    ds.attrs.update(
        derived_from=str(source.resolve().name),
        compaction=f"status={status}; float32={float32}",
        exported=_now(),
        **{f"n_{k}": v for k, v in counts.items()},  # of the copy, not of the source
    )
    encoding = {name: {"compressors": (ZstdCodec(level=9),)} for name in ds.variables}
    if is_url(target):
        _write_remote(ds, target, encoding=encoding)
        add_checksums(target)  # of the compacted values, just written
        consolidate(target)
        return target
    # written beside the target and renamed once complete: a failed export leaves nothing
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        ds.to_zarr(partial, mode="w-", encoding=encoding, zarr_format=3, consolidated=False)
        add_checksums(partial)
        consolidate(partial)
    except BaseException as err:
        shutil.rmtree(partial, ignore_errors=True)
        if isinstance(err, (VlabError, OSError)) or not isinstance(err, Exception):
            raise
        raise StoreError(
            f"Cannot export {str(source)!r}: reading it failed ({type(err).__name__}: "
            f"{' '.join(str(err).split())[:160]}); {str(target)!r} was not written. A damaged "
            f"chunk of the source is found and marked by `vlab status {source} --verify "
            "--repair`."
        ) from None
    os.replace(partial, target)
    return target


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
