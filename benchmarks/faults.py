"""Fault benchmark: each way a campaign can break, tried repeatedly, compared with a clean run.

Run: ``python benchmarks/faults.py [--quick]``; writes ``benchmarks/results/faults.json`` with,
per fault kind, ``trials``, ``survived``, ``items_lost``, ``items_wrong`` (and ``detected``
where a check must find the damage). A trial *survives* when, after the documented recovery
(run the same command again; for damaged stores ``vlab status --verify --repair`` first), the
store equals an uninterrupted run of the same spec item for item, and nothing crashed with a
traceback. ``items_lost``/``items_wrong`` are summed over trials *after* recovery; the
``served_wrong_before_verify`` counts show what a reader would have got before the check.

Processes are real: ``vlab run`` subprocesses, ``dask scheduler``/``dask worker`` processes on
loopback, SIGKILL at random moments.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import _common
import numpy as np
import yaml

from vlab import catalog, config
from vlab.campaign import load_spec, run_campaign
from vlab.campaign.faults import (
    ExternalCluster,
    compare_stores,
    delete_chunk,
    flip_bit,
    probe_spec,
    set_status_byte,
    tamper_values,
    truncate_chunk,
    wait_for,
)
from vlab.catalog import StoreLock, verify_store
from vlab.errors import StoreLockedError

N, CHUNK = 60, 4
COVERED = ["value", "vector", "status", "x", "input_hash", "checksum"]


def _vlab(*args, wait=True):
    cmd = [sys.executable, "-m", "vlab.cli", *map(str, args), "--no-progress"]
    if not wait:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def _clean(out: str) -> bool:
    """No Python traceback from vlab in a command's error output."""
    return "Traceback" not in out


class Tally:
    def __init__(self) -> None:
        self.rows: dict[str, dict] = {}

    def add(self, kind: str, result: dict, *, ok: bool, detected: bool | None = None, **extra):
        row = self.rows.setdefault(
            kind, {"trials": 0, "survived": 0, "items_lost": 0, "items_wrong": 0}
        )
        row["trials"] += 1
        survived = ok and result["lost"] == 0 and result["wrong"] == 0
        row["survived"] += int(survived)
        row["items_lost"] += result["lost"]
        row["items_wrong"] += result["wrong"]
        if detected is not None:
            row["detected"] = row.get("detected", 0) + int(detected)
        for key, value in extra.items():
            row[key] = row.get(key, 0) + value
        print(f"  {kind:34s} trial {row['trials']}: {'ok' if survived else 'LOST'} {result}")


def _reference(folder: Path, **kw) -> Path:
    spec = load_spec(probe_spec(folder / "reference", "probe", n=N, chunk_size=CHUNK, **kw))
    run_campaign(spec, progress=False)
    return spec.store


def _fresh(folder: Path, **kw):
    shutil.rmtree(folder, ignore_errors=True)
    spec = load_spec(probe_spec(folder, "probe", n=N, chunk_size=CHUNK, **kw))
    run_campaign(spec, progress=False)
    return spec


def _repair_rerun(spec) -> tuple[bool, bool]:
    """verify, repair, rerun: (damage detected, recovery clean)."""
    found = bool(verify_store(spec.store).bad)
    if found:
        with StoreLock(spec.store):
            verify_store(spec.store, repair=True)
    run_campaign(spec, progress=False)
    return found, not verify_store(spec.store).bad


