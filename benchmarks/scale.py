"""Scale benchmark: the store writer, the runner end to end, and 64 concurrent worker slots.

Run: ``python benchmarks/scale.py [--quick]``; writes ``benchmarks/results/scale.json`` (and,
if it is smaller than 3 MB, ``benchmarks/results/scale_performance.html``).

(a) Writer alone: chunks per second of ``vlab.catalog.write_chunks`` given batches of 32
    finished chunks (what the runner writes at once when chunks finish faster than one is
    written), of ``write_chunk`` one chunk at a time, and of the previous writer (two xarray
    ``region`` writes per chunk, re-implemented below), into an engine-probe store (inputs
    ``x``; outputs ``value`` and ``vector``; ledger ``duration``, ``error``, ``worker``;
    checksums computed by the writer) at chunk sizes 1, 10 and 100: same data, same run,
    repeats interleaved, a fresh store per run. Each writer gets the store layout it was made
    for: the current ones the runner's (zarr chunks of whole chunks, about
    ``campaign.zarr_chunk_items`` items), the previous one a zarr chunk per chunk. The same
    on object storage: a moto S3 server
    in its own process on loopback (``writer_chunks_per_second_s3``), chunk size 10 only
    unless ``--s3-sizes`` says otherwise.
(b) Runner end to end, in process (no Dask): a 1,000-item engine-probe campaign of items that
    take no time, chunks of 10, with the current writer and with the previous one (and its
    layout).
(c) 64 worker slots (4 worker processes x 16 threads on loopback) running items that sleep
    0.2 s (the 2 cores are not the limit): efficiency = (items x 0.2 s / 64) / wall at chunk
    sizes 1, 4, 16 and 32 (every slot runs 4 tasks), with the default window of futures in flight
    and with larger ones (``campaign.futures_per_worker``); the client's CPU time and peak
    RSS; the scheduler's cost per task (no-op tasks) and the idle gap of a worker thread
    between two tasks (task stream).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

import _common
import numpy as np
import xarray as xr

import vlab.catalog
from vlab import config
from vlab.campaign import connect, parse_spec, plan_campaign, run_campaign
from vlab.catalog import (
    LEDGER_VARIABLES,
    ChunkData,
    create_store,
    provenance,
    write_chunk,
    write_chunks,
)
from vlab.catalog.integrity import checksum_names, item_checksums
from vlab.catalog.location import as_location, filesystem, is_url, storage_options
from vlab.catalog.schema import ITEM_DIM, Variable

SLOTS = 64
WORKERS, THREADS = 4, 16
SLEEP = 0.2  # seconds per item in the 64-slot runs
REPORT_LIMIT = 3_000_000  # bytes: a larger performance report is not kept


# --- the previous writer: two xarray region writes per chunk -------------------------------


def xarray_region_writer(
    path,
    start: int,
    values: Mapping[str, np.ndarray],
    *,
    status: Sequence[int],
    outputs: Mapping[str, Variable],
    ledger: Mapping[str, np.ndarray] | None = None,
    inputs: Mapping[str, np.ndarray] | None = None,
    rewrite_inputs: bool = False,
) -> None:
    """``write_chunk`` as it was before it wrote zarr arrays directly (same checksums)."""
    stop = start + len(status)
    region = {ITEM_DIM: slice(start, stop)}
    flags = np.asarray(status, dtype=np.int8)
    ledger = dict(ledger or {})
    group = vlab.catalog.open_group(path, "r")
    covered = checksum_names(group)
    if covered is not None and "checksum" not in ledger:
        ledger["checksum"] = _checksums(group, covered, start, stop, flags, values, outputs, ledger)
    body = {n: _variable(outputs[n], v) for n, v in values.items()}
    body.update({n: _variable(LEDGER_VARIABLES[n], v) for n, v in ledger.items()})
    if rewrite_inputs and inputs:
        for name, column in inputs.items():
            dims = tuple(group[name].metadata.dimension_names or ())[1:]
            body[name] = xr.Variable((ITEM_DIM, *dims), np.asarray(column))
    kw = {"region": region, "mode": "r+", "consolidated": False, "zarr_format": 3}
    if is_url(path):  # xarray's own fsspec route
        kw["storage_options"] = storage_options()
    if body:
        xr.Dataset(body).to_zarr(str(path), **kw)
    xr.Dataset({"status": _variable(LEDGER_VARIABLES["status"], flags)}).to_zarr(str(path), **kw)


def _variable(var: Variable, data) -> xr.Variable:
    return xr.Variable((ITEM_DIM, *var.dims), np.asarray(data), attrs=var.attrs())


def _checksums(group, covered, start, stop, flags, values, outputs, ledger) -> np.ndarray:
    columns = {"status": flags}
    for name in covered:
        if name == "status":
            continue
        if name in values:
            var = outputs[name]
            columns[name] = np.asarray(values[name], dtype=object if var.is_text else var.dtype)
        elif name in ledger:
            columns[name] = np.asarray(ledger[name], dtype=object)
        else:
            columns[name] = np.asarray(group[name][start:stop])
    return item_checksums(columns)


BATCH = 32  # chunks per write_chunks call: what the runner gets when chunks finish faster


def _one_by_one(writer):
    def write_all(path, payloads):
        for start, kwargs in payloads:
            kw = dict(kwargs)
            writer(path, start, kw.pop("values"), **kw)

    return write_all


def _batched(path, payloads):
    for i in range(0, len(payloads), BATCH):
        chunks = [
            ChunkData(start, kw["values"], kw["status"], kw["ledger"], kw["inputs"])
            for start, kw in payloads[i : i + BATCH]
        ]
        write_chunks(path, chunks, outputs=payloads[0][1]["outputs"])


WRITERS = {
    "batched": _batched,
    "one_by_one": _one_by_one(write_chunk),
    "xarray_baseline": _one_by_one(xarray_region_writer),
}


# --- (a) the writer alone ------------------------------------------------------------------


def _probe_spec(folder: Path, name: str, *, n: int, chunk: int, seconds: float = 0.0):
    return parse_spec(
        {
            "name": name,
            "kind": "engine-probe",
            "chunk_size": chunk,
            "store": f"{name}.zarr",
            "register": False,
            "params": {"seconds": seconds, "busy": False},
            "inputs": {"generator": "range", "n": n},
        },
        base=folder,
    )


def _payloads(plan, chunk: int) -> list[tuple[int, dict]]:
    """``(start, write_chunk keywords)`` of every chunk, as the runner would pass them."""
    x = plan.inputs["x"][1]
    out = []
    for start in range(0, len(plan.items), chunk):
        xs = np.asarray(x[start : start + chunk], dtype=np.float64)
        m = len(xs)
        values = {
            "value": xs**2,
            "vector": np.stack([np.sin(xs), np.cos(xs), xs % 7], axis=1),
        }
        ledger = {
            "duration": np.full(m, 0.001, np.float32),
            "error": np.full(m, "", object),
            "worker": np.full(m, "tcp://127.0.0.1:40000", object),
        }
        kwargs = {
            "values": values,
            "status": np.ones(m, np.int8),
            "outputs": plan.outputs,
            "ledger": ledger,
            "inputs": {"x": x[start : start + chunk]},
        }
        out.append((start, kwargs))
    return out


def _new_store(plan, path: Path, chunk: int, *, previous: bool = False) -> None:
    """The store the runner lays out for ``plan`` (zarr chunks of whole chunks), or with
    ``previous`` the layout of the previous writer (one zarr chunk per chunk)."""
    assert plan.spec.chunk_size == chunk
    create_store(
        path,
        chunk_size=chunk if previous else plan.zarr_chunk_items(),
        inputs=plan.inputs,
        outputs=plan.outputs,
        input_hashes=plan.hashes,
        attrs=provenance(title=plan.spec.name, chunk_size=chunk),
    )


def _write_seconds(writer, plan, payloads, path: Path, chunk: int) -> float:
    _new_store(plan, path, chunk, previous=writer is WRITERS["xarray_baseline"])
    begin = time.perf_counter()
    writer(path, payloads)
    return time.perf_counter() - begin


def _same_content(a, b) -> bool:
    ga, gb = vlab.catalog.open_group(a), vlab.catalog.open_group(b)
    names = sorted(ga.array_keys())
    return names == sorted(gb.array_keys()) and all(
        np.array_equal(np.asarray(ga[n][...]), np.asarray(gb[n][...])) for n in names
    )


def _remove(location) -> None:
    if is_url(location):
        filesystem().rm(location.url, recursive=True)
    else:
        shutil.rmtree(location)


def bench_writer(
    folder: Path, sizes: Sequence[int], n_chunks: int, repeats: int, *, root: str | None = None
) -> dict:
    """Chunks per second of both writers; stores under ``root`` (a URL) or in ``folder``."""

    def where(name: str):
        return as_location(f"{root}/{name}") if root else folder / name

    runs: dict[int, dict[str, list[float]]] = {c: defaultdict(list) for c in sizes}
    setup = {}
    for c in sizes:
        plan = plan_campaign(_probe_spec(folder, f"w{c}", n=c * n_chunks, chunk=c))
        setup[c] = (plan, _payloads(plan, c))
    for r in range(repeats):
        order = list(WRITERS) if r % 2 == 0 else list(reversed(WRITERS))
        for c in sizes:
            plan, payloads = setup[c]
            for name in order:
                path = where(f"w{c}-{name}-{r}.zarr")
                runs[c][name].append(
                    n_chunks / _write_seconds(WRITERS[name], plan, payloads, path, c)
                )
            for name in WRITERS:
                if not _same_content(
                    where(f"w{c}-batched-{r}.zarr"), where(f"w{c}-{name}-{r}.zarr")
                ):
                    raise RuntimeError(f"the writers wrote different stores ({name}, chunk {c})")
            for name in WRITERS:
                _remove(where(f"w{c}-{name}-{r}.zarr"))
    table = {}
    for c in sizes:
        cur, one, old = (runs[c][k] for k in ("batched", "one_by_one", "xarray_baseline"))
        table[str(c)] = {
            "zarr_chunk_items": setup[c][0].zarr_chunk_items(),
            "chunks_per_second": round(statistics.median(cur), 1),
            "chunks_per_second_one_by_one": round(statistics.median(one), 1),
            "chunks_per_second_xarray_baseline": round(statistics.median(old), 1),
            "items_per_second": round(c * statistics.median(cur), 1),
            "items_per_second_xarray_baseline": round(c * statistics.median(old), 1),
            "speedup": round(statistics.median(a / b for a, b in zip(cur, old, strict=True)), 3),
            "speedup_one_by_one": round(
                statistics.median(a / b for a, b in zip(one, old, strict=True)), 3
            ),
            "runs": [round(v, 1) for v in cur],
            "runs_one_by_one": [round(v, 1) for v in one],
            "runs_xarray_baseline": [round(v, 1) for v in old],
        }
    return table


@contextlib.contextmanager
def moto_server():
    """A moto S3 server in its own process on a free loopback port; the environment points
    vlab at it (a fresh bucket); yields the bucket's URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        end = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > end or proc.poll() is not None:
                    raise RuntimeError("the moto server did not start") from None
                time.sleep(0.1)
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        filesystem().mkdir(bucket)
        yield f"s3://{bucket}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# --- (b) the runner end to end, in process ------------------------------------------------


