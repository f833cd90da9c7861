"""Run a campaign: plan the items, then evaluate missing chunks on Dask and write them once.

The client process is the only writer of the store (it holds :class:`StoreLock`); workers
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
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vlab import catalog
from vlab._utils import content_hash
from vlab.campaign.inputs import make_items
from vlab.campaign.kinds import Item, Kind, get_kind
from vlab.campaign.progress import ProgressBar
from vlab.campaign.spec import CampaignSpec
from vlab.campaign.tasks import chunk_arrays, run_chunk
from vlab.catalog.items import encode_items, item_fingerprint
from vlab.catalog.schema import Status, Variable
from vlab.errors import StoreError

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
    kind = get_kind(spec.kind)
    params = kind.check_params(dict(spec.params))
    items = make_items(spec, kind, params)
    identity = kind.identify(params)
    hashes = [content_hash(kind.name, kind.version, identity, item_fingerprint(it)) for it in items]
    return Plan(
        spec=spec,
        kind=kind,
        params=params,
        identity=identity,
        items=items,
        hashes=hashes,
        outputs=kind.outputs(params, items),
    )


def _ensure_store(plan: Plan) -> None:
    store = plan.spec.store
    if not store.exists():
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
            chunk_size=plan.spec.chunk_size,
            inputs=encode_items(plan.items, plan.kind.input_attrs),
            outputs=plan.outputs,
            input_hashes=plan.hashes,
            attrs=attrs,
        )
        return
    stored = catalog.read_ledger(store, ("input_hash",))["input_hash"]
    if [str(h) for h in stored] != plan.hashes:
        raise StoreError(
            f"The store {str(store)!r} holds other items than this spec makes "
            f"({len(stored)} stored, {len(plan.hashes)} planned, or different inputs/parameters). "
            "It is left untouched: choose another 'store' path, or delete that store to start over."
        )
    ds = catalog.open_store(store)
    if int(ds.attrs.get("chunk_size", plan.spec.chunk_size)) != plan.spec.chunk_size:
        raise StoreError(
            f"The store {str(store)!r} was written with chunk_size "
            f"{ds.attrs['chunk_size']}; the spec says {plan.spec.chunk_size}."
        )


def _catalog_sources(plan: Plan, wanted: set[str]) -> dict[str, tuple[Path, int]]:
    """``{hash: (store, index)}`` of done items of the same kind in other catalog stores."""
    found: dict[str, tuple[Path, int]] = {}
    for entry in catalog.list_entries():
        if entry.kind != plan.kind.name or entry.location == plan.spec.store or not wanted:
            continue
        try:
            ds = entry.open()
            ledger = catalog.read_ledger(entry.location, ("status", "input_hash"))
        except (StoreError, OSError, KeyError):
            continue
        same_schema = all(n in ds and ds[n].shape[1:] == v.shape for n, v in plan.outputs.items())
        if not same_schema:
            continue
        for i in np.flatnonzero(ledger["status"] == Status.DONE):
            h = str(ledger["input_hash"][i])
            if h in wanted and h not in found:
                found[h] = (entry.location, int(i))
        wanted = wanted - set(found)
    return found


def _load_copies(sources: Mapping[str, tuple[Path, int]], outputs) -> dict[str, dict]:
    """Output values (and origin) of each cached hash, read from its store."""
    by_store: dict[Path, list[tuple[str, int]]] = defaultdict(list)
    for h, (path, i) in sources.items():
        by_store[path].append((h, i))
    copies: dict[str, dict] = {}
    for path, pairs in by_store.items():
        index = [i for _, i in pairs]
        ds = catalog.open_store(path)[list(outputs)].isel(item=index).load()
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

    def __init__(self, plan: Plan, copies: dict[str, dict], status: np.ndarray) -> None:
        self.plan, self.copies, self.status = plan, copies, status
        self.memo: dict[str, dict] = {}
        self.computed = 0
        self.copied = 0
        self.errors: list[str] = []

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

    def write(self, chunk: _Chunk, result: dict | None) -> None:
        plan = self.plan
        n = chunk.stop - chunk.start
        values = self._existing(chunk) if len(chunk.todo) < n else chunk_arrays(plan.outputs, n)
        status = self.status[chunk.start : chunk.stop].copy()
        ledger = {
            "duration": np.full(n, np.nan, np.float32),
            "error": np.full(n, "", object),
            "worker": np.full(n, "", object),
        }
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
        catalog.write_chunk(
            plan.spec.store, chunk.start, values, status=status, outputs=plan.outputs, ledger=ledger
        )
        self.status[chunk.start : chunk.stop] = status

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

    def submit(chunk: _Chunk):
        items = [plan.items[i] for i in chunk.compute]
        key = f"{plan.spec.name}-chunk-{chunk.start}-{content_hash(plan.hashes[chunk.start])[:8]}"
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
    n = max(len(client.scheduler_info().get("workers", {})), 1)
    return max(2, n * int(config.get("campaign.futures_per_worker")))


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
            writer.write(c, c.result)
            c.result = None
            bar.done(c.todo, c.key)
            ripe = [b for b in blocked if not (b.waiting - done_hashes)]
            for b in ripe:
                blocked.remove(b)
            pending.extend(ripe)

    for chunk in ready:
        finish(chunk, None)
    if client is None:
        for chunk in queue:
            items = [plan.items[i] for i in chunk.compute]
            finish(chunk, run_chunk(plan.kind.name, plan.params, items, plan.outputs))
        return
    submit, as_completed = _executor(client, plan, plan.spec.retries)
    window = _window(client)
    by_future = {}
    for chunk in queue[:window]:
        by_future[submit(chunk)] = chunk
    rest = iter(queue[window:])
    stream = as_completed(list(by_future))
    for future in stream:
        chunk = by_future.pop(future)
        chunk.key = str(future.key)
        try:
            result = future.result()
        except Exception as err:  # the task itself died (e.g. KilledWorker after retries)
            result = _failed_chunk(chunk, plan, err)
        future.release()
        finish(chunk, result)
        nxt = next(rest, None)
        if nxt is not None:
            f = submit(nxt)
            by_future[f] = nxt
            stream.add(f)


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
    """
    t0 = time.perf_counter()
    plan = plan_campaign(spec)
    store = spec.store
    store.parent.mkdir(parents=True, exist_ok=True)
    report_path = ""
    with catalog.StoreLock(store):
        _ensure_store(plan)
        status = catalog.read_ledger(store)["status"]
        todo = (status == Status.PENDING) | ((status == Status.FAILED) if retry_failed else False)
        done_here = {plan.hashes[i]: (store, int(i)) for i in np.flatnonzero(status == Status.DONE)}
        wanted = {plan.hashes[i] for i in np.flatnonzero(todo)}
        sources = {h: done_here[h] for h in wanted if h in done_here}
        sources.update(_catalog_sources(plan, wanted - set(sources)))
        writer = _Writer(plan, _load_copies(sources, plan.outputs), status.copy())
        chunks, _ = _make_chunks(plan, todo, set(sources))
        with (
            _progress(plan, todo, client, progress) as bar,
            _perf_report(client, store) as report_path,
        ):
            _run_chunks(plan, chunks, writer, client, bar)
        counts = catalog.count_status(writer.status)
        catalog.update_attrs(store, {"updated": _now(), **{f"n_{k}": v for k, v in counts.items()}})
        catalog.consolidate(store)
    if spec.register:
        catalog.register(spec.name, store, description=spec.description, kind=plan.kind.name)
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
        performance_report=str(report_path or ""),
        errors=tuple(writer.errors),
    )


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


@contextlib.contextmanager
def _perf_report(client, store: Path):
    from vlab import config

    if client is None or not config.get("campaign.performance_report"):
        yield ""
        return
    from distributed import performance_report

    path = store.with_name(store.name + ".performance.html")
    with performance_report(filename=str(path)):
        yield str(path)


def run_campaigns(
    specs: Sequence[CampaignSpec],
    *,
    synchronous: bool = False,
    workers: int | None = None,
    scheduler: str | None = None,
    kubernetes: bool = False,
    progress: bool = True,
    retry_failed: bool = False,
) -> list[CampaignReport]:
    """Run ``specs`` in order on one cluster (or in this process if ``synchronous``).

    The cluster is made by :func:`vlab.campaign.connect`; its dashboard link is printed first.
    """
    from vlab.campaign.cluster import connect

    kw = {"progress": progress, "retry_failed": retry_failed}
    if synchronous:
        return [run_campaign(spec, **kw) for spec in specs]
    with connect(workers=workers, scheduler=scheduler, kubernetes=kubernetes) as client:
        print(f"Dask dashboard: {client.dashboard_link}", flush=True)
        return [run_campaign(spec, client=client, **kw) for spec in specs]
