"""Fault injection: each way a store or a cluster can break, reproduced and shown harmless.

Every test compares, item by item, with an uninterrupted run of the same spec
(:func:`vlab.campaign.faults.compare_stores`: nothing lost, nothing wrong).
"""

import shutil
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
import yaml

from vlab import catalog
from vlab.campaign import load_spec, run_campaign, run_campaigns
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
from vlab.catalog import StoreLock, open_store, verify_store
from vlab.errors import StoreLockedError


def _vlab(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "vlab.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def _vlab_popen(*args):
    return subprocess.Popen(
        [sys.executable, "-m", "vlab.cli", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(autouse=True)
def _shared_zarr_chunks(monkeypatch):
    """Zarr chunks of 8 items: each holds two chunks of 4, so damage and repair, resume and
    rewrite all meet zarr chunks shared by chunks written at different times."""
    monkeypatch.setenv("VLAB_CAMPAIGN__ZARR_CHUNK_ITEMS", "8")


@pytest.fixture
def reference(tmp_path):
    """An uninterrupted probe campaign (30 items, chunks of 4)."""
    spec = load_spec(probe_spec(tmp_path / "ref", "probe", n=30, chunk_size=4))
    run_campaign(spec, progress=False)
    return spec.store


def _fresh(tmp_path, **kw):
    spec = load_spec(probe_spec(tmp_path / "run", "probe", n=30, chunk_size=4, **kw))
    run_campaign(spec, progress=False)
    return spec


def _repair_and_rerun(spec):
    report = verify_store(spec.store)
    assert report.bad, "the damage was not detected"
    with StoreLock(spec.store):
        verify_store(spec.store, repair=True)
    run_campaign(spec, progress=False)
    assert not verify_store(spec.store).bad
    return report


def test_a_fresh_store_verifies_clean(tmp_path, reference):
    report = verify_store(reference)
    assert report.checksums and report.checked == 30 and not report.bad
    assert "all good" in report.summary()


def test_a_deleted_output_chunk_is_found_and_recomputed(tmp_path, reference):
    spec = _fresh(tmp_path)
    delete_chunk(spec.store, "value", 2)  # items 16..23 now read as NaN while done
    report = _repair_and_rerun(spec)
    assert sorted(report.bad) == list(range(16, 24))
    assert compare_stores(spec.store, reference) == {"items": 30, "lost": 0, "wrong": 0}


def test_a_lost_array_metadata_file_is_found_restored_and_never_drops_the_variable(
    tmp_path, reference
):
    spec = _fresh(tmp_path)
    (spec.store / "value" / "zarr.json").unlink()
    report = verify_store(spec.store)
    assert report.lost_metadata == ["value"] and not report.ok and not report.bad
    assert "the metadata file of value is missing (its chunks are kept" in report.summary()
    # a rerun (nothing to compute) consolidates again: it restores the variable, not drop it
    with pytest.warns(UserWarning, match="had lost the metadata file of value; it was restored"):
        assert run_campaign(spec, progress=False).computed == 0
    assert "value" in open_store(spec.store) and verify_store(spec.store).ok
    assert compare_stores(spec.store, reference) == {"items": 30, "lost": 0, "wrong": 0}
    # and --verify --repair restores it too
    (spec.store / "vector" / "zarr.json").unlink()
    with StoreLock(spec.store):
        repaired = verify_store(spec.store, repair=True)
    assert repaired.restored and repaired.ok and "was restored" in repaired.summary()
    assert compare_stores(spec.store, reference) == {"items": 30, "lost": 0, "wrong": 0}


def test_a_lost_status_chunk_is_restored_from_the_checksums_not_recomputed(tmp_path, reference):
    spec = _fresh(tmp_path)
    delete_chunk(spec.store, "status", 1)  # items 8..15 now read as pending
    assert catalog.count_status(open_store(spec.store)["status"].values)["pending"] == 8
    report = verify_store(spec.store)
    assert sorted(report.lost_status) == list(range(8, 16)) and not report.bad
    assert not report.ok and "8 items read as pending but match their checksums" in (
        report.summary()
    )
    with StoreLock(spec.store):
        assert verify_store(spec.store, repair=True).ok
    assert catalog.count_status(open_store(spec.store)["status"].values)["done"] == 30
    assert run_campaign(spec, progress=False).computed == 0  # nothing recomputed
    assert verify_store(spec.store).ok
    assert compare_stores(spec.store, reference) == {"items": 30, "lost": 0, "wrong": 0}


def test_a_truncated_chunk_is_found_and_recomputed(tmp_path, reference):
    spec = _fresh(tmp_path)
    truncate_chunk(spec.store, "vector", 1)
    report = verify_store(spec.store)
    with StoreLock(spec.store):
        assert verify_store(spec.store, repair=True).repaired
    again = verify_store(spec.store)  # before the rerun: marked, so not bad a second time
    assert again.ok and not again.bad, again.summary()
    run_campaign(spec, progress=False)
    assert verify_store(spec.store).ok
    assert set(report.bad) == set(range(8, 16))
    assert "unreadable" in report.bad[8] or "checksum" in report.bad[8]
    assert compare_stores(spec.store, reference)["wrong"] == 0


@pytest.mark.parametrize("seed", range(6))
def test_single_bit_flips_never_serve_a_wrong_value(tmp_path, reference, seed):
    spec = _fresh(tmp_path)
    rng = np.random.default_rng(seed)
    flip_bit(spec.store, rng, ["value", "vector", "status", "x", "input_hash", "checksum"])
    report = verify_store(spec.store)
    before = compare_stores(spec.store, reference)
    # every item whose data changed is named (a flip may also leave the data intact)
    assert before["wrong"] == 0 or report.bad
    if report.bad:
        with StoreLock(spec.store):
            verify_store(spec.store, repair=True)
    run_campaign(spec, progress=False)
    assert compare_stores(spec.store, reference) == {"items": 30, "lost": 0, "wrong": 0}
    assert not verify_store(spec.store).bad


def test_a_damaged_status_byte_is_recomputed_and_counts_add_up(tmp_path, reference):
    spec = _fresh(tmp_path)
    set_status_byte(spec.store, 13, 7)
    counts = catalog.count_status(catalog.read_ledger(spec.store)["status"])
    assert sum(counts.values()) == 30 and counts["pending"] == 1
    # even without verify the run treats a byte that is no status as pending
    again = run_campaign(spec, progress=False)
    assert (again.done, again.pending) == (30, 0)
    assert compare_stores(spec.store, reference) == {"items": 30, "lost": 0, "wrong": 0}


def test_a_status_flipped_to_done_is_caught_by_the_checksum(tmp_path, reference):
    spec = load_spec(probe_spec(tmp_path / "run", "probe", n=30, chunk_size=4))
    run_campaign(spec, progress=False)
    set_status_byte(spec.store, 3, 2)  # done -> failed behind the engine's back
    assert verify_store(spec.store).bad == {3: "data do not match the checksum"}
    _repair_and_rerun(spec)
    assert compare_stores(spec.store, reference)["wrong"] == 0


def test_a_damaged_input_hash_is_repaired_by_verify_and_rerun(tmp_path, reference):
    spec = _fresh(tmp_path)
    tamper_values(spec.store, [5], "input_hash", "0" * 64)
    _repair_and_rerun(spec)
    assert [str(h) for h in catalog.read_ledger(spec.store, ("input_hash",))["input_hash"]] == [
        str(h) for h in catalog.read_ledger(reference, ("input_hash",))["input_hash"]
    ]


def test_damaged_inputs_are_rewritten_by_the_rerun(tmp_path, reference):
    spec = _fresh(tmp_path)
    tamper_values(spec.store, [6], "x", 1000)
    assert 6 in verify_store(spec.store).bad
    _repair_and_rerun(spec)
    assert int(catalog.open_store(spec.store)["x"].values[6]) == 6


def test_tampered_catalog_stores_are_not_copied_from(tmp_path, reference):
    source = load_spec(probe_spec(tmp_path / "a", "shared", n=30, chunk_size=4, register=True))
    run_campaign(source, progress=False)
    tamper_values(source.store, range(10), "value", np.nan)
    tamper_values(source.store, range(10, 20), "value", -1.0)
    fresh = load_spec(probe_spec(tmp_path / "b", "fresh", n=30, chunk_size=4))
    report = run_campaign(fresh, progress=False)
    assert report.copied == 10 and report.computed == 20  # only the untouched items
    assert compare_stores(fresh.store, reference) == {"items": 30, "lost": 0, "wrong": 0}


def test_a_broken_registered_store_or_index_file_never_stops_a_campaign(tmp_path, reference):
    source = load_spec(probe_spec(tmp_path / "a", "broken", n=30, chunk_size=4, register=True))
    run_campaign(source, progress=False)
    truncate_chunk(source.store, "input_hash", 0)
    (catalog.index_dir() / "garbage.yaml").write_text("name: [unclosed\n")
    fresh = load_spec(probe_spec(tmp_path / "b", "other", n=30, chunk_size=4))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = run_campaign(fresh, progress=False)
    assert report.done == 30
    assert any("garbage.yaml" in str(w.message) for w in caught)
    assert any("'broken'" in str(w.message) for w in caught)
    assert compare_stores(fresh.store, reference) == {"items": 30, "lost": 0, "wrong": 0}


def test_a_registered_store_that_was_deleted_is_skipped_with_one_clear_warning(tmp_path, reference):
    source = load_spec(probe_spec(tmp_path / "a", "deleted", n=30, chunk_size=4, register=True))
    run_campaign(source, progress=False)
    shutil.rmtree(source.store)
    fresh = load_spec(probe_spec(tmp_path / "b", "other", n=30, chunk_size=4))
    with pytest.warns(UserWarning) as caught:
        report = run_campaign(fresh, progress=False)
    assert report.done == 30 and report.computed == 30
    (message,) = [str(w.message) for w in caught if "'deleted'" in str(w.message)]
    assert message == (
        "Skipping the catalog entry 'deleted' as a source of computed items: its store "
        f"{str(source.store)!r} does not exist (moved or deleted; the entry is "
        f"{str(catalog.index_dir() / 'deleted.yaml')!r})."
    )
    assert compare_stores(fresh.store, reference) == {"items": 30, "lost": 0, "wrong": 0}


def test_a_leftover_half_laid_out_store_is_cleared_not_trusted(tmp_path):
    spec = load_spec(probe_spec(tmp_path, "probe", n=30, chunk_size=4))
    store = spec.store
    store.parent.mkdir(parents=True, exist_ok=True)
    partial = store.with_name(f".{store.name}.partial")
    partial.mkdir()
    (partial / "zarr.json").write_text("{}")
    run_campaign(spec, progress=False)
    assert not partial.exists() and catalog.count_status(catalog.read_ledger(store)["status"]) == {
        "pending": 0,
        "done": 30,
        "failed": 0,
    }


@pytest.mark.cluster
def test_a_client_killed_while_the_store_is_laid_out_resumes(tmp_path, reference):
    spec_path = probe_spec(tmp_path / "run", "probe", n=400, chunk_size=2)
    store = tmp_path / "run" / "probe.zarr"
    partial = store.with_name(".probe.zarr.partial")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vlab.cli", "run", str(spec_path), "--synchronous", "--no-progress"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(partial.exists, 60, "the store's layout to start", interval=0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not store.exists()  # never a half-made store under the real name
    small = probe_spec(tmp_path / "run", "probe", n=400, chunk_size=2)
    done = _vlab("run", small, "--synchronous", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert not partial.exists()
    counts = catalog.count_status(catalog.read_ledger(store)["status"])
    assert counts == {"pending": 0, "done": 400, "failed": 0}


@pytest.mark.cluster
def test_same_name_campaigns_on_one_scheduler_keep_their_own_results(tmp_path):
    # the two input files agree on the first item of every chunk and differ everywhere else
    xs = {"a": list(range(200)), "b": [i if i % 5 == 0 else i + 1000 for i in range(200)]}
    specs = []
    for store, values in xs.items():
        (tmp_path / f"{store}.csv").write_text("x\n" + "\n".join(map(str, values)) + "\n")
        spec = {
            "name": "same",
            "kind": "engine-probe",
            "params": {"seconds": 0.005},
            "inputs": {"file": f"{store}.csv"},
            "chunk_size": 5,
            "store": f"{store}.zarr",
            "register": False,
        }
        specs.append(tmp_path / f"{store}.yaml")
        specs[-1].write_text(yaml.safe_dump(spec))
    cluster = ExternalCluster(tmp_path / "cluster")
    try:
        procs = [
            _vlab_popen("run", s, "--scheduler", cluster.address, "--no-progress") for s in specs
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
    finally:
        cluster.close()
    for path, values in zip(specs, xs.values(), strict=True):
        ds = catalog.open_store(load_spec(path).store)
        assert ds["x"].values.tolist() == values
        assert np.array_equal(ds["value"].values, np.asarray(values, float) ** 2)


@pytest.mark.cluster
@pytest.mark.parametrize(
    ("flush_seconds", "seconds", "ready", "pause"),
    [
        # chunks are written as they finish: the scheduler goes between writes (chunks of
        # 4 x 0.4 s: after the first two, about 5 s of work are left, so the scheduler goes
        # before the end even on a busy machine)
        (None, 0.4, lambda status: status.sum() >= 8, 0.0),
        # writes are held back: the runner waits on its futures with finished chunks to write
        # when the scheduler goes; the cancelled futures are a lost cluster, the chunks land
        ("3600", 0.5, lambda status: True, 3.0),
    ],
    ids=["between-writes", "chunks-held"],
)
def test_losing_the_scheduler_leaves_items_pending_and_the_rerun_completes(
    tmp_path, reference, monkeypatch, flush_seconds, seconds, ready, pause
):
    if flush_seconds is not None:
        monkeypatch.setenv("VLAB_CAMPAIGN__FLUSH_SECONDS", flush_seconds)
    cluster = ExternalCluster(tmp_path / "cluster")
    try:
        path = probe_spec(
            tmp_path / "run", "probe", n=30, chunk_size=4, params={"seconds": seconds}
        )
        proc = _vlab_popen("run", path, "--scheduler", cluster.address, "--no-progress")
        store = tmp_path / "run" / "probe.zarr"

        def is_ready():
            try:
                return ready(catalog.read_ledger(store)["status"])
            except Exception:  # not laid out yet
                return False

        wait_for(is_ready, 120, "the store to be laid out (and written to)")
        time.sleep(pause)  # chunks of 4 x 0.5 s finish on the 2 workers, held back
        cluster.kill_scheduler()
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 1
        lines = [line for line in err.splitlines() if line.startswith("vlab: error:")]
        assert len(lines) == 1 and "Lost the Dask cluster" in lines[0], err
        assert "Traceback" not in err and "AttributeError" not in err
        counts = catalog.count_status(catalog.read_ledger(store)["status"])
        assert counts["failed"] == 0 and counts["pending"] > 0, counts
        if flush_seconds is not None:
            assert counts["done"] > 0, counts  # the held chunks were written on the way out
        cluster.close()
        cluster.start(2)
        again = _vlab("run", path, "--scheduler", cluster.address, "--no-progress")
        assert again.returncode == 0, again.stderr
    finally:
        cluster.close()
    assert compare_stores(store, reference) == {"items": 30, "lost": 0, "wrong": 0}


@pytest.mark.cluster
@pytest.mark.parametrize("where", ["waiting", "submitting"])
def test_a_closed_scheduler_connection_is_a_lost_cluster_whatever_call_meets_it(
    tmp_path, reference, dask_client, monkeypatch, where
):
    # Under load the lost scheduler can surface first as distributed's CommClosedError (an
    # OSError: "ConnectionPool closing.") from the wait or from a submit, not as cancelled
    # futures: it is the same lost cluster, with what finished written and nothing failed.
    from distributed.comm.core import CommClosedError

    from vlab.campaign import runner
    from vlab.errors import ClusterError

    calls = {"n": 0}
    params = {}
    originals = {"_first_finished": runner._first_finished, "_executor": runner._executor}
    if where == "waiting":
        # chunks held back, so the runner waits with chunks to write; items of 0.3 s, so the
        # 8 chunks of 4 finish on the 2 workers in several batches and the runner does wait
        monkeypatch.setenv("VLAB_CAMPAIGN__FLUSH_SECONDS", "3600")
        params = {"seconds": 0.3}

        def first_finished(futures, deadline):
            calls["n"] += 1
            raise CommClosedError("ConnectionPool closing.")

        monkeypatch.setattr(runner, "_first_finished", first_finished)
    else:  # a window of 4 chunks: the fifth submit refills it after the first finished one
        monkeypatch.setenv("VLAB_CAMPAIGN__FUTURES_PER_WORKER", "1")
        executor = runner._executor

        def make_executor(client, plan, retries):
            submit, as_completed = executor(client, plan, retries)

            def failing_submit(chunk):
                calls["n"] += 1
                if calls["n"] == 5:
                    raise CommClosedError("ConnectionPool closing.")
                return submit(chunk)

            return failing_submit, as_completed

        monkeypatch.setattr(runner, "_executor", make_executor)
    spec = load_spec(probe_spec(tmp_path / "run", "probe", n=30, chunk_size=4, params=params))
    with pytest.raises(ClusterError, match="Lost the Dask cluster") as caught:
        run_campaign(spec, client=dask_client, progress=False)
    assert calls["n"] == {"waiting": 1, "submitting": 5}[where]
    assert "CommClosedError: ConnectionPool closing." in str(caught.value)
    assert "stay pending (not failed)" in str(caught.value)
    counts = catalog.count_status(catalog.read_ledger(spec.store)["status"])
    assert counts["failed"] == 0 and counts["pending"] > 0 and counts["done"] > 0, counts
    # the connection is back: the rerun completes
    for name, original in originals.items():
        monkeypatch.setattr(runner, name, original)
    for var in ("VLAB_CAMPAIGN__FLUSH_SECONDS", "VLAB_CAMPAIGN__FUTURES_PER_WORKER"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("VLAB_CAMPAIGN__ZARR_CHUNK_ITEMS", "8")
    report = run_campaign(spec, client=dask_client, progress=False)
    assert report.failed == 0 and report.pending == 0
    assert report.computed == counts["pending"]
    assert compare_stores(spec.store, reference) == {"items": 30, "lost": 0, "wrong": 0}


@pytest.mark.cluster
def test_a_scheduler_lost_after_the_last_chunk_costs_only_the_performance_report(
    tmp_path, reference, dask_client, monkeypatch
):
    # the race of a scheduler that goes away after the last chunk was written: the campaign is
    # complete; only the performance report, fetched from the scheduler at the end, is missing
    from distributed import performance_report
    from distributed.comm.core import CommClosedError

    def unreachable(self, *exc):
        raise CommClosedError("ConnectionPool closing.")

    monkeypatch.setenv("VLAB_CAMPAIGN__PERFORMANCE_REPORT", "true")
    monkeypatch.setattr(performance_report, "__exit__", unreachable)
    spec = load_spec(probe_spec(tmp_path / "run", "probe", n=30, chunk_size=4))
    with pytest.warns(UserWarning, match="ran to its end .* performance report was not written"):
        report = run_campaign(spec, client=dask_client, progress=False)
    assert report.done == 30 and report.performance_report == ""
    assert compare_stores(spec.store, reference) == {"items": 30, "lost": 0, "wrong": 0}


@pytest.mark.cluster
def test_an_os_error_of_the_store_is_not_taken_for_a_lost_cluster(
    tmp_path, dask_client, monkeypatch
):
    from vlab.campaign import runner
    from vlab.errors import ClusterError

    def first_finished(futures, deadline):
        raise OSError(28, "No space left on device")

    monkeypatch.setenv("VLAB_CAMPAIGN__FLUSH_SECONDS", "3600")  # the runner waits (see above)
    monkeypatch.setattr(runner, "_first_finished", first_finished)
    params = {"seconds": 0.3}
    spec = load_spec(probe_spec(tmp_path / "run", "probe", n=30, chunk_size=4, params=params))
    with pytest.raises(OSError, match="No space left") as caught:
        run_campaign(spec, client=dask_client, progress=False)
    assert not isinstance(caught.value, ClusterError)


def test_a_second_writer_through_a_symlink_is_refused(tmp_path):
    spec = load_spec(probe_spec(tmp_path / "real", "probe", n=8, chunk_size=4))
    run_campaign(spec, progress=False)
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "real", target_is_directory=True)
    also_link = tmp_path / "store-link.zarr"
    also_link.symlink_to(spec.store, target_is_directory=True)
    with StoreLock(spec.store):
        for other in (link / "probe.zarr", also_link):
            with pytest.raises(StoreLockedError, match="being written by another campaign"):
                StoreLock(other).__enter__()


def test_two_specs_of_one_batch_writing_one_store_through_a_symlink_are_refused(tmp_path):
    first = probe_spec(tmp_path / "real", "probe", n=8, chunk_size=4)
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    second = tmp_path / "link" / "other.yaml"
    data = yaml.safe_load(first.read_text())
    data["name"] = "other"
    second.write_text(yaml.safe_dump(data))
    with pytest.raises(Exception, match="both write the store"):
        run_campaigns([load_spec(first), load_spec(second)], synchronous=True, progress=False)


def test_run_exits_1_while_items_are_failed_even_on_a_rerun(tmp_path):
    path = probe_spec(tmp_path, "probe", n=20, chunk_size=5, params={"fail_every": 6})
    first = _vlab("run", path, "--synchronous", "--no-progress")
    second = _vlab("run", path, "--synchronous", "--no-progress")
    assert (first.returncode, second.returncode) == (1, 1)
    assert "4 items failed" in second.stderr


def test_status_verify_names_bad_items_and_repair_needs_verify(tmp_path):
    spec = _fresh(tmp_path)
    delete_chunk(spec.store, "value", 0)
    out = _vlab("status", spec.store, "--verify")
    assert out.returncode == 1 and "item 0: data do not match the checksum" in out.stdout
    assert "8 bad" in out.stdout
    bad = _vlab("status", spec.store, "--repair")
    assert bad.returncode == 2 and "--repair needs --verify" in bad.stderr
    fixed = _vlab("status", spec.store, "--verify", "--repair")
    assert fixed.returncode == 0 and "marked pending" in fixed.stdout
    assert catalog.count_status(catalog.read_ledger(spec.store)["status"])["pending"] == 8
    shown = _vlab("status", spec.store)
    assert "8 of the pending items were marked by vlab status --verify --repair" in shown.stdout


def test_repair_is_refused_while_a_campaign_writes_the_store(tmp_path):
    spec = _fresh(tmp_path)
    delete_chunk(spec.store, "value", 0)
    with StoreLock(spec.store):
        out = _vlab("status", spec.store, "--verify", "--repair")
    assert out.returncode == 2 and "being written by another campaign" in out.stderr
    assert catalog.count_status(catalog.read_ledger(spec.store)["status"])["done"] == 30


def test_exported_and_shipped_stores_carry_checksums_that_verify(tmp_path, reference):
    target = catalog.export_store(reference, tmp_path / "compact.zarr")
    report = verify_store(target)
    assert report.checksums and report.checked == 30 and not report.bad
    shipped = catalog.get_entry("au-sband-small").location
    assert verify_store(shipped).checksums and not verify_store(shipped).bad


def test_a_store_without_checksums_is_never_a_source_of_copies(tmp_path, reference):
    import zarr

    source = load_spec(probe_spec(tmp_path / "a", "legacy", n=30, chunk_size=4, register=True))
    run_campaign(source, progress=False)
    group = zarr.open_group(source.store, mode="r+", zarr_format=3, use_consolidated=False)
    del group.attrs["checksum_variables"]  # as written by an older vlab
    del group["checksum"]
    catalog.consolidate(source.store)
    assert not verify_store(source.store).checksums
    fresh = load_spec(probe_spec(tmp_path / "b", "fresh", n=30, chunk_size=4))
    assert run_campaign(fresh, progress=False).copied == 0
    assert catalog.add_checksums(source.store) == 30  # sealed: trusted from now on
    again = load_spec(probe_spec(tmp_path / "c", "again", n=30, chunk_size=4))
    assert run_campaign(again, progress=False).copied == 30
