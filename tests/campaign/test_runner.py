import warnings

import numpy as np
import pytest
import yaml

from vlab import catalog
from vlab._utils import content_hash
from vlab.campaign import get_kind, load_spec, run_campaign, run_campaigns
from vlab.catalog import StoreLock, open_store, read_ledger, write_chunk
from vlab.errors import SpecError, StoreLockedError


def _spec(tmp_path, name="probe", n=50, chunk=8, params=None, gen=None, store=None):
    data = {
        "name": name,
        "kind": "engine-probe",
        "chunk_size": chunk,
        "store": store or f"{name}.zarr",
        "params": params or {},
        "inputs": {"generator": "range", "n": n, "params": gen or {}},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_spec(path)


def _data(path):
    ds = open_store(path)
    return {k: ds[k].values for k in ("value", "vector", "status", "x")}


def test_results_and_ledger_are_right(tmp_path, client_or_none):
    report = run_campaign(_spec(tmp_path, n=50), client=client_or_none, progress=False)
    assert (report.done, report.failed, report.pending, report.computed) == (50, 0, 0, 50)
    ds = open_store(report.store)
    assert ds["value"].values.tolist() == [float(x * x) for x in range(50)]
    assert np.allclose(ds["vector"].values[:, 0], np.sin(np.arange(50)))
    assert (ds["status"].values == 1).all() and (ds["duration"].values >= 0).all()
    workers = {str(w) for w in ds["worker"].values}
    assert all(w.startswith("tcp://" if client_or_none else "local:") for w in workers)
    assert ds.attrs["kind"] == "engine-probe" and "spec_hash" in ds.attrs


def test_failing_items_are_recorded_and_the_rest_complete(tmp_path, client_or_none):
    report = run_campaign(
        _spec(tmp_path, n=30, params={"fail_every": 4}), client=client_or_none, progress=False
    )
    assert (report.done, report.failed) == (22, 8)
    ds = open_store(report.store)
    failed = np.flatnonzero(ds["status"].values == 2)
    assert failed.tolist() == list(range(0, 30, 4))
    assert "fails on purpose" in str(ds["error"].values[4]) and str(ds["error"].values[5]) == ""
    assert np.isnan(ds["value"].values[failed]).all()


def test_resume_computes_only_what_is_missing(tmp_path, client_or_none):
    spec = _spec(tmp_path, n=40, chunk=8)
    run_campaign(spec, client=client_or_none, progress=False)
    reference = _data(spec.store)
    outputs = get_kind("engine-probe").outputs({}, [])
    # a crash before these chunks' status was written: outputs may be there, status not
    for start in (8, 24):
        write_chunk(spec.store, start, {}, status=[0] * 8, outputs=outputs)
    assert read_ledger(spec.store)["status"].sum() == 24
    report = run_campaign(spec, client=client_or_none, progress=False)
    assert report.computed == 16 and report.done == 40
    after = _data(spec.store)
    assert all(np.array_equal(reference[k], after[k], equal_nan=True) for k in reference)


def test_retry_failed_only_reruns_failed_items(tmp_path):
    spec = _spec(tmp_path, n=20, params={"fail_every": 5})
    run_campaign(spec, progress=False)
    report = run_campaign(spec, progress=False, retry_failed=True)
    assert report.computed == 4 and report.failed == 4


def test_identical_items_are_computed_once_within_a_campaign(tmp_path, client_or_none):
    spec = _spec(tmp_path, n=60, chunk=7, gen={"repeat": 4})
    report = run_campaign(spec, client=client_or_none, progress=False)
    assert report.computed == 15 and report.copied == 45
    ds = open_store(spec.store)
    assert ds["value"].values.tolist() == [float((i // 4) ** 2) for i in range(60)]


def test_identical_items_are_reused_across_campaigns_of_the_catalog(tmp_path, client_or_none):
    first = run_campaign(_spec(tmp_path, name="a", n=30), client=client_or_none, progress=False)
    second = run_campaign(_spec(tmp_path, name="b", n=40), client=client_or_none, progress=False)
    assert first.computed == 30 and (second.computed, second.copied) == (10, 30)
    assert np.array_equal(_data(first.store)["value"], _data(second.store)["value"][:30])
    workers = [str(w) for w in open_store(second.store)["worker"].values]
    assert workers[0] == "cache:a.zarr" and not workers[35].startswith("cache:")


def test_other_parameters_change_the_hash_and_are_not_reused(tmp_path):
    run_campaign(_spec(tmp_path, name="a", n=10), progress=False)
    report = run_campaign(
        _spec(tmp_path, name="b", n=10, params={"seconds": 0.0001}), progress=False
    )
    assert report.computed == 10


def test_a_store_of_another_spec_is_refused_and_left_untouched(tmp_path):
    spec = _spec(tmp_path, n=10)
    run_campaign(spec, progress=False)
    before = _data(spec.store)
    other = _spec(tmp_path, n=12, store="probe.zarr", name="other")
    with pytest.raises(SpecError, match="the store .* holds other items than this spec") as err:
        run_campaign(other, progress=False)
    # the message says which settings of the spec that wrote the store differ
    assert "(10 stored, 12 planned; written by a spec with " in str(err.value)
    assert "inputs.n: 10 -> 12" in str(err.value) and 'name: "probe" -> "other"' in str(err.value)
    after = _data(spec.store)
    assert all(np.array_equal(before[k], after[k], equal_nan=True) for k in before)


def test_a_concurrent_second_writer_is_refused(tmp_path):
    spec = _spec(tmp_path, n=10)
    with StoreLock(spec.store), pytest.raises(StoreLockedError, match="being written"):
        run_campaign(spec, progress=False)


def test_setup_runs_once_per_worker_not_once_per_task(tmp_path, dask_client):
    params = {"seconds": 0.000123}
    spec = _spec(tmp_path, n=64, chunk=4, params=params)
    run_campaign(spec, client=dask_client, progress=False)
    key = content_hash("engine-probe", "1", get_kind("engine-probe").check_params(params))
    counts = dask_client.run(_setup_calls)
    per_worker = [c.get(key, 0) for c in counts.values()]
    assert sum(per_worker) <= len(counts) and max(per_worker) == 1  # 16 tasks, <= 1 setup each


def _setup_calls():
    from vlab.campaign.tasks import SETUP_CALLS  # import on the worker, not the test's copy

    return dict(SETUP_CALLS)


def _batch_spec(tmp_path, name, **keys):
    """A spec made from keys (inputs from a generator unless ``inputs`` is given)."""
    data = {
        "name": name,
        "kind": "engine-probe",
        "chunk_size": 4,
        "store": f"{name}.zarr",
        "inputs": {"generator": "range", "n": 8},
        **keys,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_spec(path)


def test_a_batch_is_checked_whole_before_its_first_campaign_runs(tmp_path):
    first = _batch_spec(tmp_path, "first")
    bad = _batch_spec(tmp_path, "bad", params={"fail_every": "often"})
    with pytest.raises(SpecError, match="bad.yaml: engine-probe: 'fail_every' must be an integer"):
        run_campaigns([first, bad], synchronous=True, progress=False)
    locked = _batch_spec(tmp_path, "locked")
    with StoreLock(locked.store), pytest.raises(StoreLockedError, match="locked.zarr' is being"):
        run_campaigns([first, locked], synchronous=True, progress=False)
    same = _batch_spec(tmp_path, "same", store="first.zarr")
    with pytest.raises(SpecError, match="'first' and 'same' both write the store"):
        run_campaigns([first, same], synchronous=True, progress=False)
    assert not first.store.exists()  # nothing ran


def test_a_campaign_reading_an_earlier_campaign_of_the_batch_is_planned_after_it(tmp_path):
    first = _batch_spec(tmp_path, "first")
    second = _batch_spec(tmp_path, "second", inputs={"catalog": "first"})
    reports = run_campaigns([first, second], synchronous=True, progress=False)
    assert [r.done for r in reports] == [8, 8]
    assert open_store(second.store)["x"].values.tolist() == list(range(8))
    # its items are the first store's inputs (not its ledger, nor the outputs computed anew):
    # the same items, copied, and the store passes its own verification
    assert reports[1].computed == 0 and reports[1].copied == 8
    assert catalog.verify_store(second.store).bad == {}
    misspelt = _batch_spec(tmp_path, "third", inputs={"catalog": "first"}, params={"secs": 1})
    with pytest.raises(SpecError, match=r"third.yaml: engine-probe: unknown parameter\(s\)"):
        run_campaigns([first, misspelt], synchronous=True, progress=False)


def test_input_fields_named_like_outputs_or_the_ledger_are_refused(tmp_path):
    (tmp_path / "in.csv").write_text("x,value,worker\n1,2,w\n")
    data = {"name": "f", "kind": "engine-probe", "inputs": {"file": "in.csv"}, "store": "f.zarr"}
    (tmp_path / "f.yaml").write_text(yaml.safe_dump(data))
    said = r"f.yaml: the items have fields named like the store's own variables \(value, worker"
    with pytest.raises(SpecError, match=said):
        run_campaign(load_spec(tmp_path / "f.yaml"), progress=False)
    assert not (tmp_path / "f.zarr").exists()


@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_store_path_that_is_no_store_is_refused_untouched(tmp_path, what):
    spec = _spec(tmp_path, n=4)
    if what == "file":
        spec.store.write_text("mine")
    else:
        (spec.store / "notes.txt").parent.mkdir()
        (spec.store / "notes.txt").write_text("mine")
    message = "is a file" if what == "file" else "is a folder that is not a vlab store"
    with pytest.raises(SpecError, match=f"the 'store' path .*probe.zarr' {message}"):
        run_campaign(spec, progress=False)
    assert (spec.store if what == "file" else spec.store / "notes.txt").read_text() == "mine"


def test_ctrl_c_during_a_chunk_write_waits_for_the_chunk_and_says_what_is_saved(
    tmp_path, monkeypatch
):
    import os
    import signal

    from vlab import catalog

    write = catalog.write_chunks
    interrupted = []  # the items of the batch whose write Ctrl-C interrupts

    def interrupted_write(path, chunks, **kwargs):
        # Ctrl-C arrives in the middle of the write of the batch holding the second chunk
        # (finished chunks are written in batches, so that chunk need not come first).
        if not interrupted and any(c.start == 8 for c in chunks):
            interrupted.extend(i for c in chunks for i in range(c.start, c.start + 8))
            os.kill(os.getpid(), signal.SIGINT)
        write(path, chunks, **kwargs)

    monkeypatch.setattr(catalog, "write_chunks", interrupted_write)
    monkeypatch.setenv("VLAB_CAMPAIGN__FLUSH_SECONDS", "0")  # a write as each chunk finishes
    spec = _spec(tmp_path, n=40, chunk=8)
    with pytest.raises(KeyboardInterrupt) as caught:
        run_campaigns([spec], synchronous=True, progress=False)
    status = read_ledger(spec.store)["status"]
    saved = int((status == 1).sum())
    assert set(range(16)) | set(interrupted) <= set(np.flatnonzero(status == 1).tolist())
    assert set(status.tolist()) <= {0, 1} and saved < 40
    assert caught.value.__notes__ == [
        f"{saved} of 40 items of campaign 'probe' are saved in '{spec.store}'"
    ]
    monkeypatch.setattr(catalog, "write_chunks", write)
    report = run_campaign(spec, progress=False)
    assert (report.computed, report.done) == (40 - saved, 40)


def _recorded_writes(monkeypatch):
    """Replace ``catalog.write_chunks`` by itself, recording each call's chunk starts."""
    from vlab import catalog

    write, calls = catalog.write_chunks, []

    def recording(path, chunks, **kwargs):
        calls.append(sorted(c.start for c in chunks))
        return write(path, chunks, **kwargs)

    monkeypatch.setattr(catalog, "write_chunks", recording)
    return calls


def test_finished_chunks_are_written_together_and_ctrl_c_writes_them_first(tmp_path, monkeypatch):
    from vlab.campaign import runner

    calls = _recorded_writes(monkeypatch)
    monkeypatch.setenv("VLAB_CAMPAIGN__FLUSH_SECONDS", "3600")
    run_chunk = runner.run_chunk

    def interrupted(kind, params, items, outputs):  # Ctrl-C while the fourth chunk computes
        if items[0]["x"] == 24:
            raise KeyboardInterrupt
        return run_chunk(kind, params, items, outputs)

    monkeypatch.setattr(runner, "run_chunk", interrupted)
    spec = _spec(tmp_path, "stopped", n=40, chunk=8)
    with pytest.raises(KeyboardInterrupt):
        run_campaign(spec, progress=False)
    assert calls == [[0, 8, 16]]  # written on the way out, together
    assert read_ledger(spec.store)["status"].tolist() == [1] * 24 + [0] * 16

    monkeypatch.setattr(runner, "run_chunk", run_chunk)
    calls.clear()
    report = run_campaign(spec, progress=False)
    assert report.computed == 16 and calls == [[24, 32]]  # the rest, in one write


def test_assembled_chunks_are_written_when_due_without_waiting_for_the_next(
    tmp_path, monkeypatch, dask_client
):
    calls = _recorded_writes(monkeypatch)
    monkeypatch.setenv("VLAB_CAMPAIGN__FLUSH_SECONDS", "2")
    # 2 workers: chunks 0 and 1 finish after about 1.5 s, chunk 2 after about 3 s
    spec = _spec(tmp_path, "due", n=3, chunk=1, params={"seconds": 1.5})
    run_campaign(spec, client=dask_client, progress=False)
    assert calls[-1] == [2] and sorted(s for call in calls[:-1] for s in call) == [0, 1], calls


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "-1",
            "'campaign.flush_seconds' in the VLAB_\\* environment variables must be from 0 to "
            "3600 seconds; got -1",
        ),
        ("soon", "'campaign.flush_seconds' in the VLAB_\\* environment variables must be a number"),
    ],
)
def test_a_bad_flush_interval_is_named(tmp_path, monkeypatch, value, message):
    from vlab.errors import ConfigError

    spec = _spec(tmp_path, n=4, chunk=2)
    monkeypatch.setenv("VLAB_CAMPAIGN__FLUSH_SECONDS", value)
    with pytest.raises(ConfigError, match=message):
        run_campaign(spec, progress=False)


def test_new_stores_share_zarr_chunks_and_stores_laid_out_before_resume_as_they_are(
    tmp_path, monkeypatch
):
    from vlab import config
    from vlab.campaign.faults import compare_stores, set_status_byte

    monkeypatch.setenv("VLAB_CAMPAIGN__ZARR_CHUNK_ITEMS", "16")
    new = _spec(tmp_path, "new", n=50, chunk=8)
    run_campaign(new, progress=False)
    assert open_store(new.store)["value"].encoding["chunks"] == (16,)  # two chunks of 8
    with config.override({"campaign.zarr_chunk_items": 1}):  # the layout before: chunk = zarr chunk
        old = _spec(tmp_path, "old", n=50, chunk=8)
        run_campaign(old, progress=False)
    for item in (9, 10, 40):
        set_status_byte(old.store, item, 0)
    report = run_campaign(old, progress=False)  # resumed with zarr_chunk_items 16
    assert report.computed + report.copied == 3  # copies come from the new store
    assert open_store(old.store)["value"].encoding["chunks"] == (8,)
    assert compare_stores(old.store, new.store) == {"items": 50, "lost": 0, "wrong": 0}


def test_a_name_that_moves_to_another_store_is_said(tmp_path):
    from vlab import catalog

    run_campaign(_batch_spec(tmp_path, "probe"), progress=False)
    first = catalog.get_entry("probe").location
    again = _batch_spec(tmp_path, "probe")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same store again: nothing to say
        run_campaign(again, progress=False)
    other = _batch_spec(tmp_path, "probe", store="other.zarr")
    with pytest.warns(UserWarning, match=r"The catalog name 'probe' now names .*other.zarr \(it"):
        run_campaign(other, progress=False)
    assert catalog.get_entry("probe").location != first and first.exists()


def test_a_spec_making_the_same_items_is_recorded_with_a_warning(tmp_path):
    first = _spec(tmp_path, name="probe", n=6, store="p.zarr")
    run_campaign(first, progress=False)
    renamed = _spec(tmp_path, name="probe-renamed", n=6, store="p.zarr")
    with pytest.warns(UserWarning) as caught:
        report = run_campaign(renamed, progress=False)
    said = [str(w.message) for w in caught if "makes the same items" in str(w.message)]
    assert said == [
        f"{renamed.source}: the store {str(renamed.store)!r} was written by a spec with name: "
        '"probe" -> "probe-renamed". This spec makes the same items, so the store is resumed, '
        "and it records this spec from now on."
    ]
    assert report.computed == 0
    attrs = open_store(renamed.store).attrs
    assert attrs["title"] == "probe-renamed" and attrs["spec_hash"] == renamed.spec_hash
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # recorded: no warning again
        run_campaign(renamed, progress=False)


def test_an_interrupted_campaign_is_registered_under_its_name(tmp_path, monkeypatch):
    from vlab.campaign import runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "_run_chunks", interrupted)
    spec = _spec(tmp_path, name="halted", n=6)
    with pytest.raises(KeyboardInterrupt):
        run_campaigns([spec], synchronous=True, progress=False)
    assert catalog.get_entry("halted").location == spec.store
    assert read_ledger(spec.store)["status"].tolist() == [0] * 6


def test_a_run_that_writes_nothing_keeps_the_time_of_the_last_write(tmp_path, monkeypatch):
    from vlab.campaign import runner

    spec = _spec(tmp_path, n=6)
    run_campaign(spec, progress=False)
    first = open_store(spec.store).attrs["updated"]
    monkeypatch.setattr(runner, "_now", lambda: "2099-01-01T00:00:00+00:00")
    assert run_campaign(spec, progress=False).computed == 0
    assert open_store(spec.store).attrs["updated"] == first
