import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import xarray as xr

from vlab.catalog import (
    LEDGER_VARIABLES,
    ChunkData,
    StoreLock,
    Variable,
    consolidate,
    create_store,
    open_store,
    read_ledger,
    write_chunk,
    write_chunks,
)
from vlab.errors import StoreError, StoreLockedError

OUT = {
    "g": Variable(units="G0", long_name="conductance"),
    "t": Variable(dims=("energy",), shape=(4,), units="1", long_name="transmission"),
}


def _make(path, n=10, chunk=4):
    create_store(
        path,
        chunk_size=chunk,
        inputs={"x": (Variable(long_name="x"), np.arange(n))},
        outputs=OUT,
        input_hashes=[f"h{i}" for i in range(n)],
        attrs={"title": "t"},
    )


def test_template_is_pending_chunked_compressed_and_has_cf_attributes(tmp_path):
    path = tmp_path / "a.zarr"
    _make(path)
    ds = open_store(path)
    assert ds["g"].encoding["chunks"] == (4,)
    assert type(ds["g"].encoding["compressors"][0]).__name__ == "ZstdCodec"
    assert np.isnan(ds["g"].values).all() and (ds["status"].values == 0).all()
    for name in [*OUT, *LEDGER_VARIABLES, "x"]:
        assert {"units", "long_name"} <= set(ds[name].attrs), name
    assert [str(h) for h in ds["input_hash"].values[:2]] == ["h0", "h1"]


def test_region_writes_land_in_their_chunk_only(tmp_path):
    path = tmp_path / "a.zarr"
    _make(path)
    write_chunk(
        path,
        4,
        {"g": np.array([1.0, 2, 3, 4]), "t": np.ones((4, 4))},
        status=[1, 1, 2, 1],
        outputs=OUT,
        ledger={"error": np.array(["", "", "boom", ""], dtype=object)},
    )
    consolidate(path)
    ds = open_store(path)
    assert ds["status"].values.tolist() == [0, 0, 0, 0, 1, 1, 2, 1, 0, 0]
    assert np.isnan(ds["g"].values[:4]).all() and ds["g"].values[4:8].tolist() == [1, 2, 3, 4]
    assert str(ds["error"].values[6]) == "boom"
    assert read_ledger(path, ("status",))["status"].sum() == 5


def _chunk(start, n, *, error=""):
    g = np.arange(start, start + n, dtype=float)
    t = np.outer(g, np.ones(4))
    ledger = {"error": np.full(n, error, dtype=object)}
    return ChunkData(start, {"g": g, "t": t}, [1] * n, ledger)


def test_a_batch_of_chunks_equals_the_chunks_written_one_by_one(tmp_path):
    # contiguous (0, 4), a gap, (12, 16) and (16, 18) with another ledger column set
    chunks = [_chunk(16, 2), _chunk(0, 4), _chunk(4, 4, error="x"), _chunk(12, 4)]
    chunks[0] = ChunkData(16, chunks[0].values, [2, 1], {"duration": np.ones(2)})
    one, batch = tmp_path / "one.zarr", tmp_path / "batch.zarr"
    for path in (one, batch):
        _make(path, n=18)
    for c in chunks:
        write_chunk(one, c.start, c.values, status=c.status, outputs=OUT, ledger=c.ledger)
    write_chunks(batch, chunks, outputs=OUT)
    a, b = open_store(one).load(), open_store(batch).load()
    assert a.identical(b)
    assert b["status"].values.tolist() == [1] * 8 + [0] * 4 + [1] * 4 + [2, 1]
    assert [str(e) for e in b["error"].values[3:6]] == ["", "x", "x"]


def test_chunks_sharing_zarr_chunks_keep_each_others_items(tmp_path):
    # zarr chunks of 8 items, written 2 items at a time: runs of one batch that share a zarr
    # chunk, and later batches into zarr chunks already holding items
    ref, shared = tmp_path / "ref.zarr", tmp_path / "shared.zarr"
    _make(ref, n=18, chunk=2)
    _make(shared, n=18, chunk=8)
    batches = [[0, 4, 10, 16], [2, 12], [6], [8, 14]]
    for batch in batches:
        chunks = [_chunk(s, 2) for s in batch]
        write_chunks(shared, chunks, outputs=OUT)
        for c in chunks:
            write_chunk(ref, c.start, c.values, status=c.status, outputs=OUT, ledger=c.ledger)
    a, b = open_store(ref).load(), open_store(shared).load()
    assert b["g"].encoding["chunks"] == (8,)
    for name in a.variables:
        assert a[name].equals(b[name]), name
    done = [i for batch in batches for s in batch for i in (s, s + 1)]
    assert sorted(np.flatnonzero(b["status"].values == 1).tolist()) == sorted(done)


