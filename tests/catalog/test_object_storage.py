"""Stores and writer leases on object storage, against a real S3 server (moto) on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import dask
import numpy as np
import pytest
import zarr

from vlab import catalog
from vlab.catalog.location import StoreURL, as_location, filesystem
from vlab.catalog.schema import Variable
from vlab.errors import InputError, StoreError, StoreLockedError

OUT = {"y": Variable(units="eV", long_name="y")}


@pytest.fixture(autouse=True)
def _read_here():
    """Lazy reads are computed in this process, whose environment points at the test server
    (a Dask client left by another test has workers started without it)."""
    with dask.config.set(scheduler="synchronous"):
        yield


def _create(url, n=5, chunk_size=2):
    catalog.create_store(
        url,
        chunk_size=chunk_size,
        inputs={"x": (Variable(long_name="x"), np.arange(float(n)))},
        outputs=OUT,
        input_hashes=[f"h{i}" for i in range(n)],
        attrs={"title": "demo"},
    )


def test_create_write_read_verify_on_s3(s3_bucket):
    url = f"s3://{s3_bucket}/runs/demo.zarr"
    _create(url)
    catalog.write_chunk(url, 0, {"y": np.array([1.0, 4.0])}, status=[1, 1], outputs=OUT)
    catalog.write_chunk(url, 4, {"y": np.array([16.0])}, status=[2], outputs=OUT)
    status = catalog.read_ledger(url)["status"]
    assert status.tolist() == [1, 1, 0, 0, 2]
    assert catalog.count_status(status) == {"pending": 2, "done": 2, "failed": 1}
    ds = catalog.open_store(url)  # lazy, through xarray
    assert ds["y"].chunks is not None
    assert ds["y"].values[:2].tolist() == [1.0, 4.0] and ds["y"].attrs["units"] == "eV"
    catalog.consolidate(url)
    assert catalog.open_store(url).attrs["title"] == "demo"
    assert not catalog.verify_store(url).bad
    catalog.write_chunk(url, 2, {"y": np.array([9.0, 9.5])}, status=[1, 1], outputs=OUT)
    assert catalog.read_ledger(url)["status"].tolist() == [1, 1, 1, 1, 2]


def test_a_damaged_object_is_found_by_verify(s3_bucket):
    url = f"s3://{s3_bucket}/demo.zarr"
    _create(url)
    catalog.write_chunk(url, 0, {"y": np.array([1.0, 4.0])}, status=[1, 1], outputs=OUT)
    group = zarr.open_group(catalog.store._zarr_store(as_location(url)), mode="r+")
    group["y"][1] = 5.0  # behind the engine's back
    report = catalog.verify_store(url)
    assert report.bad == {1: "data do not match the checksum"}
    with catalog.writer_lock(url):
        catalog.verify_store(url, repair=True)
    assert catalog.read_ledger(url)["status"].tolist()[:2] == [1, 0]


def test_an_existing_store_is_never_overwritten(s3_bucket):
    url = f"s3://{s3_bucket}/demo.zarr"
    _create(url)
    catalog.write_chunk(url, 0, {"y": np.array([1.0, 4.0])}, status=[1, 1], outputs=OUT)
    with pytest.raises(StoreError, match=r"'s3://.*/demo.zarr': it already exists"):
        _create(url)
    assert catalog.read_ledger(url)["status"].tolist()[:2] == [1, 1]


def test_an_incomplete_layout_reads_as_absent_and_is_cleared(s3_bucket):
    url = f"s3://{s3_bucket}/demo.zarr"
    _create(url)
    # What a creation killed before its last write leaves: the layout, marked incomplete.
    group = zarr.open_group(catalog.store._zarr_store(as_location(url)), mode="r+")
    group.attrs["vlab_layout"] = "incomplete"
    fs = filesystem()
    fs.pipe(f"{s3_bucket}/demo.zarr/y/c/9", b"left over")
    assert not catalog.store_exists(url)
    with pytest.raises(StoreError, match=r"No vlab store at 's3://.*': its creation did not"):
        catalog.open_store(url)
    _create(url)
    fs.invalidate_cache()
    assert not fs.exists(f"{s3_bucket}/demo.zarr/y/c/9")
    assert catalog.store_exists(url)
    assert catalog.read_ledger(url)["status"].tolist() == [0] * 5


def test_a_file_url_is_a_local_path(tmp_path):
    url = f"file://{tmp_path}/demo.zarr"
    _create(url)
    assert (tmp_path / "demo.zarr" / "zarr.json").is_file()
    assert catalog.read_ledger(url)["status"].tolist() == [0] * 5
    assert isinstance(catalog.writer_lock(url), catalog.StoreLock)


def test_a_second_writer_is_refused_naming_store_and_holder(s3_bucket):
    url = f"s3://{s3_bucket}/demo.zarr"
    with catalog.writer_lock(url) as lease:
        assert isinstance(lease, catalog.StoreLease)
        with pytest.raises(StoreLockedError) as err:
            catalog.writer_lock(url).__enter__()
        message = str(err.value)
        assert "\n" not in message
        assert f"'s3://{s3_bucket}/demo.zarr' is being written by another campaign" in message
        assert f"pid {os.getpid()} on " in message
        time.sleep(1.5)  # beyond half the time to live (2 s): renewed, still held
        with pytest.raises(StoreLockedError):
            catalog.writer_lock(url).__enter__()
    with catalog.writer_lock(url):  # released: free again
        pass


HOLD = """
import sys, time
from vlab.catalog import writer_lock
with writer_lock(sys.argv[1], ttl=1.5):
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_killed_writers_lease_expires_and_is_taken_over(s3_bucket):
    url = f"s3://{s3_bucket}/demo.zarr"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, url], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        assert proc.stdout.readline().strip() == b"held"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        with pytest.raises(StoreLockedError, match=f"pid {proc.pid} on "):
            catalog.writer_lock(url, ttl=1.5).__enter__()  # not expired yet
        time.sleep(2.6)  # Last-Modified has a resolution of one second
        with catalog.writer_lock(url, ttl=1.5) as lease:
            assert not lease.lost
    finally:
        proc.kill()
        proc.wait()


