"""Run a campaign: plan the items, then evaluate missing chunks on Dask and write them once.

The client process is the only writer of the store (it holds its
:func:`~vlab.catalog.writer_lock`: an ``flock`` locally, a lease on object storage); workers
receive plain items and return plain arrays (:func:`vlab.campaign.tasks.run_chunk`). Each
completed chunk is written to its own zarr region exactly once, outputs first and ``status``
last, so a crash at any moment leaves a store whose ledger tells exactly what is missing:
running the same spec again computes only that (resume).

Identical items (same content hash of inputs, kind, version and parameters) are computed
once: within the campaign the first occurrence is evaluated and the others copied; items
already *done* in this store or in any catalog store of the same kind are copied from there.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import signal
import threading
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import CancelledError
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vlab import catalog
from vlab._utils import content_hash, setting_differences
from vlab.campaign.inputs import make_items
from vlab.campaign.kinds import Item, Kind, get_kind
from vlab.campaign.kinds.base import SOURCE_HASH
from vlab.campaign.progress import ProgressBar
from vlab.campaign.spec import CampaignSpec
from vlab.campaign.tasks import chunk_arrays, run_chunk
from vlab.catalog.integrity import (
    VERIFY_MARK,
    checksum_names,
    item_checksums,
    read_ledger_tolerant,
    trusted_items,
)
from vlab.catalog.items import encode_items, item_fingerprint
from vlab.catalog.schema import Status, Variable
from vlab.errors import CatalogError, ClusterError, InputError, SpecError, StoreError

__all__ = ["CampaignReport", "Plan", "plan_campaign", "run_campaign", "run_campaigns"]


@dataclass(frozen=True, kw_only=True)
class Plan:
    """Everything a campaign will do, derived from its spec before any evaluation."""

    spec: CampaignSpec
    kind: Kind
    params: dict[str, Any]
    identity: dict[str, Any]
    items: list[Item]
    hashes: list[str]
    outputs: dict[str, Variable]
    inputs: dict[str, tuple[Variable, np.ndarray]]  # the items, encoded as the store holds them

    def zarr_chunk_items(self) -> int:
        """Items per zarr chunk of a new store (``campaign.zarr_chunk_items``, whole chunks).

        See :func:`vlab.catalog.zarr_chunk_items`; the largest variable per item bounds it.
        """
        from vlab import config

        item_bytes = 8
        variables = [var for var, _ in self.inputs.values()] + list(self.outputs.values())
        for var in variables:
            size = int(np.prod(var.shape, dtype=np.int64))
            width = 64 if var.is_text else np.dtype(var.dtype).itemsize
            item_bytes = max(item_bytes, size * width)
        return catalog.zarr_chunk_items(
            self.spec.chunk_size,
            len(self.items),
            target=int(config.get("campaign.zarr_chunk_items")),
            item_bytes=item_bytes,
        )


@dataclass(frozen=True, kw_only=True)
class CampaignReport:
    """What a run did (counts are items)."""

    store: Path
    n_items: int
    done: int
    failed: int
    pending: int
    computed: int
    copied: int
    seconds: float
    dashboard_link: str = ""
    performance_report: str = ""
    errors: tuple[str, ...] = field(default_factory=tuple)

    def summary(self) -> str:
        return (
            f"{self.n_items} items in {self.store}: {self.done} done, {self.failed} failed, "
            f"{self.pending} pending; this run computed {self.computed} and copied {self.copied} "
            f"(deduplicated) in {self.seconds:.1f} s"
        )


def plan_campaign(spec: CampaignSpec) -> Plan:
    """Validate parameters, build the items and their content hashes."""
    kind, params = _kind_and_params(spec)
    items = make_items(spec, kind, params)
    outputs = kind.outputs(params, items)
    _check_input_names(spec, items, outputs)
    identity = kind.identify(params)
    known = [it.pop(SOURCE_HASH, None) for it in items]
    hashes = [
        h or content_hash(kind.name, kind.version, identity, item_fingerprint(it))
        for h, it in zip(known, items, strict=True)
    ]
    return Plan(
        spec=spec,
        kind=kind,
        params=params,
        identity=identity,
        items=items,
        hashes=hashes,
        outputs=outputs,
        inputs=encode_items(items, kind.input_attrs),
    )


def _check_input_names(spec: CampaignSpec, items: list, outputs: Mapping[str, Any]) -> None:
    """Refuse items whose fields share a name with an output or a ledger variable of the
    store: one variable of the store cannot hold both (the item's value would be lost)."""
    from vlab.catalog.schema import LEDGER_VARIABLES

    names = set().union(*(it.keys() for it in items)) if items else set()
    names.discard(SOURCE_HASH)
    clash = sorted(names & (set(outputs) | set(LEDGER_VARIABLES)))
    if clash:
        raise SpecError(
            f"{spec.source}: the items have fields named like the store's own variables "
            f"({', '.join(clash)}: outputs of kind {spec.kind!r} or its ledger); rename "
            "them in the inputs file."
        )


def _check_store_path(spec: CampaignSpec) -> None:
    """The store of ``spec`` is an existing vlab store, or a path where one can be made."""
    store = spec.store
    if catalog.is_url(store):
        _check_remote_store(spec)
        return
    if store.exists():
        if not (store / "zarr.json").is_file():
            what = "a folder that is not a vlab store" if store.is_dir() else "a file"
            raise SpecError(
                f"{spec.source}: the 'store' path {str(store)!r} is {what}; it is left "
                "untouched. Give a new path (a folder name ending in .zarr) or an existing "
                "store of this campaign."
            )
        return  # whether it holds this campaign's items is checked under the writer lock
    parent = store.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        why = "is a file" if not parent.is_dir() else "is not writable"
        raise SpecError(
            f"{spec.source}: the 'store' {str(store)!r} cannot be created: {str(parent)!r} "
            f"{why}. Choose a 'store' path in a folder you can write to."
        )


def _check_remote_store(spec: CampaignSpec) -> None:
    """The object-storage location of ``spec`` is reachable, and a vlab store or free."""
    store = spec.store
    try:
        store.check_bucket()
        taken = store.exists()
        complete = taken and catalog.store_exists(store)
        incomplete = taken and not complete and _incomplete_layout(store)
    except StoreError as err:
        raise SpecError(f"{spec.source}: {err}") from None
    if taken and not complete and not incomplete:
        raise SpecError(
            f"{spec.source}: the 'store' {str(store)!r} holds objects that are not a vlab store; "
            "they are left untouched. Give a new location or an existing store of this campaign."
        )


def _incomplete_layout(store) -> bool:
    """Whether ``store`` is the leftover of a creation that did not finish."""
    try:
        catalog.open_group(store)
    except StoreError as err:
        return "did not finish" in str(err)
    return False


def _check_specs(specs: Sequence[CampaignSpec]) -> list[Plan | None]:
    """Validate every spec of a batch before anything runs; plan those that can be planned.

    A spec whose inputs are the catalog entry that an earlier campaign of the batch writes
    cannot make its items yet: its kind and parameters are checked and its plan is ``None``.
    """
    made: set[str] = set()  # catalog entries that earlier campaigns of the batch write
    stores: dict[Path | catalog.StoreURL, str] = {}
    plans: list[Plan | None] = []
    for spec in specs:
        if spec.store in stores:
            raise SpecError(
                f"{spec.source}: the campaigns {stores[spec.store]!r} and {spec.name!r} both "
                f"write the store {str(spec.store)!r}; give each campaign its own 'store'."
            )
        stores[spec.store] = spec.name
        _check_store_path(spec)
        if spec.inputs.catalog is not None and spec.inputs.catalog in made:
            _kind_and_params(spec)
            plans.append(None)
        else:
            plans.append(plan_campaign(spec))
        if spec.register:
            made.add(spec.name)
    if any(spec.register for spec in specs):
        _check_catalog_writable(next(spec for spec in specs if spec.register))
    return plans


def _check_catalog_writable(spec: CampaignSpec) -> None:
    """The catalog folder where the campaigns register their stores can be written (checked
    before any work, not after it)."""
    folder = catalog.index_dir()
    if catalog.is_url(folder):  # object storage: its permissions show at the first write
        return
    parent = folder
    while not parent.exists():
        parent = parent.parent
    if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
        return
    why = "is a file" if not parent.is_dir() else "is not writable"
    raise SpecError(
        f"{spec.source}: the catalog folder {str(folder)!r} (configuration catalog.index_dir), "
        f"where campaigns register their stores, cannot be written: {str(parent)!r} {why}. "
        "Point VLAB_CATALOG__INDEX_DIR at a folder you can write to, or give the spec "
        "'register: false'."
    )


def _kind_and_params(spec: CampaignSpec) -> tuple[Kind, dict[str, Any]]:
    """The kind of ``spec`` and its checked parameters; errors name the spec's file."""
    try:
        kind = get_kind(spec.kind)
        return kind, kind.check_params(dict(spec.params))
    except InputError as err:
        raise type(err)(f"{spec.source}: {err}") from None


def _ensure_store(plan: Plan) -> set[int]:
    """Create the store of ``plan``, or check that the existing one holds its items.

    Returns the items whose stored ``input_hash`` was damaged (a store of this very spec whose
    hash column disagrees with the plan only at items that are not done): their chunks are
    rewritten whole.
    """
    store = plan.spec.store
    if not catalog.store_exists(store):
        attrs = catalog.provenance(
            title=plan.spec.name,
            description=plan.spec.description,
            kind=plan.kind.name,
            kind_version=plan.kind.version,
            calculator=plan.identity,
            spec=plan.spec.as_dict(),
            spec_hash=plan.spec.spec_hash,
            chunk_size=plan.spec.chunk_size,
        )
        catalog.create_store(
            store,
            chunk_size=plan.zarr_chunk_items(),
            inputs=plan.inputs,
            outputs=plan.outputs,
            input_hashes=plan.hashes,
            attrs=attrs,
        )
        return set()
    try:
        ledger, unreadable = read_ledger_tolerant(store, ("input_hash", "status"))
    except Exception as err:  # not even the layout can be read
        raise StoreError(
            f"The store {str(store)!r} cannot be read ({type(err).__name__}: "
            f"{str(err)[:200]}); it is left untouched. Move it aside to start over."
        ) from None
    stored = [str(h) for h in ledger["input_hash"]]
    status = np.where(unreadable, Status.PENDING, ledger["status"])
    damaged = _damaged_hashes(plan, stored, status, unreadable)
    if damaged is None:
        raise SpecError(
            f"{plan.spec.source}: the store {str(store)!r} holds other items than this spec "
            "makes "
            f"({len(stored)} stored, {len(plan.hashes)} planned"
            f"{_what_changed(plan, store)}). "
            "It is left untouched: choose another 'store' path, or delete that store to start over."
        )
    ds = catalog.open_store(store)
    if int(ds.attrs.get("chunk_size", plan.spec.chunk_size)) != plan.spec.chunk_size:
        raise SpecError(
            f"{plan.spec.source}: the store {str(store)!r} was written with chunk_size "
            f"{ds.attrs['chunk_size']}; the spec says {plan.spec.chunk_size}. Give the spec "
            f"chunk_size: {ds.attrs['chunk_size']} to resume it, or another 'store' path."
        )
    _record_spec(plan, ds.attrs)
    return damaged


def _attrs(store) -> dict:
    """The attributes of ``store``'s root group."""
    return dict(catalog.open_group(store).attrs)


def _record_spec(plan: Plan, attrs: Mapping[str, Any]) -> None:
    """A spec that makes the store's very items but differs from the spec it records (another
    name or description, a setting the items do not depend on): the store records this one
    (title, description, spec and its hash), with a ``UserWarning`` naming the differences."""
    spec = plan.spec
    if attrs.get("spec_hash") == spec.spec_hash:
        return
    try:
        before = json.loads(attrs["spec"]) if isinstance(attrs["spec"], str) else attrs["spec"]
    except Exception:  # no readable record (an older vlab): nothing to compare with
        before = None
    changes = []
    if isinstance(before, dict):
        before = {k: v for k, v in before.items() if k != "store"}
        changes = setting_differences(before, spec.as_dict(include_store=False))
    catalog.update_attrs(
        spec.store,
        {
            "title": spec.name,
            "description": spec.description,
            "spec": json.dumps(spec.as_dict()),
            "spec_hash": spec.spec_hash,
        },
    )
    if changes:
        shown = "; ".join(changes[:4]) + (
            f"; and {len(changes) - 4} more" if len(changes) > 4 else ""
        )
        warnings.warn(
            f"{spec.source}: the store {str(spec.store)!r} was written by a spec with {shown}. "
            "This spec makes the same items, so the store is resumed, and it records this spec "
            "from now on.",
            UserWarning,
            stacklevel=2,
        )


def _what_changed(plan: Plan, store) -> str:
    """``; SETTING: STORED -> NOW, ...``: how the spec that wrote ``store`` (its ``spec`` and
    ``kind_version`` attributes) differs from ``plan``'s, or ``, or different inputs or
    parameters`` if that cannot be told (a store of an older vlab, or the same spec)."""
    try:
        attrs = catalog.open_store(store).attrs
        before = json.loads(attrs["spec"]) if isinstance(attrs["spec"], str) else attrs["spec"]
    except Exception:  # no readable record of the spec that wrote it
        before = None
    changes = []
    if isinstance(before, dict):
        now = plan.spec.as_dict(include_store=False)
        before = {k: v for k, v in before.items() if k != "store"}
        changes = setting_differences(before, now)
        version = attrs.get("kind_version")
        if version is not None and str(version) != str(plan.kind.version):
            changes.append(f"version of kind {plan.kind.name!r}: {version} -> {plan.kind.version}")
    if not changes:
        return ", or different inputs or parameters"
    shown = "; ".join(changes[:4]) + (f"; and {len(changes) - 4} more" if len(changes) > 4 else "")
    return f"; written by a spec with {shown}"


def _damaged_hashes(
    plan: Plan, stored: list[str], status: np.ndarray, unreadable: np.ndarray
) -> set[int] | None:
    """Items whose stored hash differs from the plan's, if the store is this spec's; else None.

    A store written from this spec (same ``spec_hash``) whose hash column differs from the plan
    only at items that are not done (or in chunks that cannot be read) was damaged, not
    written by another spec.
    """
    if stored == plan.hashes:
        return set()
    if len(stored) != len(plan.hashes):
        return None
    differ = {i for i, (a, b) in enumerate(zip(stored, plan.hashes, strict=True)) if a != b}
    try:
        same_spec = catalog.open_store(plan.spec.store).attrs.get("spec_hash") == (
            plan.spec.spec_hash
        )
    except Exception:
        return None
    if not same_spec or any(status[i] == Status.DONE and not unreadable[i] for i in differ):
        return None
    return differ


def _catalog_sources(plan: Plan, wanted: set[str]) -> dict[str, tuple[Path, int]]:
    """``{hash: (store, index)}`` of done, checksum-verified items of the same kind elsewhere.

    A registered store that does not open is skipped with a warning; items whose data do not
    match their checksum (or that have none) are not copied but computed.
    """
    found: dict[str, tuple[Path, int]] = {}
    own = _real(plan.spec.store)
    for entry in catalog.list_entries():
        if not wanted:
            break
        if entry.kind != plan.kind.name or _real(entry.location) == own:
            continue
        if entry.missing:
            warnings.warn(
                f"Skipping the catalog entry {entry.name!r} as a source of computed items: its "
                f"store {str(entry.location)!r} does not exist (moved or deleted; the entry is "
                f"{str(entry.index_file)!r}).",
                stacklevel=2,
            )
            continue
        try:
            ds = entry.open()
            ledger = catalog.read_ledger(entry.location, ("status", "input_hash"))
            same_schema = all(
                n in ds and ds[n].shape[1:] == v.shape for n, v in plan.outputs.items()
            )
        except Exception as err:  # one broken store never stops a campaign
            warnings.warn(
                f"Skipping the catalog store {entry.name!r} ({str(entry.location)!r}) as a "
                f"source of computed items: it cannot be read ({type(err).__name__}: "
                f"{str(err)[:160]}).",
                stacklevel=2,
            )
            continue
        if not same_schema:
            continue
        match = [
            (str(ledger["input_hash"][i]), int(i))
            for i in np.flatnonzero(ledger["status"] == Status.DONE)
            if str(ledger["input_hash"][i]) in wanted
        ]
        if not match:
            continue
        trusted = trusted_items(entry.location, [i for _, i in match])
        for (h, i), ok in zip(match, trusted, strict=True):
            if ok and h not in found:
                found[h] = (entry.location, i)
        wanted = wanted - set(found)
    return found


def _real(location):
    """A key that is equal for two locations of the same store."""
    return location if catalog.is_url(location) else Path(os.path.realpath(location))


def _load_copies(sources: Mapping[str, tuple[Path, int]], outputs) -> dict[str, dict]:
    """Output values (and origin) of each cached hash, read from its store."""
    by_store: dict[Path, list[tuple[str, int]]] = defaultdict(list)
    for h, (path, i) in sources.items():
        by_store[path].append((h, i))
    copies: dict[str, dict] = {}
    for path, pairs in by_store.items():
        index = [i for _, i in pairs]
        try:
            ds = catalog.open_store(path)[list(outputs)].isel(item=index).load()
        except Exception as err:  # computed instead
            warnings.warn(
                f"Could not copy {len(pairs)} computed items from {str(path)!r} "
                f"({type(err).__name__}: {str(err)[:160]}); they are computed again.",
                stacklevel=2,
            )
            continue
        for row, (h, _) in enumerate(pairs):
            copies[h] = {
                "values": {n: ds[n].values[row] for n in outputs},
                "worker": f"cache:{path.name}",
            }
    return copies


@dataclass
class _Chunk:
    start: int
    stop: int
    todo: list[int]  # indices (global) to fill in this run
    compute: list[int]  # indices evaluated by this chunk's task
    waiting: set[str] = field(default_factory=set)  # hashes computed by other chunks
    result: dict | None = None  # the task's result, kept until the chunk is written
    key: str = ""  # key of the Dask task that computed it (its progress reports carry it)


class _Writer:
    """Assembles completed chunks and writes each once (client side)."""

    def __init__(
        self, plan: Plan, copies: dict[str, dict], status: np.ndarray, rewrite: set[int]
    ) -> None:
        self.plan, self.copies, self.status = plan, copies, status
        self.rewrite = rewrite  # starts of chunks written whole, inputs and hashes included
        group = catalog.open_group(plan.spec.store, "r")
        self.covered = checksum_names(group)
        self.memo: dict[str, dict] = {}
        self.pending: list[tuple[_Chunk, catalog.ChunkData]] = []
        self.computed = 0
        self.copied = 0
        self.errors: list[str] = []
        self.failed = False  # a write raised: not tried again on the way out

    def remember(self, chunk: _Chunk, result: dict, needed: set[str]) -> None:
        for row, i in enumerate(chunk.compute):
            h = self.plan.hashes[i]
            if h in needed:
                self.memo[h] = {
                    "values": {n: v[row] for n, v in result["values"].items()},
                    "status": int(result["status"][row]),
                    "error": result["error"][row],
                    "worker": result["worker"],
                    "duration": float(result["duration"][row]),
                }

    def add(self, chunk: _Chunk, result: dict | None) -> None:
        """Assemble ``chunk`` for the next :meth:`flush`."""
        self.pending.append((chunk, self._assemble(chunk, result)))

    def flush(self) -> list[_Chunk]:
        """Write the assembled chunks (all at once); returns them."""
        if not self.pending:
            return []
        chunks = [c for c, _ in self.pending]
        with _interrupt_deferred():
            self.failed = True  # until the write returns
            catalog.write_chunks(
                self.plan.spec.store, [d for _, d in self.pending], outputs=self.plan.outputs
            )
            self.failed = False
            for c, data in self.pending:
                self.status[c.start : c.stop] = data.status
            self.pending = []
        return chunks

    def _assemble(self, chunk: _Chunk, result: dict | None) -> catalog.ChunkData:
        plan = self.plan
        n = chunk.stop - chunk.start
        values = self._existing(chunk) if len(chunk.todo) < n else chunk_arrays(plan.outputs, n)
        status = self.status[chunk.start : chunk.stop].copy()
        ledger = {
            "duration": np.full(n, np.nan, np.float32),
            "error": np.full(n, "", object),
            "worker": np.full(n, "", object),
        }
        if self.covered is not None:
            ledger["checksum"] = np.zeros(n, np.uint64)
        if len(chunk.todo) < n:
            old = (
                catalog.open_store(plan.spec.store)[list(ledger)]
                .isel(item=slice(chunk.start, chunk.stop))
                .load()
            )
            ledger = {k: old[k].values.astype(ledger[k].dtype) for k in ledger}
        local = {}
        if result is not None:
            for r, i in enumerate(chunk.compute):
                local[plan.hashes[i]] = {
                    "values": {k: v[r] for k, v in result["values"].items()},
                    "status": int(result["status"][r]),
                    "error": result["error"][r],
                    "worker": result["worker"],
                    "duration": float(result["duration"][r]),
                }
        computed = set(chunk.compute)
        for i in chunk.todo:
            j = i - chunk.start
            h = plan.hashes[i]
            record = (
                local.get(h)
                or self.memo.get(h)
                or {**self.copies[h], "status": Status.DONE, "error": "", "duration": np.nan}
            )
            if i in computed:
                self.computed += 1
            else:
                self.copied += 1
            for k, v in record["values"].items():
                values[k][j] = v
            status[j] = record["status"]
            ledger["duration"][j] = record["duration"]
            ledger["error"][j] = record["error"]
            ledger["worker"][j] = record["worker"]
            if record["error"] and len(self.errors) < 5:
                self.errors.append(f"item {i}: {record['error']}")
        inputs = {k: v[chunk.start : chunk.stop] for k, (_, v) in plan.inputs.items()}
        whole = chunk.start in self.rewrite
        if whole:
            ledger["input_hash"] = np.asarray(plan.hashes[chunk.start : chunk.stop], dtype=object)
        if self.covered is not None:
            fresh = self._checksums(chunk, values, status, inputs)
            todo = np.asarray(chunk.todo) - chunk.start
            ledger["checksum"][todo] = fresh[todo]
        return catalog.ChunkData(chunk.start, values, status, ledger, inputs, whole)

    def _checksums(self, chunk: _Chunk, values, status, inputs) -> np.ndarray:
        """Checksums of the chunk's items as planned (hashes and inputs from the plan)."""
        columns = {
            "status": np.asarray(status, np.int8),
            "input_hash": np.asarray(self.plan.hashes[chunk.start : chunk.stop], dtype=object),
        }
        for name in self.covered or ():
            if name in values:
                var = self.plan.outputs[name]
                columns[name] = np.asarray(values[name], dtype=object if var.is_text else var.dtype)
            elif name in inputs:
                columns[name] = np.asarray(inputs[name])
        missing = set(self.covered or ()) - set(columns)
        if missing:
            raise StoreError(
                f"The store {str(self.plan.spec.store)!r} declares checksummed variables "
                f"{sorted(missing)} that this campaign does not write."
            )
        return item_checksums(columns)

    def _existing(self, chunk: _Chunk) -> dict[str, np.ndarray]:
        ds = catalog.open_store(self.plan.spec.store)[list(self.plan.outputs)]
        part = ds.isel(item=slice(chunk.start, chunk.stop)).load()
        return {k: part[k].values.copy() for k in self.plan.outputs}


def _make_chunks(plan: Plan, todo_mask: np.ndarray, known: set[str]) -> tuple[list[_Chunk], set]:
    """Split the work by chunk; assign each new hash to the first item that has it."""
    owner: dict[str, int] = {}
    chunks = []
    for start, stop in catalog.chunk_bounds(len(plan.items), plan.spec.chunk_size):
        todo = [i for i in range(start, stop) if todo_mask[i]]
        if not todo:
            continue
        chunk = _Chunk(start=start, stop=stop, todo=todo, compute=[])
        for i in todo:
            h = plan.hashes[i]
            if h in known:
                continue
            if h not in owner:
                owner[h] = i
                chunk.compute.append(i)
            elif owner[h] < start:
                chunk.waiting.add(h)
        chunks.append(chunk)
    needed = {h for c in chunks for h in c.waiting}
    return chunks, needed


def _executor(client, plan: Plan, retries: int):
    """``submit(chunk)`` returning a future-like object, and an ``as_completed`` iterator."""
    if client is None:
        return None
    from distributed import as_completed

    store = str(_real(plan.spec.store))

    def submit(chunk: _Chunk):
        items = [plan.items[i] for i in chunk.compute]
        # Unique to what this chunk computes and where it goes: two campaigns (even of the
        # same name) sharing a scheduler never share a key unless they compute the same thing
        # for the same store.
        token = content_hash(store, [plan.hashes[i] for i in chunk.compute])[:16]
        key = f"{plan.spec.name}-chunk-{chunk.start}-{token}"
        return client.submit(
            run_chunk,
            plan.kind.name,
            plan.params,
            items,
            plan.outputs,
            key=key,
            retries=retries,
            pure=False,
        )

    return submit, as_completed


def _window(client) -> int:
    from vlab import config

    if client is None:
        return 1
    workers = client.scheduler_info().get("workers", {})
    threads = sum(int(w.get("nthreads", 1)) for w in workers.values())
    per_worker = max(len(workers), 1) * int(config.get("campaign.futures_per_worker"))
    return max(2, per_worker, 2 * threads)  # at least two tasks per thread in flight


def _run_chunks(plan: Plan, chunks: list[_Chunk], writer: _Writer, client, bar) -> None:
    ready = [c for c in chunks if not c.compute]
    queue = [c for c in chunks if c.compute]
    blocked: list[_Chunk] = []
    done_hashes: set[str] = set()
    needed = {h for c in chunks for h in c.waiting}

    def finish(chunk: _Chunk, result: dict | None) -> None:
        if result is not None:
            chunk.result = result
            writer.remember(chunk, result, needed)
            done_hashes.update(plan.hashes[i] for i in chunk.compute)
        pending = [chunk]
        while pending:
            c = pending.pop()
            if c.waiting - done_hashes:
                if c not in blocked:
                    blocked.append(c)
                continue
            writer.add(c, c.result)
            c.result = None
            ripe = [b for b in blocked if not (b.waiting - done_hashes)]
            for b in ripe:
                blocked.remove(b)
            pending.extend(ripe)

    from vlab import config

    interval = float(config.get("campaign.flush_seconds"))  # range-checked by config
    last = [time.monotonic()]

    def flush(*, due: bool = True) -> None:
        """Write the assembled chunks, or (``due=False``) only once ``interval`` has passed."""
        if not due and time.monotonic() - last[0] < interval:
            return
        for c in writer.flush():
            bar.done(c.todo, c.key)
        last[0] = time.monotonic()

    try:
        for chunk in ready:
            finish(chunk, None)
        flush()
        if client is None:
            for chunk in queue:
                items = [plan.items[i] for i in chunk.compute]
                finish(chunk, run_chunk(plan.kind.name, plan.params, items, plan.outputs))
                flush(due=False)
            flush()
            return
        submit, as_completed = _executor(client, plan, plan.spec.retries)
        window = _window(client)
        by_future = {}
        for chunk in queue[:window]:
            by_future[submit(chunk)] = chunk
        rest = iter(queue[window:])
        stream = as_completed(list(by_future))
        done: list = []  # (chunk, result) fetched from the cluster, not yet passed on

        @contextlib.contextmanager
        def talking():
            """A lost scheduler while talking to the cluster: what finished is written and
            the campaign ends with a ClusterError (the chunks in flight stay pending)."""
            try:
                yield
            except (CancelledError, OSError) as err:
                if isinstance(err, OSError) and not _comm_lost(client, err):
                    raise
                for c, r in done:
                    finish(c, r)
                done.clear()
                raise _cluster_lost(plan, client, err, len(by_future)) from None

        while not stream.is_empty():
            with talking():
                idle = writer.pending and not _first_finished(by_future, last[0] + interval)
            if idle:
                flush()  # nothing finished before the assembled chunks were due
                continue
            with talking():
                batch = stream.next_batch(block=True)  # every future finished by now
            fetched = _gather_finished(client, batch)
            for future in batch:
                chunk = by_future.pop(future)
                chunk.key = str(future.key)
                try:
                    result = fetched[future.key] if future.key in fetched else future.result()
                except Exception as err:
                    lost = getattr(client, "status", "running") != "running"
                    if future.status != "error" or lost:
                        # the cluster went away (scheduler lost, client closed): not the
                        # items' fault; what finished before is written (below), the rest
                        # stays pending
                        for c, r in done:
                            finish(c, r)
                        raise _cluster_lost(plan, client, err, len(by_future) + 1) from None
                    result = _failed_chunk(chunk, plan, err)  # the task died (KilledWorker, ...)
                done.append((chunk, result))
                nxt = next(rest, None)
                with talking():
                    future.release()
                    if nxt is not None:  # refill the window before writing
                        f = submit(nxt)
                        by_future[f] = nxt
                        stream.add(f)
            for c, r in done:
                finish(c, r)
            done.clear()
            flush(due=False)
        flush()
    except BaseException:
        # Ctrl-C, a lost cluster: the chunks finished and assembled so far are written
        # before the error goes on (a failed write itself is not tried twice)
        if writer.pending and not writer.failed:
            flush()
        raise


def _first_finished(futures, deadline: float) -> bool:
    """Wait until one of ``futures`` has finished or ``deadline`` (monotonic) has passed."""
    from distributed import wait

    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return any(f.done() for f in futures)
    try:
        wait(list(futures), timeout=remaining, return_when="FIRST_COMPLETED")
    except TimeoutError:
        return False
    return True


def _gather_finished(client, futures) -> dict:
    """``{key: result}`` of the finished ``futures``, fetched in one round trip."""
    finished = [f for f in futures if f.status == "finished"]
    if len(finished) < 2:
        return {}
    try:
        return dict(zip([f.key for f in finished], client.gather(finished), strict=True))
    except Exception:  # fetched one by one instead, where each failure is told apart
        return {}


def _comm_lost(client, err: OSError) -> bool:
    """Whether ``err`` is distributed's closed connection, or came from a client that has
    lost its scheduler (not, say, a full disk)."""
    from distributed.comm.core import CommClosedError

    return isinstance(err, CommClosedError) or getattr(client, "status", "running") != "running"


def _cluster_lost(plan: Plan, client, err: BaseException, in_flight: int) -> ClusterError:
    address = getattr(getattr(client, "scheduler", None), "address", "") or "the scheduler"
    return ClusterError(
        f"Lost the Dask cluster ({address}) while running campaign {plan.spec.name!r}: "
        f"{type(err).__name__}: {' '.join(str(err).split())[:120] or 'no detail'}. The chunks "
        "finished before "
        f"are saved in {str(plan.spec.store)!r}; the {in_flight} chunk(s) in flight stay pending "
        "(not failed). Run the same command again, with a reachable scheduler, to resume."
    )


def _failed_chunk(chunk: _Chunk, plan: Plan, err: BaseException) -> dict:
    n = len(chunk.compute)
    return {
        "values": chunk_arrays(plan.outputs, n),
        "status": np.full(n, Status.FAILED, np.int8),
        "duration": np.full(n, np.nan, np.float32),
        "error": np.full(n, f"task failed: {type(err).__name__}: {err}"[:2000], object),
        "worker": "",
    }


def _progress(plan: Plan, todo: np.ndarray, client, enabled: bool) -> ProgressBar:
    """A bar over the items to fill, or over the kind's finer units (``Kind.progress_units``)."""
    kind = plan.kind
    units = [1] * len(plan.items)
    if kind.progress_units is not None:
        units = [int(kind.progress_units(plan.params, item)) for item in plan.items]
    return ProgressBar(
        units,
        np.flatnonzero(todo),
        client=client,
        enabled=enabled,
        name=plan.spec.name,
        unit=kind.progress_unit,
    )


def run_campaign(
    spec: CampaignSpec,
    *,
    client=None,
    progress: bool = True,
    retry_failed: bool = False,
) -> CampaignReport:
    """Run (or resume) ``spec``; with ``client=None`` evaluate in this process.

    Parameters
    ----------
    spec : CampaignSpec
        The validated spec (see :func:`vlab.campaign.load_spec`).
    client : distributed.Client, optional
        Where to evaluate; ``None`` runs the chunks synchronously here (no Dask).
    progress : bool
        Show a progress bar (tqdm) on stderr.
    retry_failed : bool
        Evaluate again the items that failed in an earlier run.

    Raises
    ------
    SpecError
        If the kind, its parameters, the inputs or the store path are invalid.
    StoreLockedError
        If another process is writing the store.
    """
    (plan,) = _check_specs([spec])
    with catalog.writer_lock(spec.store), _reads_here():
        return _run_locked(plan, client, progress=progress, retry_failed=retry_failed)


def _register(spec: CampaignSpec, kind: str) -> None:
    """Register the campaign's store under its name; a UserWarning if that name named another
    store before (the older store stays where it is, but the name no longer finds it)."""
    try:
        before = catalog.get_entry(spec.name).location
    except CatalogError:
        before = None
    entry = catalog.register(spec.name, spec.store, description=spec.description, kind=kind)
    if before is not None and str(before) != str(entry.location):
        warnings.warn(
            f"The catalog name {spec.name!r} now names {entry.location} (it named {before}, "
            "which is unchanged but no longer found by that name). Give campaigns of other "
            "stores their own 'name:' to keep both in the catalog.",
            UserWarning,
            stacklevel=3,
        )


def _reads_here():
    """Compute the client's lazy reads of stores in this process, never on the cluster.

    A Dask client makes itself the default scheduler of every computation, which would send
    the runner's reads of its stores to workers that may not see them (a volume mounted on
    the runner only, or object-storage credentials that only the runner has).
    """
    import dask

    return dask.config.set(scheduler="threads")


def _run_locked(plan: Plan, client, *, progress: bool, retry_failed: bool) -> CampaignReport:
    """Run ``plan`` while this process holds the writer lock of its store."""
    t0 = time.perf_counter()
    store = plan.spec.store
    store.parent.mkdir(parents=True, exist_ok=True)
    damaged = _ensure_store(plan)
    if plan.spec.register:  # from the start: an interrupted campaign is found by its name
        _register(plan.spec, plan.kind.name)
    ledger, unreadable = read_ledger_tolerant(store, ("status", "error"))
    status = ledger["status"]
    valid = np.isin(status, [s.value for s in Status]) & ~unreadable
    status = np.where(valid, status, Status.PENDING).astype(np.int8)  # a damaged status byte
    marked = {i for i, e in enumerate(ledger["error"]) if str(e).startswith(VERIFY_MARK)}
    size = plan.spec.chunk_size
    rewrite = {(i // size) * size for i in (marked | damaged | set(np.flatnonzero(~valid)))}
    todo = (status == Status.PENDING) | ((status == Status.FAILED) if retry_failed else False)
    for start in rewrite:  # chunks that verify found damaged are written whole
        todo[start : start + size] = True
    in_rewrite = np.zeros(len(status), bool)
    for start in rewrite:
        in_rewrite[start : start + size] = True
    done_here = {
        plan.hashes[i]: (store, int(i))
        for i in np.flatnonzero((status == Status.DONE) & ~in_rewrite)
    }
    wanted = {plan.hashes[i] for i in np.flatnonzero(todo)}
    sources = {h: done_here[h] for h in wanted if h in done_here}
    if sources:  # copies within the store, too, only of items that match their checksum
        pairs = list(sources.items())
        trusted = trusted_items(store, [i for _, (_, i) in pairs])
        sources = {h: where for (h, where), ok in zip(pairs, trusted, strict=True) if ok}
    sources.update(_catalog_sources(plan, wanted - set(sources)))
    copies = _load_copies(sources, plan.outputs)
    writer = _Writer(plan, copies, status.copy(), rewrite)
    chunks, _ = _make_chunks(plan, todo, set(copies))
    with (
        _progress(plan, todo, client, progress) as bar,
        _perf_report(client, store) as report_paths,
        _one_line_client_logs(),
    ):
        _run_chunks(plan, chunks, writer, client, bar)
    counts = catalog.count_status(writer.status)
    if writer.computed or writer.copied or rewrite or "updated" not in _attrs(store):
        # (a run that wrote nothing leaves the time of the last write)
        attrs = {"updated": _now(), **{f"n_{k}": v for k, v in counts.items()}}
        catalog.update_attrs(store, attrs)
    catalog.consolidate(store)
    return CampaignReport(
        store=store,
        n_items=len(plan.items),
        done=counts["done"],
        failed=counts["failed"],
        pending=counts["pending"],
        computed=writer.computed,
        copied=writer.copied,
        seconds=time.perf_counter() - t0,
        dashboard_link=getattr(client, "dashboard_link", "") or "",
        performance_report=report_paths[0],
        errors=tuple(writer.errors),
    )


class _NoTraceback(logging.Filter):
    """Keep a log record's message, drop its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info, record.exc_text = None, None
        return True


@contextlib.contextmanager
def _one_line_client_logs():
    """The Dask client's log lines without their tracebacks while a campaign runs.

    A lost scheduler makes the client log each failed reconnection with a long traceback;
    the campaign ends with one error that says what happened and what is saved.
    """
    logger = logging.getLogger("distributed.client")
    quiet = _NoTraceback()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


@contextlib.contextmanager
def _interrupt_deferred():
    """Hold a Ctrl-C (or a SIGTERM that vlab handles) back while a chunk is written, then
    deliver it.

    A chunk's outputs, ledger and status are written together, so an interrupted run leaves
    only whole chunks behind (in the main thread; elsewhere signals cannot arrive anyway).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C, and a job stopped by its scheduler
        handler = signal.getsignal(sig)
        if callable(handler):  # Python's own handlers only (not the default action)
            previous[sig] = handler
            signal.signal(sig, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(caught):
            previous[sig](sig, None)


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


@contextlib.contextmanager
def _perf_report(client, store: Path | catalog.StoreURL):
    from vlab import config

    if client is None or not config.get("campaign.performance_report") or catalog.is_url(store):
        yield [""]
        return
    from distributed import performance_report

    path = store.with_name(store.name + ".performance.html")
    report = performance_report(filename=str(path))
    report.__enter__()
    written = [str(path)]
    yield written  # a run that fails or is interrupted writes no report
    try:
        report.__exit__(None, None, None)  # fetches the report from the scheduler
    except (OSError, CancelledError) as err:  # the scheduler went away after the last chunk
        written[0] = ""
        warnings.warn(
            f"The campaign ran to its end and its results are saved in {str(store)!r}, but its "
            "Dask performance report was not written: the scheduler could not be reached "
            f"({type(err).__name__}: {' '.join(str(err).split())[:120] or 'no detail'}).",
            stacklevel=2,
        )


def run_campaigns(
    specs: Sequence[CampaignSpec],
    *,
    synchronous: bool = False,
    workers: int | None = None,
    scheduler: str | None = None,
    kubernetes: bool = False,
    progress: bool = True,
    retry_failed: bool = False,
    on_checked: Callable[[], None] | None = None,
) -> list[CampaignReport]:
    """Run ``specs`` in order on one cluster (or in this process if ``synchronous``).

    Before a cluster starts, everything that can fail fast is checked: the cluster options,
    each spec (kind, parameters, inputs, store path), every store's writer lock (taken here,
    held to the end) and whether an existing store holds this spec's items. ``on_checked``,
    if given, is called then (e.g. to print a header that a bad spec never gets). Then the
    cluster is made by :func:`vlab.campaign.connect`; its dashboard link is printed first.

    A ``KeyboardInterrupt`` (Ctrl-C) leaves every chunk written so far in the stores; it
    carries a note saying how many items of the interrupted campaign are saved.

    Raises
    ------
    SpecError, InputError
        If a spec or a cluster option is invalid (no cluster was started).
    StoreLockedError
        If another process writes one of the stores (no cluster was started).
    """
    from vlab.campaign.cluster import check_options, connect

    if not synchronous:
        check_options(workers=workers, scheduler=scheduler, kubernetes=kubernetes)
    plans = _check_specs(specs)
    kw = {"progress": progress, "retry_failed": retry_failed}
    with contextlib.ExitStack() as stack:
        stack.enter_context(_one_line_client_logs())
        for spec in specs:
            spec.store.parent.mkdir(parents=True, exist_ok=True)
            stack.enter_context(catalog.writer_lock(spec.store))
        for plan in plans:  # an existing store must hold this spec's items; new ones are
            if plan is not None and plan.spec.store.exists():  # made once the cluster is up
                _ensure_store(plan)
        if on_checked is not None:
            on_checked()
        client = None
        if not synchronous:
            client = stack.enter_context(
                connect(workers=workers, scheduler=scheduler, kubernetes=kubernetes)
            )
            print(f"Dask dashboard: {client.dashboard_link}", flush=True)
        reports = []
        for spec, plan in zip(specs, plans, strict=True):
            try:
                with _reads_here():
                    report = _run_locked(plan or plan_campaign(spec), client, **kw)
            except KeyboardInterrupt as err:
                err.add_note(_saved_note(spec))
                raise
            reports.append(report)
    return reports


def _saved_note(spec: CampaignSpec) -> str:
    """What an interrupted campaign left in its store, in words."""
    try:
        counts = catalog.count_status(catalog.read_ledger(spec.store)["status"])
    except (StoreError, OSError, KeyError):
        return f"campaign {spec.name!r} had not written its store {str(spec.store)!r} yet"
    failed = f", {counts['failed']} failed" if counts["failed"] else ""
    return (
        f"{counts['done']} of {sum(counts.values())} items of campaign {spec.name!r} are "
        f"saved in {str(spec.store)!r}{failed}"
    )