@contextlib.contextmanager
def _writer_in_runner(name: str):
    """Make the runner (which calls ``vlab.catalog.write_chunks``) write as ``name`` does."""
    saved = vlab.catalog.write_chunks
    if name == "xarray_baseline":

        def write(path, chunks, *, outputs):
            for c in chunks:
                xarray_region_writer(
                    path,
                    c.start,
                    c.values,
                    status=c.status,
                    outputs=outputs,
                    ledger=c.ledger,
                    inputs=c.inputs,
                    rewrite_inputs=c.rewrite_inputs,
                )

        vlab.catalog.write_chunks = write
    try:
        yield
    finally:
        vlab.catalog.write_chunks = saved


RUNNER_WRITERS = ("current", "xarray_baseline")


def _layout(name: str):
    """The previous writer's layout (one zarr chunk per chunk) for the baseline."""
    if name == "xarray_baseline":
        return config.override({"campaign.zarr_chunk_items": 1})
    return contextlib.nullcontext()


def bench_runner(folder: Path, n: int, chunk: int, repeats: int) -> dict:
    runs: dict[str, list[float]] = defaultdict(list)
    for r in range(repeats):
        order = list(RUNNER_WRITERS) if r % 2 == 0 else list(reversed(RUNNER_WRITERS))
        for name in order:
            spec = _probe_spec(folder, f"run-{name}-{r}", n=n, chunk=chunk)
            with _writer_in_runner(name), _layout(name):
                begin = time.perf_counter()
                report = run_campaign(spec, progress=False)
                runs[name].append(n / (time.perf_counter() - begin))
            assert report.done == n, report
            shutil.rmtree(spec.store)
    cur, old = runs["current"], runs["xarray_baseline"]
    return {
        "runner_items_per_second_local": round(statistics.median(cur), 1),
        "runner_items_per_second_local_xarray_baseline": round(statistics.median(old), 1),
        "runner_speedup_local": round(
            statistics.median(a / b for a, b in zip(cur, old, strict=True)), 3
        ),
        "runner_runs": [round(v, 1) for v in cur],
        "runner_runs_xarray_baseline": [round(v, 1) for v in old],
    }