def test_a_writer_whose_lease_was_taken_over_stops(s3_bucket):
    url = f"s3://{s3_bucket}/demo.zarr"
    lease = catalog.writer_lock(url, ttl=1.5)
    with pytest.raises(StoreLockedError, match=r"was taken over by another writer"), lease:
        filesystem().pipe(f"{lease.path.bucket}/{lease.path.key}", b'{"owner": "other"}')
        for _ in range(100):  # the renewal fails within half a second and interrupts this
            time.sleep(0.05)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("gs://bucket/a.zarr", "The store location 'gs://bucket/a.zarr' is not supported"),
        ("s3://", "The store location 's3://' is not a valid s3 URL"),
        ("s3://bucket", "The store location 's3://bucket' is not a valid s3 URL"),
        ("s3://Bad_Bucket/a.zarr", "'s3://Bad_Bucket/a.zarr' is not a valid s3 URL"),
        ("s3://bucket/a/../b.zarr", "its path has an empty, '.' or '..' part"),
        ("file://host/a.zarr", "The store location 'file://host/a.zarr' is not supported"),
    ],
)
def test_bad_urls_are_refused_in_one_line(url, expected):
    with pytest.raises(InputError) as err:
        as_location(url)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_a_missing_bucket_is_named(s3_bucket):
    url = "s3://no-such-bucket-here/a.zarr"
    with pytest.raises(StoreError) as err:
        catalog.open_store(url)
    message = str(err.value)
    assert "\n" not in message
    assert "'s3://no-such-bucket-here/a.zarr'" in message
    assert "the bucket 'no-such-bucket-here' does not exist" in message