def corruption_trials(tally: Tally, work: Path, ref: Path, trials: int, rng) -> None:
    for _ in range(trials):  # deleted output chunk
        spec = _fresh(work / "del")
        delete_chunk(spec.store, "value", int(rng.integers(N // CHUNK)))
        damage = compare_stores(spec.store, ref)
        served = damage["wrong"] + damage["lost"]
        found, ok = _repair_rerun(spec)
        tally.add(
            "deleted_output_chunk",
            compare_stores(spec.store, ref),
            ok=ok,
            detected=found,
            served_wrong_before_verify=served,
        )
    for _ in range(trials):  # truncated chunk of a random covered variable
        spec = _fresh(work / "trunc")
        var = COVERED[int(rng.integers(len(COVERED)))]
        truncate_chunk(spec.store, var, int(rng.integers(N // CHUNK)))
        found, ok = _repair_rerun(spec)
        tally.add("truncated_chunk", compare_stores(spec.store, ref), ok=ok, detected=found)
    for _ in range(trials * 5):  # single bit flips anywhere in the chunk files
        spec = _fresh(work / "flip")
        flip_bit(spec.store, rng)
        before = compare_stores(spec.store, ref)
        report = verify_store(spec.store)
        changed = before["wrong"] + before["lost"] > 0
        found, ok = _repair_rerun(spec)
        tally.add(
            "single_bit_flip",
            compare_stores(spec.store, ref),
            ok=ok,
            detected=(found or not changed),
            changed_values=int(changed),
            flagged=int(bool(report.bad)),
        )
    for _ in range(trials):  # a status byte that is no status
        spec = _fresh(work / "status")
        set_status_byte(spec.store, int(rng.integers(N)), int(rng.integers(3, 127)))
        counts = catalog.count_status(catalog.read_ledger(spec.store)["status"])
        found, ok = _repair_rerun(spec)
        tally.add(
            "corrupted_status_byte",
            compare_stores(spec.store, ref),
            ok=ok and sum(counts.values()) == N,
            detected=found,
        )


def catalog_trials(tally: Tally, work: Path, ref: Path, trials: int, rng) -> None:
    for t in range(trials):  # tampered registered store must not be copied from
        src = _fresh(work / f"src{t}", register=True)
        bad = rng.choice(N, size=N // 3, replace=False)
        tamper_values(src.store, bad[: N // 6], "value", np.nan)
        tamper_values(src.store, bad[N // 6 :], "value", -1.0)
        spec = load_spec(probe_spec(work / f"new{t}", "new", n=N, chunk_size=CHUNK))
        run_campaign(spec, progress=False)
        tally.add("tampered_registered_store", compare_stores(spec.store, ref), ok=True)
    for t in range(trials):  # truncated chunk in a registered store + a malformed index file
        src = _fresh(work / f"broken{t}", register=True)
        truncate_chunk(src.store, ["input_hash", "status", "value"][t % 3], 0)
        (catalog.index_dir() / f"garbage{t}.yaml").write_text("name: [unclosed\n")
        spec = load_spec(probe_spec(work / f"other{t}", "other", n=N, chunk_size=CHUNK))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                run_campaign(spec, progress=False)
            ok = True
        except Exception as err:  # counted as not survived
            print("   ", type(err).__name__, err)
            ok = False
        tally.add("broken_registered_store_or_index", compare_stores(spec.store, ref), ok=ok)


def process_trials(tally: Tally, work: Path, ref: Path, slow_ref: Path, trials: int, rng):
    for t in range(trials):  # SIGKILL while the store is laid out, then rerun
        folder = work / f"create{t}"
        path = probe_spec(folder, "probe", n=400, chunk_size=2)
        store = folder / "probe.zarr"
        proc = _vlab("run", path, "--synchronous", wait=False)
        partial = store.with_name(".probe.zarr.partial")
        wait_for(partial.exists, 120, "the layout", interval=0.002)
        time.sleep(float(rng.uniform(0, 0.2)))
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        half_made = store.exists() and not (store / "zarr.json").exists()
        again = _vlab("run", path, "--synchronous")
        counts = catalog.count_status(catalog.read_ledger(store)["status"])
        result = {"items": 400, "lost": counts["pending"] + counts["failed"], "wrong": 0}
        ds = catalog.open_store(store)
        result["wrong"] = int(np.count_nonzero(ds["value"].values != ds["x"].values ** 2.0))
        tally.add(
            "kill_during_store_creation",
            result,
            ok=again.returncode == 0 and not half_made and _clean(again.stderr),
        )

    cluster = ExternalCluster(work / "cluster")
    try:
        for t in range(trials):  # SIGKILL of the client mid-run, then rerun
            folder = work / f"client{t}"
            path = probe_spec(folder, "probe", n=N, chunk_size=CHUNK, params={"seconds": 0.05})
            store = folder / "probe.zarr"
            proc = _vlab("run", path, "--scheduler", cluster.address, wait=False)
            wait_for(lambda s=store: _written(s) >= int(rng.integers(4, N // 2)), 120, "items")
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
            again = _vlab("run", path, "--scheduler", cluster.address)
            tally.add("client_sigkill", compare_stores(store, slow_ref), ok=again.returncode == 0)
        for t in range(trials):  # a worker killed mid-run
            folder = work / f"worker{t}"
            path = probe_spec(folder, "probe", n=N, chunk_size=CHUNK, params={"seconds": 0.05})
            store = folder / "probe.zarr"
            proc = _vlab("run", path, "--scheduler", cluster.address, wait=False)
            wait_for(lambda s=store: _written(s) >= 8, 120, "items")
            victim = cluster.workers.pop(0)
            victim.kill()
            victim.wait()
            cluster.add_worker()
            _, err = proc.communicate(timeout=600)
            tally.add(
                "worker_sigkill",
                compare_stores(store, slow_ref),
                ok=proc.returncode == 0 and _clean(err),
            )
        for t in range(trials):  # two same-name campaigns on one scheduler
            folder = work / f"same{t}"
            folder.mkdir(parents=True)
            xs = {"a": list(range(200)), "b": [i if i % 5 == 0 else i + 1000 for i in range(200)]}
            procs, paths = [], []
            for store, values in xs.items():
                (folder / f"{store}.csv").write_text("x\n" + "\n".join(map(str, values)) + "\n")
                spec = {
                    "name": "same",
                    "kind": "engine-probe",
                    "params": {"seconds": 0.005},
                    "inputs": {"file": f"{store}.csv"},
                    "chunk_size": 5,
                    "store": f"{store}.zarr",
                    "register": False,
                }
                paths.append(folder / f"{store}.yaml")
                paths[-1].write_text(yaml.safe_dump(spec))
                procs.append(_vlab("run", paths[-1], "--scheduler", cluster.address, wait=False))
            for proc in procs:
                proc.communicate(timeout=600)
            result = {"items": 0, "lost": 0, "wrong": 0}
            for path, values in zip(paths, xs.values(), strict=True):
                ds = catalog.open_store(load_spec(path).store)
                want = np.asarray(values, float) ** 2
                result["items"] += len(values)
                result["lost"] += int(np.count_nonzero(ds["status"].values != 1))
                result["wrong"] += int(np.count_nonzero(ds["value"].values != want))
            tally.add("same_name_on_one_scheduler", result, ok=True)
        for t in range(trials):  # the scheduler dies mid-run; rerun on a new one
            folder = work / f"sched{t}"
            path = probe_spec(folder, "probe", n=N, chunk_size=CHUNK, params={"seconds": 0.05})
            store = folder / "probe.zarr"
            proc = _vlab("run", path, "--scheduler", cluster.address, wait=False)
            wait_for(lambda s=store: _written(s) >= int(rng.integers(4, N // 2)), 120, "items")
            cluster.kill_scheduler()
            _, err = proc.communicate(timeout=600)
            counts = catalog.count_status(catalog.read_ledger(store)["status"])
            cluster.close()
            cluster.start(2)
            again = _vlab("run", path, "--scheduler", cluster.address)
            checks = {
                "exit 1": proc.returncode == 1,
                "says what happened": "Lost the Dask cluster" in err,
                "no traceback": _clean(err),
                "nothing marked failed": counts["failed"] == 0,
                "rerun exits 0": again.returncode == 0,
            }
            ok = all(checks.values())
            if not ok:
                print("    scheduler_loss failed checks:", [k for k, v in checks.items() if not v])
                print("    ", err[-2000:])
            tally.add("scheduler_loss", compare_stores(store, slow_ref), ok=ok)
    finally:
        cluster.close()

    for t in range(trials):  # a second writer through a symlink
        spec = _fresh(work / f"real{t}")
        link = work / f"link{t}"
        link.symlink_to(work / f"real{t}", target_is_directory=True)
        with StoreLock(spec.store):
            try:
                StoreLock(link / "probe.zarr").__enter__()
                refused = False
            except StoreLockedError:
                refused = True
        tally.add("second_writer_via_symlink", compare_stores(spec.store, ref), ok=refused)


def _written(store: Path) -> int:
    try:
        return int((catalog.read_ledger(store)["status"] == 1).sum())
    except Exception:  # not laid out yet
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 trials per kind")
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args()
    trials = 2 if args.quick else args.trials
    rng = np.random.default_rng(0)
    work = Path(tempfile.mkdtemp(prefix="vlab-faults-"))
    tally = Tally()
    start = time.perf_counter()
    with config.override({"catalog.index_dir": str(work / "index")}):
        os.environ["VLAB_CATALOG__INDEX_DIR"] = str(work / "index")  # for the subprocesses
        ref = _reference(work)
        slow_ref = _reference(work / "slow", params={"seconds": 0.05})
        corruption_trials(tally, work / "c", ref, trials, rng)
        catalog_trials(tally, work / "k", ref, trials, rng)
        process_trials(tally, work / "p", ref, slow_ref, trials, rng)
    shutil.rmtree(work, ignore_errors=True)
    data = {
        "faults": tally.rows,
        "all_survived": all(r["survived"] == r["trials"] for r in tally.rows.values()),
        "items_lost_total": sum(r["items_lost"] for r in tally.rows.values()),
        "items_wrong_total": sum(r["items_wrong"] for r in tally.rows.values()),
        "items_per_store": N,
        "chunk_size": CHUNK,
        "wall_seconds": round(time.perf_counter() - start, 1),
    }
    rows = [
        (
            k,
            f"{r['survived']}/{r['trials']} survived, lost {r['items_lost']}, "
            f"wrong {r['items_wrong']}",
        )
        for k, r in tally.rows.items()
    ]
    _common.write_result("faults", data, rows)


if __name__ == "__main__":
    main()