# --- (c) 64 worker slots -------------------------------------------------------------------


def _noop(i: int) -> int:
    return i


def scheduler_ms_per_task(client, n: int, repeats: int) -> list[float]:
    """Wall time per no-op task, ``n`` tasks submitted at once (scheduler-bound)."""
    out = []
    for _ in range(repeats):
        begin = time.perf_counter()
        futures = client.map(_noop, range(n), pure=False)
        client.gather(futures)
        out.append(1000 * (time.perf_counter() - begin) / n)
        del futures
    return out


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak_rss_mb(reset: bool) -> float:
    if reset:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _thread_stats(stream: list[dict], prefix: str, chunk: int) -> tuple[float, ...]:
    """Median idle gap between two tasks of one worker thread and median task overhead (ms);
    start of the first task and end of the last (s, epoch)."""
    by_thread = defaultdict(list)
    extra = []
    for task in stream:
        if not str(task.get("key", "")).startswith(prefix):
            continue
        for ss in task.get("startstops", ()):
            if ss.get("action") == "compute":
                by_thread[(task.get("worker"), task.get("thread"))].append(
                    (ss["start"], ss["stop"])
                )
                extra.append(ss["stop"] - ss["start"] - chunk * SLEEP)
    gaps = []
    for spans in by_thread.values():
        spans.sort()
        gaps += [b[0] - a[1] for a, b in itertools.pairwise(spans)]
    spans = [span for spans in by_thread.values() for span in spans]
    median = statistics.median
    return (
        1000 * median(gaps) if gaps else float("nan"),
        1000 * median(extra),
        min(a for a, _ in spans),
        max(b for _, b in spans),
    )


