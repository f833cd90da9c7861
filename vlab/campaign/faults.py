"""Fault injection for the engine: damage stores, kill processes, compare with a clean run.

These are the tools of the fault-injection tests and of ``benchmarks/faults.py``; they do
to a store or a cluster what a crash, a bad disk or a careless colleague would do, so that
the engine's promises (nothing lost, nothing wrong, resumable) are tested for real.

Examples
--------
>>> import tempfile, pathlib
>>> from vlab.campaign import load_spec, run_campaign
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> spec = load_spec(probe_spec(folder, "demo", n=6, chunk_size=3))
>>> _ = run_campaign(spec, progress=False)
>>> set_status_byte(spec.store, 4, 7)
>>> from vlab.catalog import verify_store
>>> verify_store(spec.store).bad
{4: 'invalid status byte 7'}
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

__all__ = [
    "COMPARED",
    "ExternalCluster",
    "chunk_files",
    "compare_stores",
    "delete_chunk",
    "flip_bit",
    "probe_spec",
    "set_status_byte",
    "tamper_values",
    "truncate_chunk",
    "wait_for",
]

COMPARED = ("value", "vector", "status")


def probe_spec(
    folder: str | os.PathLike,
    name: str,
    *,
    n: int,
    chunk_size: int,
    store: str | None = None,
    params: dict[str, Any] | None = None,
    generator_params: dict[str, Any] | None = None,
    register: bool = False,
) -> Path:
    """Write an ``engine-probe`` campaign spec into ``folder``; returns its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{store or name}.yaml"
    spec = {
        "name": name,
        "kind": "engine-probe",
        "params": params or {},
        "inputs": {"generator": "range", "n": n, "params": generator_params or {}},
        "chunk_size": chunk_size,
        "store": f"{store or name}.zarr",
        "register": register,
    }
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def chunk_files(store: str | os.PathLike, variable: str | None = None) -> list[Path]:
    """The chunk files of ``variable`` (or of every variable) of a zarr v3 store."""
    store = Path(store)
    pattern = f"{variable}/c/**/*" if variable else "*/c/**/*"
    return sorted(p for p in store.glob(pattern) if p.is_file())


def delete_chunk(store: str | os.PathLike, variable: str, index: int = 0) -> Path:
    """Delete chunk file ``index`` of ``variable`` (its items then read as fill values)."""
    path = chunk_files(store, variable)[index]
    path.unlink()
    return path


def truncate_chunk(store: str | os.PathLike, variable: str, index: int = 0) -> Path:
    """Cut chunk file ``index`` of ``variable`` to half its length."""
    path = chunk_files(store, variable)[index]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def flip_bit(store: str | os.PathLike, rng: np.random.Generator, variables=None) -> tuple:
    """Flip one random bit of one random chunk file; returns ``(file, bit)``."""
    files = [f for v in (variables or [None]) for f in chunk_files(store, v)]
    path = files[int(rng.integers(len(files)))]
    data = bytearray(path.read_bytes())
    bit = int(rng.integers(len(data) * 8))
    data[bit // 8] ^= 1 << (bit % 8)
    path.write_bytes(bytes(data))
    return path, bit


def set_status_byte(store: str | os.PathLike, item: int, value: int) -> None:
    """Overwrite the status of ``item`` behind the engine's back (checksum left as it was)."""
    import zarr

    group = zarr.open_group(Path(store), mode="r+", zarr_format=3)
    group["status"][item] = value


def tamper_values(store: str | os.PathLike, items: Sequence[int], variable: str, value) -> None:
    """Overwrite ``variable`` of ``items`` behind the engine's back (checksums unchanged)."""
    import zarr

    group = zarr.open_group(Path(store), mode="r+", zarr_format=3)
    for i in items:
        group[variable][int(i)] = value


def compare_stores(store: str | os.PathLike, reference: str | os.PathLike) -> dict[str, int]:
    """Items of ``store`` lost (not done where the reference is) and wrong (done, other values).

    Either may be a local path or an ``s3://`` URL. Raw zarr reads (no decoding); a store
    that cannot be read counts every item as lost.
    """
    from vlab.catalog import open_group

    ref = open_group(reference, "r")
    n = int(ref["status"].shape[0])
    ref_done = np.asarray(ref["status"][:]) == 1
    try:
        got = open_group(store, "r")
        status = np.asarray(got["status"][:])
        values = {k: np.asarray(got[k][:]) for k in COMPARED if k != "status"}
    except Exception:  # unreadable: nothing can be trusted
        return {"items": n, "lost": int(ref_done.sum()), "wrong": 0}
    done = status == 1
    lost = int(np.count_nonzero(ref_done & ~done))
    wrong = np.zeros(n, bool)
    for k, v in values.items():
        r = np.asarray(ref[k][:])
        same = np.isclose(v, r, rtol=0, atol=0, equal_nan=True)
        wrong |= ~same.reshape(n, -1).all(axis=1)
    wrong |= status != np.asarray(ref["status"][:])
    return {"items": n, "lost": lost, "wrong": int(np.count_nonzero(wrong & done))}


def wait_for(predicate, timeout: float, what: str, interval: float = 0.02) -> None:
    """Poll ``predicate`` until true; ``TimeoutError`` naming ``what`` after ``timeout`` s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


class ExternalCluster:
    """A ``dask scheduler`` and ``dask worker`` processes on loopback, to kill at will."""

    def __init__(self, folder: str | os.PathLike, workers: int = 2) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.file = self.folder / "scheduler.json"
        self.dask = str(Path(sys.executable).with_name("dask"))
        self.scheduler: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.start(workers)

    def start(self, workers: int = 2) -> None:
        """Start the scheduler (on a free port) and ``workers`` single-threaded workers."""
        self.file.unlink(missing_ok=True)
        self.scheduler = self._popen(
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--dashboard-address",
            "127.0.0.1:0",
            "--scheduler-file",
            str(self.file),
        )
        wait_for(self.file.exists, 60, "the scheduler file")
        for _ in range(workers):
            self.add_worker()

    def _popen(self, *args: str) -> subprocess.Popen:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        return subprocess.Popen(
            [self.dask, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )

    def add_worker(self) -> subprocess.Popen:
        proc = self._popen(
            "worker",
            "--scheduler-file",
            str(self.file),
            "--nthreads",
            "1",
            "--no-nanny",
            "--host",
            "127.0.0.1",
            "--dashboard-address",
            "127.0.0.1:0",
        )
        self.workers.append(proc)
        return proc

    @property
    def address(self) -> str:
        return json.loads(self.file.read_text())["address"]

    @property
    def dashboard(self) -> str:
        port = json.loads(self.file.read_text())["services"]["dashboard"]
        return f"http://127.0.0.1:{port}"

    def kill_scheduler(self) -> None:
        if self.scheduler is not None:
            self.scheduler.kill()
            self.scheduler.wait()
            self.scheduler = None

    def close(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            if proc is not None:
                proc.kill()
                proc.wait()
        self.workers, self.scheduler = [], None