def test_a_rewrite_into_an_unreadable_zarr_chunk_marks_its_other_items_pending(tmp_path):
    path = tmp_path / "a.zarr"
    _make(path, n=16, chunk=8)
    write_chunks(path, [_chunk(s, 4) for s in (0, 4, 8, 12)], outputs=OUT)
    (path / "g" / "c" / "0").write_bytes(b"damaged")
    with pytest.raises(StoreError, match="'g' from item 0.*--verify --repair"):
        write_chunks(path, [_chunk(0, 4)], outputs=OUT)  # an ordinary write reads it back
    c = _chunk(0, 4)
    inputs = {"x": np.arange(4)}
    write_chunks(path, [ChunkData(0, c.values, c.status, c.ledger, inputs, True)], outputs=OUT)
    ds = open_store(path).load()
    assert ds["status"].values.tolist() == [1] * 4 + [0] * 4 + [1] * 8
    assert np.isnan(ds["g"].values[4:8]).all() and not np.isnan(ds["g"].values[:4]).any()
    assert ds["t"].values[4:8, 0].tolist() == [4, 5, 6, 7]  # readable: kept


def test_overlapping_chunks_in_one_batch_are_refused_before_anything_is_written(tmp_path):
    path = tmp_path / "a.zarr"
    _make(path)
    with pytest.raises(StoreError, match="chunks starting at items 0 and 2 of .* overlap"):
        write_chunks(path, [_chunk(0, 4), _chunk(2, 4)], outputs=OUT)
    assert (read_ledger(path)["status"] == 0).all()
    assert np.isnan(open_store(path)["g"].values).all()


def test_creating_over_an_existing_store_is_refused(tmp_path):
    path = tmp_path / "a.zarr"
    _make(path)
    with pytest.raises(StoreError, match="already exists and is left untouched"):
        _make(path)
    assert open_store(path).sizes["item"] == 10


def test_missing_store_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="No vlab store at .*nothing.zarr"):
        open_store(tmp_path / "nothing.zarr")


def test_second_writer_is_refused_while_the_first_holds_the_lock(tmp_path):
    path = tmp_path / "a.zarr"
    with (
        StoreLock(path),
        pytest.raises(StoreLockedError, match=r"being written by another campaign \(pid"),
    ):
        StoreLock(path).__enter__()
    with StoreLock(path):  # released on exit
        pass


def test_lock_of_a_killed_process_is_released(tmp_path):
    path = tmp_path / "a.zarr"
    code = textwrap.dedent(f"""
        import time
        from vlab.catalog import StoreLock
        with StoreLock({str(path)!r}):
            print("locked", flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(StoreLockedError):
            StoreLock(path).__enter__()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    with StoreLock(path):
        pass


def test_xarray_can_read_the_store_directly(tmp_path):
    path = tmp_path / "a.zarr"
    _make(path)
    ds = xr.open_zarr(path, zarr_format=3, consolidated=False)
    assert ds.attrs["title"] == "t" and ds["t"].shape == (10, 4)


def test_export_keeps_done_items_in_float32_and_refuses_to_overwrite(tmp_path):
    from vlab.catalog import export_store

    path = tmp_path / "a.zarr"
    _make(path)
    write_chunk(
        path,
        0,
        {"g": np.array([1.0, 2, 3, 4]), "t": np.ones((4, 4))},
        status=[1, 2, 1, 1],
        outputs=OUT,
    )
    target = export_store(path, tmp_path / "b.zarr")
    ds = open_store(target)
    assert ds.sizes["item"] == 3 and ds["g"].dtype == np.float32
    assert ds["g"].values.tolist() == [1.0, 3.0, 4.0] and ds["g"].attrs["units"] == "G0"
    assert "float32=True" in ds.attrs["compaction"] and ds.attrs["title"] == "t"
    assert (ds.attrs["n_done"], ds.attrs["n_failed"]) == (3, 0)  # the copy's counts
    with pytest.raises(StoreError, match="exists and is left untouched"):
        export_store(path, target)
