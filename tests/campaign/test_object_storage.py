"""Campaigns whose store is on object storage (a real S3 server, moto, on loopback)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import dask
import pytest
import yaml

from vlab import catalog
from vlab.campaign import load_spec, run_campaign
from vlab.campaign.faults import compare_stores, probe_spec, wait_for
from vlab.catalog.location import filesystem
from vlab.cli import main
from vlab.errors import SpecError, StoreLockedError


def _vlab(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "vlab.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _s3_spec(folder, url, *, n=30, chunk_size=4, params=None, register=False):
    """A probe spec file whose store is ``url``."""
    path = probe_spec(folder, "probe", n=n, chunk_size=chunk_size, params=params)
    data = yaml.safe_load(path.read_text())
    data.update(store=url, register=register)
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def reference(tmp_path):
    """An uninterrupted probe campaign on local disk (30 items, chunks of 4)."""
    spec = load_spec(probe_spec(tmp_path / "ref", "probe", n=30, chunk_size=4))
    run_campaign(spec, progress=False)
    return spec.store


def test_a_campaign_writes_resumes_and_registers_an_s3_store(
    tmp_path, s3_bucket, reference, capsys
):
    url = f"s3://{s3_bucket}/runs/probe.zarr"
    spec = load_spec(_s3_spec(tmp_path, url, register=True))
    assert isinstance(spec.store, catalog.StoreURL)
    report = run_campaign(spec, progress=False)
    assert (report.done, report.failed) == (30, 0)
    assert compare_stores(url, reference) == {"items": 30, "lost": 0, "wrong": 0}
    again = run_campaign(spec, progress=False)  # resume: nothing left to compute
    assert again.done == 30 and again.computed == 0
    entry = catalog.get_entry("probe")
    assert str(entry.location) == url
    assert int(entry.open().sizes["item"]) == 30  # vlab.catalog.open(...) of an s3 store
    capsys.readouterr()
    with dask.config.set(scheduler="threads"):  # not a session's Dask cluster, if there is one
        assert main(["status", url]) == 0
    assert f"store {url}: 30 items; 0 pending, 30 done, 0 failed" in capsys.readouterr().out
    assert main(["status", "probe", "--verify"]) == 0  # by its catalog name
    assert "all good" in capsys.readouterr().out


def test_a_campaign_on_a_dask_cluster_reads_its_s3_store_in_the_client(
    tmp_path, s3_bucket, reference, dask_client
):
    # The workers were started without the credentials: only the client may touch the store.
    url = f"s3://{s3_bucket}/probe.zarr"
    spec = load_spec(_s3_spec(tmp_path, url))
    run_campaign(spec, progress=False)
    catalog.open_group(url, "r+")["status"][2] = 0  # half a chunk to do: the client reads the rest
    report = run_campaign(spec, client=dask_client, progress=False)
    assert (report.done, report.failed, report.computed) == (30, 0, 1)
    assert compare_stores(url, reference) == {"items": 30, "lost": 0, "wrong": 0}


def test_a_second_campaign_on_the_same_s3_store_is_refused(tmp_path, s3_bucket):
    url = f"s3://{s3_bucket}/probe.zarr"
    spec = load_spec(_s3_spec(tmp_path, url, n=4))
    with catalog.writer_lock(url), pytest.raises(StoreLockedError, match="being written"):
        run_campaign(spec, progress=False)


def test_a_bad_store_url_in_a_spec_is_one_line_naming_it(tmp_path, s3_bucket):
    with pytest.raises(SpecError, match=r"the 'store': The store location 'gs://b/x.zarr' is"):
        load_spec(_s3_spec(tmp_path, "gs://b/x.zarr"))
    spec = load_spec(_s3_spec(tmp_path, "s3://missing-bucket-x/p.zarr"))
    with pytest.raises(SpecError, match=r"the bucket 'missing-bucket-x' does not exist"):
        run_campaign(spec, progress=False)


def test_a_campaign_killed_mid_run_on_s3_resumes_to_an_identical_store(
    tmp_path, s3_bucket, reference
):
    url = f"s3://{s3_bucket}/probe.zarr"
    path = _s3_spec(tmp_path, url, params={"seconds": 0.05})
    command = [sys.executable, "-m", "vlab.cli", "run", str(path), "--synchronous", "--no-progress"]
    # each chunk written as it finishes (not coalesced): the kill lands mid-run
    env = {**os.environ, "VLAB_CAMPAIGN__FLUSH_SECONDS": "0"}
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)

    def some_written():
        try:
            return catalog.read_ledger(url)["status"].sum() >= 8
        except Exception:  # not laid out yet
            return False

    try:
        wait_for(some_written, 120, "some chunks to be written", interval=0.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        proc.kill()
    counts = catalog.count_status(catalog.read_ledger(url)["status"])
    assert counts["done"] < 30 and counts["failed"] == 0
    again = _vlab("run", path, "--synchronous", "--no-progress")
    if again.returncode == 2:  # the killed writer's lease had not expired yet (2 s)
        assert "is being written by another campaign" in again.stderr, again.stderr
        time.sleep(3)  # Last-Modified has a resolution of one second
        again = _vlab("run", path, "--synchronous", "--no-progress")
    assert again.returncode == 0, again.stderr
    assert compare_stores(url, reference) == {"items": 30, "lost": 0, "wrong": 0}
    assert not catalog.verify_store(url).bad


def test_a_client_killed_while_laying_out_an_s3_store_leaves_no_store_and_resumes(
    tmp_path, s3_bucket, capsys
):
    url = f"s3://{s3_bucket}/probe.zarr"
    path = _s3_spec(tmp_path, url, n=60, chunk_size=2)
    command = [sys.executable, "-m", "vlab.cli", "run", str(path), "--synchronous", "--no-progress"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    fs = filesystem()

    def laying_out():
        try:
            meta = json.loads(fs.cat_file(f"{s3_bucket}/probe.zarr/zarr.json"))
        except (FileNotFoundError, ValueError):
            return False
        return meta.get("attributes", {}).get("vlab_layout") == "incomplete"

    try:
        wait_for(laying_out, 120, "the store's layout to start", interval=0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        proc.kill()
    assert not catalog.store_exists(url)  # never a half-made store under the real name
    assert main(["status", url]) == 2
    assert "its creation did not finish" in capsys.readouterr().err
    again = _vlab("run", path, "--synchronous", "--no-progress")
    if again.returncode == 2:  # the killed writer's lease had not expired yet (2 s)
        time.sleep(3)
        again = _vlab("run", path, "--synchronous", "--no-progress")
    assert again.returncode == 0, again.stderr
    counts = catalog.count_status(catalog.read_ledger(url)["status"])
    assert counts == {"pending": 0, "done": 60, "failed": 0}