def slots_run(client, folder: Path, name: str, *, chunk: int, rounds: int) -> dict:
    n = SLOTS * rounds * chunk
    spec = _probe_spec(folder, name, n=n, chunk=chunk, seconds=SLEEP)
    reset = _reset_peak_rss()
    cpu0, wall0 = time.process_time(), time.time()
    begin = time.perf_counter()
    report = run_campaign(spec, client=client, progress=False)
    wall = time.perf_counter() - begin
    cpu = time.process_time() - cpu0
    assert report.done == n, report
    end = time.time()
    stream = client.get_task_stream(start=wall0)
    gap, extra, first, last = _thread_stats(stream, name, chunk)
    shutil.rmtree(spec.store)
    return {
        "efficiency": n * SLEEP / SLOTS / wall,
        "wall": wall,
        "cpu": cpu,
        "tasks": n // chunk,
        "rss": _peak_rss_mb(reset),
        "gap_ms": gap,
        "task_extra_ms": extra,
        "startup": first - wall0,
        "tail": end - last,
    }


def _summary(runs: list[dict]) -> dict:
    med = statistics.median
    tasks = runs[0]["tasks"]
    return {
        "efficiency": round(med(r["efficiency"] for r in runs), 4),
        "efficiency_runs": [round(r["efficiency"], 4) for r in runs],
        "wall_seconds": round(med(r["wall"] for r in runs), 3),
        "tasks": tasks,
        "client_cpu_seconds": round(med(r["cpu"] for r in runs), 3),
        "client_cpu_ms_per_task": round(1000 * med(r["cpu"] for r in runs) / tasks, 3),
        "client_peak_rss_mb": round(max(r["rss"] for r in runs), 1),
        "thread_gap_ms": round(med(r["gap_ms"] for r in runs), 2),
        "task_overhead_ms": round(med(r["task_extra_ms"] for r in runs), 2),
        "startup_seconds": round(med(r["startup"] for r in runs), 3),
        "tail_seconds": round(med(r["tail"] for r in runs), 3),
    }