def test_missing_credentials_are_named_by_the_cli(s3_bucket):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    }
    url = f"s3://{s3_bucket}/a.zarr"
    out = subprocess.run(
        [sys.executable, "-m", "vlab.cli", "status", url],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert f"'{url}'" in lines[0] and "no credentials" in lines[0]
    assert "AWS_ACCESS_KEY_ID" in lines[0]


def test_store_urls_behave_like_paths():
    url = as_location("s3://bucket/runs/a.zarr")
    assert isinstance(url, StoreURL)
    assert (url.bucket, url.key, url.name) == ("bucket", "runs/a.zarr", "a.zarr")
    assert str(url.parent) == "s3://bucket/runs" and str(url / "zarr.json").endswith(
        "a.zarr/zarr.json"
    )


def test_the_catalog_index_may_live_on_object_storage(s3_bucket, monkeypatch):
    monkeypatch.setenv("VLAB_CATALOG__INDEX_DIR", f"s3://{s3_bucket}/catalogs")
    url = f"s3://{s3_bucket}/stores/demo.zarr"
    _create(url)
    entry = catalog.register("demo", url, description="on s3", kind="engine-probe")
    assert str(entry.index_file) == f"s3://{s3_bucket}/catalogs/demo.yaml"
    fs = filesystem()
    fs.pipe(  # an entry written by hand, its location relative to the index file
        f"{s3_bucket}/catalogs/rel.yaml", b"name: rel\nlocation: ../stores/demo.zarr\n"
    )
    fs.pipe(f"{s3_bucket}/catalogs/broken.yaml", b"name: [unclosed\n")
    with pytest.warns(UserWarning, match=r"Skipping the catalog entry 's3://.*/broken.yaml'") as w:
        entries = {e.name: e for e in catalog.list_entries()}
    assert "/tmp" not in str(w[0].message)  # the message names the object, not a local copy
    fs.rm(f"{s3_bucket}/catalogs/broken.yaml")
    assert str(entries["demo"].location) == url
    assert str(entries["rel"].location) == f"s3://{s3_bucket}/stores/demo.zarr"
    assert int(catalog.open("demo").sizes["item"]) == 5
    out = subprocess.run(
        [sys.executable, "-m", "vlab.cli", "catalog", "list"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "demo" in out.stdout and f"s3://{s3_bucket}/catalogs" in out.stdout


def test_export_between_object_storage_and_local_disk(s3_bucket, tmp_path):
    url = f"s3://{s3_bucket}/demo.zarr"
    _create(url)
    catalog.write_chunk(url, 0, {"y": np.array([1.0, 4.0])}, status=[1, 1], outputs=OUT)
    local = catalog.export_store(url, tmp_path / "copy.zarr")
    assert catalog.open_store(local)["y"].values.tolist() == [1.0, 4.0]
    remote = catalog.export_store(local, f"s3://{s3_bucket}/exports/copy.zarr", float32=False)
    assert isinstance(remote, StoreURL) and catalog.store_exists(remote)
    assert catalog.open_store(remote)["y"].values.tolist() == [1.0, 4.0]
    assert not catalog.verify_store(remote).bad
    with pytest.raises(StoreError, match=r"Cannot export to 's3://.*/exports/copy.zarr'"):
        catalog.export_store(local, remote)


def test_the_endpoint_comes_from_the_configuration_before_aws_endpoint_url(monkeypatch):
    from vlab import config
    from vlab.catalog.location import storage_options

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    assert storage_options() == {}
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    assert storage_options() == {"endpoint_url": "http://127.0.0.1:9000"}
    with config.override({"storage.endpoint_url": "https://minio.example.org"}):
        assert storage_options() == {"endpoint_url": "https://minio.example.org"}
    monkeypatch.setenv("VLAB_STORAGE__ENDPOINT_URL", "https://other.example.org")
    assert storage_options() == {"endpoint_url": "https://other.example.org"}


def test_a_lease_time_to_live_out_of_range_is_refused():
    with pytest.raises(InputError, match=r"storage.lease_ttl\) must be from 0.5 to 86400"):
        catalog.writer_lock("s3://bucket/a.zarr", ttl=0.1)