def bench_slots(folder: Path, args) -> dict:
    sizes, rounds = args.slot_chunks, args.rounds
    windows = args.windows
    overrides = {
        "cluster.threads_per_worker": THREADS,
        "cluster.dashboard_address": "127.0.0.1:0",
        "campaign.performance_report": False,
    }
    results: dict[int, dict[int, list[dict]]] = {w: defaultdict(list) for w in windows}
    with config.override(overrides), connect(workers=WORKERS) as client:
        client.wait_for_workers(WORKERS)
        client.get_task_stream()  # installs the scheduler's task-stream plugin
        run_campaign(
            _probe_spec(folder, "warm", n=SLOTS, chunk=1, seconds=0.0),
            client=client,
            progress=False,
        )
        noop = scheduler_ms_per_task(client, args.noop_tasks, args.repeats)
        for r in range(args.repeats):
            for w in windows if r % 2 == 0 else list(reversed(windows)):
                for c in sizes:
                    if w == windows[0] and r >= args.default_repeats:
                        continue
                    with config.override({"campaign.futures_per_worker": w}):
                        name = f"s{w}-{c}-{r}"
                        results[w][c].append(
                            slots_run(client, folder, name, chunk=c, rounds=rounds)
                        )
        table = {str(w): {str(c): _summary(results[w][c]) for c in sizes} for w in windows}
        # The largest window (2 futures per thread) keeps the threads' idle gap small; its
        # best chunk size is the recommended one.
        best_w = windows[-1]
        best_c = max(sizes, key=lambda c: table[str(best_w)][str(c)]["efficiency"])
        report = _performance_report(client, folder, best_w, best_c, rounds, args.quick)
        info = client.scheduler_info()
    threads = sum(w["nthreads"] for w in info["workers"].values())
    return {
        "table": table,
        "best": (best_w, best_c),
        "noop": noop,
        "threads": threads,
        "report": report,
    }


def _performance_report(
    client, folder: Path, window: int, chunk: int, rounds: int, quick: bool
) -> str:
    from distributed import performance_report

    tmp = folder / "performance.html"
    with (
        config.override({"campaign.futures_per_worker": window}),
        performance_report(filename=str(tmp)),
    ):
        slots_run(client, folder, "perf", chunk=chunk, rounds=rounds)
    size = tmp.stat().st_size
    target = _common.RESULTS / f"{'scale-quick' if quick else 'scale'}_performance.html"
    if size >= REPORT_LIMIT:
        return f"not kept: {size / 1e6:.1f} MB (limit 3 MB)"
    shutil.copyfile(tmp, target)
    return f"benchmarks/results/{target.name} ({size / 1e6:.2f} MB)"


# --- main ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (smoke test)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--s3-sizes", default="10", help="chunk sizes of the writer on s3 (comma-separated)"
    )
    parser.add_argument(
        "--only-writer", action="store_true", help="only the writer measurements (a smoke test)"
    )
    args = parser.parse_args()
    args.writer_chunks = 32 if args.quick else 128
    args.writer_repeats = max(args.repeats, 5)
    args.writer_chunks_s3 = 10 if args.quick else 30
    args.writer_repeats_s3 = 1 if args.quick else 3
    args.runner_items = 200 if args.quick else 1000
    args.slot_chunks = [1, 4] if args.quick else [1, 4, 16, 32]
    args.rounds = 2 if args.quick else 4
    args.windows = [int(config.get("campaign.futures_per_worker")), 16, 32]
    args.default_repeats = 1  # it is bounded by the window itself (16 futures, 64 slots)
    args.noop_tasks = 500 if args.quick else 2000
    folder = Path(tempfile.mkdtemp(prefix="vlab-bench-scale-"))
    args.load_before = round(os.getloadavg()[0], 2)  # others' jobs on the 2 cores
    t0 = time.perf_counter()
    try:
        writer = bench_writer(folder, [1, 10, 100], args.writer_chunks, args.writer_repeats)
        print(f"writer done ({time.perf_counter() - t0:.0f} s)", flush=True)
        s3_sizes = [int(c) for c in args.s3_sizes.split(",")]
        with moto_server() as root:
            writer_s3 = bench_writer(
                folder, s3_sizes, args.writer_chunks_s3, args.writer_repeats_s3, root=root
            )
        print(f"writer on s3 done ({time.perf_counter() - t0:.0f} s)", flush=True)
        if args.only_writer:
            print({"local": writer, "s3": writer_s3})
            return
        runner = bench_runner(folder, args.runner_items, 10, args.repeats)
        print(f"runner done ({time.perf_counter() - t0:.0f} s)", flush=True)
        slots = bench_slots(folder, args)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    total = time.perf_counter() - t0
    data = _results(args, writer, writer_s3, runner, slots, total)
    _common.write_result("scale" if not args.quick else "scale-quick", data, _rows(data))


def _results(args, writer: dict, writer_s3: dict, runner: dict, slots: dict, total: float) -> dict:
    best_w, best_c = slots["best"]
    table = slots["table"]
    best = table[str(best_w)][str(best_c)]
    default_w = args.windows[0]
    return {
        "writer_chunks_per_second_local": writer["10"]["chunks_per_second"],
        "writer_chunks_per_second_local_xarray_baseline": writer["10"][
            "chunks_per_second_xarray_baseline"
        ],
        "writer_chunks_per_second_local_one_by_one": writer["10"]["chunks_per_second_one_by_one"],
        "writer_speedup_local": writer["10"]["speedup"],
        "writer_batch_chunks": BATCH,
        "writer_by_chunk_size": writer,
        "writer_chunks_per_second_s3": writer_s3[min(writer_s3, key=lambda c: abs(int(c) - 10))][
            "chunks_per_second"
        ],
        "writer_chunks_per_second_s3_xarray_baseline": writer_s3[
            min(writer_s3, key=lambda c: abs(int(c) - 10))
        ]["chunks_per_second_xarray_baseline"],
        "writer_s3_by_chunk_size": writer_s3,
        **runner,
        "efficiency_64_slots": best["efficiency"],
        "efficiency_64_slots_by_chunk": {c: v["efficiency"] for c, v in table[str(best_w)].items()},
        "efficiency_64_slots_default_window_by_chunk": {
            c: v["efficiency"] for c, v in table[str(default_w)].items()
        },
        "slots_by_futures_per_worker": table,
        "recommended": {"futures_per_worker": best_w, "chunk_size": best_c},
        "client_cpu_seconds": best["client_cpu_seconds"],
        "client_cpu_ms_per_task": best["client_cpu_ms_per_task"],
        "client_peak_rss_mb": best["client_peak_rss_mb"],
        "scheduler_overhead_ms_per_task": round(statistics.median(slots["noop"]), 3),
        "scheduler_overhead_runs": [round(v, 3) for v in slots["noop"]],
        "thread_gap_ms": best["thread_gap_ms"],
        "startup_seconds": best["startup_seconds"],
        "tail_seconds": best["tail_seconds"],
        "performance_report": slots["report"],
        "settings": {
            "load_average_1min_before": args.load_before,
            "zarr_chunk_items": int(config.get("campaign.zarr_chunk_items")),
            "zarr_chunk_items_at_chunk_10": writer["10"]["zarr_chunk_items"],
            "writer_chunks_per_run": args.writer_chunks,
            "writer_repeats": args.writer_repeats,
            "writer_chunks_per_run_s3": args.writer_chunks_s3,
            "writer_repeats_s3": args.writer_repeats_s3,
            "s3_server": "moto (server mode, its own process, loopback)",
            "runner_items": args.runner_items,
            "runner_chunk_size": 10,
            "slots": SLOTS,
            "workers": WORKERS,
            "threads_per_worker": THREADS,
            "threads_seen": slots["threads"],
            "item_seconds": SLEEP,
            "tasks_per_slot": args.rounds,
            "futures_per_worker_tried": args.windows,
            "default_futures_per_worker": default_w,
            "noop_tasks": args.noop_tasks,
            "repeats": args.repeats,
            "repeats_default_window": args.default_repeats,
            "quick": args.quick,
            "total_seconds": round(total, 1),
        },
    }


def _rows(data: dict) -> list[tuple[str, str]]:
    rows = []
    for c, v in data["writer_by_chunk_size"].items():
        rows.append(
            (
                f"writer chunks/s, chunk {c}: batches of {BATCH} / one by one / xarray",
                f"{v['chunks_per_second']} / {v['chunks_per_second_one_by_one']} / "
                f"{v['chunks_per_second_xarray_baseline']} (x{v['speedup']})",
            )
        )
    for c, v in data["writer_s3_by_chunk_size"].items():
        rows.append(
            (
                f"writer chunks/s on s3 (moto), chunk {c}: batches of {BATCH} / xarray",
                f"{v['chunks_per_second']} / {v['chunks_per_second_xarray_baseline']} "
                f"(x{v['speedup']})",
            )
        )
    rows.append(
        (
            "runner items/s, in process, chunk 10: current / xarray",
            f"{data['runner_items_per_second_local']} / "
            f"{data['runner_items_per_second_local_xarray_baseline']}",
        )
    )
    for w, by_chunk in data["slots_by_futures_per_worker"].items():
        effs = ", ".join(f"{c}: {v['efficiency']}" for c, v in by_chunk.items())
        rows.append((f"64-slot efficiency by chunk, futures_per_worker {w}", effs))
    rows += [
        ("recommended", str(data["recommended"])),
        (
            "client CPU s / peak RSS MB",
            f"{data['client_cpu_seconds']} / {data['client_peak_rss_mb']}",
        ),
        ("scheduler ms per no-op task", str(data["scheduler_overhead_ms_per_task"])),
        ("performance report", data["performance_report"]),
    ]
    return rows


if __name__ == "__main__":
    main()
